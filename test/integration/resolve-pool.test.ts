/**
 * The pool connects by host name without libuv's threadpool, resolves the name again for every
 * new connection, and keeps the name for TLS (SNI and the certificate check).
 *
 * Stand-in for AWS: a DNS server on loopback (test/helpers/dns-server.ts) plays the VPC's
 * resolver answering for ElastiCache endpoint names; the pool is pointed at it through its
 * `dnsServers` seam. Redis is a real redis-server; the threadpool is kept busy with real pbkdf2
 * work.
 */
import { Cluster, Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect } from 'vitest';
import { RedisUnavailableError } from '../../src/errors.js';
import { RedisPool } from '../../src/pool/RedisPool.js';
import { type DnsServer, startDnsServer } from '../helpers/dns-server.js';
import { test } from '../helpers/fixtures.js';
import { saturateThreadpool } from '../helpers/threadpool.js';

let dns: DnsServer;
const pools: RedisPool[] = [];

beforeEach(async () => {
  dns = await startDnsServer({
    'primary.cache.test': '127.0.0.1',
    'other-name.cache.test': '127.0.0.1',
  });
});

afterEach(async () => {
  await Promise.all(pools.splice(0).map((pool) => pool.close()));
  await dns.close();
});

function pool(env: Record<string, string>): RedisPool {
  const created = new RedisPool(
    {},
    { REDIS_METRICS: 'false', REDIS_RETRY_BASE_MS: '1', REDIS_RETRY_MAX_MS: '5', ...env },
    { dnsServers: [dns.server] },
  );
  pools.push(created);
  return created;
}

describe('connecting by host name', () => {
  test('opens a connection while every threadpool thread is busy, before any of that work ends', async ({
    redisServer,
  }) => {
    const byName = pool({ REDIS_URL: `redis://primary.cache.test:${redisServer.port}` });
    const events: string[] = [];
    const busy = saturateThreadpool(events);
    // ioredis alone, for contrast: its connect resolves with dns.lookup, on the threadpool.
    const plain = new Redis({
      host: 'primary.localhost',
      port: redisServer.port,
      lazyConnect: true,
    });
    plain.on('error', () => {});
    const viaLookup = plain
      .connect()
      .catch(() => {})
      .then(() => events.push('plain ioredis connect settled'));
    const viaPool = byName
      .run((redis) => redis.ping())
      .then(() => events.push('pool connected and PINGed'));
    await Promise.all([...busy, viaLookup, viaPool]);
    plain.disconnect();
    expect(events[0]).toBe('pool connected and PINGed');
    expect(events.indexOf('plain ioredis connect settled')).toBeGreaterThan(
      events.indexOf('threadpool work done'),
    );
    expect(dns.queries).toContainEqual({ name: 'primary.cache.test', type: 'A' });
  });

  test('resolves the name again for every new connection: a changed record moves the next one', async ({
    redisServer,
  }) => {
    const byName = pool({ REDIS_URL: `redis://primary.cache.test:${redisServer.port}` });
    const first = await byName.acquire();
    const asked = dns.queries.length;
    expect(asked).toBeGreaterThan(0);
    await first.destroy();

    // A failover points the name elsewhere (nothing listens there).
    dns.setAddress('primary.cache.test', '127.0.0.3');
    const moved = await byName.acquire({ deadline: Date.now() + 500 }).catch((e: unknown) => e);
    expect(moved).toBeInstanceOf(RedisUnavailableError);
    expect(dns.queries.length).toBeGreaterThan(asked);

    dns.setAddress('primary.cache.test', '127.0.0.1');
    expect(await byName.run((redis) => redis.ping())).toBe('PONG');
  });

  test('resolves the node names of a cluster too', async ({ redisCluster }) => {
    const byName = pool({
      REDIS_URL: `redis://primary.cache.test:${redisCluster.ports[0]}`,
      REDIS_CLUSTER: 'true',
    });
    await byName.run(async (redis) => {
      expect(redis).toBeInstanceOf(Cluster);
      await redis.set('{x}lrp:resolve', '1');
      expect(await redis.get('{x}lrp:resolve')).toBe('1');
    });
    expect(dns.queries).toContainEqual({ name: 'primary.cache.test', type: 'A' });
  });
});

describe('over TLS', () => {
  test.override({ redisTls: true });

  test('connects to the address and checks the certificate against the host name', async ({
    redisServer,
  }) => {
    const caFile = redisServer.tls?.caFile ?? '';
    // The test certificate is for localhost and 127.0.0.1. Both names below resolve to
    // 127.0.0.1: were the address checked, both would pass.
    const good = pool({
      REDIS_URL: `rediss://localhost:${redisServer.port}`,
      REDIS_TLS_CA_FILE: caFile,
    });
    expect(await good.run((redis) => redis.ping())).toBe('PONG');

    const wrongName = pool({
      REDIS_URL: `rediss://other-name.cache.test:${redisServer.port}`,
      REDIS_TLS_CA_FILE: caFile,
    });
    const error = await wrongName.acquire().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RedisUnavailableError);
    expect(error).toMatchObject({ permanent: true, reason: 'tls' });
    expect(dns.queries).toContainEqual({ name: 'other-name.cache.test', type: 'A' });
  });
});
