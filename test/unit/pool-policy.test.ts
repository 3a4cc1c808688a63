/**
 * The pool's policy (budget, FIFO queue, deadlines, late connections, validation) driven by fake
 * connections through the connection-factory seam, under fake timers: no server, no real time,
 * every interleaving chosen by the test. test/integration/pool.test.ts covers the same pool
 * against real redis-server processes.
 */
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { RedisPoolOptions } from '../../src/config.js';
import { AcquireTimeoutError, PoolClosedError, RedisUnavailableError } from '../../src/errors.js';
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

  /** No socket: nothing can be waiting unread. */
  async catchUp(): Promise<void> {}

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

  /** The connection behind a lease's client. */
  connectionOfClient(client: RedisClient): FakeConnection {
    const found = this.connections.find((c) => c.client === client);
    if (!found) throw new Error('not a client of this fake');
    return found;
  }

  /** The connect attempt number `index` (0 for the first). */
  attempt(index: number): ConnectAttempt {
    const attempt = this.attempts[index];
    if (!attempt) throw new Error(`no connect attempt #${index}`);
    return attempt;
  }

  /** The connection opened by attempt number `index`. */
  connection(index: number): FakeConnection {
    const connection = this.attempt(index).connection;
    if (!connection) throw new Error(`connect attempt #${index} did not open`);
    return connection;
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

/** What a socket reset looks like: a connection-level error. */
function connectionReset(): Error {
  return Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
}

/** What a failed command looks like: says nothing about the connection. */
function wrongType(): Error {
  return Object.assign(new Error('WRONGTYPE Operation against a key holding the wrong kind'), {
    name: 'ReplyError',
  });
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

/** Runs what is due now (microtasks, zero-delay timers) without moving the clock. */
async function settle(): Promise<void> {
  await vi.advanceTimersByTimeAsync(0);
}

beforeEach(() => {
  vi.useFakeTimers({ now: 1_000_000 });
});
afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.close()));
  vi.useRealTimers();
  vi.restoreAllMocks();
});

// ---- tests -----------------------------------------------------------------------------------

describe('AcquireTimeoutError.waitedMs', () => {
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

describe('the budget', () => {
  it('exclusive acquires beyond poolMax queue, and each release serves the next one', async () => {
    const { redis, pool } = setup({ poolMax: 3 });
    const probes = Array.from({ length: 10 }, () => new Probe(pool.acquire({ exclusive: true })));
    await settle();
    expect(probes.map((p) => p.status)).toEqual([
      ...Array<string>(3).fill('fulfilled'),
      ...Array<string>(7).fill('pending'),
    ]);
    expect(pool.stats()).toMatchObject({ active: 3, opening: 0, waiting: 7 });
    for (let i = 0; i < 7; i++) {
      const released = probes[i]?.result;
      await released?.release();
      await settle();
      expect(probes[i + 3]?.result.redis).toBe(released?.redis);
    }
    expect(redis.attempts).toHaveLength(3);
    expect(redis.peak).toBe(3);
    expect(pool.stats()).toMatchObject({ active: 3, waiting: 0, acquired: 10, reused: 7 });
  });

  it('shared and exclusive leases together stay within poolMax; nobody overtakes the queue', async () => {
    const { redis, pool } = setup({ poolMax: 2 });
    const shared = Array.from({ length: 5 }, () => new Probe(pool.acquire()));
    const ex1 = new Probe(pool.acquire({ exclusive: true }));
    const ex2 = new Probe(pool.acquire({ exclusive: true }));
    const ex3 = new Probe(pool.acquire({ exclusive: true }));
    await settle();
    // One connection for all shared leases, one for the first exclusive: the budget is spent.
    const sharedClient = shared[0]?.result.redis;
    expect(shared.every((p) => p.result.redis === sharedClient)).toBe(true);
    expect(ex1.result.redis).not.toBe(sharedClient);
    expect([ex2.status, ex3.status]).toEqual(['pending', 'pending']);
    expect(pool.stats()).toMatchObject({ active: 2, waiting: 2 });

    // Once no lease holds the shared connection, the first queued exclusive acquirer gets it.
    await Promise.all(shared.map((p) => p.result.release()));
    await settle();
    expect(ex2.result.redis).toBe(sharedClient);
    // A shared acquirer arriving now queues behind ex3 instead of overtaking it.
    const lateShared = new Probe(pool.acquire());
    await settle();
    expect(lateShared.status).toBe('pending');

    await ex1.result.release();
    await settle();
    expect(ex3.result.redis).toBe(ex1.result.redis);
    expect(lateShared.status).toBe('pending');
    await ex2.result.release();
    await settle();
    expect(lateShared.result.redis).toBe(sharedClient);
    expect(redis.attempts).toHaveLength(2);
    expect(redis.peak).toBe(2);
  });

  it('any mix of concurrent leases: never above poolMax, an exclusive connection has one holder, everyone is served', async () => {
    const job = fc.record({
      exclusive: fc.boolean(),
      startMs: fc.nat(30),
      holdMs: fc.nat(30),
      /** Released with a connection-level error: the connection is destroyed and replaced. */
      fails: fc.boolean(),
    });
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 4 }),
        fc.array(job, { minLength: 1, maxLength: 25 }),
        async (poolMax, jobs) => {
          const { redis, pool } = setup({ poolMax, acquireTimeoutMs: 600_000 });
          const holders = new Map<RedisClient, { exclusive: number; shared: number }>();
          const violations: string[] = [];
          const runs = jobs.map(async (job, i) => {
            await new Promise((resolve) => setTimeout(resolve, job.startMs));
            const lease = await pool.acquire({ exclusive: job.exclusive });
            const held = holders.get(lease.redis) ?? { exclusive: 0, shared: 0 };
            const clash = job.exclusive ? held.exclusive + held.shared > 0 : held.exclusive > 0;
            if (clash) violations.push(`job ${i} got a connection held by another lease`);
            if (job.exclusive) held.exclusive++;
            else held.shared++;
            holders.set(lease.redis, held);
            await new Promise((resolve) => setTimeout(resolve, job.holdMs));
            if (job.exclusive) held.exclusive--;
            else held.shared--;
            await lease.release(job.fails ? connectionReset() : undefined);
          });
          // Runs every timer, the acquire timeouts too: an acquirer left waiting would fail.
          await vi.runAllTimersAsync();
          await Promise.all(runs);
          expect(violations).toEqual([]);
          expect(redis.peak).toBeLessThanOrEqual(poolMax);
          expect(pool.stats()).toMatchObject({
            acquired: jobs.length,
            active: 0,
            waiting: 0,
            opening: 0,
          });
          await pool.close();
        },
      ),
      // A fixed seed keeps the run reproducible; drop it locally to explore further.
      { numRuns: 150, seed: 8 },
    );
  });
});

