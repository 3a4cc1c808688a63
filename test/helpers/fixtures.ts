/**
 * Per-test redis-servers as vitest fixtures: a test names what it needs and gets it started for
 * it alone, and stopped (dir removed) when it ends, whether it passed or failed. A file then
 * never holds more servers than its running test uses.
 *
 *   import { test } from '../helpers/fixtures.js';
 *
 *   test('…', async ({ redisServer }) => { … });                  // a plain server
 *   test('…', async ({ startServer }) => {                        // several, or special ones
 *     const primary = await startServer({ args: ['--appendonly', 'yes'] });
 *   });
 *   describe('with TLS', () => {
 *     test.override({ redisTls: true, redisArgs: ['--maxclients', '5'] }); // options, per suite
 *     test('…', async ({ redisServer }) => { redisServer.tls?.caFile … });
 *   });
 */
import { test as base } from 'vitest';
import {
  makeTlsMaterial,
  type RedisCluster,
  type RedisServer,
  removeTlsMaterial,
  type StartOptions,
  startCluster,
  startRedis,
  type TlsMaterial,
} from './redis-server.js';

export interface RedisFixtures {
  /** Option: extra redis-server args for `redisServer`. Default none. */
  redisArgs: string[];
  /** Option: `redisServer` listens only with TLS, with material of its own (`redisServer.tls`).
   * Default false. */
  redisTls: boolean;
  /** A redis-server for this test, started with `redisArgs` and `redisTls`. */
  redisServer: RedisServer;
  /** Starts more servers for this test; each is stopped when the test ends. */
  startServer: (options?: StartOptions) => Promise<RedisServer>;
  /** A fresh CA and a server certificate signed by it, removed when the test ends. */
  tlsMaterial: TlsMaterial;
  /** A cluster of 3 masters for this test. */
  redisCluster: RedisCluster;
}

export const test = base.extend<RedisFixtures>({
  redisArgs: [[], { scope: 'test' }],
  redisTls: [false, { scope: 'test' }],

  redisServer: async ({ redisArgs, redisTls }, use) => {
    const tls = redisTls ? await makeTlsMaterial() : undefined;
    try {
      const server = await startRedis({ args: redisArgs, tls });
      try {
        await use(server);
      } finally {
        await server.dispose();
      }
    } finally {
      if (tls !== undefined) await removeTlsMaterial(tls);
    }
  },

  // biome-ignore lint/correctness/noEmptyPattern: vitest reads a fixture's dependencies from this pattern
  startServer: async ({}, use) => {
    const servers: RedisServer[] = [];
    try {
      await use(async (options) => {
        const server = await startRedis(options);
        servers.push(server);
        return server;
      });
    } finally {
      await Promise.all(servers.map((server) => server.dispose()));
    }
  },

  // biome-ignore lint/correctness/noEmptyPattern: vitest reads a fixture's dependencies from this pattern
  tlsMaterial: async ({}, use) => {
    const material = await makeTlsMaterial();
    try {
      await use(material);
    } finally {
      await removeTlsMaterial(material);
    }
  },

  // biome-ignore lint/correctness/noEmptyPattern: vitest reads a fixture's dependencies from this pattern
  redisCluster: async ({}, use) => {
    const cluster = await startCluster(3);
    try {
      await use(cluster);
    } finally {
      await cluster.dispose();
    }
  },
});
