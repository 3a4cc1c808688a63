// Real redis-server processes for the test suite, controlled the ways fault tests need: stop,
// kill, pause (SIGSTOP), restart on the same port with the same dir, TLS, clusters.
//
// Starting and stopping is the launcher's (local/redis-server.ts), the one npm start and the
// bench use too; so is the cleanup: every server is a tracked child (local/leftovers.ts) that
// an 'exit' hook kills, and that the kernel kills (parent-death signal) when the test worker
// itself is SIGKILLed. Per test, prefer the fixtures of ./fixtures.ts, which stop what they
// started when the test ends; stopAll() is for files that start servers by hand.

import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis, type RedisOptions } from 'ioredis';
import { forgetDir, removeDirOnExit } from '../../local/leftovers.js';
import {
  DEFAULT_PORT_RANGE,
  freePort as launcherFreePort,
  type MissingRedisAdvice,
  type PortRange,
  type RunningRedisServer,
  startRedisServer,
} from '../../local/redis-server.js';

export interface RedisServer {
  readonly port: number;
  /** redis://127.0.0.1:PORT, or rediss:// when the server was started with TLS. */
  readonly url: string;
  /** Pid of the running process; undefined while stopped or killed. */
  readonly pid: number | undefined;
  /** Its own temp working dir (AOF files, nodes.conf, redis.log: its stdout and stderr). */
  readonly dir: string;
  /** The TLS material it listens with (TLS only); undefined for a plaintext server. */
  readonly tls: TlsMaterial | undefined;
  /** SIGCONT + SIGTERM, wait for the exit (SIGKILL after 10 s). Idempotent; keeps dir. */
  stop(): Promise<void>;
  /** SIGKILL, wait for the exit. */
  kill(): Promise<void>;
  /** SIGSTOP: the kernel still accepts connections, but nothing is answered. */
  pause(): void;
  /** SIGCONT. */
  resume(): void;
  /** Start again on the same port with the same args and dir; resolves once it answers. */
  restart(): Promise<void>;
  /** Stop for good and remove its dir (what the fixtures do when a test ends). */
  dispose(): Promise<void>;
  /** Run one command on a fresh connection (closed again before this resolves) and return the
   * reply as text: arrays one element a line, nil as ''. Rejects with the server's error reply;
   * gives up after 15 s (a paused server never answers). */
  cli(...args: string[]): Promise<string>;
  /** Parsed CLIENT LIST, without the helpers' own connections. */
  clientList(): Promise<Array<Record<string, string>>>;
}

export interface StartOptions {
  /** Default: a free port (and the start is retried on another one if the port gets taken). */
  port?: number;
  /** Extra redis-server args, e.g. ['--timeout', '1']; they override the defaults. */
  args?: string[];
  /** Listen ONLY with TLS on `port`. */
  tls?: TlsMaterial;
}

export interface TlsMaterial {
  caFile: string;
  certFile: string;
  keyFile: string;
  dir: string;
}

export interface RedisCluster {
  ports: number[];
  nodes: RedisServer[];
  /** Stops every node (keeping their dirs). */
  stop(): Promise<void>;
  /** Stops every node and removes their dirs. */
  dispose(): Promise<void>;
}

/** Helper connections carry this name so clientList() can leave them out. */
const HELPER_CONNECTION_NAME = 'redis-test-helper';
/** A loaded 2-core machine (two workers plus whatever else runs) is slow to fork and to fsync. */
const START_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 10_000;
const POLL_INTERVAL_MS = 100;
/** Each vitest worker (VITEST_POOL_ID 1..n) draws from its own slice of the launcher's range,
 * so two workers never race for a port, and a stopped server's port cannot be taken by another
 * worker before its restart(). */
const PORT_SLICES = 8;

const TEST_ADVICE: MissingRedisAdvice = {
  why: 'The tests start redis-server processes of their own, and there is no redis-server on the PATH.',
  instead: ['(redis-cli and openssl are needed too.)'],
};

/** Every server started here and not yet disposed, for stopAll(). */
const started = new Set<ManagedServer>();
/** TLS material made here and not yet removed, for stopAll(). */
const tlsDirs = new Set<string>();

function keepDirs(): boolean {
  // Set REDIS_TEST_KEEP_DIRS=1 to look at logs and AOF files after a run.
  return process.env.REDIS_TEST_KEEP_DIRS === '1';
}

