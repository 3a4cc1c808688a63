/**
 * Nothing the simulator or the redis-server launcher (redis-server.ts) starts or creates may
 * outlive the process that started it.
 *
 * Child processes, in three layers, because a frozen (SIGSTOPped) runtime or a paused
 * redis-server never notices anything by itself:
 * - their owner stops them (the normal path: the simulator its environments, a server's stop());
 * - a process 'exit' hook SIGKILLs whatever is left (SIGKILL also ends a stopped process);
 * - where util-linux's setpriv exists, the child is started with a parent-death signal of
 *   SIGKILL, which the kernel delivers even when this process is SIGKILLed and runs no hook.
 *   setpriv execs the command, so the pid we get is the command's.
 * Temp dirs (bundle, log files, a server's dir) are removed by the same 'exit' hook when
 * stop() never ran.
 */
import { type ChildProcess, type SpawnOptions, spawn, spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';

interface Registry {
  live: Set<ChildProcess>;
  dirs: Set<string>;
  setpriv: boolean | undefined;
}

// On globalThis: test files that re-evaluate this module in one worker share one exit hook.
const REGISTRY_KEY = Symbol.for('lambda-redis-pool.local.leftovers');

function registry(): Registry {
  const holder = globalThis as { [REGISTRY_KEY]?: Registry };
  let reg = holder[REGISTRY_KEY];
  if (reg === undefined) {
    reg = { live: new Set(), dirs: new Set(), setpriv: undefined };
    holder[REGISTRY_KEY] = reg;
    process.on('exit', cleanUpSync);
  }
  return reg;
}

/** 'exit' hook: only synchronous work is possible here. */
function cleanUpSync(): void {
  const reg = registry();
  for (const child of reg.live) {
    if (child.pid !== undefined) sendSignal(child.pid, 'SIGKILL');
  }
  for (const dir of reg.dirs) rmSync(dir, { recursive: true, force: true });
}

/** process.kill that reports instead of throwing when the process is gone. */
export function sendSignal(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(pid, signal);
    return true;
  } catch {
    return false;
  }
}

/** Spawns `command args` tracked for the exit hook, with a parent-death SIGKILL when possible. */
export function spawnTracked(command: string, args: string[], options: SpawnOptions): ChildProcess {
  const reg = registry();
  const child = hasSetpriv(reg)
    ? spawn('setpriv', ['--pdeathsig', 'KILL', '--', command, ...args], options)
    : spawn(command, args, options);
  reg.live.add(child);
  child.once('exit', () => reg.live.delete(child));
  child.once('error', () => reg.live.delete(child));
  return child;
}

/** Removes `dir` at process exit unless forgetDir() was called first. */
export function removeDirOnExit(dir: string): void {
  registry().dirs.add(dir);
}

export function forgetDir(dir: string): void {
  registry().dirs.delete(dir);
}

function hasSetpriv(reg: Registry): boolean {
  if (reg.setpriv === undefined) {
    const probe = spawnSync('setpriv', ['--pdeathsig', 'KILL', '--', 'true'], { stdio: 'ignore' });
    reg.setpriv = probe.status === 0;
  }
  return reg.setpriv;
}
