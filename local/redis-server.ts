/**
 * The one way this repository starts a redis-server of its own: `npm start` without REDIS_URL
 * (api-server.ts), `npm run bench` without REDIS_URL (bench/redis.ts), and the test suite
 * (test/helpers/redis-server.ts adds pause, restart, TLS material and clusters on top).
 *
 * A server binds only 127.0.0.1, on a free port unless told one, persists nothing unless told
 * to, works in a dir of its own (its log is `redis.log` there) and counts as started once it
 * answers INFO with its own pid, so that a server someone else started on the same port is
 * never mistaken for ours. It is a tracked child (leftovers.ts): it cannot outlive the process
 * that started it, even one that dies without cleaning up.
 */
import type { ChildProcess } from 'node:child_process';
import { accessSync, closeSync, constants, openSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createConnection, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { connect as connectTls } from 'node:tls';
import { forgetDir, removeDirOnExit, sendSignal, spawnTracked } from './leftovers.js';

const HOST = '127.0.0.1';
/** Spawn to the first answer with our pid; generous because a loaded machine is slow to fork. */
const DEFAULT_START_TIMEOUT_MS = 10_000;
/** SIGTERM to exit, then SIGKILL. Without persistence a shutdown takes milliseconds. */
const DEFAULT_STOP_TIMEOUT_MS = 3_000;
const PROBE_INTERVAL_MS = 25;
const PROBE_TIMEOUT_MS = 1_000;
/** The free port can be taken between our check and redis-server's bind: try another one. */
const START_ATTEMPTS = 5;
const LOG_LINES_IN_ERRORS = 20;
const FREE_PORT_DRAWS = 200;
/** Its cluster bus listens this far above the client port. */
const CLUSTER_BUS_OFFSET = 10_000;

/** Ports [start, start + size) on 127.0.0.1. */
export interface PortRange {
  readonly start: number;
  readonly size: number;
}

/**
 * Below the kernel's ephemeral range (32768 and up), so no outgoing socket of ours or of
 * anyone else is ever given one, and port + 10000 (the cluster bus) stays below it too.
 */
export const DEFAULT_PORT_RANGE: PortRange = { start: 15_000, size: 7_000 };

export interface TlsFiles {
  readonly caFile: string;
  readonly certFile: string;
  readonly keyFile: string;
}

/** What to tell a user who has no redis-server: why we needed one, and how to do without. */
export interface MissingRedisAdvice {
  readonly why: string;
  readonly instead: readonly string[];
}

export const LOCAL_API_ADVICE: MissingRedisAdvice = {
  why: 'REDIS_URL is not set and there is no redis-server on the PATH to start one.',
  instead: [
    'or point the local API at a Redis you have:',
    '  REDIS_URL=redis://127.0.0.1:6379 npm start',
  ],
};

export class RedisServerNotFoundError extends Error {
  override readonly name = 'RedisServerNotFoundError';

  constructor(advice: MissingRedisAdvice = LOCAL_API_ADVICE) {
    super(
      [
        advice.why,
        'Install Redis:',
        '  Debian/Ubuntu: sudo apt-get install redis-server',
        '  macOS:         brew install redis',
        ...advice.instead,
      ].join('\n'),
    );
  }
}

export interface RedisServerOptions {
  /** Listen on this port. Default: a free one from `ports`, and another one if it is taken
   * before redis-server binds it. */
  port?: number;
  /** Where free ports are drawn from. Default DEFAULT_PORT_RANGE. */
  ports?: PortRange;
  /** Extra redis-server arguments. They come last and so override the defaults (no RDB
   * snapshots, no AOF); a default is left out when they name it, e.g. `['--save', '60 1']`. */
  args?: readonly string[];
  /** Its working dir (AOF/RDB files, nodes.conf, redis.log), owned by the caller and kept.
   * Default: a fresh temp dir, removed once the server is stopped. */
  dir?: string;
  /** Listen only with TLS on the port: there is no plaintext listener at all. */
  tls?: TlsFiles;
  /** Told to the user when there is no redis-server on the PATH. Default LOCAL_API_ADVICE. */
  advice?: MissingRedisAdvice;
  /** Spawn to answering. Default 10 s. */
  startTimeoutMs?: number;
  /** SIGTERM to exit before SIGKILL follows. Default 3 s. */
  stopTimeoutMs?: number;
}

export interface RunningRedisServer {
  readonly port: number;
  /** redis://127.0.0.1:PORT, or rediss:// with TLS. */
  readonly url: string;
  readonly pid: number;
  readonly dir: string;
  /** Resolves once the process has exited (stopped, killed or crashed). */
  readonly exited: Promise<void>;
  /** The process has not exited. */
  running(): boolean;
  /** SIGTERM (SIGCONT first: a stopped process acts on nothing else), SIGKILL when it lingers;
   * resolves once it is gone and its temp dir (if it is ours) removed. Idempotent. */
  stop(): Promise<void>;
  /** SIGKILL; resolves once it is gone. Its temp dir (if it is ours) is removed too. */
  kill(): Promise<void>;
}

/** Starts a redis-server and resolves once it answers; see RedisServerOptions. */
export async function startRedisServer(
  options: RedisServerOptions = {},
): Promise<RunningRedisServer> {
  const command = findOnPath('redis-server');
  if (command === undefined) throw new RedisServerNotFoundError(options.advice);
  for (let attempt = 1; ; attempt++) {
    const port = options.port ?? (await freePort(options.ports));
    try {
      return await startOn(command, port, options);
    } catch (error) {
      const retry =
        error instanceof PortTakenError && options.port === undefined && attempt < START_ATTEMPTS;
      if (!retry) throw error;
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

// ---- ports -----------------------------------------------------------------------------

// On globalThis: test files that re-evaluate this module in one process share one set.
const RESERVED_PORTS_KEY = Symbol.for('lambda-redis-pool.local.redis-server.reserved-ports');

/** Ports freePort() handed out in this process. Never handed out twice, so a stopped server
 * can be started again on its port without another server of this process having taken it. */
function reservedPorts(): Set<number> {
  const holder = globalThis as { [RESERVED_PORTS_KEY]?: Set<number> };
  holder[RESERVED_PORTS_KEY] ??= new Set();
  return holder[RESERVED_PORTS_KEY];
}

/**
 * A port in `range` on which nothing listens now, nor on port + 10000 (a cluster node's bus).
 * Another process can still take it before redis-server binds it: startRedisServer() then
 * tries another one.
 */
export async function freePort(range: PortRange = DEFAULT_PORT_RANGE): Promise<number> {
  const reserved = reservedPorts();
  for (let draw = 0; draw < FREE_PORT_DRAWS; draw++) {
    const port = range.start + Math.floor(Math.random() * range.size);
    if (reserved.has(port)) continue;
    reserved.add(port); // before awaiting, so concurrent calls never draw the same port
    if ((await portIsFree(port)) && (await portIsFree(port + CLUSTER_BUS_OFFSET))) return port;
  }
  throw new Error(`no free port in ${range.start}-${range.start + range.size - 1}`);
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ host: HOST, port, exclusive: true }, () => {
      server.close(() => resolve(true));
    });
  });
}

