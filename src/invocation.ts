/**
 * The life of one invocation's lease, shared by withRedisPool() and the middy middleware:
 * acquire within the invocation's deadline, record its metrics, and end exactly once
 * (release, with its EMF document written by then), whichever path gets there first. Also the
 * wrappers' options, their defaults and their checks, and the types both wrappers hand to a
 * handler.
 */
import type { Cluster, Redis } from 'ioredis';
import { AcquireTimeoutError, ConfigError, type ConfigIssue, DeadlineError } from './errors.js';
import { List, type ListEntry } from './list.js';
import {
  addInvocationMetrics,
  type InvocationMetrics,
  invocationMetrics,
  type MetricsSink as Metrics,
  type PoolMetricsEmitter,
  poolMetricsEmitter,
  takeColdStart,
} from './metrics.js';
import type { RedisPoolOptions } from './options.js';
import type { RedisClient } from './pool/connection.js';
import type { Lease, RedisPool } from './pool/RedisPool.js';
import { getRedisPool } from './pool/registry.js';

/**
 * The parts of Lambda's context a handler can count on, structurally: aws-lambda's `Context`
 * is one, so this library needs no `@types/aws-lambda` (an optional peer) to type a handler.
 */
export interface LambdaContext {
  readonly functionName: string;
  readonly functionVersion: string;
  readonly invokedFunctionArn: string;
  readonly memoryLimitInMB: string;
  readonly awsRequestId: string;
  readonly logGroupName: string;
  readonly logStreamName: string;
  /** Milliseconds before Lambda ends the invocation: the deadline every wait respects. */
  getRemainingTimeInMillis(): number;
}

/**
 * The Lambda context as the handler sees it: with the leased ioredis client, a `Redis`
 * unless the wrapper's options say `pool: { cluster: true }`.
 */
export type RedisContext<TClient extends RedisClient = Redis> = LambdaContext & {
  readonly redis: TClient;
};

/**
 * The client a handler gets for these wrapper options, as the code states the mode:
 * `Cluster` for `pool: { cluster: true }`, either for a `cluster: boolean` that may be true
 * or false, and `Redis` when the code does not set `cluster` (or sets it false). Cluster mode
 * chosen only by REDIS_CLUSTER is invisible to the types: say `cluster: true` in code too (or
 * type the handler's context `RedisContext<RedisClient>`, which accepts either).
 */
export type RedisClientFor<TOptions> = [ClusterSetting<TOptions>] extends [true]
  ? Cluster
  : true extends ClusterSetting<TOptions>
    ? RedisClient
    : Redis;

/** The type of `pool.cluster` when the options surely set it, else undefined. */
type ClusterSetting<TOptions> = TOptions extends { readonly pool: infer P }
  ? P extends { readonly cluster: infer C }
    ? C
    : undefined
  : undefined;

