/**
 * Handing connections back and closing, against real redis-server processes: an exclusive
 * lease's release is bounded by its deadline and leaves nothing behind for the next lease, and
 * closing the pool ends every socket, so that a process that closed it can exit.
 */
import { spawn } from 'node:child_process';
import { createConnection, createServer, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { RedisPool, type RedisPoolOptions } from '../../src/index.js';
import { startRedis, stopAll } from '../helpers/redis-server.js';

const pools: RedisPool[] = [];

function poolFor(url: string, options: RedisPoolOptions = {}): RedisPool {
  const pool = new RedisPool({ url, clientName: 'release-test', metrics: false, ...options }, {});
  pools.push(pool);
  return pool;
}

afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.close()));
});
afterAll(stopAll);

describe('releasing an exclusive lease', () => {
  it('a server that stalls at release: the release ends by the lease deadline and destroys the connection', async () => {
    const server = await startRedis();
    // A command timeout far beyond the deadline: only the deadline can end the release early.
    const pool = poolFor(server.url, { commandTimeoutMs: 10_000, poolMax: 1 });
    const deadline = Date.now() + 1_000;
    const lease = await pool.acquire({ exclusive: true, deadline });
    await lease.redis.watch('watched');
    server.pause();
    let releasedAt: number;
    try {
      await lease.release();
      releasedAt = Date.now();
    } finally {
      server.resume();
    }
    expect(releasedAt).toBeLessThan(deadline + 2_000);
    expect(pool.stats()).toMatchObject({ connectionsLost: 1, active: 0, idle: 0 });
    const next = await pool.acquire({ exclusive: true });
    expect(next.redis).not.toBe(lease.redis);
    expect(await next.redis.ping()).toBe('PONG');
    await next.release();
  });

  it('released after its deadline, the lease’s connection is destroyed rather than reset', async () => {
    const server = await startRedis();
    const pool = poolFor(server.url, { poolMax: 1 });
    await (await pool.acquire({ exclusive: true })).release();
    // The idle connection is handed out at once: the deadline cannot pass during the acquire.
    const lease = await pool.acquire({ exclusive: true, deadline: Date.now() + 50 });
    expect(lease.reused).toBe(true);
    await lease.redis.watch('watched');
    await new Promise((resolve) => setTimeout(resolve, 100));
    await lease.release();
    expect(pool.stats()).toMatchObject({ connectionsLost: 1 });
  });

  it('CLIENT TRACKING turned on by one lease is off for the next', async () => {
    const server = await startRedis();
    const pool = poolFor(server.url, { poolMax: 1 });
    const first = await pool.acquire({ exclusive: true });
    await first.redis.call('CLIENT', 'TRACKING', 'ON');
    expect(flags(await first.redis.call('CLIENT', 'INFO'))).toContain('t');
    await first.release();
    const second = await pool.acquire({ exclusive: true });
    expect(second.redis).toBe(first.redis);
    expect(flags(await second.redis.call('CLIENT', 'INFO'))).not.toContain('t');
    await second.release();
    expect(pool.stats()).toMatchObject({ connectionsCreated: 1, connectionsLost: 0 });
  });
});

/** The `flags` field of a CLIENT INFO line. */
function flags(info: unknown): string {
  return /\bflags=(\S*)/.exec(String(info))?.[1] ?? '';
}

describe('closing', () => {
  it('a process that used the pool and called closeRedisPools() exits by itself, even when the server never closes its sockets', async () => {
    const server = await startRedis();
    const proxy = await holdOpenProxy(server.port);
    try {
      const fixture = fileURLToPath(new URL('../fixtures/pool/close-and-exit.ts', import.meta.url));
      const child = spawn(process.execPath, ['--import', 'tsx', fixture], {
        env: { ...process.env, CLOSE_TEST_REDIS_URL: proxy.url },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      child.stdout.on('data', (chunk: Buffer) => {
        output += chunk;
      });
      child.stderr.on('data', (chunk: Buffer) => {
        output += chunk;
      });
      // Generous (a loaded machine starts node slowly): it only has to exit at all; before the
      // fix it never did.
      const exit = await new Promise<number | string | null>((resolve) => {
        const timer = setTimeout(() => {
          child.kill('SIGKILL');
          resolve('still running after 60 s');
        }, 60_000);
        child.once('exit', (code) => {
          clearTimeout(timer);
          resolve(code);
        });
      });
      expect(output).toContain('closed');
      expect(exit).toBe(0);
      expect(proxy.accepted()).toBe(2);
    } finally {
      await proxy.close();
    }
  }, 90_000);
});

interface HoldOpenProxy {
  readonly url: string;
  accepted(): number;
  close(): Promise<void>;
}

/**
 * Forwards to 127.0.0.1:`targetPort`, but when the server closes a connection (after QUIT's
 * +OK, say) the client's side stays open, as behind a middlebox that lost the FIN: only the
 * client can end it.
 */
function holdOpenProxy(targetPort: number): Promise<HoldOpenProxy> {
  const sockets = new Set<Socket>();
  let accepted = 0;
  const server = createServer((client) => {
    accepted++;
    const upstream = createConnection({ host: '127.0.0.1', port: targetPort });
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('error', () => {});
      socket.on('close', () => sockets.delete(socket));
    }
    client.on('data', (chunk: Buffer) => upstream.write(chunk));
    upstream.on('data', (chunk: Buffer) => client.write(chunk));
    client.on('close', () => upstream.destroy());
  });
  server.unref();
  return new Promise((resolve) => {
    server.listen({ host: '127.0.0.1', port: 0 }, () => {
      const { port } = server.address() as { port: number };
      resolve({
        url: `redis://127.0.0.1:${port}`,
        accepted: () => accepted,
        close: () =>
          new Promise((done) => {
            for (const socket of sockets) socket.destroy();
            server.close(() => done());
          }),
      });
    });
  });
}
