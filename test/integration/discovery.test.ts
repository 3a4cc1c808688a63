/**
 * Discovery by cache name (src/aws/discovery.ts, src/aws/locator.ts) through the real AWS SDK
 * client.
 *
 * Stand-in for AWS: the ElastiCache API is a local HTTP server speaking its Query protocol
 * (test/helpers/elasticache-api.ts), reached through AWS_ENDPOINT_URL_ELASTICACHE, with fixed
 * test credentials in the environment. The caches it describes are real local redis-servers.
 */
import { Redis } from 'ioredis';
import { describe, expect } from 'vitest';
import { describeCache } from '../../src/aws/discovery.js';
import { CacheLocator, FAILURES_BEFORE_LOOKUP } from '../../src/aws/locator.js';
import { ElastiCacheError } from '../../src/errors.js';
import { REGION, useElastiCacheApi } from '../helpers/elasticache-api.js';
import { test } from '../helpers/fixtures.js';
import { rejectionOf } from '../helpers/rejection.js';

const failure = (promise: Promise<unknown>) => rejectionOf(promise, ElastiCacheError);

const stand = useElastiCacheApi();

const group = (cacheName: string) => ({ cacheName, serverless: false, region: REGION });
const serverless = (cacheName: string) => ({ cacheName, serverless: true, region: REGION });
const soon = () => AbortSignal.timeout(10_000);

describe('describeCache', () => {
  test('finds the primary endpoint of a replication group, and a real redis-server answers there', async ({
    redisServer,
  }) => {
    stand.api.putReplicationGroup('orders', {
      primary: { host: '127.0.0.1', port: redisServer.port },
    });
    const location = await describeCache(group('orders'), soon());
    expect(location).toEqual({
      host: '127.0.0.1',
      port: redisServer.port,
      tls: false,
      cluster: false,
    });
    expect(stand.api.calls).toHaveLength(1);
    expect(stand.api.calls[0]).toMatchObject({
      action: 'DescribeReplicationGroups',
      params: { ReplicationGroupId: 'orders', Version: '2015-02-02' },
    });
    expect(stand.api.calls[0]?.credential).toMatch(
      new RegExp(`^AKIDSTANDINELASTICACHE/\\d{8}/${REGION}/elasticache/aws4_request$`),
    );
    const redis = new Redis({ host: location.host, port: location.port, lazyConnect: true });
    try {
      await redis.connect();
      expect(await redis.ping()).toBe('PONG');
    } finally {
      redis.disconnect();
    }
  });

  test('takes the configuration endpoint in cluster mode, and TLS from transit encryption', async () => {
    stand.api.putReplicationGroup('orders', {
      clusterEnabled: true,
      tls: true,
      configuration: { host: 'clustercfg.orders.test', port: 6380 },
    });
    expect(await describeCache(group('orders'), soon())).toEqual({
      host: 'clustercfg.orders.test',
      port: 6380,
      tls: true,
      cluster: true,
    });
  });

  test('asks DescribeServerlessCaches for a serverless cache: TLS and cluster mode', async () => {
    stand.api.putServerlessCache('sessions', {
      endpoint: { host: 'sessions.serverless.test', port: 6379 },
    });
    expect(await describeCache(serverless('sessions'), soon())).toEqual({
      host: 'sessions.serverless.test',
      port: 6379,
      tls: true,
      cluster: true,
    });
    expect(stand.api.calls[0]).toMatchObject({
      action: 'DescribeServerlessCaches',
      params: { ServerlessCacheName: 'sessions' },
    });
  });

  test('a cache that does not exist is a permanent error naming it and where to look', async () => {
    const missing = await failure(describeCache(group('nope'), soon()));
    expect(missing).toMatchObject({ cacheName: 'nope', permanent: true, reason: 'configuration' });
    expect(missing.message).toContain('"nope"');
    expect(missing.message).toContain(REGION);
    expect(missing.check).toContain('REDIS_SERVERLESS=true');

    const missingServerless = await failure(describeCache(serverless('nope'), soon()));
    expect(missingServerless).toMatchObject({ cacheName: 'nope', permanent: true });
    expect(missingServerless.message).toContain('serverless cache "nope"');
  });

  test('a cache being created is worth waiting for; a deleted one is not', async () => {
    stand.api.putReplicationGroup('orders', { status: 'creating' });
    const creating = await failure(describeCache(group('orders'), soon()));
    expect(creating).toMatchObject({ permanent: false, reason: 'unreachable' });
    expect(creating.message).toContain('status creating');

    stand.api.putReplicationGroup('orders', {
      status: 'deleting',
      primary: { host: 'x', port: 1 },
    });
    const deleting = await failure(describeCache(group('orders'), soon()));
    expect(deleting).toMatchObject({ permanent: true, reason: 'configuration' });
    expect(deleting.message).toContain('"orders" is not available (status deleting)');
  });

  test('a cache that is being modified still serves: its endpoint is used', async () => {
    stand.api.putReplicationGroup('orders', {
      status: 'modifying',
      primary: { host: 'p.test', port: 7 },
    });
    expect(await describeCache(group('orders'), soon())).toMatchObject({ host: 'p.test' });
  });

  test('AccessDenied names the cache and the IAM action the role lacks', async () => {
    stand.api.deny('DescribeReplicationGroups');
    const denied = await failure(describeCache(group('orders'), soon()));
    expect(denied).toMatchObject({
      cacheName: 'orders',
      permission: 'elasticache:DescribeReplicationGroups',
      permanent: true,
      reason: 'permission',
    });
    expect(denied.message).toContain('"orders"');
    expect(denied.message).toContain('elasticache:DescribeReplicationGroups');
    expect(denied.check).toContain(
      `arn:aws:elasticache:${REGION}:<account>:replicationgroup:orders`,
    );

    stand.api.deny('DescribeServerlessCaches');
    const deniedServerless = await failure(describeCache(serverless('sessions'), soon()));
    expect(deniedServerless.permission).toBe('elasticache:DescribeServerlessCaches');
  });

  test('an API that does not answer is given up when the signal aborts', async () => {
    const held = stand.api.hold('DescribeReplicationGroups');
    const abort = new AbortController();
    const lookup = failure(describeCache(group('orders'), abort.signal));
    await expect.poll(() => stand.api.calls.length).toBe(1);
    abort.abort();
    const error = await lookup;
    held.release();
    expect(error).toMatchObject({ permanent: false, reason: 'unreachable' });
    expect(error.check).toContain('VPC endpoint');
  });
});

