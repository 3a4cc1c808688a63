/**
 * Liveness of pooled connections against real redis-servers (started per test on free ports):
 * a connection whose death the process could already know is never handed out, a healthy one
 * is not declared dead because this process stalled, and a command that a lost connection
 * takes down fails with ConnectionLostError.
 *
 * "The process cannot read" is made real here by blocking the event loop synchronously, as a
 * Lambda freeze or a handler's CPU work does: no timer fires and no socket is read, while other
 * processes (redis-server, redis-cli) go on.
 */
import { spawnSync } from 'node:child_process';
import { inspect } from 'node:util';
import { afterEach, describe, expect } from 'vitest';
import {
  ConnectionLostError,
  isConnectionError,
  RedisPool,
  type RedisPoolOptions,
} from '../../src/index.js';
import { test } from '../helpers/fixtures.js';
import type { RedisServer } from '../helpers/redis-server.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';
import { settlesBefore } from './ordering.js';

const pools: RedisPool[] = [];
const proxies: TcpProxy[] = [];

afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.close()));
  await Promise.all(proxies.splice(0).map((p) => p.close()));
});

/**
 * A pool whose idle check (the PING) never runs in these tests unless asked for: what is tested
 * is what the process knows without asking the server. The command timeout is long unless a
 * test is about it: a loaded machine can leave a reply unread for a second.
 */
function poolFor(
  target: { readonly url: string; readonly tls?: RedisServer['tls'] },
  options: RedisPoolOptions = {},
): RedisPool {
  const pool = new RedisPool(
    {
      url: target.url,
      tlsCaFile: target.tls?.caFile,
      clientName: 'liveness-test',
      idleCheckMs: 600_000,
      commandTimeoutMs: 10_000,
      metrics: false,
      ...options,
    },
    {},
  );
  pools.push(pool);
  return pool;
}

async function poolClients(server: RedisServer) {
  return (await server.clientList()).filter((c) => c.name?.startsWith('liveness-test:'));
}

/** Blocks the event loop for `ms` without using the CPU, as a Lambda freeze does. */
function freezeFor(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Blocks the event loop for `ms` with CPU work, as a handler's synchronous computation does. */
function spinFor(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // busy
  }
}

/**
 * Runs redis-cli in another process while this one cannot read its sockets: spawnSync blocks the
 * event loop until the command is done.
 */
function whileFrozen(server: RedisServer, ...args: string[]): string {
  const tls = server.tls ? ['--tls', '--cacert', server.tls.caFile] : [];
  const port = ['-p', String(server.port)];
  const cli = spawnSync('redis-cli', [...tls, ...port, ...args], { encoding: 'utf8' });
  if (cli.status !== 0) throw new Error(`redis-cli ${args.join(' ')} failed: ${cli.stderr}`);
  return cli.stdout;
}

/** A pool with one warm, idle connection (key `k` set to `v`). */
async function warmPool(server: RedisServer, options: RedisPoolOptions = {}) {
  const pool = poolFor(server, options);
  await pool.run((redis) => redis.set('k', 'v'));
  const [client] = await poolClients(server);
  if (!client?.id) throw new Error('the pool has no connection');
  return { pool, clientId: client.id };
}

describe('a connection whose death the process can know is never handed out', () => {
  // The PING after REDIS_IDLE_CHECK_MS is for silent loss; a close that reached this process
  // while it could not read must be found without it. Every acquire below comes sooner than
  // REDIS_IDLE_CHECK_MS and before the event loop has had a turn since the process "thawed".

  test('closed by CLIENT KILL while the process could not read: the handler gets a working one', async ({
    redisServer: server,
  }) => {
    const { pool, clientId } = await warmPool(server);
    whileFrozen(server, 'CLIENT', 'KILL', 'ID', clientId);
    freezeFor(100); // the rest of the freeze: the connection has sat unused for a while
    expect(await pool.run((redis) => redis.get('k'))).toBe('v');
    expect(pool.stats()).toMatchObject({
      validationFailures: 1,
      connectionsCreated: 2,
      reconnects: 1,
      connectionsLost: 1,
    });
  });

  test("closed by the server's idle timeout while the process could not read: the handler gets a working one", async ({
    startServer,
  }) => {
    const server = await startServer({ args: ['--timeout', '1'] });
    const { pool, clientId } = await warmPool(server);
    // Frozen until the server has dropped the idle client (its cron checks every 100 ms).
    let dropped = false;
    for (let i = 0; i < 200 && !dropped; i++) {
      freezeFor(50);
      dropped = !whileFrozen(server, 'CLIENT', 'LIST').includes(`id=${clientId} `);
    }
    expect(dropped, 'the server dropped the idle connection').toBe(true);
    expect(await pool.run((redis) => redis.get('k'))).toBe('v');
    expect(pool.stats()).toMatchObject({ validationFailures: 1, reconnects: 1 });
  });

  test('a connection that sat idle is checked once for every acquirer arriving together', async ({
    redisServer: server,
  }) => {
    const { pool, clientId } = await warmPool(server, { poolMax: 3 });
    whileFrozen(server, 'CLIENT', 'KILL', 'ID', clientId);
    freezeFor(100);
    // Concurrent invocations on one environment (Lambda Managed Instances): the first acquire
    // makes the shared connection look busy, not idle, to the ones after it; they must still
    // not get it unchecked.
    const values = await Promise.all(
      Array.from({ length: 5 }, () => pool.run((redis) => redis.get('k'))),
    );
    expect(values).toEqual(['v', 'v', 'v', 'v', 'v']);
    expect(pool.stats()).toMatchObject({ validationFailures: 1, reconnects: 1 });
  });
});

