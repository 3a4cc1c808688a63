/**
 * The throughput CLI's command line. Values are checked against the endpoint's own LIMITS,
 * so a mistake is a usage error here (exit 2) rather than a round trip to a 400.
 */
import { parseArgs } from 'node:util';
import { LIMITS, OPS, type Op, type ThroughputParams } from '../functions/throughput-contract.js';

/** Where `npm start` serves the throughput function. */
export const DEFAULT_URL = 'http://127.0.0.1:12000/api/v1/test/redis';

export interface CliOptions {
  readonly help: false;
  readonly url: string;
  readonly params: ThroughputParams;
  readonly json: boolean;
}

export type ParsedArgs = { readonly help: true } | CliOptions;

/** A command line that cannot run; the message names what was wrong. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

const seconds = (ms: number) => `${ms / 1000} s`;

export const USAGE = `Usage: redis-pool-throughput [options]

Runs the Redis throughput test of a throughput endpoint and prints its results.

Options:
  --url <url>          the endpoint (default ${DEFAULT_URL}, served by \`npm start\`)
  --duration <time>    how long the load runs: 1500, 1500ms or 2s (default ${LIMITS.durationMs.default} ms, at most ${seconds(LIMITS.durationMs.max)})
  --concurrency <n>    commands in flight at once (default ${LIMITS.concurrency.default}, at most ${LIMITS.concurrency.max})
  --op <op>            ${OPS.join(', ')} (default get; mixed is 4 GETs to 1 SET)
  --value-bytes <n>    size of each value written (default ${LIMITS.valueBytes.default})
  --keyspace <n>       distinct keys used (default ${LIMITS.keyspace.default})
  --json               print the full result as JSON, for scripts
  -h, --help           show this help

Exit status: 0 done, 1 the endpoint failed or could not be reached, 2 bad options.`;

export function parseCliArgs(argv: readonly string[]): ParsedArgs {
  const { values } = parseOrThrow(argv);
  if (values.help === true) return { help: true };
  return {
    help: false,
    url: parseUrl(values.url ?? DEFAULT_URL),
    json: values.json === true,
    params: {
      durationMs: checkRange('--duration', parseDuration(values.duration), 'durationMs', ' ms'),
      concurrency: integer('--concurrency', values.concurrency, 'concurrency'),
      op: parseOp(values.op),
      valueBytes: integer('--value-bytes', values['value-bytes'], 'valueBytes'),
      keyspace: integer('--keyspace', values.keyspace, 'keyspace'),
    },
  };
}

function parseOrThrow(argv: readonly string[]) {
  try {
    return parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        url: { type: 'string' },
        duration: { type: 'string' },
        concurrency: { type: 'string' },
        op: { type: 'string' },
        'value-bytes': { type: 'string' },
        keyspace: { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    // parseArgs explains unknown options, missing values and stray arguments well.
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
}

function parseUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UsageError(`--url: expected an http(s) URL, got ${JSON.stringify(raw)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UsageError(`--url: expected an http(s) URL, got a ${url.protocol} URL`);
  }
  return url.href;
}

/** Milliseconds: a bare number, or one ending in ms or s. */
function parseDuration(raw: string | undefined): number {
  if (raw === undefined) return LIMITS.durationMs.default;
  const match = /^(\d+(?:\.\d+)?)(ms|s)?$/.exec(raw.trim());
  if (match === null) {
    throw new UsageError(
      `--duration: expected e.g. 1500, 1500ms or 2s, got ${JSON.stringify(raw)}`,
    );
  }
  const value = Number(match[1]);
  return Math.round(match[2] === 's' ? value * 1000 : value);
}

function integer(flag: string, raw: string | undefined, key: keyof typeof LIMITS): number {
  if (raw === undefined) return LIMITS[key].default;
  if (!/^\d+$/.test(raw.trim())) {
    throw new UsageError(`${flag}: expected a whole number, got ${JSON.stringify(raw)}`);
  }
  return checkRange(flag, Number(raw), key);
}

function checkRange(flag: string, value: number, key: keyof typeof LIMITS, unit = ''): number {
  const { min, max } = LIMITS[key];
  if (value < min || value > max) {
    throw new UsageError(`${flag}: expected ${min} to ${max}${unit}, got ${value}${unit}`);
  }
  return value;
}

function parseOp(raw: string | undefined): Op {
  if (raw === undefined) return 'get';
  if ((OPS as readonly string[]).includes(raw)) return raw as Op;
  throw new UsageError(`--op: expected one of ${OPS.join(', ')}, got ${JSON.stringify(raw)}`);
}
