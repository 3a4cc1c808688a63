import type { APIGatewayProxyEvent, APIGatewayProxyEventV2 } from 'aws-lambda';
import { afterEach, describe, expect } from 'vitest';
import type { ThroughputReport } from '../../functions/throughput-contract.js';
import { test } from '../helpers/fixtures.js';
import { lambdaContext } from '../helpers/lambda.js';
import { freePort } from '../helpers/redis-server.js';
import { closeFreshPools, importThroughput } from './load-module.js';

afterEach(closeFreshPools);

function get(query: Record<string, string>): APIGatewayProxyEvent {
  return {
    httpMethod: 'GET',
    path: '/api/v1/test/redis',
    queryStringParameters: query,
    body: null,
  } as APIGatewayProxyEvent;
}
function post(body: string): APIGatewayProxyEvent {
  return {
    httpMethod: 'POST',
    path: '/api/v1/test/redis',
    queryStringParameters: null,
    body,
  } as APIGatewayProxyEvent;
}

/** A POST with a query string too. */
function postWithQuery(query: Record<string, string>, body: string): APIGatewayProxyEvent {
  return { ...post(body), queryStringParameters: query };
}

/** The handler, from a fresh module copy whose pool uses `redisUrl`. */
async function throughput(redisUrl: string) {
  return (await importThroughput({ REDIS_URL: redisUrl, REDIS_METRICS: 'false' })).handler;
}

/** A Redis URL where nothing listens: a handler that needs no connection never notices. */
async function nowhere(): Promise<string> {
  return `redis://127.0.0.1:${await freePort()}`;
}

