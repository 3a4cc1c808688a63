/**
 * The connection handshake against real redis-server processes: least-privilege users and
 * hardened servers (ACLs, rename-command), failures that retrying cannot heal (credentials,
 * permissions, certificates, configuration) told apart from those it can (a server loading its
 * dataset), and the connect timeout as the one bound of the whole handshake on a slow link.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { RedisPool, type RedisPoolOptions } from '../../src/index.js';
import { freePort, startRedis, stopAll } from '../helpers/redis-server.js';

const pools: RedisPool[] = [];

function poolFor(url: string, options: RedisPoolOptions = {}): RedisPool {
  const pool = new RedisPool({ url, clientName: 'handshake-test', metrics: false, ...options }, {});
  pools.push(pool);
  return pool;
}

/** What ioredis (or anything else) printed while the test ran. */
let printed: string[];
beforeEach(() => {
  printed = [];
  for (const method of ['log', 'info', 'warn', 'error'] as const) {
    vi.spyOn(console, method).mockImplementation((...args: unknown[]) => {
      printed.push(args.map(String).join(' '));
    });
  }
});

afterEach(async () => {
  vi.restoreAllMocks();
  await Promise.all(pools.splice(0).map((p) => p.close()));
});

const dirs: string[] = [];
afterAll(async () => {
  await stopAll();
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

describe('least privilege: the handshake needs nothing beyond HELLO/AUTH', () => {
  it.each([
    ['+get +set +ping', ['+get', '+set', '+ping'], 'SET'],
    ['+@read +@connection -client', ['+@read', '+@connection', '-client'], 'GET'],
  ])(
    'an ACL user allowed only %s connects, works, and nothing is printed',
    async (_, rules, use) => {
      const server = await startRedis();
      await server.cli('ACL', 'SETUSER', 'app', 'on', '>app-secret', '~*', ...rules);
      await server.cli('SET', 'k', 'v');
      const pool = poolFor(`redis://app:app-secret@127.0.0.1:${server.port}`, {
        retryBaseMs: 10_000,
        retryMaxMs: 10_000,
      });
      const lease = await pool.acquire();
      if (use === 'SET') expect(await lease.redis.set('k', 'w')).toBe('OK');
      expect(await lease.redis.get('k')).toBe(use === 'SET' ? 'w' : 'v');
      await lease.release();
      expect(pool.stats()).toMatchObject({ connectionsCreated: 1, connectionsFailed: 0 });
      expect(printed).toEqual([]);
    },
  );

  it('a server with CLIENT and INFO renamed away (rename-command "") serves the pool', async () => {
    const server = await startBareRedis([
      '--rename-command',
      'CLIENT',
      '',
      '--rename-command',
      'INFO',
      '',
    ]);
    const pool = poolFor(`redis://127.0.0.1:${server.port}`, {
      retryBaseMs: 10_000,
      retryMaxMs: 10_000,
    });
    const lease = await pool.acquire();
    expect(await lease.redis.set('renamed', 'yes')).toBe('OK');
    await lease.release();
    expect(pool.stats()).toMatchObject({ connectionsCreated: 1, connectionsFailed: 0 });
    expect(printed).toEqual([]);
  });
});

// ---- a server without INFO ---------------------------------------------------------------

const bareServers = new Set<ChildProcess>();
const killBareServers = () => {
  for (const child of bareServers) child.kill('SIGKILL');
};
process.on('exit', killBareServers);
afterAll(async () => {
  await Promise.all(
    [...bareServers].map(
      (child) =>
        new Promise((resolve) => {
          child.once('exit', resolve);
          child.kill('SIGTERM');
        }),
    ),
  );
  process.off('exit', killBareServers);
});

/**
 * A redis-server started here rather than with startRedis(), whose readiness probe needs the
 * INFO command this server does not have. Ready once it answers PING; stopped after the file.
 */
async function startBareRedis(args: string[]): Promise<{ readonly port: number }> {
  const port = await freePort();
  const child = spawn(
    'redis-server',
    ['--bind', '127.0.0.1', '--port', String(port), '--save', '', '--appendonly', 'no', ...args],
    { stdio: 'ignore' },
  );
  bareServers.add(child);
  child.once('exit', () => bareServers.delete(child));
  const ping = promisify(execFile);
  for (let tries = 0; ; tries++) {
    const answer = await ping('redis-cli', ['-p', String(port), 'PING']).catch(() => undefined);
    if (answer?.stdout.trim() === 'PONG') return { port };
    if (tries > 100) throw new Error(`redis-server on ${port} did not start`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