describe('silence counts only while the process runs', () => {
  const commandTimeoutMs = 1_000;

  test('INCR in flight while the handler computes longer than the command timeout: the result arrives, the connection stays', async ({
    redisServer: server,
  }) => {
    const pool = poolFor(server, { commandTimeoutMs });
    const lease = await pool.acquire();
    const incr = lease.redis.incr('counter');
    // Synchronous CPU work: the reply arrives meanwhile, unread until the work is done.
    spinFor(1.5 * commandTimeoutMs);
    expect(await incr).toBe(1);
    expect(await lease.redis.incr('counter')).toBe(2);
    await lease.release();
    expect(pool.stats()).toMatchObject({ connectionsLost: 0, connectionsCreated: 1 });
    expect(await server.cli('GET', 'counter')).toBe('2');
  });

  test('a freeze with a command in flight is no silence either', async ({
    redisServer: server,
  }) => {
    const pool = poolFor(server, { commandTimeoutMs });
    const lease = await pool.acquire();
    const replies = Promise.all([lease.redis.incr('a'), lease.redis.incr('b')]);
    freezeFor(2 * commandTimeoutMs);
    expect(await replies).toEqual([1, 1]);
    await lease.release();
    expect(pool.stats().connectionsLost).toBe(0);
  });

  test('a silent server: the commands in flight fail with ConnectionLostError once the process has run for the command timeout', async ({
    redisServer: server,
  }) => {
    const pool = poolFor(server, { commandTimeoutMs });
    const lease = await pool.acquire();
    server.pause();
    const started = performance.now();
    const get = lease.redis.get('k').catch((e: unknown) => e);
    const set = lease.redis.set('k', 'secret-value').catch((e: unknown) => e);
    // Ended by the silence detector: its timers are due before this sentinel; a command that
    // waited for the server would lose.
    expect(await settlesBefore(get, 2 * commandTimeoutMs), 'failed before twice the timeout').toBe(
      true,
    );
    const took = performance.now() - started;
    // Not earlier either: timers never fire early (slack for rounding).
    expect(took).toBeGreaterThanOrEqual(commandTimeoutMs - 5);
    const [getError, setError] = await Promise.all([get, set]);
    expect(getError).toBeInstanceOf(ConnectionLostError);
    expect(getError).toMatchObject({
      code: 'ERR_REDIS_POOL_CONNECTION_LOST',
      inFlight: true,
      command: 'get',
      statusCode: 503,
      expose: true,
    });
    expect(setError).toMatchObject({ inFlight: true, command: 'set' });
    expect(isConnectionError(getError)).toBe(true);
    // The outcome of the SET is unknown, and its arguments are nowhere in the error.
    for (const text of [inspect(setError, { depth: 10 }), JSON.stringify(setError)]) {
      expect(text).not.toContain('secret-value');
    }
    expect(pool.stats().connectionsLost).toBe(1);
    await lease.release(getError);
    server.resume();
    // Outcome unknown indeed: the resumed server may still run the SET it had received.
    expect([null, 'secret-value']).toContain(await pool.run((redis) => redis.get('k')));
    expect(pool.stats()).toMatchObject({ connectionsCreated: 2, reconnects: 1 });
  });

  test('silent network loss (a blackholed link) is found the same way', async ({
    redisServer: server,
  }) => {
    const proxy = await startTcpProxy(server.port);
    proxies.push(proxy);
    const pool = poolFor(proxy, { commandTimeoutMs });
    const lease = await pool.acquire();
    proxy.blackhole(true);
    const ping = lease.redis.ping().catch((e: unknown) => e);
    expect(await settlesBefore(ping, 2 * commandTimeoutMs), 'failed before twice the timeout').toBe(
      true,
    );
    expect(await ping).toMatchObject({
      name: 'ConnectionLostError',
      inFlight: true,
      command: 'ping',
    });
    await lease.release(await ping);
  });

  test('a stall while the server is silent does not bring the verdict forward', async ({
    redisServer: server,
  }) => {
    const pool = poolFor(server, { commandTimeoutMs });
    const lease = await pool.acquire();
    server.pause();
    const get = lease.redis.get('k').catch((e: unknown) => e);
    spinFor(1.5 * commandTimeoutMs);
    // The stall counts as one slice of the timeout at most (a quarter of it), not as its wall
    // time: a quarter of the timeout after the stall, the command is still waiting.
    expect(
      await settlesBefore(get, commandTimeoutMs / 4),
      'still pending a quarter of the timeout after the stall',
    ).toBe(false);
    // And it ends once the process has run for about the timeout.
    expect(await settlesBefore(get, 2 * commandTimeoutMs)).toBe(true);
    expect(await get).toBeInstanceOf(ConnectionLostError);
    server.resume();
    await lease.release(await get);
  });

  test('a reply that arrived during a stall is read before any verdict, even when the silence had almost reached the timeout', async ({
    redisServer: server,
  }) => {
    const pool = poolFor(server, { commandTimeoutMs });
    const lease = await pool.acquire();
    server.pause();
    const get = lease.redis.get('k');
    // Most of the timeout passes in silence while the process runs...
    await new Promise((resolve) => setTimeout(resolve, 0.8 * commandTimeoutMs));
    // ...then the server answers while this process is busy, and the timeout is due when it is
    // done. Busy outside the timers phase (here, in the check phase), so that the next turn of
    // the event loop begins with the overdue timer, before the poll phase reads the reply.
    await new Promise<void>((resolve) =>
      setImmediate(() => {
        server.resume();
        spinFor(commandTimeoutMs);
        resolve();
      }),
    );
    expect(await get).toBeNull();
    await lease.release();
    expect(pool.stats().connectionsLost).toBe(0);
  });
});

