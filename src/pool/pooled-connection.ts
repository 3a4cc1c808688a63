/**
 * A connection as the pool sees it: the connection itself plus the pool's bookkeeping (its
 * leases, how long it has been idle, the PING that checks it). Nothing here knows ioredis.
 */
import type { Connection, RedisClient } from './connection.js';

export class PooledConnection {
  /** Exclusive leases are counted too: at most one, while `exclusive` is true. */
  leases = 0;
  exclusive = false;
  /** When the last lease was released (or the connection opened): idle time starts here. */
  lastReleasedAt: number;
  /** False once the pool let the connection go (destroyed or quit); it never comes back. */
  alive = true;
  /** The PING in flight, shared by every acquirer that arrives while it runs. */
  validation: Promise<boolean> | undefined;

  /** When it opened: its age counts from here (REDIS_MAX_CONNECTION_AGE_MS). */
  readonly openedAt: number;

  constructor(
    readonly connection: Connection,
    now: number,
  ) {
    this.lastReleasedAt = now;
    this.openedAt = now;
  }

  get client(): RedisClient {
    return this.connection.client;
  }

  /** Kept by the pool and open: it can be handed out. */
  get ready(): boolean {
    return this.alive && this.connection.ready;
  }

  /** One more lease: with several in flight, their commands are batched (Connection#batch). */
  addLease(): void {
    this.leases++;
    if (this.leases === 2) this.connection.batch?.(true);
  }

  /** One lease fewer: with one or none left, commands are written at once again (from the next tick). */
  removeLease(): void {
    this.leases = Math.max(0, this.leases - 1);
    if (this.leases <= 1) this.connection.batch?.(false);
  }

  idleFor(now: number): number {
    return this.leases > 0 ? 0 : now - this.lastReleasedAt;
  }

  /** Closes at once; commands in flight fail. */
  destroy(): void {
    this.alive = false;
    this.connection.destroy();
  }

  /** Closes cleanly (QUIT), or at once after `timeoutMs`. */
  quit(timeoutMs: number): Promise<void> {
    this.alive = false;
    return this.connection.quit(timeoutMs);
  }
}
