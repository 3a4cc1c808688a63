/**
 * What an HTTP client may learn about a failure: the error's kind and a reason, never the
 * endpoint or anything from the configuration (the pool's own messages name the redacted URL;
 * an API response needs neither).
 */
import { RedisPoolError, RedisUnavailableError } from 'lambda-redis-pool';

export interface PublicError {
  readonly type: string;
  readonly code?: string;
  readonly message: string;
}

export function publicError(error: unknown): PublicError {
  if (error instanceof RedisUnavailableError) {
    const cause = error.cause as (Error & { code?: string }) | undefined;
    const reason = cause?.code ?? cause?.message ?? 'no connection';
    return { type: error.name, code: error.code, message: `Redis is unavailable (${reason})` };
  }
  if (error instanceof RedisPoolError)
    return { type: error.name, code: error.code, message: error.message };
  if (error instanceof Error) return { type: error.name, message: error.message };
  return { type: 'Error', message: 'Unknown error' };
}
