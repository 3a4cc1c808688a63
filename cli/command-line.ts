/**
 * What every CLI here does with its command line before it runs: `--help` prints the usage and
 * exits 0; a command line that cannot run prints what was wrong, then the usage, and exits 2.
 */
import { type ParseArgsOptionsConfig, parseArgs } from 'node:util';

/** A command line that cannot run; the message names what was wrong. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/**
 * The options `parse` reads from `argv`, or the exit status when there is nothing to run
 * (help shown, or a usage error).
 */
export function readCommandLine<T extends object>(
  parse: (argv: readonly string[]) => T | { readonly help: true },
  argv: readonly string[],
  usage: string,
): T | number {
  let parsed: T | { readonly help: true };
  try {
    parsed = parse(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`${error.message}\n\n${usage}\n`);
    return 2;
  }
  if ('help' in parsed && parsed.help === true) {
    process.stdout.write(`${usage}\n`);
    return 0;
  }
  return parsed as T;
}

/**
 * `argv` read strictly against `options` (no positionals): parseArgs explains unknown options,
 * missing values and stray arguments well, as a UsageError here.
 */
export function readOptions<const O extends ParseArgsOptionsConfig>(
  argv: readonly string[],
  options: O,
) {
  try {
    return parseArgs({ args: [...argv], strict: true, allowPositionals: false, options });
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
}
