/**
 * The pool's policy for failed connection attempts and for exclusive releases, driven by fake
 * connections through the connection-factory seam under fake timers (no server, no real time):
 * failures retrying cannot heal are tried once per acquire and never waited for; those it can
 * heal are retried under the backoff; an exclusive release is bounded by the lease's deadline.
 * The errors the fakes fail with are the ones ioredis and Node produce (see
 * test/integration/handshake.test.ts for the real thing).
 */
import { ReplyError } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { RedisPoolOptions } from '../../src/config.js';
import { PoolClosedError, RedisUnavailableError } from '../../src/errors.js';
import type { Connection, ConnectionFactory, RedisClient } from '../../src/pool/connection.js';
import { RedisPool } from '../../src/pool/RedisPool.js';
import { rejectionOf } from '../helpers/rejection.js';

const failure = (promise: Promise<unknown>) => rejectionOf(promise, RedisUnavailableError);

const reply = (message: string): Error => new (ReplyError as new (m: string) => Error)(message);
const refused = () =>
  Object.assign(new Error('connect ECONNREFUSED 10.0.0.1:6379'), { code: 'ECONNREFUSED' });

/** A connection whose reset() answers when the test says so (or never). */
class FakeConnection implements Connection {
  readonly client = {} as RedisClient;
  ready = true;
  destroyed = false;
  resets = 0;
  /** Set: reset() waits for it. */
  resetGate: Promise<boolean> | undefined;

  async catchUp(): Promise<void> {}
  async ping(): Promise<void> {}
  reset(): Promise<boolean> {
    this.resets++;
    return this.resetGate ?? Promise.resolve(true);
  }
  isTainted(): boolean {
    return false;
  }
  destroy(): void {
    this.destroyed = true;
    this.ready = false;
  }
  async quit(): Promise<void> {
    this.destroy();
  }
}

/** Fails every attempt with `failWith()` while it is set; opens a FakeConnection otherwise. */
class FakeServer {
  attempts = 0;
  failWith: (() => Error) | undefined;
  readonly opened: FakeConnection[] = [];

  readonly connect: ConnectionFactory = async (_name, _config, events) => {
    this.attempts++;
    const make = this.failWith;
    if (make) {
      const error = make();
      events.error(error);
      throw error;
    }
    const connection = new FakeConnection();
    this.opened.push(connection);
    return connection;
  };
}

const pools: RedisPool[] = [];

function setup(options: RedisPoolOptions = {}) {
  const server = new FakeServer();
  const pool = new RedisPool(
    { url: 'redis://app:s3cret@cache.internal:6380', metrics: false, ...options },
    {},
    { connect: server.connect },
  );
  pools.push(pool);
  return { server, pool };
}

beforeEach(() => {
  vi.useFakeTimers({ now: 1_000_000 });
  // The middle of every backoff window: a jitter the tests can reason about.
  vi.spyOn(Math, 'random').mockReturnValue(0.5);
});
afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.close()));
  vi.useRealTimers();
  vi.restoreAllMocks();
});

describe('failed connection attempts', () => {
  const eager = { retryBaseMs: 10, retryMaxMs: 40, acquireTimeoutMs: 5_000 };

  it('a failure that can heal is retried under the backoff until the deadline', async () => {
    const { server, pool } = setup(eager);
    server.failWith = refused;
    const pending = failure(pool.acquire());
    await vi.advanceTimersByTimeAsync(5_000);
    const error = await pending;
    expect(error).toMatchObject({ permanent: false, reason: 'unreachable', statusCode: 503 });
    expect(error.message).toMatch(/ECONNREFUSED/);
    expect(server.attempts).toBeGreaterThan(10);
  });

  it.each([
    ['a wrong password', () => reply('WRONGPASS invalid username-password pair'), 'credentials'],
    ['a missing permission', () => reply("NOPERM no permissions to run 'select'"), 'permission'],
    ['an untrusted certificate', () => tlsError('SELF_SIGNED_CERT_IN_CHAIN'), 'tls'],
    ['a db that does not exist', () => reply('ERR DB index is out of range'), 'configuration'],
  ])(
    '%s is tried once per acquire: a permanent error at once, 500, not exposed',
    async (_, make, reason) => {
      const { server, pool } = setup(eager);
      server.failWith = make;
      const error = await failure(pool.acquire());
      expect(server.attempts).toBe(1);
      expect(error).toMatchObject({ permanent: true, reason, statusCode: 500, expose: false });
      expect(error.message).not.toMatch(/cache\.internal|6380|s3cret/);
      expect(error.endpoint).toBe('redis://app:***@cache.internal:6380');
    },
  );

  it('after a permanent failure, acquires fail at once until the backoff permits the next attempt, which then heals', async () => {
    const { server, pool } = setup({ retryBaseMs: 10_000, retryMaxMs: 10_000 });
    server.failWith = () => reply('WRONGPASS invalid username-password pair');
    const first = await failure(pool.acquire());
    expect(first.retryInMs).toBe(5_000); // half the window: Math.random() is 0.5

    // Inside the window: no attempt, no wait, even with a deadline after the window.
    await vi.advanceTimersByTimeAsync(1_000);
    const started = Date.now();
    const second = await failure(pool.acquire({ deadline: Date.now() + 60_000 }));
    expect(Date.now()).toBe(started);
    expect(second).toMatchObject({ permanent: true, reason: 'credentials', retryInMs: 4_000 });
    expect(server.attempts).toBe(1);

    // The password is rotated back; the first acquire after the window tries, and connects.
    server.failWith = undefined;
    await vi.advanceTimersByTimeAsync(4_000);
    const lease = await pool.acquire();
    expect(server.attempts).toBe(2);
    await lease.release();
    expect(pool.stats()).toMatchObject({ connectionsCreated: 1, connectionsFailed: 1 });
  });

  it('a server loading its dataset is transient and says so', async () => {
    const { server, pool } = setup({ ...eager, acquireTimeoutMs: 100 });
    server.failWith = () => reply('LOADING Redis is loading the dataset in memory');
    const pending = failure(pool.acquire());
    await vi.advanceTimersByTimeAsync(100);
    const error = await pending;
    expect(error).toMatchObject({ permanent: false, reason: 'loading', statusCode: 503 });
    expect(error.message).toMatch(/loading its dataset/);
    expect(server.attempts).toBeGreaterThan(1);
  });
});

