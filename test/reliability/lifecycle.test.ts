/**
 * The pool across Lambda's lifecycle, in the simulator (real RIC processes, frozen between
 * invocations) against real redis-servers started for each test (test/helpers/fixtures.ts).
 */
import { afterEach, describe, expect } from 'vitest';
import { isProcessAlive } from '../../local/index.js';
import { test } from '../helpers/fixtures.js';
import type { RedisServer } from '../helpers/redis-server.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';
import {
  emfDocuments,
  figure,
  invoke,
  metricOf,
  outcomeOf,
  poolClients,
  quitCalls,
  resultOf,
  sleep,
  startFunction,
  stopFunctions,
  TYPED_POOL_ERRORS,
  warmEnvironments,
  watchCommands,
} from './support.js';

/** For the scenarios that drive many invocations: a loaded machine can take minutes, not
 * seconds, and only a hang should fail them. */
const LONG_TEST_MS = 120_000;

const proxies: TcpProxy[] = [];

afterEach(async () => {
  await stopFunctions();
  await Promise.all(proxies.splice(0).map((proxy) => proxy.close()));
});

describe('warm reuse', () => {
  test('1,000 invocations over 4 environments create exactly 4 connections', {
    timeout: LONG_TEST_MS,
  }, async ({ redisServer: server }) => {
    const sim = await startFunction(server.url, {}, { maxEnvironments: 4 });
    const envIds = await warmEnvironments(sim, 4);
    const reports = [];
    const started = Date.now();
    // Four in flight at a time: Lambda needs four environments, and reuses them.
    for (let round = 0; round < 250; round++) {
      reports.push(...(await Promise.all([0, 1, 2, 3].map(() => invoke(sim, { op: 'ping' })))));
    }
    figure('1,000 invocations over 4 environments (ms)', Date.now() - started);
    for (const report of reports) expect(resultOf(report).value).toBe('PONG');
    expect([...new Set(reports.map((r) => r.environmentId))].sort()).toEqual(envIds.sort());
    expect(reports.filter((r) => r.coldStart)).toHaveLength(0);
    const created = reports.reduce((sum, r) => sum + metricOf(r, 'connectionsCreated'), 0);
    expect(created).toBe(0);
    expect(reports.filter((r) => metricOf(r, 'connectionReused') === 1)).toHaveLength(1_000);
    // Each environment's pool opened one connection in all, warm-up included: four in all.
    for (const id of envIds) {
      const last = reports.filter((r) => r.environmentId === id).at(-1);
      expect(last && resultOf(last).stats.connectionsCreated, id).toBe(1);
    }
    expect(
      (await server.clientList()).filter((c) => c.name?.startsWith('reliability:')),
    ).toHaveLength(4);
  });
});

