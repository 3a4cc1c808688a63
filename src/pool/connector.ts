/**
 * The socket under each ioredis connection, opened to an address resolved without libuv's
 * threadpool (resolve.ts). ioredis's own connector hands the host name to `net.connect`, which
 * resolves it with `dns.lookup` on the threadpool; this one resolves first, on every connect
 * (a failover moves the name), then connects to the address. With TLS, the host name stays the
 * server name: SNI and the certificate check use it, not the address.
 *
 * Given to ioredis as its `Connector` option, so it serves standalone clients and every node
 * connection of a Cluster alike.
 */
import type { Socket } from 'node:net';
import type { ConnectionOptions, TLSSocket } from 'node:tls';
import { AbstractConnector } from 'ioredis';
import { createConnection, isIP, tlsConnect } from '../builtins.js';
import { type ResolvedAddress, resolveHost } from './resolve.js';

/** What ioredis passes a connector: the options of the client it connects. */
interface ClientOptions {
  readonly host?: string;
  readonly port?: number;
  readonly tls?: ConnectionOptions;
  readonly disconnectTimeout?: number;
  readonly connectTimeout?: number;
}

interface ConnectorSettings {
  /** DNS servers to ask instead of the system's (tests). */
  readonly dnsServers?: readonly string[] | undefined;
}

/** ioredis's `Connector` option: a class it instantiates with each client's options. */
type ConnectorClass = new (options: unknown) => AbstractConnector;

/** A connector class resolving host names as `settings` say. */
export function resolvingConnector(settings: ConnectorSettings = {}): ConnectorClass {
  return class ResolvingConnector extends AbstractConnector {
    readonly #options: ClientOptions;

    constructor(options: unknown) {
      const clientOptions = options as ClientOptions;
      super(clientOptions.disconnectTimeout ?? 2_000);
      this.#options = clientOptions;
    }

    async connect(): Promise<Socket | TLSSocket> {
      this.connecting = true;
      const host = this.#options.host ?? '127.0.0.1';
      const port = this.#options.port ?? 6379;
      const resolved: ResolvedAddress = await resolveHost(host, {
        timeoutMs: this.#options.connectTimeout ?? 10_000,
        servers: settings.dnsServers,
      });
      // ioredis disconnect()ed this client while the name was being resolved.
      if (!this.connecting) throw new Error('Connection is closed.');
      const target = { host: resolved.address, port, family: resolved.family };
      const stream = this.#options.tls
        ? tlsConnect({
            ...this.#options.tls,
            ...target,
            servername: serverName(host, this.#options.tls),
          })
        : createConnection(target);
      stream.once('error', (error: Error) => {
        this.firstError = error;
      });
      this.stream = stream;
      return stream;
    }
  };
}

/** SNI and the name the certificate must carry: the configured one, else the host name. */
function serverName(host: string, tls: ConnectionOptions): string | undefined {
  if (tls.servername) return tls.servername;
  // An IP is checked against the certificate's IP addresses; SNI cannot carry one.
  return isIP(host) === 0 ? host : undefined;
}
