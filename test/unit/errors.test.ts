/**
 * Errors carry an HTTP status the way http-errors does (statusCode, status, expose), which is
 * what middy's @middy/http-error-handler and similar error handlers read: 503 for an outage
 * or a busy budget (retryable), 500 for a broken deployment. Messages name the endpoint, so
 * none is exposed to clients.
 */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import {
  AcquireTimeoutError,
  ConfigError,
  DeadlineError,
  PoolClosedError,
  RedisPool,
  type RedisPoolError,
  RedisUnavailableError,
} from '../../src/index.js';

const http = (error: RedisPoolError) => ({
  statusCode: error.statusCode,
  status: error.status,
  expose: error.expose,
});

describe('HTTP status of errors', () => {
  it('503, not exposed, when Redis is unavailable, the budget busy or the deadline near', () => {
    const unavailable = new RedisUnavailableError('Redis at redis://h:6379 is unavailable', 40);
    const busy = new AcquireTimeoutError('Timed out waiting for a connection', 3_000);
    const deadline = new DeadlineError(5);
    for (const error of [unavailable, busy, deadline])
      expect(http(error)).toEqual({ statusCode: 503, status: 503, expose: false });
  });

  it('500, not exposed, for a bad configuration and a closed pool', async () => {
    let config: unknown;
    try {
      loadConfig({ REDIS_POOL_MAX: '0' });
    } catch (error) {
      config = error;
    }
    expect(config).toBeInstanceOf(ConfigError);
    expect(http(config as ConfigError)).toEqual({ statusCode: 500, status: 500, expose: false });

    const pool = new RedisPool({ url: 'redis://127.0.0.1:1' });
    await pool.close();
    const closed = await pool.acquire().catch((e: unknown) => e);
    expect(closed).toBeInstanceOf(PoolClosedError);
    expect(http(closed as PoolClosedError)).toEqual({
      statusCode: 500,
      status: 500,
      expose: false,
    });
  });
});