describe('freeze', () => {
  test('a connection the server dropped for idleness during a freeze is replaced unseen', async ({
    startServer,
  }) => {
    const server = await startServer({ args: ['--timeout', '1'] });
    const sim = await startFunction(server.url);
    const [envId = ''] = await warmEnvironments(sim, 1);
    const [before] = await poolClients(server);
    expect(before?.name).toBeDefined();
    const frozen = await sim.waitFor((env) => env.state === 'frozen');
    expect(frozen.id).toBe(envId);

    // The server closes the connection once it has been idle over a second.
    await expect.poll(() => poolClients(server), { timeout: 5_000, interval: 100 }).toHaveLength(0);

    const second = await invoke(sim, { op: 'ping' }, envId);
    expect(second.environmentId).toBe(envId);
    expect(second.coldStart).toBe(false);
    const result = resultOf(second);
    expect(result.value).toBe('PONG');
    figure('invocation after the idle drop (ms)', Math.round(second.durationMs));
    // Whether the PING of the idle check or the socket's end reached the pool first, the dead
    // connection is discarded and one connection replaces it, inside the acquire.
    const validationFailures = metricOf(second, 'validationFailures');
    figure(
      'how the pool noticed',
      validationFailures === 1 ? 'idle-check PING failed' : 'socket end seen on thaw',
    );
    expect(validationFailures).toBeLessThanOrEqual(1);
    expect(metricOf(second, 'reconnects')).toBe(1);
    expect(metricOf(second, 'connectionsCreated')).toBe(1);
    expect(metricOf(second, 'connectionReused')).toBe(0);
    expect(metricOf(second, 'acquireErrors')).toBe(0);
    expect(result.stats.connectionsLost).toBe(1);
    const after = await poolClients(server);
    expect(after).toHaveLength(1);
    expect(after[0]?.name).not.toBe(before?.name);
  });

  /**
   * A function reaching Redis through a proxy: one invocation connects, the environment is
   * frozen and sits idle past REDIS_IDLE_CHECK_MS (100), the network goes silent (nothing is
   * closed), and the next invocation runs on the thawed environment.
   */
  async function lostWhileFrozen(
    server: RedisServer,
    timeoutMs: number,
    env: Record<string, string> = {},
  ) {
    const proxy = await startTcpProxy(server.port);
    proxies.push(proxy);
    const sim = await startFunction(proxy.url, env, { timeoutMs });
    const [envId = ''] = await warmEnvironments(sim, 1);
    await sim.waitFor((e) => e.id === envId && e.state === 'frozen');
    await sleep(150);
    proxy.blackhole(true);
    const lost = await invoke(sim, { op: 'ping' }, envId);
    return { sim, proxy, envId, lost };
  }

  test('silent network loss during a freeze fails fast with a typed error, then recovers', async ({
    redisServer,
  }) => {
    // A deadline far beyond the acquire timeout, so that what ends the invocation is plainly
    // REDIS_ACQUIRE_TIMEOUT_MS (1000) and not Lambda's deadline.
    const timeoutMs = 10_000;
    const { sim, proxy, envId, lost } = await lostWhileFrozen(redisServer, timeoutMs);
    figure(
      'invocation during the blackhole (ms)',
      `${Math.round(lost.durationMs)} of a ${timeoutMs} ms timeout, ${outcomeOf(lost)}`,
    );
    figure('its acquire (ms; REDIS_ACQUIRE_TIMEOUT_MS 1000)', metricOf(lost, 'acquireLatency'));
    expect(lost.timedOut).toBe(false);
    if (!lost.ok) expect(TYPED_POOL_ERRORS).toContain(lost.error?.errorType);
    // The acquire gives up at REDIS_ACQUIRE_TIMEOUT_MS (1000): in less than half the time the
    // deadline allows (a pool bounded only by the deadline would take 9750 ms). The ratio, not a
    // tight bound, so a runtime starved of CPU for a while on a loaded machine does not fail it.
    expect(lost.durationMs).toBeLessThan(timeoutMs / 2);

    proxy.blackhole(false);
    const healed = Date.now();
    const outcomes: string[] = [];
    for (let attempt = 0; attempt < 10; attempt++) {
      const report = await invoke(sim, { op: 'ping' }, envId);
      outcomes.push(outcomeOf(report));
      expect(report.timedOut).toBe(false);
      if (report.ok) break;
      expect(TYPED_POOL_ERRORS).toContain(report.error?.errorType);
    }
    figure('outcomes after the network came back', outcomes.join(', '));
    figure('network back to first success (ms)', Date.now() - healed);
    expect(outcomes.at(-1)).toBe('ok');
    const later = await invoke(sim, { op: 'ping' }, envId);
    expect(resultOf(later).value).toBe('PONG');
    expect(metricOf(later, 'connectionReused')).toBe(1);
    // The PING of the blackholed invocation may still be waiting when it gives up and the
    // environment freezes: silence counts only while the process runs, so whether the old
    // connection is declared dead (and replaced) or gets its PONG once the network is back
    // depends on timing. Both recover.
    figure(
      'connections through the proxy',
      proxy.totalConnections() === 1
        ? '1 (the old connection survived the outage)'
        : proxy.totalConnections(),
    );
  });

  test('silent network loss: an acquire bounded by the Lambda deadline ends before it', async ({
    redisServer,
  }) => {
    // As above, but the invocation's deadline is what bounds the acquire, not
    // REDIS_ACQUIRE_TIMEOUT_MS, and a connect attempt is longer than the deadline margin. The
    // margin is 1000 ms here (250 by default), so that the order of events below does not depend
    // on how punctually a loaded machine runs the runtime's timers.
    const timeoutMs = 3_000;
    const marginMs = 1_000;
    const { lost } = await lostWhileFrozen(redisServer, timeoutMs, {
      REDIS_ACQUIRE_TIMEOUT_MS: '10000',
      REDIS_CONNECT_TIMEOUT_MS: '3000',
      TEST_DEADLINE_MARGIN_MS: String(marginMs),
    });
    figure(
      'deadline-bound invocation during the blackhole (ms)',
      `${Math.round(lost.durationMs)} of a ${timeoutMs} ms timeout (margin ${marginMs}), ${outcomeOf(lost)}`,
    );
    // The PING fails at 1000 ms and a connect attempt starts, which would give up only at
    // 4000 ms, past Lambda's deadline (3000). The acquire's deadline (3000 - 1000 ms margin)
    // comes first: it must give up then, with a typed error, not wait for that attempt. Had
    // it waited, Lambda would have timed the invocation out, and the acquire would have
    // outlived the deadline.
    expect(outcomeOf(lost)).not.toBe('timeout');
    expect(TYPED_POOL_ERRORS).toContain(lost.error?.errorType);
    expect(metricOf(lost, 'acquireLatency')).toBeLessThan(timeoutMs);
  });
});

