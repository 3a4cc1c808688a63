/**
 * In the simulator (a real RIC process), with libuv's threadpool saturated: the pool still
 * connects by host name at once, because it resolves without the threadpool.
 *
 * Stand-in for AWS: a DNS server on loopback (test/helpers/dns-server.ts) answers for the
 * cache's host name, as the VPC's resolver does for an ElastiCache endpoint. Redis is a real
 * redis-server.
 */
import { fileURLToPath } from 'node:url';
import { afterEach, expect } from 'vitest';
import { LambdaSimulator } from '../../local/index.js';
import type { ThreadpoolResult } from '../fixtures/reliability/threadpool.js';
import { type DnsServer, startDnsServer } from '../helpers/dns-server.js';
import { test } from '../helpers/fixtures.js';

const HANDLER = fileURLToPath(new URL('../fixtures/reliability/threadpool.ts', import.meta.url));

let sim: LambdaSimulator | undefined;
let dns: DnsServer | undefined;

afterEach(async () => {
  await sim?.stop();
  await dns?.close();
  sim = undefined;
  dns = undefined;
});

test('a connect by host name does not wait for a saturated threadpool', {
  timeout: 120_000,
}, async ({ redisServer }) => {
  dns = await startDnsServer({ 'primary.cache.sim.test': '127.0.0.1' });
  sim = await LambdaSimulator.start({
    entry: HANDLER,
    functionName: 'threadpool',
    timeoutMs: 60_000,
    initTimeoutMs: 60_000,
    env: {
      REDIS_URL: `redis://primary.cache.sim.test:${redisServer.port}`,
      TEST_DNS_SERVER: dns.server,
      // Two threads: cheaper to saturate than the default four, the same situation.
      UV_THREADPOOL_SIZE: '2',
      REDIS_METRICS: 'false',
      REDIS_CONNECT_TIMEOUT_MS: '30000',
      REDIS_ACQUIRE_TIMEOUT_MS: '30000',
    },
  });
  const report = await sim.invoke({});
  expect(report.ok).toBe(true);
  const { events } = report.result as ThreadpoolResult;
  expect(events[0]).toBe('pool connected');
  expect(events.indexOf('dns.lookup answered')).toBeGreaterThan(
    events.indexOf('threadpool work done'),
  );
  expect(dns.queries).toContainEqual({ name: 'primary.cache.sim.test', type: 'A' });
});
