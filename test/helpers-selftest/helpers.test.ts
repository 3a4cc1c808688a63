// Proves the test helpers really control real processes and sockets, so that a fault test
// failing later points at the library, not at its harness.

import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { createConnection, createServer, type Socket } from 'node:net';
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import { describe, expect } from 'vitest';
import { test } from '../helpers/fixtures.js';
import { type RedisServer, startRedis, stopAll } from '../helpers/redis-server.js';
import { startTcpProxy } from '../helpers/tcp-proxy.js';

/** Creating a cluster (three servers, redis-cli, gossip until every node agrees) can take
 * half a minute on a loaded machine. */
const CLUSTER_TEST_MS = 90_000;

/** A client that never retries and gives up fast, so a dead or mute server fails the call. */
function client(port: number, options: RedisOptions = {}): Redis {
  const redis = new Redis({
    host: '127.0.0.1',
    port,
    lazyConnect: true,
    enableReadyCheck: false,
    retryStrategy: () => null,
    maxRetriesPerRequest: 0,
    connectTimeout: 1_000,
    commandTimeout: 1_000,
    ...options,
  });
  redis.on('error', () => {
    // Failures are asserted through the rejected commands.
  });
  return redis;
}

async function ping(port: number, options: RedisOptions = {}): Promise<string> {
  const redis = client(port, options);
  try {
    await redis.connect();
    return await redis.ping();
  } finally {
    redis.disconnect();
  }
}

/** Alive means: exists and is not a zombie (PID 1 here reaps orphans only lazily). */
function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

async function waitForDeath(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!isAlive(pid)) return true;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return !isAlive(pid);
}

describe('startRedis', () => {
  test('stops, kills and restarts on the same port, keeping its dir', async ({ startServer }) => {
    const server = await startServer({ args: ['--appendonly', 'yes'] });
    expect(server.url).toBe(`redis://127.0.0.1:${server.port}`);
    expect(await ping(server.port)).toBe('PONG');
    expect(await server.cli('SET', 'k', 'v')).toBe('OK');
    expect(await server.cli('DEBUG', 'SLEEP', '0')).toBe('OK'); // enabled for slow-server tests
    await expect(server.cli('NOSUCHCOMMAND')).rejects.toThrow(/unknown command/);

    await server.stop();
    await server.stop(); // idempotent
    expect(server.pid).toBeUndefined();
    await expect(ping(server.port)).rejects.toThrow();

    await server.restart();
    expect(await ping(server.port)).toBe('PONG');
    expect(await server.cli('GET', 'k')).toBe('v'); // the AOF in dir survived the stop

    await server.kill();
    await expect(ping(server.port)).rejects.toThrow();
    await server.restart();
    expect(await ping(server.port)).toBe('PONG');
  });

  test('lists clients without its own helper connections', async ({ redisServer }) => {
    const probe = client(redisServer.port, { connectionName: 'probe' });
    await probe.connect();
    try {
      const clients = await redisServer.clientList();
      expect(clients).toHaveLength(1);
      expect(clients[0]).toMatchObject({ name: 'probe', db: '0' });
      expect(clients[0]?.addr).toMatch(/^127\.0\.0\.1:\d+$/);
      expect(clients[0]?.id).toMatch(/^\d+$/);
    } finally {
      probe.disconnect();
    }
  });

  test('closes its helper connections before resolving', async ({ startServer }) => {
    const server = await startServer({ args: ['--maxclients', '2'] });
    await server.cli('PING');
    // Only the INFO connection itself: neither the start probe nor the PING one lingers.
    expect(await server.cli('INFO', 'clients')).toMatch(/^connected_clients:1\r?$/m);
    expect(await ping(server.port)).toBe('PONG');
  });

  test('fails on a taken fixed port with the log tail in the error', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen({ host: '127.0.0.1', port: 0 }, resolve));
    const address = blocker.address();
    if (address === null || typeof address === 'string') throw new Error('no address');
    try {
      await expect(startRedis({ port: address.port })).rejects.toThrow(/Address already in use/);
    } finally {
      blocker.close();
    }
  });

  test('pause makes it mute and resume brings it back', async ({ redisServer }) => {
    const redis = client(redisServer.port, { commandTimeout: 300 });
    await redis.connect();
    try {
      redisServer.pause();
      await expect(redis.ping()).rejects.toThrow(/timed out/i);
      redisServer.resume();
      expect(await redis.ping()).toBe('PONG');
    } finally {
      redis.disconnect();
    }
  });
});