async function makeDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  if (!keepDirs()) removeDirOnExit(dir);
  return dir;
}

async function removeDir(dir: string): Promise<void> {
  if (keepDirs()) return;
  await rm(dir, { recursive: true, force: true });
  forgetDir(dir);
}

// ---------------------------------------------------------------------------------------------
// Ports

function workerPorts(): PortRange {
  const poolId = Number(process.env.VITEST_POOL_ID);
  if (!Number.isInteger(poolId) || poolId < 1) return DEFAULT_PORT_RANGE;
  const size = Math.floor(DEFAULT_PORT_RANGE.size / PORT_SLICES);
  return { start: DEFAULT_PORT_RANGE.start + ((poolId - 1) % PORT_SLICES) * size, size };
}

/**
 * A port on 127.0.0.1 on which nothing listens now, nor on port+10000 (a cluster bus port),
 * from this worker's slice. Never the same port twice in one process.
 */
export function freePort(): Promise<number> {
  return launcherFreePort(workerPorts());
}

// ---------------------------------------------------------------------------------------------
// Small utilities

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Poll `check` until it returns true; throws with `what` after `timeoutMs`. */
async function waitUntil(
  what: string,
  check: () => Promise<boolean>,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      if (await check()) return;
    } catch (error) {
      lastError = error;
    }
    await sleep(POLL_INTERVAL_MS);
  }
  const cause = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${cause}`);
}

function run(command: string, args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { timeout: timeoutMs }, (error, stdout, stderr) => {
      if (error) {
        reject(
          new Error(`${command} ${args.join(' ')} failed: ${error.message}\n${stdout}${stderr}`),
        );
      } else {
        resolve(stdout);
      }
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Talking to a server

interface Endpoint {
  port: number;
  tls: TlsMaterial | undefined;
}

/** One short-lived connection that never retries: helpers must fail fast, not reconnect. */
function connectOptions(endpoint: Endpoint, commandTimeout: number): RedisOptions {
  return {
    host: '127.0.0.1',
    port: endpoint.port,
    lazyConnect: true,
    connectionName: HELPER_CONNECTION_NAME,
    disableClientInfo: true, // redis 7.0 has no CLIENT SETINFO
    // ioredis 6 defaults to RESP3 (HELLO 3); RESP2 keeps replies redis-cli shaped (no maps).
    protocol: 2,
    enableReadyCheck: false,
    enableOfflineQueue: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout: Math.min(commandTimeout, 5_000),
    commandTimeout,
    ...(endpoint.tls ? { tls: { ca: readFileSync(endpoint.tls.caFile) } } : {}),
  };
}

async function withConnection<T>(
  endpoint: Endpoint,
  commandTimeout: number,
  use: (client: Redis) => Promise<T>,
): Promise<T> {
  const client = new Redis(connectOptions(endpoint, commandTimeout));
  client.on('error', () => {
    // Surfaced through the rejected command; without a listener ioredis logs to stderr.
  });
  let result: T;
  try {
    await client.connect();
    result = await use(client);
  } catch (error) {
    client.disconnect();
    throw error;
  }
  await quitAndWait(client);
  return result;
}

/** QUIT and wait until the server has closed the socket: it frees the client before that, so
 * once a helper call resolves its connection no longer counts against maxclients or shows up in
 * INFO clients. */
async function quitAndWait(client: Redis): Promise<void> {
  const ended = new Promise<void>((resolve) => client.once('end', resolve));
  try {
    await client.quit();
    await Promise.race([ended, sleep(2_000)]);
  } catch {
    // The reply got lost; nothing to wait for.
  } finally {
    client.disconnect();
  }
}

function call(endpoint: Endpoint, args: string[], commandTimeout = 15_000): Promise<unknown> {
  const [command, ...rest] = args;
  if (command === undefined) return Promise.reject(new Error('cli: no command given'));
  return withConnection(endpoint, commandTimeout, (client) => client.call(command, ...rest));
}

/** Reply as redis-cli --raw would print it: arrays one element a line, nil as ''. */
function replyToString(reply: unknown): string {
  if (reply === null || reply === undefined) return '';
  if (Array.isArray(reply)) return reply.map(replyToString).join('\n');
  if (Buffer.isBuffer(reply)) return reply.toString('utf8');
  if (typeof reply === 'object') return replyToString(Object.entries(reply).flat());
  return String(reply);
}

function parseClientList(text: string): Array<Record<string, string>> {
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '')
    .map((line) => {
      const entry: Record<string, string> = {};
      for (const field of line.split(' ')) {
        const eq = field.indexOf('=');
        if (eq > 0) entry[field.slice(0, eq)] = field.slice(eq + 1);
      }
      return entry;
    });
}

// ---------------------------------------------------------------------------------------------
// Servers

/** Redis 7 refuses DEBUG unless enabled; fault tests use DEBUG SLEEP to simulate a slow server. */
function testArgs(userArgs: readonly string[]): string[] {
  const given = userArgs.some((a) => a.toLowerCase() === '--enable-debug-command');
  return [...(given ? [] : ['--enable-debug-command', 'yes']), ...userArgs];
}

class ManagedServer implements RedisServer {
  readonly port: number;
  readonly dir: string;
  readonly url: string;
  readonly tls: TlsMaterial | undefined;
  readonly #args: string[];
  #process: RunningRedisServer;
  #disposed: Promise<void> | undefined;

  constructor(running: RunningRedisServer, args: string[], tls: TlsMaterial | undefined) {
    this.#process = running;
    this.port = running.port;
    this.dir = running.dir;
    this.url = running.url;
    this.#args = args;
    this.tls = tls;
  }

  get pid(): number | undefined {
    return this.#process.running() ? this.#process.pid : undefined;
  }

  get #endpoint(): Endpoint {
    return { port: this.port, tls: this.tls };
  }

  stop(): Promise<void> {
    return this.#process.stop();
  }

  kill(): Promise<void> {
    return this.#process.kill();
  }

  pause(): void {
    process.kill(this.#runningPid(), 'SIGSTOP');
  }

  resume(): void {
    process.kill(this.#runningPid(), 'SIGCONT');
  }

  #runningPid(): number {
    const pid = this.pid;
    if (pid === undefined) throw new Error(`redis on port ${this.port} is not running`);
    return pid;
  }

  async restart(): Promise<void> {
    if (this.#disposed !== undefined) throw new Error(`redis on port ${this.port} was disposed`);
    await this.stop();
    this.#process = await launch({ port: this.port, args: this.#args, tls: this.tls }, this.dir);
    started.add(this); // also after a stopAll()
  }

  dispose(): Promise<void> {
    this.#disposed ??= (async () => {
      started.delete(this);
      await this.stop();
      await removeDir(this.dir);
    })();
    return this.#disposed;
  }

  async cli(...args: string[]): Promise<string> {
    return replyToString(await call(this.#endpoint, args));
  }

  async clientList(): Promise<Array<Record<string, string>>> {
    const text = replyToString(await call(this.#endpoint, ['CLIENT', 'LIST']));
    return parseClientList(text).filter((c) => c.name !== HELPER_CONNECTION_NAME);
  }
}

function launch(options: StartOptions, dir: string): Promise<RunningRedisServer> {
  return startRedisServer({
    port: options.port,
    ports: workerPorts(),
    args: options.args ?? [],
    dir,
    tls: options.tls,
    advice: TEST_ADVICE,
    startTimeoutMs: START_TIMEOUT_MS,
    stopTimeoutMs: STOP_TIMEOUT_MS,
  });
}

/**
 * Start a redis-server in a temp dir of its own and resolve once it answers (and is really the
 * process we started). Stop it with dispose(), or let a fixture or stopAll() do it.
 */
export async function startRedis(options: StartOptions = {}): Promise<RedisServer> {
  const dir = await makeDir('redis-test-');
  const args = testArgs(options.args ?? []);
  try {
    const server = new ManagedServer(await launch({ ...options, args }, dir), args, options.tls);
    started.add(server);
    return server;
  } catch (error) {
    await removeDir(dir);
    throw error;
  }
}

/** Stop every server started here and not yet disposed, and remove their temp dirs and the
 * TLS material made here. */
export async function stopAll(): Promise<void> {
  await Promise.all([...started].map((server) => server.dispose()));
  await Promise.all([...tlsDirs].map((dir) => removeTlsMaterial({ dir })));
}

// ---------------------------------------------------------------------------------------------
// TLS

const SERVER_CERT_EXTENSIONS = `basicConstraints=CA:FALSE
keyUsage=digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth,clientAuth
subjectAltName=IP:127.0.0.1,DNS:localhost
`;

/** A fresh CA and a server cert for 127.0.0.1/localhost signed by it. EC keys: fast to make. */
export async function makeTlsMaterial(): Promise<TlsMaterial> {
  const dir = await makeDir('redis-test-tls-');
  tlsDirs.add(dir);
  const file = (name: string) => join(dir, name);
  const ecKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await run(
    'openssl',
    ['req', '-x509', ...ecKey, '-keyout', file('ca.key'), '-out', file('ca.crt')].concat([
      '-days',
      '2',
      '-subj',
      '/CN=lambda-redis-pool test CA',
    ]),
    15_000,
  );
  await run(
    'openssl',
    ['req', ...ecKey, '-keyout', file('server.key'), '-out', file('server.csr')].concat([
      '-subj',
      '/CN=localhost',
    ]),
    15_000,
  );
  await writeFile(file('server.ext'), SERVER_CERT_EXTENSIONS);
  await run(
    'openssl',
    ['x509', '-req', '-in', file('server.csr'), '-CA', file('ca.crt'), '-CAkey', file('ca.key')]
      .concat(['-CAcreateserial', '-days', '2', '-extfile', file('server.ext')])
      .concat(['-out', file('server.crt')]),
    15_000,
  );
  return { caFile: file('ca.crt'), certFile: file('server.crt'), keyFile: file('server.key'), dir };
}

/** Removes what makeTlsMaterial() made (stop the servers that use it first). */
export async function removeTlsMaterial(material: Pick<TlsMaterial, 'dir'>): Promise<void> {
  tlsDirs.delete(material.dir);
  await removeDir(material.dir);
}

// ---------------------------------------------------------------------------------------------
// Cluster

// A short node timeout so fault tests see a killed node marked failed within seconds.
const CLUSTER_ARGS = [
  '--cluster-enabled',
  'yes',
  '--cluster-config-file',
  'nodes.conf',
  '--cluster-node-timeout',
  '2000',
];

/** True once this node reports a healthy cluster of exactly `masters` connected masters. */
async function nodeSeesHealthyCluster(node: RedisServer, masters: number): Promise<boolean> {
  const info = await node.cli('CLUSTER', 'INFO');
  const field = (name: string) => new RegExp(`^${name}:(\\S+)`, 'm').exec(info)?.[1];
  if (field('cluster_state') !== 'ok' || field('cluster_slots_ok') !== '16384') return false;
  if (field('cluster_known_nodes') !== String(masters)) return false;
  // cluster_state can turn ok before gossip has finished the handshakes with every peer.
  const lines = (await node.cli('CLUSTER', 'NODES')).split('\n').filter((l) => l.trim() !== '');
  const healthy = lines.filter((l) => /\bmaster\b/.test(l) && / connected\b/.test(l));
  return healthy.length === masters && !lines.some((l) => /handshake|fail/.test(l));
}

/**
 * Start `masters` cluster-enabled servers, join them with `redis-cli --cluster create` (no
 * replicas) and wait until every node reports cluster_state:ok and sees every master.
 */
export async function startCluster(masters = 3): Promise<RedisCluster> {
  if (masters < 3) throw new Error('redis-cli --cluster create needs at least 3 masters');
  const nodes = await Promise.all(
    Array.from({ length: masters }, () => startRedis({ args: CLUSTER_ARGS })),
  );
  const cluster: RedisCluster = {
    ports: nodes.map((n) => n.port),
    nodes,
    stop: async () => {
      await Promise.all(nodes.map((n) => n.stop()));
    },
    dispose: async () => {
      await Promise.all(nodes.map((n) => n.dispose()));
    },
  };
  try {
    const addresses = nodes.map((n) => `127.0.0.1:${n.port}`);
    await run(
      'redis-cli',
      ['--cluster', 'create', ...addresses, '--cluster-replicas', '0', '--cluster-yes'],
      30_000,
    );
    await waitUntil(
      `cluster of ${masters} to be ok on every node`,
      async () => {
        const views = await Promise.all(nodes.map((n) => nodeSeesHealthyCluster(n, masters)));
        return views.every(Boolean);
      },
      20_000,
    );
  } catch (error) {
    await cluster.dispose();
    throw error;
  }
  return cluster;
}
