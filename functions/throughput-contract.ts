/**
 * The throughput API's contract: its parameters, their limits and the report it answers
 * with. The function enforces it; the CLI (which runs on a laptop, not in Lambda) reads it
 * to check its flags and the answers it gets. Nothing else is shared between the two.
 */
import type { PoolStats } from 'lambda-redis-pool';

export const OPS = ['get', 'set', 'mixed'] as const;
export type Op = (typeof OPS)[number];

/**
 * What a run is asked to do. GET takes the parameters from the query string, POST from a JSON
 * object body only (a POST with a query string is a 400 naming its parameters). Each may be
 * left out, or given as `null` (JSON) or empty (`?op=`), for its default (LIMITS, `op` get).
 */
export interface ThroughputParams {
  /** How long to run. */
  readonly durationMs: number;
  /** Commands in flight at once (all on the function's one shared connection). */
  readonly concurrency: number;
  /** `get`, `set`, or `mixed` (4 GETs to 1 SET). */
  readonly op: Op;
  /** Size of each value written. */
  readonly valueBytes: number;
  /** Distinct keys used. */
  readonly keyspace: number;
}

export interface Range {
  readonly min: number;
  readonly max: number;
  readonly default: number;
}

/**
 * API Gateway ends a request after 29 s: the run, the setup and the report must fit in it.
 * The other limits keep one test from turning into a load attack on a shared cache.
 */
export const LIMITS: Readonly<
  Record<'durationMs' | 'concurrency' | 'valueBytes' | 'keyspace', Range>
> = {
  durationMs: { min: 1, max: 25_000, default: 1_000 },
  concurrency: { min: 1, max: 1_000, default: 50 },
  valueBytes: { min: 1, max: 65_536, default: 100 },
  keyspace: { min: 1, max: 1_000_000, default: 1_000 },
};

/** Time the function keeps after the load for the report, the release and the metrics flush. */
export const REPORT_RESERVE_MS = 500;

/** What a load run did. */
export interface LoadResult {
  readonly ops: number;
  readonly errors: number;
  /** Time the load actually ran. */
  readonly durationMs: number;
  readonly opsPerSec: number;
  readonly latencyMs: {
    readonly p50: number;
    readonly p95: number;
    readonly p99: number;
    readonly max: number;
  };
  /** The first few distinct error messages, for a reader of the report. */
  readonly errorSamples: readonly string[];
  /**
   * When the run's first and last failures and successes happened: what the failover drill
   * (`npm run failover-drill`) builds its timeline from. Absent in reports of versions before
   * it was added.
   */
  readonly timing?: LoadTiming;
}

/**
 * Moments of a run, each the completion of a command, in ms after `startedAt`. With concurrency,
 * commands overlap: a success completing after a failure may have been sent before it.
 */
export interface LoadTiming {
  /** The function's clock (`Date.now()`) when the load began. */
  readonly startedAt: number;
  /** The first command that succeeded; null when none did. */
  readonly firstOkMs: number | null;
  /** The first command that failed; null when none did. */
  readonly firstErrorMs: number | null;
  /** The last command that failed; null when none did. */
  readonly lastErrorMs: number | null;
  /** The first command that succeeded after the last failure; null when none did (a run that
   * ended failing) or nothing failed. */
  readonly okAfterLastErrorMs: number | null;
}

/** The 200 answer's body. */
export interface ThroughputReport extends LoadResult {
  /** The deadline came before the requested duration. */
  readonly stoppedEarly: boolean;
  readonly params: ThroughputParams;
  readonly pool: PoolStats;
}
