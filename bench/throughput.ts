/**
 * Throughput: the throughput function (its exported handler, so through withRedisPool and the
 * pool's shared connection) against the same load from a bare module-scope ioredis client,
 * at equal duration, concurrency, op, value size, keyspace and key prefix.
 *
 * The two sides alternate, and the order flips every round (A B, B A, A B, …), so drift on a
 * noisy machine reaches both equally. The figures are the medians over the rounds; the ratio
 * is the median of the per-round (paired) ratios, which cancels slow drift better than a
 * ratio of medians (also reported). Client CPU per command (process.cpuUsage over the run,
 * this process only) is reported too: it is less sensitive than ops/s to other load.
 *
 * The pool's metrics are off (REDIS_METRICS=false, set by the caller): one EMF line per
 * 1.5 s invocation would not matter, but keeps stdout clean.
 */
import { Redis } from 'ioredis';
import { runLoad } from '../functions/load.js';
import type { Op, ThroughputParams } from '../functions/throughput-contract.js';
import { apiGet, lambdaContext } from './lambda.js';
import { median, round } from './stats.js';

export interface ThroughputSettings {
  readonly durationMs: number;
  readonly concurrency: number;
  readonly op: Op;
  readonly valueBytes: number;
  readonly keyspace: number;
  readonly rounds: number;
  readonly warmupMs: number;
}

export const THROUGHPUT_DEFAULTS: ThroughputSettings = {
  durationMs: 1_500,
  concurrency: 50,
  op: 'mixed',
  valueBytes: 100,
  keyspace: 1_000,
  rounds: 10,
  warmupMs: 1_000,
};

/** One side of one round. */
export interface LoadFigures {
  readonly opsPerSec: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly ops: number;
  readonly errors: number;
  /** This process's CPU time (user + system) per command, in µs. */
  readonly cpuUsPerOp: number;
}

export interface ThroughputResult {
  readonly settings: ThroughputSettings;
  /** Medians over the rounds. */
  readonly pool: LoadFigures;
  readonly bare: LoadFigures;
  /** Medians of the per-round pool / bare ratios. */
  readonly ratio: {
    readonly opsPerSec: number;
    readonly p50: number;
    readonly p99: number;
    readonly cpuPerOp: number;
  };
  /** pool / bare ops/s of the median figures. */
  readonly ratioOfMedians: number;
  /** pool / bare ops/s of each round, in order. */
  readonly roundRatios: readonly number[];
  readonly rounds: readonly { readonly pool: LoadFigures; readonly bare: LoadFigures }[];
  readonly target: { readonly minOpsRatio: number; readonly pass: boolean };
}

export const MIN_THROUGHPUT_RATIO = 0.95;

/**
 * Runs the comparison. The throughput function builds its pool from the environment when it
 * is first imported: REDIS_URL (and REDIS_METRICS) must be set before this is called.
 */