/** Options of both wrappers. */
export interface RedisPoolHandlerOptions {
  /** Pool options, merged over the environment variables. */
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

/** Options of withRedisPool(). */
export interface WithRedisPoolOptions extends RedisPoolHandlerOptions {
  /**
   * A handler still running this long before Lambda's deadline is answered with a
   * DeadlineError (it keeps running in the background), so its lease is released and its
   * metrics flushed in time, as middy's `timeoutEarlyInMillis` does. 0 turns it off.
   *
   * Default 250: the timer fires only when the handler lets the event loop turn, so it must
   * leave room for a late timer (a synchronous stretch of the handler, a small share of a
   * vCPU), the release and the metrics flush. With 5 ms, handlers that overran on a busy loop
   * hit Lambda's timeout (the environment is then killed and the next invocation is a cold
   * start); with 250 none did (test/reliability/lifecycle.test.ts, 'deadline').
   */
  readonly timeoutEarlyMs?: number;
}

/** The wrappers' options with every default filled in. */
export interface ResolvedOptions {
  readonly pool: RedisPoolOptions;
  readonly exclusive: boolean;
  readonly deadlineMarginMs: number;
  readonly metrics: Metrics | undefined;
  readonly timeoutEarlyMs: number;
}

/** The wrappers' defaults, merged once over the options given, as middy's middlewares do. */
const defaults: ResolvedOptions = {
  pool: {},
  exclusive: false,
  deadlineMarginMs: 250,
  metrics: undefined,
  timeoutEarlyMs: 250,
};

const MAX_MS = 900_000; // Lambda's 15-minute limit

/** What each wrapper option accepts; undefined when the value is fine. */
const expectations: {
  readonly [K in keyof ResolvedOptions]: (value: unknown) => string | undefined;
} = {
  pool: (v) => (isRecord(v) ? undefined : 'an object of pool options'),
  exclusive: (v) => (typeof v === 'boolean' ? undefined : 'true or false'),
  deadlineMarginMs: (v) => (isMs(v) ? undefined : `an integer from 0 to ${MAX_MS}`),
  metrics: (v) => {
    if (isRecord(v) && typeof v.addMetric === 'function') return undefined;
    // Not the pool option of the same name, which turns the pool's metrics on or off.
    return typeof v === 'boolean'
      ? 'a Powertools Metrics instance (to turn metrics off: pool: { metrics: false })'
      : 'a Powertools Metrics instance';
  },
  timeoutEarlyMs: (v) => (isMs(v) ? undefined : `an integer from 0 to ${MAX_MS}`),
};

type Wrapper = 'withRedisPool' | 'redisPool';

/**
 * The options a wrapper was given, merged over the defaults and checked: unknown keys and bad
 * values fail at init with one ConfigError naming each. An option given as `undefined` takes
 * its default. `redisPool()` has no `timeoutEarlyMs`: middy has its own early timeout.
 */
export function resolveOptions(given: unknown, wrapper: Wrapper): ResolvedOptions {
  if (given !== undefined && !isRecord(given)) {
    throw new ConfigError([
      { variable: 'options', expected: `an object of ${wrapper}() options`, received: show(given) },
    ]);
  }
  const allowed = Object.keys(defaults).filter(
    (key) => wrapper === 'withRedisPool' || key !== 'timeoutEarlyMs',
  );
  const issues: ConfigIssue[] = [];
  const options: Record<string, unknown> = { ...defaults };
  for (const [key, value] of Object.entries(given ?? {})) {
    if (value === undefined) continue;
    if (key === 'timeoutEarlyMs' && wrapper === 'redisPool') {
      issues.push({
        variable: `options.${key}`,
        expected: "none in redisPool(): use middy's own, middy(handler, { timeoutEarlyInMillis })",
        received: show(value),
      });
      continue;
    }
    if (!allowed.includes(key)) {
      issues.push({
        variable: `options.${key}`,
        expected: `an option of ${wrapper}(): ${allowed.join(', ')}`,
        received: 'an unknown option',
      });
      continue;
    }
    const expected = expectations[key as keyof ResolvedOptions](value);
    if (expected) issues.push({ variable: `options.${key}`, expected, received: show(value) });
    else options[key] = value;
  }
  if (issues.length > 0) throw new ConfigError(issues);
  return options as unknown as ResolvedOptions;
}

/** Per wrapper (module scope): the pool, where metrics go, and invocations still holding leases. */
export class InvocationRunner {
  readonly pool: RedisPool;
  readonly options: ResolvedOptions;
  readonly #emitter: PoolMetricsEmitter | undefined;
  /**
   * Whether invocations gather a record: only when someone takes it (the user's Metrics, or
   * our emitter, which is none when Powertools' metrics are switched off). Decided once here.
   */
  readonly metricsEnabled: boolean;
  readonly #open = new List<Invocation>();
  /**
   * No open invocation has an earlier Lambda deadline: a lower bound (it may be the deadline of
   * one that has ended), so that start() looks for abandoned invocations only once a deadline
   * has passed, not through every open one on every start.
   */
  #earliestDeadline = Number.POSITIVE_INFINITY;
  /**
   * withRedisPool's early timeouts, all on one timer: armed for the earliest early deadline
   * among the handlers running, and left armed (unreferenced, so it keeps no process alive)
   * when no invocation is open. Lambda's deadlines come in order, each later than the last, so
   * a handler usually finds the timer armed for an earlier one and costs no timer call of its
   * own; when the timer fires, the handlers whose time is up are answered (see #fire), and it
   * is armed again for the next. The open invocations are the timer's list too: no second one.
   */
  #timer: NodeJS.Timeout | undefined;
  /** Epoch ms the timer is armed for; Infinity when it is not. */
  #firesAt = Number.POSITIVE_INFINITY;

