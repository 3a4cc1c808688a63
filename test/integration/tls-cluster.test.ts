/** TLS (rediss://) and cluster mode, against real redis-server processes started here. */
import { afterAll, describe, expect, it } from 'vitest';
import { RedisPool, RedisUnavailableError } from '../../src/index.js';
import { makeTlsMaterial, startCluster, startRedis, stopAll } from '../helpers/redis-server.js';

afterAll(stopAll);

describe('TLS', () => {
  it('rediss:// with the CA that signed the server certificate works', async () => {
    const tls = await makeTlsMaterial();
    const server = await startRedis({ tls });
    expect(server.url.startsWith('rediss://')).toBe(true);
    const pool = new RedisPool({ url: server.url, tlsCaFile: tls.caFile }, {});
    try {
      const lease = await pool.acquire();
      expect(await lease.redis.set('over-tls', 'yes')).toBe('OK');
      expect(await lease.redis.get('over-tls')).toBe('yes');
      await lease.release();
    } finally {
      await pool.close();
    }
  });

  it('with the wrong CA it fails closed, with a clear error', async () => {
    const [tls, other] = await Promise.all([makeTlsMaterial(), makeTlsMaterial()]);
    const server = await startRedis({ tls });
    const pool = new RedisPool(
      { url: server.url, tlsCaFile: other.caFile, retryBaseMs: 10_000, retryMaxMs: 10_000 },
      {},
    );
    try {
      const error = await pool.acquire().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(RedisUnavailableError);
      expect((error as Error).message).toMatch(/CERT/);
      expect(((error as Error).cause as Error).message).toMatch(/certificate/i);
      // Attempts may be retried while the backoff fits the acquire window; none succeeds.
      expect(pool.stats().connectionsCreated).toBe(0);
      expect(pool.stats().connectionsFailed).toBeGreaterThanOrEqual(1);
    } finally {
      await pool.close();
    }
  });

  it('a plain redis:// client cannot talk to the TLS-only server', async () => {
    const tls = await makeTlsMaterial();
    const server = await startRedis({ tls });
    const pool = new RedisPool(
      {
        url: `redis://127.0.0.1:${server.port}`,
        connectTimeoutMs: 500,
        retryBaseMs: 10_000,
        retryMaxMs: 10_000,
      },
      {},
    );
    try {
      await expect(pool.acquire()).rejects.toBeInstanceOf(RedisUnavailableError);
    } finally {
      await pool.close();
    }
  });
});

describe('cluster mode', () => {
  it('serves shared leases across the slots of a 3-master cluster', async () => {
    const cluster = await startCluster(3);
    const pool = new RedisPool({ url: `redis://127.0.0.1:${cluster.ports[0]}`, cluster: true }, {});
    try {
      const keys = Array.from({ length: 300 }, (_, i) => `key:${i}`);
      const leases = await Promise.all(keys.map(() => pool.acquire()));
      expect(new Set(leases.map((l) => l.redis)).size).toBe(1);
      await Promise.all(keys.map((key, i) => leases[i]?.redis.set(key, String(i))));
      expect(await leases[0]?.redis.get('key:299')).toBe('299');
      await Promise.all(leases.map((l) => l.release()));

      // Every master holds part of the keys: the slots really are spread.
      const perNode = await Promise.all(cluster.nodes.map((node) => node.cli('DBSIZE')));
      expect(perNode.map(Number).every((n) => n > 0)).toBe(true);
      expect(perNode.map(Number).reduce((a, b) => a + b, 0)).toBe(300);
      expect(pool.stats().connectionsCreated).toBe(1);
    } finally {
      await pool.close();
      await cluster.stop();
    }
  });
});
