/**
 * Every pool option, defined once: its environment variable, type, default, bounds and
 * meaning. `RedisPoolOptions`, `ENV_VARS`, `DEFAULTS`, the checks `loadConfig` makes and the
 * configuration table in README.md (`npm run docs:options`) are all derived from this table,
 * so they cannot drift apart.
 */

/** How a value is read and checked; each kind has one reader in config.ts. */
export type OptionKind =
  | 'integer' // a whole number within [min, max]
  | 'boolean' // true/false/1/0/yes/no in the environment
  | 'url' // redis:// or rediss://, parsed into an endpoint
  | 'file' // a readable file of PEM certificates (a CA bundle)
  | 'namespace' // a CloudWatch namespace
  | 'clientName' // a CLIENT SETNAME prefix, sanitised rather than rejected
  | 'auth' // how connections authenticate: password or iam
  | 'user' // a Redis / ElastiCache user name
  | 'cacheName'; // an ElastiCache replication group id or serverless cache name

interface OptionSpec {
  readonly env: `REDIS_${string}`;
  readonly kind: OptionKind;
  /** The value when neither code nor the environment gives one. */
  readonly default: string | number | boolean | undefined;
  /** How the default reads in the README, when the value alone would mislead. */
  readonly defaultText?: string;
  readonly min?: number;
  readonly max?: number;
  /** One line (Markdown) for the README's configuration table. */
  readonly description: string;
}

/** Lambda's 15-minute limit: no wait can usefully be longer. */
const MAX_TIMEOUT_MS = 900_000;

/**
 * ElastiCache drops an IAM-authenticated connection after 12 hours unless it authenticates
 * again: connections are replaced half an hour before that.
 */
export const IAM_CONNECTION_LIMIT_MS = 12 * 3_600_000;