export async function benchThroughput(
  url: string,
  settings: ThroughputSettings = THROUGHPUT_DEFAULTS,
  log: (line: string) => void = () => {},
): Promise<ThroughputResult> {
  const { handler } = await import('../functions/throughput.js');
  const bare = new Redis(url);
  try {
    await bare.ping();
    const params: ThroughputParams = {
      durationMs: settings.durationMs,
      concurrency: settings.concurrency,
      op: settings.op,
      valueBytes: settings.valueBytes,
      keyspace: settings.keyspace,
    };
    const timed = async (run: () => Promise<unknown>): Promise<LoadFigures> => {
      const cpu = process.cpuUsage();
      const report = await run();
      const used = process.cpuUsage(cpu);
      return figuresFrom(report, used.user + used.system);
    };
    const viaPool = async (durationMs: number): Promise<unknown> => {
      const query = {
        durationMs: String(durationMs),
        concurrency: String(params.concurrency),
        op: params.op,
        valueBytes: String(params.valueBytes),
        keyspace: String(params.keyspace),
      };
      const response = await handler(apiGet('/api/v1/test/redis', query), lambdaContext(60_000));
      if (response.statusCode !== 200) {
        throw new Error(`throughput handler answered ${response.statusCode}: ${response.body}`);
      }
      return JSON.parse(response.body);
    };
    const viaBare = (durationMs: number): Promise<unknown> =>
      runLoad(bare, { ...params, durationMs }, performance.now() + durationMs);
    const pooled = () => timed(() => viaPool(settings.durationMs));
    const direct = () => timed(() => viaBare(settings.durationMs));

    // Connects the pool, warms both code paths.
    await timed(() => viaPool(settings.warmupMs));
    await timed(() => viaBare(settings.warmupMs));

    const rounds: { pool: LoadFigures; bare: LoadFigures }[] = [];
    for (let i = 0; i < settings.rounds; i++) {
      let pool: LoadFigures;
      let bareFigures: LoadFigures;
      if (i % 2 === 0) {
        pool = await pooled();
        bareFigures = await direct();
      } else {
        bareFigures = await direct();
        pool = await pooled();
      }
      rounds.push({ pool, bare: bareFigures });
      log(
        `  round ${i + 1}/${settings.rounds}: pool ${pool.opsPerSec} ops/s, bare ${bareFigures.opsPerSec} ops/s`,
      );
    }
    const pool = medianFigures(rounds.map((r) => r.pool));
    const bareMedian = medianFigures(rounds.map((r) => r.bare));
    const paired = (pick: (f: LoadFigures) => number) =>
      round(median(rounds.map((r) => pick(r.pool) / pick(r.bare))), 3);
    const opsRatio = paired((f) => f.opsPerSec);
    return {
      settings,
      pool,
      bare: bareMedian,
      ratio: {
        opsPerSec: opsRatio,
        p50: paired((f) => f.p50Ms),
        p99: paired((f) => f.p99Ms),
        cpuPerOp: paired((f) => f.cpuUsPerOp),
      },
      ratioOfMedians: round(pool.opsPerSec / bareMedian.opsPerSec, 3),
      roundRatios: rounds.map((r) => round(r.pool.opsPerSec / r.bare.opsPerSec, 3)),
      rounds,
      target: { minOpsRatio: MIN_THROUGHPUT_RATIO, pass: opsRatio >= MIN_THROUGHPUT_RATIO },
    };
  } finally {
    await bare.quit().catch(() => bare.disconnect());
  }
}

function medianFigures(all: readonly LoadFigures[]): LoadFigures {
  const of = (pick: (f: LoadFigures) => number) => round(median(all.map(pick)), 3);
  return {
    opsPerSec: Math.round(of((f) => f.opsPerSec)),
    p50Ms: of((f) => f.p50Ms),
    p99Ms: of((f) => f.p99Ms),
    ops: Math.round(of((f) => f.ops)),
    errors: Math.round(of((f) => f.errors)),
    cpuUsPerOp: of((f) => f.cpuUsPerOp),
  };
}

/** Reads a LoadResult, from runLoad or from the handler's JSON body; fails on errors. */
function figuresFrom(value: unknown, cpuMicros: number): LoadFigures {
  if (!isLoadShape(value)) throw new Error(`unexpected load report: ${JSON.stringify(value)}`);
  if (value.errors > 0) throw new Error(`the load had ${value.errors} errors`);
  return {
    opsPerSec: value.opsPerSec,
    p50Ms: value.latencyMs.p50,
    p99Ms: value.latencyMs.p99,
    ops: value.ops,
    errors: value.errors,
    cpuUsPerOp: value.ops > 0 ? round(cpuMicros / value.ops, 3) : 0,
  };
}

interface LoadShape {
  ops: number;
  errors: number;
  opsPerSec: number;
  latencyMs: { p50: number; p99: number };
}

function isLoadShape(value: unknown): value is LoadShape {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  const latency = v.latencyMs as Record<string, unknown> | undefined;
  return (
    typeof v.ops === 'number' &&
    typeof v.errors === 'number' &&
    typeof v.opsPerSec === 'number' &&
    typeof latency === 'object' &&
    latency !== null &&
    typeof latency.p50 === 'number' &&
    typeof latency.p99 === 'number'
  );
}
