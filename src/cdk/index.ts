/**
 * `lambda-redis-pool/cdk`: CDK constructs for functions that use the pool. They need
 * `aws-cdk-lib` 2 and `constructs` 10 (optional peer dependencies: only this entry loads them).
 *
 *   const cache = new ValkeyCache(this, 'Cache', { vpc });
 *   const link = new RedisPoolConnection(this, 'Redis', { function: fn, cache });
 *   dashboard.addWidgets(...link.widgets(), ...cache.widgets());
 *
 * Discovery by cache name from isolated subnets (one endpoint per VPC, shared):
 *
 *   const endpoint = new ElastiCacheApiEndpoint(this, 'ElastiCacheApi', { vpc });
 *   new RedisPoolConnection(this, 'Redis', { function: fn, cache, discovery: { endpoint } });
 */
export {
  type CacheAuth,
  ELASTICACHE_MAX_CLIENTS,
  type RedisPoolCache,
  ValkeyCache,
  type ValkeyCacheProps,
} from './cache.js';
export {
  RedisPoolConnection,
  type RedisPoolConnectionProps,
  type RedisPoolDiscoveryProps,
  type RedisPoolEnvironmentOptions,
  redisPoolEnvironment,
} from './connection.js';
export {
  ELASTICACHE_API_PORT,
  ElastiCacheApiEndpoint,
  type ElastiCacheApiEndpointProps,
} from './endpoint.js';
