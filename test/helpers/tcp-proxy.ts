// A TCP proxy in front of a redis-server, for fault tests: silent network loss (blackhole),
// connection resets (dropAll), "DNS flips" (setTarget moves new connections elsewhere) and a
// slow link (setLatency).

import { createConnection, createServer, type Server, type Socket } from 'node:net';

export interface TcpProxy {
  readonly port: number;
  /** redis://127.0.0.1:PORT */
  readonly url: string;
  /** New connections go to this port; existing ones stay where they are. */
  setTarget(port: number): void;
  /** On: no bytes move either way, on existing and new connections, and nothing is closed
   * (silent network loss). Off: forwarding resumes, with whatever was held back. */
  blackhole(on: boolean): void;
  /** Every chunk, either way, is forwarded this long after it arrived (order kept): a slow
   * link, one round trip costing twice this. 0 (the default) forwards at once. */
  setLatency(ms: number): void;
  /** Reset every current connection (both the client's and the upstream side). */
  dropAll(): void;
  /** Client connections currently open. */
  connectionCount(): number;
  /** Client connections accepted so far. */
  totalConnections(): number;
  /** Date.now() of each client connection accepted so far, in order (one per
   * totalConnections()): when attempts were made, e.g. to check that retries are spread. */
  acceptedAt(): readonly number[];
  close(): Promise<void>;
}

interface Link {
  client: Socket;
  upstream: Socket;
}

class ForwardingProxy implements TcpProxy {
  readonly port: number;
  readonly url: string;
  private readonly server: Server;
  private readonly links = new Set<Link>();
  private target: number;
  private blackholed = false;
  private latencyMs = 0;
  private accepted = 0;
  private readonly acceptTimes: number[] = [];

  constructor(server: Server, port: number, target: number) {
    this.server = server;
    this.port = port;
    this.url = `redis://127.0.0.1:${port}`;
    this.target = target;
    server.on('connection', (client) => this.accept(client));
  }

  private accept(client: Socket): void {
    this.accepted++;
    this.acceptTimes.push(Date.now());
    const upstream = createConnection({ host: '127.0.0.1', port: this.target });
    const link = { client, upstream };
    this.links.add(link);
    // Redis round trips are tiny: Nagle + delayed ACK would add ~40 ms to each.
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    this.pipe(client, upstream);
    this.pipe(upstream, client);
    client.once('close', () => this.links.delete(link));
    if (this.blackholed) this.hold(link);
  }

  /** Forward `from` → `to` by hand rather than with stream.pipe(): pipe() resumes the source on
   * 'drain', which would undo a blackhole. */
  private pipe(from: Socket, to: Socket): void {
    from.on('data', (chunk: Buffer) => {
      if (this.latencyMs > 0) {
        this.later(() => {
          if (!to.destroyed) to.write(chunk);
        });
        return;
      }
      if (to.destroyed) return;
      if (!to.write(chunk)) {
        from.pause();
        to.once('drain', () => {
          if (!this.blackholed) from.resume();
        });
      }
    });
    from.on('end', () => this.later(() => to.end()));
    // An orderly close lets pending bytes (e.g. redis's "max clients" error) reach the peer.
    from.on('close', (hadError) => this.later(() => (hadError ? to.destroy() : to.end())));
    from.on('error', () => {
      // 'close' follows and tears down the other side.
    });
  }

  /** Runs `fn` after the link's latency (at once without one). Timers of equal delay fire in
   * the order they were set, so bytes and closes keep their order. */
  private later(fn: () => void): void {
    if (this.latencyMs > 0) setTimeout(fn, this.latencyMs);
    else fn();
  }

  /** Paused sockets are not read, so bytes wait in the kernel buffers like on a lost link and
   * TCP flow control eventually stalls the sender; nothing is dropped or closed. */
  private hold(link: Link): void {
    link.client.pause();
    link.upstream.pause();
  }

  private release(link: Link): void {
    link.client.resume();
    link.upstream.resume();
  }

  setTarget(port: number): void {
    this.target = port;
  }

  setLatency(ms: number): void {
    this.latencyMs = ms;
  }

  blackhole(on: boolean): void {
    this.blackholed = on;
    for (const link of this.links) {
      if (on) this.hold(link);
      else this.release(link);
    }
  }

  dropAll(): void {
    for (const link of this.links) {
      reset(link.client);
      reset(link.upstream);
    }
    this.links.clear();
  }

  connectionCount(): number {
    return [...this.links].filter((link) => !link.client.destroyed).length;
  }

  totalConnections(): number {
    return this.accepted;
  }

  acceptedAt(): readonly number[] {
    return [...this.acceptTimes];
  }

  close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.dropAll();
    return closed;
  }
}

/** RST instead of FIN, like a peer or middlebox that lost the connection state. */
function reset(socket: Socket): void {
  if (socket.destroyed) return;
  try {
    socket.resetAndDestroy();
  } catch {
    socket.destroy();
  }
}

/** Listen on a free 127.0.0.1 port and forward every connection to `targetPort` on 127.0.0.1. */
export function startTcpProxy(targetPort: number): Promise<TcpProxy> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0 }, () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        reject(new Error('tcp proxy: no TCP address'));
        return;
      }
      server.off('error', reject);
      // Keeps a forgotten proxy from holding the test worker open.
      server.unref();
      resolve(new ForwardingProxy(server, address.port, targetPort));
    });
  });
}
