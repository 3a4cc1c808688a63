// The throughput CLI: its pure parts in process, and the real command (a child process, as a
// user runs it) against the local API over real HTTP and real Redis.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { DEFAULT_URL, parseCliArgs, UsageError } from '../../cli/throughput-args.js';
import {
  formatProgress,
  formatReport,
  isThroughputReport,
  serverMessage,
  type ThroughputReport,
} from '../../cli/throughput-format.js';
import { type LocalApi, startLocalApi } from '../../local/api-server.js';
import { freePort } from '../helpers/redis-server.js';
import { runCli } from './run-cli.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

const REPORT: ThroughputReport = {
  ops: 12_345,
  errors: 2,
  durationMs: 1000.4,
  opsPerSec: 12_340,
  latencyMs: { p50: 0.061, p95: 0.174, p99: 1.29, max: 112.5 },
  errorSamples: ['Command timed out'],
  stoppedEarly: false,
  params: { durationMs: 1000, concurrency: 50, op: 'mixed', valueBytes: 100, keyspace: 1000 },
  pool: {
    connectionsCreated: 1,
    connectionsFailed: 0,
    connectionsLost: 0,
    active: 0,
    idle: 1,
    opening: 0,
    waiting: 0,
    acquired: 4,
    reused: 3,
    reconnects: 0,
    validationFailures: 0,
    max: 2,
  },
};

describe('the command line', () => {
  test('defaults to the local endpoint and the endpoint’s own defaults', () => {
    expect(parseCliArgs([])).toEqual({
      help: false,
      url: DEFAULT_URL,
      method: 'POST',
      json: false,
      params: { durationMs: 1000, concurrency: 50, op: 'get', valueBytes: 100, keyspace: 1000 },
    });
  });

  test('takes every option; durations in ms or s', () => {
    const parsed = parseCliArgs([
      '--url=http://example.test/prod/api/v1/test/redis',
      '--duration',
      '2s',
      '--concurrency=8',
      '--op=set',
      '--value-bytes=64',
      '--keyspace=10',
      '--json',
      '--method=get',
    ]);
    expect(parsed).toEqual({
      help: false,
      url: 'http://example.test/prod/api/v1/test/redis',
      method: 'GET',
      json: true,
      params: { durationMs: 2000, concurrency: 8, op: 'set', valueBytes: 64, keyspace: 10 },
    });
    expect(parseCliArgs(['--duration=250ms'])).toMatchObject({ params: { durationMs: 250 } });
    expect(parseCliArgs(['-h'])).toEqual({ help: true });
  });

  test.each([
    [['--bogus'], "Unknown option '--bogus'"],
    [['extra'], 'Unexpected argument'],
    [['--concurrency', 'many'], '--concurrency: expected a whole number, got "many"'],
    [['--concurrency', '0'], '--concurrency: expected 1 to 1000, got 0'],
    [['--duration', '26s'], '--duration: expected 1 to 25000 ms, got 26000 ms'],
    [['--duration', 'soon'], '--duration: expected e.g. 1500, 1500ms or 2s'],
    [['--op', 'del'], '--op: expected one of get, set, mixed, got "del"'],
    [['--url', 'ftp://x/'], '--url: expected an http(s) URL, got a ftp: URL'],
    [['--method', 'PUT'], '--method: expected POST or GET, got "PUT"'],
  ])('%j is a usage error', (argv, message) => {
    expect(() => parseCliArgs(argv)).toThrow(UsageError);
    expect(() => parseCliArgs(argv)).toThrow(message);
  });
});