describe('FIFO', () => {
  it('queued acquirers are served in arrival order, exclusive and shared alike', async () => {
    const { pool } = setup({ poolMax: 1 });
    const first = await pool.acquire({ exclusive: true });
    const order: string[] = [];
    const queue = (name: string, exclusive: boolean) =>
      new Probe(
        pool.acquire({ exclusive }).then((lease) => {
          order.push(name);
          return lease;
        }),
      );
    const b = queue('b', true);
    const c = queue('c', false);
    const d = queue('d', true);
    await settle();
    expect(pool.stats().waiting).toBe(3);

    await first.release();
    await settle();
    expect(order).toEqual(['b']);
    await b.result.release();
    await settle();
    expect(order).toEqual(['b', 'c']);
    // d wants the connection to itself: it waits until c's shared lease is back.
    await c.result.release();
    await settle();
    expect(order).toEqual(['b', 'c', 'd']);
    expect(d.result.redis).toBe(first.redis);
  });
});

describe('deadlines', () => {
  it('an acquire past its deadline rejects with AcquireTimeoutError and leaves the queue', async () => {
    const { pool } = setup({ poolMax: 1 });
    const held = await pool.acquire({ exclusive: true });
    const impatient = new Probe(pool.acquire({ exclusive: true, deadline: Date.now() + 100 }));
    const patient = new Probe(pool.acquire({ exclusive: true }));
    await vi.advanceTimersByTimeAsync(99);
    expect(pool.stats().waiting).toBe(2);
    await vi.advanceTimersByTimeAsync(1);
    expect(impatient.error).toBeInstanceOf(AcquireTimeoutError);
    expect(String(impatient.error)).toMatch(/waiting for one of 1 connections/);
    expect(pool.stats().waiting).toBe(1);

    // The connection goes to the acquirer still waiting, not to the one that left.
    await held.release();
    await settle();
    expect(patient.result.redis).toBe(held.redis);
    expect(pool.stats()).toMatchObject({ active: 1, waiting: 0, acquired: 2 });
  });

  it('an acquire whose deadline comes before the next permitted attempt fails at once', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(0.5);
    const { redis, pool } = setup({ retryBaseMs: 1_000, retryMaxMs: 1_000 });
    redis.autoOpen = false;
    const first = new Probe(pool.acquire({ deadline: Date.now() + 100 }));
    await settle();
    redis.attempt(0).fail();
    await settle();
    expect(first.error).toBeInstanceOf(RedisUnavailableError);
    expect(String(first.error)).toMatch(/ECONNREFUSED/);

    // The backoff allows the next attempt in 500 ms (half the window, as random() says).
    const second = new Probe(pool.acquire({ deadline: Date.now() + 200 }));
    await settle();
    expect(second.error).toBeInstanceOf(RedisUnavailableError);
    expect((second.error as RedisUnavailableError).retryInMs).toBe(500);
    expect(redis.attempts).toHaveLength(1);
    expect(pool.stats().connectionsFailed).toBe(1);
  });

  it('a failed connect is retried after the pool-wide backoff, once for every acquirer', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(0.5);
    const { redis, pool } = setup({ retryBaseMs: 100 });
    redis.autoOpen = false;
    const probes = Array.from({ length: 4 }, () => new Probe(pool.acquire()));
    await settle();
    redis.attempt(0).fail();
    await vi.advanceTimersByTimeAsync(49);
    expect(redis.attempts).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(redis.attempts).toHaveLength(2);
    redis.attempt(1).open();
    await settle();
    expect(probes.every((p) => p.result.redis === redis.connection(1).client)).toBe(true);
    expect(pool.stats()).toMatchObject({ connectionsFailed: 1, connectionsCreated: 1 });
  });
});