describe('closing', () => {
  it('ends an acquire waiting out the backoff at once, and leaves no timer behind', async () => {
    const { server, pool } = setup({
      retryBaseMs: 20_000,
      retryMaxMs: 20_000,
      acquireTimeoutMs: 120_000,
    });
    server.failWith = refused;
    await failure(pool.acquire({ deadline: Date.now() + 100 }));
    // The next attempt is 10 s away, within this acquire's deadline: it waits for it.
    const waiting = pool.acquire({ deadline: Date.now() + 60_000 }).then(
      () => 'leased',
      (e: unknown) => e,
    );
    await vi.advanceTimersByTimeAsync(1_000);
    expect(pool.stats().opening).toBe(1);
    await pool.close();
    await vi.advanceTimersByTimeAsync(0);
    expect(await waiting).toBeInstanceOf(PoolClosedError);
    expect(vi.getTimerCount()).toBe(0);
    expect(server.attempts).toBe(1);
  });
});

describe('releasing an exclusive lease', () => {
  it('a reset that does not answer ends at the lease deadline and destroys the connection', async () => {
    const { server, pool } = setup({ commandTimeoutMs: 60_000, poolMax: 1 });
    const lease = await pool.acquire({ exclusive: true, deadline: Date.now() + 300 });
    const connection = server.opened[0] as FakeConnection;
    connection.resetGate = new Promise(() => {});
    await vi.advanceTimersByTimeAsync(100);
    let released = false;
    void lease.release().then(() => {
      released = true;
    });
    await vi.advanceTimersByTimeAsync(199);
    expect(released).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(released).toBe(true);
    expect(connection.destroyed).toBe(true);
    expect(pool.stats()).toMatchObject({ connectionsLost: 1, active: 0, idle: 0 });
  });

  it('without a deadline, the command timeout bounds the reset', async () => {
    const { server, pool } = setup({ commandTimeoutMs: 500, poolMax: 1 });
    const lease = await pool.acquire({ exclusive: true });
    const connection = server.opened[0] as FakeConnection;
    connection.resetGate = new Promise(() => {});
    let released = false;
    void lease.release().then(() => {
      released = true;
    });
    await vi.advanceTimersByTimeAsync(499);
    expect(released).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(released).toBe(true);
    expect(connection.destroyed).toBe(true);
  });

  it('released past its deadline, the connection is destroyed without a reset', async () => {
    const { server, pool } = setup({ poolMax: 1 });
    const lease = await pool.acquire({ exclusive: true, deadline: Date.now() + 100 });
    await vi.advanceTimersByTimeAsync(150);
    await lease.release();
    const connection = server.opened[0] as FakeConnection;
    expect(connection.resets).toBe(0);
    expect(connection.destroyed).toBe(true);
  });

  it('a reset that answers in time keeps the connection for the next lease', async () => {
    const { server, pool } = setup({ poolMax: 1 });
    const lease = await pool.acquire({ exclusive: true, deadline: Date.now() + 300 });
    await lease.release();
    const next = await pool.acquire({ exclusive: true });
    expect(next.redis).toBe(lease.redis);
    expect(server.opened[0]?.resets).toBe(1);
    await next.release();
  });
});

function tlsError(code: string): Error {
  return Object.assign(new Error('self-signed certificate in certificate chain'), { code });
}
