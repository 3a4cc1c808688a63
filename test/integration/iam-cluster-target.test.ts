/**
 * IAM tokens for a cluster found by discovery (REDIS_CACHE_NAME, no REDIS_URL, no
 * REDIS_CLUSTER): the cache says cluster mode, so ioredis opens node connections on its own,
 * later, with the password getter of the attempt's configuration. That getter must give a token
 * still valid then, and the pool's keepFresh must sign one in the background for it.
 *
 * At the level of ConnectTarget: the ElastiCache API is the local stand-in (real HTTP, real AWS
 * SDK, its fixed credentials), the tokens are signed by the real SDK and compared with the ones
 * an independent reading of SigV4 (test/helpers/sigv4.ts) computes; only the clock is the
 * test's. No connection is opened: what is under test is the password a node would send.
 */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import type { ConnectConfig } from '../../src/pool/connection.js';
import { ConnectTarget } from '../../src/pool/target.js';
import { REGION, useElastiCacheApi } from '../helpers/elasticache-api.js';
import { expectedIamTokenFor } from '../helpers/sigv4.js';

const stand = useElastiCacheApi();

const USER = 'orders-app';
const MINUTE = 60_000;
/** 2024-03-01T08:00:00Z */
const START = Date.UTC(2024, 2, 1, 8, 0, 0);

let nextCache = 1;

/** A cluster-mode-enabled replication group with TLS, and a target that discovers it. */
function discoveredCluster(clock: { read: () => number }) {
  const cacheName = `iam-cluster-${process.pid}-${nextCache++}`;
  stand.api.putReplicationGroup(cacheName, {
    clusterEnabled: true,
    tls: true,
    configuration: { host: 'localhost', port: 6390 },
  });
  const config = loadConfig({
    REDIS_CACHE_NAME: cacheName,
    REDIS_AUTH: 'iam',
    REDIS_USER: USER,
    AWS_REGION: REGION,
  });
  const target = new ConnectTarget(config, { iam: { now: clock.read } });
  const tokenAt = (now: number) =>
    expectedIamTokenFor(stand.api.env, {
      cacheName,
      userId: USER,
      serverless: false,
      region: REGION,
      now,
    });
  return { config, target, tokenAt };
}

function nodePassword(prepared: ConnectConfig): string | undefined {
  return prepared.password?.();
}

describe('IAM tokens for a cluster found by discovery', () => {
  it('connects in cluster mode although REDIS_CLUSTER is unset', async () => {
    const clock = { now: START, read: () => clock.now };
    const { config, target, tokenAt } = discoveredCluster(clock);
    expect(config.cluster).toBe(false);
    const prepared = await target.prepare(Date.now() + 5_000);
    expect(prepared.cluster).toBe(true);
    expect(prepared.endpoint.password?.reveal()).toBe(tokenAt(START));
    expect(nodePassword(prepared)).toBe(tokenAt(START));
  });

  it('keepFresh signs a new token once the cached one is within the margin, for the nodes', async () => {
    const clock = { now: START, read: () => clock.now };
    const { target, tokenAt } = discoveredCluster(clock);
    const prepared = await target.prepare(Date.now() + 5_000);

    // Eleven minutes on, four are left: an acquire's keepFresh signs again in the background.
    clock.now += 11 * MINUTE;
    target.keepFresh();
    await expect.poll(() => nodePassword(prepared)).toBe(tokenAt(clock.now));
  });

  it('a node connecting after the first token expired gets the newest token signed', async () => {
    const clock = { now: START, read: () => clock.now };
    const { target, tokenAt } = discoveredCluster(clock);
    const first = await target.prepare(Date.now() + 5_000);

    // A second attempt, eleven minutes on, signs a second token (valid until START + 26 min).
    clock.now = START + 11 * MINUTE;
    const second = await target.prepare(Date.now() + 5_000);
    const secondToken = tokenAt(clock.now);
    expect(second.endpoint.password?.reveal()).toBe(secondToken);

    // Twenty-two minutes on: the first token expired seven minutes ago, the second is within
    // its margin but valid. A node of the first cluster reconnecting now sends the second.
    clock.now = START + 22 * MINUTE;
    expect(nodePassword(first)).toBe(secondToken);
  });
});