describe('a connection that opens after its acquirer gave up', () => {
  it('serves the next acquirer instead of being thrown away', async () => {
    const { redis, pool } = setup({ poolMax: 1 });
    redis.autoOpen = false;
    const gaveUp = new Probe(pool.acquire({ exclusive: true, deadline: Date.now() + 100 }));
    await vi.advanceTimersByTimeAsync(100);
    expect(gaveUp.error).toBeInstanceOf(AcquireTimeoutError);
    expect(String(gaveUp.error)).toMatch(/waiting for a connection to open/);

    // The attempt still holds the budget: the next acquirer queues for it.
    const next = new Probe(pool.acquire({ exclusive: true }));
    await settle();
    expect(pool.stats()).toMatchObject({ opening: 1, waiting: 1 });
    redis.attempt(0).open();
    await settle();
    expect(next.result.redis).toBe(redis.connection(0).client);
    expect(redis.attempts).toHaveLength(1);
    expect(pool.stats()).toMatchObject({ connectionsCreated: 1, active: 1, waiting: 0 });
  });

  it('a shared connection opened late becomes the shared connection of the next acquirers', async () => {
    const { redis, pool } = setup();
    redis.autoOpen = false;
    const gaveUp = new Probe(pool.acquire({ deadline: Date.now() + 100 }));
    await vi.advanceTimersByTimeAsync(100);
    expect(gaveUp.error).toBeInstanceOf(AcquireTimeoutError);
    redis.attempt(0).open();
    await settle();
    expect(pool.stats()).toMatchObject({ idle: 1, active: 0 });

    const next = await pool.acquire();
    expect(next.redis).toBe(redis.connection(0).client);
    expect(next.reused).toBe(true);
    expect(redis.attempts).toHaveLength(1);
  });

  it('a queued acquirer handed the budget keeps its deadline while its connection opens', async () => {
    const { redis, pool } = setup({ poolMax: 1 });
    redis.autoOpen = false;
    const heldProbe = new Probe(pool.acquire({ exclusive: true }));
    await settle();
    redis.attempt(0).open();
    await settle();
    const queued = new Probe(pool.acquire({ exclusive: true, deadline: Date.now() + 500 }));
    await settle();
    expect(pool.stats().waiting).toBe(1);

    // Destroying the held connection frees the budget: the queued acquirer opens a new one.
    await heldProbe.result.destroy();
    await settle();
    expect(pool.stats()).toMatchObject({ waiting: 0, opening: 1 });
    await vi.advanceTimersByTimeAsync(500);
    expect(queued.error).toBeInstanceOf(AcquireTimeoutError);
    expect(String(queued.error)).toMatch(/waiting for a connection to open/);
    expect((queued.error as AcquireTimeoutError).waitedMs).toBe(500);

    redis.attempt(1).open();
    await settle();
    const next = await pool.acquire({ exclusive: true });
    expect(next.redis).toBe(redis.connection(1).client);
    expect(redis.attempts).toHaveLength(2);
  });
});

