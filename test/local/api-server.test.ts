// The local API over real HTTP, with the functions in the simulator against real Redis: both
// routes, the API's own errors, its own redis-server, and `npm start` end to end.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { API_GATEWAY_TIMEOUT_MS } from '../../functions/manifest.js';
import type { ThroughputReport } from '../../functions/throughput-contract.js';
import {
  DEFAULT_MAX_ENVIRONMENTS,
  type LocalApi,
  MAX_BODY_BYTES,
  startLocalApi,
} from '../../local/api-server.js';
import { isProcessAlive } from '../../local/index.js';
import { findOnPath, RedisServerNotFoundError } from '../../local/redis-server.js';
import { descendantsOf, processTable } from '../helpers/processes.js';
import { freePort } from '../helpers/redis-server.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
// The functions' EMF documents would only be noise in the simulator's logs.
const FUNCTION_ENV = { REDIS_METRICS: 'false' };
/** No test here is about Lambda's 10 s init limit, which a loaded machine can exceed. */
const INIT_TIMEOUT_MS = 60_000;

async function getJson(url: string, init?: RequestInit) {
  const response = await fetch(url, init);
  return { response, body: (await response.json()) as Record<string, unknown> };
}

/**
 * A GET through node:http, which sends any header name HTTP allows (fetch's Headers may treat a
 * name such as __proto__ specially). Rejects when the connection is cut without an answer.
 */