describe('GET|POST /api/v1/test/redis', () => {
  test('runs a load whose counts are consistent and whose percentiles are ordered', async ({
    redisServer: server,
  }) => {
    const handler = await throughput(server.url);
    const response = await handler(
      get({ durationMs: '300', concurrency: '20', op: 'mixed', valueBytes: '64', keyspace: '50' }),
      lambdaContext(10_000),
    );
    expect(response.statusCode).toBe(200);
    const r = JSON.parse(response.body) as ThroughputReport;
    expect(r.params).toEqual({
      durationMs: 300,
      concurrency: 20,
      op: 'mixed',
      valueBytes: 64,
      keyspace: 50,
    });
    expect(r.ops).toBeGreaterThan(0);
    expect(r.errors).toBe(0);
    expect(r.durationMs).toBeGreaterThan(300 * 0.9);
    // ops ≈ opsPerSec × duration (rounding only).
    expect(Math.abs(r.ops - (r.opsPerSec * r.durationMs) / 1_000)).toBeLessThanOrEqual(
      Math.max(2, r.ops * 0.01),
    );
    const { p50, p95, p99, max } = r.latencyMs;
    expect(p50).toBeGreaterThan(0);
    expect(p50).toBeLessThanOrEqual(p95);
    expect(p95).toBeLessThanOrEqual(p99);
    expect(p99).toBeLessThanOrEqual(max);
    expect(r.pool.connectionsCreated).toBe(1);
    expect(r.stoppedEarly).toBe(false);
    // Keys stay under the prefix and expire.
    const keys = (await server.cli('KEYS', '*')).split('\n').filter(Boolean);
    expect(keys.length).toBeGreaterThan(0);
    expect(keys.every((k) => k.startsWith('lrp:throughput:'))).toBe(true);
    expect(Number(await server.cli('TTL', keys[0] ?? ''))).toBeGreaterThan(0);
  });

  test('takes parameters from a JSON body (POST) and from an HTTP API (payload 2.0) event', async ({
    redisServer,
  }) => {
    const handler = await throughput(redisServer.url);
    const viaPost = await handler(
      post('{"durationMs":100,"concurrency":5,"op":"set"}'),
      lambdaContext(10_000),
    );
    expect(viaPost.statusCode).toBe(200);
    expect((JSON.parse(viaPost.body) as ThroughputReport).params).toMatchObject({
      op: 'set',
      concurrency: 5,
    });

    const v2 = {
      version: '2.0',
      rawPath: '/api/v1/test/redis',
      requestContext: { http: { method: 'GET' } },
      queryStringParameters: { durationMs: '100', op: 'get' },
    } as unknown as APIGatewayProxyEventV2;
    const viaV2 = await handler(v2 as unknown as APIGatewayProxyEvent, lambdaContext(10_000));
    expect(viaV2.statusCode).toBe(200);
    expect((JSON.parse(viaV2.body) as ThroughputReport).params).toMatchObject({
      op: 'get',
      durationMs: 100,
    });
  });

  test('takes null (JSON) and an empty value (query string) as absent: the default, for every parameter', async ({
    redisServer,
  }) => {
    const handler = await throughput(redisServer.url);
    const defaults = { concurrency: 50, op: 'get', valueBytes: 100, keyspace: 1_000 };
    const nulls = await handler(
      post('{"durationMs":50,"op":null,"concurrency":null,"valueBytes":null,"keyspace":null}'),
      lambdaContext(10_000),
    );
    expect(nulls.statusCode, nulls.body).toBe(200);
    expect((JSON.parse(nulls.body) as ThroughputReport).params).toEqual({
      durationMs: 50,
      ...defaults,
    });
    const empties = await handler(
      get({ durationMs: '50', op: '', concurrency: '', valueBytes: '', keyspace: '' }),
      lambdaContext(10_000),
    );
    expect(empties.statusCode, empties.body).toBe(200);
    expect((JSON.parse(empties.body) as ThroughputReport).params).toEqual({
      durationMs: 50,
      ...defaults,
    });
    // durationMs too (its default is a one-second run).
    const noDuration = await handler(post('{"durationMs":null}'), lambdaContext(10_000));
    expect(noDuration.statusCode, noDuration.body).toBe(200);
    expect((JSON.parse(noDuration.body) as ThroughputReport).params.durationMs).toBe(1_000);
  });

  // Parameters are checked before any connection is taken: no Redis is needed for a 400.
  test('answers 400 to a POST with a query string, naming each parameter in it', async () => {
    const handler = await throughput(await nowhere());
    const response = await handler(
      postWithQuery({ durationMs: '50', op: 'set' }, '{"durationMs":50}'),
      lambdaContext(10_000),
    );
    expect(response.statusCode).toBe(400);
    expect(JSON.parse(response.body).message).toBe(
      'durationMs, op: query parameters on a POST are not read (send every parameter in the JSON body)',
    );
    // Without a body too: the query string is not a second way in.
    const bodyless = await handler(postWithQuery({ op: 'set' }, ''), lambdaContext(10_000));
    expect(bodyless.statusCode).toBe(400);
    expect(JSON.parse(bodyless.body).message).toMatch(/^op: query parameters on a POST/);
  });

  test('stops before the invocation deadline and says so', async ({ redisServer }) => {
    const handler = await throughput(redisServer.url);
    const deadline = Date.now() + 1_500;
    const response = await handler(get({ durationMs: '5000' }), lambdaContext(1_500));
    // Answered before Lambda's deadline: the load stops REPORT_RESERVE_MS (500) before it.
    expect(Date.now()).toBeLessThan(deadline);
    const r = JSON.parse(response.body) as ThroughputReport;
    expect(response.statusCode).toBe(200);
    expect(r.stoppedEarly).toBe(true);
    expect(r.durationMs).toBeLessThan(5_000);
  });

  const bad: Array<[string, APIGatewayProxyEvent, RegExp]> = [
    [
      'negative duration',
      get({ durationMs: '-5' }),
      /durationMs: expected an integer from 1 to 25000, got "-5"/,
    ],
    ['huge duration', get({ durationMs: '30000' }), /durationMs/],
    ['non-numeric concurrency', get({ concurrency: 'lots' }), /concurrency: expected an integer/],
    ['fractional value size', get({ valueBytes: '1.5' }), /valueBytes/],
    ['huge value size', get({ valueBytes: '10000000' }), /valueBytes/],
    ['zero keyspace', get({ keyspace: '0' }), /keyspace/],
    ['unknown op', get({ op: 'flushall' }), /op: expected one of get, set, mixed, got "flushall"/],
    ['unknown parameter', get({ durationMS: '10' }), /durationMS: unknown parameter/],
    // As API Gateway delivers it: JSON, parsed into an own property named __proto__.
    [
      'a parameter named __proto__',
      get(JSON.parse('{"__proto__":"1"}') as Record<string, string>),
      /^__proto__: unknown parameter/,
    ],
    [
      'malformed JSON',
      post('{"durationMs": 10'),
      /body: expected a JSON object, got malformed JSON/,
    ],
    ['JSON that is not an object', post('[1,2]'), /body: expected a JSON object, got an array/],
    ['wrong JSON type', post('{"concurrency":"5x"}'), /concurrency/],
  ];
  for (const [name, event, reason] of bad) {
    // Parameters are checked before any connection is taken: no Redis is needed for a 400.
    test(`answers 400 naming the parameter: ${name}`, async () => {
      const handler = await throughput(await nowhere());
      const response = await handler(event, lambdaContext());
      expect(response.statusCode).toBe(400);
      expect(JSON.parse(response.body).message).toMatch(reason);
    });
  }

  test('names every bad parameter in one 400', async () => {
    const handler = await throughput(await nowhere());
    const response = await handler(
      get({ durationMs: 'x', concurrency: '0', op: 'del' }),
      lambdaContext(),
    );
    const { message } = JSON.parse(response.body) as { message: string };
    expect(message).toMatch(/durationMs/);
    expect(message).toMatch(/concurrency/);
    expect(message).toMatch(/op/);
  });
});

