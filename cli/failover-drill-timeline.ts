/**
 * The drill's timeline, from what it recorded (pure functions): a row per throughput call,
 * the marks (TestFailover, statuses, ElastiCache's events), the error windows, when writes
 * resumed after the failover, and the verdict against the threshold.
 *
 * Clocks: a call is sent and answered on this machine's clock; its run starts on the
 * function's (`timing.startedAt`), placed within what this machine saw (after the call was
 * sent, early enough for the run to end before the answer), so a skewed clock cannot put a run
 * where it cannot have been. ElastiCache's events are dated by AWS.
 *
 * An error window opens at a failure (or when a call that failed as a whole was sent) and
 * closes at the first success after the failures; a window still open when one call ends goes
 * on into the next. Within a call, failures with successes between them count as one window
 * from its first to its last failure (the call reports no more than that).
 */
import type { LoadTiming, ThroughputReport } from '../functions/throughput-contract.js';
import type { Mark } from './failover-drill-follow.js';
import type { CallRecord } from './failover-drill-traffic.js';
import type { CallOutcome } from './throughput-client.js';

export interface DrillRecord {
  /** Date.now() when the drill began: the timeline's zero. */
  readonly startedAt: number;
  readonly calls: readonly CallRecord[];
  readonly marks: readonly Mark[];
  /** When TestFailover was called. */
  readonly failoverCalledAt: number;
  /** When the drill saw the failover over; undefined when it did not within the timeout. */
  readonly failoverOverAt: number | undefined;
}

/** One throughput call. Times in ms after the drill's start. */
export interface CallRow {
  /** When its run began; for a call that failed as a whole, when it was sent. */
  readonly atMs: number;
  /** Its run; for a call that failed as a whole, how long until the failure came back. */
  readonly ms: number;
  readonly ops: number;
  readonly errors: number;
  readonly opsPerSec: number;
  readonly errorsPerSec: number;
  /** The call failed as a whole (no report: e.g. a 503 because no connection could be made). */
  readonly failed: boolean;
  /** Why it failed, or its first error message. */
  readonly note: string | undefined;
}

export interface ErrorWindow {
  readonly fromMs: number;
  /** The first success after it; null when writes were still failing at the end. */
  readonly toMs: number | null;
  /** Its length (for a window still open: up to the last answer, so at least this long). */
  readonly ms: number;
  /** Commands that failed in it (calls that failed as a whole count in `failedCalls`). */
  readonly errors: number;
  readonly failedCalls: number;
}

export interface Timeline {
  /** The drill's start, ISO 8601: the zero of every `…Ms` below. */
  readonly startedAt: string;
  readonly calls: readonly CallRow[];
  readonly marks: ReadonlyArray<{ readonly atMs: number; readonly text: string }>;
  readonly failover: { readonly calledAtMs: number; readonly overAtMs: number | null };
  readonly errorWindows: readonly ErrorWindow[];
  readonly longestErrorWindow: ErrorWindow | null;
  /**
   * The first write that succeeded after the failover's errors: the end of the first error
   * window that ended after TestFailover was called. Null when no command failed after it, or
   * writes had not recovered at the end (see `errorWindows`).
   */
  readonly firstWriteAfterFailoverMs: number | null;
  /** The last answer of a call. */
  readonly endedAtMs: number;
}

export interface Verdict {
  readonly passed: boolean;
  /** Why, in sentences: the failures, or what passed. */
  readonly reasons: readonly string[];
}

/** A call's run and its moments, on this machine's clock. */
interface Run {
  readonly start: number;
  readonly end: number;
  readonly firstOk: number | null;
  readonly firstError: number | null;
  readonly okAfterLastError: number | null;
}

export function buildTimeline(record: DrillRecord): Timeline {
  const zero = record.startedAt;
  const rel = (at: number) => Math.round(at - zero);
  const windows = errorWindows(record.calls);
  const longest = windows.reduce<(typeof windows)[number] | null>(
    (best, w) => (best === null || w.ms > best.ms ? w : best),
    null,
  );
  const afterFailover = windows.find(
    (w) => (w.to ?? Number.POSITIVE_INFINITY) > record.failoverCalledAt,
  );
  const toRow = (w: OpenOrClosed): ErrorWindow => ({
    fromMs: rel(w.from),
    toMs: w.to === null ? null : rel(w.to),
    ms: Math.round(w.ms),
    errors: w.errors,
    failedCalls: w.failedCalls,
  });
  return {
    startedAt: new Date(zero).toISOString(),
    calls: record.calls.map((call) => callRow(call, rel)),
    marks: [...record.marks]
      .sort((a, b) => a.at - b.at)
      .map((m) => ({ atMs: rel(m.at), text: m.text })),
    failover: {
      calledAtMs: rel(record.failoverCalledAt),
      overAtMs: record.failoverOverAt === undefined ? null : rel(record.failoverOverAt),
    },
    errorWindows: windows.map(toRow),
    longestErrorWindow: longest === null ? null : toRow(longest),
    firstWriteAfterFailoverMs:
      afterFailover?.to === undefined || afterFailover.to === null ? null : rel(afterFailover.to),
    endedAtMs: rel(record.calls.at(-1)?.answeredAt ?? zero),
  };
}

