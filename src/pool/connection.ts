/**
 * Connections: what the pool asks of one (`Connection`), and the ioredis client (standalone
 * Redis or Cluster) behind it, configured so that nothing waits without bound.
 *
 * ioredis's own reconnection is switched off (`retryStrategy: () => null`): a lost connection
 * simply ends, and the pool replaces it under one backoff shared by all its connections.
 * Otherwise every client would run its own retry timers, each ignorant of the others and of
 * the invocation deadline, and timers do not even run while Lambda freezes the process.
 */
import type { ConnectionOptions } from 'node:tls';
import { Cluster, type ClusterOptions, Redis, type RedisOptions } from 'ioredis';
import { isIP, readFileSync, rootCertificates } from '../builtins.js';
import type { RedisEndpoint, RedisPoolConfig } from '../config.js';
import { isFailoverReply } from './connection-error.js';
import { resolvingConnector } from './connector.js';
import { summarizeWhenPrinted } from './printable.js';
import { ConnectionSupervisor } from './supervisor.js';
import { withTimeout } from './timeout.js';

/** The client a lease hands out: a standalone client, or a Cluster in cluster mode. */
export type RedisClient = Redis | Cluster;

/**
 * What the pool needs from one open connection. The pool's policy (budget, queue, deadlines,
 * validation) talks to connections only through this, so it can be driven by fakes in tests;
 * `connectIoredis` below is the real thing.
 */
export interface Connection {
  /** The client a lease hands out. */
  readonly client: RedisClient;
  /**
   * Open and taking commands now, as far as this process knows: false as soon as the socket has
   * read the server's FIN or reset, or the connection was declared dead. Once false, never true
   * again.
   */
  readonly ready: boolean;
  /**
   * Resolves once the socket events that have already arrived (a close or reset the server sent
   * while this process could not read: a freeze, a long synchronous stretch) have been handled,
   * so that `ready` tells what the process can know without asking the server.
   */
  catchUp(): Promise<void>;
  /** One round trip; rejects when the connection does not answer (bounded by the command timeout). */
  ping(): Promise<void>;
  /**
   * Undoes what an exclusive lease may have left behind (an open MULTI, WATCHed keys, another
   * db, client-side caching turned on) so that the next lease finds the connection as new.
   * False when that is not possible and the connection must go. The pool bounds the wait.
   */
  reset(db: number): Promise<boolean>;
  /**
   * True when a shared lease left the connection in a state that would misroute the commands
   * of every other lease on it: another db, or subscriber mode.
   */
  isTainted(db: number): boolean;
  /**
   * Several leases in flight (`true`): the commands of one tick go out in one write. One or
   * none (`false`): each command is written at once, from the next tick on (leases given back
   * and taken again within a tick stay batched). Optional: a connection that does not batch
   * writes every command at once.
   */
  batch?(on: boolean): void;
  /** Closes at once; commands in flight fail (ConnectionLostError). */
  destroy(): void;
  /**
   * Closes politely (QUIT) so the server sees a clean disconnect; after `timeoutMs` at most the
   * socket is destroyed, whatever the server did.
   */
  quit(timeoutMs: number): Promise<void>;
}

/** What the pool hears about a connection once it has asked for it. */
export interface ConnectionEvents {
  /** A socket error; the pool keeps the latest as the cause of RedisUnavailableError. */
  error(error: Error): void;
  /** An open connection ended (the server, the network, or a destroy closed it). */
  end(): void;
}

/**
 * The configuration of one connection attempt: the pool's, with the endpoint known (configured
 * or discovered) and its password the one to use now (an IAM token is fresh for each attempt).
 */
export type ConnectConfig = Omit<RedisPoolConfig, 'endpoint'> & {
  readonly endpoint: RedisEndpoint;
  /**
   * The password of connections ioredis opens later on its own (Cluster nodes), when it changes
   * over time (IAM tokens); else the endpoint's.
   */
  readonly password?: () => string;
  /** DNS servers to resolve host names with instead of the system's (tests). */
  readonly dnsServers?: readonly string[] | undefined;
};

/**
 * Opens one connection on the configured db, named `name` (CLIENT SETNAME) if the server lets
 * it, within `config.connectTimeoutMs`; rejects with the reason it could not (ECONNREFUSED, a
 * certificate problem, WRONGPASS, LOADING, a timeout, the server hanging up mid-handshake),
 * which classifyConnectFailure reads.
 */
