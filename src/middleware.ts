/**
 * withRedisPool(): a connection for a plain async Lambda handler, no middy needed. Created at
 * module scope, so a bad configuration fails the init phase. The middy middleware, which
 * shares InvocationRunner and so behaves identically, is in middy.ts
 * (`lambda-redis-pool/middy`).
 */
import { DeadlineError } from './errors.js';
import {
  InvocationRunner,
  type LambdaContext,
  type RedisClientFor,
  type RedisContext,
  resolveOptions,
  type WithRedisPoolOptions,
} from './invocation.js';
import { List, type ListEntry } from './list.js';
import { attachClient } from './pool/printable.js';
import type { RedisPool } from './pool/RedisPool.js';
import { redactSecrets } from './redact.js';

/** What withRedisPool() returns: an async Lambda handler, and the pool it leases from. */
export interface RedisPoolHandler<TEvent, TResult> {
  (event: TEvent, context: LambdaContext): Promise<TResult>;
  /** The pool this handler's invocations lease from (for `stats()`, say). */
  readonly pool: RedisPool;
}

/** No options: `context.redis` is a `Redis`. */
type NoOptions = Record<never, never>;

/**
 * Wraps an async handler: `context.redis` is a leased, checked ioredis client, a `Cluster`
 * when the options say `pool: { cluster: true }` and a `Redis` otherwise.
 * @throws ConfigError at once (at init) for a bad configuration or unknown options.
 */
export function withRedisPool<
  TEvent,
  TResult,
  const TOptions extends WithRedisPoolOptions = NoOptions,
>(
  handler: (event: TEvent, context: RedisContext<RedisClientFor<TOptions>>) => Promise<TResult>,
  options?: TOptions,
): RedisPoolHandler<TEvent, TResult> {
  const runner = new InvocationRunner(resolveOptions(options, 'withRedisPool'));
  const { timeoutEarlyMs } = runner.options;
  const early = new EarlyTimeouts(timeoutEarlyMs);
  const wrapped = async (event: TEvent, context: LambdaContext): Promise<TResult> => {
    const invocation = runner.start(context);
    let result: TResult;
    try {
      attachClient(context, invocation.acquireNow() ?? (await invocation.acquire()));
      result = await early.race(
        handler(event, context as RedisContext<RedisClientFor<TOptions>>),
        invocation.lambdaDeadline,
      );
    } catch (error) {
      await invocation.end(error);
      // The handler's error too: its own refused AUTH or ACL SETUSER carries the password.
      throw redactSecrets(error);
    }
    await invocation.end();
    return result;
  };
  // Frozen: `pool` is read-only at run time too.
  return Object.freeze(Object.assign(wrapped, { pool: runner.pool }));
}

/**
 * The early timeouts of one wrapper's invocations, all on one timer: armed for the earliest
 * deadline among the invocations running, and left armed (unreferenced, so it keeps no process
 * alive) when none is. Lambda's deadlines come in order, each later than the last, so an
 * invocation usually finds the timer armed for an earlier one and costs no timer call of its
 * own; when the timer fires, the invocations whose time is up are answered, and it is armed
 * again for the next. Each is answered `marginMs` before its deadline, as with a timer each.
 */
class EarlyTimeouts {
  readonly #marginMs: number;
  readonly #running = new List<EarlyTimeout>();
  #timer: NodeJS.Timeout | undefined;
  /** Epoch ms the timer is armed for; Infinity when it is not. */
  #firesAt = Number.POSITIVE_INFINITY;

  constructor(marginMs: number) {
    this.#marginMs = marginMs;
  }

  /** Settles like `work`, or rejects with DeadlineError `marginMs` before `deadline`. */
  race<T>(work: Promise<T>, deadline: number): Promise<T> {
    if (this.#marginMs <= 0) return work;
    return new Promise<T>((resolve, reject) => {
      const entry = this.#add(
        new EarlyTimeout(deadline - this.#marginMs, reject as (error: Error) => void),
      );
      work.then(
        (value) => {
          if (this.#remove(entry)) resolve(value);
        },
        (error: unknown) => {
          if (this.#remove(entry)) reject(error);
        },
      );
    });
  }

  #add(timeout: EarlyTimeout): ListEntry<EarlyTimeout> {
    const entry = this.#running.add(timeout);
    if (timeout.at < this.#firesAt) this.#arm(timeout.at);
    else this.#timer?.ref();
    return entry;
  }

  /** False when the time was up first (the invocation was answered already). */
  #remove(entry: ListEntry<EarlyTimeout>): boolean {
    if (!this.#running.remove(entry)) return false;
    if (this.#running.size === 0) this.#timer?.unref();
    return true;
  }

  #arm(at: number): void {
    clearTimeout(this.#timer);
    this.#firesAt = at;
    // setTimeout fires at once beyond 2^31 - 1 ms; an earlier firing just arms it again.
    const delay = Math.min(2 ** 31 - 1, Math.max(0, at - Date.now()));
    this.#timer = setTimeout(() => this.#fire(), delay);
  }

  #fire(): void {
    this.#timer = undefined;
    this.#firesAt = Number.POSITIVE_INFINITY;
    const now = Date.now();
    let next = Number.POSITIVE_INFINITY;
    for (const entry of this.#running.entries()) {
      const timeout = entry.value;
      if (timeout.at <= now) {
        this.#running.remove(entry);
        timeout.reject(new DeadlineError(this.#marginMs));
      } else if (timeout.at < next) {
        next = timeout.at;
      }
    }
    if (next !== Number.POSITIVE_INFINITY) this.#arm(next);
  }
}

/** One invocation's early timeout: when it is due, and how to answer the invocation then. */
class EarlyTimeout {
  constructor(
    readonly at: number,
    readonly reject: (error: Error) => void,
  ) {}
}
