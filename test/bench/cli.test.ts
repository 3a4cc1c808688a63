/**
 * `npm run bench` as a user starts and stops it: `--help` explains instead of running, and
 * stopping the run (SIGTERM to npm, as a CI job or `kill` does) stops the redis-server it
 * started. Without REDIS_URL, so that the bench starts a private server of its own.
 */
import { type ChildProcess, spawn } from 'node:child_process';
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
function bench(args: string[]): {
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
    env,
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
  for (const option of ['--only', '--rounds', '--block-ms', '--inflight', '--help']) {
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
