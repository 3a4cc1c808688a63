/**
 * The pool's CloudWatch metrics: their names (one source of truth, read by the CDK dashboard
 * and alarms too) and their publication as Embedded Metric Format through Powertools.
 *
 * Concurrency (Lambda Managed Instances runs many invocations in one process): each
 * invocation's values are computed into its own record and written to the Metrics instance
 * in one synchronous step followed by the flush, so no other invocation can interleave, and
 * pool counters are reported as deltas taken atomically, so each event is counted once.
 */
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { RedisPool } from './pool/RedisPool.js';

/** Metric names, as they appear in CloudWatch. */
export const METRIC_NAMES = {
  acquireLatency: 'RedisAcquireLatency',
  acquireErrors: 'RedisAcquireErrors',
  connectionReused: 'RedisConnectionReused',
  connectionsCreated: 'RedisConnectionsCreated',
  connectionsFailed: 'RedisConnectionsFailed',
  connectionsActive: 'RedisConnectionsActive',
  connectionsIdle: 'RedisConnectionsIdle',
  reconnects: 'RedisReconnects',
  validationFailures: 'RedisValidationFailures',
  coldStart: 'RedisPoolColdStart',
} as const;

export type MetricKey = keyof typeof METRIC_NAMES;

export const METRIC_UNITS: Readonly<Record<MetricKey, 'Milliseconds' | 'Count'>> = {
  acquireLatency: MetricUnit.Milliseconds,
  acquireErrors: MetricUnit.Count,
  connectionReused: MetricUnit.Count,
  connectionsCreated: MetricUnit.Count,
  connectionsFailed: MetricUnit.Count,
  connectionsActive: MetricUnit.Count,
  connectionsIdle: MetricUnit.Count,
  reconnects: MetricUnit.Count,
  validationFailures: MetricUnit.Count,
  coldStart: MetricUnit.Count,
};

/** The dimension the pool's own metrics carry, so dashboards can split by function. */
export const METRIC_DIMENSION = 'FunctionName';

/** What one invocation reports. Counters are deltas since the pool's previous report. */
export type InvocationMetrics = Partial<Record<MetricKey, number>>;

/** Last reported value of each pool counter, per pool: the base of the next deltas. */
const reported = new WeakMap<
  RedisPool,
  { created: number; failed: number; reconnects: number; validation: number }
>();

/**
 * Builds an invocation's record right after its acquire (or failed acquire): latency and
 * reuse of its own lease, the pool's gauges, and the counters' change since the last record.
 */
export function invocationMetrics(
  pool: RedisPool,
  outcome: { acquireMs: number; reused: boolean | undefined },
  coldStart: boolean,
): InvocationMetrics {
  const stats = pool.stats();
  const last = reported.get(pool) ?? { created: 0, failed: 0, reconnects: 0, validation: 0 };
  reported.set(pool, {
    created: stats.connectionsCreated,
    failed: stats.connectionsFailed,
    reconnects: stats.reconnects,
    validation: stats.validationFailures,
  });
  const acquired = outcome.reused !== undefined;
  return {
    acquireLatency: outcome.acquireMs,
    acquireErrors: acquired ? 0 : 1,
    ...(acquired ? { connectionReused: outcome.reused ? 1 : 0 } : {}),
    connectionsCreated: stats.connectionsCreated - last.created,
    connectionsFailed: stats.connectionsFailed - last.failed,
    connectionsActive: stats.active,
    connectionsIdle: stats.idle,
    reconnects: stats.reconnects - last.reconnects,
    validationFailures: stats.validationFailures - last.validation,
    coldStart: coldStart ? 1 : 0,
  };
}

/** Adds a record to a Metrics instance (the user's, who flushes it, or the pool's own). */
export function addInvocationMetrics(metrics: Metrics, record: InvocationMetrics): void {
  for (const key of Object.keys(record) as MetricKey[]) {
    const value = record[key];
    if (value !== undefined) metrics.addMetric(METRIC_NAMES[key], METRIC_UNITS[key], value);
  }
}

/** The pool's own EMF emitter, used when the user does not pass a Metrics instance. */
export class PoolMetricsEmitter {
  readonly #metrics: Metrics;

  constructor(namespace: string, functionName: string) {
    this.#metrics = new Metrics({ namespace, serviceName: functionName });
    // Only FunctionName: the dimension set the CDK dashboard and alarms query.
    this.#metrics.clearDefaultDimensions();
    this.#metrics.setDefaultDimensions({ [METRIC_DIMENSION]: functionName });
  }

  /** Writes one EMF document for this record. Synchronous, so invocations cannot interleave. */
  publish(record: InvocationMetrics): void {
    addInvocationMetrics(this.#metrics, record);
    this.#metrics.publishStoredMetrics();
  }
}

/** Until the first invocation of this execution environment takes it. */
let coldStart = true;

/**
 * True for the first invocation of an execution environment that Lambda initialised for it.
 * An environment of provisioned concurrency was initialised ahead of any request, so its
 * first invocation waited for no init and is not a cold start (as Powertools counts it).
 */
export function takeColdStart(): boolean {
  const value =
    coldStart && process.env.AWS_LAMBDA_INITIALIZATION_TYPE?.trim() !== 'provisioned-concurrency';
  coldStart = false;
  return value;
}
