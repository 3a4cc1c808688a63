import type { APIGatewayProxyEvent } from 'aws-lambda';
import { afterEach, describe, expect } from 'vitest';
import { test } from '../helpers/fixtures.js';
import { lambdaContext } from '../helpers/lambda.js';
import { freePort } from '../helpers/redis-server.js';
import { closeFreshPools, importHealth } from './load-module.js';

afterEach(closeFreshPools);

const event = { httpMethod: 'GET', path: '/api/v1/health' } as APIGatewayProxyEvent;
const PASSWORD = 'health-s3cret-pw';
/** The function's timeout and the pool's own bounds, all far beyond the health check's 1 s
 * budget: what ends a check in less than half of POOL_BOUND_MS can only be that budget. */
const FUNCTION_TIMEOUT_MS = 30_000;
const POOL_BOUND_MS = 10_000;
const SLOW_POOL = {
  REDIS_ACQUIRE_TIMEOUT_MS: String(POOL_BOUND_MS),
  REDIS_COMMAND_TIMEOUT_MS: String(POOL_BOUND_MS),
  REDIS_CONNECT_TIMEOUT_MS: String(POOL_BOUND_MS),
  // The next attempt is always within reach, so a refused connect is retried until a deadline
  // ends it, never given up early because the backoff drew a long wait.
  REDIS_RETRY_BASE_MS: '10',
  REDIS_RETRY_MAX_MS: '50',
};

describe('GET /api/v1/health', () => {
  test('answers 200 with the PING time and the pool stats when Redis runs', async ({
    redisServer: server,
  }) => {
    const { handler } = await importHealth({ REDIS_URL: server.url, REDIS_METRICS: 'false' });
    const response = await handler(event, lambdaContext());
    expect(response.statusCode).toBe(200);
    const body = JSON.parse(response.body);
    expect(body.status).toBe('ok');
    expect(body.redis.pingMs).toBeGreaterThanOrEqual(0);
    expect(body.redis.mode).toBe('standalone');
    expect(body.pool).toMatchObject({ connectionsCreated: 1, max: 2 });
    expect(response.headers?.['content-type']).toBe('application/json');
  });

  test('answers 503, without secrets, when Redis is down', async () => {
    const port = await freePort(); // nothing listens there
    const url = `redis://default:${PASSWORD}@127.0.0.1:${port}`;
    const { handler } = await importHealth({
      REDIS_URL: url,
      REDIS_METRICS: 'false',
      ...SLOW_POOL,
    });
    const started = Date.now();
    const response = await handler(event, lambdaContext(FUNCTION_TIMEOUT_MS));
    const took = Date.now() - started;
    expect(response.statusCode).toBe(503);
    const body = JSON.parse(response.body);
    expect(body).toMatchObject({ status: 'unavailable', error: { type: 'RedisUnavailableError' } });
    expect(body.error.message).toMatch(/ECONNREFUSED/);
    expect(response.body).not.toContain(PASSWORD);
    expect(response.body).not.toContain(String(port));
    // Retrying would go on for the acquire timeout (10 s): the budget ended it (at ~0.75 s).
    expect(took).toBeLessThan(POOL_BOUND_MS / 2);
  });

  test('answers 503 within about a second when Redis hangs, even with a long function timeout', async ({
    redisServer: server,
  }) => {
    const { handler } = await importHealth({
      REDIS_URL: server.url,
      REDIS_METRICS: 'false',
      ...SLOW_POOL,
    });
    expect((await handler(event, lambdaContext(FUNCTION_TIMEOUT_MS))).statusCode).toBe(200);
    server.pause();
    try {
      const started = Date.now();
      const response = await handler(event, lambdaContext(FUNCTION_TIMEOUT_MS));
      const took = Date.now() - started;
      expect(response.statusCode).toBe(503);
      // The PING would wait for the command timeout (10 s): the budget ended it (at ~1 s).
      expect(took).toBeLessThan(POOL_BOUND_MS / 2);
    } finally {
      server.resume();
    }
  });
});
