/** Bounding a promise by a timer: the one primitive behind every bounded wait of the pool. */

/**
 * Settles like `promise`, or rejects with `makeError()` after `ms`. The timer is always
 * cleared, so a settled wait leaves nothing behind to keep a process (or a test) alive.
 */
export function withTimeout<T>(
  promise: Promise<T>,
  ms: number,
  makeError: () => Error,
): Promise<T> {
  if (ms === Number.POSITIVE_INFINITY) return promise;
  let timer: NodeJS.Timeout | undefined;
  const expiry = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(makeError()), Math.max(0, ms));
  });
  return Promise.race([promise, expiry]).finally(() => clearTimeout(timer));
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}
