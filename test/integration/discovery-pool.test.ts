/**
 * The pool with REDIS_CACHE_NAME and no REDIS_URL: it asks ElastiCache where the cache is, once
 * per execution environment, and connects there.
 *
 * Stand-in for AWS: the ElastiCache API is a local HTTP server speaking its Query protocol
 * (test/helpers/elasticache-api.ts), reached through AWS_ENDPOINT_URL_ELASTICACHE with fixed
 * test credentials. The caches it describes are real local redis-servers (a plain one, a
 * three-node cluster, a TLS cluster node standing in for a serverless cache).
 */
import { Cluster, type Redis } from 'ioredis';
import { afterEach, describe, expect } from 'vitest';
import { AcquireTimeoutError, ElastiCacheError, RedisUnavailableError } from '../../src/errors.js';
import { RedisPool } from '../../src/pool/RedisPool.js';
import { REGION, useElastiCacheApi } from '../helpers/elasticache-api.js';
import { test } from '../helpers/fixtures.js';
import { rejectionOf } from '../helpers/rejection.js';
import { expectedIamTokenFor } from '../helpers/sigv4.js';

const failure = (promise: Promise<unknown>) => rejectionOf(promise, RedisUnavailableError);

const stand = useElastiCacheApi();
const pools: RedisPool[] = [];

afterEach(async () => {
  await Promise.all(pools.splice(0).map((pool) => pool.close()));
});

/** Each test its own cache name: the locations found are kept for the process's life. */
let nextCache = 1;
function cacheName(): string {
  return `discovered-${process.pid}-${nextCache++}`;
}

function pool(env: Record<string, string>, options = {}): RedisPool {
  const created = new RedisPool(
    options,
    { AWS_REGION: REGION, REDIS_METRICS: 'false', ...env },
    // Keep test DNS out of it: the stand-in hands out IP literals and localhost.
    {},
  );
  pools.push(created);
  return created;
}

