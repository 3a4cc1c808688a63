/**
 * The pool's policy (budget, FIFO queue, deadlines, late connections, validation) driven by fake
 * connections through the connection-factory seam, under fake timers: no server, no real time,
 * every interleaving chosen by the test. test/integration/pool.test.ts covers the same pool
 * against real redis-server processes.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { RedisPoolOptions } from '../../src/config.js';
import { AcquireTimeoutError } from '../../src/errors.js';
import type {
  Connection,
  ConnectionEvents,
  ConnectionFactory,
  RedisClient,
} from '../../src/pool/connection.js';
import { RedisPool } from '../../src/pool/RedisPool.js';

// ---- fakes -----------------------------------------------------------------------------------

interface Deferred<T> {
  readonly promise: Promise<T>;
  resolve(value: T): void;
  reject(error: unknown): void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** A connection with no server behind it: the test decides how it answers. */
class FakeConnection implements Connection {
  /** Stands in for the ioredis client; tests compare it by identity only. */
  readonly client: RedisClient;
  ready = true;
  closedBy: 'destroy' | 'quit' | 'server' | undefined;
  pings = 0;
  /** How the next PINGs answer: 'ok', 'fail', or 'hang' (until the test answers `hungPing`). */
  pingMode: 'ok' | 'fail' | 'hang' = 'ok';
  hungPing: Deferred<void> | undefined;
  /** What reset() reports: false means "cannot be cleaned, destroy it". */
  resettable = true;
  tainted = false;

  constructor(
    readonly name: string,
    private readonly events: ConnectionEvents,
  ) {
    this.client = { name } as unknown as RedisClient;
  }

  ping(): Promise<void> {
    this.pings++;
    if (this.pingMode === 'fail') return Promise.reject(new Error('Connection is closed.'));
    if (this.pingMode === 'hang') {
      this.hungPing = deferred<void>();
      return this.hungPing.promise;
    }
    return Promise.resolve();
  }

  async reset(): Promise<boolean> {
    return this.resettable;
  }

  isTainted(): boolean {
    return this.tainted;
  }

  destroy(): void {
    this.#close('destroy');
  }

  async quit(): Promise<void> {
    this.#close('quit');
  }

  /** The server or the network drops the connection. */
  drop(): void {
    this.#close('server');
  }

  get closed(): boolean {
    return this.closedBy !== undefined;
  }

  #close(by: 'destroy' | 'quit' | 'server'): void {
    if (this.closed) return;
    this.closedBy = by;
    this.ready = false;
    // ioredis emits 'end' asynchronously, after the socket has closed.
    queueMicrotask(() => this.events.end());
  }
}

/** One call of the factory: open it or fail it, now or later. */
class ConnectAttempt {
  readonly #result = deferred<Connection>();
  connection: FakeConnection | undefined;
  settled = false;

  constructor(
    readonly name: string,
    private readonly events: ConnectionEvents,
  ) {}

  get promise(): Promise<Connection> {
    return this.#result.promise;
  }

  open(): FakeConnection {
    this.settled = true;
    this.connection = new FakeConnection(this.name, this.events);
    this.#result.resolve(this.connection);
    return this.connection;
  }

  fail(error: Error = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })) {
    this.settled = true;
    this.events.error(error);
    this.#result.reject(error);
  }
}

/**
 * Stands in for Redis: the connection factory, a record of every attempt, and the number of
 * connections that exist at once (open, or being opened), as a server would count them.
 */
class FakeRedis {
  readonly attempts: ConnectAttempt[] = [];
  /** Open every connection as soon as it is asked for (on the next microtask). */
  autoOpen = true;
  peak = 0;

  readonly connect: ConnectionFactory = (name, _config, events) => {
    const attempt = new ConnectAttempt(name, events);
    this.attempts.push(attempt);
    this.peak = Math.max(this.peak, this.inUse);
    if (this.autoOpen) queueMicrotask(() => attempt.open());
    return attempt.promise;
  };

  /** Connections the server would see now, plus those being opened. */
  get inUse(): number {
    return this.attempts.filter((a) => !a.settled || (a.connection && !a.connection.closed)).length;
  }

  get connections(): FakeConnection[] {
    return this.attempts.flatMap((a) => (a.connection ? [a.connection] : []));
  }

  /** The connection a lease's client belongs to. */
  connectionOf(client: RedisClient): FakeConnection {
    const found = this.connections.find((c) => c.client === client);
    if (!found) throw new Error('not a client of this fake');
    return found;
  }
}

/** A promise's state, readable while fake time stands still. */
class Probe<T> {
  status: 'pending' | 'fulfilled' | 'rejected' = 'pending';
  value: T | undefined;
  error: unknown;

  constructor(promise: Promise<T>) {
    promise.then(
      (value) => {
        this.status = 'fulfilled';
        this.value = value;
      },
      (error: unknown) => {
        this.status = 'rejected';
        this.error = error;
      },
    );
  }

  get result(): T {
    if (this.status !== 'fulfilled') throw new Error(`expected fulfilled, was ${this.status}`);
    return this.value as T;
  }
}

const pools: RedisPool[] = [];

function setup(options: RedisPoolOptions = {}) {
  const redis = new FakeRedis();
  const pool = new RedisPool(
    { url: 'redis://fake.invalid:6379', clientName: 'unit', metrics: false, ...options },
    {},
    { connect: redis.connect },
  );
  pools.push(pool);
  return { redis, pool };
}

beforeEach(() => {
  vi.useFakeTimers({ now: 1_000_000 });
});
afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.close()));
  vi.useRealTimers();
});

// ---- tests -----------------------------------------------------------------------------------

describe('deadlines', () => {
  it('AcquireTimeoutError.waitedMs is the time since the acquire started, when the caller deadline is tighter', async () => {
    const { pool } = setup({ poolMax: 1, acquireTimeoutMs: 3_000 });
    const held = await pool.acquire({ exclusive: true });
    await vi.advanceTimersByTimeAsync(40);
    const waiting = new Probe(pool.acquire({ exclusive: true, deadline: Date.now() + 205 }));
    await vi.advanceTimersByTimeAsync(204);
    expect(waiting.status).toBe('pending');
    await vi.advanceTimersByTimeAsync(1);
    expect(waiting.error).toBeInstanceOf(AcquireTimeoutError);
    expect((waiting.error as AcquireTimeoutError).waitedMs).toBe(205);
    await held.release();
  });

  it('AcquireTimeoutError.waitedMs is the acquire timeout when that is what ran out', async () => {
    const { pool } = setup({ poolMax: 1, acquireTimeoutMs: 3_000 });
    const held = await pool.acquire({ exclusive: true });
    const waiting = new Probe(pool.acquire({ exclusive: true }));
    await vi.advanceTimersByTimeAsync(3_000);
    expect((waiting.error as AcquireTimeoutError).waitedMs).toBe(3_000);
    await held.release();
  });
});
