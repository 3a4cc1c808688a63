// The local Lambda simulator runs handlers in real RIC processes; these tests pin down the
// behaviour the pool's own tests rely on: warm reuse, deadlines, errors, timeouts, freezing,
// scale-out, log attribution and clean shutdown.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { afterEach, describe, expect, test } from 'vitest';
import {
  type InvocationReport,
  isProcessAlive,
  LambdaSimulator,
  parseLogLine,
  processState,
  type SimulatorOptions,
} from '../../local/index.js';

const fixture = (name: string): string =>
  fileURLToPath(new URL(`../fixtures/local/${name}.ts`, import.meta.url));

// Every simulator a test starts is stopped after it, whatever the test did.
const running: LambdaSimulator[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((sim) => sim.stop()));
});

async function simulate(name: string, options: Omit<SimulatorOptions, 'entry'> = {}) {
  // Not Lambda's 10 s: a loaded machine can take longer to start a runtime, and no test here
  // is about the init phase's limit.
  const sim = await LambdaSimulator.start({
    entry: fixture(name),
    initTimeoutMs: 60_000,
    ...options,
  });
  running.push(sim);
  return sim;
}

function resultOf<T>(report: InvocationReport): T {
  expect(report.ok, JSON.stringify(report.error)).toBe(true);
  return report.result as T;
}

interface Counted {
  pid: number;
  count: number;
  remaining: number;
  requestId: string;
  functionName: string;
  greeting: string;
  tz: string;
}

interface Slept {
  pid: number;
  threadId: number;
  count: number;
  startedAt: number;
  endedAt: number;
}

describe('cold and warm starts', () => {
  test('the second invocation reuses the warm environment and its module state', async () => {
    const sim = await simulate('counter', {
      functionName: 'orders',
      env: { GREETING: 'hello' },
    });

    const cold = await sim.invoke({ n: 1 });
    const warm = await sim.invoke({ n: 2 });

    expect(cold.coldStart).toBe(true);
    expect(cold.initMs).toBeGreaterThan(0);
    expect(warm.coldStart).toBe(false);
    expect(warm.initMs).toBeUndefined();
    expect(warm.environmentId).toBe(cold.environmentId);
    const [first, second] = [resultOf<Counted>(cold), resultOf<Counted>(warm)];
    expect(second.pid).toBe(first.pid);
    expect([first.count, second.count]).toEqual([1, 2]);
    expect(sim.pid(cold.environmentId)).toBe(first.pid);
    // The context and environment are Lambda's.
    expect(first.requestId).toBe(cold.requestId);
    expect(first.functionName).toBe('orders');
    expect(first.greeting).toBe('hello');
    expect(first.tz).toBe(':UTC');
    expect(sim.environments()).toMatchObject([{ id: cold.environmentId, invocations: 2 }]);
  });

  test('getRemainingTimeInMillis() counts down from timeoutMs', async () => {
    const sim = await simulate('counter', { timeoutMs: 2000 });

    const report = await sim.invoke({});
    const { remaining } = resultOf<Counted>(report);

    // The 2000 ms start when the event is handed out; the handler read what was left at some
    // point before it answered, durationMs later (2 ms for the two processes' clock readings).
    expect(remaining).toBeLessThanOrEqual(2000);
    expect(remaining).toBeGreaterThanOrEqual(2000 - report.durationMs - 2);
  });

  test('a module that throws while loading fails its cold start with an init error', async () => {
    const sim = await simulate('init-error');

    const report = await sim.invoke({});

    expect(report).toMatchObject({
      ok: false,
      coldStart: true,
      timedOut: false,
      error: { errorType: 'Error', errorMessage: 'missing REDIS_URL' },
    });
    expect(report.initLogs?.join('\n')).toContain('loading init-error fixture');
    await sim.waitFor((env) => env.id === report.environmentId && env.state === 'dead');
  });
});

