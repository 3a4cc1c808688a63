/**
 * One pooled connection: an ioredis client (standalone Redis or Cluster) configured so that
 * nothing waits without bound, plus the bookkeeping the pool needs.
 *
 * ioredis's own reconnection is switched off (`retryStrategy: () => null`): a lost connection
 * simply ends, and the pool replaces it under one backoff shared by all its connections.
 * Otherwise every client would run its own retry timers, each ignorant of the others and of
 * the invocation deadline, and timers do not even run while Lambda freezes the process.
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { type ConnectionOptions, rootCertificates } from 'node:tls';
import { Cluster, type ClusterOptions, Redis, type RedisOptions } from 'ioredis';
import type { RedisPoolConfig } from '../config.js';
import { isFailoverReply } from './connection-error.js';
import { withTimeout } from './timeout.js';

/** The client a lease hands out: a standalone client, or a Cluster in cluster mode. */
export type RedisClient = Redis | Cluster;

export class PooledConnection {
  /** Exclusive leases are counted too: at most one, while `exclusive` is true. */
  leases = 0;
  exclusive = false;
  /** When the last lease was released (or the connection opened): idle time starts here. */
  lastReleasedAt: number;
  /** False once the connection ended or was destroyed; it never comes back. */
  alive = true;
  /** The PING in flight, shared by every acquirer that arrives while it runs. */
  validation: Promise<boolean> | undefined;

  constructor(
    readonly client: RedisClient,
    now: number,
  ) {
    this.lastReleasedAt = now;
  }

  get ready(): boolean {
    return this.alive && this.client.status === 'ready';
  }

  idleFor(now: number): number {
    return this.leases > 0 ? 0 : now - this.lastReleasedAt;
  }

  /** Closes at once; commands in flight fail with "Connection is closed". */
  destroy(): void {
    this.alive = false;
    this.client.disconnect();
  }
}

/** Builds (does not connect) a client for the configured endpoint. */
export function createClient(config: RedisPoolConfig, name: string): RedisClient {
  const { endpoint } = config;
  const common = {
    username: endpoint.username,
    password: endpoint.password?.reveal(),
    tls: endpoint.tls ? tlsOptions(config) : undefined,
    // CLIENT SETINFO would add two more commands to every handshake; see connectWithin.
    disableClientInfo: true,
    connectTimeout: config.connectTimeoutMs,
    // A connection with commands pending that receives nothing for this long is dead: ioredis
    // destroys it and fails its commands ("Connection is closed."). One timer per burst of
    // replies, where `commandTimeout` would arm and clear one per command: that costs ~16 % of
    // the throughput of a busy shared connection (npm run bench).
    socketTimeout: config.commandTimeoutMs,
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
    // DNS would resolve to: keep the host names so certificate checks pass.
    dnsLookup: (address, callback) => callback(null, address),
    // Cluster opens node connections on its own: each names itself during its handshake.
    redisOptions: { ...common, connectionName: name },
  };
  return new Cluster([{ host: endpoint.host, port: endpoint.port }], clusterOptions);
}

/**
 * Connects and names the connection (and selects its db), or rejects and tears the client
 * down when `timeoutMs` passes first.
 *
 * CLIENT SETNAME and SELECT are sent after the handshake, not in it: ioredis writes every
 * handshake command before reading a reply, and a server that refuses the client (maxclients)
 * answers the first with an error and closes; the later writes then fail with EPIPE and the
 * server's reason is lost. With HELLO alone in the handshake, the refusal is the error.
 */
export async function connectWithin(
  client: RedisClient,
  timeoutMs: number,
  setup: { name: string; db: number },
): Promise<void> {
  const connect = async () => {
    await client.connect();
    if (client instanceof Redis) {
      await Promise.all([
        client.client('SETNAME', setup.name),
        setup.db !== 0 ? client.select(setup.db) : undefined,
      ]);
    }
  };
  try {
    await withTimeout(
      connect(),
      timeoutMs,
      () => new Error(`Connection attempt timed out after ${Math.round(timeoutMs)} ms`),
    );
  } catch (error) {
    client.disconnect();
    throw error;
  }
}

const caCache = new Map<string, string[]>();

function tlsOptions(config: RedisPoolConfig): ConnectionOptions {
  const options: ConnectionOptions = {};
  if (config.tlsCaFile) {
    // Read once per process: the CA bundle does not change while an environment lives.
    // Node's `ca` replaces the default trust store; the bundle is meant to extend it.
    let ca = caCache.get(config.tlsCaFile);
    if (!ca) {
      ca = [...rootCertificates, readFileSync(config.tlsCaFile, 'utf8')];
      caCache.set(config.tlsCaFile, ca);
    }
    options.ca = ca;
  }
  // SNI must be a host name; Node verifies an IP against the certificate's IP SANs instead.
  if (isIP(config.endpoint.host) === 0) options.servername = config.endpoint.host;
  return options;
}
