/**
 * CloudWatch Embedded Metric Format documents, written by the library itself: the document's
 * shape (namespace, dimensions, metric definitions with their units) is serialised once, when
 * the writer is made, and each document only fills in the timestamp and the values. One
 * document is one `process.stdout.write` of one line.
 *
 * Why stdout and not `console.log`: in Lambda, the Node.js runtime replaces `console.log` with
 * its own logger, which prefixes each message (timestamp, request id, level), or wraps it in a
 * JSON object under the JSON log format, and drops it below the function's log level; CloudWatch
 * then no longer reads it as EMF. A raw line on stdout is logged as it is (Powertools writes its
 * documents the same way, through a `Console` of its own on process.stdout).
 *
 * https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
 */

/** The units CloudWatch accepts (MetricDatum), as EMF names them. */
export type EmfUnit =
  | 'Seconds'
  | 'Microseconds'
  | 'Milliseconds'
  | 'Bytes'
  | 'Kilobytes'
  | 'Megabytes'
  | 'Gigabytes'
  | 'Terabytes'
  | 'Bits'
  | 'Kilobits'
  | 'Megabits'
  | 'Gigabits'
  | 'Terabits'
  | 'Percent'
  | 'Count'
  | 'Bytes/Second'
  | 'Kilobytes/Second'
  | 'Megabytes/Second'
  | 'Gigabytes/Second'
  | 'Terabytes/Second'
  | 'Bits/Second'
  | 'Kilobits/Second'
  | 'Megabits/Second'
  | 'Gigabits/Second'
  | 'Terabits/Second'
  | 'Count/Second'
  | 'None';

export interface EmfMetric {
  readonly name: string;
  readonly unit: EmfUnit;
}

/** The specification's limits. */
const EMF_LIMITS = {
  /** Keys in one DimensionSet. */
  dimensions: 30,
  /** MetricDefinitions in one MetricDirective. */
  metrics: 100,
  /** Length of a namespace, a metric name or a dimension name. */
  nameLength: 255,
  /** Length of a dimension value (CloudWatch's Dimension). */
  dimensionValueLength: 1024,
} as const;

/**
 * Serialises EMF documents of one fixed shape: one namespace, one dimension set, and the
 * metrics of `metrics` (keyed by the caller's own keys). A document carries the metrics
 * whose value is a finite number; any other value (undefined, NaN) leaves the metric out of
 * that document, since EMF has no way to say "no value".
 */
export class EmfDocumentWriter<K extends string> {
  readonly #keys: readonly K[];
  /** `{"Name":"…","Unit":"…"}` per metric, in key order. */
  readonly #definitions: readonly string[];
  /** `,"Name":` per metric: the root member its value follows. */
  readonly #members: readonly string[];
  readonly #directiveHead: string;
  readonly #directiveTail: string;
  /** The whole metadata part when every metric has a value: the usual document. */
  readonly #allMetrics: string;
  /**
   * The previous document's values, and all of it after the timestamp: a warm environment's
   * documents differ in their timestamp alone (the same latency, gauges and zero counters),
   * and reusing that part spares building it again, value by value.
   */
  #lastValues: (number | undefined)[] = [];
  #lastRest = '';

