/**
 * Errors carry an HTTP status the way http-errors does (statusCode, status, expose), which is
 * what middy's @middy/http-error-handler and similar error handlers read: 503 for an outage
 * or a busy budget (retryable) with a message fit for clients, 500 for a broken deployment,
 * not exposed.
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
  it('503, exposed, when Redis is unavailable, the budget busy or the deadline near', () => {
    const unavailable = new RedisUnavailableError('Redis is unavailable (ECONNREFUSED)', 40, {
      endpoint: 'redis://h:6379',
    });
    const busy = new AcquireTimeoutError('Timed out waiting for a connection', 3_000);
    const deadline = new DeadlineError(5);
    for (const error of [unavailable, busy, deadline])
      expect(http(error)).toEqual({ statusCode: 503, status: 503, expose: true });
    expect(unavailable.endpoint).toBe('redis://h:6379');
  });

  it('the message of an unavailable pool names the reason, not the endpoint', async () => {
    const pool = new RedisPool({ url: 'redis://user:hunter2@127.0.0.1:1/3', metrics: false });
    const error = await pool.acquire({ deadline: Date.now() + 200 }).catch((e: unknown) => e);
    await pool.close();
    expect(error).toBeInstanceOf(RedisUnavailableError);
    const { message, endpoint } = error as RedisUnavailableError;
    expect(message).toMatch(/^Redis is unavailable \(ECONNREFUSED\); next attempt in \d+ ms$/);
    expect(endpoint).toBe('redis://user:***@127.0.0.1:1/3');
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
