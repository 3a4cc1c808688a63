// Starts and controls real redis-server processes for the test suite.
//
// Every server gets its own temp dir, binds only 127.0.0.1 and is tracked in a per-process
// registry, so stopAll() (afterAll) and a process 'exit' hook can end it, and a detached
// watchdog ends it even when the test worker itself is SIGKILLed.
//
// This file deliberately imports nothing relative: a plain `node` child can then load it with
// Node's type stripping (the self-test does that to prove the exit hook and the watchdog).

import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis, type RedisOptions } from 'ioredis';

export interface RedisServer {
  readonly port: number;
  /** redis://127.0.0.1:PORT, or rediss:// when the server was started with TLS. */
  readonly url: string;
  /** Pid of the running process; undefined while stopped or killed. */
  readonly pid: number | undefined;
  /** Its own temp working dir (appendonly files, redis.log, stdout.log). */
  readonly dir: string;
  /** SIGCONT + SIGTERM, wait for exit (SIGKILL after 10 s). Idempotent; keeps dir. */
  stop(): Promise<void>;
  /** SIGKILL, wait for exit. */
  kill(): Promise<void>;
  /** SIGSTOP: the kernel still accepts connections, but nothing is answered. */
  pause(): void;
  /** SIGCONT. */
  resume(): void;
  /** Start again on the same port with the same args and dir; resolves once it answers. */
  restart(): Promise<void>;
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
  stop(): Promise<void>;
}

/** Helper connections carry this name so clientList() can leave them out. */
const HELPER_CONNECTION_NAME = 'redis-test-helper';
const START_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 10_000;
const POLL_INTERVAL_MS = 25;
const START_ATTEMPTS = 5;
/** Free ports are drawn below the kernel's ephemeral range (32768+) so that outgoing client
 * sockets never take them, and so that port+10000 (the cluster bus port) stays below it too. */
const PORT_RANGE_START = 15_000;
const PORT_RANGE_SIZE = 7_000;
/** Each vitest worker (VITEST_POOL_ID 1..n) draws from its own slice, so two workers never race
 * for the same port and a stopped server's port is not handed to another worker meanwhile. */
const PORT_SLICES = 8;

// ---------------------------------------------------------------------------------------------
// Process-wide registry. Kept on globalThis so that test files which re-evaluate this module in
// the same worker still share one exit hook, one watchdog and one set of reserved ports.

interface Registry {
  /** Running redis-server children by pid. */
  live: Map<number, ChildProcess>;
  /** Every server started in this process, for stopAll(). */
  servers: Set<ManagedServer>;
  /** Temp dirs (servers and TLS material) to remove at cleanup. */
  dirs: Set<string>;
  /** Ports handed out by freePort() in this process: never handed out twice, so restart() can
   * reclaim its port. */
  reservedPorts: Set<number>;
  /** Dir holding the files the watchdog reads; undefined until the first spawn. */
  watchdogDir: string | undefined;
}

const REGISTRY_KEY = Symbol.for('lambda-redis-pool.test-helpers.redis-registry');

function registry(): Registry {
  const holder = globalThis as { [REGISTRY_KEY]?: Registry };
  let reg = holder[REGISTRY_KEY];
  if (reg === undefined) {
    reg = {
      live: new Map(),
      servers: new Set(),
      dirs: new Set(),
      reservedPorts: new Set(),
      watchdogDir: undefined,
    };
    holder[REGISTRY_KEY] = reg;
    process.on('exit', killLeftoversSync);
  }
  return reg;
}

function keepDirs(): boolean {
  // Set REDIS_TEST_KEEP_DIRS=1 to look at logs / AOF files after a run.
  return process.env.REDIS_TEST_KEEP_DIRS === '1';
}

/** 'exit' hook: only synchronous work is possible here, so SIGKILL and rmSync. */
function killLeftoversSync(): void {
  const reg = registry();
  for (const pid of reg.live.keys()) {
    signal(pid, 'SIGKILL');
  }
  reg.live.clear();
  if (!keepDirs()) {
    for (const dir of reg.dirs) rmSync(dir, { recursive: true, force: true });
  }
  if (reg.watchdogDir !== undefined) rmSync(reg.watchdogDir, { recursive: true, force: true });
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // Already gone.
  }
}

