/**
 * A validator for CloudWatch Embedded Metric Format documents, written from the specification
 * (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html)
 * and CloudWatch's limits, so that every document the library writes can be checked in tests
 * against what CloudWatch Logs accepts, not against the library's own idea of it.
 *
 * What it checks, rule by rule (the spec's MUST / MUST NOT):
 * - the log event is one JSON object, nothing before or after it, at most 256 KB (the spec's
 *   older, stricter figure; CloudWatch Logs now takes 1 MB);
 * - `_aws` is an object with exactly `Timestamp` (an integer: ms since the epoch; CloudWatch
 *   takes at most 14 days past and 2 hours ahead) and `CloudWatchMetrics` (an array of
 *   MetricDirectives); objects defined by the spec carry no other members;
 * - a MetricDirective has exactly `Namespace` (1 to 255 characters, not blank, not `AWS/…`),
 *   `Dimensions` (at least one DimensionSet) and `Metrics` (at most 100 MetricDefinitions);
 * - a DimensionSet is an array of at most 30 dimension names (1 to 255 characters), each a
 *   root member whose value is a string (CloudWatch: 1 to 1024 characters, not blank);
 * - a MetricDefinition has `Name` (1 to 255 characters, unique in its directive), an optional
 *   `Unit` from CloudWatch's units and an optional `StorageResolution` (1 or 60), nothing else;
 *   its root member is a finite number or an array of at most 100 of them.
 */

export const EMF_UNITS: ReadonlySet<string> = new Set([
  'Seconds',
  'Microseconds',
  'Milliseconds',
  'Bytes',
  'Kilobytes',
  'Megabytes',
  'Gigabytes',
  'Terabytes',
  'Bits',
  'Kilobits',
  'Megabits',
  'Gigabits',
  'Terabits',
  'Percent',
  'Count',
  'Bytes/Second',
  'Kilobytes/Second',
  'Megabytes/Second',
  'Gigabytes/Second',
  'Terabytes/Second',
  'Bits/Second',
  'Kilobits/Second',
  'Megabits/Second',
  'Gigabits/Second',
  'Terabits/Second',
  'Count/Second',
  'None',
]);

const MAX_EVENT_BYTES = 256 * 1024;
const MAX_DIMENSIONS = 30;
const MAX_METRICS = 100;
const MAX_VALUES = 100;
const MAX_NAME = 255;
const MAX_DIMENSION_VALUE = 1024;
const MAX_PAST_MS = 14 * 24 * 3_600_000;
const MAX_FUTURE_MS = 2 * 3_600_000;

/**
 * What is wrong with one log line as an EMF document: an empty list when it is valid.
 * `now` bounds the timestamp as CloudWatch does.
 */
export function emfViolations(line: string, now = Date.now()): string[] {
  const problems: string[] = [];
  if (Buffer.byteLength(line) > MAX_EVENT_BYTES) problems.push('larger than 256 KB');
  if (line !== line.trim()) problems.push('data around the JSON object');
  let doc: unknown;
  try {
    doc = JSON.parse(line);
  } catch {
    return [...problems, 'not JSON'];
  }
  if (!isObject(doc)) return [...problems, 'not a JSON object'];
  const aws = doc._aws;
  if (!isObject(aws)) return [...problems, '_aws is not an object'];
  extraMembers(problems, '_aws', aws, ['Timestamp', 'CloudWatchMetrics']);

  const timestamp = aws.Timestamp;
  if (typeof timestamp !== 'number' || !Number.isInteger(timestamp) || timestamp < 0) {
    problems.push('_aws.Timestamp is not an integer of milliseconds since the epoch');
  } else if (timestamp < now - MAX_PAST_MS || timestamp > now + MAX_FUTURE_MS) {
    problems.push('_aws.Timestamp is more than 14 days past or 2 hours ahead');
  }

  const directives = aws.CloudWatchMetrics;
  if (!Array.isArray(directives)) return [...problems, '_aws.CloudWatchMetrics is not an array'];
  directives.forEach((directive: unknown, i) => {
    checkDirective(problems, `CloudWatchMetrics[${i}]`, directive, doc);
  });
  return problems;
}

