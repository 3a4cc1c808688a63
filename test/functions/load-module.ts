/**
 * The functions read their configuration from the environment at import (module scope, as in
 * Lambda). Each test imports a fresh copy with its own REDIS_URL.
 */
import { vi } from 'vitest';
import { closeRedisPools } from '../../src/index.js';

type HealthModule = typeof import('../../functions/health.js');
type ThroughputModule = typeof import('../../functions/throughput.js');

const fresh: Array<{ closeRedisPools: typeof closeRedisPools }> = [];

async function importWith<T>(path: string, env: Record<string, string>): Promise<T> {
  vi.resetModules();
  const saved = { ...process.env };
  Object.assign(process.env, env);
  try {
    const module = (await import(path)) as T;
    fresh.push((await import('../../src/index.js')) as { closeRedisPools: typeof closeRedisPools });
    return module;
  } finally {
    process.env = saved;
  }
}

export const importHealth = (env: Record<string, string>) =>
  importWith<HealthModule>('../../functions/health.js', env);
export const importThroughput = (env: Record<string, string>) =>
  importWith<ThroughputModule>('../../functions/throughput.js', env);

/** Closes the pools of every fresh module copy (afterEach). */
export async function closeFreshPools(): Promise<void> {
  await Promise.all(fresh.splice(0).map((m) => m.closeRedisPools()));
  await closeRedisPools();
}