export type ConnectionFactory = (
  name: string,
  config: ConnectConfig,
  events: ConnectionEvents,
) => Promise<Connection>;

/** The real connection factory: an ioredis client, connected and named. */
export const connectIoredis: ConnectionFactory = (name, config, events) =>
  connectClient(createClient(config, name), name, config, events);

/**
 * connectIoredis, with the client of the first connection (named `first`, on `config`) built
 * now, unconnected: the pool takes this factory when the configuration alone says where and
 * how to connect, so that the client is built during Lambda's init phase, as a module-scope
 * `new Redis(url, { lazyConnect: true })` is, and the first invocation only connects it (about
 * a tenth of its time, by the bench's cold-start section). The first attempt takes the client,
 * whatever its outcome; later ones build their own. It holds no socket and no timer until
 * connected.
 */
export function prebuiltIoredis(first: string, config: ConnectConfig): ConnectionFactory {
  let prebuilt: RedisClient | undefined = createClient(config, first);
  return (name, attemptConfig, events) => {
    const client = name === first ? prebuilt : undefined;
    prebuilt = undefined;
    return connectClient(client ?? createClient(attemptConfig, name), name, attemptConfig, events);
  };
}

async function connectClient(
  client: RedisClient,
  name: string,
  config: ConnectConfig,
  events: ConnectionEvents,
): Promise<Connection> {
  summarizeWhenPrinted(client, name);
  // Without a listener ioredis prints every socket error to the console. The first one is why
  // the connect failed: connect() itself only says "Connection is closed.".
  let firstError: Error | undefined;
  client.on('error', (error: Error) => {
    firstError ??= error;
    events.error(error);
  });
  try {
    await connectWithin(client, config, name);
  } catch (error) {
    // With no socket error, the server hung up mid-handshake: say so rather than "closed".
    throw firstError ?? handshakeClosed(error);
  }
  client.once('end', () => events.end());
  // Cluster node connections are ioredis's own: their command timeout is ioredis's socketTimeout.
  const supervisor =
    client instanceof Redis ? new ConnectionSupervisor(client, config.commandTimeoutMs) : undefined;
  return new IoredisConnection(client, supervisor);
}

/**
 * The ioredis specifics of a pooled connection. `reset` and `isTainted` read fields ioredis
 * marks internal (`condition`, `commandQueue`): there is no public way to ask whether a client
 * is in subscriber mode, on another db, or still has a command in flight. They live here so
 * that an ioredis upgrade that moves them touches this class only.
 */
class IoredisConnection implements Connection {
  constructor(
    readonly client: RedisClient,
    private readonly supervisor: ConnectionSupervisor | undefined,
  ) {}

  get ready(): boolean {
    return this.supervisor ? this.supervisor.usable : this.client.status === 'ready';
  }

  /**
   * Two turns of the event loop: in the first, the poll phase reads a FIN or RST that waited in
   * the socket; in the second, the socket's close is handled (ioredis ends the client).
   */
  catchUp(): Promise<void> {
    return new Promise((resolve) => setImmediate(() => setImmediate(resolve)));
  }

  async ping(): Promise<void> {
    await this.client.ping();
  }

  /**
   * A connection in subscriber mode or with a command still in flight (an unfinished blocking
   * call) cannot be trusted and is refused. Cluster clients keep no per-connection state to undo.
   *
   * Not RESET (Redis 6.2+), which would undo everything at once: it also logs the connection
   * out to the `default` user (more privileged than the application's, or disabled) and drops
   * its name and RESP3, so it would have to be followed by HELLO with the password again.
   * Instead, what a lease can change is undone command by command. A command the user may not
   * run (NOPERM) or that the server renamed away is a state the lease could not have changed
   * either, so its refusal counts as done.
   */
  async reset(db: number): Promise<boolean> {
    if (this.client.isCluster) return true;
    const redis = this.client as Redis;
    if (redis.condition?.subscriber || redis.commandQueue.length > 0) return false;
    // Written together, answered in one round trip. DISCARD fails harmlessly without MULTI.
    const [, ...undone] = await Promise.allSettled([
      redis.call('DISCARD'),
      redis.unwatch(),
      redis.select(db),
      redis.call('CLIENT', 'TRACKING', 'OFF'),
    ]);
    return undone.every((r) => r.status === 'fulfilled' || isRefusedCommand(r.reason));
  }