function checkDirective(
  problems: string[],
  at: string,
  directive: unknown,
  root: Record<string, unknown>,
): void {
  if (!isObject(directive)) {
    problems.push(`${at} is not an object`);
    return;
  }
  extraMembers(problems, at, directive, ['Namespace', 'Dimensions', 'Metrics']);
  const namespace = directive.Namespace;
  if (!isName(namespace)) problems.push(`${at}.Namespace is not 1 to ${MAX_NAME} characters`);
  else if (namespace.startsWith('AWS/')) problems.push(`${at}.Namespace is reserved (AWS/)`);

  const sets = directive.Dimensions;
  if (!Array.isArray(sets) || sets.length === 0) {
    problems.push(`${at}.Dimensions is not an array of DimensionSets`);
  } else {
    sets.forEach((set: unknown, i) => {
      checkDimensionSet(problems, `${at}.Dimensions[${i}]`, set, root);
    });
  }

  const metrics = directive.Metrics;
  if (!Array.isArray(metrics)) {
    problems.push(`${at}.Metrics is not an array`);
    return;
  }
  if (metrics.length > MAX_METRICS) problems.push(`${at}.Metrics has more than ${MAX_METRICS}`);
  const names = new Set<string>();
  metrics.forEach((definition: unknown, i) => {
    const where = `${at}.Metrics[${i}]`;
    if (!isObject(definition)) {
      problems.push(`${where} is not an object`);
      return;
    }
    extraMembers(problems, where, definition, ['Name', 'Unit', 'StorageResolution']);
    const { Name: name, Unit: unit, StorageResolution: resolution } = definition;
    if (unit !== undefined && (typeof unit !== 'string' || !EMF_UNITS.has(unit))) {
      problems.push(`${where}.Unit ${JSON.stringify(unit)} is not a CloudWatch unit`);
    }
    if (resolution !== undefined && resolution !== 1 && resolution !== 60) {
      problems.push(`${where}.StorageResolution is neither 1 nor 60`);
    }
    if (!isName(name)) {
      problems.push(`${where}.Name is not 1 to ${MAX_NAME} characters`);
      return;
    }
    if (names.has(name)) problems.push(`${where}.Name ${name} is defined twice`);
    names.add(name);
    const value = root[name];
    const ok = Array.isArray(value)
      ? value.length <= MAX_VALUES && value.every(isFiniteNumber)
      : isFiniteNumber(value);
    if (!ok) {
      problems.push(`metric ${name}: not a number or an array of at most ${MAX_VALUES} numbers`);
    }
  });
}

function checkDimensionSet(
  problems: string[],
  at: string,
  set: unknown,
  root: Record<string, unknown>,
): void {
  if (!Array.isArray(set)) {
    problems.push(`${at} is not an array`);
    return;
  }
  if (set.length > MAX_DIMENSIONS) problems.push(`${at} has more than ${MAX_DIMENSIONS} keys`);
  for (const key of set as unknown[]) {
    if (!isName(key)) {
      problems.push(`${at}: a dimension name is not 1 to ${MAX_NAME} characters`);
      continue;
    }
    const value = root[key];
    if (typeof value !== 'string' || value.trim() === '' || value.length > MAX_DIMENSION_VALUE) {
      problems.push(`dimension ${key}: not a string of 1 to ${MAX_DIMENSION_VALUE} characters`);
    }
  }
}

function extraMembers(
  problems: string[],
  at: string,
  object: Record<string, unknown>,
  allowed: readonly string[],
): void {
  for (const key of Object.keys(object)) {
    if (!allowed.includes(key))
      problems.push(`${at} has a member the spec does not define: ${key}`);
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isName(value: unknown): value is string {
  return (
    typeof value === 'string' &&
    value.length >= 1 &&
    value.length <= MAX_NAME &&
    value.trim() !== ''
  );
}

function isFiniteNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

/** Throws, naming each violation, unless `line` is a valid EMF document. */
export function assertValidEmf(line: string): void {
  const problems = emfViolations(line);
  if (problems.length > 0) {
    throw new Error(`invalid EMF document (${problems.join('; ')}): ${line}`);
  }
}
