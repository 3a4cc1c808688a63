/**
 * What the failover drill prints: the timeline as a table (calls and marks in time order) with
 * its summary, or the same as JSON. Pure functions.
 */
import { seconds, type Timeline, type Verdict } from './failover-drill-timeline.js';

export interface DrillSummary {
  readonly cache: string;
  readonly nodeGroup: string;
  /** The throughput API, as it may be printed (redacted). */
  readonly url: string;
  readonly maxErrorWindowMs: number;
}

const count = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

export function formatDrill(summary: DrillSummary, timeline: Timeline, result: Verdict): string {
  const lines = [
    `Failover drill: replication group ${summary.cache}, node group ${summary.nodeGroup}, traffic through ${summary.url}`,
    `Started ${timeline.startedAt}; times are seconds since then. Each row is one throughput call.`,
    '',
    `${'time'.padStart(9)}  ${'run ms'.padStart(7)}  ${'ops/s'.padStart(8)}  ${'errors/s'.padStart(8)}`,
    ...rows(timeline),
    '',
    ...summaryLines(timeline),
    `${result.passed ? 'PASS' : 'FAIL'}: ${result.reasons.join(' ')}`,
  ];
  return lines.join('\n');
}

export function drillJson(summary: DrillSummary, timeline: Timeline, result: Verdict): string {
  return JSON.stringify({ ...summary, ...result, timeline }, null, 2);
}

/** Calls and marks, in time order (a mark before a call that begins at the same moment). */
function rows(timeline: Timeline): string[] {
  const entries = [
    ...timeline.marks.map((m) => ({ atMs: m.atMs, order: 0, line: markLine(m.atMs, m.text) })),
    ...timeline.calls.map((c) => ({
      atMs: c.atMs,
      order: 1,
      line: c.failed
        ? `${seconds(c.atMs).padStart(9)}  ${String(c.ms).padStart(7)}  ${'–'.padStart(8)}  ${'–'.padStart(8)}  call failed: ${c.note ?? ''}`
        : `${seconds(c.atMs).padStart(9)}  ${String(c.ms).padStart(7)}  ${count.format(c.opsPerSec).padStart(8)}  ${count.format(c.errorsPerSec).padStart(8)}${c.note ? `  ${c.note}` : ''}`,
    })),
  ];
  return entries.sort((a, b) => a.atMs - b.atMs || a.order - b.order).map((e) => e.line);
}

function markLine(atMs: number, text: string): string {
  return `${seconds(atMs).padStart(9)}  ▶ ${text}`;
}

function summaryLines(timeline: Timeline): string[] {
  const { failover, errorWindows, longestErrorWindow: longest } = timeline;
  const lines = [
    `Failover: TestFailover at ${seconds(failover.calledAtMs)}; ` +
      (failover.overAtMs === null
        ? 'not reported over before the timeout.'
        : `over at ${seconds(failover.overAtMs)} (ElastiCache reported it and the cache was available).`),
    `Error windows: ${errorWindows.length === 0 ? 'none' : errorWindows.length}`,
    ...errorWindows.map((w) => `  ${windowText(w)}`),
  ];
  if (longest !== null)
    lines.push(`Longest error window: ${longest.ms} ms, ${windowText(longest)}`);
  const firstWrite = timeline.firstWriteAfterFailoverMs;
  if (firstWrite !== null) {
    lines.push(
      `First write after the failover: ${seconds(firstWrite)}, ${firstWrite - failover.calledAtMs} ms after TestFailover was called.`,
    );
  } else if (!errorWindows.some((w) => w.toMs === null)) {
    lines.push(
      'First write after the failover: writes never stopped (no command failed after TestFailover).',
    );
  }
  return lines;
}

function windowText(w: Timeline['errorWindows'][number]): string {
  const to = w.toMs === null ? 'still failing at the end' : seconds(w.toMs);
  const failedCalls =
    w.failedCalls > 0 ? `, ${w.failedCalls} failed call${w.failedCalls === 1 ? '' : 's'}` : '';
  return `${seconds(w.fromMs)} → ${to} (${count.format(w.ms)} ms, ${count.format(w.errors)} errors${failedCalls})`;
}
