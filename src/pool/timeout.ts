/** Timer helpers for waits that are not the pool's own (a connect, a QUIT, the middleware). */
import { Waiter } from './waiter.js';

/**
 * Settles like `promise`, or rejects with `makeError()` after `ms`. A Waiter that follows the
 * promise: its timer is always cleared, so a settled wait leaves nothing behind to keep a
 * process (or a test) alive.
 */
export function withTimeout<T>(
  promise: Promise<T>,
  ms: number,
  makeError: () => Error,
): Promise<T> {
  const waiter = new Waiter<T>(ms, makeError);
  waiter.follow(promise);
  return waiter.promise;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}
