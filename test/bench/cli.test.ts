/**
 * `npm run bench` as a user starts and stops it: `--help` explains instead of running,
 * stopping the run (SIGTERM to npm, as a CI job or `kill` does) stops the redis-server it
 * started, and the cold-start section reports the first invocation after init. Without
 * REDIS_URL, so that the bench starts a private server of its own.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, expect, test } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

const running: ChildProcess[] = [];
afterEach(() => {
  // A failed test must not leave a bench running: its process group goes at once.
  for (const child of running.splice(0)) {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {}
    }
  }
});

/** `npm run bench -- …args` in a process group of its own, with no REDIS_URL. */
function bench(
  args: string[],
  extraEnv: NodeJS.ProcessEnv = {},
): {
  child: ChildProcess;
  output: () => string;
  /** npm's exit code, once its output is all read. */
  exited: Promise<number | null>;
  /** npm itself has exited (a child of it may still hold its output open). */
  npmExited: Promise<void>;
} {
  const { REDIS_URL: _ignored, ...env } = process.env;
  const child = spawn('npm', ['run', 'bench', '--', ...args], {
    cwd: ROOT,
    env: { ...env, ...extraEnv },
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.push(child);
  let text = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    text += chunk.toString('utf8');
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    text += chunk.toString('utf8');
  });
  const exited = new Promise<number | null>((resolve) => child.once('close', resolve));
  const npmExited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return { child, output: () => text, exited, npmExited };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Whether any process of the group led by `pgid` is left. */
function groupAlive(pgid: number): boolean {
  return alive(-pgid);
}

test('--help explains the options and exits without starting a run', async () => {
  const run = bench(['--help']);
  expect(await run.exited).toBe(0);
  const text = run.output();
  for (const option of ['--only', '--rounds', '--block-ms', '--inflight', '--imports', '--help']) {
    expect(text).toContain(option);
  }
  // A run starts by starting its redis-server and printing where it is.
  expect(text).not.toMatch(/private redis-server on 127\.0\.0\.1:\d+/);
}, 60_000);

test('an unknown option is refused with exit code 2, before anything starts', async () => {
  const run = bench(['--rounds', 'many']);
  expect(await run.exited).toBe(2);
  expect(run.output()).toContain('--rounds needs an integer');
  expect(run.output()).not.toMatch(/private redis-server on 127\.0\.0\.1:\d+/);
}, 60_000);

test('SIGTERM to `npm run bench` stops the bench and the redis-server it started', async () => {
  const run = bench(['--only', 'peers']);
  const pid = run.child.pid as number;
  await expect
    .poll(() => /private redis-server on \S+ \(pid (\d+)\)/.exec(run.output())?.[1], {
      timeout: 45_000,
      interval: 100,
    })
    .toBeDefined();
  const serverPid = Number(/\(pid (\d+)\)/.exec(run.output())?.[1]);
  expect(alive(serverPid)).toBe(true);

  process.kill(pid, 'SIGTERM');
  await run.npmExited;
  // The bench stops its server and exits; nothing of the run is left, however long that takes
  // on a loaded machine (the bound is only there so that a leak fails instead of hanging).
  await expect.poll(() => alive(serverPid), { timeout: 20_000, interval: 100 }).toBe(false);
  await expect.poll(() => groupAlive(pid), { timeout: 20_000, interval: 100 }).toBe(false);
}, 90_000);

/** The part of bench/results/latest.json this test reads. */
interface ColdStartReport {
  coldStart: {
    settings: { imports: number };
    target: { maxFirstInvocationRatio: number };
    bundles: {
      name: string;
      invocations?: {
        firstMs: number;
        firstCpuMs: number;
        secondMs: number;
        firstRatio: { median: number; p25: number; p75: number };
        coldStartRatio: number;
        pass?: boolean;
      };
    }[];
  };
}

test("the cold-start section times the health function's first invocation after init against the baseline's", async () => {
  const results = await mkdtemp(join(tmpdir(), 'bench-results-'));
  try {
    const run = bench(['--only', 'cold-start', '--imports', '2'], { BENCH_RESULTS_DIR: results });
    expect(await run.exited, run.output()).toBe(0);

    // The table: the health function's row carries the target and a verdict.
    const table = run
      .output()
      .split('== ')
      .find((t) => t.startsWith('First invocation after init'));
    expect(table, run.output()).toBeDefined();
    expect(table).toMatch(/^health .*first ≤ 1\.2× +(pass|MISS)$/m);
    expect(table).toMatch(/^baseline \(ioredis only\) /m);

    // The figures, in the results JSON: ratios and times of real invocations, not their sizes.
    const report = JSON.parse(
      await readFile(join(results, 'latest.json'), 'utf8'),
    ) as ColdStartReport;
    const { coldStart } = report;
    expect(coldStart.settings.imports).toBe(2);
    expect(coldStart.target.maxFirstInvocationRatio).toBe(1.2);
    const byName = new Map(coldStart.bundles.map((b) => [b.name, b]));
    const baseline = byName.get('baseline (ioredis only)')?.invocations;
    const health = byName.get('health')?.invocations;
    expect(baseline?.firstRatio.median).toBe(1);
    expect(baseline?.coldStartRatio).toBe(1);
    expect(health?.coldStartRatio).toBeGreaterThan(0);
    expect(baseline?.pass).toBeUndefined();
    expect(health).toBeDefined();
    for (const figures of [baseline, health]) {
      expect(figures?.firstMs).toBeGreaterThan(0);
      expect(figures?.secondMs).toBeGreaterThan(0);
      expect(figures?.firstCpuMs).toBeGreaterThan(0);
    }
    const ratio = health?.firstRatio;
    expect(Number.isFinite(ratio?.median)).toBe(true);
    expect(ratio?.p25).toBeLessThanOrEqual(ratio?.median ?? 0);
    expect(ratio?.median).toBeLessThanOrEqual(ratio?.p75 ?? 0);
    expect(health?.pass).toBe((ratio?.median ?? Infinity) <= 1.2);
    // The throughput function's invocation is a timed load: imported, not invoked.
    expect(byName.get('throughput')?.invocations).toBeUndefined();
  } finally {
    await rm(results, { recursive: true, force: true });
  }
}, 120_000);
