/**
 * What every CLI here does with its command line before it runs: `--help` prints the usage and
 * exits 0; a command line that cannot run prints what was wrong, then the usage, and exits 2.
 */

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