  /** See ConnectionSupervisor#batch: standalone connections only (Cluster has no supervisor). */
  batch(on: boolean): void {
    this.supervisor?.batch(on);
  }

  isTainted(db: number): boolean {
    if (this.client.isCluster) return false;
    const condition = (this.client as Redis).condition;
    return Boolean(condition?.subscriber) || (condition !== null && condition.select !== db);
  }

  destroy(): void {
    this.supervisor?.stop();
    this.client.disconnect();
  }

  /**
   * QUIT, then wait for the server to close the socket; whatever is left when `timeoutMs` has
   * passed (no +OK, or a +OK but no close, as behind a middlebox that lost the FIN) is
   * destroyed, so that no socket outlives a close and keeps the process from exiting.
   */
  async quit(timeoutMs: number): Promise<void> {
    this.supervisor?.stop();
    const client = this.client;
    const ended = new Promise<void>((resolve) => {
      if (client.status === 'end') resolve();
      else client.once('end', () => resolve());
    });
    try {
      await withTimeout(
        client.quit().then(() => ended),
        timeoutMs,
        () => new Error('QUIT timed out'),
      );
    } catch {
      // Timed out, or the connection was gone already: destroyed below either way.
    } finally {
      destroySockets(client);
    }
  }
}

/**
 * Closes the client and destroys its sockets now. ioredis's disconnect() only ends a socket
 * (FIN) and destroys it after `disconnectTimeout` (2 s) if the peer never closes its side, on a
 * timer that keeps the process alive that long.
 */
function destroySockets(client: RedisClient): void {
  const nodes = client instanceof Cluster ? client.nodes() : [client];
  if (client.status !== 'end') client.disconnect();
  for (const node of nodes) node.stream?.destroy();
}

/** A reply that says the user may not run the command, or that the server has no such command. */
function isRefusedCommand(error: unknown): boolean {
  if (!(error instanceof Error) || error.name !== 'ReplyError') return false;
  return error.message.startsWith('NOPERM') || error.message.startsWith('ERR unknown command');
}

function handshakeClosed(error: unknown): unknown {
  return error instanceof Error && error.message.startsWith('Connection is closed')
    ? new Error('The server closed the connection during the handshake', { cause: error })
    : error;
}

/** Builds (does not connect) a client for the configured endpoint. */
function createClient(config: ConnectConfig, name: string): RedisClient {
  const { endpoint } = config;
  const common = {
    username: endpoint.username,
    password: endpoint.password?.reveal(),
    tls: endpoint.tls ? tlsOptions(config) : undefined,
    // Host names are resolved on every connect without libuv's threadpool (connector.ts).
    Connector: resolvingConnector({ dnsServers: config.dnsServers }),
    // CLIENT SETINFO would add two more commands to every handshake; see connectWithin.
    disableClientInfo: true,
    // The ready check is an INFO command, which a least-privilege user may not run (ioredis
    // then prints a warning on every connect) and a hardened server may have renamed away (the
    // connect then fails). connectWithin's PING finds a server still loading its dataset.
    enableReadyCheck: false,
    connectTimeout: config.connectTimeoutMs,
    // No socketTimeout: its timer runs before pending socket reads, so an event-loop stall
    // would kill healthy connections. ConnectionSupervisor watches for silence instead.
    // A command that cannot be written now fails now, instead of queueing while the
    // invocation's deadline runs out.
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    reconnectOnError: (error: Error) => isFailoverReply(error),
    autoResubscribe: false,
    autoResendUnfulfilledCommands: false,
    lazyConnect: true,
  } satisfies RedisOptions;

  if (!config.cluster) {
    // No connectionName or db here: connectWithin sets them once the handshake is done.
    return new Redis({
      ...common,
      host: endpoint.host,
      port: endpoint.port,
      enableOfflineQueue: false,
    });
  }
  const clusterOptions: ClusterOptions = {
    lazyConnect: true,
    enableOfflineQueue: false,
    clusterRetryStrategy: () => null,
    slotsRefreshTimeout: config.connectTimeoutMs,
    // ElastiCache's TLS certificates name the configuration endpoint, not the node IPs that
    // DNS would resolve to: keep the host names so certificate checks pass. Each node
    // connection resolves its name itself when it connects (connector.ts).
    dnsLookup: (address, callback) => callback(null, address),
    // Cluster opens node connections on its own: each names itself during its handshake.
    // They are not supervised: a node with commands pending that receives nothing for the
    // command timeout is ioredis's socketTimeout (wall time: an event-loop stall longer than
    // it can end a healthy node connection).
    redisOptions: { ...common, connectionName: name, socketTimeout: config.commandTimeoutMs },
  };
  const cluster = new Cluster([{ host: endpoint.host, port: endpoint.port }], clusterOptions);
  const { password } = config;
  if (password) {
    // Each node connection reads its password when it connects, and the connection that
    // refreshes the slots copies it then: both get the token of that moment, not this one's.
    cluster.on('+node', (node: Redis) => {
      Object.defineProperty(node.options, 'password', {
        get: password,
        enumerable: true,
        configurable: true,
      });
    });
  }
  return cluster;
}