// ---- one start -------------------------------------------------------------------------

/** redis-server could not bind its port: someone else has it. */
class PortTakenError extends Error {}

async function startOn(
  command: string,
  port: number,
  options: RedisServerOptions,
): Promise<RunningRedisServer> {
  const ownDir = options.dir === undefined;
  const dir = options.dir ?? (await makeTempDir());
  const logFile = join(dir, 'redis.log');
  const { child, exited, running } = spawnServer(command, serverArgs(port, dir, options), dir);
  const removeOwnDir = async () => {
    if (!ownDir) return;
    await rm(dir, { recursive: true, force: true });
    forgetDir(dir);
  };
  const stopTimeoutMs = options.stopTimeoutMs ?? DEFAULT_STOP_TIMEOUT_MS;
  const end = (signal: NodeJS.Signals) =>
    endProcess(child, exited, running, signal, stopTimeoutMs).then(removeOwnDir);

  try {
    await waitUntilAnswering({ port, tls: options.tls }, child, exited, options.startTimeoutMs);
  } catch (error) {
    await endProcess(child, exited, running, 'SIGKILL', stopTimeoutMs);
    const tail = await logTail(logFile); // before the dir goes
    await removeOwnDir();
    const reason = error instanceof Error ? error.message : String(error);
    const message = `redis-server on port ${port} did not start: ${reason}`;
    const ErrorType = /Address already in use/i.test(tail) ? PortTakenError : Error;
    throw new ErrorType(`${message}\n--- redis.log (tail) ---\n${tail}`);
  }
  return {
    port,
    url: `${options.tls ? 'rediss' : 'redis'}://${HOST}:${port}`,
    pid: child.pid ?? 0,
    dir,
    exited,
    running,
    stop: memoize(() => end('SIGTERM')),
    kill: () => end('SIGKILL'),
  };
}

