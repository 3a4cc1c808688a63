/**
 * Handing connections back and closing, against real redis-server processes: an exclusive
 * lease's release is bounded by its deadline and leaves nothing behind for the next lease, and
 * closing the pool ends every socket, so that a process that closed it can exit.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { RedisPool, type RedisPoolOptions } from '../../src/index.js';
import { startRedis, stopAll } from '../helpers/redis-server.js';

const pools: RedisPool[] = [];

function poolFor(url: string, options: RedisPoolOptions = {}): RedisPool {
  const pool = new RedisPool({ url, clientName: 'release-test', metrics: false, ...options }, {});
  pools.push(pool);
  return pool;
}

afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.close()));
});
afterAll(stopAll);

describe('releasing an exclusive lease', () => {
  it('a server that stalls at release: the release ends by the lease deadline and destroys the connection', async () => {
    const server = await startRedis();
    // A command timeout far beyond the deadline: only the deadline can end the release early.
    const pool = poolFor(server.url, { commandTimeoutMs: 10_000, poolMax: 1 });
    const deadline = Date.now() + 1_000;
    const lease = await pool.acquire({ exclusive: true, deadline });
    await lease.redis.watch('watched');
    server.pause();
    let releasedAt: number;
    try {
      await lease.release();
      releasedAt = Date.now();
    } finally {
      server.resume();
    }
    expect(releasedAt).toBeLessThan(deadline + 2_000);
    expect(pool.stats()).toMatchObject({ connectionsLost: 1, active: 0, idle: 0 });
    const next = await pool.acquire({ exclusive: true });
    expect(next.redis).not.toBe(lease.redis);
    expect(await next.redis.ping()).toBe('PONG');
    await next.release();
  });

  it('released after its deadline, the lease’s connection is destroyed rather than reset', async () => {
    const server = await startRedis();
    const pool = poolFor(server.url, { poolMax: 1 });
    await (await pool.acquire({ exclusive: true })).release();
    // The idle connection is handed out at once: the deadline cannot pass during the acquire.
    const lease = await pool.acquire({ exclusive: true, deadline: Date.now() + 50 });
    expect(lease.reused).toBe(true);
    await lease.redis.watch('watched');
    await new Promise((resolve) => setTimeout(resolve, 100));
    await lease.release();
    expect(pool.stats()).toMatchObject({ connectionsLost: 1 });
  });

  it('CLIENT TRACKING turned on by one lease is off for the next', async () => {
    const server = await startRedis();
    const pool = poolFor(server.url, { poolMax: 1 });
    const first = await pool.acquire({ exclusive: true });
    await first.redis.call('CLIENT', 'TRACKING', 'ON');
    expect(flags(await first.redis.call('CLIENT', 'INFO'))).toContain('t');
    await first.release();
    const second = await pool.acquire({ exclusive: true });
    expect(second.redis).toBe(first.redis);
    expect(flags(await second.redis.call('CLIENT', 'INFO'))).not.toContain('t');
    await second.release();
    expect(pool.stats()).toMatchObject({ connectionsCreated: 1, connectionsLost: 0 });
  });
});

/** The `flags` field of a CLIENT INFO line. */
function flags(info: unknown): string {
  return /\bflags=(\S*)/.exec(String(info))?.[1] ?? '';
}
