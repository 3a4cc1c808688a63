/**
 * RedisPool: the connections of one execution environment, within a hard budget.
 *
 * - Shared leases (the default) all ride one multiplexed connection: ioredis pipelines the
 *   commands of concurrent requests over it, so ordinary traffic costs one connection per
 *   environment whatever the concurrency.
 * - Exclusive leases get a connection of their own (MULTI/WATCH, blocking commands, pub/sub,
 *   SELECT), handed back clean or destroyed.
 * - Connections (shared + idle + exclusive + opening) never exceed `poolMax`; acquirers beyond
 *   it wait in FIFO order until the acquire timeout or their deadline, whichever is first.
 * - A connection that sat unused for a while (the environment may have been frozen) is handed
 *   out only after the socket events that arrived meanwhile have run: a close or reset the
 *   server sent while the process could not read is then known, and the connection replaced.
 *   One idle longer than `idleCheckMs` (the network may have dropped it silently) is PINGed too.
 * - A connection older than `maxConnectionAgeMs` is closed and replaced once no lease holds it
 *   (an IAM-authenticated one would otherwise be dropped by ElastiCache at 12 hours), never
 *   under a running command.
 * - Connect failures back off under one pool-wide, jittered, capped schedule; an acquire whose
 *   deadline comes before the next permitted attempt fails at once with RedisUnavailableError.
 *   A failure that waiting cannot heal (credentials, permissions, certificates, configuration)
 *   is tried once per acquire at most, and only when the schedule permits: never waited for.
 *
 * This module is the policy only. Connections come from a ConnectionFactory (ioredis by
 * default, see connection.ts), and every bounded wait is a Waiter (waiter.ts).
 */
import { backoffDelay } from '../backoff.js';
import { loadConfig, type RedisPoolConfig, type RedisPoolOptions } from '../config.js';
import {
  AcquireTimeoutError,
  PoolClosedError,
  type RedisPoolError,
  RedisUnavailableError,
} from '../errors.js';
import {
  type Connection,
  type ConnectionFactory,
  connectIoredis,
  prebuiltIoredis,
  type RedisClient,
} from './connection.js';
import {
  type ConnectFailure,
  classifyConnectFailure,
  isConnectionError,
} from './connection-error.js';
import { connectionName } from './environment.js';
import { PooledConnection } from './pooled-connection.js';
import { ConnectTarget, type TargetSeams } from './target.js';
import { sleep, withTimeout } from './timeout.js';
import { Waiter } from './waiter.js';

export interface AcquireOptions {
  /** A dedicated connection instead of the shared one. */
  readonly exclusive?: boolean;
  /**
   * Epoch milliseconds by which the lease must be in hand, typically
   * `Date.now() + context.getRemainingTimeInMillis() - margin`. The acquire timeout applies too.
   * An exclusive lease is also handed back by then: a release that cannot clean its connection
   * before this deadline destroys it instead.
   */
  readonly deadline?: number;
}

export interface Lease {
  /** The ioredis client: connected, and checked if it had been idle. */
  readonly redis: RedisClient;
  readonly exclusive: boolean;
  /** True when the connection was open before this acquire (a warm reuse). */
  readonly reused: boolean;
  /** How long the acquire took, including any connect and validation. */
  readonly acquireMs: number;
  /**
   * Hands the connection back. Pass the error that ended the work, if any: a connection-level
   * error destroys the connection, a command error (WRONGTYPE, ...) does not. Idempotent;
   * never rejects. A shared lease is back when this returns (the promise is settled already:
   * the wrappers rely on it); an exclusive one once the promise resolves (its connection is
   * cleaned first).
   */
  release(error?: unknown): Promise<void>;
  /**
   * Hands the lease back and destroys its connection, whatever its state (e.g. work on it may
   * still be running). A shared connection goes for every lease that holds it. Idempotent
   * together with `release`.
   */
  destroy(): Promise<void>;
}

export interface PoolStats {
  /** Connections opened successfully since the pool was created. */
  readonly connectionsCreated: number;
  /** Connection attempts that failed. */
  readonly connectionsFailed: number;
  /** Connections that ended unexpectedly or were destroyed after an error. */
  readonly connectionsLost: number;
  /** Open connections with at least one lease. */
  readonly active: number;
  /** Open connections with no lease. */
  readonly idle: number;
  /** Connection attempts in progress. */
  readonly opening: number;
  /** Acquirers queued for the budget. */
  readonly waiting: number;
  /** Leases handed out. */
  readonly acquired: number;
  /** Leases that got a connection that was already open. */
  readonly reused: number;
  /** Connections opened to replace one that was lost. */
  readonly reconnects: number;
  /** Idle connections found dead before a lease (a close read on the catch-up, or no PING
   * answer) and replaced. */
  readonly validationFailures: number;
  /** The budget: REDIS_POOL_MAX. */
  readonly max: number;
}

