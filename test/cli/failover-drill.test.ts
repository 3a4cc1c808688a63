/**
 * The failover drill (`npm run failover-drill`): its timeline logic and its question in process,
 * and the real command (a child process, as a user runs it) against local stand-ins.
 *
 * What stands in for AWS, and what is real:
 * - ElastiCache's API is `test/helpers/elasticache-api.ts`, a local HTTP server speaking its
 *   Query protocol; the drill's AWS SDK reaches it through AWS_ENDPOINT_URL_ELASTICACHE, signing
 *   with fixed test credentials. Its TestFailover is this file's `emulateFailover`, which does to
 *   two real redis-servers what ElastiCache does to its nodes: the primary fails (SIGKILL),
 *   the replica is promoted (REPLICAOF NO ONE), the primary endpoint follows it, the old
 *   primary comes back as a replica; with the events and statuses ElastiCache reports.
 * - The primary endpoint's DNS name is a TCP proxy (`test/helpers/tcp-proxy.ts`) whose target
 *   is flipped to the new primary, as the DNS record is.
 * - API Gateway and Lambda are the local API (`local/api-server.ts`): the real throughput
 *   function, bundled, in AWS's Runtime Interface Client, frozen between invocations.
 * - The redis-servers, the pool, the HTTP calls and the SDK are real.
 */
import { PassThrough } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parseDrillArgs, UsageError } from '../../cli/failover-drill-args.js';
import { confirm } from '../../cli/failover-drill-confirm.js';
import { type CacheState, FailoverWatch, refusal } from '../../cli/failover-drill-follow.js';
import {
  buildTimeline,
  type DrillRecord,
  type Timeline,
  verdict,
} from '../../cli/failover-drill-timeline.js';
import type { CallRecord } from '../../cli/failover-drill-traffic.js';
import type { ThroughputReport } from '../../functions/throughput-contract.js';
import { type LocalApi, startLocalApi } from '../../local/api-server.js';
import { type ElastiCacheApi, startElastiCacheApi } from '../helpers/elasticache-api.js';
import { freePort, type RedisServer, startRedis } from '../helpers/redis-server.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';
import { type Run, runCli } from './run-cli.js';

// ---- the timeline, from recorded calls ---------------------------------------------------

const T0 = 1_700_000_000_000;

/** A call answered with a report whose run began `startMs` after T0 (function clock). */
function reportCall(
  startMs: number,
  durationMs: number,
  counts: { ops: number; errors: number },
  timing: { firstOk?: number; firstError?: number; lastError?: number; okAfter?: number },
  clock = { sentMs: startMs - 5, answeredMs: startMs + durationMs + 5 },
): CallRecord {
  const report = {
    ...counts,
    durationMs,
    opsPerSec: Math.round((counts.ops / durationMs) * 1000),
    latencyMs: { p50: 1, p95: 1, p99: 1, max: 1 },
    errorSamples: counts.errors > 0 ? ['Connection is closed.'] : [],
    stoppedEarly: false,
    params: { durationMs, concurrency: 10, op: 'set', valueBytes: 100, keyspace: 1000 },
    timing: {
      startedAt: T0 + startMs,
      firstOkMs: timing.firstOk ?? null,
      firstErrorMs: timing.firstError ?? null,
      lastErrorMs: timing.lastError ?? null,
      okAfterLastErrorMs: timing.okAfter ?? null,
    },
  } as unknown as ThroughputReport;
  return {
    sentAt: T0 + clock.sentMs,
    answeredAt: T0 + clock.answeredMs,
    outcome: { ok: true, report },
  };
}

function failedCall(sentMs: number, answeredMs: number): CallRecord {
  return {
    sentAt: T0 + sentMs,
    answeredAt: T0 + answeredMs,
    outcome: { ok: false, message: 'answered 503: Redis is unavailable (connection refused)' },
  };
}

