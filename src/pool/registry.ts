/**
 * Module-scope pools: what survives between invocations of one execution environment.
 * Each distinct set of options gets its own pool (two endpoints, two pools); the same
 * options always return the same pool, so calling getRedisPool() in every invocation is free.
 */
import type { RedisPoolOptions } from '../config.js';
import { RedisPool } from './RedisPool.js';

const pools = new Map<string, RedisPool>();

/**
 * The pool for these options (merged over the environment), created on first use. Creating
 * it opens nothing unless REDIS_CONNECT_ON_INIT / `connectOnInit` asks to connect now, which
 * puts the connect into Lambda's init phase.
 * @throws ConfigError when the configuration is invalid.
 */
export function getRedisPool(options: RedisPoolOptions = {}): RedisPool {
  // The key stays in memory only; it may contain a password and is never printed.
  const key = JSON.stringify(options, Object.keys(options).sort());
  let pool = pools.get(key);
  if (!pool || pool.closed) {
    pool = new RedisPool(options);
    pools.set(key, pool);
    closeOnSigterm();
    if (pool.config.connectOnInit) {
      // Failure here is not fatal: the first acquire retries under the backoff schedule.
      pool.warm().catch(() => {});
    }
  }
  return pool;
}

/** Closes every module-scope pool (shutdown, tests). */
export async function closeRedisPools(): Promise<void> {
  const all = [...pools.values()];
  pools.clear();
  await Promise.all(all.map((pool) => pool.close()));
}

let sigtermHooked = false;

/**
 * Lambda sends SIGTERM before it shuts an environment down (when extensions are registered):
 * QUIT every connection then, so the server sees clean disconnects instead of dead sockets
 * it keeps until its idle timeout. Afterwards the signal gets what it would have had without
 * us: the other listeners, or the default action, which ends the process.
 */
function closeOnSigterm(): void {
  if (sigtermHooked) return;
  sigtermHooked = true;
  const onSigterm = () => {
    process.removeListener('SIGTERM', onSigterm);
    sigtermHooked = false;
    closeRedisPools().finally(() => {
      if (process.listenerCount('SIGTERM') === 0) process.kill(process.pid, 'SIGTERM');
    });
  };
  process.on('SIGTERM', onSigterm);
}