  /** @param pool For tests: a pool of their own (the module-scope one for these options). */
  constructor(options: ResolvedOptions, pool: RedisPool = getRedisPool(options.pool)) {
    this.options = options;
    this.pool = pool;
    const { config } = this.pool;
    this.#emitter =
      config.metrics && !options.metrics
        ? poolMetricsEmitter(
            config.metricsNamespace,
            process.env.AWS_LAMBDA_FUNCTION_NAME ?? config.clientName,
          )
        : undefined;
    this.metricsEnabled =
      config.metrics && (options.metrics !== undefined || this.#emitter !== undefined);
  }

  /** Starts an invocation; call `acquire()` on it, and `end()` on every path out. */
  start(context: Partial<LambdaContext>): Invocation {
    const now = Date.now();
    if (now > this.#earliestDeadline) this.#endAbandoned(now);
    const remaining =
      typeof context.getRemainingTimeInMillis === 'function'
        ? context.getRemainingTimeInMillis()
        : Number.POSITIVE_INFINITY;
    const invocation = new Invocation(this, now + remaining, this.options.deadlineMarginMs);
    if (invocation.lambdaDeadline < this.#earliestDeadline) {
      this.#earliestDeadline = invocation.lambdaDeadline;
    }
    return invocation;
  }

  /** Called by a new invocation: it is open (see #endAbandoned) until it has finished. */
  opened(invocation: Invocation): ListEntry<Invocation> {
    return this.#open.add(invocation);
  }

  /**
   * Called by an invocation once its lease is back: its EMF document (of `batch`) is written
   * by then, if it was not already.
   */
  finished(entry: ListEntry<Invocation>, batch: number | undefined): void {
    this.#open.remove(entry);
    if (this.#open.size === 0) this.#timer?.unref();
    if (batch !== undefined) this.#emitter?.flush(batch);
  }

  /**
   * Called by an invocation whose handler now runs under an early timeout (due at `at`, epoch
   * ms): the timer is brought forward if it was armed for later (or not at all).
   */
  racing(at: number): void {
    if (at < this.#firesAt) this.#arm(at);
    else this.#timer?.ref();
  }

  #arm(at: number): void {
    clearTimeout(this.#timer);
    this.#firesAt = at;
    // setTimeout fires at once beyond 2^31 - 1 ms; an earlier firing just arms it again.
    const delay = Math.min(2 ** 31 - 1, Math.max(0, at - Date.now()));
    this.#timer = setTimeout(() => this.#fire(), delay);
  }

  /** Answers the handlers whose early timeout is up, and arms the timer for the next one. */
  #fire(): void {
    this.#timer = undefined;
    this.#firesAt = Number.POSITIVE_INFINITY;
    const now = Date.now();
    let next = Number.POSITIVE_INFINITY;
    for (const { value: invocation } of this.#open.entries()) {
      const at = invocation.earlyAt;
      // NaN (a context that gave no remaining time) is never due, as a comparison says.
      if (at <= now) invocation.answerEarly();
      else if (at < next) next = at;
    }
    if (next !== Number.POSITIVE_INFINITY) this.#arm(next);
  }

  /**
   * Publishes a fresh record: into the user's Metrics instance, which they flush, or as an EMF
   * document of ours, written at the end of this tick. Returns the document's batch.
   */
  record(record: InvocationMetrics): number | undefined {
    if (this.options.metrics) addInvocationMetrics(this.options.metrics, record);
    return this.#emitter?.publish(record);
  }

  /**
   * Safety net for invocations that never reached `end()` (a middleware returned early without
   * calling cleanupRedisPool): once Lambda's deadline has passed they are certainly over, so
   * their leases come back and their metrics go out, keeping the budget whole.
   */
  #endAbandoned(now: number): void {
    let earliest = Number.POSITIVE_INFINITY;
    for (const { value: invocation } of this.#open.entries()) {
      if (invocation.lambdaDeadline < now) invocation.abandonOrAnswer();
      // A comparison, not Math.min: a deadline that is not a number (a context whose
      // getRemainingTimeInMillis() gave none) must not become the bound, which nothing is after.
      else if (invocation.lambdaDeadline < earliest) earliest = invocation.lambdaDeadline;
    }
    this.#earliestDeadline = earliest;
  }
}

/**
 * What end() returns when the invocation was over by the time it returned (a shared lease, or
 * none): one settled promise for all, which a caller may skip awaiting.
 */
export const ENDED: Promise<void> = Promise.resolve();

export class Invocation {
  #lease: Lease | undefined;
  /** The batch of this invocation's EMF document, when it has one. */
  #batch: number | undefined;
  #ended: Promise<void> | undefined;
  /** Its place among the runner's open invocations. */
  readonly #open: ListEntry<Invocation>;
  /** While its handler runs under withRedisPool's early timeout: how to answer it early. */
  #answer: ((error: unknown) => void) | undefined;
  /** The early timeout answered the invocation: what the handler does later goes nowhere. */
  #answeredEarly = false;

  constructor(
    private readonly runner: InvocationRunner,
    /** Epoch ms when Lambda ends the invocation. */
    readonly lambdaDeadline: number,
    private readonly marginMs: number,
  ) {
    this.#open = runner.opened(this);
  }

  /**
   * The shared lease at once when it needs no wait (see RedisPool#acquireNow), its metrics
   * recorded as acquire() records them; undefined otherwise: then call acquire().
   */
  acquireNow(): RedisClient | undefined {
    if (this.runner.options.exclusive) return undefined;
    const lease = this.runner.pool.acquireNow();
    if (!lease) return undefined;
    this.#lease = lease;
    this.#measure(lease.acquireMs);
    return lease.redis;
  }

  /** Leases a connection within the invocation's deadline (less the margin). */
  async acquire(): Promise<RedisClient> {
    const started = Date.now();
    try {
      const lease = await this.runner.pool.acquire({
        exclusive: this.runner.options.exclusive,
        deadline: this.lambdaDeadline - this.marginMs,
      });
      if (this.#ended !== undefined) {
        // Abandoned while it waited (its Lambda deadline passed, and a stalled loop let the
        // lease arrive before the acquire's own deadline timer): nobody would release it.
        await lease.release();
        throw new AcquireTimeoutError(
          'Timed out waiting for a connection (the invocation had reached its deadline)',
          Date.now() - started,
        );
      }
      this.#lease = lease;
      return lease.redis;
    } finally {
      this.#measure(Date.now() - started);
    }
  }

  /**
   * Releases the lease (a connection-level `error` destroys the connection) and writes the
   * invocation's EMF document if the end of its tick has not written it yet. Idempotent: the
   * first call does the work, later ones await it.
   * An early-timeout error means the handler is still running: see abandon().
   */
  end(error?: unknown): Promise<void> {
    this.#ended ??=
      error !== undefined && handlerStillRuns(error)
        ? this.#finish(undefined, true)
        : this.#finish(error);
    return this.#ended;
  }

  /** Ends an invocation whose handler may, in theory, still run: never hand its connection on. */
  abandon(): Promise<void> {
    this.#ended ??= this.#finish(undefined, true);
    return this.#ended;
  }

  /**
   * withRedisPool: its handler runs from now on; should it still run at `timeoutEarlyMs` before
   * Lambda's deadline, the invocation is answered with a DeadlineError through `answer` (the
   * wrapper's reject). Nothing to do when early timeouts are off.
   */
  raceDeadline(answer: (error: unknown) => void): void {
    const earlyMs = this.runner.options.timeoutEarlyMs;
    if (earlyMs <= 0) return;
    this.#answer = answer;
    this.runner.racing(this.earlyAt);
  }

  /**
   * Epoch ms when the invocation is answered with a DeadlineError if its handler still runs:
   * Infinity when it is not under an early timeout (NaN when Lambda's deadline is not a number:
   * then never).
   */
  get earlyAt(): number {
    if (this.#answer === undefined) return Number.POSITIVE_INFINITY;
    return this.lambdaDeadline - this.runner.options.timeoutEarlyMs;
  }

  /**
   * withRedisPool: its handler has settled. False when the early timeout answered the
   * invocation already: then the handler's outcome goes nowhere.
   */
  handlerSettled(): boolean {
    this.#answer = undefined;
    return !this.#answeredEarly;
  }

  /**
   * The early timeout is up while the handler runs: the invocation ends as abandoned (its
   * handler goes on in the background) and is answered with a DeadlineError.
   */
  answerEarly(): void {
    const answer = this.#answer;
    if (answer === undefined) return;
    this.#answer = undefined;
    this.#answeredEarly = true;
    // Given after the end, as any invocation's answer.
    const error = new DeadlineError(this.runner.options.timeoutEarlyMs);
    let ended: Promise<void>;
    try {
      ended = this.end(error);
    } catch (endError) {
      answer(endError);
      return;
    }
    ended.then(() => answer(error), answer);
  }

  /**
   * Lambda's deadline has passed and the invocation is still open: a handler under an early
   * timeout is answered (see answerEarly), any other invocation abandoned (see the runner).
   */
  abandonOrAnswer(): void {
    if (this.#answer !== undefined) this.answerEarly();
    else void this.abandon();
  }

  #finish(error: unknown, abandoned = false): Promise<void> {
    const lease = this.#lease;
    if (lease?.exclusive) {
      // A dedicated connection whose handler may still run is never handed to another one.
      const released = abandoned ? lease.destroy() : lease.release(error);
      return released.finally(() => this.runner.finished(this.#open, this.#batch));
    }
    // A shared lease is back when release() returns (RedisPool's shared release is synchronous,
    // and its promise never rejects): nothing to wait for, so no promise hop per invocation.
    void lease?.release(error);
    this.runner.finished(this.#open, this.#batch);
    return ENDED;
  }

  #measure(elapsedMs: number): void {
    if (!this.runner.metricsEnabled) return;
    const record = invocationMetrics(
      this.runner.pool,
      { acquireMs: this.#lease?.acquireMs ?? elapsedMs, reused: this.#lease?.reused },
      takeColdStart(),
    );
    this.#batch = this.runner.record(record);
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
  return isRecord(cause) && cause.package === '@middy/core';
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

function isMs(value: unknown): boolean {
  return Number.isInteger(value) && (value as number) >= 0 && (value as number) <= MAX_MS;
}

/** A wrapper option's value, shortened for an error message. */
function show(value: unknown): string {
  if (isRecord(value)) return Array.isArray(value) ? 'an array' : 'an object';
  const text = typeof value === 'string' ? JSON.stringify(value) : String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