describe('over TLS', () => {
  test.override({ redisTls: true });
  const commandTimeoutMs = 1_000;

  test('a close that arrived while the process could not read is found before the hand-out', async ({
    redisServer: server,
  }) => {
    const { pool, clientId } = await warmPool(server);
    whileFrozen(server, 'CLIENT', 'KILL', 'ID', clientId);
    freezeFor(100);
    expect(await pool.run((redis) => redis.get('k'))).toBe('v');
    expect(pool.stats()).toMatchObject({ validationFailures: 1, reconnects: 1 });
  });

  test('replies that keep arriving for several command timeouts are no silence', async ({
    redisServer: server,
  }) => {
    const pool = poolFor(server, { commandTimeoutMs });
    const lease = await pool.acquire();
    // 20 commands always in flight, until the connection has been busy for three timeouts'
    // worth of silence slices: the detector must see the encrypted bytes arrive.
    let answered = 0;
    const busy = async (until: number) => {
      while (performance.now() < until) {
        await lease.redis.incr('busy');
        answered++;
      }
    };
    const until = performance.now() + 3 * commandTimeoutMs;
    await Promise.all(Array.from({ length: 20 }, () => busy(until)));
    await lease.release();
    expect(answered).toBeGreaterThan(20);
    expect(pool.stats().connectionsLost).toBe(0);
    // And a real silence is still found.
    const second = await pool.acquire();
    server.pause();
    const ping = second.redis.ping().catch((e: unknown) => e);
    expect(await settlesBefore(ping, 2 * commandTimeoutMs)).toBe(true);
    server.resume();
    expect(await ping).toBeInstanceOf(ConnectionLostError);
    await second.release(await ping);
  });
});

describe('ConnectionLostError: one error for a command the connection cannot carry', () => {
  test('a command on a connection already lost: not sent, a typed error, and the pool drops the connection', async ({
    redisServer: server,
  }) => {
    const pool = poolFor(server);
    const lease = await pool.acquire();
    const id = await lease.redis.client('ID');
    await server.cli('CLIENT', 'KILL', 'ID', String(id));
    await expect.poll(() => lease.redis.status).not.toBe('ready');
    const error = await lease.redis.set('k', 'secret-value').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConnectionLostError);
    expect(error).toMatchObject({ inFlight: false, command: 'set' });
    expect((error as Error).message).not.toContain('secret-value');
    // A pipeline on it: each of its commands fails the same way.
    const results = await lease.redis.pipeline().get('k').incr('n').exec();
    expect(results?.map(([e]) => e?.name)).toEqual(['ConnectionLostError', 'ConnectionLostError']);
    await lease.release(error);
    expect(pool.stats()).toMatchObject({ connectionsLost: 1, active: 0 });
    expect(await pool.run((redis) => redis.ping())).toBe('PONG');
  });

  test('a command in flight when the server goes away: ConnectionLostError, outcome unknown', async ({
    startServer,
  }) => {
    const server = await startServer();
    const pool = poolFor(server);
    const lease = await pool.acquire({ exclusive: true });
    const blocked = lease.redis.blpop('queue', 0).catch((e: unknown) => e);
    // The BLPOP has reached the server when it shows in CLIENT LIST as the last command.
    await expect.poll(async () => (await poolClients(server)).map((c) => c.cmd)).toContain('blpop');
    await server.kill();
    const error = await blocked;
    expect(error).toBeInstanceOf(ConnectionLostError);
    expect(error).toMatchObject({ inFlight: true, command: 'blpop' });
    expect((error as Error).message).toMatch(/outcome is unknown/);
    await lease.release(error);
    expect(pool.stats().connectionsLost).toBe(1);
  });
});
