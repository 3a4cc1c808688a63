/**
 * The pool under server and network faults, in the simulator (real RIC processes, frozen
 * between invocations) against real redis-servers: a SIGKILLed and restarted server, an
 * ElastiCache-style failover, a server at maxclients, and 50 environments cold-starting
 * while Redis is down.
 */

import { availableParallelism } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { Redis } from 'ioredis';
import { afterEach, describe, expect } from 'vitest';
import type { InvocationReport, LambdaSimulator } from '../../local/index.js';
import { METRIC_NAMES } from '../../src/index.js';
import { test } from '../helpers/fixtures.js';
import { parseEmf } from '../helpers/lambda.js';
import { freePort } from '../helpers/redis-server.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';
import { figure, invoke, startFunction, stopFunctions, warmEnvironments } from './support.js';

const cleanups: Array<() => Promise<void>> = [];

afterEach(async () => {
  await stopFunctions();
  await Promise.all(cleanups.splice(0).map((cleanup) => cleanup()));
});

// ---- helpers ---------------------------------------------------------------------------

/** One invocation as the driver saw it. */
interface Outcome {
  environmentId: string;
  /** The value it wrote, for writes. */
  value: string | undefined;
  ok: boolean;
  timedOut: boolean;
  errorType: string | undefined;
  errorMessage: string | undefined;
  /** Date.now() when invoke() was called and when its report arrived. */
  start: number;
  end: number;
  /** Connect attempts that failed in this environment since its previous report (EMF). */
  failedAttempts: number;
  /** RedisUnavailableError's "next attempt in N ms": when the pool will try again. */
  retryInMs: number | undefined;
}

async function run(
  sim: LambdaSimulator,
  event: Parameters<typeof invoke>[1],
  environmentId?: string,
): Promise<Outcome> {
  const start = Date.now();
  const report = await invoke(sim, event, environmentId);
  return {
    environmentId: report.environmentId,
    value: event.op === 'rpush' ? event.value : undefined,
    ok: report.ok,
    timedOut: report.timedOut,
    errorType: report.error?.errorType,
    errorMessage: report.error?.errorMessage,
    start,
    end: Date.now(),
    failedAttempts: failedAttemptsOf(report),
    retryInMs: retryInOf(report.error?.errorMessage),
  };
}

/** RedisConnectionsFailed of the invocation's EMF document; 0 when there is none. */
function failedAttemptsOf(report: InvocationReport): number {
  const line = report.logs.find((l) => l.includes('"_aws"'));
  if (line === undefined) return 0;
  const value = parseEmf(line)[METRIC_NAMES.connectionsFailed];
  return typeof value === 'number' ? value : 0;
}

function retryInOf(message: string | undefined): number | undefined {
  const match = /next attempt in (\d+) ms/.exec(message ?? '');
  return match?.[1] === undefined ? undefined : Number(match[1]);
}

/** "errorType: message" of each failure, numbers (ports, ms) blanked, with its count. */
function errorKinds(outcomes: readonly Outcome[]): string {
  const kinds = new Map<string, number>();
  for (const o of outcomes) {
    if (o.ok) continue;
    const kind = `${o.errorType}: ${(o.errorMessage ?? '').replace(/\d+/g, 'N')}`;
    kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
  }
  return [...kinds].map(([kind, n]) => `${n} × ${kind}`).join(' | ') || 'none';
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `check` every 50 ms until it returns true; throws `failure()` after `timeoutMs`, or at
 * once when `abort()` says why waiting is pointless. */
async function waitFor(
  check: () => boolean,
  timeoutMs: number,
  failure: () => string,
  abort: () => string | undefined = () => undefined,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    const reason = abort();
    if (reason !== undefined) throw new Error(reason);
    if (Date.now() > deadline) throw new Error(`${failure()} (after ${timeoutMs} ms)`);
    await sleep(50);
  }
}

/** Counts of `times` per `windowMs` window over [from, to). */
function perWindow(times: readonly number[], from: number, to: number, windowMs: number): number[] {
  const counts = new Array<number>(Math.max(1, Math.ceil((to - from) / windowMs))).fill(0);
  for (const t of times) {
    if (t < from || t >= to) continue;
    const i = Math.floor((t - from) / windowMs);
    counts[i] = (counts[i] ?? 0) + 1;
  }
  return counts;
}

