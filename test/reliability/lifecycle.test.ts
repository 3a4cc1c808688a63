/**
 * The pool across Lambda's lifecycle, in the simulator (real RIC processes, frozen between
 * invocations) against real redis-servers started on free ports.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { startRedis, stopAll } from '../helpers/redis-server.js';
import { figure, invoke, metricOf, resultOf, startFunction, stopFunctions } from './support.js';

afterEach(stopFunctions);
afterAll(stopAll);

describe('warm reuse', () => {
  it('1,000 invocations over 4 environments create exactly 4 connections', async () => {
    const server = await startRedis();
    const sim = await startFunction(server.url, {}, { maxEnvironments: 4 });
    const reports = [];
    const started = Date.now();
    // Four in flight at a time: Lambda needs four environments, and reuses them.
    for (let round = 0; round < 250; round++) {
      reports.push(...(await Promise.all([0, 1, 2, 3].map(() => invoke(sim, { op: 'ping' })))));
    }
    figure('1,000 invocations over 4 environments (ms)', Date.now() - started);
    for (const report of reports) expect(resultOf(report).value).toBe('PONG');
    expect(new Set(reports.map((r) => r.environmentId)).size).toBe(4);
    expect(reports.filter((r) => r.coldStart)).toHaveLength(4);
    const created = reports.reduce((sum, r) => sum + metricOf(r, 'connectionsCreated'), 0);
    expect(created).toBe(4);
    expect(
      (await server.clientList()).filter((c) => c.name?.startsWith('reliability:')),
    ).toHaveLength(4);
    expect(reports.filter((r) => metricOf(r, 'connectionReused') === 1)).toHaveLength(996);
  });
});