// What the failover drill builds its timeline from: when failures and successes happened in a
// run. Failures here are WRONGTYPE replies (GET on a list), turned on or off from outside while
// the run goes on; times are compared as orderings around that moment.
describe('timing of failures and successes', () => {
  /** Every GET of a run with keyspace 1 reads this key. */
  const KEY = 'lrp:throughput:0';
  const run = { durationMs: '3000', concurrency: '4', op: 'get', keyspace: '1' };

  /** Resolves once the server has answered `count` more GETs than when it was first asked. */
  async function untilGets(server: { cli(...args: string[]): Promise<string> }, count: number) {
    const gets = async () =>
      Number(/cmdstat_get:calls=(\d+)/.exec(await server.cli('INFO', 'commandstats'))?.[1] ?? 0);
    const from = await gets();
    await expect.poll(gets, { timeout: 20_000, interval: 20 }).toBeGreaterThanOrEqual(from + count);
  }

  test('a clean run: its start on the function’s clock, a first success, no failure', async ({
    redisServer,
  }) => {
    const handler = await throughput(redisServer.url);
    const before = Date.now();
    const response = await handler(get({ ...run, durationMs: '200' }), lambdaContext(10_000));
    const after = Date.now();
    const r = JSON.parse(response.body) as ThroughputReport;
    expect(r.errors).toBe(0);
    const timing = r.timing;
    expect(timing?.startedAt).toBeGreaterThanOrEqual(before);
    expect(timing?.startedAt).toBeLessThanOrEqual(after);
    expect(timing?.firstOkMs).toBeGreaterThanOrEqual(0);
    expect(timing?.firstOkMs).toBeLessThanOrEqual(r.durationMs);
    expect(timing).toMatchObject({
      firstErrorMs: null,
      lastErrorMs: null,
      okAfterLastErrorMs: null,
    });
  });

  test('failures, then successes: the first and last failure and the first success after them', async ({
    redisServer,
  }) => {
    await redisServer.cli('RPUSH', KEY, 'a list: GET fails');
    const handler = await throughput(redisServer.url);
    const pending = handler(get(run), lambdaContext(20_000));
    await untilGets(redisServer, 20);
    const healing = Date.now();
    await redisServer.cli('DEL', KEY);
    const healed = Date.now();
    const r = JSON.parse((await pending).body) as ThroughputReport;
    expect(r.errors).toBeGreaterThan(0);
    expect(r.ops).toBeGreaterThan(0);
    expect(r.errorSamples[0]).toMatch(/^WRONGTYPE/);
    const { startedAt, firstOkMs, firstErrorMs, lastErrorMs, okAfterLastErrorMs } = r.timing ?? {};
    expect(firstErrorMs).not.toBeNull();
    expect(firstErrorMs).toBeLessThanOrEqual(lastErrorMs ?? Number.NaN);
    expect(lastErrorMs).toBeLessThan(okAfterLastErrorMs ?? Number.NaN);
    // Nothing succeeded before the key was removed: the first success is the recovery.
    expect(firstOkMs).toBe(okAfterLastErrorMs);
    // On the function's clock (here the test's): the last failure ended by the time the DEL was
    // answered, the recovery after the DEL was sent (1 ms of rounding either way).
    expect((startedAt ?? 0) + (lastErrorMs ?? 0)).toBeLessThanOrEqual(healed + 1);
    expect((startedAt ?? 0) + (okAfterLastErrorMs ?? 0)).toBeGreaterThanOrEqual(healing - 1);
  });

  test('a run that ends failing has no success after its last failure', async ({ redisServer }) => {
    await redisServer.cli('SET', KEY, 'a string: GET works');
    const handler = await throughput(redisServer.url);
    const pending = handler(get(run), lambdaContext(20_000));
    await untilGets(redisServer, 20);
    const breaking = Date.now();
    await redisServer.cli(
      'EVAL',
      "redis.call('DEL', KEYS[1]); return redis.call('RPUSH', KEYS[1], 'x')",
      '1',
      KEY,
    );
    const r = JSON.parse((await pending).body) as ThroughputReport;
    expect(r.errors).toBeGreaterThan(0);
    const { startedAt, firstOkMs, firstErrorMs, lastErrorMs, okAfterLastErrorMs } = r.timing ?? {};
    expect(firstOkMs).toBeLessThan(firstErrorMs ?? Number.NaN);
    expect(firstErrorMs).toBeLessThanOrEqual(lastErrorMs ?? Number.NaN);
    expect(okAfterLastErrorMs).toBeNull();
    expect((startedAt ?? 0) + (firstErrorMs ?? 0)).toBeGreaterThanOrEqual(breaking - 1);
  });
});
