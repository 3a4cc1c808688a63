/**
 * Shared pieces of the reliability suite: the simulator running the real pool (bundled from
 * test/fixtures/reliability/handler.ts), and readers for what an invocation reports.
 */
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import { METRIC_NAMES } from '../../src/index.js';
import {
  type InvocationReport,
  LambdaSimulator,
  type SimulatorOptions,
} from '../../src/local/index.js';
import type { ReliabilityEvent, ReliabilityResult } from '../fixtures/reliability/handler.js';
import type { EmfDocument } from '../helpers/lambda.js';

const HANDLER = fileURLToPath(new URL('../fixtures/reliability/handler.ts', import.meta.url));

const running: LambdaSimulator[] = [];

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
    timeoutMs: 2_000,
    ...options,
    env: {
      REDIS_URL: redisUrl,
      REDIS_CONNECT_TIMEOUT_MS: '300',
      REDIS_COMMAND_TIMEOUT_MS: '300',
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

/** The handler's result; fails the test (with the reported error) if the invocation failed. */
export function resultOf(report: InvocationReport): ReliabilityResult {
  expect(report.ok, JSON.stringify(report.error)).toBe(true);
  return report.result as ReliabilityResult;
}

/** The invocation's EMF document (the pool writes exactly one per invocation). */
export function emfOf(report: InvocationReport): EmfDocument {
  const docs = report.logs
    .filter((l) => l.includes('"_aws"'))
    .map((l) => JSON.parse(l) as EmfDocument);
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