function drill(calls: CallRecord[], failoverCalledMs = 900): DrillRecord {
  return {
    startedAt: T0,
    calls,
    marks: [{ at: T0 + failoverCalledMs, text: 'TestFailover called on node group 0001' }],
    failoverCalledAt: T0 + failoverCalledMs,
    failoverOverAt: T0 + 4_000,
  };
}

describe('the timeline', () => {
  test('a window runs from the first failure, through a failed call, to the first success after it', () => {
    const timeline = buildTimeline(
      drill([
        reportCall(0, 1000, { ops: 900, errors: 0 }, { firstOk: 1 }),
        // Fails from 1,300 ms on to its end…
        reportCall(
          1010,
          1000,
          { ops: 200, errors: 50 },
          { firstOk: 1, firstError: 290, lastError: 999 },
        ),
        // …a call that fails as a whole…
        failedCall(2020, 2100),
        // …and the first success of the next one, at 2,150 + 30.
        reportCall(2150, 1000, { ops: 800, errors: 0 }, { firstOk: 30 }),
      ]),
    );
    expect(timeline.errorWindows).toEqual([
      { fromMs: 1300, toMs: 2180, ms: 880, errors: 50, failedCalls: 1 },
    ]);
    expect(timeline.longestErrorWindow?.ms).toBe(880);
    expect(timeline.firstWriteAfterFailoverMs).toBe(2180);
    expect(timeline.calls.map((c) => [c.atMs, c.failed])).toEqual([
      [0, false],
      [1010, false],
      [2020, true],
      [2150, false],
    ]);
    expect(timeline.calls[1]).toMatchObject({ errors: 50, errorsPerSec: 50, opsPerSec: 200 });
    expect(verdict(timeline, 881)).toEqual({
      passed: true,
      reasons: ['The longest error window, 880 ms, is shorter than --max-error-window-ms 881.'],
    });
    expect(verdict(timeline, 880).passed).toBe(false);
  });

  test('a report without timing cannot be placed: it counts as a call that failed as a whole', () => {
    const untimed = reportCall(1010, 1000, { ops: 900, errors: 0 }, {});
    if (!untimed.outcome.ok) throw new Error('reportCall answers with a report');
    const { timing: _, ...report } = untimed.outcome.report;
    const timeline = buildTimeline(
      drill([
        reportCall(0, 1000, { ops: 900, errors: 0 }, { firstOk: 1 }),
        { ...untimed, outcome: { ok: true, report } },
        reportCall(2020, 1000, { ops: 900, errors: 0 }, { firstOk: 30 }),
      ]),
    );
    expect(timeline.calls[1]).toMatchObject({
      atMs: 1005,
      failed: true,
      note: 'the answer did not say when its failures happened',
    });
    expect(timeline.errorWindows).toEqual([
      { fromMs: 1005, toMs: 2050, ms: 1045, errors: 0, failedCalls: 1 },
    ]);
  });

  test('recovery within a call closes the window there; a later failure opens another', () => {
    const timeline = buildTimeline(
      drill([
        reportCall(
          1000,
          1000,
          { ops: 500, errors: 20 },
          { firstOk: 400, firstError: 100, lastError: 300, okAfter: 400 },
        ),
        reportCall(
          2000,
          1000,
          { ops: 900, errors: 1 },
          { firstOk: 1, firstError: 500, lastError: 500, okAfter: 510 },
        ),
      ]),
    );
    expect(timeline.errorWindows.map((w) => [w.fromMs, w.toMs, w.errors])).toEqual([
      [1100, 1400, 20],
      [2500, 2510, 1],
    ]);
    expect(timeline.longestErrorWindow?.fromMs).toBe(1100);
    expect(timeline.firstWriteAfterFailoverMs).toBe(1400);
  });

  test('writes still failing at the end: an open window, and the drill fails', () => {
    const timeline = buildTimeline(
      drill([
        reportCall(0, 1000, { ops: 900, errors: 0 }, { firstOk: 1 }),
        reportCall(
          1000,
          1000,
          { ops: 10, errors: 99 },
          { firstOk: 1, firstError: 200, lastError: 990 },
        ),
        failedCall(2005, 2600),
      ]),
    );
    expect(timeline.errorWindows).toEqual([
      { fromMs: 1200, toMs: null, ms: 1400, errors: 99, failedCalls: 1 },
    ]);
    expect(timeline.firstWriteAfterFailoverMs).toBeNull();
    const result = verdict(timeline, 60_000);
    expect(result.passed).toBe(false);
    expect(result.reasons).toEqual([
      'Writes had not recovered when the drill ended: failing since +1.20 s.',
    ]);
  });

  test('a failover not reported over fails the drill, even without errors', () => {
    const timeline = buildTimeline({
      ...drill([reportCall(0, 1000, { ops: 900, errors: 0 }, { firstOk: 1 })]),
      failoverOverAt: undefined,
    });
    expect(timeline.errorWindows).toEqual([]);
    expect(verdict(timeline, 60_000)).toEqual({
      passed: false,
      reasons: ['ElastiCache did not report the failover over within --timeout-ms.'],
    });
  });

  test("a run is placed within what this machine saw, whatever the function's clock says", () => {
    const ahead = reportCall(
      5_000, // the function's clock runs 4 s ahead…
      1000,
      { ops: 10, errors: 5 },
      { firstOk: 1, firstError: 100, lastError: 200 },
      { sentMs: 1000, answeredMs: 2100 }, // …of this machine's, which saw the call end at 2,100.
    );
    const behind = reportCall(
      -3_000,
      1000,
      { ops: 10, errors: 0 },
      { firstOk: 50 },
      { sentMs: 2200, answeredMs: 3300 },
    );
    const timeline = buildTimeline(drill([ahead, behind]));
    // The run cannot have started later than 2,100 − 1,000, nor earlier than 2,200 when sent.
    expect(timeline.calls.map((c) => c.atMs)).toEqual([1100, 2200]);
    expect(timeline.errorWindows).toEqual([
      { fromMs: 1200, toMs: 2250, ms: 1050, errors: 5, failedCalls: 0 },
    ]);
  });
});