/**
 * What the pool is built from, apart from its configuration. A seam for tests: they pass fake
 * connections to drive the pool's policy (budget, queue, deadlines, validation) without a server.
 */
export interface RedisPoolSeams extends TargetSeams {
  /** Opens one connection. Default: `connectIoredis`, a real ioredis client. */
  readonly connect?: ConnectionFactory;
}

/** One acquire (or warm): what it asks for, and when it started and must end. */
interface AcquireRequest {
  readonly exclusive: boolean;
  /** Epoch ms when the acquire began. */
  readonly start: number;
  /** Epoch ms by which it must have a connection: the acquire timeout or the caller's deadline. */
  readonly deadline: number;
}

/** An acquirer queued for the budget; #dispatch serves the queue in FIFO order. */
interface QueuedAcquire {
  readonly request: AcquireRequest;
  readonly waiter: Waiter<Grant>;
}

/** A connection assigned to one acquirer, before validation. */
interface Grant {
  readonly conn: PooledConnection;
  /** Just opened: no need to check it. */
  readonly fresh: boolean;
  /** The check it must pass first (see #validationFor), or the one already running. */
  readonly validation: Promise<boolean> | undefined;
}

/**
 * Unused for at least this long, a connection is checked for a close that arrived unread (see
 * #check): a freeze shows as such a gap. The check costs an acquire two event-loop turns (~75 µs
 * of CPU after an idle gap on a loaded 2-vCPU machine), so back-to-back invocations of a busy
 * environment, 1–3 ms apart in the simulator, do not pay for it. A freeze shorter than this
 * goes unchecked: a close must then have arrived within those few milliseconds.
 */
const CATCH_UP_AFTER_IDLE_MS = 10;

export class RedisPool {
  readonly config: RedisPoolConfig;

  #shared: PooledConnection | undefined;
  #sharedOpening: Promise<PooledConnection> | undefined;
  /** Every open connection, whatever its state: the budget is `#connections.size + #opening`. */
  readonly #connections = new Set<PooledConnection>();
  /** Open, unleased, not the shared one; most recently released last. */
  readonly #idle: PooledConnection[] = [];
  readonly #queue: QueuedAcquire[] = [];
  readonly #connectionFactory: ConnectionFactory;
  /** Where each attempt connects, with which password (discovery, IAM tokens). */
  readonly #target: ConnectTarget;
  #opening = 0;
  #nextId = 1;
  #closed = false;

  // Pool-wide reconnect backoff.
  #failures = 0;
  #retryAt = 0;
  #lastError: Error | undefined;
  /** The last failed attempt and what it means; cleared by a success. */
  #lastFailure: (ConnectFailure & { readonly error: Error }) | undefined;
  /** Ends the backoff waits in progress at once: close() calls them. */
  readonly #backoffWaits = new Set<() => void>();
  #lostUnreplaced = 0;

  #created = 0;
  #failed = 0;
  #lost = 0;
  #acquired = 0;
  #reused = 0;
  #reconnects = 0;
  #validationFailures = 0;

