/**
 * Ordering instead of wall-clock bounds, for a suite that runs on loaded 2-core machines.
 *
 * "It took less than N ms" fails whenever the machine stalls this process for N ms. "It settled
 * before a sentinel timer" does not: Node runs due timers in order of expiry, so a timeout the
 * code under test armed for an earlier moment always fires before the sentinel, however late
 * both are. Code that ignored that timeout (and waited for a longer one, or for nothing) loses
 * the race, loaded machine or not.
 *
 * A timer is not the end of the story when the outcome arrives through a socket: a peer's close
 * is read in the poll phase and its 'close' event comes in a close-callbacks phase, a turn or
 * more after the timers phase in which a stalled process finds the sentinel due. So the
 * sentinel, once its timer fires, lets a few whole turns of the loop pass (setImmediate runs
 * after poll, and a chain of them spans turns) before it declares the race lost: events that
 * had already arrived are handled by then.
 */

/**
 * Whole event-loop turns the sentinel lets pass after its timer, for I/O that already arrived.
 * A peer's close needs two (ordering.test.ts fails with fewer); four leave room for the layers
 * ioredis adds on top.
 */
const IO_TURNS = 4;

/**
 * True when `work` settles (either way) before a sentinel set to fire `ms` from now, plus a few
 * turns of the event loop for I/O that is already waiting. False when the sentinel comes first.
 * Set `ms` after the moment the code under test must meet, with a margin proportional to the
 * timeout being tested: the margin is for the code's own bookkeeping, not for the machine.
 */
export function settlesBefore(work: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const sentinel = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => afterTurns(IO_TURNS, () => resolve(false)), Math.max(0, ms));
  });
  const settled = work.then(
    () => true,
    () => true,
  );
  return Promise.race([settled, sentinel]).finally(() => clearTimeout(timer));
}

function afterTurns(turns: number, then: () => void): void {
  if (turns === 0) then();
  else setImmediate(() => afterTurns(turns - 1, then));
}

/**
 * A promise the test opens: a handler awaiting it is "still running" for as long as the test
 * needs, however slowly the machine runs, and ends when the test is done with it.
 */
export function gate(): { readonly wait: Promise<void>; open(): void } {
  let open!: () => void;
  const wait = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { wait, open };
}
