/**
 * The failover drill's command line: which throughput API carries the traffic, which cache
 * fails over, how long to watch, and the threshold that decides the exit status. A mistake is a
 * usage error (exit 2) before anything is asked of AWS.
 */

import { LIMITS } from '../functions/throughput-contract.js';
import { parseApiGatewayHost, parseRegion, parseSigning, type Signing } from './api-gateway.js';
import { readOptions } from './command-line.js';
import { parseUrl, THROUGHPUT_PATH, UsageError } from './throughput-args.js';

export { UsageError };

export interface DrillOptions {
  readonly help: false;
  /** The throughput endpoint (the route appended when the URL stops at the host or stage). */
  readonly url: string;
  /** Absent: calls to the API are not signed. */
  readonly signing: Signing | undefined;
  /** The replication group id. */
  readonly cacheId: string;
  readonly nodeGroup: string;
  /** The ElastiCache region; absent: the AWS SDK's own (AWS_REGION, the profile's). */
  readonly region: string | undefined;
  /** The drill passes when its longest error window is shorter than this. */
  readonly maxErrorWindowMs: number;
  /** Steady traffic before TestFailover, and again after the failover is over. */
  readonly durationMs: number;
  /** The run of each throughput call (one Lambda invocation). */
  readonly callMs: number;
  /** How often the cache's status and events are read. */
  readonly pollMs: number;
  /** How long to wait, after TestFailover, for ElastiCache to report the failover over. */
  readonly timeoutMs: number;
  readonly yes: boolean;
  readonly json: boolean;
}

export type ParsedDrillArgs = { readonly help: true } | DrillOptions;

/** Commands in flight in each throughput call: enough to see every failure, not a load test. */
export const DRILL_CONCURRENCY = 10;

const DEFAULTS = {
  nodeGroup: '0001',
  maxErrorWindowMs: 30_000,
  durationMs: 5_000,
  callMs: 1_000,
  pollMs: 5_000,
  timeoutMs: 900_000,
} as const;

/** Each option's range: [min, max]. */
const RANGES = {
  maxErrorWindowMs: [1, 3_600_000],
  durationMs: [0, 600_000],
  callMs: [100, LIMITS.durationMs.max],
  pollMs: [100, 60_000],
  timeoutMs: [1_000, 3_600_000],
} as const satisfies Record<string, readonly [number, number]>;

export const USAGE = `Usage: npm run failover-drill -- --url <throughput API> --cache <replication group id> [options]

Fails over the primary of an ElastiCache replication group (TestFailover) while the throughput
function sends it writes, and shows what the failover did to that traffic: ops/s and errors
call by call, the longest window with errors, and when the first write succeeded afterwards.

It runs traffic for --duration-ms, calls TestFailover on the node group, reads the cache's status
and events until ElastiCache reports the failover completed and the cache available again,
runs traffic for --duration-ms more, then prints the timeline.

The traffic is throughput calls (${THROUGHPUT_PATH}) back to back, each one Lambda
invocation of --call-ms with ${DRILL_CONCURRENCY} SETs in flight: each call acquires a connection
again, as a user's next invocation does after a failure. Each call reports when its first and
last commands failed and its first command succeeded after them. An error window runs from a
failure to the first success after it, across calls; a call that failed as a whole (a 503)
counts as failing from when it was sent. A window can include up to one --call-ms more than
the failure lasted: the rest of the call that met it, which keeps its broken connection.

Required:
  --url <url>                  the throughput API: an API Gateway URL (to its stage is enough;
                               signed with SigV4 for its region) or the local one of \`npm start\`
  --cache <id>                 the replication group (cluster mode disabled or enabled; a
                               serverless cache has no TestFailover)

Options:
  --node-group <id>            the node group (shard) to fail over (default ${DEFAULTS.nodeGroup})
  --max-error-window-ms <n>    pass when the longest error window is shorter (default ${DEFAULTS.maxErrorWindowMs})
  --duration-ms <n>            traffic before TestFailover and after the failover (default ${DEFAULTS.durationMs})
  --call-ms <n>                the run of each throughput call, ${RANGES.callMs[0]} to ${RANGES.callMs[1]} (default ${DEFAULTS.callMs});
                               shorter calls find the recovery sooner, longer ones print fewer rows
  --poll-ms <n>                how often the cache's status and events are read (default ${DEFAULTS.pollMs})
  --timeout-ms <n>             longest wait after TestFailover for the failover to be over
                               (default ${DEFAULTS.timeoutMs}, 15 minutes)
  --region <region>            the cache's region (default: an API Gateway URL's region, else the
                               AWS SDK's: AWS_REGION or the profile's)
  --sign                       sign the API calls with SigV4 whatever the host (a custom domain);
                               needs --region
  --yes                        do not ask for confirmation (needed when stdin is not a terminal)
  --json                       print the timeline as JSON, for scripts
  -h, --help                   show this help

Refuses to run against a replication group that is not available, whose automatic failover is
not enabled (a failover would then be an outage, not a drill) or that has no such node group.
ElastiCache allows TestFailover on a limited number of shards per rolling 24 hours.

AWS: the AWS SDK's default credentials (AWS_PROFILE, AWS_ACCESS_KEY_ID and
AWS_SECRET_ACCESS_KEY, SSO, a role). The identity needs elasticache:DescribeReplicationGroups,
elasticache:DescribeEvents and elasticache:TestFailover on the replication group, and
execute-api:Invoke on the throughput route. AWS_ENDPOINT_URL_ELASTICACHE points the ElastiCache
calls elsewhere (a VPC endpoint, a test stand-in).

Exit status: 0 the drill passed (the failover completed, writes recovered, and the longest error
window was shorter than --max-error-window-ms); 1 it did not, or it could not run (the cache was
refused, AWS or the API failed, the confirmation was declined); 2 bad options, or no terminal to
confirm on and no --yes.`;