describe('giving a lease back', () => {
  it('an acquirer that gives up during the PING gives its lease back; the connection serves the next', async () => {
    const { redis, pool } = setup({ poolMax: 1, idleCheckMs: 1_000 });
    const first = await pool.acquire({ exclusive: true });
    await first.release();
    await vi.advanceTimersByTimeAsync(1_001);
    const conn = redis.connection(0);
    conn.pingMode = 'hang';
    const gaveUp = new Probe(pool.acquire({ exclusive: true, deadline: Date.now() + 50 }));
    await settle();
    expect(pool.stats().active).toBe(1);
    await vi.advanceTimersByTimeAsync(50);
    expect(gaveUp.error).toBeInstanceOf(AcquireTimeoutError);
    expect(String(gaveUp.error)).toMatch(/checking an idle connection/);
    expect(pool.stats()).toMatchObject({ active: 0, idle: 1 });

    // The next acquirer waits for the same PING; it answers after all.
    const next = new Probe(pool.acquire({ exclusive: true }));
    await settle();
    expect(next.status).toBe('pending');
    conn.hungPing?.resolve();
    await settle();
    expect(next.result.redis).toBe(first.redis);
    expect(conn.pings).toBe(1);
    expect(redis.attempts).toHaveLength(1);
  });

  it('a shared acquirer that gives up during the PING leaves the lease count as it was', async () => {
    const { redis, pool } = setup({ idleCheckMs: 1_000 });
    const first = await pool.acquire();
    await first.release();
    await vi.advanceTimersByTimeAsync(1_001);
    redis.connection(0).pingMode = 'hang';
    const gaveUp = new Probe(pool.acquire({ deadline: Date.now() + 50 }));
    await vi.advanceTimersByTimeAsync(50);
    expect(gaveUp.error).toBeInstanceOf(AcquireTimeoutError);
    expect(pool.stats()).toMatchObject({ active: 0, idle: 1 });
  });

  it('an exclusive acquirer queued for a shared connection being checked gets it once its checker gave up', async () => {
    const { redis, pool } = setup({ poolMax: 1, idleCheckMs: 1_000 });
    const first = await pool.acquire();
    await first.release();
    await vi.advanceTimersByTimeAsync(1_001);
    const conn = redis.connection(0);
    conn.pingMode = 'hang';
    const checker = new Probe(pool.acquire({ deadline: Date.now() + 50 }));
    const exclusive = new Probe(pool.acquire({ exclusive: true }));
    await settle();
    expect(pool.stats().waiting).toBe(1);
    await vi.advanceTimersByTimeAsync(50);
    expect(checker.error).toBeInstanceOf(AcquireTimeoutError);
    // Nobody holds the shared connection now; once it has answered, it can be taken.
    conn.hungPing?.resolve();
    await settle();
    expect(exclusive.result.redis).toBe(first.redis);
    expect(pool.stats()).toMatchObject({ waiting: 0, active: 1 });
  });

  it('destroy() ends the lease and its connection; a release() after it changes nothing', async () => {
    const { redis, pool } = setup({ poolMax: 1 });
    const lease = await pool.acquire({ exclusive: true });
    const waiting = new Probe(pool.acquire({ exclusive: true }));
    await lease.destroy();
    await lease.release();
    await settle();
    expect(redis.connection(0).closedBy).toBe('destroy');
    expect(waiting.result.redis).toBe(redis.connection(1).client);
    expect(pool.stats()).toMatchObject({ connectionsLost: 1, connectionsCreated: 2, active: 1 });
  });

  it('a connection-level error on release destroys the connection; a command error does not', async () => {
    const { redis, pool } = setup();
    const first = await pool.acquire();
    await first.release(wrongType());
    expect(redis.connection(0).closed).toBe(false);
    const second = await pool.acquire();
    expect(second.redis).toBe(first.redis);
    await second.release(connectionReset());
    expect(redis.connection(0).closedBy).toBe('destroy');
    expect(pool.stats()).toMatchObject({ connectionsLost: 1, active: 0, idle: 0 });
  });

  it('an exclusive connection that cannot be reset, or a tainted shared one, is destroyed', async () => {
    const { redis, pool } = setup();
    const exclusive = await pool.acquire({ exclusive: true });
    const shared = await pool.acquire();
    redis.connectionOfClient(exclusive.redis).resettable = false;
    redis.connectionOfClient(shared.redis).tainted = true;
    await exclusive.release();
    await shared.release();
    expect(redis.connections.map((c) => c.closedBy)).toEqual(['destroy', 'destroy']);
    expect(pool.stats()).toMatchObject({ connectionsLost: 2, active: 0, idle: 0 });
  });
});