export const POOL_OPTIONS = {
  url: {
    env: 'REDIS_URL',
    kind: 'url',
    default: 'redis://127.0.0.1:6379',
    defaultText: '`redis://127.0.0.1:6379`, or discovered from `REDIS_CACHE_NAME`',
    description:
      '`redis://` or `rediss://` (TLS), optional `user:password@`, optional `:port` (1–65535), optional `/db`. Passwords are redacted everywhere the library prints the URL. Unset means the default (or, with `REDIS_CACHE_NAME`, the endpoint ElastiCache gives); set to an empty string it is an error, as for every variable.',
  },
  auth: {
    env: 'REDIS_AUTH',
    kind: 'auth',
    default: 'password',
    description:
      "`password`: the user and password in `REDIS_URL`, if any. `iam`: ElastiCache IAM authentication, a short-lived token signed with the function's role for each connection instead of a password; needs `REDIS_USER`, `REDIS_CACHE_NAME`, `AWS_REGION` and TLS (`rediss://`, or discovery), and no password in the URL. See [ElastiCache](#elasticache).",
  },
  user: {
    env: 'REDIS_USER',
    kind: 'user',
    default: undefined,
    defaultText: 'the user in `REDIS_URL`, if any',
    description:
      'The Redis (ACL) user; for `REDIS_AUTH=iam`, the ElastiCache user id (IAM-enabled users have user name = user id). Set both this and a user in `REDIS_URL` only if they are the same.',
  },
  cacheName: {
    env: 'REDIS_CACHE_NAME',
    kind: 'cacheName',
    default: undefined,
    description:
      'The ElastiCache replication group id or serverless cache name (lowercase). Without `REDIS_URL`, the pool asks ElastiCache for its endpoint, TLS and cluster mode once per execution environment; with `REDIS_AUTH=iam`, the tokens are signed for it.',
  },
  serverless: {
    env: 'REDIS_SERVERLESS',
    kind: 'boolean',
    default: false,
    description:
      '`true` for ElastiCache Serverless: discovery asks `DescribeServerlessCaches`, IAM tokens carry `ResourceType=ServerlessCache`, and the pool uses cluster mode unless `REDIS_CLUSTER=false`.',
  },
  cluster: {
    env: 'REDIS_CLUSTER',
    kind: 'boolean',
    default: false,
    description:
      '`true` for cluster mode enabled (ioredis `Cluster`; the URL is a seed, typically the configuration endpoint; db must be 0). One pooled "connection" is then one Cluster client. Say `cluster: true` in code too if you want `context.redis` typed as `Cluster`.',
  },
  poolMax: {
    env: 'REDIS_POOL_MAX',
    kind: 'integer',
    // One shared connection for plain commands plus one for an exclusive lease
    // (MULTI/WATCH, blocking, pub/sub) at a time.
    default: 2,
    min: 1,
    max: 1_000,
    description:
      "Connections per execution environment, a hard budget: one shared connection plus exclusive ones. Plan `environments × REDIS_POOL_MAX` against the node's `maxclients` (65,000 on ElastiCache). On Lambda Managed Instances the Node.js runtime runs the handler module once per worker thread (`AWS_LAMBDA_NODEJS_WORKER_COUNT`), so the budget is per worker: `environments × workers × REDIS_POOL_MAX`.",
  },
  connectTimeoutMs: {
    env: 'REDIS_CONNECT_TIMEOUT_MS',
    kind: 'integer',
    default: 2_000,
    min: 1,
    max: MAX_TIMEOUT_MS,
    description:
      'One connection attempt: TCP, TLS, HELLO/AUTH, then CLIENT SETNAME (and SELECT for a db other than 0).',
  },
  commandTimeoutMs: {
    env: 'REDIS_COMMAND_TIMEOUT_MS',
    kind: 'integer',
    // A Redis round trip inside a VPC is well under a millisecond: a second of silence
    // means a dead peer.
    default: 1_000,
    min: 1,
    max: MAX_TIMEOUT_MS,
    description:
      "A connection with commands pending that receives nothing for this long is declared dead and its pending commands fail with `ConnectionLostError` (outcome unknown), the idle-check PING too. Only time the process runs counts: an event-loop stall or a freeze adds a quarter of it at most, and a reply that arrived meanwhile is read first. Not a per-command timeout: every command pending on the connection fails with it (on the shared one, those of concurrent invocations too), and replies that keep arriving never trip it. A blocking command on an exclusive lease must time out sooner. In cluster mode it is ioredis's `socketTimeout` on each node connection (wall time).",
  },
  acquireTimeoutMs: {
    env: 'REDIS_ACQUIRE_TIMEOUT_MS',
    kind: 'integer',
    default: 3_000,
    min: 1,
    max: MAX_TIMEOUT_MS,
    description:
      'The longest `acquire()` waits, for the budget, a connect or a validation; also bounded by the `deadline` you pass.',
  },
  retryBaseMs: {
    env: 'REDIS_RETRY_BASE_MS',
    kind: 'integer',
    default: 50,
    min: 1,
    max: 60_000,
    description: 'Reconnect backoff: the first window.',
  },
  retryMaxMs: {
    env: 'REDIS_RETRY_MAX_MS',
    kind: 'integer',
    default: 30_000,
    min: 1,
    max: MAX_TIMEOUT_MS,
    description: 'Reconnect backoff cap; at least `REDIS_RETRY_BASE_MS`.',
  },
  idleCheckMs: {
    env: 'REDIS_IDLE_CHECK_MS',
    kind: 'integer',
    // Lambda freezes an environment right after each invocation; after five idle seconds
    // the peer may have dropped us unnoticed, and one PING costs a fraction of a millisecond.
    default: 5_000,
    min: 0,
    max: 86_400_000,
    description:
      'A connection idle at least this long is PINGed before it is handed out, which finds one the network dropped silently; `0` checks every time it was idle at all. A close or reset the server sent while the environment was frozen is found without a PING, whatever this is: a connection unused for 10 ms or more is handed out only after the socket events that arrived meanwhile have run.',
  },
  tlsCaFile: {
    env: 'REDIS_TLS_CA_FILE',
    kind: 'file',
    default: undefined,
    description:
      "PEM bundle trusted **in addition to** Node's root CAs for `rediss://` (ElastiCache's certificates chain to Amazon's public roots and need none). Checked at init: a readable file with at least one `-----BEGIN CERTIFICATE-----` block, each of which must parse; a directory, a DER file or a key alone is a `ConfigError`.",
  },
  maxConnectionAgeMs: {
    env: 'REDIS_MAX_CONNECTION_AGE_MS',
    kind: 'integer',
    // Half an hour before ElastiCache drops an IAM-authenticated connection.
    default: IAM_CONNECTION_LIMIT_MS - 1_800_000,
    min: 0,
    max: 604_800_000,
    description:
      'A connection open this long is closed and replaced when no lease holds it (never under a running command), so that connections do not live forever: ElastiCache drops IAM-authenticated ones after 12 hours. `0` keeps connections for as long as they work (not with `REDIS_AUTH=iam`, which needs 1 – 43200000).',
  },
  connectOnInit: {
    env: 'REDIS_CONNECT_ON_INIT',
    kind: 'boolean',
    default: false,
    description:
      "Open the shared connection when the pool is created (at module scope: during Lambda's init phase, so the first invocation does not wait for the connect; with provisioned concurrency, before any request arrives). A failure there is not fatal: the first acquire retries.",
  },
  metricsNamespace: {
    env: 'REDIS_METRICS_NAMESPACE',
    kind: 'namespace',
    default: 'LambdaRedisPool',
    description: "CloudWatch namespace of the pool's metrics.",
  },
  metrics: {
    env: 'REDIS_METRICS',
    kind: 'boolean',
    default: true,
    description: "`false` turns the pool's metrics off.",
  },
  clientName: {
    env: 'REDIS_CLIENT_NAME',
    kind: 'clientName',
    default: 'lambda-redis-pool',
    defaultText: '`AWS_LAMBDA_FUNCTION_NAME`, else `lambda-redis-pool`',
    description:
      "Prefix of each connection's `CLIENT SETNAME`, followed by `:<environment id>:<n>`. Characters CLIENT SETNAME refuses become `_`.",
  },
} as const satisfies Record<string, OptionSpec>;