async function proxyTo(port: number): Promise<TcpProxy> {
  const proxy = await startTcpProxy(port);
  cleanups.push(() => proxy.close());
  return proxy;
}

/** The test's own connection, opened before the server fills up; it never retries. */
async function adminConnection(port: number): Promise<Redis> {
  const admin = new Redis({
    host: '127.0.0.1',
    port,
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  admin.on('error', () => {
    // Surfaced through the rejected command.
  });
  cleanups.push(async () => admin.disconnect());
  await admin.connect();
  return admin;
}

function infoField(info: string, field: string): number {
  const match = new RegExp(`^${field}:(\\d+)`, 'm').exec(info);
  if (match?.[1] === undefined) throw new Error(`no ${field} in INFO`);
  return Number(match[1]);
}

/** A TCP proxy (test/helpers/tcp-proxy.ts) run on a thread of its own. */
interface ThreadProxy {
  readonly url: string;
  /** Date.now() of each accepted connection, taken on the proxy's thread: a busy test thread
   * (50 environments to drive) does not delay or bunch them. */
  acceptedAt(): Promise<number[]>;
}

type FromProxyThread = { url: string } | { acceptedAt: number[] } | { error: string };

// Plain JS (eval workers are CommonJS); Node strips the types of tcp-proxy.ts as it loads it.
const PROXY_THREAD = `
const { parentPort, workerData } = require('node:worker_threads');
import(workerData.module).then(async ({ startTcpProxy }) => {
  const proxy = await startTcpProxy(workerData.target);
  parentPort.on('message', async (message) => {
    if (message === 'acceptedAt') parentPort.postMessage({ acceptedAt: proxy.acceptedAt() });
    if (message === 'close') {
      await proxy.close();
      parentPort.close();
    }
  });
  parentPort.postMessage({ url: proxy.url });
}, (error) => parentPort.postMessage({ error: String(error) }));
`;

async function threadProxyTo(port: number): Promise<ThreadProxy> {
  const worker = new Worker(PROXY_THREAD, {
    eval: true,
    workerData: { module: new URL('../helpers/tcp-proxy.ts', import.meta.url).href, target: port },
  });
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  cleanups.push(async () => {
    worker.postMessage('close');
    const timer = setTimeout(() => void worker.terminate(), 2_000);
    await exited;
    clearTimeout(timer);
  });
  const next = () =>
    new Promise<FromProxyThread>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
  const first = await next();
  if (!('url' in first)) throw new Error(`proxy thread: ${JSON.stringify(first)}`);
  return {
    url: first.url,
    async acceptedAt() {
      const reply = next();
      worker.postMessage('acceptedAt');
      const message = await reply;
      if (!('acceptedAt' in message)) throw new Error(`proxy thread: ${JSON.stringify(message)}`);
      return message.acceptedAt;
    },
  };
}

/**
 * The functions' timeout in these scenarios. Far beyond the pool's own bounds (command and
 * connect 1000 ms, acquire 250-1000 ms), so "no invocation timed out" still catches a pool that
 * hangs, while a runtime that a loaded machine starves of CPU for a second does not fail it.
 * (Deadline behaviour itself is lifecycle.test.ts's subject.)
 */
const LAMBDA_TIMEOUT_MS = 10_000;
/** How long a phase may take to reach its condition: only a failing run waits this long. */
const PHASE_TIMEOUT_MS = 30_000;

/** The typed errors an invocation may end with while Redis is down. */
const TYPED_ERRORS = /^(RedisUnavailableError|AcquireTimeoutError)$/;

// ---- scenarios -------------------------------------------------------------------------

describe('server restart under sustained writes', () => {
  test('SIGKILL + restart: every acknowledged write survives, every lost one is an error', {
    timeout: 4 * PHASE_TIMEOUT_MS,
  }, async ({ startServer }) => {
    const server = await startServer({ args: ['--appendonly', 'yes', '--appendfsync', 'always'] });
    const sim = await startFunction(
      server.url,
      {},
      { maxEnvironments: 3, timeoutMs: LAMBDA_TIMEOUT_MS },
    );
    const key = 'restart:writes';
    const writes: Outcome[] = [];
    let next = 0;
    let driving = true;
    // Three writers, so three environments, each writing values no one else writes. A writer
    // never rejects (an error is recorded), and all are awaited however the phases end, so
    // none of them still writes after this test's teardown.
    const writerErrors: string[] = [];
    const writer = async () => {
      try {
        while (driving) writes.push(await run(sim, { op: 'rpush', key, value: `v${next++}` }));
      } catch (error) {
        writerErrors.push(error instanceof Error ? error.message : String(error));
      }
    };
    const writers = [writer(), writer(), writer()];

    let killedAt = 0;
    let restartAt = 0;
    let upAt = 0;
    try {
      await expect
        .poll(() => writes.filter((w) => w.ok).length, { timeout: PHASE_TIMEOUT_MS })
        .toBeGreaterThanOrEqual(30);
      killedAt = Date.now();
      await server.kill();
      // Down until the pool has given up on at least one acquire.
      await expect
        .poll(
          () => writes.some((w) => w.start > killedAt && w.errorType === 'RedisUnavailableError'),
          { timeout: PHASE_TIMEOUT_MS },
        )
        .toBe(true);
      restartAt = Date.now();
      await server.restart();
      upAt = Date.now();
      await expect
        .poll(() => writes.filter((w) => w.ok && w.start > upAt).length, {
          timeout: PHASE_TIMEOUT_MS,
        })
        .toBeGreaterThanOrEqual(30);
    } finally {
      driving = false;
      await Promise.all(writers);
    }
    expect(writerErrors).toEqual([]);

    const stored = (await server.cli('LRANGE', key, '0', '-1')).split('\n').filter(Boolean);
    const onServer = new Set(stored);
    const acked = writes.filter((w) => w.ok);
    const failed = writes.filter((w) => !w.ok);
    const firstAck = Math.min(...acked.filter((w) => w.end > restartAt).map((w) => w.end));
    figure('writes acknowledged / failed', `${acked.length} / ${failed.length}`);
    figure('environments', new Set(writes.map((w) => w.environmentId)).size);
    figure('SIGKILL → restart() called (ms)', restartAt - killedAt);
    figure('restart() called → server answering (ms)', upAt - restartAt);
    figure('restart() called → first acknowledged write (ms)', firstAck - restartAt);
    figure(
      'failed writes that are on the server anyway (reply lost)',
      failed.filter((w) => onServer.has(w.value ?? '')).length,
    );
    figure('errors seen', errorKinds(writes));

    expect(acked.filter((w) => !onServer.has(w.value ?? '')).map((w) => w.value)).toEqual([]);
    expect(stored.length, 'no value stored twice').toBe(onServer.size);
    expect(writes.filter((w) => w.timedOut)).toEqual([]);
    expect(failed.length).toBeGreaterThan(0);
    for (const w of failed) {
      // A typed pool error: a ConnectionLostError for a write in flight at the SIGKILL.
      expect(`${w.errorType}: ${w.errorMessage}`).toMatch(
        /^(RedisUnavailableError|AcquireTimeoutError|ConnectionLostError): /,
      );
    }
  });
});

describe('failover', () => {
  test('READONLY after an ElastiCache-style failover drops the connection; writes resume on the new primary', {
    timeout: 4 * PHASE_TIMEOUT_MS,
  }, async ({ startServer }) => {
    // Full syncs start at once instead of after diskless sync's 5 s default delay.
    const sync = ['--repl-diskless-sync-delay', '0'];
    const a = await startServer({ args: sync });
    const b = await startServer({ args: [...sync, '--replicaof', '127.0.0.1', String(a.port)] });
    await expect
      .poll(async () => /master_link_status:up/.test(await b.cli('INFO', 'replication')), {
        timeout: PHASE_TIMEOUT_MS,
      })
      .toBe(true);
    const proxy = await proxyTo(a.port);
    const sim = await startFunction(
      proxy.url,
      {},
      { maxEnvironments: 2, timeoutMs: LAMBDA_TIMEOUT_MS },
    );
    const key = 'failover:writes';
    let next = 0;
    const write = (environmentId?: string) =>
      run(sim, { op: 'rpush', key, value: `v${next++}` }, environmentId);

    // Two environments, each with a working connection, before anything is counted.
    const warm = await warmEnvironments(sim, 2);
    const before: Outcome[] = [];
    for (let round = 0; round < 5; round++) {
      before.push(...(await Promise.all(warm.map((id) => write(id)))));
    }
    expect(before.filter((o) => !o.ok)).toEqual([]);
    const envs = [...new Set(before.map((o) => o.environmentId))];
    expect(envs).toHaveLength(2);
    // Everything acknowledged so far has reached the replica: the failover loses nothing.
    await expect
      .poll(() => b.cli('LLEN', key), { timeout: PHASE_TIMEOUT_MS })
      .toBe(String(before.length));

    // As ElastiCache does it: promote the replica, demote the old primary, flip the DNS of
    // the endpoint. Connections already open stay on the old primary.
    await b.cli('REPLICAOF', 'NO', 'ONE');
    await a.cli('REPLICAOF', '127.0.0.1', String(b.port));
    proxy.setTarget(b.port);
    const failedOverAt = Date.now();

    const after: Outcome[] = [];
    const recovery = await Promise.all(
      envs.map(async (id) => {
        const mine: Outcome[] = [];
        const recovered = () => mine.length >= 3 && mine.slice(-3).every((o) => o.ok);
        // Until three writes in a row succeed, ten at most.
        while (mine.length < 10 && !recovered()) {
          const o = await write(id);
          mine.push(o);
          after.push(o);
        }
        const firstOk = mine.findIndex((o) => o.ok);
        return { id, recovered: recovered(), firstOk, at: mine[firstOk]?.end ?? Number.NaN };
      }),
    );
    const onB = new Set((await b.cli('LRANGE', key, '0', '-1')).split('\n').filter(Boolean));
    figure(
      'failed writes before the first success, per environment',
      recovery.map((r) => r.firstOk).join(', '),
    );
    figure(
      'failover → first successful write, per environment (ms)',
      recovery.map((r) => r.at - failedOverAt).join(', '),
    );
    figure('errors seen', errorKinds(after));

    for (const r of recovery) {
      expect(r.recovered, `${r.id} writes again`).toBe(true);
      // The old connection costs at most the one write that finds it read-only (none when a
      // PING check finds the demoted server LOADING and replaces the connection first).
      expect(r.firstOk, r.id).toBeLessThanOrEqual(1);
    }
    expect(after.filter((o) => o.timedOut)).toEqual([]);
    for (const o of after.filter((w) => !w.ok)) {
      expect(`${o.errorType}: ${o.errorMessage}`).toMatch(/^ReplyError: (READONLY|LOADING) /);
    }
    const acked = [...before, ...after].filter((o) => o.ok);
    expect(acked.filter((o) => !onB.has(o.value ?? '')).map((o) => o.value)).toEqual([]);
    expect(await a.cli('ROLE')).toMatch(/^slave/);
    // The pool let go of the old primary.
    await expect
      .poll(async () => (await a.clientList()).filter((c) => c.name?.startsWith('reliability:')))
      .toEqual([]);
  });
});

describe('maxclients reached', () => {
  test('the excess environments fail naming the cause, back off, and recover once there is room', {
    timeout: 4 * PHASE_TIMEOUT_MS,
  }, async ({ startServer }) => {
    // Three slots: the test's own connection and two environments.
    const server = await startServer({ args: ['--maxclients', '3'] });
    const admin = await adminConnection(server.port);
    const stats = async () => {
      const info = await admin.info('stats');
      return {
        // Redis counts a connection refused at maxclients only as rejected, not as received.
        accepted: infoField(info, 'total_connections_received'),
        rejected: infoField(info, 'rejected_connections'),
      };
    };
    const retryMaxMs = 2_000;
    const sim = await startFunction(
      server.url,
      {
        // An invocation arriving while the next permitted attempt is more than 250 ms away
        // fails at once; one within reach waits for it.
        REDIS_ACQUIRE_TIMEOUT_MS: '250',
        REDIS_RETRY_BASE_MS: '100',
        REDIS_RETRY_MAX_MS: String(retryMaxMs),
        // What keeps an admitted environment's connection is not this scenario's subject: no
        // idle-check PING, and a command timeout no stall of a loaded machine reaches (at
        // load average 30 a PING took over the default 1 s, and the slot went to another).
        REDIS_COMMAND_TIMEOUT_MS: '5000',
        REDIS_IDLE_CHECK_MS: '600000',
      },
      { maxEnvironments: 4, timeoutMs: LAMBDA_TIMEOUT_MS },
    );
    const before = await stats();
    const started = Date.now();
    const outcomes = await Promise.all([0, 1, 2, 3].map(() => run(sim, { op: 'ping' })));
    const envs = [...new Set(outcomes.map((o) => o.environmentId))];
    expect(envs).toHaveLength(4);
    // Settle before counting: on a loaded machine a first connect can still be opening when
    // its 250 ms acquire gives up. Such an environment is invoked again until it is in (ok)
    // or refused (the server's own error).
    const settled = (id: string) => {
      const last = outcomes.filter((o) => o.environmentId === id).at(-1);
      return (
        last !== undefined && (last.ok || /max number of clients/.test(last.errorMessage ?? ''))
      );
    };
    await Promise.all(
      envs.map(async (id) => {
        for (let attempt = 0; attempt < 50 && !settled(id); attempt++) {
          await sleep(50);
          outcomes.push(await run(sim, { op: 'ping' }, id));
        }
        expect(settled(id), `${id} neither in nor refused`).toBe(true);
      }),
    );

    // Each environment invoked again 10 ms after each answer: for 2 s, and until every refused
    // one has had `turnedAwayWanted` invocations that the backoff turned away (failed without
    // a connect attempt). A count, not a duration: a slow machine only takes longer to get it.
    const turnedAwayWanted = 3;
    const drivenFrom = Date.now();
    const until = drivenFrom + 2_000;
    const giveUpAt = drivenFrom + 30_000;
    const admittedAtOnce = new Set(outcomes.filter((o) => o.ok).map((o) => o.environmentId));
    expect(admittedAtOnce.size).toBe(2);
    const turnedAway = (id: string) =>
      outcomes.filter(
        (o) => o.environmentId === id && o.start >= drivenFrom && !o.ok && o.failedAttempts === 0,
      ).length;
    const keepDriving = (id: string) =>
      Date.now() < until ||
      (!admittedAtOnce.has(id) && turnedAway(id) < turnedAwayWanted && Date.now() < giveUpAt);
    await Promise.all(
      envs.map(async (id) => {
        while (keepDriving(id)) {
          outcomes.push(await run(sim, { op: 'ping' }, id));
          await sleep(10);
        }
      }),
    );
    const seconds = (Date.now() - started) / 1000;
    const after = await stats();
    const rejected = after.rejected - before.rejected;
    const admitted = envs.filter((id) => outcomes.some((o) => o.environmentId === id && o.ok));
    const refused = envs.filter((id) => !admitted.includes(id));
    const refusedOutcomes = outcomes.filter((o) => refused.includes(o.environmentId));
    const driven = refusedOutcomes.filter((o) => o.start >= drivenFrom);
    const perEnvSecond = rejected / refused.length / seconds;
    figure('environments admitted / refused', `${admitted.length} / ${refused.length}`);
    figure(
      'refused environments: invocations / connect attempts (server: rejected_connections)',
      `${refusedOutcomes.length} / ${rejected}`,
    );
    figure(
      'connections the server accepted / rejected / failed attempts the pools counted',
      `${after.accepted - before.accepted} / ${rejected} / ${outcomes.reduce((n, o) => n + o.failedAttempts, 0)}`,
    );
    figure('attempts per refused environment per second', perEnvSecond.toFixed(1));
    figure(
      'refused environments: invocations turned away without an attempt',
      refused.map(turnedAway).join(', '),
    );
    figure('errors seen', errorKinds(outcomes));

    expect(admitted).toHaveLength(2);
    const admittedFailures = outcomes.filter(
      (o) => admitted.includes(o.environmentId) && o.start >= drivenFrom && !o.ok,
    );
    expect(admittedFailures, 'the admitted environments keep their connections').toEqual([]);
    expect(outcomes.filter((o) => o.timedOut)).toEqual([]);
    // Retries back off: invocations that find the next permitted attempt out of reach fail at
    // once without one (a client without backoff makes one per invocation), and the attempts
    // stay at a couple per second, nothing like a tight loop. Both are counts of what the pool
    // did, not of how many invocations a loaded machine managed to drive meanwhile.
    expect(rejected).toBeGreaterThan(0);
    for (const id of refused) expect(turnedAway(id), id).toBeGreaterThanOrEqual(turnedAwayWanted);
    expect(perEnvSecond).toBeLessThan(5);
    for (const o of driven) {
      expect(o.ok).toBe(false);
      // Typed; mostly RedisUnavailableError, an AcquireTimeoutError when an attempt was still
      // waiting for the server's answer as the 250 ms acquire ran out.
      expect(o.errorType).toMatch(TYPED_ERRORS);
    }
    // The error names the cause, so whoever reads it looks at maxclients, not the network:
    // in every refused environment. (Not in every error: on a loaded machine an attempt can
    // also time out before the server's refusal arrives, and later errors repeat the last
    // attempt's cause. Soft: the recovery below is checked whatever this finds.)
    const names = (o: Outcome) => /max number of clients reached/.test(o.errorMessage ?? '');
    const unnamed = refused.filter((id) => !driven.some((o) => o.environmentId === id && names(o)));
    expect.soft(unnamed, 'refused environments whose errors never name the cause').toEqual([]);
    figure(
      'driven errors that name the cause',
      `${driven.filter(names).length} of ${driven.length}`,
    );

    await admin.config('SET', 'maxclients', '100');
    const freedAt = Date.now();
    const recovered = await Promise.all(
      refused.map(async (id) => {
        for (;;) {
          const o = await run(sim, { op: 'ping' }, id);
          if (o.ok) return o.end;
          if (Date.now() - freedAt > retryMaxMs + 10_000)
            throw new Error(`${id}: ${o.errorMessage}`);
          await sleep(10);
        }
      }),
    );
    figure('room made → every environment succeeds (ms)', Math.max(...recovered) - freedAt);
    const final = await Promise.all(envs.map((id) => run(sim, { op: 'ping' }, id)));
    expect(final.filter((o) => !o.ok)).toEqual([]);
  });
});

describe('scale-out storm', () => {
  /** Lambda scales out by up to 1,000 environments at a time; this machine is smaller. */
  const mostEnvironments = 50;
  /** Fewer, and the figures would say little about a storm. */
  const fewestEnvironments = 10;
  /** Lambda's limit for one init phase. */
  const lambdaInitLimitMs = 10_000;
  const windowMs = 250;
  const acquireTimeoutMs = 250;
  const retryBaseMs = 100;
  const retryMaxMs = 1_000;
  /** Failed attempts after which an environment's backoff window is the cap: 100 · 2^4 > 1 s. */
  const attemptsToCap = 5;
  /** The cap is measured for at least this long, and until there are this many fresh draws. */
  const capAtLeastMs = 1_500;
  const capDraws = 100;
  // Generous limits: what is measured is the pool's backoff, not how fast a loaded machine
  // forks runtimes (init) or runs them (a function timeout would still fail the test, and
  // the pool's own bounds are 250 ms to 1 s). Only a failing run waits for a phase's limit.
  const initTimeoutMs = 60_000;
  const functionTimeoutMs = 30_000;
  const phaseTimeoutMs = 60_000;

  /**
   * How many environments this machine can cold-start within Lambda's init limit, judged by
   * how long a few took when started together just before (`initMs`, one per environment):
   * the storm scales with the machine and with whatever else it runs at the time; what is
   * checked about the storm does not.
   */
  function stormSize(initMs: readonly number[]): number {
    const perSecond = initMs.length / (Math.max(...initMs) / 1000);
    const fit = Math.floor((perSecond * lambdaInitLimitMs) / 1000);
    return Math.max(fewestEnvironments, Math.min(mostEnvironments, fit));
  }

  test(`up to ${mostEnvironments} environments cold-start while Redis is down: jittered, bounded attempts, all recover`, {
    timeout: initTimeoutMs + 4 * phaseTimeoutMs,
  }, async ({ startServer }) => {
    // Nothing listens on `port` yet: the proxy accepts (counting the attempt), fails to
    // reach upstream and closes the client's connection.
    const port = await freePort();
    const proxy = await threadProxyTo(port);
    const sim = await startFunction(
      proxy.url,
      {
        // An invocation arriving while the next permitted attempt is more than 250 ms away
        // fails at once; one within reach waits for it.
        REDIS_ACQUIRE_TIMEOUT_MS: String(acquireTimeoutMs),
        REDIS_RETRY_BASE_MS: String(retryBaseMs),
        REDIS_RETRY_MAX_MS: String(retryMaxMs),
      },
      { maxEnvironments: mostEnvironments, timeoutMs: functionTimeoutMs, initTimeoutMs },
    );
    // Warm-up, not part of the storm: two environments per core cold-started together, timed
    // and retired.
    const probes = await Promise.all(
      Array.from({ length: 2 * availableParallelism() }, () => invoke(sim, { op: 'ping' })),
    );
    const probeInitMs = probes.map((r) => r.initMs ?? lambdaInitLimitMs);
    await Promise.all(probes.map((r) => sim.recycle(r.environmentId)));
    const environments = stormSize(probeInitMs);

    const lag = monitorEventLoopDelay({ resolution: 10 });
    lag.enable();
    const began = Date.now();
    const cold = await Promise.all(
      Array.from({ length: environments }, () => run(sim, { op: 'ping' })),
    );
    const coldDone = Date.now();
    const envs = [...new Set(cold.map((o) => o.environmentId))];
    expect(envs).toHaveLength(environments);
    // Every cold start got as far as the pool, which answered with a typed outage error.
    expect(errorKinds(cold.filter((o) => !TYPED_ERRORS.test(o.errorType ?? '')))).toBe('none');

    // Every environment is invoked again 25 ms after each answer, until one succeeds. A driver
    // never rejects (an error is recorded), and all of them are awaited before the test ends,
    // whatever happens in between: nothing of this test runs after its teardown.
    const outcomes: Outcome[] = [...cold];
    const attempts = new Map<string, number>();
    const firstOk = new Map<string, number>();
    const driverErrors: string[] = [];
    /** Fresh backoff draws at the cap: "next attempt in N ms" right after a failed attempt. */
    const draws: number[] = [];
    for (const o of cold) attempts.set(o.environmentId, o.failedAttempts);
    let driving = true;
    const drive = async (id: string) => {
      while (driving) {
        const o = await run(sim, { op: 'ping' }, id);
        outcomes.push(o);
        const total = (attempts.get(id) ?? 0) + o.failedAttempts;
        attempts.set(id, total);
        if (o.ok) {
          firstOk.set(id, o.end);
          return;
        }
        if (o.failedAttempts > 0 && total >= attemptsToCap && o.retryInMs !== undefined) {
          draws.push(o.retryInMs);
        }
        await sleep(25);
      }
    };
    const drivers = envs.map((id) =>
      drive(id).catch((error: unknown) => {
        driverErrors.push(`${id}: ${error instanceof Error ? error.message : String(error)}`);
      }),
    );
    const driverFailed = () => (driverErrors.length > 0 ? driverErrors.join('; ') : undefined);
    const behind = () => envs.filter((id) => (attempts.get(id) ?? 0) < attemptsToCap);

    let capFrom = 0;
    let serverAt = 0;
    let upAt = 0;
    try {
      await waitFor(
        () => behind().length === 0,
        phaseTimeoutMs,
        () => `backoff not at its cap in ${behind().join(', ')}`,
        driverFailed,
      );
      capFrom = Date.now();
      const drawsBefore = draws.length;
      await waitFor(
        () => Date.now() - capFrom >= capAtLeastMs && draws.length - drawsBefore >= capDraws,
        phaseTimeoutMs,
        () => `only ${draws.length - drawsBefore} attempts at the cap`,
        driverFailed,
      );
      serverAt = Date.now();
      await startServer({ port });
      upAt = Date.now();
      await waitFor(
        () => firstOk.size === environments,
        phaseTimeoutMs,
        () => `not recovered: ${envs.filter((id) => !firstOk.has(id)).join(', ')}`,
        driverFailed,
      );
    } finally {
      driving = false;
      await Promise.all(drivers);
      lag.disable();
    }

    // From the storm's start: the warm-up's attempts are not part of it.
    const outage = (await proxy.acceptedAt()).filter((t) => t >= began && t < serverAt);
    const outageInvocations = outcomes.filter((o) => o.start < serverAt);
    const atCap = outage.filter((t) => t >= capFrom);
    const atCapInvocations = outageInvocations.filter((o) => o.start >= capFrom);
    const all = perWindow(outage, coldDone, serverAt, windowMs);
    const capWindows = perWindow(atCap, capFrom, serverAt, windowMs);
    const capMean = atCap.length / ((serverAt - capFrom) / windowMs);
    const recovered = Math.max(...firstOk.values());
    const mean = (counts: number[]) => counts.reduce((a, b) => a + b, 0) / counts.length;
    const retryIns = outcomes.flatMap((o) => (o.retryInMs === undefined ? [] : [o.retryInMs]));

    figure(
      'storm size: environments (warm-up: inits of that many together, ms)',
      `${environments} (${probeInitMs.length}: ${probeInitMs.map(Math.round).join(', ')})`,
    );
    figure(`cold start of ${environments} environments (ms)`, coldDone - began);
    figure(
      'outage: invocations / connect attempts (a client without backoff: one per invocation)',
      `${outageInvocations.length} / ${outage.length}`,
    );
    figure(
      `attempts per ${windowMs} ms, cold start on`,
      perWindow(outage, began, serverAt, windowMs).join(' '),
    );
    figure(
      `attempts per ${windowMs} ms after the cold start (max / mean)`,
      `${Math.max(...all)} / ${mean(all).toFixed(1)}`,
    );
    figure('cold start done → every backoff at its cap (ms)', capFrom - coldDone);
    figure(
      `attempts per ${windowMs} ms with every backoff at its cap (max / mean)`,
      `${Math.max(...capWindows)} / ${capMean.toFixed(1)}`,
    );
    figure('at the cap: invocations / attempts', `${atCapInvocations.length} / ${atCap.length}`);
    figure(
      'at the cap: attempts per environment per second',
      (atCap.length / environments / ((serverAt - capFrom) / 1000)).toFixed(2),
    );
    figure(
      'fresh draws at the cap: count / min / max (ms)',
      `${draws.length} / ${Math.min(...draws)} / ${Math.max(...draws)}`,
    );
    figure('server start → answering (ms)', upAt - serverAt);
    figure(`server start → all ${environments} environments succeeded (ms)`, recovered - serverAt);
    figure('errors seen', errorKinds(outcomes));
    figure(
      'test thread event-loop delay p99 / max (ms)',
      `${(lag.percentile(99) / 1e6).toFixed(0)} / ${(lag.max / 1e6).toFixed(0)}`,
    );

    expect(driverErrors).toEqual([]);
    expect(firstOk.size).toBe(environments);
    expect(outcomes.filter((o) => o.timedOut)).toEqual([]);
    expect(errorKinds(outcomes.filter((o) => !o.ok && !TYPED_ERRORS.test(o.errorType ?? '')))).toBe(
      'none',
    );
    // Bounded: the pool never put its next attempt further away than the cap, so every
    // environment was at most 1 s from trying again when the server came back (how long the
    // machine then took to get there is a figure, not the pool's decision).
    expect(Math.max(...retryIns)).toBeLessThanOrEqual(retryMaxMs);
    // Bounded in rate: full jitter at the cap means one attempt per environment per 500 ms on
    // average, 25 per window for 50; allow 1.5× that. A slow machine only makes fewer.
    expect(capMean).toBeLessThanOrEqual(1.5 * environments * (windowMs / (retryMaxMs / 2)));
    // Jittered: right after a failed attempt the pool draws the next one anywhere in the
    // window. Without jitter every draw would be the cap itself; spread over half the window
    // at least (checked on what the pool decided, not on when a loaded machine ran it).
    expect(Math.max(...draws) - Math.min(...draws)).toBeGreaterThanOrEqual(retryMaxMs / 2);
  });
});