  /**
   * @param options Configuration in code, merged over `env`.
   * @param env Where the REDIS_* variables are read from.
   * @param seams For tests: what the pool opens connections with (see RedisPoolSeams).
   */
  constructor(
    options: RedisPoolOptions = {},
    env: Readonly<Record<string, string | undefined>> = process.env,
    seams: RedisPoolSeams = {},
  ) {
    this.config = loadConfig(env, options);
    this.#target = new ConnectTarget(this.config, seams);
    // The first connection's client is built now when the configuration says where to connect.
    const known = this.#target.known();
    this.#connectionFactory =
      seams.connect ??
      (known
        ? prebuiltIoredis(connectionName(this.config.clientName, this.#nextId), known)
        : connectIoredis);
  }

  /** Leases a connection; see AcquireOptions. Rejects with a RedisPoolError subclass. */
  async acquire(options: AcquireOptions = {}): Promise<Lease> {
    if (this.#closed) throw new PoolClosedError();
    const exclusive = options.exclusive ?? false;
    if (!exclusive) {
      const lease = this.#leaseSharedNow();
      if (lease) return lease;
    }
    const request = this.#request(exclusive, options.deadline);
    this.#target.keepFresh();
    const grant = await this.#acquireConnection(request);
    this.#acquired++;
    if (!grant.fresh) this.#reused++;
    return this.#lease(grant, request.start, options.deadline);
  }

  /**
   * A shared lease at once, when one can be had without waiting: the shared connection is open
   * and due for no check (see `acquire`). Otherwise undefined, and `acquire()` is the way. For
   * callers that count microseconds per invocation (the wrappers); the lease is the same.
   */
  acquireNow(): Lease | undefined {
    return this.#closed ? undefined : this.#leaseSharedNow();
  }

  /**
   * Runs `fn` with a leased client and always hands the lease back: acquire, work and release
   * in one call, for code that would otherwise pair `acquire()` with `release()` in a `finally`.
   *
   * What `fn` throws goes to `release(error)` before it is rethrown unchanged, so a
   * connection-level error (ECONNRESET, "Connection is closed", ...) destroys the connection and
   * a command error (WRONGTYPE, ...) does not. An exclusive lease is cleaned on release (an open
   * MULTI discarded, WATCHes and SELECT undone) before anyone else gets its connection.
   *
   * @example
   * const hits = await pool.run((redis) => redis.incr('hits'));
   *
   * // WATCH needs a connection of its own; give up before the invocation's deadline.
   * const sold = await pool.run(
   *   async (redis) => {
   *     await redis.watch('stock');
   *     if (Number(await redis.get('stock')) < 1) return false;
   *     return (await redis.multi().decr('stock').exec()) !== null;
   *   },
   *   { exclusive: true, deadline: Date.now() + context.getRemainingTimeInMillis() - 250 },
   * );
   *
   * @returns What `fn` returns, once the lease is back.
   * @throws What `fn` throws; or, without calling `fn`, the RedisPoolError of a failed acquire.
   */
  async run<T>(
    fn: (redis: RedisClient) => T | Promise<T>,
    options: AcquireOptions = {},
  ): Promise<T> {
    const lease = await this.acquire(options);
    let result: T;
    try {
      result = await fn(lease.redis);
    } catch (error) {
      await lease.release(error);
      throw error;
    }
    await lease.release();
    return result;
  }

  /**
   * Opens the shared connection ahead of the first acquire (e.g. during Lambda's init phase).
   * Not counted as a lease, so reuse figures describe real traffic.
   */
  async warm(): Promise<void> {
    if (this.#closed) throw new PoolClosedError();
    const grant = await this.#acquireConnection(this.#request(false, undefined));
    this.#releaseShared(grant.conn, undefined);
  }

  stats(): PoolStats {
    let active = 0;
    for (const conn of this.#connections) if (conn.leases > 0) active++;
    return {
      connectionsCreated: this.#created,
      connectionsFailed: this.#failed,
      connectionsLost: this.#lost,
      active,
      idle: this.#connections.size - active,
      opening: this.#opening,
      waiting: this.#queue.length,
      acquired: this.#acquired,
      reused: this.#reused,
      reconnects: this.#reconnects,
      validationFailures: this.#validationFailures,
      max: this.config.poolMax,
    };
  }

  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Waits (at most `timeoutMs`) for outstanding leases to come back, then closes: for an
   * orderly shutdown where work in flight should finish.
   */
  async drain(timeoutMs = this.config.commandTimeoutMs): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (this.stats().active > 0 && Date.now() < until) await sleep(5);
    await this.close();
  }

  /**
   * Stops handing out leases, fails queued acquirers and those waiting out the backoff, and
   * QUITs every connection, so the server sees clean disconnects. Every socket is destroyed
   * within the command timeout, whatever the server does, so that a process that closed its
   * pools can exit; a connection still being opened is closed once open (within the connect
   * timeout).
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const queued of this.#queue.splice(0)) queued.waiter.reject(new PoolClosedError());
    for (const end of [...this.#backoffWaits]) end();
    const connections = [...this.#connections];
    this.#connections.clear();
    this.#idle.length = 0;
    this.#shared = undefined;
    await Promise.all(connections.map((conn) => this.#quit(conn)));
  }

  // ---- acquiring -------------------------------------------------------------------------

  /**
   * The fast path, taken by nearly every acquire of a warm environment: the shared connection
   * is open and needs no check (used within the last few milliseconds, or held by another
   * lease), so the lease is handed out at once, with no request, wait or timer. Anything
   * else (no shared connection, a check due or running, one too old) takes the full path.
   */
  #leaseSharedNow(): Lease | undefined {
    const shared = this.#shared;
    // One clock read for every check: this path runs once per invocation.
    const now = Date.now();
    if (!shared?.ready || shared.validation || this.#tooOld(shared, now)) return undefined;
    if (this.#checkDue(shared, now) !== undefined) return undefined;
    this.#target.keepFresh();
    shared.addLease();
    this.#acquired++;
    this.#reused++;
    // Handed out within this call: it took no measurable time.
    return new PoolLease(shared, false, true, 0, undefined, this.#releaseLease);
  }

  #request(exclusive: boolean, callerDeadline: number | undefined): AcquireRequest {
    const start = Date.now();
    const deadline = Math.min(
      start + this.config.acquireTimeoutMs,
      callerDeadline ?? Number.POSITIVE_INFINITY,
    );
    return { exclusive, start, deadline };
  }

  async #acquireConnection(request: AcquireRequest): Promise<Grant> {
    for (;;) {
      let grant: Grant;
      try {
        grant = await this.#next(request);
      } catch (error) {
        // A failed attempt is retried while the next permitted attempt fits before the deadline.
        // A deadline that has passed ends it, whatever the error says: the deadline timer
        // also reports RedisUnavailableError while attempts are failing.
        // A permanent failure is not: one attempt per acquire.
        const retry = error instanceof RedisUnavailableError && !error.permanent && !this.#closed;
        const { deadline } = request;
        if (retry && Date.now() < deadline && this.#retryAt < deadline) continue;
        throw error;
      }
      if (!grant.conn.ready) {
        // The connection already knows it is gone; the 'end' event just has not arrived yet.
        this.#discard(grant.conn);
        continue;
      }
      const { conn, validation } = grant;
      if (!validation || (await this.#awaitValidation(conn, validation, request))) return grant;
      // It failed its PING and was discarded: get another one.
    }
  }

  /** A connection for this acquirer: assigned at once, after opening one, or after waiting. */
  #next(request: AcquireRequest): Promise<Grant> {
    if (this.#closed) return Promise.reject(new PoolClosedError());
    const { exclusive } = request;
    if (!exclusive) {
      const shared = this.#currentShared();
      if (shared) return Promise.resolve(this.#assign(shared, false, false));
      if (this.#sharedOpening) return this.#waitForOpening(this.#sharedOpening, request);
    }
    // Nobody jumps the queue: FIFO for the budget.
    if (this.#queue.length === 0) {
      const idle = this.#popIdle();
      if (idle) return Promise.resolve(this.#assign(idle, exclusive, false));
      if (this.#hasBudget()) return this.#waitForOpening(this.#openOrJoin(request), request);
      const unleasedShared = exclusive ? this.#takeUnleasedShared() : undefined;
      if (unleasedShared) return Promise.resolve(this.#assign(unleasedShared, true, false));
    }
    return this.#enqueue(request);
  }

  /**
   * Marks the connection as leased to this acquirer, and starts its PING if it needs one. Both
   * happen here, before the lease count changes, because a leased connection no longer looks
   * idle: an acquirer arriving in the same tick must find the PING already in flight, or it
   * would be handed the unchecked connection without waiting.
   */
  #assign(conn: PooledConnection, exclusive: boolean, fresh: boolean): Grant {
    const validation = fresh ? undefined : this.#validationFor(conn);
    conn.addLease();
    if (exclusive) {
      conn.exclusive = true;
    } else {
      this.#shared = conn;
    }
    return { conn, fresh, validation };
  }

  /** Waits, within the deadline, for a connection that is opening. */
  #waitForOpening(opening: Promise<PooledConnection>, request: AcquireRequest): Promise<Grant> {
    const waiter = new Waiter<Grant>(request.deadline - Date.now(), () =>
      this.#timeoutError(request, 'waiting for a connection to open'),
    );
    this.#handOver(opening, waiter, request.exclusive);
    return waiter.promise;
  }

  /**
   * Gives the connection being opened to `waiter`. An acquirer that gave up leaves the attempt
   * running: when it completes, the connection serves the next acquirer instead of being thrown
   * away (a slow TLS handshake is not wasted).
   */
  #handOver(opening: Promise<PooledConnection>, waiter: Waiter<Grant>, exclusive: boolean): void {
    opening.then(
      (conn) => {
        if (waiter.isPending) waiter.resolve(this.#assign(conn, exclusive, true));
        else if (this.#shared !== conn) this.#makeAvailable(conn);
      },
      (error: unknown) => waiter.reject(error),
    );
  }

  /** Opens a connection; for the shared lease, one attempt serves every concurrent acquirer. */
  #openOrJoin(request: AcquireRequest): Promise<PooledConnection> {
    if (request.exclusive) return this.#open(request.deadline);
    if (this.#sharedOpening) return this.#sharedOpening;
    const opening = this.#open(request.deadline).then((conn) => {
      this.#shared = conn;
      return conn;
    });
    this.#sharedOpening = opening;
    const clear = () => {
      if (this.#sharedOpening === opening) this.#sharedOpening = undefined;
    };
    opening.then(clear, clear);
    return opening;
  }

  /**
   * One connection attempt, after the pool-wide backoff allows it. The budget slot is reserved
   * from the start, so concurrent acquirers cannot overshoot `poolMax`.
   */
  async #open(deadline: number): Promise<PooledConnection> {
    const waitMs = this.#retryAt - Date.now();
    // Waiting for an attempt that will most likely fail the same way (a wrong password) would
    // only spend the invocation's time: after a permanent failure, only an acquire that comes
    // once the attempt is due tries.
    const waitable = this.#retryAt < deadline && !this.#lastFailure?.permanent;
    if (waitMs > 0 && !waitable) throw this.#unavailable(waitMs);
    this.#opening++;
    try {
      if (waitMs > 0) await this.#backoff(waitMs);
      if (this.#closed) throw new PoolClosedError();
      return await this.#connectOne(deadline);
    } finally {
      this.#opening--;
    }
  }

  /** Waits out the backoff, unless close() ends the wait first (its timer would keep a process
   * that closed the pool alive until the next attempt was due, up to retryMaxMs). */
  #backoff(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const end = () => {
        clearTimeout(timer);
        this.#backoffWaits.delete(end);
        resolve();
      };
      const timer = setTimeout(end, ms);
      this.#backoffWaits.add(end);
    });
  }

  async #connectOne(deadline: number): Promise<PooledConnection> {
    const name = connectionName(this.config.clientName, this.#nextId++);
    let conn: PooledConnection | undefined;
    let connection: Connection;
    try {
      // Discovery (the first time) and a fresh IAM token, within the deadline.
      const config = await this.#target.prepare(deadline);
      const events = {
        error: (error: Error) => {
          this.#lastError = error;
        },
        end: () => {
          if (conn) this.#discard(conn);
        },
      };
      connection = await this.#connectionFactory(name, config, events);
    } catch (error) {
      this.#recordFailure(error);
      if (this.#lastFailure?.reason === 'unreachable') this.#target.unreachable();
      throw this.#unavailable(this.#retryAt - Date.now());
    }
    this.#target.connected();
    conn = new PooledConnection(connection, Date.now());
    this.#failures = 0;
    this.#retryAt = 0;
    this.#lastFailure = undefined;
    this.#created++;
    if (this.#lostUnreplaced > 0) {
      this.#lostUnreplaced--;
      this.#reconnects++;
    }
    if (this.#closed) {
      await this.#quit(conn);
      throw new PoolClosedError();
    }
    this.#connections.add(conn);
    return conn;
  }

  #recordFailure(error: unknown): void {
    this.#failed++;
    this.#lastError = error instanceof Error ? error : new Error(String(error));
    this.#lastFailure = {
      ...classifyConnectFailure(error, this.config.auth),
      error: this.#lastError,
    };
    this.#retryAt =
      Date.now() +
      backoffDelay(this.#failures, {
        baseMs: this.config.retryBaseMs,
        capMs: this.config.retryMaxMs,
      });
    this.#failures++;
  }

  /**
   * Queues for the budget. #dispatch hands the acquirer a free connection, or the budget to open
   * one, in which case the same wait goes on until that connection is open.
   */
  #enqueue(request: AcquireRequest): Promise<Grant> {
    const queued: QueuedAcquire = {
      request,
      waiter: new Waiter<Grant>(request.deadline - Date.now(), () => {
        const stillQueued = this.#leaveQueue(queued);
        return this.#timeoutError(
          request,
          stillQueued
            ? `waiting for one of ${this.config.poolMax} connections`
            : 'waiting for a connection to open',
        );
      }),
    };
    this.#queue.push(queued);
    return queued.waiter.promise;
  }

  #leaveQueue(queued: QueuedAcquire): boolean {
    const index = this.#queue.indexOf(queued);
    if (index === -1) return false;
    this.#queue.splice(index, 1);
    return true;
  }

  // ---- validation ------------------------------------------------------------------------

  /**
   * The check a connection must pass before it is handed out: the one in progress, shared by
   * every acquirer arriving meanwhile, or a new one if it sat unused for a while (see #check).
   * None for a connection already known to be closed: the acquirer discards it unasked.
   */
  #validationFor(conn: PooledConnection): Promise<boolean> | undefined {
    if (conn.validation) return conn.validation;
    if (!conn.ready) return undefined;
    const ping = this.#checkDue(conn, Date.now());
    if (ping === undefined) return undefined;
    const validation = this.#check(conn, ping);
    conn.validation = validation;
    validation.finally(() => {
      if (conn.validation === validation) conn.validation = undefined;
      // An exclusive acquirer may be queued for this connection: it could not be taken while
      // being checked, and if every acquirer that was checking it gave up, no release will
      // come to serve the queue.
      if (this.#queue.length > 0) this.#dispatch();
    });
    return validation;
  }

  /**
   * The check a connection unused since `now` is due for: undefined for none (used within
   * CATCH_UP_AFTER_IDLE_MS, or leased), false for the catch-up alone, true for the catch-up and
   * a PING (idle longer than `idleCheckMs`).
   */
  #checkDue(conn: PooledConnection, now: number): boolean | undefined {
    const idleMs = conn.idleFor(now);
    const ping = idleMs > this.config.idleCheckMs;
    if (!ping && idleMs < CATCH_UP_AFTER_IDLE_MS) return undefined;
    return ping;
  }

