/**
 * The public API's types, checked by `tsc --noEmit` (which covers test/): an assertion that
 * stops holding is a compile error, and an `@ts-expect-error` that stops erring is one too.
 * The handlers below are created (a pool is lazy: nothing connects) but never invoked.
 */
import middy from '@middy/core';
import type { Context, Handler } from 'aws-lambda';
import type { Cluster, Redis } from 'ioredis';
import { afterAll, describe, expect, expectTypeOf, it } from 'vitest';
import {
  ConfigError,
  closeRedisPools,
  type LambdaContext,
  type RedisClient,
  type RedisContext,
  type RedisPool,
  type RedisPoolOptions,
  withRedisPool,
} from '../../src/index.js';
import { type MiddyRedisContext, redisPool } from '../../src/middy.js';

afterAll(closeRedisPools);

/** Code a user already has, written for a standalone client. */
const countHits = (redis: Redis) => redis.incr('hits');

describe('withRedisPool: context.redis follows the mode the options state', () => {
  it('is a Redis by default, which code typed Redis accepts', () => {
    const handler = withRedisPool(async (_event: unknown, context) => {
      expectTypeOf(context.redis).toEqualTypeOf<Redis>();
      return countHits(context.redis);
    });
    expectTypeOf(handler.pool).toEqualTypeOf<RedisPool>();
  });

  it('is a Cluster with pool: { cluster: true }, which code typed Redis refuses', () => {
    withRedisPool(
      async (_event: unknown, context) => {
        expectTypeOf(context.redis).toEqualTypeOf<Cluster>();
        // @ts-expect-error a Cluster is not a Redis
        return countHits(context.redis);
      },
      { pool: { cluster: true } },
    );
  });

  it('is either when cluster is a boolean known only at run time', () => {
    const cluster = process.env.SOME_FLAG === '1';
    withRedisPool(
      async (_event: unknown, context) => expectTypeOf(context.redis).toEqualTypeOf<RedisClient>(),
      { pool: { cluster } },
    );
  });

  it('is a Redis for options typed RedisPoolOptions, and with cluster: false', () => {
    const pool: RedisPoolOptions = { poolMax: 3 };
    withRedisPool(
      async (_e: unknown, context) => expectTypeOf(context.redis).toEqualTypeOf<Redis>(),
      {
        pool,
      },
    );
    withRedisPool(
      async (_e: unknown, context) => expectTypeOf(context.redis).toEqualTypeOf<Redis>(),
      {
        pool: { cluster: false },
      },
    );
  });

  it('refuses a handler typed for the other mode; RedisContext<RedisClient> fits both', () => {
    // @ts-expect-error a handler written for a Cluster, wrapped in the default (Redis) mode
    withRedisPool(async (_e: unknown, context: RedisContext<Cluster>) => context.redis.nodes());
    // @ts-expect-error a handler written for a Redis, wrapped in cluster mode
    withRedisPool(async (_e: unknown, context: RedisContext) => countHits(context.redis), {
      pool: { cluster: true },
    });
    // Mode left to REDIS_CLUSTER: a handler typed for either client compiles in both.
    withRedisPool(async (_e: unknown, context: RedisContext<RedisClient>) => context.redis.ping());
    withRedisPool(async (_e: unknown, context: RedisContext<RedisClient>) => context.redis.ping(), {
      pool: { cluster: true },
    });
  });

  it("returns a handler assignable to aws-lambda's Handler, with a read-only pool", () => {
    const handler = withRedisPool(async (_event: { id: string }, context: RedisContext) =>
      context.redis.get('k'),
    );
    expectTypeOf(handler).toExtend<Handler<{ id: string }, string | null>>();
    expectTypeOf(handler).parameter(1).toEqualTypeOf<LambdaContext>();
    const assignPool = () => {
      // @ts-expect-error pool is read-only
      handler.pool = getAnotherPool();
    };
    expectTypeOf(assignPool).toBeFunction();
  });
});

describe('RedisPoolOptions, derived from POOL_OPTIONS', () => {
  it('is the documented shape: every option optional, mutable, typed by its kind', () => {
    expectTypeOf<RedisPoolOptions>().toEqualTypeOf<{
      url?: string;
      auth?: 'password' | 'iam';
      user?: string;
      cacheName?: string;
      serverless?: boolean;
      cluster?: boolean;
      poolMax?: number;
      connectTimeoutMs?: number;
      commandTimeoutMs?: number;
      acquireTimeoutMs?: number;
      retryBaseMs?: number;
      retryMaxMs?: number;
      idleCheckMs?: number;
      tlsCaFile?: string;
      maxConnectionAgeMs?: number;
      connectOnInit?: boolean;
      metricsNamespace?: string;
      metrics?: boolean;
      clientName?: string;
    }>();
  });
});

describe('options: a typo is a compile error, and a ConfigError at init for JavaScript', () => {
  it('in either wrapper, in its own options and in the pool options', () => {
    // @ts-expect-error exclusve is not an option
    expect(() => withRedisPool(async () => 1, { exclusve: true })).toThrow(ConfigError);
    // @ts-expect-error poolmax is not a pool option
    expect(() => withRedisPool(async () => 1, { pool: { poolmax: 3 } })).toThrow(ConfigError);
    // @ts-expect-error middy has its own early timeout
    expect(() => redisPool({ timeoutEarlyMs: 5 })).toThrow(ConfigError);
    // @ts-expect-error poolmax is not a pool option
    expect(() => redisPool({ pool: { poolmax: 3 } })).toThrow(ConfigError);
  });
});

describe('RedisContext without @types/aws-lambda', () => {
  it('is the library own structural context, never any; aws-lambda Context fits it', () => {
    expectTypeOf<RedisContext>().not.toBeAny();
    expectTypeOf<RedisContext['redis']>().toEqualTypeOf<Redis>();
    expectTypeOf<RedisContext['getRemainingTimeInMillis']>().returns.toEqualTypeOf<number>();
    expectTypeOf<Context>().toExtend<LambdaContext>();
  });
});

describe('redisPool() for middy: inferred with no annotations', () => {
  it('types context.redis as a Redis through .use()', () => {
    const handler = middy()
      .use(redisPool())
      .handler(async (_event, context) => {
        expectTypeOf(context.redis).toEqualTypeOf<Redis>();
        expectTypeOf(context.awsRequestId).toEqualTypeOf<string>();
        return countHits(context.redis);
      });
    expectTypeOf(handler).parameter(1).toExtend<MiddyRedisContext>();
  });

  it('types context.redis as a Cluster with pool: { cluster: true }', () => {
    middy()
      .use(redisPool({ pool: { cluster: true } }))
      .handler(async (_event, context) => expectTypeOf(context.redis).toEqualTypeOf<Cluster>());
  });

  it("keeps middy's limit: the middyfied handler asks its caller for the context it adds", () => {
    // middy types the handler's context and the context its caller passes with one type
    // parameter, so a middleware that adds to the context (redisPool, @middy/ssm with
    // setToContext, ...) makes the result unassignable to aws-lambda's Handler. Lambda does
    // not type-check an exported handler; this pins the limit so we learn when middy lifts it.
    const handler = middy()
      .use(redisPool())
      .handler(async (_event, context) => context.redis.get('k'));
    // @ts-expect-error Context lacks `redis`
    const asLambdaHandler: Handler<unknown, string | null> = handler;
    expectTypeOf(asLambdaHandler).not.toBeAny();
    // Without a context-adding middleware it is assignable.
    expectTypeOf(middy(async () => 'ok')).toExtend<Handler<unknown, string>>();
  });
});

declare function getAnotherPool(): RedisPool;