// The watchdog is a detached shell that outlives this process only long enough to notice its
// death: an 'exit' hook does not run when the worker is SIGKILLed or dies from a signal.
const WATCHDOG_SCRIPT = `
parent=$1; dir=$2
alive() { [ -r /proc/$1/stat ] && [ "$(sed 's/.*) //' /proc/$1/stat | cut -c1)" != Z ]; }
while alive "$parent"; do sleep 1; done
[ -d "$dir" ] || exit 0
for p in $(cat "$dir/pids" 2>/dev/null); do
  [ "$(cat /proc/$p/comm 2>/dev/null)" = redis-server ] && kill -9 "$p"
done
[ "$REDIS_TEST_KEEP_DIRS" = 1 ] || xargs rm -rf < "$dir/dirs" 2>/dev/null
rm -rf "$dir"
`;

function ensureWatchdog(reg: Registry): string {
  if (reg.watchdogDir !== undefined) return reg.watchdogDir;
  const dir = mkdtempSync(join(tmpdir(), 'redis-test-watchdog-'));
  reg.watchdogDir = dir;
  syncWatchdogFiles(reg);
  const child = spawn('sh', ['-c', WATCHDOG_SCRIPT, 'redis-watchdog', String(process.pid), dir], {
    detached: true, // own process group: a Ctrl-C aimed at the test run must not kill it first
    stdio: 'ignore',
  });
  child.unref();
  return dir;
}

/** Rewrite the watchdog's pid and dir lists; called on every spawn, exit and dir change. */
function syncWatchdogFiles(reg: Registry): void {
  if (reg.watchdogDir === undefined) return;
  writeFileSync(join(reg.watchdogDir, 'pids'), [...reg.live.keys()].join('\n'));
  writeFileSync(join(reg.watchdogDir, 'dirs'), [...reg.dirs].join('\n'));
}

function trackDir(dir: string): void {
  const reg = registry();
  reg.dirs.add(dir);
  syncWatchdogFiles(reg);
}

async function removeDir(dir: string): Promise<void> {
  const reg = registry();
  reg.dirs.delete(dir);
  syncWatchdogFiles(reg);
  if (!keepDirs()) await rm(dir, { recursive: true, force: true });
}

// ---------------------------------------------------------------------------------------------
// Ports

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ host: '127.0.0.1', port, exclusive: true }, () => {
      server.close(() => resolve(true));
    });
  });
}

function portSlice(): { start: number; size: number } {
  const poolId = Number(process.env.VITEST_POOL_ID);
  if (!Number.isInteger(poolId) || poolId < 1) {
    return { start: PORT_RANGE_START, size: PORT_RANGE_SIZE };
  }
  const size = Math.floor(PORT_RANGE_SIZE / PORT_SLICES);
  return { start: PORT_RANGE_START + ((poolId - 1) % PORT_SLICES) * size, size };
}

/**
 * A port on 127.0.0.1 that is free now, as is port+10000 (the cluster bus port). Never returns
 * the same port twice in one process. Another process can still take it before redis binds it:
 * startRedis() retries on a fresh port when that happens.
 */
export async function freePort(): Promise<number> {
  const reg = registry();
  const { start, size } = portSlice();
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = start + Math.floor(Math.random() * size);
    if (reg.reservedPorts.has(port)) continue;
    reg.reservedPorts.add(port); // reserve before awaiting so concurrent calls do not collide
    if ((await portIsFree(port)) && (await portIsFree(port + 10_000))) return port;
  }
  throw new Error('freePort: no free port found in 200 attempts');
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
    await sleep(POLL_INTERVAL_MS * 4);
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

