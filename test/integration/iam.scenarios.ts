/**
 * REDIS_AUTH=iam against a real TLS redis-server with an ACL user.
 *
 * Stand-ins for AWS: ElastiCache's IAM check of a token is played by the redis-server's ACL: the
 * user's password is set to the token that an independent reading of SigV4 presigning
 * (test/helpers/sigv4.ts) computes for fixed credentials (AWS_ACCESS_KEY_ID,
 * AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN in the environment, read by the AWS SDK's real
 * default provider chain) and a fixed clock. A connection that authenticates proves the pool sent
 * that user and that token. The ElastiCache API (discovery) is the local Query API stand-in.
 *
 * Every error the pool gives here is printed in full (util.inspect, any depth):
 * test/integration/iam-output.test.ts runs this file and finds neither the secret key nor a
 * token in its output.
 */
import { inspect } from 'node:util';
import type { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect } from 'vitest';
import { RedisUnavailableError } from '../../src/errors.js';
import { RedisPool } from '../../src/pool/RedisPool.js';
import { type ElastiCacheApi, startElastiCacheApi } from '../helpers/elasticache-api.js';
import { setEnv } from '../helpers/env.js';
import { test } from '../helpers/fixtures.js';
import type { RedisServer } from '../helpers/redis-server.js';
import {
  CACHE,
  IAM_TEST_CREDENTIALS,
  IAM_TEST_START,
  MINUTE,
  REGION,
  tokenAt,
  USER,
} from './iam-secrets.js';

let restoreEnv: () => void;
beforeEach(() => {
  restoreEnv = setEnv(IAM_TEST_CREDENTIALS);
});
afterEach(() => restoreEnv());

const pools: RedisPool[] = [];
afterEach(async () => {
  await Promise.all(pools.splice(0).map((pool) => pool.close()));
});

/** A clock the token source reads; the test moves it. */
function fakeClock() {
  const clock = { now: IAM_TEST_START, read: () => clock.now };
  return clock;
}

function iamPool(
  server: RedisServer,
  clock: { read: () => number },
  env: Record<string, string> = {},
): RedisPool {
  const pool = new RedisPool(
    {},
    {
      REDIS_AUTH: 'iam',
      // localhost: the name the test certificate carries; resolved without the threadpool.
      REDIS_URL: `rediss://${USER}@localhost:${server.port}`,
      REDIS_CACHE_NAME: CACHE,
      REDIS_TLS_CA_FILE: server.tls?.caFile ?? '',
      AWS_REGION: REGION,
      REDIS_METRICS: 'false',
      REDIS_COMMAND_TIMEOUT_MS: '5000',
      ...env,
    },
    { iam: { now: clock.read } },
  );
  pools.push(pool);
  return pool;
}

/** The user's only password is `token`: the server accepts that token and no other. */
async function acceptOnly(server: RedisServer, token: string): Promise<void> {
  await server.cli('ACL', 'SETUSER', USER, 'reset', 'on', `>${token}`, '~*', '&*', '+@all');
}

async function failedAuths(server: RedisServer): Promise<string[]> {
  const log = await server.cli('ACL', 'LOG');
  return log.split('\n').filter((line, i, lines) => lines[i - 1] === 'username' && line !== '');
}

/** Prints an error the way a careless logger would: everything, at any depth. */
function printDeeply(label: string, error: unknown): void {
  console.log(
    `[iam] ${label}:`,
    inspect(error, { depth: Number.POSITIVE_INFINITY, showHidden: true }),
  );
}