function httpGet(url: string, headers: Record<string, string> = {}) {
  return new Promise<{ status: number; body: Record<string, unknown> }>((resolve, reject) => {
    const req = httpRequest(url, { headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown> });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

/** The counts of one run agree with each other and with what was asked for. */
function expectConsistent(report: ThroughputReport, durationMs: number, concurrency: number): void {
  expect(report.errors).toBe(0);
  expect(report.ops).toBeGreaterThan(0);
  expect(report.stoppedEarly).toBe(false);
  expect(report.params).toMatchObject({ durationMs, concurrency });
  expect(report.durationMs).toBeGreaterThanOrEqual(durationMs * 0.9);
  // No command starts after the requested time: the run overshoots it by at most the slowest
  // command (+1 ms for rounding), however slow a loaded machine makes that command.
  expect(report.durationMs).toBeLessThanOrEqual(durationMs + report.latencyMs.max + 1);
  const expectedRate = (report.ops / report.durationMs) * 1_000;
  expect(Math.abs(report.opsPerSec - expectedRate)).toBeLessThanOrEqual(expectedRate * 0.01 + 1);
  const { p50, p95, p99, max } = report.latencyMs;
  expect(p50).toBeGreaterThan(0);
  expect([p50, p95, p99, max]).toEqual([...[p50, p95, p99, max]].sort((a, b) => a - b));
  expect(report.pool.connectionsCreated).toBeGreaterThanOrEqual(1);
}

describe('the local API', () => {
  let api: LocalApi;
  beforeAll(async () => {
    api = await startLocalApi({
      port: 0,
      redisUrl: REDIS_URL,
      env: FUNCTION_ENV,
      initTimeoutMs: INIT_TIMEOUT_MS,
    });
  });
  afterAll(() => api?.close());

  test('GET /api/v1/health answers 200 with the PING time and the pool stats', async () => {
    const { response, body } = await getJson(`${api.url}/api/v1/health`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/json');
    expect(response.headers.get('x-amzn-requestid')).toMatch(/^[0-9a-f-]{36}$/);
    expect(body).toMatchObject({
      status: 'ok',
      redis: { mode: 'standalone', pingMs: expect.any(Number) },
      pool: { connectionsCreated: 1, max: 2, connectionsFailed: 0 },
    });
    expect(api.startedRedis).toBe(false);
    expect(api.redisUrl).toBe(REDIS_URL);
  });

  test('GET /api/v1/test/redis runs the load its query string asks for', async () => {
    const query = 'durationMs=200&concurrency=5&op=set&valueBytes=32&keyspace=10';
    const { response, body } = await getJson(`${api.url}/api/v1/test/redis?${query}`);
    expect(response.status).toBe(200);
    const report = body as unknown as ThroughputReport;
    expectConsistent(report, 200, 5);
    expect(report.params).toMatchObject({ op: 'set', valueBytes: 32, keyspace: 10 });
  });

  test('POST /api/v1/test/redis runs the load its JSON body asks for', async () => {
    const { response, body } = await getJson(`${api.url}/api/v1/test/redis`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ durationMs: 200, concurrency: 4, op: 'mixed' }),
    });
    expect(response.status).toBe(200);
    const report = body as unknown as ThroughputReport;
    expectConsistent(report, 200, 4);
    expect(report.params.op).toBe('mixed');
  });

  test('POST: null means the default; a query string is a 400 naming its parameters', async () => {
    const { response, body } = await getJson(`${api.url}/api/v1/test/redis`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ durationMs: 100, op: null, concurrency: null }),
    });
    expect(response.status).toBe(200);
    expect((body as unknown as ThroughputReport).params).toMatchObject({
      op: 'get',
      concurrency: 50,
    });

    const withQuery = await getJson(`${api.url}/api/v1/test/redis?op=set&keyspace=5`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ durationMs: 100 }),
    });
    expect(withQuery.response.status).toBe(400);
    expect(withQuery.body.message).toMatch(
      /^op, keyspace: query parameters on a POST are not read/,
    );
  });

  test("a bad parameter is the function's own 400, passed through", async () => {
    const { response, body } = await getJson(`${api.url}/api/v1/test/redis?concurrency=0&op=del`);
    expect(response.status).toBe(400);
    expect(body.error).toBe('BadRequest');
    expect(body.message).toContain('concurrency: expected an integer from 1 to 1000, got "0"');
    expect(body.message).toContain('op: expected one of get, set, mixed');
  });

  // Names of Object.prototype members used to crash the request (an empty reply): the event's
  // maps were plain objects, so `map[name]` found the prototype's member.
  describe.each(['constructor', '__proto__', 'toString', 'hasOwnProperty'])('%s', (name) => {
    test('as a query parameter reaches the function like any other name', async () => {
      const health = await httpGet(`${api.url}/api/v1/health?${name}=1`);
      expect(health.status).toBe(200);
      // The throughput function names it as an unknown parameter: it arrived, with its name.
      const load = await httpGet(`${api.url}/api/v1/test/redis?durationMs=10&${name}=1`);
      expect(load.status).toBe(400);
      expect(load.body.message).toBe(
        `${name}: unknown parameter (known: durationMs, concurrency, op, valueBytes, keyspace)`,
      );
    });

    test('as a header is passed on like any other', async () => {
      const health = await httpGet(`${api.url}/api/v1/health`, { [name]: 'x' });
      expect(health.status).toBe(200);
      const load = await httpGet(`${api.url}/api/v1/test/redis?durationMs=10`, { [name]: 'x' });
      expect(load.status).toBe(200);
    });
  });

  test('an unknown route is 404; a known one with the wrong method 405 naming the allowed', async () => {
    const missing = await getJson(`${api.url}/api/v1/nothing`);
    expect(missing.response.status).toBe(404);
    expect(missing.body.message).toBe('No route for /api/v1/nothing');

    const wrong = await getJson(`${api.url}/api/v1/health`, { method: 'POST', body: '{}' });
    expect(wrong.response.status).toBe(405);
    expect(wrong.response.headers.get('allow')).toBe('GET');

    const del = await getJson(`${api.url}/api/v1/test/redis`, { method: 'DELETE' });
    expect(del.response.status).toBe(405);
    expect(del.response.headers.get('allow')).toBe('GET, POST');
  });

  test('a body over 6 MB is 413, answered before it is read', async () => {
    // Only the headers are sent: the answer must not wait for a body that never comes.
    const req = httpRequest(`${api.url}/api/v1/test/redis`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-length': MAX_BODY_BYTES + 1 },
    });
    req.flushHeaders();
    const [response] = (await once(req, 'response')) as [import('node:http').IncomingMessage];
    req.destroy();
    expect(response.statusCode).toBe(413);
  });
});