describe('a pool that discovers its cache', () => {
  test('connects to the primary endpoint ElastiCache gives, asking once per environment', async ({
    redisServer,
  }) => {
    const name = cacheName();
    stand.api.putReplicationGroup(name, { primary: { host: '127.0.0.1', port: redisServer.port } });
    const first = pool({ REDIS_CACHE_NAME: name });
    expect(first.config.endpoint).toBeUndefined();
    expect(await first.run((redis) => redis.ping())).toBe('PONG');
    // Another pool of the same environment (other options) uses what the first one found.
    const second = pool({ REDIS_CACHE_NAME: name }, { poolMax: 3 });
    expect(await second.run((redis) => redis.ping())).toBe('PONG');
    expect(stand.api.calls.map((c) => c.action)).toEqual(['DescribeReplicationGroups']);
    expect(await redisServer.clientList()).toHaveLength(2);
  });

  test('uses cluster mode when the cache has it, at its configuration endpoint', async ({
    redisCluster,
  }) => {
    const name = cacheName();
    stand.api.putReplicationGroup(name, {
      clusterEnabled: true,
      configuration: { host: '127.0.0.1', port: redisCluster.ports[0] ?? 0 },
    });
    const discovered = pool({ REDIS_CACHE_NAME: name });
    await discovered.run(async (redis) => {
      expect(redis).toBeInstanceOf(Cluster);
      // Keys in different slots, so on different nodes.
      await redis.set('{a}lrp:discovery', '1');
      await redis.set('{b}lrp:discovery', '2');
      expect([await redis.get('{a}lrp:discovery'), await redis.get('{b}lrp:discovery')]).toEqual([
        '1',
        '2',
      ]);
    });
  });

  test('connects to a serverless cache over TLS in cluster mode, with a serverless IAM token', async ({
    startServer,
    tlsMaterial,
  }) => {
    // A TLS cluster node holding every slot stands in for the serverless cache's endpoint.
    const node = await startServer({
      tls: tlsMaterial,
      // CLUSTER SLOTS answers with the TLS port and a host name, as ElastiCache's TLS
      // endpoints do.
      args: [
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        'nodes.conf',
        '--tls-cluster',
        'yes',
        '--cluster-announce-hostname',
        'localhost',
        '--cluster-preferred-endpoint-type',
        'hostname',
      ],
    });
    await node.cli('CLUSTER', 'ADDSLOTSRANGE', '0', '16383');
    await expect
      .poll(async () => /cluster_state:ok/.test(await node.cli('CLUSTER', 'INFO')), {
        timeout: 15_000,
      })
      .toBe(true);
    const name = cacheName();
    const now = Date.UTC(2024, 5, 1, 12, 0, 0);
    const token = expectedIamTokenFor(stand.api.env, {
      cacheName: name,
      userId: 'sessions-app',
      serverless: true,
      region: REGION,
      now,
    });
    await node.cli('ACL', 'SETUSER', 'sessions-app', 'on', `>${token}`, '~*', '&*', '+@all');
    stand.api.putServerlessCache(name, { endpoint: { host: 'localhost', port: node.port } });

    const serverless = new RedisPool(
      {},
      {
        REDIS_CACHE_NAME: name,
        REDIS_SERVERLESS: 'true',
        REDIS_AUTH: 'iam',
        REDIS_USER: 'sessions-app',
        REDIS_TLS_CA_FILE: tlsMaterial.caFile,
        REDIS_METRICS: 'false',
        AWS_REGION: REGION,
      },
      { iam: { now: () => now } },
    );
    pools.push(serverless);
    await serverless.run(async (redis) => {
      expect(redis).toBeInstanceOf(Cluster);
      await redis.set('lrp:serverless', 'yes');
      expect(await redis.call('ACL', 'WHOAMI')).toBe('sessions-app');
    });
    expect(stand.api.calls.map((c) => c.action)).toEqual(['DescribeServerlessCaches']);
  });

  test('AccessDenied: a permanent error that names the cache and the IAM action to grant', async () => {
    const name = cacheName();
    stand.api.deny('DescribeReplicationGroups');
    const error = await failure(pool({ REDIS_CACHE_NAME: name }).acquire());
    expect(error).toMatchObject({ permanent: true, reason: 'permission', statusCode: 500 });
    expect(error.message).toContain(name);
    expect(error.message).toContain('elasticache:DescribeReplicationGroups');
    expect(error.cause).toBeInstanceOf(ElastiCacheError);
    expect(error.cause).toMatchObject({ permission: 'elasticache:DescribeReplicationGroups' });
  });

  test('a cache that does not exist: a permanent error naming it', async () => {
    const name = cacheName();
    const error = await failure(pool({ REDIS_CACHE_NAME: name }).acquire());
    expect(error).toMatchObject({ permanent: true, reason: 'configuration' });
    expect(error.message).toContain(`no replication group "${name}"`);
  });

  test('a cache that is not available yet: an outage, retried, whose message names no cache', async () => {
    const name = cacheName();
    stand.api.putReplicationGroup(name, { status: 'creating' });
    // A first retry drawn from 0 to 60 s: the acquire ends on the answer, not on its deadline.
    const waiting = pool({
      REDIS_CACHE_NAME: name,
      REDIS_RETRY_BASE_MS: '60000',
      REDIS_RETRY_MAX_MS: '60000',
    });
    const error = await failure(waiting.acquire({ deadline: Date.now() + 5_000 }));
    expect(error).toMatchObject({ permanent: false, statusCode: 503, expose: true });
    expect(error.message).not.toContain(name);
    expect((error.cause as ElastiCacheError).message).toContain('status creating');
  });

  test('an API that does not answer: the acquire ends at its deadline, before the API answers', async () => {
    const name = cacheName();
    const held = stand.api.hold('DescribeReplicationGroups');
    const order: string[] = [];
    const acquire = pool({ REDIS_CACHE_NAME: name })
      .acquire({ deadline: Date.now() + 1_000 })
      .catch((e: unknown) => {
        order.push('acquire failed');
        return e;
      });
    await expect.poll(() => stand.api.calls.length).toBe(1);
    const error = await acquire;
    order.push('API answers');
    held.release();
    expect(order).toEqual(['acquire failed', 'API answers']);
    expect(error instanceof RedisUnavailableError || error instanceof AcquireTimeoutError).toBe(
      true,
    );
  });

  test('looks again after connections to the remembered endpoint keep failing (a replaced cache)', async ({
    startServer,
  }) => {
    const [old, replacement] = await Promise.all([startServer(), startServer()]);
    const name = cacheName();
    stand.api.putReplicationGroup(name, { primary: { host: '127.0.0.1', port: old.port } });
    const discovered = pool({
      REDIS_CACHE_NAME: name,
      REDIS_RETRY_BASE_MS: '1',
      REDIS_RETRY_MAX_MS: '5',
    });
    const lease = await discovered.acquire();
    expect(await lease.redis.ping()).toBe('PONG');

    // The cache is replaced: the old endpoint refuses, ElastiCache gives the new one.
    await old.stop();
    stand.api.putReplicationGroup(name, { primary: { host: '127.0.0.1', port: replacement.port } });
    await lease.destroy();
    await discovered.run(async (redis) => {
      expect(await (redis as Redis).ping()).toBe('PONG');
    });
    expect(stand.api.calls.map((c) => c.action)).toEqual([
      'DescribeReplicationGroups',
      'DescribeReplicationGroups',
    ]);
    expect(discovered.stats().connectionsFailed).toBe(3);
    expect(await replacement.clientList()).toHaveLength(1);
  });
});
