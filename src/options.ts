/**
 * Every pool option, defined once: its environment variable, type, default and bounds.
 * `RedisPoolOptions`, `ENV_VARS`, `DEFAULTS`, the checks `loadConfig` makes and the
 * configuration table in README.md (`npm run docs:options`) are all derived from this table,
 * so they cannot drift apart. What each option means is in options-docs.ts, which must
 * document every key of this table (a type error otherwise).
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
  readonly min?: number;
  readonly max?: number;
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
  },
  auth: {
    env: 'REDIS_AUTH',
    kind: 'auth',
    default: 'password',
  },
  user: {
    env: 'REDIS_USER',
    kind: 'user',
    default: undefined,
  },
  cacheName: {
    env: 'REDIS_CACHE_NAME',
    kind: 'cacheName',
    default: undefined,
  },
  serverless: {
    env: 'REDIS_SERVERLESS',
    kind: 'boolean',
    default: false,
  },
  cluster: {
    env: 'REDIS_CLUSTER',
    kind: 'boolean',
    default: false,
  },
  poolMax: {
    env: 'REDIS_POOL_MAX',
    kind: 'integer',
    // One shared connection for plain commands plus one for an exclusive lease
    // (MULTI/WATCH, blocking, pub/sub) at a time.
    default: 2,
    min: 1,
    max: 1_000,
  },
  connectTimeoutMs: {
    env: 'REDIS_CONNECT_TIMEOUT_MS',
    kind: 'integer',
    default: 2_000,
    min: 1,
    max: MAX_TIMEOUT_MS,
  },
  commandTimeoutMs: {
    env: 'REDIS_COMMAND_TIMEOUT_MS',
    kind: 'integer',
    // A Redis round trip inside a VPC is well under a millisecond: a second of silence
    // means a dead peer.
    default: 1_000,
    min: 1,
    max: MAX_TIMEOUT_MS,
  },
  acquireTimeoutMs: {
    env: 'REDIS_ACQUIRE_TIMEOUT_MS',
    kind: 'integer',
    default: 3_000,
    min: 1,
    max: MAX_TIMEOUT_MS,
  },
  retryBaseMs: {
    env: 'REDIS_RETRY_BASE_MS',
    kind: 'integer',
    default: 50,
    min: 1,
    max: 60_000,
  },
  retryMaxMs: {
    env: 'REDIS_RETRY_MAX_MS',
    kind: 'integer',
    default: 30_000,
    min: 1,
    max: MAX_TIMEOUT_MS,
  },
  idleCheckMs: {
    env: 'REDIS_IDLE_CHECK_MS',
    kind: 'integer',
    // Lambda freezes an environment right after each invocation; after five idle seconds
    // the peer may have dropped us unnoticed, and one PING costs a fraction of a millisecond.
    default: 5_000,
    min: 0,
    max: 86_400_000,
  },
  tlsCaFile: {
    env: 'REDIS_TLS_CA_FILE',
    kind: 'file',
    default: undefined,
  },
  maxConnectionAgeMs: {
    env: 'REDIS_MAX_CONNECTION_AGE_MS',
    kind: 'integer',
    // Half an hour before ElastiCache drops an IAM-authenticated connection.
    default: IAM_CONNECTION_LIMIT_MS - 1_800_000,
    min: 0,
    max: 604_800_000,
  },
  connectOnInit: {
    env: 'REDIS_CONNECT_ON_INIT',
    kind: 'boolean',
    default: false,
  },
  metricsNamespace: {
    env: 'REDIS_METRICS_NAMESPACE',
    kind: 'namespace',
    default: 'LambdaRedisPool',
  },
  metrics: {
    env: 'REDIS_METRICS',
    kind: 'boolean',
    default: true,
  },
  clientName: {
    env: 'REDIS_CLIENT_NAME',
    kind: 'clientName',
    default: 'lambda-redis-pool',
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
