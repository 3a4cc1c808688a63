/**
 * A redis-server of the local API's own, for `npm start` without REDIS_URL: a free loopback
 * port, nothing persisted, stopped with the API. It is a tracked child (see leftovers.ts), so
 * it cannot outlive the process that started it even when that process dies without cleaning up.
 */
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { accessSync, constants, statSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { sendSignal, spawnTracked } from './leftovers.js';

const HOST = '127.0.0.1';
/** From spawn to the first PONG. */
const START_TIMEOUT_MS = 5_000;
const PING_INTERVAL_MS = 50;
const PING_TIMEOUT_MS = 500;
/** SIGTERM to exit; then SIGKILL. Without persistence a shutdown takes milliseconds. */
const STOP_TIMEOUT_MS = 3_000;
/** The free port can be taken between our probe and redis-server's bind: try another one. */
const START_ATTEMPTS = 3;
const OUTPUT_LINES_KEPT = 20;

export interface OwnRedis {
  readonly url: string;
  readonly port: number;
  readonly pid: number;
  /** SIGTERM, SIGKILL if it lingers; resolves once the process is gone. Idempotent. */
  stop(): Promise<void>;
}

export class RedisServerNotFoundError extends Error {
  override readonly name = 'RedisServerNotFoundError';

  constructor() {
    super(
      [
        'REDIS_URL is not set and there is no redis-server on the PATH to start one.',
        'Install Redis:',
        '  Debian/Ubuntu: sudo apt-get install redis-server',
        '  macOS:         brew install redis',
        'or point the local API at a Redis you have:',
        '  REDIS_URL=redis://127.0.0.1:6379 npm start',
      ].join('\n'),
    );
  }
}

export async function startOwnRedis(): Promise<OwnRedis> {
  const command = findOnPath('redis-server');
  if (command === undefined) throw new RedisServerNotFoundError();
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOn(command, await freePort());
    } catch (error) {
      const portTaken = error instanceof Error && error.message.includes('Address already in use');
      if (!portTaken || attempt >= START_ATTEMPTS) throw error;
    }
  }
}

/** The first executable file called `name` in PATH. */
export function findOnPath(name: string, path = process.env.PATH ?? ''): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      // Not here.
    }
  }
  return undefined;
}

async function startOn(command: string, port: number): Promise<OwnRedis> {
  const args = ['--port', String(port), '--bind', HOST, '--save', '', '--appendonly', 'no'];
  // cwd: a stray SAVE from a developer's redis-cli must not drop dump.rdb into the repository.
  const child = spawnTracked(command, args, { cwd: tmpdir(), stdio: ['ignore', 'pipe', 'pipe'] });
  const output = keepTail(child);
  let ended = false;
  const exited = new Promise<void>((resolve) => {
    const end = () => {
      ended = true;
      resolve();
    };
    child.once('exit', end);
    child.once('error', end);
  });
  const stop = memoize(() => stopProcess(child, exited, () => ended));
  try {
    await waitUntilAnswering(port, () => ended, output);
  } catch (error) {
    await stop();
    throw error;
  }
  return { url: `redis://${HOST}:${port}`, port, pid: child.pid ?? 0, stop };
}

async function waitUntilAnswering(port: number, ended: () => boolean, output: string[]) {
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    if (ended()) throw new Error(`redis-server exited at start:\n${output.join('\n')}`);
    if (await answersPing(port)) return;
    if (Date.now() > deadline) {
      throw new Error(
        `redis-server did not answer PING on port ${port} within ${START_TIMEOUT_MS} ms:\n${output.join('\n')}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, PING_INTERVAL_MS));
  }
}

/** One PING on a fresh connection, in RESP's inline form; never rejects. */
function answersPing(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: HOST, port });
    let reply = '';
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(PING_TIMEOUT_MS, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      reply += chunk.toString('utf8');
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'));
    });
  });
}

async function stopProcess(
  child: ChildProcess,
  exited: Promise<void>,
  ended: () => boolean,
): Promise<void> {
  if (ended() || child.pid === undefined) return;
  sendSignal(child.pid, 'SIGTERM');
  const timer = setTimeout(() => {
    if (child.pid !== undefined) sendSignal(child.pid, 'SIGKILL');
  }, STOP_TIMEOUT_MS);
  await exited;
  clearTimeout(timer);
}

/** The last lines redis-server wrote, for an error message; reading also keeps the pipes flowing. */
function keepTail(child: ChildProcess): string[] {
  const lines: string[] = [];
  const collect = (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (line.trim() !== '') lines.push(line);
    }
    lines.splice(0, Math.max(0, lines.length - OUTPUT_LINES_KEPT));
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  return lines;
}

/** A port nothing listens on right now (the kernel picks it). */
async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, HOST);
  await once(server, 'listening');
  const address = server.address();
  server.close();
  if (address === null || typeof address === 'string') throw new Error('no TCP port');
  return address.port;
}

function memoize<T>(fn: () => Promise<T>): () => Promise<T> {
  let result: Promise<T> | undefined;
  return () => {
    result ??= fn();
    return result;
  };
}
