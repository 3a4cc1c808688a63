import type { APIGatewayProxyEvent } from 'aws-lambda';
import { afterEach, describe, expect } from 'vitest';
import { test } from '../helpers/fixtures.js';
import { lambdaContext } from '../helpers/lambda.js';
import { freePort } from '../helpers/redis-server.js';
import { closeFreshPools, importHealth } from './load-module.js';

afterEach(closeFreshPools);

const event = { httpMethod: 'GET', path: '/api/v1/health' } as APIGatewayProxyEvent;
const PASSWORD = 'health-s3cret-pw';

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
    const { handler } = await importHealth({ REDIS_URL: url, REDIS_METRICS: 'false' });
    const started = Date.now();
    const response = await handler(event, lambdaContext(10_000));
    const took = Date.now() - started;
    expect(response.statusCode).toBe(503);
    const body = JSON.parse(response.body);
    expect(body).toMatchObject({ status: 'unavailable', error: { type: 'RedisUnavailableError' } });
    expect(body.error.message).toMatch(/ECONNREFUSED/);
    expect(response.body).not.toContain(PASSWORD);
    expect(response.body).not.toContain(String(port));
    expect(took).toBeLessThan(1_500);
  });

  test('answers 503 within about a second when Redis hangs, even with a long function timeout', async ({
    redisServer: server,
  }) => {
    const { handler } = await importHealth({ REDIS_URL: server.url, REDIS_METRICS: 'false' });
    expect((await handler(event, lambdaContext(30_000))).statusCode).toBe(200);
    server.pause();
    try {
      const started = Date.now();
      const response = await handler(event, lambdaContext(30_000));
      const took = Date.now() - started;
      expect(response.statusCode).toBe(503);
      expect(took).toBeLessThan(1_500);
    } finally {
      server.resume();
    }
  });
});