describe('REDIS_AUTH=iam with a real TLS redis-server', () => {
  test.override({ redisTls: true });

  test('authenticates as the user with the token AWS’s rules give for the credentials and the time', async ({
    redisServer,
  }) => {
    const clock = fakeClock();
    await acceptOnly(redisServer, tokenAt(clock.now));
    const pool = iamPool(redisServer, clock);
    await pool.run(async (redis) => {
      expect(await redis.call('ACL', 'WHOAMI')).toBe(USER);
      expect(await redis.ping()).toBe('PONG');
    });
    expect(await failedAuths(redisServer)).toEqual([]);
    const clients = await redisServer.clientList();
    expect(clients.map((c) => c.user)).toEqual([USER]);
  });

  test('a refused token is a permanent error that says what to check, and is not retried in a loop', async ({
    redisServer,
  }) => {
    const clock = fakeClock();
    await acceptOnly(redisServer, 'a-token-for-someone-else');
    // The first retry is drawn from 0 to 60 s: the acquires below come long before it.
    const pool = iamPool(redisServer, clock, {
      REDIS_RETRY_BASE_MS: '60000',
      REDIS_RETRY_MAX_MS: '60000',
    });
    const error = await pool.acquire().catch((e: unknown) => e);
    printDeeply('refused token', error);
    expect(error).toBeInstanceOf(RedisUnavailableError);
    expect(error).toMatchObject({ permanent: true, reason: 'credentials', statusCode: 500 });
    const message = (error as Error).message;
    expect(message).toContain('elasticache:Connect');
    expect(message).toContain('authentication mode IAM');
    // The server saw the user: the refusal is of this user's token.
    expect(await failedAuths(redisServer)).toEqual([USER]);
    // Acquires right after do not try again: they fail at once until the backoff allows one.
    for (let i = 0; i < 3; i++) {
      await expect(pool.acquire()).rejects.toBeInstanceOf(RedisUnavailableError);
    }
    expect(pool.stats().connectionsFailed).toBe(1);
    expect(await failedAuths(redisServer)).toEqual([USER]);
  });

  test('reuses a token with more than five minutes left, then connects with a fresh one', async ({
    redisServer,
  }) => {
    const clock = fakeClock();
    const first = tokenAt(clock.now);
    await acceptOnly(redisServer, first);
    const pool = iamPool(redisServer, clock);
    const idOf = (redis: unknown) => (redis as Redis).client('ID');
    const lease1 = await pool.acquire();
    const id1 = await idOf(lease1.redis);
    await lease1.destroy();

    // Nine minutes on, six are left: a new connection still sends the first token.
    clock.now += 9 * MINUTE;
    const lease2 = await pool.acquire();
    expect(await idOf(lease2.redis)).not.toBe(id1);
    await lease2.destroy();

    // Eleven minutes on, four are left: stale. The server now accepts only the fresh token.
    clock.now += 2 * MINUTE;
    await acceptOnly(redisServer, tokenAt(clock.now));
    const lease3 = await pool.acquire();
    expect(await lease3.redis.call('ACL', 'WHOAMI')).toBe(USER);
    await lease3.release();
    expect(await failedAuths(redisServer)).toEqual([]);
    expect(pool.stats()).toMatchObject({ connectionsCreated: 3, connectionsFailed: 0 });
  });

  test('replaces a connection past its maximum age only once its lease is back, with a fresh token', async ({
    redisServer,
  }) => {
    const clock = fakeClock();
    await acceptOnly(redisServer, tokenAt(clock.now));
    const pool = iamPool(redisServer, clock, { REDIS_MAX_CONNECTION_AGE_MS: '200' });
    const lease = await pool.acquire({ exclusive: true });
    const redis = lease.redis as Redis;
    const oldId = await redis.client('ID');
    // A command that runs past the maximum age: it finishes on its connection, undisturbed.
    expect(await redis.blpop('lrp:iam:nothing', 0.5)).toBeNull();
    expect(await redis.client('ID')).toBe(oldId);

    // Its lease is back: the old connection goes; the next one authenticates with a new token.
    clock.now += 12 * MINUTE;
    await acceptOnly(redisServer, tokenAt(clock.now));
    await lease.release();
    await expect
      .poll(async () => (await redisServer.clientList()).map((c) => c.id))
      .not.toContain(String(oldId));
    await pool.run(async (next) => {
      expect(await (next as Redis).client('ID')).not.toBe(oldId);
      expect(await next.call('ACL', 'WHOAMI')).toBe(USER);
    });
    expect(pool.stats()).toMatchObject({ connectionsLost: 0, connectionsFailed: 0 });
    expect(await failedAuths(redisServer)).toEqual([]);
  });

  describe('with the cache discovered by name', () => {
    let api: ElastiCacheApi;
    beforeEach(async () => {
      api = await startElastiCacheApi();
    });
    afterEach(() => api.close());

    test('signs the token for the cache it discovered, and connects over TLS', async ({
      redisServer,
    }) => {
      const cacheName = 'orders-discovered';
      api.putReplicationGroup(cacheName, {
        tls: true,
        primary: { host: 'localhost', port: redisServer.port },
      });
      const clock = fakeClock();
      await acceptOnly(redisServer, tokenAt(clock.now, cacheName));
      const pool = new RedisPool(
        {},
        {
          REDIS_AUTH: 'iam',
          REDIS_USER: USER,
          REDIS_CACHE_NAME: cacheName,
          REDIS_TLS_CA_FILE: redisServer.tls?.caFile ?? '',
          REDIS_METRICS: 'false',
          AWS_REGION: REGION,
          AWS_ENDPOINT_URL_ELASTICACHE: api.url,
        },
        { iam: { now: clock.read } },
      );
      pools.push(pool);
      // The SDK reads its endpoint from the process environment.
      process.env.AWS_ENDPOINT_URL_ELASTICACHE = api.url;
      try {
        expect(await pool.run((redis) => redis.call('ACL', 'WHOAMI'))).toBe(USER);
      } finally {
        delete process.env.AWS_ENDPOINT_URL_ELASTICACHE;
      }
      expect(api.calls.map((c) => c.action)).toEqual(['DescribeReplicationGroups']);
    });

    test('refuses a discovered cache without in-transit encryption: a token never travels in clear', async ({
      redisServer,
    }) => {
      const cacheName = 'orders-plaintext';
      api.putReplicationGroup(cacheName, {
        tls: false,
        primary: { host: 'localhost', port: redisServer.port },
      });
      process.env.AWS_ENDPOINT_URL_ELASTICACHE = api.url;
      const pool = new RedisPool(
        {},
        {
          REDIS_AUTH: 'iam',
          REDIS_USER: USER,
          REDIS_CACHE_NAME: cacheName,
          REDIS_METRICS: 'false',
          AWS_REGION: REGION,
        },
        { iam: { now: fakeClock().read } },
      );
      pools.push(pool);
      try {
        const error = await pool.acquire().catch((e: unknown) => e);
        printDeeply('plaintext cache', error);
        expect(error).toMatchObject({ permanent: true, reason: 'configuration' });
        expect((error as Error).message).toContain('in-transit encryption');
      } finally {
        delete process.env.AWS_ENDPOINT_URL_ELASTICACHE;
      }
      expect(await redisServer.clientList()).toEqual([]);
    });
  });
});