describe('errors and timeouts', () => {
  test('a handler error is reported and the environment stays usable', async () => {
    const sim = await simulate('throws');

    const failed = await sim.invoke({ fail: true });
    const next = await sim.invoke({});

    expect(failed).toMatchObject({
      ok: false,
      timedOut: false,
      error: { errorType: 'OrderNotFoundError', errorMessage: 'order 42 does not exist' },
    });
    expect(failed.logs.join('\n')).toContain('Invoke Error');
    expect(next.environmentId).toBe(failed.environmentId);
    expect(resultOf<{ count: number }>(next).count).toBe(2);
  });

  test('an invocation past its timeout is reported at the deadline and its environment killed', async () => {
    const sim = await simulate('sleeper', { timeoutMs: 300 });

    const late = await sim.invoke({ ms: 5000 });

    expect(late).toMatchObject({
      ok: false,
      timedOut: true,
      error: { errorType: 'Sandbox.Timedout', errorMessage: 'Task timed out after 0.30 seconds' },
    });
    // Reported at the deadline: not before it, and not when the handler would have answered.
    expect(late.durationMs).toBeGreaterThanOrEqual(299);
    expect(late.durationMs).toBeLessThan(5000);
    const dead = await sim.waitFor((env) => env.id === late.environmentId && env.state === 'dead');
    expect(processState(dead.pid)).toBeUndefined();

    // The next one cold-starts in a new process. (Whether a cold runtime on a loaded machine
    // answers within 300 ms is not the question here.)
    const after = await sim.invoke({ ms: 1 });
    expect(after.coldStart).toBe(true);
    expect(after.environmentId).not.toBe(late.environmentId);
    expect(sim.pid(after.environmentId)).not.toBe(dead.pid);
  });

  test('a runtime that exits mid-invocation fails it with Runtime.ExitError', async () => {
    const sim = await simulate('crash');

    const report = await sim.invoke({});

    expect(report).toMatchObject({
      ok: false,
      timedOut: false,
      error: { errorType: 'Runtime.ExitError', errorMessage: expect.stringContaining('status 3') },
    });
    expect(report.logs.join('\n')).toContain('about to exit');
  });
});

describe('response streaming', () => {
  test('a streamed response is collected, with its HTTP prelude when it has one', async () => {
    const sim = await simulate('streaming');

    const plain = await sim.invoke({});
    const http = await sim.invoke({ http: true });
    const failed = await sim.invoke({ fail: true });

    expect(resultOf<string>(plain)).toBe('hello world');
    expect(resultOf<object>(http)).toEqual({
      statusCode: 201,
      headers: { 'content-type': 'text/plain' },
      body: 'hello world',
    });
    expect(failed).toMatchObject({
      ok: false,
      error: { errorType: 'Error', errorMessage: 'stream broke' },
    });
  });
});

describe('freezing', () => {
  test('an environment is stopped between invocations and thawed for the next', async () => {
    const sim = await simulate('counter');

    const first = await sim.invoke({});
    const frozen = await sim.waitFor(
      (env) => env.id === first.environmentId && env.state === 'frozen',
    );
    expect(processState(frozen.pid)).toBe('T');

    const second = await sim.invoke({});
    expect(second.environmentId).toBe(first.environmentId);
    expect(resultOf<Counted>(second).count).toBe(2);
    await sim.waitFor((env) => env.id === first.environmentId && env.state === 'frozen');
    expect(processState(frozen.pid)).toBe('T');
  });

  test('with freeze: false the environment keeps running', async () => {
    const sim = await simulate('counter', { freeze: false });

    const report = await sim.invoke({});
    // Give the runtime time to get back to /next, where it would be frozen.
    await new Promise((resolve) => setTimeout(resolve, 150));

    const env = sim.environment(report.environmentId);
    expect(env?.state).toBe('idle');
    expect(processState(env?.pid ?? 0)).not.toBe('T');
    expect(resultOf<Counted>(await sim.invoke({})).count).toBe(2);
  });

  test('idleRecycleMs retires an idle environment; the next invocation cold-starts', async () => {
    const sim = await simulate('counter', { idleRecycleMs: 50 });

    const first = await sim.invoke({});
    const dead = await sim.waitFor((env) => env.id === first.environmentId && env.state === 'dead');
    expect(isProcessAlive(dead.pid)).toBe(false);

    const second = await sim.invoke({});
    expect(second.coldStart).toBe(true);
    expect(second.environmentId).not.toBe(first.environmentId);
  });
});

