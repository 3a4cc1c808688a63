/**
 * The life of one invocation's lease, shared by withRedisPool() and the middy middleware:
 * acquire within the invocation's deadline, record its metrics, and end exactly once
 * (release + flush), whichever path gets there first.
 */
import type { Metrics } from '@aws-lambda-powertools/metrics';
import type { Context } from 'aws-lambda';
import type { RedisPoolOptions } from './config.js';
import { DeadlineError } from './errors.js';
import {
  addInvocationMetrics,
  type InvocationMetrics,
  invocationMetrics,
  PoolMetricsEmitter,
} from './metrics.js';
import type { RedisClient } from './pool/connection.js';
import type { Lease, RedisPool } from './pool/RedisPool.js';
import { getRedisPool } from './pool/registry.js';

/** The Lambda context as the handler sees it: with the leased ioredis client. */
export type RedisContext = Context & { redis: RedisClient };

export interface RedisPoolHandlerOptions {
  /** Pool configuration, merged over the environment variables. */
  readonly pool?: RedisPoolOptions;
  /** Lease a dedicated connection for each invocation instead of the shared one. */
  readonly exclusive?: boolean;
  /**
   * Time kept free before Lambda's deadline, so an unreachable Redis surfaces as an error your
   * code can still answer: the acquire gives up this long before the deadline. Default 250.
   */
  readonly deadlineMarginMs?: number;
  /**
   * Your Powertools Metrics instance: the pool's metrics go into your EMF document (flushed by
   * your `logMetrics()` or `publishStoredMetrics()`), not a second one.
   */
  readonly metrics?: Metrics;
}

export const DEFAULT_DEADLINE_MARGIN_MS = 250;

/** True until the first invocation of this execution environment begins. */
let coldStart = true;

/** Per wrapper (module scope): the pool, where metrics go, and invocations still holding leases. */
export class InvocationRunner {
  readonly pool: RedisPool;
  readonly #options: RedisPoolHandlerOptions;
  readonly #emitter: PoolMetricsEmitter | undefined;
  readonly #open = new Set<Invocation>();

  constructor(options: RedisPoolHandlerOptions = {}) {
    this.#options = options;
    this.pool = getRedisPool(options.pool);
    const { config } = this.pool;
    this.#emitter =
      config.metrics && !options.metrics
        ? new PoolMetricsEmitter(
            config.metricsNamespace,
            process.env.AWS_LAMBDA_FUNCTION_NAME ?? config.clientName,
          )
        : undefined;
  }

  /** Starts an invocation; call `acquire()` on it, and `end()` on every path out. */
  start(context: Context): Invocation {
    const now = Date.now();
    this.#endAbandoned(now);
    const remaining =
      typeof context.getRemainingTimeInMillis === 'function'
        ? context.getRemainingTimeInMillis()
        : Number.POSITIVE_INFINITY;
    const invocation = new Invocation(
      this,
      now + remaining,
      this.#options.deadlineMarginMs ?? DEFAULT_DEADLINE_MARGIN_MS,
    );
    this.#open.add(invocation);
    return invocation;
  }

  get exclusive(): boolean {
    return this.#options.exclusive ?? false;
  }

  /** Called by an invocation once its lease is back and its metrics are out. */
  finished(invocation: Invocation, record: InvocationMetrics | undefined): void {
    this.#open.delete(invocation);
    if (record) this.#emitter?.publish(record);
  }

  /** Adds a fresh record to the user's Metrics instance at once; they flush it. */
  record(record: InvocationMetrics): void {
    if (this.#options.metrics) addInvocationMetrics(this.#options.metrics, record);
  }

  get metricsEnabled(): boolean {
    return this.pool.config.metrics;
  }

  /**
   * Safety net for invocations that never reached `end()` (a middleware returned early without
   * calling cleanupRedisPool): once Lambda's deadline has passed they are certainly over, so
   * their leases come back and their metrics go out, keeping the budget whole.
   */
  #endAbandoned(now: number): void {
    for (const invocation of this.#open) {
      if (invocation.lambdaDeadline < now) void invocation.abandon();
    }
  }
}

export class Invocation {
  #lease: Lease | undefined;
  #record: InvocationMetrics | undefined;
  #ended: Promise<void> | undefined;

  constructor(
    private readonly runner: InvocationRunner,
    /** Epoch ms when Lambda ends the invocation. */
    readonly lambdaDeadline: number,
    private readonly marginMs: number,
  ) {}

  /** Leases a connection within the invocation's deadline (less the margin). */
  async acquire(): Promise<RedisClient> {
    const started = Date.now();
    try {
      this.#lease = await this.runner.pool.acquire({
        exclusive: this.runner.exclusive,
        deadline: this.lambdaDeadline - this.marginMs,
      });
      return this.#lease.redis;
    } finally {
      this.#measure(Date.now() - started);
    }
  }

  /**
   * Releases the lease (a connection-level `error` destroys the connection) and flushes the
   * invocation's metrics. Idempotent: the first call does the work, later ones await it.
   * An early-timeout error means the handler is still running: see abandon().
   */
  end(error?: unknown): Promise<void> {
    this.#ended ??= handlerStillRuns(error) ? this.#finish(undefined, true) : this.#finish(error);
    return this.#ended;
  }

  /** Ends an invocation whose handler may, in theory, still run: never hand its connection on. */
  abandon(): Promise<void> {
    this.#ended ??= this.#finish(undefined, true);
    return this.#ended;
  }

  async #finish(error: unknown, abandoned = false): Promise<void> {
    try {
      // A dedicated connection whose handler may still run is never handed to another one.
      if (abandoned && this.#lease?.exclusive) await this.#lease.destroy();
      else await this.#lease?.release(error);
    } finally {
      this.runner.finished(this, this.#record);
    }
  }

  #measure(elapsedMs: number): void {
    if (!this.runner.metricsEnabled) return;
    const record = invocationMetrics(
      this.runner.pool,
      { acquireMs: this.#lease?.acquireMs ?? elapsedMs, reused: this.#lease?.reused },
      takeColdStart(),
    );
    this.#record = record;
    this.runner.record(record);
  }
}

/**
 * The invocation was answered while its handler goes on in the background: withRedisPool's
 * DeadlineError, or middy's early timeout. middy (5 to 7) throws the latter from its default
 * `timeoutEarlyResponse` as an Error named TimeoutError whose `cause` is
 * `{ package: '@middy/core' }`. The name alone is not enough: a handler's own
 * `AbortSignal.timeout()` rejects with a DOMException named TimeoutError too, and that handler
 * has ended.
 */
function handlerStillRuns(error: unknown): boolean {
  return error instanceof DeadlineError || isMiddyTimeout(error);
}

function isMiddyTimeout(error: unknown): boolean {
  if (!(error instanceof Error) || error.name !== 'TimeoutError') return false;
  const cause: unknown = error.cause;
  return (
    typeof cause === 'object' &&
    cause !== null &&
    (cause as { package?: unknown }).package === '@middy/core'
  );
}

function takeColdStart(): boolean {
  const value = coldStart;
  coldStart = false;
  return value;
}
