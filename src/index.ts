/** lambda-redis-pool: the public API. */
export { type BackoffPolicy, backoffDelay } from './backoff.js';
export {
  DEFAULTS,
  ENV_VARS,
  loadConfig,
  type RedisEndpoint,
  type RedisPoolConfig,
  type RedisPoolOptions,
  redactUrl,
  Secret,
} from './config.js';
export {
  AcquireTimeoutError,
  ConfigError,
  type ConfigIssue,
  PoolClosedError,
  RedisPoolError,
  RedisUnavailableError,
} from './errors.js';
export {
  type AcquireOptions,
  closeRedisPools,
  ENVIRONMENT_ID,
  getRedisPool,
  isConnectionError,
  type Lease,
  type PoolStats,
  type RedisClient,
  RedisPool,
} from './pool/index.js';
