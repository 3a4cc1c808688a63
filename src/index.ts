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
  DeadlineError,
  PoolClosedError,
  RedisPoolError,
  RedisUnavailableError,
} from './errors.js';
export {
  DEFAULT_DEADLINE_MARGIN_MS,
  type RedisContext,
  type RedisPoolHandlerOptions,
} from './invocation.js';
export {
  type InvocationMetrics,
  METRIC_DIMENSION,
  METRIC_NAMES,
  METRIC_UNITS,
  type MetricKey,
} from './metrics.js';
export {
  CLEANUP_KEY,
  cleanupRedisPool,
  type MiddyRequestLike,
  type RedisPoolMiddleware,
  redisPool,
  type WithRedisPoolOptions,
  withRedisPool,
} from './middleware.js';
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
