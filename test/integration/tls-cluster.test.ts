/** TLS (rediss://) and cluster mode, against real redis-server processes started per test. */
import { describe, expect } from 'vitest';
import { RedisPool, RedisUnavailableError } from '../../src/index.js';
import { test } from '../helpers/fixtures.js';
import type { RedisServer } from '../helpers/redis-server.js';

/** Creating a cluster (three servers, redis-cli, gossip until every node agrees) can take
 * half a minute on a loaded machine. */
const CLUSTER_TEST_MS = 90_000;

function caFileOf(server: RedisServer): string {
  if (server.tls === undefined) throw new Error(`${server.url} has no TLS`);
  return server.tls.caFile;
}

describe('TLS', () => {
  test.override({ redisTls: true });

  test('rediss:// with the CA that signed the server certificate works', async ({
    redisServer,
  }) => {
    expect(redisServer.url.startsWith('rediss://')).toBe(true);
    const pool = new RedisPool({ url: redisServer.url, tlsCaFile: caFileOf(redisServer) }, {});
    try {
      const lease = await pool.acquire();
      expect(await lease.redis.set('over-tls', 'yes')).toBe('OK');
      expect(await lease.redis.get('over-tls')).toBe('yes');
      await lease.release();
    } finally {
      await pool.close();
    }
  });

  test('with the wrong CA it fails closed, with a clear error', async ({
    redisServer,
    tlsMaterial: other,
  }) => {
    const pool = new RedisPool(
      { url: redisServer.url, tlsCaFile: other.caFile, retryBaseMs: 10_000, retryMaxMs: 10_000 },
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

  test('a plain redis:// client cannot talk to the TLS-only server', async ({ redisServer }) => {
    const pool = new RedisPool(
      {
        url: `redis://127.0.0.1:${redisServer.port}`,
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
  test('serves shared leases across the slots of a 3-master cluster', {
    timeout: CLUSTER_TEST_MS,
  }, async ({ redisCluster }) => {
    const pool = new RedisPool(
      { url: `redis://127.0.0.1:${redisCluster.ports[0]}`, cluster: true },
      {},
    );
    try {
      const keys = Array.from({ length: 300 }, (_, i) => `key:${i}`);
      const leases = await Promise.all(keys.map(() => pool.acquire()));
      expect(new Set(leases.map((l) => l.redis)).size).toBe(1);
      await Promise.all(keys.map((key, i) => leases[i]?.redis.set(key, String(i))));
      expect(await leases[0]?.redis.get('key:299')).toBe('299');
      await Promise.all(leases.map((l) => l.release()));

      // Every master holds part of the keys: the slots really are spread.
      const perNode = await Promise.all(redisCluster.nodes.map((node) => node.cli('DBSIZE')));
      expect(perNode.map(Number).every((n) => n > 0)).toBe(true);
      expect(perNode.map(Number).reduce((a, b) => a + b, 0)).toBe(300);
      expect(pool.stats().connectionsCreated).toBe(1);
    } finally {
      await pool.close();
    }
  });
});
