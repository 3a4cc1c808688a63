/**
 * The drill's traffic: throughput calls back to back, one at a time, until stopped; each call
 * is recorded with when it was sent and answered (this machine's clock) and what it answered.
 *
 * Why many short calls rather than one long one: within one invocation the pool's lease keeps
 * its connection (by design: the pool replaces a lost connection at the next acquire, under its
 * backoff). One long call would report errors from the failure to its own end, however soon
 * the pool could have connected again; back-to-back calls acquire again as a user's invocations
 * do, so the recovery shows within one call's length.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { type CallOutcome, callThroughput, type ThroughputCall } from './throughput-client.js';

export interface CallRecord {
  /** Date.now() when the call was sent and when its answer (or failure) arrived. */
  readonly sentAt: number;
  readonly answeredAt: number;
  readonly outcome: CallOutcome;
}

export interface Traffic {
  /** The calls answered so far, in order. */
  readonly records: readonly CallRecord[];
  /** The first call's record, once it is answered. */
  readonly first: Promise<CallRecord>;
  /** Sends no more calls; resolves once the call in flight is answered, with every record. */
  stop(): Promise<readonly CallRecord[]>;
}

/** After a call that failed as a whole (often at once): a pause, so a dead API is not spun on. */
const FAILED_CALL_PAUSE_MS = 50;

export function startTraffic(call: ThroughputCall): Traffic {
  const records: CallRecord[] = [];
  let stopped = false;
  let reportFirst: (record: CallRecord) => void = () => {};
  const first = new Promise<CallRecord>((resolve) => {
    reportFirst = resolve;
  });

  const loop = async () => {
    while (!stopped) {
      const sentAt = Date.now();
      const outcome = await callThroughput(call).catch(
        (error: unknown): CallOutcome => ({
          ok: false,
          message: error instanceof Error ? error.message : String(error),
        }),
      );
      const record = { sentAt, answeredAt: Date.now(), outcome };
      records.push(record);
      if (records.length === 1) reportFirst(record);
      if (!outcome.ok && !stopped) await sleep(FAILED_CALL_PAUSE_MS);
    }
  };
  const running = loop();

  return {
    records,
    first,
    stop: async () => {
      stopped = true;
      await running;
      return records;
    },
  };
}
