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
import { attachClient } from './pool/printable.js';
import type { RedisPool } from './pool/RedisPool.js';
import { withTimeout } from './pool/timeout.js';
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
  const wrapped = async (event: TEvent, context: LambdaContext): Promise<TResult> => {
    const invocation = runner.start(context);
    let result: TResult;
    try {
      attachClient(context, await invocation.acquire());
      result = await untilEarlyTimeout(
        handler(event, context as RedisContext<RedisClientFor<TOptions>>),
        invocation.lambdaDeadline,
        timeoutEarlyMs,
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

/** Settles like `work`, or rejects with DeadlineError `marginMs` before `deadline`. */
function untilEarlyTimeout<T>(work: Promise<T>, deadline: number, marginMs: number): Promise<T> {
  if (marginMs <= 0) return work;
  return withTimeout(work, deadline - marginMs - Date.now(), () => new DeadlineError(marginMs));
}