/** Replication group ids: lowercase letters, digits and hyphens, starting with a letter. */
const CACHE_ID = /^[a-z][a-z0-9-]{0,39}$/;
const NODE_GROUP = /^\d{4}$/;

export function parseDrillArgs(argv: readonly string[]): ParsedDrillArgs {
  const { values } = parseOrThrow(argv);
  if (values.help === true) return { help: true };
  if (values.url === undefined) throw new UsageError('--url is required: the throughput API');
  if (values.cache === undefined) {
    throw new UsageError('--cache is required: the replication group id');
  }
  const url = parseUrl(values.url);
  const region = parseRegion(values.region);
  return {
    help: false,
    url: url.href,
    signing: parseSigning(url, { sign: values.sign === true, region, regionOnlySigns: false }),
    cacheId: match('--cache', values.cache, CACHE_ID, 'a replication group id such as orders'),
    nodeGroup: match(
      '--node-group',
      values['node-group'] ?? DEFAULTS.nodeGroup,
      NODE_GROUP,
      'a node group id such as 0001',
    ),
    region: region ?? parseApiGatewayHost(url.hostname)?.region,
    maxErrorWindowMs: ms(
      '--max-error-window-ms',
      values['max-error-window-ms'],
      'maxErrorWindowMs',
    ),
    durationMs: ms('--duration-ms', values['duration-ms'], 'durationMs'),
    callMs: ms('--call-ms', values['call-ms'], 'callMs'),
    pollMs: ms('--poll-ms', values['poll-ms'], 'pollMs'),
    timeoutMs: ms('--timeout-ms', values['timeout-ms'], 'timeoutMs'),
    yes: values.yes === true,
    json: values.json === true,
  };
}

function parseOrThrow(argv: readonly string[]) {
  return readOptions(argv, {
    url: { type: 'string' },
    cache: { type: 'string' },
    'node-group': { type: 'string' },
    'max-error-window-ms': { type: 'string' },
    'duration-ms': { type: 'string' },
    'call-ms': { type: 'string' },
    'poll-ms': { type: 'string' },
    'timeout-ms': { type: 'string' },
    region: { type: 'string' },
    sign: { type: 'boolean' },
    yes: { type: 'boolean' },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
}

function match(flag: string, raw: string, pattern: RegExp, expected: string): string {
  if (pattern.test(raw)) return raw;
  throw new UsageError(`${flag}: expected ${expected}, got ${JSON.stringify(raw)}`);
}

function ms(flag: string, raw: string | undefined, key: keyof typeof RANGES): number {
  if (raw === undefined) return DEFAULTS[key];
  const [min, max] = RANGES[key];
  if (!/^\d+$/.test(raw.trim())) {
    throw new UsageError(
      `${flag}: expected a whole number of milliseconds, got ${JSON.stringify(raw)}`,
    );
  }
  const value = Number(raw);
  if (value < min || value > max) {
    throw new UsageError(`${flag}: expected ${min} to ${max}, got ${value}`);
  }
  return value;
}
