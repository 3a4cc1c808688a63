/**
 * The wrappers' options: merged once over their defaults and checked at init (module scope),
 * so a typo or a bad value fails the deployment loudly instead of running with a default.
 * Creating a wrapper opens no connection, so no Redis is needed here.
 */
import { Metrics } from '@aws-lambda-powertools/metrics';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ConfigError,
  closeRedisPools,
  getRedisPool,
  RedisPool,
  type RedisPoolOptions,
  type WithRedisPoolOptions,
  withRedisPool,
} from '../../src/index.js';
import { resolveOptions } from '../../src/invocation.js';
import { redisPool } from '../../src/middy.js';

afterEach(closeRedisPools);

const handler = async () => 'ok';

/** The ConfigError a wrapper throws for these options. */
function rejected(create: () => unknown): ConfigError {
  try {
    create();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

/** Options as JavaScript (or a cast) could pass them, past the types. */
const untyped = (options: Record<string, unknown>) => options as WithRedisPoolOptions;

describe('wrapper options', () => {
  it('are the defaults when none are given, or when one is given as undefined', () => {
    const expected = {
      pool: {},
      exclusive: false,
      deadlineMarginMs: 250,
      metrics: undefined,
      timeoutEarlyMs: 250,
    };
    expect(resolveOptions(undefined, 'withRedisPool')).toEqual(expected);
    expect(resolveOptions({ exclusive: undefined }, 'withRedisPool')).toEqual(expected);
    expect(resolveOptions({ deadlineMarginMs: 0, timeoutEarlyMs: 0 }, 'withRedisPool')).toEqual({
      ...expected,
      deadlineMarginMs: 0,
      timeoutEarlyMs: 0,
    });
  });

  it('a bad value fails at init, naming each option', () => {
    const error = rejected(() =>
      withRedisPool(
        handler,
        untyped({
          timeoutEarlyMs: Number.NaN,
          deadlineMarginMs: -1,
          exclusive: 'yes',
          metrics: {},
        }),
      ),
    );
    expect(error.issues).toEqual([
      {
        variable: 'options.timeoutEarlyMs',
        expected: 'an integer from 0 to 900000',
        received: 'NaN',
      },
      {
        variable: 'options.deadlineMarginMs',
        expected: 'an integer from 0 to 900000',
        received: '-1',
      },
      { variable: 'options.exclusive', expected: 'true or false', received: '"yes"' },
      {
        variable: 'options.metrics',
        expected: 'a Powertools Metrics instance',
        received: 'an object',
      },
    ]);
    expect(rejected(() => redisPool(untyped({ deadlineMarginMs: 1.5 }))).issues[0]?.variable).toBe(
      'options.deadlineMarginMs',
    );
    expect(rejected(() => withRedisPool(handler, untyped({ pool: 'redis://h' }))).issues).toEqual([
      { variable: 'options.pool', expected: 'an object of pool options', received: '"redis://h"' },
    ]);
  });

  // Every value that is not a whole number of milliseconds within Lambda's 15 minutes, for both
  // time options and both wrappers (redisPool() has no timeoutEarlyMs: see below).
  const notMs: unknown[] = [Number.NaN, Number.POSITIVE_INFINITY, -1, 0.5, 900_001, '250', null];
  it.each(
    notMs.map((value) => [
      String(typeof value === 'string' ? JSON.stringify(value) : value),
      value,
    ]),
  )('deadlineMarginMs and timeoutEarlyMs reject %s', (_, value) => {
    const expected = 'an integer from 0 to 900000';
    for (const key of ['deadlineMarginMs', 'timeoutEarlyMs']) {
      const issues = rejected(() => withRedisPool(handler, untyped({ [key]: value }))).issues;
      expect(issues).toEqual([
        { variable: `options.${key}`, expected, received: expect.any(String) },
      ]);
    }
    expect(rejected(() => redisPool(untyped({ deadlineMarginMs: value }))).issues).toEqual([
      { variable: 'options.deadlineMarginMs', expected, received: expect.any(String) },
    ]);
  });

  it('an unknown option fails at init, naming it', () => {
    expect(rejected(() => withRedisPool(handler, untyped({ exclusve: true }))).issues).toEqual([
      {
        variable: 'options.exclusve',
        expected:
          'an option of withRedisPool(): pool, exclusive, deadlineMarginMs, metrics, timeoutEarlyMs',
        received: 'an unknown option',
      },
    ]);
    // middy has its own early timeout.
    expect(rejected(() => redisPool(untyped({ timeoutEarlyMs: 5 }))).issues[0]).toMatchObject({
      variable: 'options.timeoutEarlyMs',
      expected: expect.stringContaining('timeoutEarlyInMillis'),
    });
    // A misspelt pool option would have made a second pool with a budget of its own.
    expect(
      rejected(() => withRedisPool(handler, { pool: { poolmax: 3 } as RedisPoolOptions }))
        .issues[0],
    ).toMatchObject({ variable: 'options.poolmax' });
  });

  it('accepts a Powertools Metrics instance, and points `metrics: false` to the pool option', () => {
    const metrics = new Metrics({ namespace: 'Shop', serviceName: 'orders' });
    expect(resolveOptions({ metrics }, 'redisPool').metrics).toBe(metrics);
    expect(rejected(() => redisPool(untyped({ metrics: false }))).issues[0]?.expected).toBe(
      'a Powertools Metrics instance (to turn metrics off: pool: { metrics: false })',
    );
  });
});

describe('the wrapper exposes its pool', () => {
  it('withRedisPool(): a read-only `pool`, the one its invocations lease from', () => {
    const wrapped = withRedisPool(handler, { pool: { poolMax: 3 } });
    expect(wrapped.pool).toBeInstanceOf(RedisPool);
    expect(wrapped.pool).toBe(getRedisPool({ poolMax: 3 }));
    expect(wrapped.pool.stats().max).toBe(3);
    expect(() => {
      (wrapped as { pool: unknown }).pool = undefined;
    }).toThrow(TypeError);
  });

  it('redisPool(): the middleware object has `pool` too', () => {
    const middleware = redisPool({ pool: { poolMax: 4 } });
    expect(middleware.pool).toBe(getRedisPool({ poolMax: 4 }));
    expect(withRedisPool(handler).pool).toBe(getRedisPool());
  });
});
