/**
 * Reconnect delay: exponential from a base, capped, with "full jitter":
 *
 *   delay = random(0, min(capMs, baseMs · 2^attempt))
 *
 * Full jitter (AWS Architecture Blog, "Exponential Backoff and Jitter") spreads the retries
 * of many clients uniformly over the whole window. That matters here: a scale-out burst
 * cold-starts hundreds of execution environments at once, and if Redis is down they all fail
 * together; with equal or no jitter they would retry in synchronized waves and hit the
 * recovering server as a storm. Full jitter gives the fewest total attempts of the classic
 * schemes while keeping the expected delay growing exponentially.
 */

export interface BackoffPolicy {
  /** Upper bound of the first window (attempt 0). */
  readonly baseMs: number;
  /** No delay is ever longer than this. */
  readonly capMs: number;
}

/**
 * The delay before retry number `attempt` (0 for the first retry after one failure).
 * @param remainingMs time left before a deadline; the delay never exceeds it.
 * @param random a source of uniform numbers in [0, 1), injectable for tests.
 */
export function backoffDelay(
  attempt: number,
  policy: BackoffPolicy,
  remainingMs = Number.POSITIVE_INFINITY,
  random: () => number = Math.random,
): number {
  // 2^attempt overflows to Infinity past ~1023; the cap makes the window finite again.
  const window = Math.min(policy.capMs, policy.baseMs * 2 ** Math.max(0, attempt));
  const delay = Math.floor(random() * window);
  return Math.max(0, Math.min(delay, remainingMs));
}