  constructor(
    namespace: string,
    dimensions: Readonly<Record<string, string>>,
    metrics: Readonly<Record<K, EmfMetric>>,
  ) {
    this.#keys = Object.keys(metrics) as K[];
    const names = Object.keys(dimensions);
    checkShape(namespace, dimensions, this.#keys.length);
    const definitions: string[] = [];
    const members: string[] = [];
    for (const key of this.#keys) {
      const { name, unit } = metrics[key];
      checkName('metric name', name);
      if (Object.hasOwn(dimensions, name) || name === '_aws') {
        throw new RangeError(`EMF: metric name ${JSON.stringify(name)} is taken`);
      }
      definitions.push(`{"Name":${JSON.stringify(name)},"Unit":${JSON.stringify(unit)}}`);
      members.push(`,${JSON.stringify(name)}:`);
    }
    this.#definitions = definitions;
    this.#members = members;
    this.#directiveHead =
      `,"CloudWatchMetrics":[{"Namespace":${JSON.stringify(namespace)},` +
      `"Dimensions":[${JSON.stringify(names)}],"Metrics":[`;
    const dimensionMembers = names
      .map((name) => `,${JSON.stringify(name)}:${JSON.stringify(dimensions[name])}`)
      .join('');
    this.#directiveTail = `]}]}${dimensionMembers}`;
    this.#allMetrics = this.#directiveHead + definitions.join(',') + this.#directiveTail;
  }

  /**
   * One document as one line (newline included), or undefined when no metric has a value (a
   * document without metrics would be an empty MetricDirective).
   */
  serialize(values: Readonly<Partial<Record<K, number>>>, timestamp: number): string | undefined {
    const rest = this.#sameAsLast(values) ? this.#lastRest : this.#rest(values);
    if (rest === undefined) return undefined;
    return `{"_aws":{"Timestamp":${Math.trunc(timestamp)}${rest}`;
  }

  /** Whether `values` are those of the previous document, value for value. */
  #sameAsLast(values: Readonly<Partial<Record<K, number>>>): boolean {
    const keys = this.#keys;
    const last = this.#lastValues;
    if (last.length !== keys.length) return false;
    for (let i = 0; i < keys.length; i++) {
      if (values[keys[i] as K] !== last[i]) return false;
    }
    return true;
  }

  /** The document after its timestamp, remembered for the next one; undefined without values. */
  #rest(values: Readonly<Partial<Record<K, number>>>): string | undefined {
    const parts: (string | number)[] = [];
    const keys = this.#keys;
    for (let i = 0; i < keys.length; i++) {
      const value = values[keys[i] as K];
      if (isMetricValue(value)) parts.push(this.#members[i] as string, value);
    }
    if (parts.length === 0) return undefined;
    const metadata = parts.length === 2 * keys.length ? this.#allMetrics : this.#partial(values);
    this.#lastValues = keys.map((key) => values[key]);
    // Joined rather than concatenated: one flat string, which every later document reuses and
    // the write copies at once, where a chain of twenty concatenations is walked on every write.
    this.#lastRest = [metadata, ...parts, '}\n'].join('');
    return this.#lastRest;
  }

  /** The metadata part for a document that has values for some metrics only. */
  #partial(values: Readonly<Partial<Record<K, number>>>): string {
    const definitions = this.#definitions.filter((_, i) =>
      isMetricValue(values[this.#keys[i] as K]),
    );
    return this.#directiveHead + definitions.join(',') + this.#directiveTail;
  }
}

function isMetricValue(value: number | undefined): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

function checkShape(
  namespace: string,
  dimensions: Readonly<Record<string, string>>,
  metricCount: number,
): void {
  checkName('namespace', namespace);
  const names = Object.keys(dimensions);
  if (names.length > EMF_LIMITS.dimensions) {
    throw new RangeError(`EMF: at most ${EMF_LIMITS.dimensions} dimensions, got ${names.length}`);
  }
  for (const name of names) {
    checkName('dimension name', name);
    const value = dimensions[name];
    if (typeof value !== 'string' || value.trim() === '') {
      throw new RangeError(`EMF: dimension ${name} needs a non-empty string value`);
    }
    if (value.length > EMF_LIMITS.dimensionValueLength) {
      throw new RangeError(
        `EMF: dimension ${name} is longer than ${EMF_LIMITS.dimensionValueLength} characters`,
      );
    }
  }
  if (metricCount < 1 || metricCount > EMF_LIMITS.metrics) {
    throw new RangeError(`EMF: 1 to ${EMF_LIMITS.metrics} metrics, got ${metricCount}`);
  }
}

function checkName(what: string, name: string): void {
  if (name.length < 1 || name.length > EMF_LIMITS.nameLength) {
    throw new RangeError(`EMF: a ${what} has 1 to ${EMF_LIMITS.nameLength} characters`);
  }
}
