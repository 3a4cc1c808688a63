/**
 * Per-invocation overhead of withRedisPool: sequential invocations of a bare
 * `async () => 'ok'` against the same handler wrapped, with the pool's metrics off and on.
 * The wrapped handler leases and releases the warm shared connection: no I/O, so what is
 * left is the middleware's own cost (acquire, early-timeout timer, release, EMF).
 *
 * Each call is timed alone with process.hrtime.bigint(). Blocks of the three variants are
 * interleaved and their order rotates, so drift reaches all of them equally. With metrics on,
 * the EMF document is built, serialized and written as usual, to /dev/null: while the loop
 * runs (warm-up included) process.stdout.write is a synchronous write there, as Lambda's
 * stdout pipe is, so the system call is in the figure but the terminal stays readable.
 */
import type { Context } from 'aws-lambda';
import { withRedisPool } from 'lambda-redis-pool';
import { redirectStdoutToDevNull } from './dev-null.js';
import { lambdaContext } from './lambda.js';
import { percentiles, round } from './stats.js';

export interface OverheadSettings {
  /** Timed invocations per variant. */
  readonly invocations: number;
  /** Invocations per block; blocks of the variants alternate. */
  readonly block: number;
  /** Untimed invocations per variant first. */
  readonly warmup: number;
}

export const OVERHEAD_DEFAULTS: OverheadSettings = {
  invocations: 50_000,
  block: 1_000,
  warmup: 10_000,
};

export const MAX_OVERHEAD_P50_US = 20;
/** What metrics on may add to metrics off, per invocation (issue 12). */
export const MAX_METRICS_COST_P50_US = 5;

export interface LatencyFigures {
  readonly p50Us: number;
  readonly p90Us: number;
  readonly p99Us: number;
  readonly meanUs: number;
}

export interface WrappedFigures extends LatencyFigures {
  /** Wrapped minus bare, at the same percentile. */
  readonly overheadP50Us: number;
  readonly overheadP99Us: number;
  readonly pass: boolean;
}

export interface OverheadResult {
  readonly settings: OverheadSettings;
  readonly bare: LatencyFigures;
  readonly metricsOff: WrappedFigures;
  readonly metricsOn: WrappedFigures;
  /** Metrics on minus metrics off, at p50 and p99: what the EMF document costs. */
  readonly metricsCost: { readonly p50Us: number; readonly p99Us: number; readonly pass: boolean };
  /** stdout writes (to /dev/null) during the loop: one EMF line per metrics-on invocation. */
  readonly emfLinesWritten: number;
  readonly metricsOnInvocations: number;
  readonly target: { readonly maxOverheadP50Us: number; readonly maxMetricsCostP50Us: number };
}

type Handler = (event: unknown, context: Context) => Promise<string>;

export async function benchOverhead(
  settings: OverheadSettings = OVERHEAD_DEFAULTS,
): Promise<OverheadResult> {
  const base = async (): Promise<string> => 'ok';
  const variants: readonly { name: 'bare' | 'off' | 'on'; handler: Handler }[] = [
    { name: 'bare', handler: base },
    // Options in code are equivalent to REDIS_METRICS=false/true, and give each its own pool.
    { name: 'off', handler: withRedisPool(base, { pool: { metrics: false } }) },
    { name: 'on', handler: withRedisPool(base, { pool: { metrics: true } }) },
  ];
  const samples = {
    bare: new Float64Array(settings.invocations),
    off: new Float64Array(settings.invocations),
    on: new Float64Array(settings.invocations),
  };
  const event = {};
  let written = 0;
  const stdout = redirectStdoutToDevNull();
  try {
    // Warm-up: connects both pools, lets the JIT settle; interleaved too.
    for (let done = 0; done < settings.warmup; done += settings.block) {
      for (const { handler } of variants) {
        const context = lambdaContext(60_000);
        for (let i = 0; i < settings.block; i++) await handler(event, context);
      }
    }
    const emfBefore = stdout.lines();
    const blocks = Math.ceil(settings.invocations / settings.block);
    for (let b = 0; b < blocks; b++) {
      const from = b * settings.block;
      const to = Math.min(settings.invocations, from + settings.block);
      for (let v = 0; v < variants.length; v++) {
        const variant = variants[(b + v) % variants.length];
        if (!variant) continue;
        const out = samples[variant.name];
        const context = lambdaContext(60_000);
        for (let i = from; i < to; i++) {
          const started = process.hrtime.bigint();
          await variant.handler(event, context);
          out[i] = Number(process.hrtime.bigint() - started) / 1_000;
        }
      }
    }
    written = stdout.lines() - emfBefore;
  } finally {
    stdout.restore();
  }
  const bare = figures(samples.bare);
  const off = figures(samples.off);
  const on = figures(samples.on);
  const costP50 = round(on.p50Us - off.p50Us);
  return {
    settings,
    bare,
    metricsOff: wrapped(off, bare),
    metricsOn: wrapped(on, bare),
    metricsCost: {
      p50Us: costP50,
      p99Us: round(on.p99Us - off.p99Us),
      pass: costP50 <= MAX_METRICS_COST_P50_US,
    },
    emfLinesWritten: written,
    metricsOnInvocations: settings.invocations,
    target: { maxOverheadP50Us: MAX_OVERHEAD_P50_US, maxMetricsCostP50Us: MAX_METRICS_COST_P50_US },
  };
}

function figures(values: Float64Array): LatencyFigures {
  const [p50 = 0, p90 = 0, p99 = 0] = percentiles(values, [50, 90, 99]);
  let sum = 0;
  for (const value of values) sum += value;
  return {
    p50Us: round(p50),
    p90Us: round(p90),
    p99Us: round(p99),
    meanUs: round(sum / values.length),
  };
}

function wrapped(figures: LatencyFigures, bare: LatencyFigures): WrappedFigures {
  const overheadP50Us = round(figures.p50Us - bare.p50Us);
  return {
    ...figures,
    overheadP50Us,
    overheadP99Us: round(figures.p99Us - bare.p99Us),
    pass: overheadP50Us < MAX_OVERHEAD_P50_US,
  };
}