/**
 * Connects, names the connection (best effort), selects its db and checks that the server is
 * not loading its dataset, or rejects and tears the client down when the connect timeout
 * passes first. The connect timeout is the one bound of the whole handshake: the command timeout
 * is watched only once it is done, so on a slow link a longer REDIS_CONNECT_TIMEOUT_MS is enough
 * to connect.
 *
 * CLIENT SETNAME and SELECT are sent after the handshake, not in it: ioredis writes every
 * handshake command before reading a reply, and a server that refuses the client (maxclients)
 * answers the first with an error and closes; the later writes then fail with EPIPE and the
 * server's reason is lost. With HELLO alone in the handshake, the refusal is the error.
 */
async function connectWithin(
  client: RedisClient,
  config: ConnectConfig,
  name: string,
): Promise<void> {
  const timeoutMs = config.connectTimeoutMs;
  const standalone = client instanceof Redis ? client : undefined;
  const connect = async () => {
    await client.connect();
    if (standalone) await setUp(standalone, name, config.endpoint.db);
  };
  try {
    await withTimeout(
      connect(),
      timeoutMs,
      () => new Error(`Connection attempt timed out after ${Math.round(timeoutMs)} ms`),
    );
  } catch (error) {
    destroySockets(client);
    throw error;
  }
}

/**
 * What follows HELLO, written together and answered in one round trip:
 * - CLIENT SETNAME, best effort: the application may not be allowed CLIENT (or the server may
 *   have renamed it away), and it does not need a name to work;
 * - SELECT, when the db is not 0: a failure there (out of range, NOPERM) is the connect's;
 * - PING, which a server still loading its dataset answers with LOADING (HELLO, CLIENT and
 *   SELECT are allowed while loading): what ioredis's INFO ready check found out. A user who may
 *   not PING (or a server without it) skips the check.
 */
async function setUp(redis: Redis, name: string, db: number): Promise<void> {
  const [, selected, pinged] = await Promise.allSettled([
    redis.client('SETNAME', name),
    db !== 0 ? redis.select(db) : undefined,
    redis.ping(),
  ]);
  if (selected.status === 'rejected') throw selected.reason;
  if (pinged.status === 'rejected' && !isRefusedCommand(pinged.reason)) throw pinged.reason;
}

const caCache = new Map<string, string[]>();

function tlsOptions(config: ConnectConfig): ConnectionOptions {
  const options: ConnectionOptions = {};
  if (config.tlsCaFile) {
    // Read once per process: the CA bundle does not change while an environment lives.
    // Node's `ca` replaces the default trust store; the bundle is meant to extend it.
    let ca = caCache.get(config.tlsCaFile);
    if (!ca) {
      ca = [...rootCertificates(), readFileSync(config.tlsCaFile, 'utf8')];
      caCache.set(config.tlsCaFile, ca);
    }
    options.ca = ca;
  }
  // SNI must be a host name; Node verifies an IP against the certificate's IP SANs instead.
  if (isIP(config.endpoint.host) === 0) options.servername = config.endpoint.host;
  return options;
}