describe('a body over 6 MB', () => {
  let api: LocalApi;
  let dir: string;
  let bodyFile: string;
  beforeAll(async () => {
    // The client is curl, as a developer would use it: apt-get install curl.
    expect(findOnPath('curl'), 'curl is not on the PATH').toBeDefined();
    api = await startLocalApi({
      port: 0,
      redisUrl: REDIS_URL,
      env: FUNCTION_ENV,
      initTimeoutMs: INIT_TIMEOUT_MS,
    });
    dir = await mkdtemp(join(tmpdir(), 'local-api-413-'));
    bodyFile = join(dir, 'body.json');
    // Well past the limit, so most of it is still on the way when the 413 is sent.
    await writeFile(bodyFile, Buffer.alloc(MAX_BODY_BYTES + 1024 * 1024, 'a'));
  });
  afterAll(async () => {
    await api?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** curl's answer: exit code, status and body (curl reports 000, or the 100, when cut off). */
  function curlPost(args: string[]) {
    const argv = ['-sS', '-w', '\n%{http_code}', '--data-binary', `@${bodyFile}`, ...args];
    return new Promise<{ code: number; status: string; body: string }>((resolve) => {
      execFile('curl', [...argv, `${api.url}/api/v1/test/redis`], (error, stdout) => {
        const lines = stdout.split('\n');
        const status = lines.pop() ?? '';
        resolve({ code: error ? Number(error.code) : 0, status, body: lines.join('\n') });
      });
    });
  }

  // The connection used to be reset while the body was still arriving, and the client lost the
  // 413 it had been sent (about one time in three with curl).
  test.each([
    ['Content-Length', ['-H', 'Expect:']],
    ['Expect: 100-continue', ['-H', 'Expect: 100-continue']],
    ['chunked', ['-H', 'Expect:', '-H', 'Transfer-Encoding: chunked']],
  ])(
    'is answered 413, 20 times in a row, through curl (%s)',
    async (_, args) => {
      for (let i = 0; i < 20; i++) {
        const answer = await curlPost(['-H', 'content-type: application/json', ...args]);
        expect(answer, `request ${i + 1}`).toMatchObject({ code: 0, status: '413' });
        expect(JSON.parse(answer.body)).toEqual({
          message: `Request Too Long: the body is over ${MAX_BODY_BYTES} bytes`,
        });
      }
    },
    // curl reads the 7 MB file for each request: most of a second on a loaded machine.
    120_000,
  );
});

// Lambda does not queue a synchronous invocation beyond a function's concurrency: it refuses it
// (TooManyRequestsException), and API Gateway turns a refused invocation into its 500. API
// Gateway itself gives up on an integration after 29 s with a 504. The limits are options of
// startLocalApi, small here.
describe('concurrency limit and integration timeout', () => {
  const load = (api: LocalApi, durationMs: number) =>
    getJson(`${api.url}/api/v1/test/redis?durationMs=${durationMs}&concurrency=1`);

  test('an invocation beyond the limit is refused at once, as API Gateway answers it', async () => {
    const api = await startLocalApi({
      port: 0,
      redisUrl: REDIS_URL,
      env: FUNCTION_ENV,
      initTimeoutMs: INIT_TIMEOUT_MS,
      maxEnvironments: 1,
    });
    const stderr = vi.spyOn(console, 'error').mockImplementation(() => {});
    try {
      // Two at once, one environment: one runs, the other is refused (whichever came second).
      const both = await Promise.all([load(api, 1_500), load(api, 1_500)]);
      const statuses = both.map(({ response }) => response.status).sort();
      expect(statuses).toEqual([200, 500]);
      const refused = both.find(({ response }) => response.status === 500);
      expect(refused?.body).toEqual({ message: 'Internal server error' });
      expect(refused?.response.headers.get('x-amzn-requestid')).toMatch(/^[0-9a-f-]{36}$/);
      const logged = stderr.mock.calls.map((args) => args.join(' ')).join('\n');
      expect(logged).toContain('GET /api/v1/test/redis -> 500: throttled');

      // The limit is per function, and the refused request took nothing: both answer again.
      const [health, again] = await Promise.all([
        getJson(`${api.url}/api/v1/health`),
        load(api, 10),
      ]);
      expect([health.response.status, again.response.status]).toEqual([200, 200]);
    } finally {
      await api.close();
      stderr.mockRestore();
    }
  });

  test('a function still running at the integration timeout is 504; it keeps its environment', async () => {
    const api = await startLocalApi({
      port: 0,
      redisUrl: REDIS_URL,
      env: FUNCTION_ENV,
      initTimeoutMs: INIT_TIMEOUT_MS,
      maxEnvironments: 1,
      integrationTimeoutMs: 1_000,
    });
    const stderr = vi.spyOn(console, 'error').mockImplementation(() => {});
    try {
      const slow = await load(api, 20_000);
      expect(slow.response.status).toBe(504);
      expect(slow.body).toEqual({ message: 'Endpoint request timed out' });
      // As in Lambda, the invocation goes on after API Gateway gave up: the function's one
      // environment is still busy, so the next request is refused.
      const next = await load(api, 10);
      expect(next.response.status).toBe(500);
      const logged = stderr.mock.calls.map((args) => args.join(' ')).join('\n');
      expect(logged).toContain('GET /api/v1/test/redis -> 504: no answer after 1000 ms');
    } finally {
      // Closed first: the invocation cut off by the 504 ends now, and says so on stderr.
      await api.close();
      stderr.mockRestore();
    }
  });

  test('the limits must be positive integers', async () => {
    await expect(
      startLocalApi({ port: 0, redisUrl: REDIS_URL, maxEnvironments: 0 }),
    ).rejects.toThrow('maxEnvironments must be a positive integer, got 0');
    await expect(
      startLocalApi({ port: 0, redisUrl: REDIS_URL, integrationTimeoutMs: Number.NaN }),
    ).rejects.toThrow('integrationTimeoutMs must be a positive integer, got NaN');
  });

  test("default to 10 environments per function and API Gateway's 29 s", () => {
    expect(DEFAULT_MAX_ENVIRONMENTS).toBe(10);
    expect(API_GATEWAY_TIMEOUT_MS).toBe(29_000);
  });
});

describe('a failed invocation', () => {
  test("is API Gateway's bare 502; the reason goes to the server's stderr", async () => {
    // A REDIS_URL the pool rejects fails the functions' init phase.
    const api = await startLocalApi({
      port: 0,
      redisUrl: 'redis://:hunter2@127.0.0.1:6379/not-a-db',
      env: FUNCTION_ENV,
    });
    const stderr = vi.spyOn(console, 'error').mockImplementation(() => {});
    try {
      const { response, body } = await getJson(`${api.url}/api/v1/health`);
      expect(response.status).toBe(502);
      expect(body).toEqual({ message: 'Internal server error' });
      const logged = stderr.mock.calls.map((args) => args.join(' ')).join('\n');
      expect(logged).toContain('GET /api/v1/health -> 502: invocation failed: ConfigError');
      expect(logged).toContain('REDIS_URL');
      expect(logged).not.toContain('hunter2');
    } finally {
      stderr.mockRestore();
      await api.close();
    }
  });
});

describe('its own redis-server', () => {
  test('is looked up on the PATH first, so a missing one is explained, not a spawn error', () => {
    expect(findOnPath('redis-server')).toMatch(/\/redis-server$/);
    expect(findOnPath('redis-server', '/nonexistent:')).toBeUndefined();
    expect(new RedisServerNotFoundError().message).toContain('apt-get install redis-server');
  });

  test('starts without a redisUrl, serves the functions, and is gone after close()', async () => {
    const api = await startLocalApi({ port: 0, env: FUNCTION_ENV, initTimeoutMs: INIT_TIMEOUT_MS });
    let pid: number | undefined;
    try {
      expect(api.startedRedis).toBe(true);
      const port = new URL(api.redisUrl).port;
      // redis-server names its address in its process title.
      pid = processTable().find(
        (p) => p.cmdline.includes('redis-server') && p.cmdline.includes(`127.0.0.1:${port}`),
      )?.pid;
      expect(pid).toBeDefined();

      const { response, body } = await getJson(`${api.url}/api/v1/health`);
      expect(response.status).toBe(200);
      expect(body.status).toBe('ok');
    } finally {
      await api.close();
    }
    expect(isProcessAlive(pid ?? 0)).toBe(false);
  });
});

describe('npm start', () => {
  /** Spawns `npx tsx local/start.ts` in its own process group, as a terminal runs it. */
  function start(env: Record<string, string | undefined>) {
    const child = spawn('npx', ['tsx', 'local/start.ts'], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    return { child, output: () => output };
  }

  /** npx, tsx, bundling both functions and maybe a redis-server: slow on a loaded machine. */
  const START_TIMEOUT_MS = 60_000;

  async function waitForOutput(output: () => string, text: string, child: ChildProcess) {
    const until = Date.now() + START_TIMEOUT_MS;
    while (!output().includes(text)) {
      if (child.exitCode !== null) throw new Error(`exited early:\n${output()}`);
      if (Date.now() > until) throw new Error(`no "${text}" in:\n${output()}`);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }

  /** After a failed test: nothing of it may outlive the run. */
  function killGroup(child: ChildProcess): void {
    if (child.exitCode !== null || child.signalCode !== null) return;
    try {
      process.kill(-(child.pid ?? 0), 'SIGKILL');
    } catch {
      // Already gone.
    }
  }

  async function expectAllGone(pids: number[]): Promise<void> {
    // Our process waits for every child before it exits; the poll only covers /proc's lag.
    const until = Date.now() + 2_000;
    while (pids.some(isProcessAlive) && Date.now() < until) {
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    expect(pids.filter(isProcessAlive)).toEqual([]);
  }

  test('serves the API on PORT; SIGINT to tsx stops it, exit 0, nothing left', {
    timeout: 2 * START_TIMEOUT_MS,
  }, async () => {
    const port = await freePort();
    const { child, output } = start({ PORT: String(port), REDIS_URL });
    try {
      // The last line of the banner: everything before it has been printed.
      await waitForOutput(output, 'Ctrl-C stops everything', child);
      expect(output()).toContain(`Local API listening on http://127.0.0.1:${port}`);
      expect(output()).toContain(`http://127.0.0.1:${port}/api/v1/test/redis`);
      expect(output()).toContain(`Redis: ${REDIS_URL}, REDIS_URL`);

      const health = await fetch(`http://127.0.0.1:${port}/api/v1/health`);
      expect(health.status).toBe(200);

      const started = descendantsOf(child.pid ?? 0);
      expect(started.some((p) => p.cmdline.includes('aws-lambda-ric'))).toBe(true);
      // npx does not pass a lone SIGINT on (a terminal signals the whole group): signal tsx.
      const tsx = started.find((p) => /\/tsx local\/start\.ts$/.test(p.cmdline));
      expect(tsx).toBeDefined();
      process.kill(tsx?.pid ?? 0, 'SIGINT');

      // 'close', not 'exit': npx may exit before the node process under it has written its
      // last line into the pipe they share; 'close' waits for every writer.
      const [code] = await once(child, 'close');
      expect(code).toBe(0);
      expect(output()).toContain('Stopped.');
      await expectAllGone(started.map((p) => p.pid));
    } finally {
      killGroup(child);
    }
  });

  test('Ctrl-C (SIGINT to the process group) stops it and the redis-server it started', {
    timeout: 2 * START_TIMEOUT_MS,
  }, async () => {
    const port = await freePort();
    const { child, output } = start({ PORT: String(port), REDIS_URL: undefined });
    try {
      // The last line of the banner: everything before it has been printed.
      await waitForOutput(output, 'Ctrl-C stops everything', child);
      expect(output()).toContain('a redis-server started for this session');
      const health = await fetch(`http://127.0.0.1:${port}/api/v1/health`);
      expect(health.status).toBe(200);

      const started = descendantsOf(child.pid ?? 0);
      expect(started.some((p) => p.cmdline.includes('redis-server'))).toBe(true);
      process.kill(-(child.pid ?? 0), 'SIGINT');

      // npm re-raises the SIGINT once its child is done, as shells expect (or exits 130), so
      // our own clean exit shows in the last line it printed before exit(0).
      const [code, signal] = await once(child, 'close');
      expect(signal === 'SIGINT' || code === 0 || code === 130, `${code} ${signal}`).toBe(true);
      expect(output()).toContain('Stopped.');
      await expectAllGone(started.map((p) => p.pid));
    } finally {
      killGroup(child);
    }
  });
});