async function tail(file: string, lines: number): Promise<string> {
  try {
    return (await readFile(file, 'utf8')).trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
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

/** Pid the server on `endpoint` reports, so that a PING answered by someone else's server on a
 * just-taken port is not mistaken for ours. */
async function serverPid(endpoint: Endpoint): Promise<number> {
  const info = replyToString(await call(endpoint, ['INFO', 'server'], 1_000));
  const match = /^process_id:(\d+)/m.exec(info);
  return match?.[1] === undefined ? -1 : Number(match[1]);
}

// ---------------------------------------------------------------------------------------------
// Servers

class PortInUseError extends Error {}

function defaultArgs(userArgs: string[]): string[] {
  // Defaults go only where the caller did not say otherwise: a second `--save` would append
  // save points instead of replacing them.
  const given = new Set(userArgs.filter((a) => a.startsWith('--')).map((a) => a.toLowerCase()));
  const defaults: string[] = [];
  if (!given.has('--save')) defaults.push('--save', '');
  if (!given.has('--appendonly')) defaults.push('--appendonly', 'no');
  // Redis 7 refuses DEBUG unless enabled; fault tests use DEBUG SLEEP to simulate a slow server.
  if (!given.has('--enable-debug-command')) defaults.push('--enable-debug-command', 'yes');
  return defaults;
}

function tlsArgs(port: number, tls: TlsMaterial): string[] {
  return [
    '--port',
    '0', // no plaintext listener at all
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

function serverArgs(port: number, dir: string, userArgs: string[], tls?: TlsMaterial): string[] {
  return [
    '--bind',
    '127.0.0.1',
    '--daemonize',
    'no',
    '--dir',
    dir,
    '--logfile',
    join(dir, 'redis.log'),
    ...(tls ? tlsArgs(port, tls) : ['--port', String(port)]),
    ...defaultArgs(userArgs),
    ...userArgs,
  ];
}

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

// No constructor parameter properties: Node's type stripping cannot erase them.
class ManagedServer implements RedisServer {
  readonly port: number;
  readonly dir: string;
  readonly url: string;
  private readonly args: string[];
  private readonly tls: TlsMaterial | undefined;
  private child: ChildProcess | undefined;
  private exited: Promise<Exit> = Promise.resolve({ code: null, signal: null });
  private stopping: Promise<void> | undefined;

  constructor(port: number, dir: string, args: string[], tls: TlsMaterial | undefined) {
    this.port = port;
    this.dir = dir;
    this.args = args;
    this.tls = tls;
    this.url = `${tls ? 'rediss' : 'redis'}://127.0.0.1:${port}`;
  }

  get pid(): number | undefined {
    return this.running() ? this.child?.pid : undefined;
  }

  private get endpoint(): Endpoint {
    return { port: this.port, tls: this.tls };
  }

  private running(): boolean {
    const child = this.child;
    return child !== undefined && child.exitCode === null && child.signalCode === null;
  }

  /** Spawn and wait until it answers; on failure the process is gone and the error has the log. */
  async launch(): Promise<void> {
    const child = this.spawnChild();
    try {
      await this.waitReady(child);
      registry().servers.add(this); // also after a restart that follows stopAll()
    } catch (error) {
      await this.killChild('SIGKILL');
      const message = error instanceof Error ? error.message : String(error);
      const log = await this.logTail();
      const ErrorType = /Address already in use/i.test(log) ? PortInUseError : Error;
      throw new ErrorType(`redis-server on port ${this.port} did not start: ${message}\n${log}`);
    }
  }

  private spawnChild(): ChildProcess {
    const reg = registry();
    ensureWatchdog(reg);
    // stdout/stderr go to a file: config errors are printed there before the logfile opens.
    const out = openSync(join(this.dir, 'stdout.log'), 'a');
    const child = spawn('redis-server', this.args, { cwd: this.dir, stdio: ['ignore', out, out] });
    closeSync(out);
    child.unref(); // a forgotten server must not keep vitest alive; the exit hook ends it
    this.child = child;
    this.stopping = undefined;
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, sig) => {
        if (child.pid !== undefined) reg.live.delete(child.pid);
        syncWatchdogFiles(reg);
        resolve({ code, signal: sig });
      });
      child.once('error', () => resolve({ code: null, signal: null })); // e.g. ENOENT
    });
    if (child.pid !== undefined) {
      reg.live.set(child.pid, child);
      syncWatchdogFiles(reg);
    }
    return child;
  }

  private async waitReady(child: ChildProcess): Promise<void> {
    // Raced against every probe: a probe can hang on whatever else holds the port.
    const exited = this.exited.then((exit) => ({ exit }));
    const deadline = Date.now() + START_TIMEOUT_MS;
    while (Date.now() < deadline) {
      const probe = serverPid(this.endpoint).catch(() => -1);
      const result = await Promise.race([probe, exited]);
      if (typeof result !== 'number') {
        const { code, signal } = result.exit;
        throw new Error(`process exited early (code ${code}, signal ${signal})`);
      }
      if (result === child.pid) return;
      await sleep(POLL_INTERVAL_MS);
    }
    throw new Error(`no answer within ${START_TIMEOUT_MS} ms`);
  }

  private async logTail(): Promise<string> {
    const log = await tail(join(this.dir, 'redis.log'), 20);
    const out = await tail(join(this.dir, 'stdout.log'), 20);
    return [log && `--- redis.log (tail) ---\n${log}`, out && `--- stdout (tail) ---\n${out}`]
      .filter(Boolean)
      .join('\n');
  }

  /** Send `sig` (SIGCONT first, so a paused server can act on it) and wait for the exit. */
  private async killChild(sig: NodeJS.Signals): Promise<void> {
    const pid = this.child?.pid;
    if (!this.running() || pid === undefined) return;
    signal(pid, 'SIGCONT');
    signal(pid, sig);
    if (await this.exitedWithin(STOP_TIMEOUT_MS)) return;
    signal(pid, 'SIGKILL');
    if (!(await this.exitedWithin(STOP_TIMEOUT_MS))) {
      throw new Error(`redis-server pid ${pid} (port ${this.port}) did not exit`);
    }
  }

  private async exitedWithin(ms: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    // The (ref'd) timer also keeps the event loop alive while we wait on an unref'd child.
    const timeout = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), ms);
    });
    try {
      return await Promise.race([this.exited.then(() => true), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  stop(): Promise<void> {
    this.stopping ??= this.killChild('SIGTERM');
    return this.stopping;
  }

  kill(): Promise<void> {
    return this.killChild('SIGKILL');
  }

  pause(): void {
    const pid = this.pid;
    if (pid === undefined) throw new Error(`redis on port ${this.port} is not running`);
    process.kill(pid, 'SIGSTOP');
  }

  resume(): void {
    const pid = this.pid;
    if (pid === undefined) throw new Error(`redis on port ${this.port} is not running`);
    process.kill(pid, 'SIGCONT');
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.launch();
  }

  async cli(...args: string[]): Promise<string> {
    return replyToString(await call(this.endpoint, args));
  }

  async clientList(): Promise<Array<Record<string, string>>> {
    const text = replyToString(await call(this.endpoint, ['CLIENT', 'LIST']));
    return parseClientList(text).filter((c) => c.name !== HELPER_CONNECTION_NAME);
  }
}

/**
 * Start a redis-server and resolve once it answers (and is really the process we started).
 * A start that fails because the port got taken is retried on another port unless the caller
 * fixed the port.
 */
export async function startRedis(options: StartOptions = {}): Promise<RedisServer> {
  for (let attempt = 1; ; attempt++) {
    const port = options.port ?? (await freePort());
    const dir = await mkdtemp(join(tmpdir(), `redis-test-${port}-`));
    trackDir(dir);
    const args = serverArgs(port, dir, options.args ?? [], options.tls);
    const server = new ManagedServer(port, dir, args, options.tls);
    try {
      await server.launch();
      return server;
    } catch (error) {
      await removeDir(dir);
      const retry =
        error instanceof PortInUseError && options.port === undefined && attempt < START_ATTEMPTS;
      if (!retry) throw error;
    }
  }
}

/** Stop every server these helpers started in this process and remove their temp dirs. */
export async function stopAll(): Promise<void> {
  const reg = registry();
  const servers = [...reg.servers];
  reg.servers.clear();
  await Promise.all(servers.map((s) => s.stop()));
  await Promise.all([...reg.dirs].map((dir) => removeDir(dir)));
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
  const dir = await mkdtemp(join(tmpdir(), 'redis-test-tls-'));
  trackDir(dir);
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
  const stop = async () => {
    await Promise.all(nodes.map((n) => n.stop()));
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
    await stop();
    throw error;
  }
  return { ports: nodes.map((n) => n.port), nodes, stop };
}
