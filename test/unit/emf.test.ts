/**
 * The library's own EMF writer (src/emf.ts) and the pool's emitter (src/metrics.ts), checked
 * against the EMF specification by the validator in test/helpers/emf.ts, which is itself
 * checked first: each rule it enforces rejects a document that breaks it.
 */
import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { EmfDocumentWriter, type EmfMetric, type EmfUnit } from '../../src/emf.js';
import {
  type InvocationMetrics,
  METRIC_DIMENSION,
  METRIC_NAMES,
  METRIC_UNITS,
  type MetricKey,
  PoolMetricsEmitter,
  poolMetricsEmitter,
} from '../../src/metrics.js';
import { assertValidEmf, EMF_UNITS, emfViolations } from '../helpers/emf.js';

const NOW = Date.now();

/** A valid document to break one rule at a time. */
function validDoc(): Record<string, unknown> & {
  _aws: { Timestamp: unknown; CloudWatchMetrics: Array<Record<string, unknown>> };
} {
  return {
    _aws: {
      Timestamp: NOW,
      CloudWatchMetrics: [
        {
          Namespace: 'App',
          Dimensions: [['FunctionName']],
          Metrics: [{ Name: 'Latency', Unit: 'Milliseconds' }],
        },
      ],
    },
    FunctionName: 'orders',
    Latency: 3,
  };
}

const line = (doc: unknown) => JSON.stringify(doc);
const directive = (doc: ReturnType<typeof validDoc>) =>
  doc._aws.CloudWatchMetrics[0] as Record<string, unknown>;

describe('the EMF validator (test helper)', () => {
  it('accepts the specification example and a valid document', () => {
    expect(emfViolations(line(validDoc()))).toEqual([]);
    const example = {
      _aws: {
        Timestamp: NOW,
        CloudWatchMetrics: [
          {
            Namespace: 'lambda-function-metrics',
            Dimensions: [['functionVersion']],
            Metrics: [{ Name: 'time', Unit: 'Milliseconds' }],
          },
        ],
      },
      functionVersion: '$LATEST',
      time: 100,
      requestId: '989ffbf8-9ace-4817-a57c-e4dd734019ee',
    };
    expect(emfViolations(line(example))).toEqual([]);
  });

  type Doc = ReturnType<typeof validDoc>;
  // Each breaks one rule of a valid document, in place (undefined members vanish in JSON).
  const broken: Array<[string, (doc: Doc) => void, RegExp]> = [
    ['no _aws', (d) => Object.assign(d, { _aws: undefined }), /_aws is not an object/],
    ['a fractional Timestamp', (d) => Object.assign(d._aws, { Timestamp: NOW + 0.5 }), /Timestamp/],
    [
      'a Timestamp in seconds',
      (d) => Object.assign(d._aws, { Timestamp: Math.floor(NOW / 1000) }),
      /14 days/,
    ],
    ['a string Timestamp', (d) => Object.assign(d._aws, { Timestamp: String(NOW) }), /Timestamp/],
    ['no Namespace', (d) => Object.assign(directive(d), { Namespace: undefined }), /Namespace/],
    [
      'an AWS/ Namespace',
      (d) => Object.assign(directive(d), { Namespace: 'AWS/Lambda' }),
      /reserved/,
    ],
    ['no DimensionSet', (d) => Object.assign(directive(d), { Dimensions: [] }), /Dimensions/],
    [
      '31 dimensions',
      (d) => {
        const keys = Array.from({ length: 31 }, (_, i) => `D${i}`);
        directive(d).Dimensions = [keys];
        for (const k of keys) d[k] = 'x';
      },
      /more than 30/,
    ],
    [
      'a dimension without its member',
      (d) => Object.assign(d, { FunctionName: undefined }),
      /dimension FunctionName/,
    ],
    ['a numeric dimension', (d) => Object.assign(d, { FunctionName: 7 }), /dimension FunctionName/],
    [
      '101 metrics',
      (d) => {
        directive(d).Metrics = Array.from({ length: 101 }, (_, i) => ({ Name: `M${i}` }));
        for (let i = 0; i < 101; i++) d[`M${i}`] = i;
      },
      /more than 100/,
    ],
    [
      'a unit CloudWatch lacks',
      (d) => Object.assign(directive(d), { Metrics: [{ Name: 'Latency', Unit: 'ms' }] }),
      /Unit/,
    ],
    ['a metric without its value', (d) => Object.assign(d, { Latency: undefined }), /Latency/],
    ['a string metric value', (d) => Object.assign(d, { Latency: '3' }), /metric Latency/],
    ['a null value (NaN serialised)', (d) => Object.assign(d, { Latency: null }), /Latency/],
    ['101 values', (d) => Object.assign(d, { Latency: Array(101).fill(1) }), /metric Latency/],
    [
      'a metric defined twice',
      (d) => Object.assign(directive(d), { Metrics: [{ Name: 'Latency' }, { Name: 'Latency' }] }),
      /twice/,
    ],
    [
      'a member the spec lacks',
      (d) => Object.assign(directive(d), { Extra: 1 }),
      /does not define: Extra/,
    ],
    [
      'a StorageResolution of 5',
      (d) => Object.assign(directive(d), { Metrics: [{ Name: 'Latency', StorageResolution: 5 }] }),
      /StorageResolution/,
    ],
  ];
  it.each(broken)('rejects %s', (_name, breakIt, expected) => {
    const doc = validDoc();
    breakIt(doc);
    expect(emfViolations(line(doc)).join('; ')).toMatch(expected);
  });

  it('rejects data around the object, and what is not JSON', () => {
    expect(emfViolations(`prefix ${line(validDoc())}`)).not.toEqual([]);
    expect(emfViolations(`${line(validDoc())} `)).toContain('data around the JSON object');
    expect(emfViolations('{"_aws":')).toContain('not JSON');
  });
});