export type PoolOptionKey = keyof typeof POOL_OPTIONS;

/** Every key, in the table's order (the README's order). */
export const POOL_OPTION_KEYS = Object.keys(POOL_OPTIONS) as PoolOptionKey[];

interface KindValue {
  integer: number;
  boolean: boolean;
  url: string;
  file: string;
  namespace: string;
  clientName: string;
  auth: 'password' | 'iam';
  user: string;
  cacheName: string;
}

/** The TypeScript type of an option's value. */
export type OptionValue<K extends PoolOptionKey> = KindValue[(typeof POOL_OPTIONS)[K]['kind']];

/**
 * Every pool option, as given in code (`getRedisPool({ poolMax: 4 })`); each one can be set by
 * its environment variable instead, and code wins. See POOL_OPTIONS for what each one means.
 */
export type RedisPoolOptions = { -readonly [K in PoolOptionKey]?: OptionValue<K> };

/** Environment variable of each option: the contract documented in README.md. */
export const ENV_VARS = Object.fromEntries(
  POOL_OPTION_KEYS.map((key) => [key, POOL_OPTIONS[key].env]),
) as { readonly [K in PoolOptionKey]: (typeof POOL_OPTIONS)[K]['env'] };

/**
 * Defaults, chosen for Lambda: a Redis round trip inside a VPC is well under a millisecond,
 * and every wait stays small next to a typical 3–30 s function timeout.
 */
export const DEFAULTS = Object.fromEntries(
  POOL_OPTION_KEYS.map((key) => [key, POOL_OPTIONS[key].default]),
) as { readonly [K in PoolOptionKey]: (typeof POOL_OPTIONS)[K]['default'] };
