/**
 * Silence detection for one connection: commands are pending and nothing arrives for the
 * command timeout, counted only while this process runs.
 *
 * ioredis's `socketTimeout` (or any plain timer) measures wall time, and its timer fires in the
 * event loop's timers phase, before the poll phase reads the socket. After the process could not
 * run (a handler's synchronous CPU work, CPU starvation on a small Lambda, a freeze with a
 * command in flight) the timer is overdue while the reply sits unread in the socket: a healthy
 * connection is declared dead and a command the server applied is reported failed.
 *
 * So the timeout is watched in slices of a quarter of it. A slice that fires late counts only its
 * requested length, however long the process was away: a stall adds one slice at most. Bytes
 * received since the last slice end the silence. When the silence reaches the timeout, one
 * `setImmediate` lets the socket reads that are already waiting run (it comes after the poll
 * phase) before the verdict. One timer per connection, armed while commands are pending:
 * nothing per command (ioredis's per-command `commandTimeout` costs ~16 % of a busy shared
 * connection's throughput).
 */

/** What the detector watches. */
export interface SilenceSource {
  /** Commands written and not yet answered. */
  pending(): boolean;
  /** Bytes received on the socket so far. */
  bytesRead(): number;
  /** The silence reached the timeout: the connection is dead. Called once. */
  silent(silentMs: number): void;
}

/** A quarter of the timeout: a stall or a freeze counts as this much silence at most. */
const SLICES = 4;

export class SilenceDetector {
  readonly #timeoutMs: number;
  readonly #sliceMs: number;
  readonly #source: SilenceSource;
  /** A slice timer, or the last look before the verdict, is scheduled. */
  #watching = false;
  #stopped = false;
  #timer: NodeJS.Timeout | undefined;
  #silentMs = 0;
  #bytesRead = 0;

  constructor(timeoutMs: number, source: SilenceSource) {
    this.#timeoutMs = timeoutMs;
    this.#sliceMs = Math.max(1, Math.ceil(timeoutMs / SLICES));
    this.#source = source;
  }

  /**
   * A command was written: watch for silence, unless already watching. Cheap enough for every
   * command: the watch ends on its own once nothing is pending.
   */
  watch(): void {
    if (this.#watching || this.#stopped) return;
    this.#watching = true;
    this.#silentMs = 0;
    this.#bytesRead = this.#source.bytesRead();
    this.#schedule();
  }

  /** The connection is gone: no more watching, no verdict. */
  stop(): void {
    this.#stopped = true;
    this.#watching = false;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #schedule(): void {
    this.#timer = setTimeout(this.#slice, this.#sliceMs);
    // The socket keeps the process alive while it is open; this timer must not on its own.
    this.#timer.unref();
  }

  readonly #slice = (): void => {
    this.#timer = undefined;
    if (this.#stopped) return;
    if (!this.#source.pending()) {
      this.#watching = false;
      return;
    }
    this.#silentMs = this.#heard() ? 0 : this.#silentMs + this.#sliceMs;
    if (this.#silentMs < this.#timeoutMs) {
      this.#schedule();
      return;
    }
    // Replies may be waiting unread: this timer ran before the poll phase that reads them.
    setImmediate(this.#lastLook);
  };

  readonly #lastLook = (): void => {
    if (this.#stopped) return;
    if (!this.#source.pending()) {
      this.#watching = false;
      return;
    }
    if (this.#heard()) {
      this.#silentMs = 0;
      this.#schedule();
      return;
    }
    this.stop();
    this.#source.silent(this.#silentMs);
  };

  /** True when bytes arrived since the last look. */
  #heard(): boolean {
    const bytesRead = this.#source.bytesRead();
    if (bytesRead === this.#bytesRead) return false;
    this.#bytesRead = bytesRead;
    return true;
  }
}