describe('deadline', () => {
  test('a handler that overruns on a busy event loop is answered before Lambda times it out', {
    timeout: LONG_TEST_MS,
  }, async ({ redisServer: server }) => {
    // The default timeoutEarlyMs. The handler's synchronous slices (40 ms: a small function's
    // share of a vCPU, or a JSON.parse of a large payload) make the early-timeout timer fire up
    // to one slice late; the release and the metrics flush must still fit before the deadline.
    const sim = await startFunction(server.url, {}, { timeoutMs: 1_500 });
    const [envId] = await warmEnvironments(sim, 1);

    const reports = [];
    for (let i = 0; i < 4; i++) reports.push(await invoke(sim, { op: 'overrun', sliceMs: 40 }));
    figure('overrunning invocations', reports.map(outcomeOf).join(', '));
    figure(
      'answered after (ms, of a 1500 ms timeout)',
      reports.map((r) => Math.round(r.durationMs)).join(', '),
    );

    for (const report of reports) {
      expect(report.timedOut).toBe(false);
      expect(report.error?.errorType).toBe('DeadlineError');
      // Answered in time, so the environment lives on: no cold start after a timeout.
      expect(report.environmentId).toBe(envId);
    }
  });
});

describe('hung server', () => {
  test('a SIGSTOPped server fails invocations before their deadline; they recover after SIGCONT', {
    timeout: LONG_TEST_MS,
  }, async ({ redisServer: server }) => {
    // Far beyond what the pool's own bounds allow a hung call (command and acquire
    // 1000 ms), so that these, not Lambda's deadline, are seen to end the invocations.
    const timeoutMs = 10_000;
    const sim = await startFunction(server.url, {}, { timeoutMs, maxEnvironments: 3 });
    // Three at once: three environments, each with a warm connection.
    const envIds = await warmEnvironments(sim, 3);

    server.pause();
    const hung = [
      // Concurrent, across the three environments…
      ...(await Promise.all(envIds.map((id) => invoke(sim, { op: 'ping' }, id)))),
      // …then one after another on the same one (it now has no connection).
      await invoke(sim, { op: 'ping' }, envIds[0]),
      await invoke(sim, { op: 'set', key: 'k', value: 'v' }, envIds[0]),
    ];
    const surfaced = hung.map(outcomeOf);
    figure('outcomes while the server is stopped', surfaced.join(', '));
    figure(
      'their durations (ms)',
      `${hung.map((r) => Math.round(r.durationMs)).join(', ')} of a ${timeoutMs} ms timeout`,
    );
    for (const report of hung) {
      expect(report.timedOut).toBe(false);
      expect(report.ok).toBe(false);
      // At most half the time the deadline allows; a pool that waited for the deadline would
      // take 9750 ms (a ratio, not a tight bound: a loaded machine can starve a runtime).
      expect(report.durationMs).toBeLessThan(timeoutMs / 2);
    }
    // A command in flight when the server stopped answering fails with ConnectionLostError
    // once the connection has been silent for the command timeout.
    for (const outcome of surfaced) {
      expect([...TYPED_POOL_ERRORS, 'ConnectionLostError']).toContain(outcome);
    }

    server.resume();
    const resumed = Date.now();
    const outcomes: string[] = [];
    let recovered = false;
    for (let round = 0; round < 10 && !recovered; round++) {
      const reports = await Promise.all(envIds.map((id) => invoke(sim, { op: 'ping' }, id)));
      outcomes.push(reports.map(outcomeOf).join('/'));
      for (const report of reports) {
        expect(report.timedOut).toBe(false);
        if (!report.ok) expect(TYPED_POOL_ERRORS).toContain(report.error?.errorType);
      }
      recovered = reports.every((r) => r.ok);
    }
    figure('rounds after SIGCONT (one invocation per environment)', outcomes.join(', '));
    figure('SIGCONT to every environment answering (ms)', Date.now() - resumed);
    expect(recovered).toBe(true);
    await expect.poll(() => poolClients(server), { timeout: 5_000 }).toHaveLength(3);
  });
});