describe('concurrency', () => {
  const fourAtOnce = (sim: LambdaSimulator, ms: number) =>
    Promise.all([1, 2, 3, 4].map(() => sim.invoke({ ms })));

  test('four concurrent invocations scale out to four environments', async () => {
    const sim = await simulate('sleeper', { maxEnvironments: 4 });

    const reports = await fourAtOnce(sim, 200);

    expect(new Set(reports.map((r) => r.environmentId)).size).toBe(4);
    expect(new Set(reports.map((r) => resultOf<Slept>(r).pid)).size).toBe(4);
    expect(reports.every((r) => r.coldStart)).toBe(true);
    // Warm environments are reused most recently used first, as Lambda does.
    const next = await sim.invoke({ ms: 1 });
    expect(next.environmentId).toBe(reports[3]?.environmentId);
  });

  test('with maxEnvironments 2 they queue onto two environments', async () => {
    const sim = await simulate('sleeper', { maxEnvironments: 2 });

    const reports = await fourAtOnce(sim, 200);

    const used = reports.map((r) => r.environmentId);
    expect(new Set(used).size).toBe(2);
    expect(sim.environments()).toHaveLength(2);
    // Two waited for room. Which environment had room first is up to the machine (one may be
    // slow to start), so not "two each": but no environment ever ran two at once, so on each
    // one every invocation started only after the one before it had ended, and its module
    // counted them 1, 2, … in that order.
    expect(sim.environments().reduce((sum, env) => sum + env.invocations, 0)).toBe(4);
    for (const env of sim.environments()) {
      const onEnv = reports
        .filter((r) => r.environmentId === env.id)
        .map((r) => resultOf<Slept>(r))
        .sort((a, b) => a.count - b.count);
      expect(onEnv.length, env.id).toBe(env.invocations);
      expect(
        onEnv.map((s) => s.count),
        env.id,
      ).toEqual(onEnv.map((_, i) => i + 1));
      for (let i = 1; i < onEnv.length; i++) {
        expect(onEnv[i]?.startedAt, env.id).toBeGreaterThanOrEqual(
          onEnv[i - 1]?.endedAt ?? Number.NaN,
        );
      }
    }

    // An invocation can be pinned to an environment that is not the most recently used one.
    const pinned = await sim.invoke({ ms: 1 }, { environmentId: 'env-1' });
    expect(pinned.environmentId).toBe('env-1');
  });

  test('with perEnvironmentConcurrency 4 one environment serves all four at once', async () => {
    const sim = await simulate('barrier', {
      perEnvironmentConcurrency: 4,
      timeoutMs: 10_000,
      // One worker thread: all four share one module instance (see the report's notes).
      env: { AWS_LAMBDA_NODEJS_WORKER_COUNT: '1' },
    });

    const reports = await Promise.all(
      [1, 2, 3, 4].map(() => sim.invoke({ parties: 4, waitMs: 5_000 })),
    );

    expect(new Set(reports.map((r) => r.environmentId)).size).toBe(1);
    expect(sim.environments()).toHaveLength(1);
    const met = reports.map((r) => resultOf<{ pid: number; arrival: number; met: boolean }>(r));
    expect(new Set(met.map((m) => m.pid)).size).toBe(1);
    expect(met.map((m) => m.arrival).sort()).toEqual([1, 2, 3, 4]);
    // They overlapped: each was in the handler while the other three were too.
    expect(met.map((m) => m.met)).toEqual([true, true, true, true]);
  });
});