  /** True when the connection answered; gives the lease back if the deadline comes first. */
  async #awaitValidation(
    conn: PooledConnection,
    validation: Promise<boolean>,
    request: AcquireRequest,
  ): Promise<boolean> {
    const waiter = new Waiter<boolean>(request.deadline - Date.now(), () =>
      this.#timeoutError(request, 'checking an idle connection'),
    );
    waiter.follow(validation);
    try {
      return await waiter.promise;
    } catch (error) {
      this.#undoLease(conn);
      throw error;
    }
  }

  /**
   * True when the connection is fit to hand out. First the socket events that arrived while it
   * sat unused are let run: a freeze (or a long synchronous stretch) leaves a server's close or
   * reset unread, and the connection would still look open. Then, if `ping`, the PING that
   * finds a silently lost connection.
   */
  async #check(conn: PooledConnection, ping: boolean): Promise<boolean> {
    try {
      await conn.connection.catchUp();
      if (!conn.ready) throw new Error('Connection is closed.');
      if (ping) {
        await conn.connection.ping();
        conn.lastReleasedAt = Date.now();
      }
      return true;
    } catch {
      this.#validationFailures++;
      this.#discard(conn);
      return false;
    }
  }

  // ---- releasing -------------------------------------------------------------------------

  /** @param deadline The caller's: an exclusive release must be over by then too. */
  #lease(grant: Grant, start: number, deadline: number | undefined): Lease {
    const { conn } = grant;
    const acquireMs = Date.now() - start;
    return new PoolLease(
      conn,
      conn.exclusive,
      !grant.fresh,
      acquireMs,
      deadline,
      this.#releaseLease,
    );
  }

  /** What every lease's release and destroy call: one function per pool, not per lease. */
  readonly #releaseLease: ReleaseLease = (conn, exclusive, error, destroy, deadline) => {
    if (exclusive) return this.#releaseExclusive(conn, error, destroy, deadline);
    this.#releaseShared(conn, error, destroy);
    return RELEASED;
  };

  /** Synchronous: a shared release has nothing to wait for. */
  #releaseShared(conn: PooledConnection, error: unknown, destroy = false): void {
    conn.removeLease();
    if (conn.leases === 0) conn.lastReleasedAt = Date.now();
    // A shared connection switched to another db or to subscriber mode would misroute every
    // other lease's commands: it goes at once.
    const db = this.#db;
    if (destroy || isConnectionError(error) || !conn.ready || conn.connection.isTainted(db)) {
      this.#discard(conn);
      return;
    }
    // Its last lease is back: an old shared connection (or one already replaced as the shared
    // one, see #currentShared) can go now.
    if (conn.leases === 0 && (this.#tooOld(conn) || conn !== this.#shared)) {
      this.#retire(conn);
      return;
    }
    if (conn.leases === 0 && this.#queue.length > 0) this.#dispatch();
  }

  /**
   * Hands an exclusive connection back clean, or destroys it. The reset is one round trip, so it
   * gets the command timeout, and no more than what is left before the lease's deadline: a
   * server that stalls then must not hold up a handler that has finished. Past the deadline
   * there is no time for it at all.
   */
  async #releaseExclusive(
    conn: PooledConnection,
    error: unknown,
    destroy: boolean,
    deadline: number | undefined,
  ): Promise<void> {
    if (!this.#connections.has(conn)) return;
    const resetMs = Math.min(this.config.commandTimeoutMs, (deadline ?? Infinity) - Date.now());
    const clean =
      !destroy &&
      !isConnectionError(error) &&
      conn.ready &&
      resetMs > 0 &&
      (await this.#reset(conn, resetMs));
    if (!clean) {
      this.#discard(conn);
      return;
    }
    conn.leases = 0;
    conn.exclusive = false;
    conn.lastReleasedAt = Date.now();
    if (this.#tooOld(conn)) this.#retire(conn);
    else this.#makeAvailable(conn);
  }

  /** True when the connection was reset within `timeoutMs`. */
  async #reset(conn: PooledConnection, timeoutMs: number): Promise<boolean> {
    try {
      return await withTimeout(
        conn.connection.reset(this.#db),
        timeoutMs,
        () => new Error('Reset timed out'),
      );
    } catch {
      return false;
    }
  }

  // ---- bookkeeping -----------------------------------------------------------------------

  /** The db every connection is on: the URL's, or 0 for a discovered cache. */
  get #db(): number {
    return this.config.endpoint?.db ?? 0;
  }

  #hasBudget(): boolean {
    return this.#connections.size + this.#opening < this.config.poolMax;
  }

  /** The shared connection, if no lease holds it, for an exclusive acquirer at a full budget. */
  #takeUnleasedShared(): PooledConnection | undefined {
    const shared = this.#currentShared();
    if (!shared || shared.leases > 0 || shared.validation) return undefined;
    this.#shared = undefined;
    return shared;
  }

  /**
   * The shared connection to hand out, if there is one. One past its maximum age is retired if
   * no lease holds it; if leases do and the budget allows another connection, it stops being
   * the shared one (a new one opens for the next acquirers) and is retired when its last lease
   * comes back. Without budget to spare it serves on: it goes once its leases are all back.
   */
  #currentShared(): PooledConnection | undefined {
    const shared = this.#shared;
    if (!shared?.alive) return undefined;
    if (!this.#tooOld(shared)) return shared;
    if (shared.leases === 0 && !shared.validation) {
      this.#retire(shared, false);
      return undefined;
    }
    if (this.#hasBudget()) {
      this.#shared = undefined;
      return undefined;
    }
    return shared;
  }

  /** The most recently released idle connection, retiring any past its maximum age. */
  #popIdle(): PooledConnection | undefined {
    for (;;) {
      const conn = this.#idle.pop();
      if (!conn || !this.#tooOld(conn)) return conn;
      this.#retire(conn, false);
    }
  }

  #tooOld(conn: PooledConnection, now = Date.now()): boolean {
    const maxAge = this.config.maxConnectionAgeMs;
    return maxAge > 0 && now - conn.openedAt >= maxAge;
  }

  /**
   * Closes, politely (QUIT), a connection no lease holds and frees its budget. Not a loss: the
   * connection did nothing wrong, it is just old.
   * @param dispatch Serve the queue with the freed budget; false from the code that serves it
   *   (#next, #dispatch), which must not be re-entered.
   */
  #retire(conn: PooledConnection, dispatch = true): void {
    if (!this.#connections.delete(conn)) return;
    const index = this.#idle.indexOf(conn);
    if (index !== -1) this.#idle.splice(index, 1);
    if (this.#shared === conn) this.#shared = undefined;
    void this.#quit(conn);
    if (dispatch) this.#dispatch();
  }

  /** A connection nobody holds: to the first waiter, else to the idle list. */
  #makeAvailable(conn: PooledConnection): void {
    if (!conn.alive || this.#closed) return;
    this.#idle.push(conn);
    this.#dispatch();
  }

  /** Serves queued acquirers, in order, while connections or budget are free. */
  #dispatch(): void {
    while (!this.#closed) {
      const queued = this.#queue[0];
      if (!queued) return;
      const { request, waiter } = queued;
      const shared = request.exclusive ? undefined : this.#currentShared();
      if (!request.exclusive && (shared || this.#sharedOpening)) {
        this.#queue.shift();
        if (shared) waiter.resolve(this.#assign(shared, false, false));
        else this.#handOver(this.#openOrJoin(request), waiter, false);
        continue;
      }
      const conn = this.#popIdle() ?? (request.exclusive ? this.#takeUnleasedShared() : undefined);
      if (conn) {
        this.#queue.shift();
        waiter.resolve(this.#assign(conn, request.exclusive, false));
      } else if (this.#hasBudget()) {
        this.#queue.shift();
        this.#handOver(this.#openOrJoin(request), waiter, request.exclusive);
      } else {
        return;
      }
    }
  }

  /** Removes a connection for good (it ended, failed, or is unsafe) and frees its budget. */
  #discard(conn: PooledConnection): void {
    const known = this.#connections.delete(conn);
    if (conn.alive) conn.destroy();
    if (!known) return;
    const index = this.#idle.indexOf(conn);
    if (index !== -1) this.#idle.splice(index, 1);
    if (this.#shared === conn) this.#shared = undefined;
    this.#lost++;
    this.#lostUnreplaced++;
    this.#dispatch();
  }

  /** Gives back the lease count taken by #assign when the acquirer gives up. */
  #undoLease(conn: PooledConnection): void {
    conn.removeLease();
    if (conn.exclusive && conn.leases === 0) {
      conn.exclusive = false;
      this.#makeAvailable(conn);
    }
  }

  #quit(conn: PooledConnection): Promise<void> {
    return conn.quit(this.config.commandTimeoutMs);
  }

  /**
   * The error for an acquire that cannot have a connection because attempts are failing: why
   * (the last failure), whether waiting can help, and when the next attempt is.
   */
  #unavailable(retryInMs: number): RedisUnavailableError {
    const wait = Math.max(0, Math.round(retryInMs));
    const failure =
      this.#lastFailure ??
      (this.#lastError ? classifyConnectFailure(this.#lastError, this.config.auth) : undefined);
    const message = !failure
      ? `Redis is unavailable; next attempt in ${wait} ms`
      : failure.permanent
        ? `Cannot connect to Redis (${failure.what}): ${failure.check}. Next attempt in ${wait} ms`
        : `Redis is unavailable (${failure.what}); next attempt in ${wait} ms`;
    return new RedisUnavailableError(message, wait, {
      cause: this.#lastFailure?.error ?? this.#lastError,
      endpoint: this.#target.describe(),
      permanent: failure?.permanent ?? false,
      reason: failure?.reason ?? 'unreachable',
    });
  }

  /**
   * Past the deadline while Redis is failing, that is the story; otherwise the budget was.
   * `waitedMs` is measured from the acquire's start: the deadline may be the caller's, tighter
   * than the acquire timeout.
   */
  #timeoutError(request: AcquireRequest, what: string): RedisPoolError {
    if (this.#failures > 0) return this.#unavailable(this.#retryAt - Date.now());
    const waited = Date.now() - request.start;
    return new AcquireTimeoutError(`Timed out ${what} (acquire deadline reached)`, waited);
  }
}