describe('shutdown', () => {
  test('SIGTERM makes the pool QUIT and the process exit; SIGKILL leaves no QUIT', async ({
    redisServer: server,
  }) => {
    const graceMs = 8_000;
    const sim = await startFunction(server.url, {}, { shutdownGraceMs: graceMs });
    const watch = await watchCommands(server);
    try {
      // Each helper call (INFO, CLIENT LIST) ends with a QUIT of its own: count them, to tell
      // the pool's QUITs in cmdstat_quit from ours.
      let helperCalls = 0;
      const clients = () => {
        helperCalls++;
        return poolClients(server);
      };
      const quitsSoFar = async () => {
        const calls = await quitCalls(server);
        return calls - helperCalls++;
      };
      /** QUITs the pool connection at `addr` sent, as MONITOR saw them. */
      const quitsFrom = (addr: string | undefined) =>
        watch.seen.filter((c) => c.command === 'quit' && c.source === addr).length;

      // SIGTERM (Lambda's shutdown, here sim.recycle) on a frozen environment.
      const [terminatedId = ''] = await warmEnvironments(sim, 1);
      await sim.waitFor((env) => env.id === terminatedId && env.state === 'frozen');
      const [conn] = await clients();
      expect(conn?.addr).toBeDefined();
      const quitsBefore = await quitsSoFar();
      const pid = sim.pid(terminatedId) ?? 0;

      const started = Date.now();
      await sim.recycle(terminatedId);
      const shutdownMs = Date.now() - started;
      figure('SIGTERM to exit (ms)', `${shutdownMs} (SIGKILL would come after ${graceMs})`);
      // Before the grace period ran out, when the simulator would have sent SIGKILL: the pool
      // let the process exit by itself (the QUIT count below says it was the pool's doing).
      expect(shutdownMs).toBeLessThan(graceMs);
      expect(sim.environment(terminatedId)?.state).toBe('dead');
      expect(isProcessAlive(pid)).toBe(false);
      await expect.poll(clients).toHaveLength(0);
      const poolQuits = (await quitsSoFar()) - quitsBefore;
      figure('QUITs the pool sent on SIGTERM (cmdstat_quit, less our own)', poolQuits);
      expect(poolQuits).toBe(1);
      await expect.poll(() => quitsFrom(conn?.addr)).toBe(1);

      // Contrast: SIGKILL (a crash, or the end of the grace period) sends nothing.
      const [killedId = ''] = await warmEnvironments(sim, 1);
      expect(killedId).not.toBe(terminatedId);
      await sim.waitFor((env) => env.id === killedId && env.state === 'frozen');
      const [killedConn] = await clients();
      expect(killedConn?.addr).toBeDefined();
      const quitsBeforeKill = await quitsSoFar();
      expect(sim.sendSignal(killedId, 'SIGKILL')).toBe(true);
      await sim.waitFor((env) => env.id === killedId && env.state === 'dead');
      await expect.poll(clients).toHaveLength(0);
      const quitsOnKill = (await quitsSoFar()) - quitsBeforeKill;
      figure('QUITs on SIGKILL', quitsOnKill);
      expect(quitsOnKill).toBe(0);
      expect(quitsFrom(killedConn?.addr)).toBe(0);
    } finally {
      watch.stop();
    }
  });
});