describe('logs', () => {
  const tagged = (report: InvocationReport, tag: string) =>
    report.logs.filter((line) => {
      const { message } = parseLogLine(line);
      return message.startsWith(`${tag} `) || message.includes(`"tag":"${tag}"`);
    });

  /** The EMF-style line the printer writes right before it returns. */
  const lastLine = (report: InvocationReport) => {
    const line = report.logs.at(-1) ?? '';
    return JSON.parse(parseLogLine(line).message) as { tag: string; last: number };
  };

  test("every line an invocation prints is in its logs, and in no other invocation's", async () => {
    const sim = await simulate('printer');

    const alpha = await sim.invoke({ tag: 'alpha', lines: 40 });
    const beta = await sim.invoke({ tag: 'beta', lines: 40 });

    expect(beta.environmentId).toBe(alpha.environmentId);
    for (const [report, tag, other] of [
      [alpha, 'alpha', 'beta'],
      [beta, 'beta', 'alpha'],
    ] as const) {
      expect(report.logs).toHaveLength(40);
      expect(tagged(report, tag)).toHaveLength(40);
      expect(tagged(report, other)).toHaveLength(0);
      expect(lastLine(report)).toEqual({ _aws: expect.any(Object), tag, last: 40 });
      // console lines carry the RIC's prefix with this invocation's request id.
      const logged = report.logs.map(parseLogLine).filter((l) => l.requestId !== undefined);
      expect(logged.every((l) => l.requestId === report.requestId)).toBe(true);
    }
  });

  test('the line printed right before returning is never lost', async () => {
    const sim = await simulate('printer', { maxEnvironments: 2 });

    for (let round = 0; round < 10; round++) {
      const tags = [`r${round}a`, `r${round}b`];
      const reports = await Promise.all(
        tags.map((tag) => sim.invoke({ tag, lines: 3, bigLine: true })),
      );
      reports.forEach((report, i) => {
        const tag = tags[i] ?? '';
        expect(report.logs).toHaveLength(4);
        expect(tagged(report, tag)).toHaveLength(4);
        expect(lastLine(report)).toMatchObject({ tag, last: 3 });
      });
    }
  });

  test('in Managed Instances mode lines are attributed by request id', async () => {
    const sim = await simulate('printer', {
      perEnvironmentConcurrency: 2,
      env: { AWS_LAMBDA_NODEJS_WORKER_COUNT: '1' },
    });

    const [one, two] = await Promise.all([
      sim.invoke({ tag: 'one', lines: 30, consoleOnly: true }),
      sim.invoke({ tag: 'two', lines: 30, consoleOnly: true }),
    ]);

    expect(two?.environmentId).toBe(one?.environmentId);
    for (const [report, tag] of [
      [one, 'one'],
      [two, 'two'],
    ] as const) {
      if (report === undefined) throw new Error('missing report');
      expect(report.logs).toHaveLength(30);
      expect(tagged(report, tag)).toHaveLength(30);
      expect(report.logs.every((line) => parseLogLine(line).requestId === report.requestId)).toBe(
        true,
      );
    }
  });

  test('log events stream every line with its invocation', async () => {
    const sim = await simulate('printer');
    const seen: string[] = [];
    sim.on('log', (event) => {
      if (event.requestId !== undefined) seen.push(event.line);
    });

    const report = await sim.invoke({ tag: 'live', lines: 5 });

    expect(seen).toEqual(report.logs);
  });
});