describe('following the cache', () => {
  const state = (over: Partial<CacheState> = {}): CacheState => ({
    id: 'orders',
    status: 'available',
    automaticFailover: 'enabled',
    nodeGroups: [{ id: '0001', status: 'available', primary: 'orders-001' }],
    members: ['orders-001', 'orders-002'],
    ...over,
  });

  test('refuses a cache that is missing, busy, without automatic failover or without the node group', () => {
    expect(refusal(state(), 'orders', '0001', 'eu-west-1')).toBeUndefined();
    expect(refusal(undefined, 'orders', '0001', 'eu-west-1')).toMatch(
      /^ElastiCache has no replication group "orders" in eu-west-1/,
    );
    expect(refusal(state({ status: 'modifying' }), 'orders', '0001', undefined)).toMatch(
      /is modifying, not available/,
    );
    expect(refusal(state({ automaticFailover: 'disabled' }), 'orders', '0001', undefined)).toMatch(
      /automatic failover disabled: TestFailover needs it enabled/,
    );
    expect(refusal(state(), 'orders', '0002', undefined)).toMatch(
      /has no node group 0002 \(it has: 0001\)/,
    );
  });

  test('over once ElastiCache reports the failover completed and the cache is available again', () => {
    const completedMessage = (from: string, to: string) =>
      `Failover from primary node ${from} to replica node ${to} completed`;
    const since = new Date(T0 - 5_000);
    // Read just before TestFailover (at T0): an earlier drill's events, dated by AWS's clock
    // a moment ago.
    const known = [
      { at: T0 - 2_000, source: 'orders', message: 'Test Failover API called for node group 0001' },
      { at: T0 - 1_500, source: 'orders', message: completedMessage('orders-001', 'orders-002') },
    ];
    // Cluster mode: no roles in the API's answer, so only the events tell.
    const before = state({ nodeGroups: [{ id: '0001', status: 'available', primary: undefined }] });
    const watch = new FailoverWatch(before, '0001', since, known);
    const modifying = state({
      status: 'modifying',
      nodeGroups: [{ id: '0001', status: 'modifying', primary: undefined }],
    });
    expect(watch.observeState(modifying, T0 + 100).map((m) => m.text)).toEqual([
      'replication group orders: modifying',
      'node group 0001: modifying',
    ]);
    const earlier = [
      ...known,
      // Before `since`, and another cache's.
      { at: T0 - 60_000, source: 'orders', message: completedMessage('orders-002', 'orders-001') },
      { at: T0 + 60, source: 'another-cache', message: completedMessage('x', 'y') },
    ];
    expect(watch.observeEvents(earlier)).toEqual([]);
    // This drill's, dated by a clock 300 ms behind this machine's: before TestFailover was called.
    const called = {
      at: T0 - 300,
      source: 'orders',
      message: 'Test Failover API called for node group 0001',
    };
    const events = [...earlier, called];
    expect(watch.observeEvents(events).map((m) => m.text)).toEqual([
      'ElastiCache (orders): Test Failover API called for node group 0001',
    ]);
    expect(watch.over).toBe(false);
    const completed = {
      at: T0 + 900,
      source: 'orders-002',
      message: completedMessage('orders-002', 'orders-001'),
    };
    // Read again with the next look: reported once.
    expect(watch.observeEvents([...events, completed])).toHaveLength(1);
    expect(watch.observeEvents([...events, completed])).toHaveLength(0);
    expect(watch.over).toBe(false); // still modifying
    watch.observeState(before, T0 + 1_000);
    expect(watch.over).toBe(true);
  });

  test('a changed primary member also says the failover happened', () => {
    const watch = new FailoverWatch(state(), '0001', new Date(T0 - 5_000), []);
    const swapped = state({
      nodeGroups: [{ id: '0001', status: 'available', primary: 'orders-002' }],
    });
    expect(watch.observeState(swapped, T0 + 500).map((m) => m.text)).toEqual([
      'primary: orders-001 → orders-002',
    ]);
    expect(watch.over).toBe(true);
  });
});