describe('TLS', () => {
  test.override({ redisTls: true });

  test('answers over TLS with the CA and refuses plain connections', async ({ redisServer }) => {
    const tls = redisServer.tls;
    if (tls === undefined) throw new Error('redisTls: true gave a plaintext server');
    expect(redisServer.url).toBe(`rediss://127.0.0.1:${redisServer.port}`);
    expect(await ping(redisServer.port, { tls: { ca: readFileSync(tls.caFile) } })).toBe('PONG');
    await expect(ping(redisServer.port)).rejects.toThrow();
    expect(await redisServer.cli('PING')).toBe('PONG');
  });
});

describe('startCluster', () => {
  test('creates a healthy cluster of 3 masters that a cluster client can use', {
    timeout: CLUSTER_TEST_MS,
  }, async ({ redisCluster: cluster }) => {
    expect(cluster.ports).toHaveLength(3);
    for (const node of cluster.nodes) {
      expect(await node.cli('CLUSTER', 'INFO')).toMatch(/^cluster_state:ok/m);
      const masters = (await node.cli('CLUSTER', 'NODES'))
        .split('\n')
        .filter((l) => /master/.test(l));
      expect(masters).toHaveLength(3);
    }
    const redis = new Cluster([{ host: '127.0.0.1', port: cluster.ports[0] ?? 0 }]);
    try {
      // Keys in different slots, hence on different masters.
      for (const key of ['a', 'b', 'c', 'd']) await redis.set(key, key);
      expect(await Promise.all(['a', 'b', 'c', 'd'].map((k) => redis.get(k)))).toEqual([
        'a',
        'b',
        'c',
        'd',
      ]);
    } finally {
      redis.disconnect();
    }
  });
});

function rawConnection(port: number): Promise<Socket> {
  const socket = createConnection({ host: '127.0.0.1', port });
  return once(socket, 'connect').then(() => socket);
}

/** The next chunk the socket receives as text, or undefined if none arrives within `ms`. */
function nextData(socket: Socket, ms: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      socket.off('data', onData);
      resolve(undefined);
    }, ms);
    const onData = (chunk: Buffer) => {
      clearTimeout(timer);
      resolve(chunk.toString('utf8'));
    };
    socket.once('data', onData);
  });
}

describe('startTcpProxy', () => {
  test('forwards, blackholes without closing, retargets new connections and drops all', async ({
    startServer,
  }) => {
    const [first, second] = await Promise.all([startServer(), startServer()]);
    await first.cli('SET', 'who', 'first');
    await second.cli('SET', 'who', 'second');
    const proxy = await startTcpProxy(first.port);
    const viaProxy = client(proxy.port, { commandTimeout: 300, connectionName: 'via-proxy' });
    try {
      await viaProxy.connect();
      expect(await viaProxy.get('who')).toBe('first');
      expect(proxy.totalConnections()).toBe(1);
      expect(proxy.connectionCount()).toBe(1);

      proxy.blackhole(true);
      await expect(viaProxy.ping()).rejects.toThrow(/timed out/i);
      const raw = await rawConnection(proxy.port); // a new connection while blackholed
      raw.write('PING\r\n');
      expect(await nextData(raw, 300)).toBeUndefined();
      expect(viaProxy.status).toBe('ready');
      expect(raw.destroyed).toBe(false);
      expect(proxy.connectionCount()).toBe(2);
      expect((await first.clientList()).map((c) => c.name)).toContain('via-proxy');
      proxy.blackhole(false);
      expect(await nextData(raw, 5_000)).toBe('+PONG\r\n'); // held back, not dropped
      expect(await viaProxy.ping()).toBe('PONG');
      raw.destroy();

      proxy.setTarget(second.port);
      expect(await ping(proxy.port, { connectionName: 'moved' })).toBe('PONG');
      expect(await viaProxy.get('who')).toBe('first'); // existing connection stays
      const moved = client(proxy.port);
      await moved.connect();
      expect(await moved.get('who')).toBe('second');
      moved.disconnect();

      const errors: string[] = [];
      viaProxy.on('error', (error: NodeJS.ErrnoException) => errors.push(error.code ?? ''));
      const ended = new Promise((resolve) => viaProxy.once('end', resolve));
      proxy.dropAll();
      expect(proxy.connectionCount()).toBe(0);
      await ended;
      expect(errors).toContain('ECONNRESET'); // a reset, not an orderly close
    } finally {
      viaProxy.disconnect();
      await proxy.close();
    }
  });
});

