/**
 * The drill itself, in its phases: traffic, a healthy baseline, TestFailover, following the
 * cache until the failover is over (or the timeout), more traffic, stop. It fails the cache
 * over only once the traffic is known to work: when the API cannot be called, or its function
 * predates the timing the timeline needs, or the traffic is already failing, nothing is done.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { LIMITS } from '../functions/throughput-contract.js';
import { DRILL_CONCURRENCY, type DrillOptions } from './failover-drill-args.js';
import type { CacheApi } from './failover-drill-cache.js';
import { CLOCK_SKEW_MS, FailoverWatch, type Mark, refusal } from './failover-drill-follow.js';
import type { DrillRecord } from './failover-drill-timeline.js';
import { seconds } from './failover-drill-timeline.js';
import { startTraffic, type Traffic } from './failover-drill-traffic.js';

export type DrillOutcome =
  | { readonly ran: true; readonly record: DrillRecord }
  | { readonly ran: false; readonly message: string };

/** Progress for the person at the terminal (stderr). */
export type DrillLog = (line: string) => void;

const NOTHING_DONE = 'TestFailover was not called';

export async function runDrill(
  options: DrillOptions,
  cache: CacheApi,
  log: DrillLog,
): Promise<DrillOutcome> {
  const startedAt = Date.now();
  const say = (at: number, text: string) => log(`[${seconds(at - startedAt)}] ${text}`);
  const marks: Mark[] = [];
  const mark = (m: Mark) => {
    marks.push(m);
    say(m.at, m.text);
  };

  say(startedAt, `traffic: ${options.callMs} ms throughput calls, back to back`);
  const traffic = startTraffic({
    url: options.url,
    method: 'POST',
    signing: options.signing,
    params: {
      durationMs: options.callMs,
      concurrency: DRILL_CONCURRENCY,
      op: 'set',
      valueBytes: LIMITS.valueBytes.default,
      keyspace: LIMITS.keyspace.default,
    },
  });
  try {
    const notReady = await checkTraffic(traffic, startedAt + options.durationMs);
    if (notReady !== undefined) return { ran: false, message: `${notReady}; ${NOTHING_DONE}.` };

    // The cache may have changed while the person confirmed: look again just before.
    const before = await cache.describe();
    const refused = refusal(before, options.cacheId, options.nodeGroup, await cache.region());
    if (refused !== undefined || before === undefined) {
      return { ran: false, message: `refusing to run: ${refused}; ${NOTHING_DONE}.` };
    }
    // The events there are now are not the drill's, whatever their dates.
    const eventsSince = new Date(Date.now() - CLOCK_SKEW_MS);
    const known = await cache.eventsSince(eventsSince);
    const failoverCalledAt = Date.now();
    await cache.testFailover(options.nodeGroup);
    mark({ at: failoverCalledAt, text: `TestFailover called on node group ${options.nodeGroup}` });

    const watch = new FailoverWatch(before, options.nodeGroup, eventsSince, known);
    const failoverOverAt = await follow(cache, watch, options, failoverCalledAt, mark, say);
    if (failoverOverAt !== undefined) {
      say(Date.now(), `traffic for ${options.durationMs} ms more`);
      await sleep(options.durationMs);
    }
    const calls = await traffic.stop();
    say(Date.now(), `done: ${calls.length} calls`);
    return { ran: true, record: { startedAt, calls, marks, failoverCalledAt, failoverOverAt } };
  } finally {
    // Whatever ended the drill (an AWS error too), no call is left running.
    await traffic.stop();
  }
}

/**
 * Waits for the baseline to end; undefined when the traffic works, else why not. The first
 * call must answer with a report that has timing; the last before the failover must be clean.
 */
async function checkTraffic(traffic: Traffic, baselineEnd: number): Promise<string | undefined> {
  const first = await traffic.first;
  if (!first.outcome.ok) return `the throughput API failed: ${first.outcome.message}`;
  if (first.outcome.report.timing === undefined) {
    return (
      'the throughput API does not report when failures happened (its function predates the ' +
      'drill): deploy this version of the stack first'
    );
  }
  await sleep(Math.max(0, baselineEnd - Date.now()));
  const last = traffic.records.at(-1);
  if (last !== undefined && !last.outcome.ok) {
    return `the traffic was failing before the failover: ${last.outcome.message}`;
  }
  if (last?.outcome.ok && last.outcome.report.errors > 0) {
    const sample = last.outcome.report.errorSamples[0] ?? 'errors';
    return `the traffic was failing before the failover: ${sample}`;
  }
  return undefined;
}

/** Reads the cache until the failover is over; when it was seen over, or undefined at the timeout. */
async function follow(
  cache: CacheApi,
  watch: FailoverWatch,
  options: DrillOptions,
  failoverCalledAt: number,
  mark: (m: Mark) => void,
  say: (at: number, text: string) => void,
): Promise<number | undefined> {
  const deadline = failoverCalledAt + options.timeoutMs;
  while (Date.now() < deadline) {
    await sleep(Math.min(options.pollMs, Math.max(0, deadline - Date.now())));
    try {
      const state = await cache.describe();
      const at = Date.now();
      if (state !== undefined) for (const m of watch.observeState(state, at)) mark(m);
      for (const m of watch.observeEvents(await cache.eventsSince(watch.eventsSince))) mark(m);
    } catch (error) {
      // A throttled or failed look is not the end of the drill: the next one may work.
      say(
        Date.now(),
        `could not read the cache: ${error instanceof Error ? error.message : error}`,
      );
      continue;
    }
    if (watch.over) {
      const at = Date.now();
      mark({ at, text: 'failover over: reported by ElastiCache, cache available' });
      return at;
    }
  }
  say(Date.now(), `the failover was not over within ${options.timeoutMs} ms`);
  return undefined;
}
