/**
 * `lambda-redis-pool/cdk`: CDK constructs for functions that use the pool. They need
 * `aws-cdk-lib` 2 and `constructs` 10 (optional peer dependencies: only this entry loads them).
 *
 *   const cache = new ValkeyCache(this, 'Cache', { vpc });
 *   const link = new RedisPoolConnection(this, 'Redis', { function: fn, cache });
 *   dashboard.addWidgets(...link.widgets(), ...cache.widgets());
 */
export {
  type CacheAuth,
  ELASTICACHE_MAX_CLIENTS,
  elastiCacheName,
  type RedisPoolCache,
  ValkeyCache,
  type ValkeyCacheProps,
} from './cache.js';
export {
  RedisPoolConnection,
  type RedisPoolConnectionProps,
  type RedisPoolEnvironmentOptions,
  redisPoolEnvironment,
} from './connection.js';
