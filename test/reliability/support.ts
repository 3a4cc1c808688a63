/**
 * Shared pieces of the reliability suite: the simulator running the real pool (bundled from
 * test/fixtures/reliability/handler.ts), and readers for what an invocation reports.
 */
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { expect } from 'vitest';
import {
  type InvocationReport,
  LambdaSimulator,
  type SimulatorOptions,
} from '../../local/index.js';
import { METRIC_NAMES } from '../../src/index.js';
import type { ReliabilityEvent, ReliabilityResult } from '../fixtures/reliability/handler.js';
import { type EmfDocument, parseEmf } from '../helpers/lambda.js';
import type { RedisServer } from '../helpers/redis-server.js';

const HANDLER = fileURLToPath(new URL('../fixtures/reliability/handler.ts', import.meta.url));

const running: LambdaSimulator[] = [];
const INIT_TIMEOUT_MS = 60_000;
const WARM_ATTEMPTS = 20;

/**
 * A simulated function running the pool against `redisUrl`. `env` adds or overrides pool
 * variables; the defaults keep every wait short so a scenario takes seconds.
 */
export async function startFunction(
  redisUrl: string,
  env: Record<string, string> = {},
  options: Omit<SimulatorOptions, 'entry' | 'env'> = {},
): Promise<LambdaSimulator> {
  const sim = await LambdaSimulator.start({
    entry: HANDLER,
    functionName: 'reliability',
    // Far beyond the pool's own bounds: a loaded machine can stall a cold runtime for seconds.
    // The scenarios about Lambda's deadline set their own.
    timeoutMs: 10_000,
    // Lambda's 10 s: a loaded machine that starts several runtimes at once can take longer,
    // and no scenario here is about the init phase's limit.
    initTimeoutMs: INIT_TIMEOUT_MS,
    ...options,
    env: {
      REDIS_URL: redisUrl,
      // Short, but not shorter than a loaded machine can stall a runtime or a redis-server
      // (300 ms was: handshakes and commands to healthy servers timed out). The acquire
      // timeout (1000) still bounds every wait.
      REDIS_CONNECT_TIMEOUT_MS: '1000',
      REDIS_COMMAND_TIMEOUT_MS: '1000',
      REDIS_ACQUIRE_TIMEOUT_MS: '1000',
      REDIS_RETRY_BASE_MS: '20',
      REDIS_RETRY_MAX_MS: '500',
      REDIS_IDLE_CHECK_MS: '100',
      REDIS_METRICS_NAMESPACE: 'Reliability',
      ...env,
    },
  });
  running.push(sim);
  return sim;
}

/** Stops every simulator started by startFunction (for afterEach). */
export async function stopFunctions(): Promise<void> {
  await Promise.all(running.splice(0).map((sim) => sim.stop()));
}

export function invoke(sim: LambdaSimulator, event: ReliabilityEvent, environmentId?: string) {
  return sim.invoke(event, environmentId ? { environmentId } : {});
}

/**
 * Starts `count` environments (one cold invocation each, all at once) and invokes each again
 * until it has answered: on a loaded machine a cold runtime's first connect can miss the short
 * waits these scenarios configure, which is not what they are about. Every failure on the way
 * must be a typed pool error. Returns the environment ids, each with a working connection.
 */
export async function warmEnvironments(sim: LambdaSimulator, count: number): Promise<string[]> {
  const cold = await Promise.all(Array.from({ length: count }, () => invoke(sim, { op: 'ping' })));
  const ids = [...new Set(cold.map((r) => r.environmentId))];
  expect(ids).toHaveLength(count);
  await Promise.all(cold.map((report) => untilAnswered(sim, report)));
  return ids;
}

async function untilAnswered(sim: LambdaSimulator, first: InvocationReport): Promise<void> {
  let report = first;
  for (let attempt = 1; !report.ok && attempt < WARM_ATTEMPTS; attempt++) {
    expect(TYPED_POOL_ERRORS, JSON.stringify(report.error)).toContain(report.error?.errorType);
    await sleep(100);
    report = await invoke(sim, { op: 'ping' }, first.environmentId);
  }
  expect(resultOf(report).value).toBe('PONG');
}

/** The handler's result; fails the test (with the reported error) if the invocation failed. */
export function resultOf(report: InvocationReport): ReliabilityResult {
  expect(report.ok, JSON.stringify(report.error)).toBe(true);
  return report.result as ReliabilityResult;
}

/** The invocation's EMF document (the pool writes exactly one per invocation). */
export function emfOf(report: InvocationReport): EmfDocument {
  const docs = report.logs.filter((l) => l.includes('"_aws"')).map(parseEmf);
  expect(docs, report.logs.join('\n')).toHaveLength(1);
  return docs[0] as EmfDocument;
}

export function metricOf(report: InvocationReport, key: keyof typeof METRIC_NAMES): number {
  return emfOf(report)[METRIC_NAMES[key]] as number;
}

/** Prints a figure for a reader of the test output (vitest shows it under the test). */
export function figure(label: string, value: string | number): void {
  console.log(`[figure] ${label}: ${value}`);
}

/** The typed pool errors an invocation may end with when Redis cannot be used in time. */
export const TYPED_POOL_ERRORS = ['RedisUnavailableError', 'AcquireTimeoutError'] as const;

/** errorType, or 'ok' for a successful invocation and 'timeout' for one Lambda timed out. */
export function outcomeOf(report: InvocationReport): string {
  if (report.timedOut) return 'timeout';
  if (report.ok) return 'ok';
  return report.error?.errorType ?? 'unknown';
}

/**
 * Every EMF document among `lines` (raw stdout lines, as the pool writes them), each checked
 * against the EMF specification.
 */
export function emfDocuments(lines: readonly string[]): EmfDocument[] {
  return lines.filter((l) => l.includes('"_aws"')).map(parseEmf);
}

/** The function's connections in CLIENT LIST: their names start with the function name. */
export async function poolClients(server: RedisServer): Promise<Array<Record<string, string>>> {
  return (await server.clientList()).filter((c) => c.name?.startsWith('reliability:'));
}

/** `cmdstat_quit` calls from INFO commandstats (0 before the first QUIT). */
export async function quitCalls(server: RedisServer): Promise<number> {
  const stats = await server.cli('INFO', 'commandstats');
  return Number(/^cmdstat_quit:calls=(\d+)/m.exec(stats)?.[1] ?? 0);
}

export interface CommandWatch {
  /** Commands the server executed since the watch started: lowercased name and client address. */
  readonly seen: ReadonlyArray<{ command: string; source: string }>;
  stop(): void;
}

/**
 * MONITOR on `server`: which client address sent which command. The connection carries the
 * helpers' name, so clientList() leaves it out.
 */
export async function watchCommands(server: RedisServer): Promise<CommandWatch> {
  const base = new Redis({
    host: '127.0.0.1',
    port: server.port,
    lazyConnect: true,
    connectionName: 'redis-test-helper',
    protocol: 2,
    retryStrategy: () => null,
  });
  const monitor = await base.monitor();
  const seen: Array<{ command: string; source: string }> = [];
  monitor.on('monitor', (_time: string, args: string[], source: string) => {
    seen.push({ command: String(args[0]).toLowerCase(), source });
  });
  monitor.on('error', () => {});
  return {
    seen,
    stop: () => {
      monitor.disconnect();
      base.disconnect();
    },
  };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
