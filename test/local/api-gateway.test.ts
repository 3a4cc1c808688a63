// What the local API hands the functions and what it makes of their answers, without a server:
// API Gateway's REST proxy event (payload 1.0) and its handling of proxy results and failures.
import { describe, expect, test } from 'vitest';
import { FUNCTIONS } from '../../functions/manifest.js';
import { LIMITS, REPORT_RESERVE_MS } from '../../functions/throughput-contract.js';
import { type HttpRequestInput, toProxyEvent } from '../../local/api-event.js';
import { toHttpResponse } from '../../local/api-response.js';
import type { InvocationReport } from '../../local/index.js';

function request(overrides: Partial<HttpRequestInput> = {}): HttpRequestInput {
  return {
    method: 'GET',
    path: '/api/v1/test/redis',
    query: '',
    rawHeaders: ['Host', '127.0.0.1:12000', 'User-Agent', 'curl/8.5.0'],
    body: Buffer.alloc(0),
    sourceIp: '127.0.0.1',
    resource: '/api/v1/test/redis',
    stage: 'local',
    ...overrides,
  };
}

function report(overrides: Partial<InvocationReport>): InvocationReport {
  return {
    requestId: 'r-1',
    environmentId: 'env-1',
    coldStart: false,
    durationMs: 1,
    ok: true,
    timedOut: false,
    logs: [],
    ...overrides,
  };
}

describe('the REST proxy event', () => {
  test('has every field API Gateway sends, with nulls where there is nothing', () => {
    const now = new Date('2026-11-25T19:48:07.123Z');
    const event = toProxyEvent(request(), now, 'req-1');

    expect(event).toMatchObject({
      resource: '/api/v1/test/redis',
      path: '/api/v1/test/redis',
      httpMethod: 'GET',
      headers: { Host: '127.0.0.1:12000', 'User-Agent': 'curl/8.5.0' },
      multiValueHeaders: { Host: ['127.0.0.1:12000'], 'User-Agent': ['curl/8.5.0'] },
      queryStringParameters: null,
      multiValueQueryStringParameters: null,
      pathParameters: null,
      stageVariables: null,
      body: null,
      isBase64Encoded: false,
    });
    expect(event.requestContext).toMatchObject({
      requestId: 'req-1',
      stage: 'local',
      httpMethod: 'GET',
      // The context's path includes the stage; the event's does not.
      path: '/local/api/v1/test/redis',
      resourcePath: '/api/v1/test/redis',
      protocol: 'HTTP/1.1',
      requestTime: '25/Nov/2026:19:48:07 +0000',
      requestTimeEpoch: now.getTime(),
      domainName: '127.0.0.1:12000',
      identity: { sourceIp: '127.0.0.1', userAgent: 'curl/8.5.0', user: null },
    });
    expect(event.requestContext.resourceId).toMatch(/^[0-9a-z]{6}$/);
  });

  test('repeated query parameters and headers: the single view keeps the last value', () => {
    const event = toProxyEvent(
      request({
        query: 'op=get&op=set&note=a%20b',
        rawHeaders: ['X-Tag', 'one', 'x-tag', 'two', 'X-Tag', 'three'],
      }),
    );
    expect(event.queryStringParameters).toEqual({ op: 'set', note: 'a b' });
    expect(event.multiValueQueryStringParameters).toEqual({ op: ['get', 'set'], note: ['a b'] });
    // Header names keep the client's case, so differently cased names stay apart.
    expect(event.multiValueHeaders).toEqual({ 'X-Tag': ['one', 'three'], 'x-tag': ['two'] });
    expect(event.headers).toEqual({ 'X-Tag': 'three', 'x-tag': 'two' });
  });

  test("names of Object.prototype's members are names like any other", () => {
    const names = ['constructor', '__proto__', 'toString', 'hasOwnProperty'];
    const event = toProxyEvent(
      request({
        query: names.map((name) => `${name}=q-${name}`).join('&'),
        rawHeaders: names.flatMap((name) => [name, `h-${name}`]),
      }),
    );
    // The event crosses the Runtime API as JSON: check what the function receives.
    const received = JSON.parse(JSON.stringify(event)) as typeof event;
    for (const name of names) {
      expect(Object.hasOwn(received.queryStringParameters ?? {}, name), name).toBe(true);
      expect(received.queryStringParameters?.[name]).toBe(`q-${name}`);
      expect(received.multiValueQueryStringParameters?.[name]).toEqual([`q-${name}`]);
      expect(received.headers[name]).toBe(`h-${name}`);
      expect(received.multiValueHeaders[name]).toEqual([`h-${name}`]);
    }
    expect(Object.keys(received.headers)).toEqual(names);
  });

  test('a UTF-8 body arrives as text, other bytes base64-encoded', () => {
    const text = toProxyEvent(request({ method: 'POST', body: Buffer.from('{"op":"set"} ✓') }));
    expect(text).toMatchObject({ body: '{"op":"set"} ✓', isBase64Encoded: false });

    const bytes = Buffer.from([0xff, 0xfe, 0x00, 0x01]);
    const binary = toProxyEvent(request({ method: 'POST', body: bytes }));
    expect(binary).toMatchObject({ body: bytes.toString('base64'), isBase64Encoded: true });
  });
});

