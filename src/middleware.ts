/**
 * withRedisPool(): a connection for a plain async Lambda handler, no middy needed. Created at
 * module scope, so a bad configuration fails the init phase. The middy middleware, which
 * shares InvocationRunner and so behaves identically, is in middy.ts
 * (`lambda-redis-pool/middy`).
 */
import {
  ENDED,
  type Invocation,
  InvocationRunner,
  type LambdaContext,
  type RedisClientFor,
  type RedisContext,
  resolveOptions,
  type WithRedisPoolOptions,
} from './invocation.js';
import type { RedisClient } from './pool/connection.js';
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
  // Not an async function: the promise it returns is answered by the early timeout while the
  // handler still runs, which an async function's own promise cannot be. Started inside the
  // executor, so that a throw there rejects the invocation as in an async function.
  const wrapped = (event: TEvent, context: LambdaContext): Promise<TResult> =>
    new Promise<TResult>((resolve, reject) => {
      // invoke() settles the promise on every path; should it ever throw, the invocation is
      // still answered (with that error) rather than left to Lambda's timeout.
      invoke(runner.start(context), handler, event, context, resolve, reject).catch(reject);
    });
  // Frozen: `pool` is read-only at run time too.
  return Object.freeze(Object.assign(wrapped, { pool: runner.pool }));
}

/**
 * One invocation: lease, handler under the early timeout, end (the lease back, the EMF document
 * written), then the answer through `resolve` or `reject`. Never rejects itself: every outcome
 * goes to one of them. After an early timeout (see Invocation.answerEarly, which has ended the
 * invocation and answered it), whatever the handler does later goes nowhere.
 */
async function invoke<TEvent, TResult, TClient extends RedisClient>(
  invocation: Invocation,
  handler: (event: TEvent, context: RedisContext<TClient>) => Promise<TResult>,
  event: TEvent,
  context: LambdaContext,
  resolve: (result: TResult) => void,
  reject: (error: unknown) => void,
): Promise<void> {
  let failed = false;
  let outcome: unknown;
  try {
    attachClient(context, invocation.acquireNow() ?? (await invocation.acquire()));
    invocation.raceDeadline(reject);
    outcome = await handler(event, context as RedisContext<TClient>);
  } catch (error) {
    failed = true;
    outcome = error;
  }
  if (!invocation.handlerSettled()) return;
  try {
    const ended = invocation.end(failed ? outcome : undefined);
    if (ended !== ENDED) await ended;
  } catch (endError) {
    reject(endError);
    return;
  }
  // The handler's error too: its own refused AUTH or ACL SETUSER carries the password.
  if (failed) reject(redactSecrets(outcome));
  else resolve(outcome as TResult);
}