interface SpawnedServer {
  child: ChildProcess;
  exited: Promise<void>;
  running: () => boolean;
}

/** Spawns redis-server in `dir` as a tracked child, its stdout and stderr in redis.log there. */
function spawnServer(command: string, args: string[], dir: string): SpawnedServer {
  // A file, not a pipe: nothing has to keep reading it, and it is still there to be quoted
  // in an error after the process is gone.
  const log = openSync(join(dir, 'redis.log'), 'a');
  let child: ChildProcess;
  try {
    // cwd: relative paths in args (nodes.conf, a stray SAVE's dump.rdb) land in its own dir.
    child = spawnTracked(command, args, { cwd: dir, stdio: ['ignore', log, log] });
  } finally {
    closeSync(log);
  }
  // A forgotten server must not keep its parent alive; the exit hook (leftovers.ts) ends it.
  child.unref();
  let ended = false;
  const exited = new Promise<void>((resolve) => {
    const end = () => {
      ended = true;
      resolve();
    };
    child.once('exit', end);
    child.once('error', end); // e.g. it could not be spawned at all
  });
  return { child, exited, running: () => !ended };
}

async function makeTempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'redis-server-'));
  removeDirOnExit(dir);
  return dir;
}

function serverArgs(port: number, dir: string, options: RedisServerOptions): string[] {
  const userArgs = options.args ?? [];
  return [
    '--bind',
    HOST,
    '--daemonize',
    'no',
    '--dir',
    dir,
    ...(options.tls ? tlsArgs(port, options.tls) : ['--port', String(port)]),
    ...defaultArgs(userArgs),
    ...userArgs,
  ];
}

/** No persistence, unless the caller says otherwise: then its own words only, because a
 * second `--save` would add save points to the default's instead of replacing them. */
function defaultArgs(userArgs: readonly string[]): string[] {
  const given = new Set(userArgs.filter((a) => a.startsWith('--')).map((a) => a.toLowerCase()));
  const defaults: string[] = [];
  if (!given.has('--save')) defaults.push('--save', '');
  if (!given.has('--appendonly')) defaults.push('--appendonly', 'no');
  return defaults;
}

function tlsArgs(port: number, tls: TlsFiles): string[] {
  return [
    '--port',
    '0', // no plaintext listener
    '--tls-port',
    String(port),
    '--tls-cert-file',
    tls.certFile,
    '--tls-key-file',
    tls.keyFile,
    '--tls-ca-cert-file',
    tls.caFile,
    '--tls-auth-clients',
    'no',
  ];
}

interface Endpoint {
  port: number;
  tls: TlsFiles | undefined;
}

