/**
 * The pool's CloudWatch metrics: their names (one source of truth, read by the CDK dashboard
 * and alarms too) and their publication as Embedded Metric Format: by the library's own EMF
 * writer (src/emf.ts), or into the user's Powertools `Metrics` instance when they pass one.
 *
 * Powertools is an optional peer: nothing here imports it, so a user's own version is the only
 * one, and a user without it needs none. Its `Metrics` is accepted structurally (MetricsSink).
 * The library writes its own documents because Powertools' bookkeeping (it reads process.env
 * on every addMetric) cost more per invocation than the pool itself (bench/README.md).
 *
 * Concurrency (Lambda Managed Instances runs many invocations in one process): each
 * invocation's values are computed into its own record and written in one synchronous step,
 * so no other invocation can interleave, and pool counters are reported as deltas taken
 * atomically, so each event is counted once.
 */
import { EmfDocumentWriter } from './emf.js';
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
  acquireLatency: 'Milliseconds',
  acquireErrors: 'Count',
  connectionReused: 'Count',
  connectionsCreated: 'Count',
  connectionsFailed: 'Count',
  connectionsActive: 'Count',
  connectionsIdle: 'Count',
  reconnects: 'Count',
  validationFailures: 'Count',
  coldStart: 'Count',
};

/** The dimension the pool's own metrics carry, so dashboards can split by function. */
export const METRIC_DIMENSION = 'FunctionName';

/** What one invocation reports. Counters are deltas since the pool's previous report. */
export type InvocationMetrics = Partial<Record<MetricKey, number>>;

/**
 * What the library needs of the user's Powertools `Metrics` (any 2.x): their instance
 * satisfies it structurally, whatever copy of Powertools it comes from.
 */
export interface MetricsSink {
  addMetric(name: string, unit: 'Milliseconds' | 'Count', value: number): unknown;
}

/** Last reported value of each pool counter, per pool: the base of the next deltas. */
interface Reported {
  created: number;
  failed: number;
  reconnects: number;
  validation: number;
}

const reported = new WeakMap<RedisPool, Reported>();

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
  let last = reported.get(pool);
  if (last === undefined) {
    last = { created: 0, failed: 0, reconnects: 0, validation: 0 };
    reported.set(pool, last);
  }
  const acquired = outcome.reused !== undefined;
  const record: InvocationMetrics = {
    acquireLatency: outcome.acquireMs,
    acquireErrors: acquired ? 0 : 1,
    // No lease, nothing reused or not: left out, so that Average(reused) counts leases only.
    connectionReused: acquired ? (outcome.reused ? 1 : 0) : undefined,
    connectionsCreated: stats.connectionsCreated - last.created,
    connectionsFailed: stats.connectionsFailed - last.failed,
    connectionsActive: stats.active,
    connectionsIdle: stats.idle,
    reconnects: stats.reconnects - last.reconnects,
    validationFailures: stats.validationFailures - last.validation,
    coldStart: coldStart ? 1 : 0,
  };
  // Synchronous with the read above: concurrent invocations never take the same delta twice.
  last.created = stats.connectionsCreated;
  last.failed = stats.connectionsFailed;
  last.reconnects = stats.reconnects;
  last.validation = stats.validationFailures;
  return record;
}

/** Adds a record to the user's Metrics instance, which they flush. */
export function addInvocationMetrics(metrics: MetricsSink, record: InvocationMetrics): void {
  for (const key of Object.keys(record) as MetricKey[]) {
    const value = record[key];
    if (value !== undefined) metrics.addMetric(METRIC_NAMES[key], METRIC_UNITS[key], value);
  }
}

/** Each metric's name and unit, keyed as in a record: the shape of the pool's documents. */
const METRIC_DEFINITIONS = Object.fromEntries(
  (Object.keys(METRIC_NAMES) as MetricKey[]).map((key) => [
    key,
    { name: METRIC_NAMES[key], unit: METRIC_UNITS[key] },
  ]),
) as Record<MetricKey, { name: string; unit: 'Milliseconds' | 'Count' }>;