describe('CacheLocator', () => {
  test('looks up once per environment, for concurrent callers too', async () => {
    stand.api.putReplicationGroup('orders', { primary: { host: 'p1.test', port: 6379 } });
    const locator = new CacheLocator(group('orders'));
    const deadline = Date.now() + 10_000;
    const locations = await Promise.all([1, 2, 3].map(() => locator.locate(deadline)));
    expect(locations.map((l) => l.host)).toEqual(['p1.test', 'p1.test', 'p1.test']);
    await locator.locate(deadline);
    expect(stand.api.calls).toHaveLength(1);
  });

  test(`looks again only after ${FAILURES_BEFORE_LOOKUP} failed connects in a row`, async () => {
    stand.api.putReplicationGroup('orders', { primary: { host: 'old.test', port: 6379 } });
    const locator = new CacheLocator(group('orders'));
    const deadline = () => Date.now() + 10_000;
    await locator.locate(deadline());
    stand.api.putReplicationGroup('orders', { primary: { host: 'new.test', port: 6379 } });

    for (let i = 1; i < FAILURES_BEFORE_LOOKUP; i++) locator.connectFailed();
    locator.connected(); // a success in between starts the count again
    for (let i = 1; i < FAILURES_BEFORE_LOOKUP; i++) locator.connectFailed();
    expect((await locator.locate(deadline())).host).toBe('old.test');
    expect(stand.api.calls).toHaveLength(1);

    locator.connectFailed();
    expect((await locator.locate(deadline())).host).toBe('new.test');
    expect(stand.api.calls).toHaveLength(2);
  });

  test('each caller waits no longer than its deadline; the lookup ends at its starter’s', async () => {
    const held = stand.api.hold('DescribeReplicationGroups');
    const locator = new CacheLocator(group('orders'));
    const order: string[] = [];
    // Long enough for a loaded machine to build the SDK's client and sign the request before
    // the deadline aborts it (the first lookup of a process took over a second under load).
    const shortMs = 5_000;
    const short = failure(locator.locate(Date.now() + shortMs)).then((e) => {
      order.push('short deadline passed');
      return e;
    });
    await expect.poll(() => stand.api.calls.length, { timeout: shortMs }).toBe(1);
    const error = await short;
    expect(error).toMatchObject({ cacheName: 'orders', permanent: false, reason: 'unreachable' });
    order.push('API answers');
    held.release();
    expect(order).toEqual(['short deadline passed', 'API answers']);
    // Not remembered: the next caller asks again.
    stand.api.putReplicationGroup('orders', { primary: { host: 'p.test', port: 6379 } });
    expect((await locator.locate(Date.now() + 10_000)).host).toBe('p.test');
    expect(locator.lookups).toBe(2);
  });
});