/** What a shared release returns: it has nothing to wait for. */
const RELEASED: Promise<void> = Promise.resolve();

type ReleaseLease = (
  conn: PooledConnection,
  exclusive: boolean,
  error: unknown,
  destroy: boolean,
  deadline: number | undefined,
) => Promise<void>;

/** A lease as handed out: release and destroy share one outcome, whichever is called first. */
class PoolLease implements Lease {
  readonly redis: RedisClient;
  // Private at run time too: printing a lease must not reach the connection's internals.
  readonly #conn: PooledConnection;
  readonly #deadline: number | undefined;
  readonly #releaseLease: ReleaseLease;
  #released: Promise<void> | undefined;

  constructor(
    conn: PooledConnection,
    readonly exclusive: boolean,
    readonly reused: boolean,
    readonly acquireMs: number,
    deadline: number | undefined,
    releaseLease: ReleaseLease,
  ) {
    this.redis = conn.client;
    this.#conn = conn;
    this.#deadline = deadline;
    this.#releaseLease = releaseLease;
  }

  release(error?: unknown): Promise<void> {
    this.#released ??= this.#releaseLease(this.#conn, this.exclusive, error, false, this.#deadline);
    return this.#released;
  }

  destroy(): Promise<void> {
    this.#released ??= this.#releaseLease(
      this.#conn,
      this.exclusive,
      undefined,
      true,
      this.#deadline,
    );
    return this.#released;
  }
}