describe('the shared connection', () => {
  it('concurrent shared acquirers join one connection attempt', async () => {
    const { redis, pool } = setup();
    redis.autoOpen = false;
    const probes = Array.from({ length: 5 }, () => new Probe(pool.acquire()));
    await settle();
    expect(redis.attempts).toHaveLength(1);
    expect(pool.stats()).toMatchObject({ opening: 1, waiting: 0 });
    redis.attempt(0).open();
    await settle();
    expect(probes.every((p) => p.result.redis === redis.connection(0).client)).toBe(true);
    expect(pool.stats()).toMatchObject({
      connectionsCreated: 1,
      acquired: 5,
      reused: 0,
      active: 1,
    });
  });
});

describe('validation after idle', () => {
  it('a connection idle for no longer than idleCheckMs is handed out without a PING', async () => {
    const { redis, pool } = setup({ idleCheckMs: 1_000 });
    const first = await pool.acquire();
    await first.release();
    await vi.advanceTimersByTimeAsync(1_000);
    const second = await pool.acquire();
    expect(second.redis).toBe(first.redis);
    expect(redis.connection(0).pings).toBe(0);
  });

  it('concurrent acquirers of an idle connection share one PING, and all wait for it', async () => {
    const { redis, pool } = setup({ idleCheckMs: 1_000 });
    const first = await pool.acquire();
    await first.release();
    await vi.advanceTimersByTimeAsync(1_001);
    const conn = redis.connection(0);
    conn.pingMode = 'hang';
    const probes = Array.from({ length: 4 }, () => new Probe(pool.acquire()));
    await settle();
    expect(conn.pings).toBe(1);
    expect(probes.map((p) => p.status)).toEqual(['pending', 'pending', 'pending', 'pending']);
    conn.hungPing?.resolve();
    await settle();
    expect(probes.every((p) => p.result.redis === first.redis)).toBe(true);
    expect(conn.pings).toBe(1);
    expect(pool.stats()).toMatchObject({ validationFailures: 0, connectionsCreated: 1 });
  });

  it('a failed PING replaces the connection before any of its waiting acquirers sees it', async () => {
    const { redis, pool } = setup({ idleCheckMs: 1_000 });
    const first = await pool.acquire();
    await first.release();
    await vi.advanceTimersByTimeAsync(1_001);
    redis.connection(0).pingMode = 'fail';
    const probes = Array.from({ length: 3 }, () => new Probe(pool.acquire()));
    await settle();
    expect(redis.connection(0).closedBy).toBe('destroy');
    expect(probes.every((p) => p.result.redis === redis.connection(1).client)).toBe(true);
    expect(pool.stats()).toMatchObject({
      validationFailures: 1,
      connectionsLost: 1,
      connectionsCreated: 2,
      reconnects: 1,
    });
  });

  it('a connection known to be closed is never handed out, even before its end event', async () => {
    const { redis, pool } = setup();
    const first = await pool.acquire();
    await first.release();
    redis.connection(0).ready = false;
    const next = await pool.acquire();
    expect(next.redis).toBe(redis.connection(1).client);
    expect(redis.connection(0).closedBy).toBe('destroy');
    expect(pool.stats()).toMatchObject({ validationFailures: 0, connectionsLost: 1 });
  });
});

describe('close', () => {
  it('rejects queued acquirers with PoolClosedError and QUITs every connection', async () => {
    const { redis, pool } = setup({ poolMax: 1 });
    await pool.acquire({ exclusive: true });
    const queued = new Probe(pool.acquire({ exclusive: true }));
    await pool.close();
    await settle();
    expect(queued.error).toBeInstanceOf(PoolClosedError);
    expect(redis.connection(0).closedBy).toBe('quit');
    await expect(pool.acquire()).rejects.toBeInstanceOf(PoolClosedError);
  });

  it('a connection that opens after close is quit, and its acquirer told the pool closed', async () => {
    const { redis, pool } = setup();
    redis.autoOpen = false;
    const opening = new Probe(pool.acquire());
    await settle();
    await pool.close();
    redis.attempt(0).open();
    await settle();
    expect(opening.error).toBeInstanceOf(PoolClosedError);
    expect(redis.connection(0).closedBy).toBe('quit');
  });
});

