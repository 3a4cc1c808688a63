/**
 * What an HTTP client may learn about a failure: the error's kind and a reason, never the
 * endpoint or anything from the configuration. The pool's 503 errors are made for this
 * (`expose`: their messages name no endpoint); other pool errors say only their kind.
 */
import { RedisPoolError } from 'lambda-redis-pool';

export interface PublicError {
  readonly type: string;
  readonly code?: string;
  readonly message: string;
}

export function publicError(error: unknown): PublicError {
  if (error instanceof RedisPoolError) {
    const message = error.expose ? error.message : 'Redis pool error (details in the logs)';
    return { type: error.name, code: error.code, message };
  }
  if (error instanceof Error) return { type: error.name, message: error.message };
  return { type: 'Error', message: 'Unknown error' };
}