async function waitUntilAnswering(
  endpoint: Endpoint,
  child: ChildProcess,
  exited: Promise<void>,
  timeoutMs = DEFAULT_START_TIMEOUT_MS,
): Promise<void> {
  // Raced against every probe: a probe of a port that someone else holds can hang.
  const exit = exited.then(() => 'exited' as const);
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const result = await Promise.race([serverPid(endpoint), exit]);
    if (result === 'exited') {
      throw new Error(`it exited (code ${child.exitCode}, signal ${child.signalCode})`);
    }
    if (result !== undefined && result === child.pid) return;
    await sleep(PROBE_INTERVAL_MS);
  }
  throw new Error(`no answer within ${timeoutMs} ms`);
}

/**
 * The pid the server on `endpoint` reports in INFO, on a fresh connection (TLS when the server
 * has it), asked in RESP's inline form; undefined when nothing (or nothing sensible) answers.
 */
function serverPid(endpoint: Endpoint): Promise<number | undefined> {
  return new Promise((resolve) => {
    const socket = openSocket(endpoint);
    let reply = Buffer.alloc(0);
    const done = (pid: number | undefined) => {
      socket.destroy();
      resolve(pid);
    };
    socket.setTimeout(PROBE_TIMEOUT_MS, () => done(undefined));
    socket.once('error', () => done(undefined));
    socket.on('data', (chunk: Buffer) => {
      reply = Buffer.concat([reply, chunk]);
      const parsed = parseReply(reply);
      if (parsed.complete) done(parsed.bulk === undefined ? undefined : pidIn(parsed.bulk));
    });
  });
}

/** A RESP reply read so far: complete or not, and its text if it is a bulk string (an error
 * reply such as -LOADING is complete but has none). */
type Reply = { complete: false } | { complete: true; bulk: string | undefined };

function parseReply(reply: Buffer): Reply {
  const headerEnd = reply.indexOf('\r\n');
  if (headerEnd < 0) return { complete: false };
  const header = reply.subarray(0, headerEnd).toString('latin1');
  if (!header.startsWith('$')) return { complete: true, bulk: undefined };
  const length = Number(header.slice(1));
  const start = headerEnd + 2;
  if (reply.length < start + length + 2) return { complete: false };
  return { complete: true, bulk: reply.subarray(start, start + length).toString('utf8') };
}

function openSocket({ port, tls }: Endpoint): Socket {
  if (tls === undefined) {
    const socket = createConnection({ host: HOST, port });
    socket.once('connect', () => socket.write('INFO server\r\n'));
    return socket;
  }
  const socket = connectTls({ host: HOST, port, ca: readFileSync(tls.caFile) });
  socket.once('secureConnect', () => socket.write('INFO server\r\n'));
  return socket;
}

function pidIn(info: string): number | undefined {
  const match = /^process_id:(\d+)/m.exec(info);
  return match?.[1] === undefined ? undefined : Number(match[1]);
}

/** Send `signal` and wait for the exit; SIGKILL after `graceMs`, and give up after twice that. */
async function endProcess(
  child: ChildProcess,
  exited: Promise<void>,
  running: () => boolean,
  signal: NodeJS.Signals,
  graceMs: number,
): Promise<void> {
  const pid = child.pid;
  if (!running() || pid === undefined) return;
  sendSignal(pid, 'SIGCONT'); // a SIGSTOPped (paused) server would act on SIGTERM only later
  sendSignal(pid, signal);
  // The timers are ref'd: they also keep the process alive while it waits on an unref'd child.
  if (await within(exited, graceMs)) return;
  sendSignal(pid, 'SIGKILL');
  if (!(await within(exited, graceMs))) {
    throw new Error(`redis-server (pid ${pid}) did not exit after SIGKILL`);
  }
}

async function within(promise: Promise<void>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([promise.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function logTail(file: string): Promise<string> {
  try {
    const text = await readFile(file, 'utf8');
    return text.trimEnd().split('\n').slice(-LOG_LINES_IN_ERRORS).join('\n');
  } catch {
    return '(no log)';
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function memoize<T>(fn: () => Promise<T>): () => Promise<T> {
  let result: Promise<T> | undefined;
  return () => {
    result ??= fn();
    return result;
  };
}