describe('the proxy result', () => {
  test('becomes the HTTP response: status, headers (multi-value ones too), body', () => {
    const { response, failure } = toHttpResponse(
      report({
        result: {
          statusCode: 201,
          headers: { 'Content-Type': 'text/plain', 'X-One': 1 },
          multiValueHeaders: { 'Set-Cookie': ['a=1', 'b=2'] },
          body: 'made',
        },
      }),
    );
    expect(failure).toBeUndefined();
    expect(response.statusCode).toBe(201);
    expect(response.headers).toEqual({
      'content-type': 'text/plain',
      'x-one': '1',
      'set-cookie': ['a=1', 'b=2'],
    });
    expect(response.body.toString()).toBe('made');
  });

  test('a header named like an Object.prototype member is a header like any other', () => {
    const { response } = toHttpResponse(
      report({
        result: {
          statusCode: 200,
          headers: { constructor: 'a', toString: 'b', ['__proto__']: 'c' },
          multiValueHeaders: { hasOwnProperty: ['d', 'e'] },
          body: '',
        },
      }),
    );
    expect(Object.entries(response.headers)).toEqual([
      ['constructor', 'a'],
      ['tostring', 'b'],
      ['__proto__', 'c'],
      ['hasownproperty', ['d', 'e']],
      ['content-type', 'application/json'],
    ]);
  });

  test('a base64 body is decoded; a missing content type is application/json', () => {
    const { response } = toHttpResponse(
      report({
        result: {
          statusCode: 200,
          body: Buffer.from('hi').toString('base64'),
          isBase64Encoded: true,
        },
      }),
    );
    expect(response.body.toString()).toBe('hi');
    expect(response.headers['content-type']).toBe('application/json');
  });

  test.each([
    [
      'a handler error',
      report({ ok: false, error: { errorType: 'TypeError', errorMessage: 'boom' } }),
    ],
    [
      'a timeout',
      report({
        ok: false,
        timedOut: true,
        error: { errorType: 'Sandbox.Timedout', errorMessage: 'Task timed out after 3.00 seconds' },
      }),
    ],
    ['a result without a statusCode', report({ result: { body: 'x' } })],
    ['a result that is not an object', report({ result: 'ok' })],
  ])('%s is API Gateway 502 for the client, and a reason for the log', (_, failed) => {
    const { response, failure } = toHttpResponse(failed);
    expect(response.statusCode).toBe(502);
    expect(JSON.parse(response.body.toString())).toEqual({ message: 'Internal server error' });
    expect(failure).toEqual(expect.any(String));
  });
});

describe('the functions', () => {
  test('get the timeouts their own budgets fit in', async () => {
    const { HEALTH_BUDGET_MS } = await import('../../functions/health.js');
    expect(FUNCTIONS.health.timeoutMs).toBeGreaterThan(HEALTH_BUDGET_MS);
    expect(FUNCTIONS.throughput.timeoutMs).toBeGreaterThan(
      LIMITS.durationMs.max + REPORT_RESERVE_MS,
    );
    // API Gateway ends every request after 29 s.
    expect(FUNCTIONS.throughput.timeoutMs).toBeLessThanOrEqual(29_000);
  });
});
