/**
 * How a handler gets its connection: `redisPool()` for middy, `withRedisPool()` without it.
 * Both are created at module scope (configuration errors surface at init) and share
 * InvocationRunner, so they behave identically.
 */
import type { Context } from 'aws-lambda';
import { DeadlineError } from './errors.js';
import { InvocationRunner, type RedisContext, type RedisPoolHandlerOptions } from './invocation.js';
import { withTimeout } from './pool/timeout.js';

/** Where the middleware keeps its cleanup function, like Powertools' middlewares do. */
export const CLEANUP_KEY = 'lambda-redis-pool.cleanup';

/** The parts of a middy request the middleware uses; structurally a middy `Request`. */
export interface MiddyRequestLike {
  context: Context;
  error?: unknown;
  internal: Record<string, unknown>;
}

/** A middy middleware object (`before/after/onError`), typed without depending on middy. */
export interface RedisPoolMiddleware {
  readonly name: string;
  before(request: MiddyRequestLike): Promise<void>;
  after(request: MiddyRequestLike): Promise<void>;
  onError(request: MiddyRequestLike): Promise<void>;
}

type Cleanup = (request: MiddyRequestLike) => Promise<void>;

/**
 * middy middleware: leases a connection in `before` (bounded by the invocation's deadline),
 * sets `context.redis`, and in `after`/`onError` releases it and flushes the pool's metrics,
 * exactly once. Use it last (innermost) in the `.use()` chain, so that its `after`/`onError`
 * run before any middleware that might answer early there.
 */
export function redisPool(options: RedisPoolHandlerOptions = {}): RedisPoolMiddleware {
  const runner = new InvocationRunner(options);
  return {
    name: 'redisPool',
    async before(request) {
      const invocation = runner.start(request.context);
      const cleanup: Cleanup = (req) => invocation.end(req.error);
      // Stored before the acquire, so a failed acquire (which goes to onError) still flushes.
      request.internal[CLEANUP_KEY] = cleanup;
      (request.context as RedisContext).redis = await invocation.acquire();
    },
    after: cleanupRedisPool,
    onError: cleanupRedisPool,
  };
}

/**
 * Releases the lease and flushes the metrics of this request. Call it from a middleware that
 * returns early (middy then skips every `after`), as Powertools' `cleanupMiddlewares` does.
 */
export async function cleanupRedisPool(request: MiddyRequestLike): Promise<void> {
  const cleanup = request.internal[CLEANUP_KEY];
  if (typeof cleanup === 'function') await (cleanup as Cleanup)(request);
}

export interface WithRedisPoolOptions extends RedisPoolHandlerOptions {
  /**
   * A handler still running this long before Lambda's deadline is answered with a
   * DeadlineError (it keeps running in the background), so its lease is released and its
   * metrics flushed in time, as middy's `timeoutEarlyInMillis` does. Default 5; 0 turns it off.
   */
  readonly timeoutEarlyMs?: number;
}

/** Wraps an async handler: `context.redis` is a leased, checked ioredis client. */
export function withRedisPool<TEvent, TResult>(
  handler: (event: TEvent, context: RedisContext) => Promise<TResult>,
  options: WithRedisPoolOptions = {},
): (event: TEvent, context: Context) => Promise<TResult> {
  const runner = new InvocationRunner(options);
  const timeoutEarlyMs = options.timeoutEarlyMs ?? 5;
  return async (event, context) => {
    const invocation = runner.start(context);
    let result: TResult;
    try {
      const redisContext = context as RedisContext;
      redisContext.redis = await invocation.acquire();
      result = await untilEarlyTimeout(
        handler(event, redisContext),
        invocation.lambdaDeadline,
        timeoutEarlyMs,
      );
    } catch (error) {
      await invocation.end(error);
      throw error;
    }
    await invocation.end();
    return result;
  };
}

/** Settles like `work`, or rejects with DeadlineError `marginMs` before `deadline`. */
function untilEarlyTimeout<T>(work: Promise<T>, deadline: number, marginMs: number): Promise<T> {
  if (marginMs <= 0) return work;
  return withTimeout(work, deadline - marginMs - Date.now(), () => new DeadlineError(marginMs));
}