describe('Lambda Managed Instances', () => {
  test('64 invocations, 4 at a time in one environment, share one connection', {
    timeout: LONG_TEST_MS,
  }, async ({ redisServer: server }) => {
    const sim = await startFunction(
      server.url,
      // One worker thread, so every invocation runs in the same module instance (one pool).
      { AWS_LAMBDA_NODEJS_WORKER_COUNT: '1' },
      { perEnvironmentConcurrency: 4, maxEnvironments: 1 },
    );
    let mostInFlight = 0;
    sim.on('environment', (env) => {
      mostInFlight = Math.max(mostInFlight, env.inFlight);
    });
    const reports = [];
    const started = Date.now();
    for (let round = 0; round < 4; round++) {
      const batch = Array.from({ length: 16 }, (_, i) =>
        invoke(sim, { op: 'rpush', key: 'mi', value: `${round}:${i}` }),
      );
      reports.push(...(await Promise.all(batch)));
    }
    figure('64 invocations, 16 submitted at a time (ms)', Date.now() - started);
    for (const report of reports) expect(typeof resultOf(report).value).toBe('number');
    expect(new Set(reports.map((r) => r.environmentId)).size).toBe(1);
    expect(new Set(reports.map((r) => resultOf(r).pid)).size).toBe(1);
    expect(mostInFlight).toBe(4);
    expect(await server.cli('LLEN', 'mi')).toBe('64');
    expect(await poolClients(server)).toHaveLength(1);

    // The pool's EMF lines are raw stdout lines (not console.log) without a request id,
    // and a worker thread's stdout reaches the log after its response: with four in flight the
    // simulator cannot say whose each one is. Count them in the environment's whole log instead.
    const envId = reports[0]?.environmentId ?? '';
    await expect.poll(() => emfDocuments(sim.logs(envId)).length).toBe(64);
    const docs = emfDocuments(sim.logs(envId));
    // Whole: no document torn or split over lines, each declaring and valuing every metric.
    expect(sim.logs(envId).filter((l) => l.includes('RedisAcquireLatency'))).toHaveLength(64);
    for (const doc of docs) {
      const declared = doc._aws.CloudWatchMetrics[0]?.Metrics.map((m) => m.Name) ?? [];
      expect(declared).toHaveLength(10);
      for (const name of declared) expect(typeof doc[name]).toBe('number');
    }
    const sum = (name: string) => docs.reduce((total, doc) => total + Number(doc[name]), 0);
    expect(sum('RedisConnectionsCreated')).toBe(1);
    expect(sum('RedisAcquireErrors')).toBe(0);
    expect(sum('RedisPoolColdStart')).toBe(1);
    figure('leases that found the connection already open', sum('RedisConnectionReused'));
  });

  test('with two worker threads, each loads the module and holds its own pool', {
    timeout: LONG_TEST_MS,
  }, async ({ redisServer: server }) => {
    // The runtime runs the handler once per worker thread: the budget is per worker.
    const sim = await startFunction(
      server.url,
      { AWS_LAMBDA_NODEJS_WORKER_COUNT: '2' },
      { perEnvironmentConcurrency: 4, maxEnvironments: 1 },
    );
    // Which worker thread takes an event is up to the runtime, and one that a loaded machine
    // starts late takes none until it polls: batches of eight until both have served (each
    // pool then holds its connection), for 30 s at most.
    const reports = [];
    const until = Date.now() + 30_000;
    while ((await poolClients(server)).length < 2 && Date.now() < until) {
      const batch = Array.from({ length: 8 }, () => invoke(sim, { op: 'sleep', ms: 20 }));
      reports.push(...(await Promise.all(batch)));
    }
    const served = reports.filter((r) => r.ok);
    for (const report of reports.filter((r) => !r.ok)) {
      // A cold first connect may miss the acquire timeout on a loaded machine.
      expect(TYPED_POOL_ERRORS, JSON.stringify(report.error)).toContain(report.error?.errorType);
    }
    expect(new Set(served.map((r) => resultOf(r).pid)).size).toBe(1);
    const clients = await poolClients(server);
    figure('connections of one environment with 2 workers', clients.length);
    // One process, two module instances, two pools: their names carry two environment ids.
    expect(clients).toHaveLength(2);
    expect(new Set(clients.map((c) => c.name?.split(':')[1])).size).toBe(2);
  });
});
