/**
 * The throughput CLI's command line. Values are checked against the endpoint's own LIMITS,
 * so a mistake is a usage error here (exit 2) rather than a round trip to a 400. Whether the
 * call is signed (SigV4) is decided here too, from the URL's host and the flags.
 */

import { LIMITS, OPS, type Op, type ThroughputParams } from '../functions/throughput-contract.js';
import { parseApiGatewayHost, parseRegion, parseSigning, type Signing } from './api-gateway.js';
import { readOptions, UsageError } from './command-line.js';

/** The throughput route below the API's base (on API Gateway, below the stage). */
export const THROUGHPUT_PATH = '/api/v1/test/redis';
/** Where `npm start` serves the throughput function. */
export const DEFAULT_URL = `http://127.0.0.1:12000${THROUGHPUT_PATH}`;

export const METHODS = ['POST', 'GET'] as const;
export type Method = (typeof METHODS)[number];

export interface CliOptions {
  readonly help: false;
  readonly url: string;
  readonly method: Method;
  readonly params: ThroughputParams;
  readonly json: boolean;
  /** Absent: the call is not signed. */
  readonly signing?: Signing | undefined;
}

export type ParsedArgs = { readonly help: true } | CliOptions;

export { UsageError };

const seconds = (ms: number) => `${ms / 1000} s`;

export const USAGE = `Usage: redis-pool-throughput [options]

Runs the Redis throughput test of a throughput endpoint and prints its results.

Options:
  --url <url>          the endpoint (default ${DEFAULT_URL},
                       served by \`npm start\`); a URL with no path, or an API Gateway URL
                       that ends at its stage, gets ${THROUGHPUT_PATH} appended
  --method <method>    POST (the parameters as a JSON body; default) or GET (the query string)
  --duration <time>    how long the load runs: 1500, 1500ms or 2s (default ${LIMITS.durationMs.default} ms, at most ${seconds(LIMITS.durationMs.max)})
  --concurrency <n>    commands in flight at once (default ${LIMITS.concurrency.default}, at most ${LIMITS.concurrency.max})
  --op <op>            ${OPS.join(', ')} (default get; mixed is 4 GETs to 1 SET)
  --value-bytes <n>    size of each value written (default ${LIMITS.valueBytes.default})
  --keyspace <n>       distinct keys used (default ${LIMITS.keyspace.default})
  --json               print the full result as JSON, for scripts
  --sign               sign the call with SigV4 whatever the host (e.g. an API Gateway custom
                       domain); needs --region
  --region <region>    the region to sign for, with --sign (an execute-api host names its own)
  -h, --help           show this help

Signing: a call to an API Gateway host,
  https://<api-id>.execute-api.<region>.amazonaws.com/<stage>,
is signed with SigV4 (service execute-api, the host's region) with the credentials the AWS SDK
finds (AWS_PROFILE, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, SSO, a role); the identity
needs execute-api:Invoke on the route. Any other URL is sent unsigned unless --sign is given.

Exit status: 0 done, 1 the endpoint failed, could not be reached, denied the call or no
credentials were found, 2 bad options.`;

export function parseCliArgs(argv: readonly string[]): ParsedArgs {
  const { values } = parseOrThrow(argv);
  if (values.help === true) return { help: true };
  const url = parseUrl(values.url ?? DEFAULT_URL);
  return {
    help: false,
    url: url.href,
    method: parseMethod(values.method),
    json: values.json === true,
    signing: parseSigning(url, {
      sign: values.sign === true,
      region: parseRegion(values.region),
      regionOnlySigns: true,
    }),
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
  return readOptions(argv, {
    url: { type: 'string' },
    method: { type: 'string' },
    sign: { type: 'boolean' },
    region: { type: 'string' },
    duration: { type: 'string' },
    concurrency: { type: 'string' },
    op: { type: 'string' },
    'value-bytes': { type: 'string' },
    keyspace: { type: 'string' },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
}

export function parseUrl(raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UsageError(`--url: expected an http(s) URL, got ${JSON.stringify(raw)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UsageError(`--url: expected an http(s) URL, got a ${url.protocol} URL`);
  }
  const segments = url.pathname.split('/').filter((segment) => segment !== '');
  const atStage = segments.length === 1 && parseApiGatewayHost(url.hostname) !== undefined;
  if (segments.length === 0 || atStage) {
    url.pathname = `${url.pathname.replace(/\/$/, '')}${THROUGHPUT_PATH}`;
  }
  return url;
}

function parseMethod(raw: string | undefined): Method {
  if (raw === undefined) return 'POST';
  const method = raw.toUpperCase();
  if ((METHODS as readonly string[]).includes(method)) return method as Method;
  throw new UsageError(`--method: expected POST or GET, got ${JSON.stringify(raw)}`);
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