/** Start a server in a plain `node` child (tsx's loader resolves the helper's and the
 * launcher's `.js` imports to their `.ts` files) and end the child either normally or by
 * SIGKILL; returns the server's pid and dir. */
function startInChild(mode: 'exit' | 'sigkill'): Promise<{ pid: number; dir: string }> {
  const script = `
    const { startRedis } = await import(process.env.HELPER);
    const server = await startRedis();
    process.stdout.write(JSON.stringify({ pid: server.pid, dir: server.dir }) + '\\n');
    if (process.env.MODE === 'sigkill') process.kill(process.pid, 'SIGKILL');
    else process.exit(0);`;
  // Without VITEST_POOL_ID the child draws ports from the whole range, not from our slice.
  const { VITEST_POOL_ID: _poolId, ...env } = process.env;
  const helper = new URL('../helpers/redis-server.ts', import.meta.url).href;
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['--no-warnings', '--import', 'tsx', '--input-type=module', '-e', script],
      { env: { ...env, HELPER: helper, MODE: mode }, timeout: 20_000 },
      (error, stdout, stderr) => {
        try {
          const started = JSON.parse(stdout.trim()) as { pid: number; dir: string };
          if (Number.isInteger(started.pid) && started.pid > 0) return resolve(started);
        } catch {
          // Reported below.
        }
        reject(new Error(`child failed: ${error?.message}\n${stdout}${stderr}`));
      },
    );
  });
}

/** What a fixture started, seen from the test that got it, for the test after it. */
const fromPreviousTest: Array<{ what: string; pid: number; dir: string }> = [];

function record(what: string, server: RedisServer): void {
  if (server.pid === undefined) throw new Error(`${what} is not running`);
  fromPreviousTest.push({ what, pid: server.pid, dir: server.dir });
}

describe('fixtures', () => {
  test('give each test its own servers', { timeout: CLUSTER_TEST_MS }, async ({
    redisServer,
    startServer,
    redisCluster,
  }) => {
    const extra = await startServer({ args: ['--maxclients', '7'] });
    record('redisServer', redisServer);
    record('startServer', extra);
    redisCluster.nodes.forEach((node, i) => {
      record(`redisCluster node ${i}`, node);
    });
    expect(new Set(fromPreviousTest.map((s) => s.pid)).size).toBe(5);
    expect(await extra.cli('CONFIG', 'GET', 'maxclients')).toBe('maxclients\n7');
    expect(await redisServer.cli('CONFIG', 'GET', 'maxclients')).toBe('maxclients\n10000');
  });

  test('and stop them, dirs removed, once it has ended', async () => {
    expect(fromPreviousTest).toHaveLength(5);
    for (const { what, pid, dir } of fromPreviousTest) {
      expect(isAlive(pid), `${what} (pid ${pid})`).toBe(false);
      expect(existsSync(dir), `${what}'s dir`).toBe(false);
    }
  });

  describe('with options for the suite', () => {
    test.override({ redisArgs: ['--maxclients', '5'] });

    test('redisArgs reach redisServer', async ({ redisServer }) => {
      expect(await redisServer.cli('CONFIG', 'GET', 'maxclients')).toBe('maxclients\n5');
      expect(redisServer.tls).toBeUndefined();
    });
  });
});

describe('cleanup', () => {
  test('the exit hook kills servers a process forgot to stop and removes their dirs', async () => {
    const { pid, dir } = await startInChild('exit');
    expect(await waitForDeath(pid, 5_000)).toBe(true);
    // Only the hook removes the dir (the parent-death signal, below, kills but removes nothing).
    expect(existsSync(dir)).toBe(false);
  });

  test('the parent-death signal kills servers of a process that was SIGKILLed', async () => {
    const { pid, dir } = await startInChild('sigkill');
    try {
      expect(await waitForDeath(pid, 5_000)).toBe(true);
    } finally {
      // A SIGKILLed process runs no hook: its server's dir is left behind.
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('stopAll ends every server started by hand and removes their dirs', async () => {
    const servers = await Promise.all([
      startRedis(),
      startRedis({ args: ['--appendonly', 'yes'] }),
    ]);
    const started = servers.map((s) => ({ pid: s.pid ?? 0, dir: s.dir }));
    expect(started.filter((s) => isAlive(s.pid))).toHaveLength(2);
    await stopAll();
    expect(started.filter((s) => isAlive(s.pid) || existsSync(s.dir))).toEqual([]);
  });
});
