export type { RedisClient } from './connection.js';
export { isConnectionError } from './connection-error.js';
export { ENVIRONMENT_ID } from './environment.js';
export { type AcquireOptions, type Lease, type PoolStats, RedisPool } from './RedisPool.js';
export { closeRedisPools, getRedisPool } from './registry.js';