/**
 * The pool's own EMF emitter, used when the user does not pass a Metrics instance: one
 * document per invocation, namespace and `FunctionName` dimension fixed when it is made.
 *
 * A record is complete when its invocation's lease is taken; its document is serialized and
 * written at the end of that tick, together with the other documents of the tick:
 * - one invocation at a time, that happens while the handler's first command is on its way to
 *   Redis, so the invocation does not wait for it;
 * - many at once (Managed Instances), a tick's documents go out in one write, not one each.
 * The end of the tick comes before the event loop can do any I/O, so before Lambda can hear
 * the invocation's response (or freeze the environment); an invocation that ends within the
 * tick its lease was taken in writes its own document first (`flush`).
 */
export class PoolMetricsEmitter {
  readonly #writer: EmfDocumentWriter<MetricKey>;
  /** Records published in this tick, not yet written. */
  #pending: InvocationMetrics[] = [];
  /** Counts the writes: a document's batch is the count at the time it was published. */
  #batch = 0;
  readonly #writeTick = () => this.#write();
  /**
   * Taken at init: Node creates `process.stdout` on first use, 2 to 4 ms for a pipe on the
   * bench machine, which would otherwise fall into the first invocation (Lambda's runtime logs
   * through a file descriptor of its own and does not create it either).
   */
  readonly #stdout: NodeJS.WriteStream;

  constructor(namespace: string, functionName: string) {
    this.#stdout = process.stdout;
    // Only FunctionName: the dimension set the CDK dashboard and alarms query.
    const dimension = functionName.trim() === '' ? 'unknown' : functionName;
    this.#writer = new EmfDocumentWriter(
      namespace,
      { [METRIC_DIMENSION]: dimension },
      METRIC_DEFINITIONS,
    );
  }

  /** Queues this record's document for the end of the tick. Returns its batch, for `flush`. */
  publish(record: InvocationMetrics): number {
    if (this.#pending.length === 0) process.nextTick(this.#writeTick);
    this.#pending.push(record);
    return this.#batch;
  }

  /** Writes now the batch holding a document published earlier, unless it is out already. */
  flush(batch: number): void {
    if (batch === this.#batch) this.#write();
  }

  /** One synchronous write of the pending documents, a whole line each. */
  #write(): void {
    const writer = this.#writer;
    const records = this.#pending;
    if (records.length === 0) return;
    this.#pending = [];
    this.#batch++;
    const timestamp = Date.now();
    let lines = '';
    for (const record of records) lines += writer.serialize(record, timestamp) ?? '';
    if (lines !== '') this.#stdout.write(lines);
  }
}

/**
 * The pool's emitter, or none when Powertools' metrics are switched off for this function:
 * read once, at init, as Powertools reads them, so that whoever switched them off (or runs the
 * function in Powertools' dev mode) gets no documents from us either, and no invocation
 * gathers a record nobody writes.
 */
export function poolMetricsEmitter(
  namespace: string,
  functionName: string,
  env: NodeJS.ProcessEnv = process.env,
): PoolMetricsEmitter | undefined {
  if (powertoolsMetricsDisabled(env)) return undefined;
  return new PoolMetricsEmitter(namespace, functionName);
}

const TRUTHY = new Set(['1', 'y', 'yes', 't', 'true', 'on']);
const FALSY = new Set(['0', 'n', 'no', 'f', 'false', 'off']);

/**
 * Powertools' rule: POWERTOOLS_METRICS_DISABLED decides when it says yes or no; otherwise
 * POWERTOOLS_DEV (its local-development mode) turns metrics off.
 */
function powertoolsMetricsDisabled(env: NodeJS.ProcessEnv): boolean {
  const disabled = env.POWERTOOLS_METRICS_DISABLED?.trim().toLowerCase();
  if (disabled !== undefined && (TRUTHY.has(disabled) || FALSY.has(disabled))) {
    return TRUTHY.has(disabled);
  }
  return TRUTHY.has(env.POWERTOOLS_DEV?.trim().toLowerCase() ?? '');
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