const LIBRARY_METRICS = Object.fromEntries(
  (Object.keys(METRIC_NAMES) as MetricKey[]).map((k) => [
    k,
    { name: METRIC_NAMES[k], unit: METRIC_UNITS[k] },
  ]),
) as Record<MetricKey, EmfMetric>;

describe('EmfDocumentWriter', () => {
  const writer = new EmfDocumentWriter(
    'LambdaRedisPool',
    { FunctionName: 'orders' },
    LIBRARY_METRICS,
  );
  const full: Required<InvocationMetrics> = {
    acquireLatency: 0.25,
    acquireErrors: 0,
    connectionReused: 1,
    connectionsCreated: 0,
    connectionsFailed: 2,
    connectionsActive: 1,
    connectionsIdle: 0,
    reconnects: 0,
    validationFailures: 0,
    coldStart: 0,
  };

  it('writes one valid line: namespace, the dimension, every metric with its unit and value', () => {
    const text = writer.serialize(full, NOW) as string;
    expect(text.endsWith('\n')).toBe(true);
    expect(text.indexOf('\n')).toBe(text.length - 1);
    assertValidEmf(text.slice(0, -1));
    const doc = JSON.parse(text);
    expect(doc._aws).toEqual({
      Timestamp: NOW,
      CloudWatchMetrics: [
        {
          Namespace: 'LambdaRedisPool',
          Dimensions: [['FunctionName']],
          Metrics: (Object.keys(METRIC_NAMES) as MetricKey[]).map((k) => ({
            Name: METRIC_NAMES[k],
            Unit: METRIC_UNITS[k],
          })),
        },
      ],
    });
    expect(doc.FunctionName).toBe('orders');
    for (const k of Object.keys(full) as MetricKey[]) expect(doc[METRIC_NAMES[k]]).toBe(full[k]);
  });

  it('leaves out a metric without a finite value, from the values and the definitions alike', () => {
    const text = writer.serialize(
      { ...full, connectionReused: undefined, acquireLatency: Number.NaN, reconnects: Infinity },
      NOW,
    ) as string;
    assertValidEmf(text.trim());
    const doc = JSON.parse(text);
    const declared = doc._aws.CloudWatchMetrics[0].Metrics.map((m: { Name: string }) => m.Name);
    for (const gone of [
      METRIC_NAMES.connectionReused,
      METRIC_NAMES.acquireLatency,
      METRIC_NAMES.reconnects,
    ]) {
      expect(declared).not.toContain(gone);
      expect(doc).not.toHaveProperty(gone);
    }
    expect(declared).toHaveLength(7);
  });

  it('writes nothing for a record without values (a directive needs a metric)', () => {
    expect(writer.serialize({}, NOW)).toBeUndefined();
  });

  it('refuses, when made, a shape the specification does not allow', () => {
    const dims = Object.fromEntries(Array.from({ length: 31 }, (_, i) => [`D${i}`, 'x']));
    expect(() => new EmfDocumentWriter('N', dims, LIBRARY_METRICS)).toThrow(/30 dimensions/);
    const many = Object.fromEntries(
      Array.from({ length: 101 }, (_, i) => [`m${i}`, { name: `M${i}`, unit: 'Count' as const }]),
    );
    expect(() => new EmfDocumentWriter('N', {}, many)).toThrow(/100 metrics/);
    expect(() => new EmfDocumentWriter('', {}, LIBRARY_METRICS)).toThrow(/namespace/);
    expect(() => new EmfDocumentWriter('N', { D: '' }, LIBRARY_METRICS)).toThrow(/dimension D/);
    expect(
      () => new EmfDocumentWriter('N', { D: 'x' }, { a: { name: 'D', unit: 'Count' } }),
    ).toThrow(/taken/);
  });

  it('a writer reusing the previous document for equal values writes what a fresh writer would (property)', () => {
    // Each record is the previous one with at most one metric changed (any metric, to any of a
    // few values, missing ones included), as a warm environment's records are.
    const keys = Object.keys(LIBRARY_METRICS) as MetricKey[];
    const value = fc.constantFrom(0, 1, 0.25, -0, Number.NaN, undefined);
    const edit = fc.option(fc.tuple(fc.constantFrom(...keys), value), { nil: undefined });
    fc.assert(
      fc.property(fc.array(edit, { minLength: 1, maxLength: 12 }), (edits) => {
        const reusing = new EmfDocumentWriter('Ns', { FunctionName: 'orders' }, LIBRARY_METRICS);
        let record: InvocationMetrics = { ...full };
        edits.forEach((change, i) => {
          if (change) record = { ...record, [change[0]]: change[1] };
          const fresh = new EmfDocumentWriter('Ns', { FunctionName: 'orders' }, LIBRARY_METRICS);
          expect(reusing.serialize(record, NOW + i)).toBe(fresh.serialize(record, NOW + i));
        });
      }),
      { numRuns: 500 },
    );
    // The common case, checked outright: the same values twice, a new timestamp.
    const first = writer.serialize(full, NOW) as string;
    const second = writer.serialize({ ...full }, NOW + 1) as string;
    expect(second).toBe(first.replace(`"Timestamp":${NOW}`, `"Timestamp":${NOW + 1}`));
    expect(writer.serialize({ ...full, connectionsActive: 2 }, NOW)).toContain(
      '"RedisConnectionsActive":2',
    );
  });

  it('any names and finite values make a valid document that reads back exactly (property)', () => {
    const name = fc.string({ minLength: 1, maxLength: 40 }).filter((s) => s.trim() !== '');
    const units = [...EMF_UNITS] as EmfUnit[];
    fc.assert(
      fc.property(
        name.filter((s) => !s.startsWith('AWS/')),
        fc.uniqueArray(name, { minLength: 1, maxLength: 12 }),
        name,
        fc.array(fc.option(fc.double(), { nil: undefined }), { minLength: 12, maxLength: 12 }),
        fc.constantFrom(...units),
        (namespace, metricNames, dimensionValue, values, unit) => {
          const dimension = 'Dim\u00e9"\\';
          fc.pre(!metricNames.includes(dimension) && !metricNames.includes('_aws'));
          const metrics = Object.fromEntries(
            metricNames.map((n, i) => [`k${i}`, { name: n, unit }]),
          );
          const record = Object.fromEntries(metricNames.map((_, i) => [`k${i}`, values[i]]));
          const w = new EmfDocumentWriter(namespace, { [dimension]: dimensionValue }, metrics);
          const text = w.serialize(record, NOW);
          const finite = metricNames.filter((_, i) => Number.isFinite(values[i]));
          if (finite.length === 0) {
            expect(text).toBeUndefined();
            return;
          }
          expect(emfViolations((text as string).slice(0, -1), NOW)).toEqual([]);
          const doc = JSON.parse(text as string);
          expect(doc._aws.CloudWatchMetrics[0].Namespace).toBe(namespace);
          expect(doc[dimension]).toBe(dimensionValue);
          expect(
            doc._aws.CloudWatchMetrics[0].Metrics.map((m: { Name: string }) => m.Name),
          ).toEqual(finite);
          metricNames.forEach((n, i) => {
            if (Number.isFinite(values[i])) expect(doc[n]).toBe(values[i] === 0 ? 0 : values[i]);
          });
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe("the pool's emitter", () => {
  const writes: string[] = [];
  const capture = () =>
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      writes.push(String(chunk));
      return true;
    });
  afterEach(() => {
    writes.length = 0;
    vi.restoreAllMocks();
  });
  const record: InvocationMetrics = { acquireLatency: 1, acquireErrors: 0, coldStart: 1 };

  const endOfTick = () => new Promise<void>((resolve) => process.nextTick(resolve));

  it("writes a tick's documents at the end of the tick, in one stdout write, one line each", async () => {
    const emitter = new PoolMetricsEmitter('Ns', 'orders-api');
    capture();
    emitter.publish(record);
    emitter.publish({ ...record, coldStart: 0 });
    expect(writes).toHaveLength(0);
    await endOfTick();
    expect(writes).toHaveLength(1);
    const lines = (writes[0] as string).split('\n');
    expect(lines.pop()).toBe(''); // every document ends its line
    expect(lines).toHaveLength(2);
    for (const line of lines) assertValidEmf(line);
    const docs = lines.map((line) => JSON.parse(line));
    expect(docs.map((doc) => doc.RedisPoolColdStart)).toEqual([1, 0]);
    expect(docs[0]._aws.CloudWatchMetrics[0].Dimensions).toEqual([[METRIC_DIMENSION]]);
    expect(docs[0][METRIC_DIMENSION]).toBe('orders-api');
    emitter.publish(record);
    await endOfTick();
    expect(writes).toHaveLength(2); // the next tick's document: a write of its own
  });

  it('flush(batch) writes a pending batch at once, and only once', async () => {
    const emitter = new PoolMetricsEmitter('Ns', 'fn');
    capture();
    const first = emitter.publish(record);
    const second = emitter.publish(record);
    expect(second).toBe(first);
    emitter.flush(first);
    expect(writes).toHaveLength(1);
    expect((writes[0] as string).split('\n')).toHaveLength(3);
    emitter.flush(first);
    await endOfTick();
    expect(writes).toHaveLength(1);
    const later = emitter.publish(record);
    emitter.flush(first); // an earlier batch, out already: the new one waits for its tick
    expect(writes).toHaveLength(1);
    emitter.flush(later);
    expect(writes).toHaveLength(2);
  });

  it("follows Powertools' switches, read when it is made: POWERTOOLS_METRICS_DISABLED, then POWERTOOLS_DEV", async () => {
    const documents = async (env: NodeJS.ProcessEnv) => {
      const emitter = poolMetricsEmitter('Ns', 'fn', env);
      const spy = capture();
      emitter?.publish(record);
      await endOfTick();
      spy.mockRestore();
      const count = writes.length;
      writes.length = 0;
      return count;
    };
    expect(await documents({})).toBe(1);
    expect(await documents({ POWERTOOLS_METRICS_DISABLED: 'true' })).toBe(0);
    expect(await documents({ POWERTOOLS_METRICS_DISABLED: '1' })).toBe(0);
    expect(await documents({ POWERTOOLS_METRICS_DISABLED: 'false' })).toBe(1);
    expect(await documents({ POWERTOOLS_DEV: 'true' })).toBe(0);
    expect(await documents({ POWERTOOLS_DEV: 'true', POWERTOOLS_METRICS_DISABLED: 'false' })).toBe(
      1,
    );
  });

  it('a blank function name still makes a valid dimension', async () => {
    const emitter = new PoolMetricsEmitter('Ns', ' ');
    capture();
    emitter.publish(record);
    await endOfTick();
    assertValidEmf((writes[0] as string).trimEnd());
  });
});