describe('the output', () => {
  test('a table of ops, errors, duration, rate, latency percentiles and connections', () => {
    expect(formatReport(REPORT)).toBe(
      [
        'mixed x 50 for 1000 ms (100-byte values, 1000 keys)',
        '  ops                  12,345',
        '  errors               2',
        '  duration             1000.4 ms',
        '  ops/s                12,340',
        '  latency p50          0.061 ms',
        '  latency p95          0.174 ms',
        '  latency p99          1.29 ms',
        '  latency max          112.5 ms',
        '  connections created  1',
        '  connections reused   3',
        'Errors seen:',
        '  Command timed out',
      ].join('\n'),
    );
    expect(formatReport({ ...REPORT, stoppedEarly: true })).toContain('Stopped early');
  });

  test('a progress line: elapsed of expected and a bar, then waiting for the report', () => {
    expect(formatProgress(500, 2000, 8)).toBe('running [##------] 0.5 s / 2.0 s 25%');
    expect(formatProgress(2500, 2000, 8)).toBe(
      'running [########] 2.5 s / 2.0 s waiting for the report',
    );
  });

  test("the server's message from API Gateway's, the functions' and plain bodies", () => {
    expect(serverMessage('{"message":"Internal server error"}')).toBe('Internal server error');
    expect(serverMessage('{"error":"BadRequest","message":"op: bad"}')).toBe('op: bad');
    expect(serverMessage('{"error":{"type":"RedisUnavailableError","message":"down"}}')).toBe(
      'down',
    );
    expect(serverMessage('<html>Bad Gateway</html>')).toBe('<html>Bad Gateway</html>');
    expect(serverMessage('')).toBe('(empty response)');
  });

  test('only a throughput report is taken for one', () => {
    expect(isThroughputReport(REPORT)).toBe(true);
    expect(isThroughputReport({ status: 'ok' })).toBe(false);
    expect(isThroughputReport(null)).toBe(false);
  });
});

// A child process per test, and functions that cold-start: slow on a loaded machine.
describe('redis-pool-throughput against the local API', { timeout: 90_000 }, () => {
  let api: LocalApi;
  let url: string;
  beforeAll(async () => {
    api = await startLocalApi({
      port: 0,
      redisUrl: REDIS_URL,
      env: { REDIS_METRICS: 'false' },
      // No test here is about Lambda's 10 s init limit, which a loaded machine can exceed.
      initTimeoutMs: 60_000,
    });
    url = `${api.url}/api/v1/test/redis`;
  }, 90_000);
  afterAll(() => api?.close());

  test('prints a table of the results, progress on stderr', async () => {
    const run = await runCli(['--url', url, '--duration', '200', '--concurrency', '5']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^get x 5 for 200 ms/);
    for (const label of [
      'ops',
      'errors',
      'ops/s',
      'latency p50',
      'latency p99',
      'connections reused',
    ]) {
      expect(run.stdout).toMatch(new RegExp(`^  ${label.replace('/', '\\/')}\\s+\\S`, 'm'));
    }
    expect(run.stdout).toMatch(/^ {2}errors\s+0$/m);
    // Not a terminal: one plain line instead of a redrawn bar.
    expect(run.stderr).toBe('running… get x 5 for 200 ms\n');
  });

  test('--json prints the report as parseable JSON', async () => {
    const run = await runCli(['--url', url, '--duration', '200', '--concurrency', '5', '--json']);
    expect(run.code, run.stderr).toBe(0);
    const report = JSON.parse(run.stdout) as ThroughputReport;
    expect(report.ops).toBeGreaterThan(0);
    expect(report.opsPerSec).toBeGreaterThan(0);
    expect(report.params).toMatchObject({ durationMs: 200, concurrency: 5 });
  });

  test("an error answer: the server's message on stderr, exit 1", async () => {
    // POST on the health route: the API's own 405.
    const run = await runCli(['--url', `${api.url}/api/v1/health`, '--duration', '200']);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toContain('answered 405: POST is not allowed on /api/v1/health');
  });

  test('a closed port: a hint to start the local API, exit 1', async () => {
    const closed = await freePort();
    const run = await runCli(['--url', `http://127.0.0.1:${closed}/api/v1/test/redis`]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`Cannot reach http://127.0.0.1:${closed}/api/v1/test/redis`);
    expect(run.stderr).toContain('ECONNREFUSED');
    expect(run.stderr).toContain('Is `npm start` running?');
  });

  test('bad options: what was wrong and the usage, exit 2', async () => {
    const run = await runCli(['--url', url, '--concurrency', 'lots']);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toContain('--concurrency: expected a whole number, got "lots"');
    expect(run.stderr).toContain('Usage: redis-pool-throughput');
  });
});
