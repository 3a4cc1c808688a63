/**
 * lambda-redis-pool: the public API, and only what README.md documents. The middy middleware
 * is `lambda-redis-pool/middy` (src/middy.ts). Internals that tests use are imported by their
 * paths, not from here.
 */
export {
  loadConfig,
  type RedisEndpoint,
  type RedisPoolConfig,
  type Secret,
} from './config.js';
export {
  AcquireTimeoutError,
  ConfigError,
  type ConfigIssue,
  ConnectionLostError,
  DeadlineError,
  ElastiCacheError,
  PoolClosedError,
  RedisPoolError,
  RedisUnavailableError,
  type RedisUnavailableReason,
} from './errors.js';
export type {
  LambdaContext,
  RedisClientFor,
  RedisContext,
  RedisPoolHandlerOptions,
  WithRedisPoolOptions,
} from './invocation.js';
export { METRIC_DIMENSION, METRIC_NAMES, METRIC_UNITS, type MetricKey } from './metrics.js';
export { type RedisPoolHandler, withRedisPool } from './middleware.js';
export type { RedisPoolOptions } from './options.js';
export {
  type AcquireOptions,
  closeRedisPools,
  getRedisPool,
  isConnectionError,
  type Lease,
  type PoolStats,
  type RedisClient,
  RedisPool,
} from './pool/index.js';
