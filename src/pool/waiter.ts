/**
 * Waiter: one bounded wait. It is the only kind of wait the pool has: queueing for the budget,
 * waiting for a connection to open, waiting for a validation PING, and (through `withTimeout`)
 * a connect or a QUIT.
 *
 * Shaped like tarn.js's PendingOperation: a promise that the party being waited for settles
 * with `resolve()` or `reject()`, unless the deadline timer comes first and rejects it with the
 * error `onTimeout()` makes. The first outcome wins. Later calls do nothing and return false:
 * that is how the pool recognises a result that came too late (a connection that opened after
 * its acquirer gave up) and hands it to someone else instead of losing it.
 */

/** setTimeout fires at once for delays beyond this (about 24.8 days); longer ones are clamped. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export class Waiter<T> {
  /** Settles once: with the value, the rejection, or the timeout error. */
  readonly promise: Promise<T>;
  #resolve!: (value: T) => void;
  #reject!: (error: unknown) => void;
  #timer: NodeJS.Timeout | undefined;
  #pending = true;

  /**
   * @param timeoutMs How long the wait may last; `Infinity` arms no timer. Zero or less times
   *   out on the next turn of the event loop, after anything already settled.
   * @param onTimeout Makes the error the wait rejects with when the time is up. Runs once the
   *   wait is no longer pending, so it may also clean up (leave a queue, say).
   */
  constructor(timeoutMs: number, onTimeout: () => Error) {
    this.promise = new Promise<T>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    if (timeoutMs !== Number.POSITIVE_INFINITY) {
      const delay = Math.min(MAX_TIMER_MS, Math.max(0, timeoutMs));
      this.#timer = setTimeout(() => {
        if (this.#settle()) this.#reject(onTimeout());
      }, delay);
    }
  }

  /** True until the wait is resolved, rejected or timed out. */
  get isPending(): boolean {
    return this.#pending;
  }

  /** Ends the wait with `value`. False (and nothing happens) if it had already ended. */
  resolve(value: T): boolean {
    if (!this.#settle()) return false;
    this.#resolve(value);
    return true;
  }

  /** Ends the wait with `error`. False (and nothing happens) if it had already ended. */
  reject(error: unknown): boolean {
    if (!this.#settle()) return false;
    this.#reject(error);
    return true;
  }

  /** Ends the wait the way `source` settles, unless it ends otherwise first. */
  follow(source: Promise<T>): void {
    source.then(
      (value) => this.resolve(value),
      (error: unknown) => this.reject(error),
    );
  }

  /** Marks the wait as over and clears its timer, so nothing is left to keep a process alive. */
  #settle(): boolean {
    if (!this.#pending) return false;
    this.#pending = false;
    clearTimeout(this.#timer);
    return true;
  }
}
