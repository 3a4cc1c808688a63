/**
 * What the throughput CLI prints, as pure functions (tested without a terminal or a server):
 * the results table, the progress line, and the message of a failed request.
 */
import type { ThroughputReport } from '../functions/throughput-contract.js';

export type { ThroughputReport };

/** Enough of the shape to print it; anything else did not come from a throughput endpoint. */
export function isThroughputReport(value: unknown): value is ThroughputReport {
  if (typeof value !== 'object' || value === null) return false;
  const r = value as Record<string, unknown>;
  const latency = r.latencyMs as Record<string, unknown> | undefined;
  const pool = r.pool as Record<string, unknown> | undefined;
  return (
    typeof r.ops === 'number' &&
    typeof r.errors === 'number' &&
    typeof r.durationMs === 'number' &&
    typeof r.opsPerSec === 'number' &&
    ['p50', 'p95', 'p99', 'max'].every((p) => typeof latency?.[p] === 'number') &&
    typeof r.params === 'object' &&
    typeof pool?.connectionsCreated === 'number' &&
    typeof pool?.reused === 'number'
  );
}

const count = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

/** Latencies span microseconds to seconds: keep about three significant digits. */
export function formatMs(ms: number): string {
  const digits = ms < 1 ? 3 : ms < 100 ? 2 : 1;
  return `${ms.toFixed(digits)} ms`;
}

export function formatReport(report: ThroughputReport): string {
  const { params, latencyMs, pool } = report;
  const rows: Array<[string, string]> = [
    ['ops', count.format(report.ops)],
    ['errors', count.format(report.errors)],
    ['duration', formatMs(report.durationMs)],
    ['ops/s', count.format(report.opsPerSec)],
    ['latency p50', formatMs(latencyMs.p50)],
    ['latency p95', formatMs(latencyMs.p95)],
    ['latency p99', formatMs(latencyMs.p99)],
    ['latency max', formatMs(latencyMs.max)],
    ['connections created', count.format(pool.connectionsCreated)],
    ['connections reused', count.format(pool.reused)],
  ];
  const width = Math.max(...rows.map(([label]) => label.length));
  const lines = [
    `${params.op} x ${params.concurrency} for ${params.durationMs} ms ` +
      `(${params.valueBytes}-byte values, ${params.keyspace} keys)`,
    ...rows.map(([label, value]) => `  ${label.padEnd(width)}  ${value}`),
  ];
  if (report.stoppedEarly) {
    lines.push('Stopped early: the function reached its deadline before the duration was up.');
  }
  if (report.errorSamples.length > 0) {
    lines.push('Errors seen:', ...report.errorSamples.map((message) => `  ${message}`));
  }
  return lines.join('\n');
}

/** One line: elapsed of expected time and a bar; past the expected time, the report is due. */
export function formatProgress(elapsedMs: number, expectedMs: number, barWidth = 24): string {
  const fraction = expectedMs > 0 ? Math.min(1, elapsedMs / expectedMs) : 1;
  const filled = Math.round(fraction * barWidth);
  const bar = `[${'#'.repeat(filled)}${'-'.repeat(barWidth - filled)}]`;
  const time = `${(elapsedMs / 1000).toFixed(1)} s / ${(expectedMs / 1000).toFixed(1)} s`;
  const state =
    elapsedMs < expectedMs ? `${Math.floor(fraction * 100)}%` : 'waiting for the report';
  return `running ${bar} ${time} ${state}`;
}

/** The message of an error response: API Gateway's and the functions' JSON, or the raw text. */
export function serverMessage(body: string): string {
  try {
    const parsed = JSON.parse(body) as Record<string, unknown> | null;
    const error = parsed?.error;
    if (typeof parsed?.message === 'string') return parsed.message;
    if (typeof error === 'object' && error !== null) {
      const message = (error as Record<string, unknown>).message;
      if (typeof message === 'string') return message;
    }
    if (typeof error === 'string') return error;
  } catch {
    // Not JSON: show the text.
  }
  const text = body.trim();
  if (text === '') return '(empty response)';
  return text.length > 500 ? `${text.slice(0, 497)}...` : text;
}