// ---- the command line and the question ----------------------------------------------------

describe('the command line', () => {
  test('defaults, and the region of an API Gateway URL for signing and for ElastiCache', () => {
    expect(
      parseDrillArgs([
        '--url',
        'https://abc123.execute-api.eu-west-1.amazonaws.com/prod',
        '--cache',
        'orders',
      ]),
    ).toEqual({
      help: false,
      url: 'https://abc123.execute-api.eu-west-1.amazonaws.com/prod/api/v1/test/redis',
      signing: { region: 'eu-west-1' },
      cacheId: 'orders',
      nodeGroup: '0001',
      region: 'eu-west-1',
      maxErrorWindowMs: 30_000,
      durationMs: 5_000,
      callMs: 1_000,
      pollMs: 5_000,
      timeoutMs: 900_000,
      yes: false,
      json: false,
    });
  });

  test("--region alone names the cache's region; a local URL stays unsigned", () => {
    const args = ['--url', 'http://127.0.0.1:1', '--cache', 'o', '--region', 'eu-west-1'];
    expect(parseDrillArgs(args)).toMatchObject({ signing: undefined, region: 'eu-west-1' });
  });

  test.each([
    [['--cache', 'orders'], '--url is required'],
    [['--url', 'http://127.0.0.1:1'], '--cache is required'],
    [
      ['--url', 'http://127.0.0.1:1', '--cache', 'Orders!'],
      '--cache: expected a replication group id',
    ],
    [
      ['--url', 'http://127.0.0.1:1', '--cache', 'o', '--node-group', '1'],
      '--node-group: expected a node group id',
    ],
    [
      ['--url', 'http://127.0.0.1:1', '--cache', 'o', '--max-error-window-ms', '5s'],
      '--max-error-window-ms: expected a whole number',
    ],
    [
      ['--url', 'http://127.0.0.1:1', '--cache', 'o', '--call-ms', '50'],
      '--call-ms: expected 100 to 25000, got 50',
    ],
    [
      ['--url', 'http://127.0.0.1:1', '--cache', 'o', '--sign'],
      '--sign: 127.0.0.1 names no region; add --region',
    ],
    [
      [
        '--url',
        'https://a1.execute-api.eu-west-1.amazonaws.com/p',
        '--cache',
        'o',
        '--region',
        'us-east-1',
      ],
      "--region: us-east-1 is not the URL's region",
    ],
    [['--url', 'http://127.0.0.1:1', '--cache', 'o', '--yes', 'please'], 'Unexpected argument'],
  ])('%j is a usage error', (argv, message) => {
    expect(() => parseDrillArgs(argv)).toThrow(UsageError);
    expect(() => parseDrillArgs(argv)).toThrow(message);
  });

  test('the question takes y or yes; anything else, or no answer, is a no', async () => {
    const ask = async (typed: string | undefined) => {
      const input = new PassThrough();
      const output = new PassThrough();
      let shown = '';
      output.on('data', (chunk: Buffer) => {
        shown += chunk.toString();
      });
      const answer = confirm('Run the drill? [y/N] ', input, output);
      if (typed === undefined) input.end();
      else input.write(typed);
      return { answer: await answer, shown };
    };
    expect(await ask('yes\n')).toEqual({ answer: true, shown: 'Run the drill? [y/N] ' });
    expect((await ask('Y\n')).answer).toBe(true);
    expect((await ask('\n')).answer).toBe(false);
    expect((await ask('no\n')).answer).toBe(false);
    expect((await ask('yes please\n')).answer).toBe(false);
    expect((await ask(undefined)).answer).toBe(false);
  });
});