export function verdict(timeline: Timeline, maxErrorWindowMs: number): Verdict {
  const failures: string[] = [];
  if (timeline.failover.overAtMs === null) {
    failures.push('ElastiCache did not report the failover over within --timeout-ms.');
  }
  const open = timeline.errorWindows.find((w) => w.toMs === null);
  if (open !== undefined) {
    failures.push(
      `Writes had not recovered when the drill ended: failing since ${seconds(open.fromMs)}.`,
    );
  }
  const longest = timeline.longestErrorWindow;
  if (longest !== null && longest.ms >= maxErrorWindowMs) {
    failures.push(
      `The longest error window, ${longest.ms} ms, is not shorter than --max-error-window-ms ${maxErrorWindowMs}.`,
    );
  }
  if (failures.length > 0) return { passed: false, reasons: failures };
  return {
    passed: true,
    reasons: [
      longest === null
        ? 'No command failed.'
        : `The longest error window, ${longest.ms} ms, is shorter than --max-error-window-ms ${maxErrorWindowMs}.`,
    ],
  };
}

/** `+1.23 s`: a moment of the timeline. */
export function seconds(ms: number): string {
  return `${ms < 0 ? '-' : '+'}${(Math.abs(ms) / 1000).toFixed(2)} s`;
}

function callRow(call: CallRecord, rel: (at: number) => number): CallRow {
  const outcome = timed(call.outcome);
  if (!outcome.ok) {
    const ms = Math.round(call.answeredAt - call.sentAt);
    return {
      atMs: rel(call.sentAt),
      ms,
      ops: 0,
      errors: 0,
      opsPerSec: 0,
      errorsPerSec: 0,
      failed: true,
      note: outcome.message,
    };
  }
  const { report } = outcome;
  const run = runOf(call, report);
  const perSec = (n: number) =>
    report.durationMs > 0 ? Math.round((n / report.durationMs) * 1000) : 0;
  return {
    atMs: rel(run.start),
    ms: Math.round(report.durationMs),
    ops: report.ops,
    errors: report.errors,
    opsPerSec: report.opsPerSec,
    errorsPerSec: perSec(report.errors),
    failed: false,
    note: report.errorSamples[0],
  };
}

/** A call's run on this machine's clock. */
function runOf(call: CallRecord, report: TimedReport): Run {
  const { timing } = report;
  const latest = Math.max(call.sentAt, call.answeredAt - report.durationMs);
  const start = Math.min(Math.max(timing.startedAt, call.sentAt), latest);
  const at = (ms: number | null) => (ms === null ? null : start + ms);
  return {
    start,
    end: start + report.durationMs,
    firstOk: at(timing.firstOkMs),
    firstError: at(timing.firstErrorMs),
    okAfterLastError: at(timing.okAfterLastErrorMs),
  };
}

type TimedReport = ThroughputReport & { readonly timing: LoadTiming };
type TimedOutcome =
  | { readonly ok: true; readonly report: TimedReport }
  | { readonly ok: false; readonly message: string };

/**
 * The call's outcome, a report only if it says when its failures happened. The drill starts
 * only when its first call's report has `timing`; a later one without it (an older function
 * deployed during the drill) cannot be placed, so it counts as a call that failed as a whole.
 */
function timed(outcome: CallOutcome): TimedOutcome {
  if (!outcome.ok) return outcome;
  const { report } = outcome;
  const { timing } = report;
  if (timing === undefined) {
    return { ok: false, message: 'the answer did not say when its failures happened' };
  }
  return { ok: true, report: { ...report, timing } };
}

interface OpenOrClosed {
  readonly from: number;
  readonly to: number | null;
  readonly ms: number;
  readonly errors: number;
  readonly failedCalls: number;
}

function errorWindows(calls: readonly CallRecord[]): OpenOrClosed[] {
  const windows: OpenOrClosed[] = [];
  let open: { from: number; errors: number; failedCalls: number } | null = null;
  const close = (to: number) => {
    if (open === null) return;
    windows.push({ ...open, to, ms: to - open.from });
    open = null;
  };
  for (const call of calls) {
    const outcome = timed(call.outcome);
    if (!outcome.ok) {
      open ??= { from: call.sentAt, errors: 0, failedCalls: 0 };
      open.failedCalls++;
      continue;
    }
    const run = runOf(call, outcome.report);
    if (run.firstError === null) {
      if (run.firstOk !== null) close(run.firstOk);
      continue;
    }
    if (run.firstOk !== null && run.firstOk < run.firstError) close(run.firstOk);
    open ??= { from: run.firstError, errors: 0, failedCalls: 0 };
    open.errors += outcome.report.errors;
    if (run.okAfterLastError !== null) close(run.okAfterLastError);
  }
  if (open !== null) {
    const { from, errors, failedCalls } = open;
    const last = calls.at(-1)?.answeredAt ?? from;
    windows.push({ from, to: null, ms: last - from, errors, failedCalls });
  }
  return windows;
}