describe('run()', () => {
  it('hands the lease back whatever fn does, passing on what it threw', async () => {
    const { redis, pool } = setup();
    expect(await pool.run(() => 'a value returned at once')).toBe('a value returned at once');
    const commandError = wrongType();
    await expect(
      pool.run(() => {
        throw commandError;
      }),
    ).rejects.toBe(commandError);
    expect(redis.connection(0).closed).toBe(false);
    expect(pool.stats().active).toBe(0);

    const reset = connectionReset();
    await expect(pool.run(async () => Promise.reject(reset))).rejects.toBe(reset);
    expect(redis.connection(0).closedBy).toBe('destroy');
    expect(pool.stats()).toMatchObject({ active: 0, connectionsLost: 1, acquired: 3 });
  });

  it('does not call fn when no lease can be had', async () => {
    const { pool } = setup();
    await pool.close();
    const fn = vi.fn();
    await expect(pool.run(fn)).rejects.toBeInstanceOf(PoolClosedError);
    expect(fn).not.toHaveBeenCalled();
  });
});

describe('maximum connection age (maxConnectionAgeMs)', () => {
  const AGE = 60_000;

  it('replaces an old shared connection when no lease holds it, and only then', async () => {
    const { redis, pool } = setup({ maxConnectionAgeMs: AGE, idleCheckMs: AGE * 10 });
    const first = await pool.acquire();
    await vi.advanceTimersByTimeAsync(AGE);
    // Old, but a lease holds it: it stays, and keeps serving while the budget is spent.
    expect(redis.connection(0).closed).toBe(false);
    await first.release();
    // Its last lease came back: it goes, politely, and is not counted as lost.
    expect(redis.connection(0).closedBy).toBe('quit');
    const next = await pool.acquire();
    expect(next.redis).toBe(redis.connection(1).client);
    expect(pool.stats()).toMatchObject({ connectionsCreated: 2, connectionsLost: 0 });
    await next.release();
  });

  it('opens a new shared connection while leases still run on the old one, which goes after them', async () => {
    const { redis, pool } = setup({ maxConnectionAgeMs: AGE, idleCheckMs: AGE * 10, poolMax: 2 });
    const running = await pool.acquire();
    await vi.advanceTimersByTimeAsync(AGE);
    const newer = await pool.acquire();
    expect(newer.redis).toBe(redis.connection(1).client);
    expect(redis.connection(0).closed).toBe(false); // the running lease is never cut off
    await running.release();
    expect(redis.connection(0).closedBy).toBe('quit');
    expect(redis.connection(1).closed).toBe(false);
    await newer.release();
    expect(pool.stats()).toMatchObject({ connectionsLost: 0, active: 0, idle: 1 });
  });

  it('keeps serving on an old shared connection when the budget has no room for another', async () => {
    const { redis, pool } = setup({ maxConnectionAgeMs: AGE, idleCheckMs: AGE * 10, poolMax: 1 });
    const running = await pool.acquire();
    await vi.advanceTimersByTimeAsync(AGE);
    const second = await pool.acquire();
    expect(second.redis).toBe(redis.connection(0).client);
    await running.release();
    expect(redis.connection(0).closed).toBe(false);
    await second.release();
    expect(redis.connection(0).closedBy).toBe('quit');
  });

  it('retires an old exclusive connection on release and an old idle one on acquire', async () => {
    const { redis, pool } = setup({ maxConnectionAgeMs: AGE, idleCheckMs: AGE * 10, poolMax: 3 });
    const a = await pool.acquire({ exclusive: true });
    const b = await pool.acquire({ exclusive: true });
    await b.release(); // idle, young
    await vi.advanceTimersByTimeAsync(AGE);
    await a.release(); // old: retired instead of going idle
    expect(redis.connection(0).closedBy).toBe('quit');
    expect(redis.connection(1).closed).toBe(false);
    const c = await pool.acquire({ exclusive: true }); // the idle one is old too now
    expect(redis.connection(1).closedBy).toBe('quit');
    expect(c.redis).toBe(redis.connection(2).client);
    await c.release();
    expect(pool.stats().connectionsLost).toBe(0);
  });

  it('0 keeps connections for as long as they work', async () => {
    const { redis, pool } = setup({ maxConnectionAgeMs: 0, idleCheckMs: 86_400_000 });
    await (await pool.acquire()).release();
    await vi.advanceTimersByTimeAsync(10 ** 8);
    const lease = await pool.acquire();
    expect(lease.redis).toBe(redis.connection(0).client);
    await lease.release();
  });
});