describe('stop', () => {
  test('stop() ends every environment, frozen or busy, and later invokes are refused', async () => {
    const sim = await simulate('sleeper', { maxEnvironments: 3 });
    await Promise.all([sim.invoke({ ms: 1 }), sim.invoke({ ms: 1 })]);
    await sim.waitFor((env) => env.state === 'frozen');
    const busy = sim.invoke({ ms: 10_000 });
    await sim.waitFor((env) => env.state === 'busy');
    const pids = sim.environments().map((env) => env.pid);
    expect(pids.length).toBeGreaterThanOrEqual(2);

    await sim.stop();

    expect((await busy).error?.errorType).toBe('Runtime.ExitError');
    expect(pids.filter((pid) => processState(pid) !== undefined)).toEqual([]);
    expect(sim.environments().every((env) => env.state === 'dead')).toBe(true);
    await expect(sim.invoke({ ms: 1 })).rejects.toThrow('stopped');
  });

  test('an invocation nobody awaits is no unhandled rejection when its environment goes or the simulator stops', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const sim = await simulate('sleeper', { maxEnvironments: 1 });
      const busy = sim.invoke({ ms: 10_000 });
      const env = await sim.waitFor((e) => e.state === 'busy');
      // Both wait for room on the busy environment; only one has a caller left.
      const awaited = sim.invoke({ ms: 1 }, { environmentId: env.id });
      void sim.invoke({ ms: 1 }, { environmentId: env.id });
      expect(sim.sendSignal(env.id, 'SIGKILL')).toBe(true);
      expect((await busy).error?.errorType).toBe('Runtime.ExitError');
      await expect(awaited).rejects.toThrow(`environment ${env.id} is gone`);

      const busyAgain = sim.invoke({ ms: 10_000 });
      await sim.waitFor((e) => e.id !== env.id && e.state === 'busy');
      void sim.invoke({ ms: 1 }); // waits for room, which never comes: stop() rejects it
      await sim.stop();
      expect((await busyAgain).error?.errorType).toBe('Runtime.ExitError');
      void sim.invoke({ ms: 1 }); // refused at once
      // Node reports unhandled rejections after the microtasks of the current macrotask.
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  describe.each(['exit', 'hang'] as const)('when the parent process %ss', (mode) => {
    // 'exit': the parent exits without stop(); its 'exit' hook kills the environments.
    // 'hang': the parent is SIGKILLed; the kernel's parent-death signal (setpriv) kills them.
    // Bundling, a parent process and its two runtimes: slow on a loaded machine.
    test('no environment outlives it', { timeout: 90_000 }, async () => {
      const dir = await mkdtemp(join(tmpdir(), 'orphan-parent-'));
      try {
        const script = await bundleParent(dir);
        const parent = spawn(process.execPath, [script, fixture('sleeper'), mode], {
          stdio: ['pipe', 'pipe', 'inherit'],
          // Its simulator's temp dir lands in ours: a SIGKILLed parent cannot remove it.
          env: { ...process.env, TMPDIR: dir },
        });
        const [chunk] = (await once(parent.stdout, 'data')) as [Buffer];
        const pids = JSON.parse(chunk.toString()) as number[];
        expect(pids).toHaveLength(2);
        expect(pids.map((pid) => processState(pid))).toEqual(['T', 'T']);

        const exited = once(parent, 'exit');
        if (mode === 'exit') parent.stdin.write('exit now\n');
        else parent.kill('SIGKILL');
        await exited;

        await until(() => pids.every((pid) => !isProcessAlive(pid)));
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  });
});

/** Bundles the orphan-parent fixture next to a node_modules link, so plain node can run it. */
async function bundleParent(dir: string): Promise<string> {
  const outfile = join(dir, 'parent.mjs');
  await build({
    entryPoints: [fixture('orphan-parent')],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    packages: 'external',
    logLevel: 'silent',
  });
  const nodeModules = fileURLToPath(new URL('../../node_modules', import.meta.url));
  if (existsSync(nodeModules)) await symlink(nodeModules, join(dir, 'node_modules'), 'dir');
  return outfile;
}

/** Polls a condition about processes this test does not own (nothing to await on). */
async function until(condition: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
