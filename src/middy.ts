/**
 * `lambda-redis-pool/middy`: the pool as a middy middleware. A subpath of its own, as
 * Powertools does with its middlewares, so that the main entry never needs middy (an optional
 * peer) or its types.
 *
 * ```ts
 * import middy from '@middy/core';
 * import { redisPool } from 'lambda-redis-pool/middy';
 *
 * export const handler = middy()
 *   .use(redisPool())
 *   .handler(async (event, context) => context.redis.get('greeting'));
 * ```
 */
import type { MiddlewareObj, Request } from '@middy/core';
import type { Redis } from 'ioredis';
import {
  InvocationRunner,
  type LambdaContext,
  type RedisClientFor,
  type RedisPoolHandlerOptions,
  resolveOptions,
} from './invocation.js';
import type { RedisClient } from './pool/connection.js';
import { attachClient } from './pool/printable.js';
import type { RedisPool } from './pool/RedisPool.js';
import { redactSecrets } from './redact.js';

/** Where the middleware keeps its cleanup function, like Powertools' middlewares do. */
export const CLEANUP_KEY = 'lambda-redis-pool.cleanup';

/**
 * middy's Lambda context (aws-lambda's `Context`), or this library's structural one when
 * `@types/aws-lambda` is not installed: middy's is then unresolved, which accepts anything as
 * `any` does (`unknown extends` is true of both; `0 extends 1 & T` misses the unresolved one).
 */
type MiddyContext = unknown extends Request['context'] ? LambdaContext : Request['context'];

/** The context a handler behind redisPool() sees: middy's, with the leased client. */
export type MiddyRedisContext<TClient extends RedisClient = Redis> = MiddyContext & {
  readonly redis: TClient;
};

type PoolRequest<TClient extends RedisClient> = Request<
  unknown,
  unknown,
  Error,
  MiddyRedisContext<TClient>,
  Record<string, unknown>
>;

/** The middleware object: middy's `before/after/onError`, and the pool it leases from. */
export interface RedisPoolMiddleware<TClient extends RedisClient = Redis>
  extends MiddlewareObj<
    unknown,
    unknown,
    Error,
    MiddyRedisContext<TClient>,
    Record<string, unknown>
  > {
  readonly name: 'redisPool';
  /** The pool this middleware's invocations lease from (for `stats()`, say). */
  readonly pool: RedisPool;
  before(request: PoolRequest<TClient>): Promise<void>;
  after(request: PoolRequest<TClient>): Promise<void>;
  onError(request: PoolRequest<TClient>): Promise<void>;
}

/** What cleanupRedisPool() needs of a middy request, whatever its types. */
export interface CleanupRequest {
  readonly internal: Record<string, unknown>;
  readonly error?: unknown;
}

type Cleanup = (request: CleanupRequest) => Promise<void>;

/** No options: `context.redis` is a `Redis`. */
type NoOptions = Record<never, never>;

/**
 * middy middleware: leases a connection in `before` (bounded by the invocation's deadline),
 * sets `context.redis` (a `Cluster` when the options say `pool: { cluster: true }`, a `Redis`
 * otherwise), and in `after`/`onError` releases it, exactly once (the invocation's EMF
 * document is out by then). Use it last (innermost) in the `.use()` chain, so that its
 * `after`/`onError` run before any middleware that might answer early there.
 * @throws ConfigError at once (at init) for a bad configuration or unknown options.
 */
export function redisPool<const TOptions extends RedisPoolHandlerOptions = NoOptions>(
  options?: TOptions,
): RedisPoolMiddleware<RedisClientFor<TOptions>> {
  const runner = new InvocationRunner(resolveOptions(options, 'redisPool'));
  return {
    name: 'redisPool',
    pool: runner.pool,
    async before(request) {
      const invocation = runner.start(request.context);
      // The error is redacted in place before middy rethrows it (or an error handler logs it):
      // a handler's own refused AUTH or ACL SETUSER carries the password.
      const cleanup: Cleanup = (req) => invocation.end(redactSecrets(req.error));
      // Stored before the acquire, so a failed acquire (which goes to onError) still ends it.
      request.internal[CLEANUP_KEY] = cleanup;
      attachClient(request.context, invocation.acquireNow() ?? (await invocation.acquire()));
    },
    after: cleanupRedisPool,
    onError: cleanupRedisPool,
  };
}

/**
 * Releases the lease of this request. Call it from a middleware that
 * returns early (middy then skips every `after`), as Powertools' `cleanupMiddlewares` does.
 */
export async function cleanupRedisPool(request: CleanupRequest): Promise<void> {
  const cleanup = request.internal[CLEANUP_KEY];
  if (typeof cleanup === 'function') await (cleanup as Cleanup)(request);
}