// ---- the real command against the stand-ins ------------------------------------------------

/** What `npm run failover-drill` runs (tsx), stdin not a terminal, AWS pointed at the stand-in. */
function runDrill(args: string[], env: Record<string, string>): Promise<Run> {
  const inherited = Object.fromEntries(
    Object.entries(process.env).filter(([key]) => !key.startsWith('AWS_')),
  );
  return runCli(args, { ...inherited, ...env }, 'cli/failover-drill.ts');
}

const GROUP = 'orders';

interface Node {
  readonly id: string;
  readonly server: RedisServer;
}

// Child processes, a cold-starting function, two failovers: slow on a loaded machine.
describe('npm run failover-drill against the stand-ins', { timeout: 120_000 }, () => {
  let api: ElastiCacheApi;
  let proxy: TcpProxy;
  let local: LocalApi;
  let primary: Node;
  let replica: Node;
  const failovers: Array<Promise<void>> = [];

  /** The replication group as the stand-in reports it now. */
  const putGroup = (status: string) =>
    api.putReplicationGroup(GROUP, {
      status,
      automaticFailover: true,
      primary: { host: '127.0.0.1', port: proxy.port },
      members: [
        { id: primary.id, role: 'primary' },
        { id: replica.id, role: 'replica' },
      ],
    });

  /**
   * ElastiCache's TestFailover, done to real servers: the primary fails; after a moment (AWS
   * detects the failure) the replica is promoted and the endpoint follows it; the old primary
   * is brought back as a replica of the new one.
   */
  async function emulateFailover(): Promise<void> {
    const failed = primary;
    const promoted = replica;
    api.event(GROUP, 'replication-group', 'Test Failover API called for node group 0001');
    putGroup('modifying');
    await failed.server.kill();
    await sleep(400); // the outage: how long the primary is down before the promotion
    await promoted.server.cli('REPLICAOF', 'NO', 'ONE');
    proxy.setTarget(promoted.server.port);
    primary = promoted;
    replica = failed;
    putGroup('modifying');
    const message = `Failover from primary node ${failed.id} to replica node ${promoted.id} completed`;
    api.event(promoted.id, 'cache-cluster', message);
    api.event(GROUP, 'replication-group', message);
    api.event(failed.id, 'cache-cluster', `Recovering cache nodes 0001`);
    await failed.server.restart();
    await failed.server.cli('REPLICAOF', '127.0.0.1', String(promoted.server.port));
    api.event(failed.id, 'cache-cluster', `Finished recovery for cache nodes 0001`);
    putGroup('available');
  }

  beforeAll(async () => {
    // Full syncs start at once instead of after diskless sync's 5 s default delay.
    const sync = ['--repl-diskless-sync-delay', '0'];
    const a = await startRedis({ args: sync });
    const b = await startRedis({ args: [...sync, '--replicaof', '127.0.0.1', String(a.port)] });
    primary = { id: `${GROUP}-001`, server: a };
    replica = { id: `${GROUP}-002`, server: b };
    proxy = await startTcpProxy(a.port);
    api = await startElastiCacheApi();
    putGroup('available');
    api.putReplicationGroup('plain', {
      automaticFailover: false,
      primary: { host: '127.0.0.1', port: proxy.port },
    });
    api.putReplicationGroup('busy', { status: 'modifying', automaticFailover: true });
    api.handle('TestFailover', () => {
      failovers.push(emulateFailover());
      // As ElastiCache: answered at once, the failover goes on after.
      return {
        xml: `<ReplicationGroup><ReplicationGroupId>${GROUP}</ReplicationGroupId><Status>available</Status></ReplicationGroup>`,
      };
    });
    local = await startLocalApi({
      port: 0,
      redisUrl: proxy.url,
      env: { REDIS_METRICS: 'false' },
      // No test here is about Lambda's 10 s init limit, which a loaded machine can exceed.
      initTimeoutMs: 60_000,
    });
  }, 120_000);

  afterAll(async () => {
    await local?.close();
    await api?.close();
    await proxy?.close();
    await primary?.server.dispose();
    await replica?.server.dispose();
  });

  /** A drill against `cache`, quick: short calls, frequent looks. */
  const drillArgs = (cache: string, ...more: string[]) => [
    '--url',
    local.url,
    '--cache',
    cache,
    // Traffic after the failover is over: long enough that, on a loaded machine, a call still
    // starts after the first write on the new primary (1000 ms once left none).
    '--duration-ms',
    '2000',
    '--call-ms',
    '250',
    '--poll-ms',
    '100',
    '--timeout-ms',
    '30000',
    ...more,
  ];
  /** Runs the drill; whatever it printed, never the AWS secret key. */
  const run = async (args: string[]) => {
    const result = await runDrill(args, api.env);
    const secret = api.env.AWS_SECRET_ACCESS_KEY ?? '';
    expect(secret.length).toBeGreaterThan(10);
    expect(result.stdout + result.stderr).not.toContain(secret);
    return result;
  };
  const testFailoverCalls = () => api.calls.filter((c) => c.action === 'TestFailover');

  test('a drill that passes: the error window after TestFailover, the recovery, exit 0', async () => {
    const oldPrimary = primary;
    const newPrimary = replica;
    await expect
      .poll(
        async () =>
          /master_link_status:up/.test(await newPrimary.server.cli('INFO', 'replication')),
        {
          timeout: 30_000,
        },
      )
      .toBe(true);
    const result = await run(drillArgs(GROUP, '--max-error-window-ms', '60000', '--yes', '--json'));
    await Promise.all(failovers);
    expect(result.code, result.stderr).toBe(0);
    expect(testFailoverCalls().at(-1)?.params).toMatchObject({
      ReplicationGroupId: GROUP,
      NodeGroupId: '0001',
    });
    const out = JSON.parse(result.stdout) as {
      passed: boolean;
      reasons: string[];
      timeline: Timeline;
    };
    const { timeline } = out;
    expect(out.passed).toBe(true);
    const calledAt = timeline.failover.calledAtMs;
    // Clean before TestFailover…
    const before = timeline.calls.filter((c) => c.atMs + c.ms < calledAt);
    expect(before.length).toBeGreaterThan(0);
    expect(before.every((c) => !c.failed && c.errors === 0 && c.ops > 0)).toBe(true);
    // …a window of errors after it, which closed…
    const longest = timeline.longestErrorWindow;
    expect(longest).not.toBeNull();
    expect(longest?.fromMs).toBeGreaterThanOrEqual(calledAt);
    expect(longest?.toMs).not.toBeNull();
    expect((longest?.errors ?? 0) + (longest?.failedCalls ?? 0)).toBeGreaterThan(0);
    // …with the first write after the failover at its end, and clean calls after that.
    expect(timeline.firstWriteAfterFailoverMs).toBe(timeline.errorWindows[0]?.toMs);
    const after = timeline.calls.filter((c) => c.atMs > (timeline.firstWriteAfterFailoverMs ?? 0));
    expect(after.length).toBeGreaterThan(0);
    expect(after.every((c) => !c.failed && c.errors === 0 && c.ops > 0)).toBe(true);
    // What ElastiCache reported, in order, and the drill's own marks.
    const texts = timeline.marks.map((m) => m.text);
    const positions = [
      'TestFailover called on node group 0001',
      `ElastiCache (${GROUP}): Test Failover API called for node group 0001`,
      `ElastiCache (${GROUP}): Failover from primary node ${oldPrimary.id} to replica node ${newPrimary.id} completed`,
      `ElastiCache (${oldPrimary.id}): Finished recovery for cache nodes 0001`,
      'failover over: reported by ElastiCache, cache available',
    ].map((text) => texts.indexOf(text));
    expect(
      positions.every((i) => i >= 0),
      texts.join('\n'),
    ).toBe(true);
    expect([...positions].sort((x, y) => x - y)).toEqual(positions);
    expect(texts).toContain(`primary: ${oldPrimary.id} → ${newPrimary.id}`);
    expect(timeline.failover.overAtMs).toBeGreaterThan(calledAt);
    // The writes after the failover went to the promoted server, through the flipped endpoint.
    expect(await newPrimary.server.cli('ROLE')).toMatch(/^master/);
    const named = (await newPrimary.server.clientList()).filter((c) => c.name);
    expect(named.length).toBeGreaterThan(0);
  });

  test('a drill that fails its threshold: the timeline as a table, exit 1', async () => {
    await expect
      .poll(
        async () => /master_link_status:up/.test(await replica.server.cli('INFO', 'replication')),
        {
          timeout: 30_000,
        },
      )
      .toBe(true);
    // Calls of 1 s, not 250 ms: the failover must land in a call for there to be errors at all
    // (between two calls, the next one finds the new primary, and the drill passes; seen once at
    // load 5 with 250 ms calls, whose gaps grow on a loaded machine).
    const result = await run(
      drillArgs(GROUP, '--max-error-window-ms', '1', '--yes', '--call-ms', '1000'),
    );
    await Promise.all(failovers);
    expect(result.code, result.stderr).toBe(1);
    const out = result.stdout;
    expect(out).toMatch(
      /^Failover drill: replication group orders, node group 0001, traffic through http:\/\/127\.0\.0\.1:\d+\/api\/v1\/test\/redis$/m,
    );
    expect(out).toMatch(/^ {5}time {3}run ms {5}ops\/s {2}errors\/s$/m);
    // Rows of calls with their rates, the marks between them.
    expect(out).toMatch(/^ +\+\d+\.\d\d s +\d+ +[\d,]+ +0$/m);
    expect(out).toMatch(/^ +\+\d+\.\d\d s {2}▶ TestFailover called on node group 0001$/m);
    expect(out).toMatch(/^Longest error window: (\d+) ms, \+\d+\.\d\d s → \+\d+\.\d\d s/m);
    expect(out).toMatch(
      /^First write after the failover: \+\d+\.\d\d s, \d+ ms after TestFailover was called\.$/m,
    );
    expect(out).toMatch(
      /^FAIL: The longest error window, \d+ ms, is not shorter than --max-error-window-ms 1\.$/m,
    );
    // Only this drill's events: not those of the drill before, a moment ago.
    expect(out.match(/Test Failover API called/g)).toHaveLength(1);
    // Progress went to stderr.
    expect(result.stderr).toMatch(
      /failover-drill: \[\+\d+\.\d\d s\] TestFailover called on node group 0001/,
    );
  });

  test('refuses a cache without automatic failover, and one that is not available', async () => {
    const before = testFailoverCalls().length;
    const plain = await run(drillArgs('plain', '--yes'));
    expect(plain.code).toBe(1);
    expect(plain.stderr).toContain(
      'refusing to run: replication group "plain" has automatic failover disabled: TestFailover needs it enabled',
    );
    const busy = await run(drillArgs('busy', '--yes'));
    expect(busy.code).toBe(1);
    expect(busy.stderr).toContain('replication group "busy" is modifying, not available');
    const missing = await run(drillArgs('nowhere', '--yes'));
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('ElastiCache has no replication group "nowhere" in eu-west-1');
    expect(testFailoverCalls().length).toBe(before);
    expect(plain.stdout + busy.stdout + missing.stdout).toBe('');
  });

  test('TestFailover refused by IAM: what to grant, the traffic stopped, exit 1', async () => {
    api.deny('TestFailover');
    try {
      const result = await run(drillArgs(GROUP, '--yes'));
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(
        /failover-drill: ElastiCache refused TestFailover \(User: .* is not authorized to perform: elasticache:TestFailover .*\): the identity needs elasticache:TestFailover on replication group orders\n$/,
      );
      expect(result.stdout).toBe('');
    } finally {
      api.deny('TestFailover', false);
    }
  });

  test('without --yes and no terminal to ask on: refuses before asking AWS anything, exit 2', async () => {
    const calls = api.calls.length;
    const result = await run(drillArgs(GROUP));
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(
      'refusing to run without confirmation: the drill fails over the primary of "orders", and stdin is not a terminal to ask on. Add --yes to confirm.',
    );
    expect(api.calls.length).toBe(calls);
  });

  test('an API that cannot be reached: TestFailover is not called, exit 1', async () => {
    const before = testFailoverCalls().length;
    const closed = await freePort();
    const result = await run([...drillArgs(GROUP, '--yes'), '--url', `http://127.0.0.1:${closed}`]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      /the throughput API failed: Cannot reach http:\/\/127\.0\.0\.1:\d+\/api\/v1\/test\/redis \(ECONNREFUSED.*; TestFailover was not called\./,
    );
    expect(testFailoverCalls().length).toBe(before);
  });

  test('usage errors and --help: exit 2 with the usage, exit 0 with it', async () => {
    const missing = await run(['--url', local.url]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(
      /^--cache is required: the replication group id\n\nUsage: npm run failover-drill/,
    );
    const bad = await run(drillArgs(GROUP, '--max-error-window-ms', 'soon'));
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(
      /^--max-error-window-ms: expected a whole number of milliseconds, got "soon"/,
    );
    const help = await run(['--help']);
    expect(help.code).toBe(0);
    for (const option of [
      '--url',
      '--cache',
      '--node-group',
      '--max-error-window-ms',
      '--duration-ms',
      '--yes',
      '--json',
      '--region',
    ]) {
      expect(help.stdout).toContain(`  ${option}`);
    }
    expect(help.stdout).toContain('Exit status: 0 the drill passed');
  });
});
