/**
 * `npm run bench`: one run, one Redis, every figure side by side. Prints a table per section
 * (with its target and pass/MISS) and writes bench/results/latest.json (plus a timestamped
 * copy). `npm run bench -- --help` lists the options.
 *
 * Redis: REDIS_URL when set, else a private redis-server on a free port, stopped at the end,
 * also when the run is stopped (SIGINT, SIGTERM).
 */
import { execFileSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { BUNDLING } from '../functions/manifest.js';
import {
  benchColdStart,
  COLD_START_DEFAULTS,
  type ColdStartResult,
  MAX_BUNDLE_RATIO,
  MAX_FIRST_INVOCATION_RATIO,
  MAX_IMPORT_RATIO,
} from './cold-start.js';
import {
  benchOverhead,
  MAX_METRICS_COST_P50_US,
  MAX_OVERHEAD_P50_US,
  type OverheadResult,
} from './overhead.js';
import { benchPeers, PEER_DEFAULTS, type PeersResult, type ShapeResult } from './peers.js';
import { type BenchRedis, startBenchRedis } from './redis.js';
import { renderTable, type Table, verdict } from './table.js';
import { benchThroughput, MIN_THROUGHPUT_RATIO, type ThroughputResult } from './throughput.js';

/** Where the results (and the cold-start section's bundles) go; BENCH_RESULTS_DIR for elsewhere (tests). */
const RESULTS = process.env.BENCH_RESULTS_DIR
  ? resolve(process.env.BENCH_RESULTS_DIR)
  : resolve(fileURLToPath(new URL('results', import.meta.url)));

const log = (line: string) => process.stderr.write(`${line}\n`);

const SECTIONS = ['peers', 'throughput', 'overhead', 'cold-start'] as const;
type Section = (typeof SECTIONS)[number];

interface Options {
  readonly sections: readonly Section[];
  readonly rounds: number;
  readonly blockMs: number;
  readonly inflight: number;
  readonly imports: number;
}

const HELP = `npm run bench [-- options]

Measures lambda-redis-pool against what a user would write without it, on this machine, in one
run against one Redis, and prints ratios (the headline) and absolute figures (this machine's,
printed with its CPU, core count and load average). Results: bench/results/latest.json
(BENCH_RESULTS_DIR to write them elsewhere).

Redis: REDIS_URL when set; otherwise a private redis-server on a free loopback port, stopped at
the end of the run, and when the run is stopped (Ctrl-C, SIGTERM).

Options:
  --only <sections>   comma-separated sections to run, in this order by default:
                        peers       the two Lambda shapes (one invocation at a time, 1 GET;
                                    N in flight, GET SET GET) against bare ioredis, ioredis
                                    with auto-pipelining, node-redis, a per-invocation pool
                        throughput  the throughput function against a bare ioredis client
                        overhead    withRedisPool's own cost per invocation, metrics off/on
                        cold-start  bundle size and import time of the functions, and
                                    the health function's first invocation after init
                                    against an ioredis-only handler's (fresh processes)
  --rounds <n>        rounds of the peers section (default ${PEER_DEFAULTS.rounds})
  --block-ms <ms>     one side's block in a peers round (default ${PEER_DEFAULTS.blockMs})
  --inflight <n>      invocations in flight in the Managed Instances shape (default ${PEER_DEFAULTS.inflight})
  --imports <n>       fresh node processes per bundle in the cold-start section, each one
                      import and, for the invoked bundles, two invocations (default ${COLD_START_DEFAULTS.imports})
  -h, --help          print this and exit

Examples:
  npm run bench
  npm run bench -- --only peers --rounds 20
  npm run bench -- --only cold-start --imports 60
  REDIS_URL=redis://127.0.0.1:6379 npm run bench -- --only overhead
`;

/** The options, or a message saying what is wrong with them. */
function parseOptions(argv: readonly string[]): Options | { help: true } | { error: string } {
  let sections: readonly Section[] = SECTIONS;
  let rounds = PEER_DEFAULTS.rounds;
  let blockMs = PEER_DEFAULTS.blockMs;
  let inflight = PEER_DEFAULTS.inflight;
  let imports = COLD_START_DEFAULTS.imports;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const [flag, inline] = arg.startsWith('--') && arg.includes('=') ? arg.split('=', 2) : [arg];
    const value = (): string | undefined => inline ?? argv[++i];
    const count = (name: string, min: number): number | string => {
      const text = value();
      const n = Number(text);
      return Number.isInteger(n) && n >= min ? n : `${name} needs an integer ≥ ${min}, got ${text}`;
    };
    switch (flag) {
      case '-h':
      case '--help':
        return { help: true };
      case '--only': {
        const names = (value() ?? '').split(',').filter(Boolean);
        const unknown = names.filter((n) => !(SECTIONS as readonly string[]).includes(n));
        if (names.length === 0 || unknown.length > 0) {
          return {
            error: `--only takes ${SECTIONS.join(', ')}; got ${unknown.join(', ') || 'nothing'}`,
          };
        }
        sections = SECTIONS.filter((s) => names.includes(s));
        break;
      }
      case '--rounds': {
        const n = count('--rounds', 1);
        if (typeof n === 'string') return { error: n };
        rounds = n;
        break;
      }
      case '--block-ms': {
        const n = count('--block-ms', 10);
        if (typeof n === 'string') return { error: n };
        blockMs = n;
        break;
      }
      case '--inflight': {
        const n = count('--inflight', 2);
        if (typeof n === 'string') return { error: n };
        inflight = n;
        break;
      }
      case '--imports': {
        const n = count('--imports', 1);
        if (typeof n === 'string') return { error: n };
        imports = n;
        break;
      }
      default:
        return { error: `unknown option ${arg}` };
    }
  }
  return { sections, rounds, blockMs, inflight, imports };
}

/** The load average, rounded, and the machine it is of. */
function load(): number[] {
  return loadavg().map((n) => Math.round(n * 100) / 100);
}

/**
 * Stops the private redis-server when the run is stopped, then exits as the signal would
 * have: no redis-server outlives `npm run bench`.
 */
function stopOnSignals(redis: BenchRedis): () => void {
  const handlers = (['SIGINT', 'SIGTERM'] as const).map((signal) => {
    const handler = () => {
      log(
        `\n${signal}: stopping ${redis.source.startsWith('private') ? 'the private redis-server' : 'the run'}…`,
      );
      void redis.stop().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
    };
    process.once(signal, handler);
    return [signal, handler] as const;
  });
  return () => {
    for (const [signal, handler] of handlers) process.removeListener(signal, handler);
  };
}

async function main(): Promise<void> {
  const parsed = parseOptions(process.argv.slice(2));
  if ('help' in parsed) {
    process.stdout.write(HELP);
    return;
  }
  if ('error' in parsed) {
    process.stderr.write(`${parsed.error}\n\n${HELP}`);
    process.exitCode = 2;
    return;
  }
  const options = parsed;
  const startedAt = new Date();
  const t0 = performance.now();
  const loadavgAtStart = load();
  const redis = await startBenchRedis();
  const removeSignalHandlers = stopOnSignals(redis);
  try {
    // Read once, when the throughput function's module-scope pool is created.
    process.env.REDIS_URL = redis.url;
    process.env.REDIS_METRICS = 'false';
    process.env.AWS_LAMBDA_FUNCTION_NAME ??= 'lambda-redis-pool-bench';
    log(`redis: ${redis.source}`);
    log(`load average at start: ${loadavgAtStart.join(' ')}`);
    const redisVersion = await serverVersion(redis.url);
    const runs = (section: Section) => options.sections.includes(section);

    let peers: PeersResult | undefined;
    if (runs('peers')) {
      log('peers: the two Lambda shapes, every side in alternating blocks…');
      peers = await benchPeers(
        redis.url,
        {
          ...PEER_DEFAULTS,
          rounds: options.rounds,
          blockMs: options.blockMs,
          inflight: options.inflight,
        },
        log,
      );
    }
    let throughput: ThroughputResult | undefined;
    if (runs('throughput')) {
      log('throughput: withRedisPool (throughput handler) vs bare ioredis client, alternating…');
      throughput = await benchThroughput(redis.url, undefined, log);
    }
    let overhead: OverheadResult | undefined;
    if (runs('overhead')) {
      log('overhead: bare vs withRedisPool (metrics off / on), interleaved blocks…');
      overhead = await benchOverhead();
    }
    let coldStart: ColdStartResult | undefined;
    if (runs('cold-start')) {
      log(
        'cold start: bundling, then importing each bundle in fresh node processes, and invoking the health function and its baseline…',
      );
      coldStart = await benchColdStart(redis.url, {
        ...COLD_START_DEFAULTS,
        imports: options.imports,
      });
    }

    const { closeRedisPools } = await import('lambda-redis-pool');
    await closeRedisPools();
    const runSeconds = Math.round((performance.now() - t0) / 100) / 10;

    const machine = {
      date: startedAt.toISOString(),
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model ?? 'unknown',
      loadavgAtStart,
      loadavgAtEnd: load(),
      memoryGiB: Math.round(totalmem() / 2 ** 30),
      node: process.version,
      platform: `${process.platform} ${process.arch}`,
      redis: `${redisVersion}; ${redis.source}`,
      commit: gitCommit(),
      runSeconds,
    };
    const report = { machine, options, peers, throughput, overhead, coldStart };

    const tables = [
      ...(peers?.shapes.map((shape) => peersTable(shape, peers)) ?? []),
      ...(throughput ? [throughputTable(throughput)] : []),
      ...(overhead ? [overheadTable(overhead)] : []),
      ...(coldStart ? [coldStartTable(coldStart), firstInvocationTable(coldStart)] : []),
    ];
    process.stdout.write(
      `\nlambda-redis-pool bench, ${machine.date}, ${machine.cpus} × ${machine.cpuModel}, node ${machine.node}, commit ${machine.commit}\n` +
        `redis ${machine.redis}\n` +
        `load average (1, 5, 15 min) ${machine.loadavgAtStart.join(' ')} at start, ${machine.loadavgAtEnd.join(' ')} at end\n\n${tables.map(renderTable).join('\n\n')}\n\n` +
        `run time ${runSeconds} s\n`,
    );
    await mkdir(RESULTS, { recursive: true });
    const json = `${JSON.stringify(report, null, 2)}\n`;
    await writeFile(join(RESULTS, 'latest.json'), json);
    await writeFile(join(RESULTS, `${startedAt.toISOString().replace(/[:.]/g, '-')}.json`), json);
    log(`wrote ${join(RESULTS, 'latest.json')}`);
  } finally {
    removeSignalHandlers();
    await redis.stop();
  }
}

/** Targets of issue 12 for the peers shapes: ratio to bare ioredis (and to node-redis). */
const PEER_TARGETS: Record<ShapeResult['shape'], { bare: number; nodeRedis?: number }> = {
  classic: { bare: 0.95 },
  'managed-instances': { bare: 2.0, nodeRedis: 1.0 },
};

function peersTable(shape: ShapeResult, result: PeersResult): Table {
  const target = PEER_TARGETS[shape.shape];
  const nodeRedis = shape.sides.find((s) => s.name.startsWith('node-redis'));
  const ratio = (x: number) => `${x.toFixed(2)}×`;
  return {
    title: `Peers, ${shape.description}: ${result.settings.rounds} rounds × ${result.settings.blockMs} ms per side, blocks interleaved (medians)`,
    head: [
      'side',
      'ratio',
      'p25–p75',
      'CPU ratio',
      'invocations/s',
      'p50 µs',
      'p99 µs',
      'CPU µs/inv',
      'target',
      'result',
    ],
    rows: shape.sides.map((side) => {
      const isDefault = side.name.startsWith('withRedisPool, defaults');
      const passes =
        side.ratio.median >= target.bare &&
        (target.nodeRedis === undefined ||
          nodeRedis === undefined ||
          side.perSec / nodeRedis.perSec >= target.nodeRedis);
      return [
        side.name,
        ratio(side.ratio.median),
        `${ratio(side.ratio.p25)}–${ratio(side.ratio.p75)}`,
        ratio(side.cpuRatio),
        side.perSec,
        side.p50Us,
        side.p99Us,
        side.cpuUsPerInvocation,
        isDefault
          ? `≥ ${target.bare}× bare${target.nodeRedis ? `, ≥ ${target.nodeRedis}× node-redis` : ''}`
          : '',
        isDefault ? verdict(passes) : '',
      ];
    }),
    notes: [
      "ratio: invocations/s over bare ioredis in the same round, median and interquartile range over the rounds (higher is better); CPU ratio: bare CPU per invocation over the side's, median (higher is better)",
      `each side its own client or pool; a fresh Lambda context per invocation; metrics-on EMF lines written to /dev/null (${result.emfLines.toLocaleString('en-US')} in this run)`,
    ],
  };
}

function throughputTable(r: ThroughputResult): Table {
  const s = r.settings;
  return {
    title: `Throughput: ${s.op}, concurrency ${s.concurrency}, ${s.valueBytes} B values, ${s.keyspace} keys, ${s.rounds} rounds × ${s.durationMs} ms per side (medians)`,
    head: ['client', 'ops/s', 'p50 ms', 'p99 ms', 'CPU µs/op', 'target', 'result'],
    rows: [
      [
        'throughput handler (withRedisPool)',
        r.pool.opsPerSec,
        r.pool.p50Ms,
        r.pool.p99Ms,
        r.pool.cpuUsPerOp,
        '',
        '',
      ],
      [
        'bare module-scope ioredis',
        r.bare.opsPerSec,
        r.bare.p50Ms,
        r.bare.p99Ms,
        r.bare.cpuUsPerOp,
        '',
        '',
      ],
      [
        'ratio pool / bare (paired)',
        `${r.ratio.opsPerSec.toFixed(3)}×`,
        `${r.ratio.p50.toFixed(3)}×`,
        `${r.ratio.p99.toFixed(3)}×`,
        `${r.ratio.cpuPerOp.toFixed(3)}×`,
        `ops/s ≥ ${MIN_THROUGHPUT_RATIO}×`,
        verdict(r.target.pass),
      ],
    ],
    notes: [
      `per-round ops/s ratios: ${r.roundRatios.map((x) => x.toFixed(3)).join(', ')}; ratio of medians ${r.ratioOfMedians.toFixed(3)}×`,
      'pool metrics off (REDIS_METRICS=false); sides alternate A B, B A, …; CPU: this process, user + system',
    ],
  };
}

function overheadTable(r: OverheadResult): Table {
  const row = (name: string, f: OverheadResult['metricsOn']) => [
    name,
    f.p50Us,
    f.p99Us,
    f.meanUs,
    f.overheadP50Us,
    f.overheadP99Us,
    `overhead p50 < ${MAX_OVERHEAD_P50_US} µs`,
    verdict(f.pass),
  ];
  return {
    title: `Per-invocation overhead: ${r.settings.invocations.toLocaleString('en-US')} sequential calls per variant, blocks of ${r.settings.block} interleaved (µs)`,
    head: ['handler', 'p50', 'p99', 'mean', '+p50', '+p99', 'target', 'result'],
    rows: [
      ['bare async () => "ok"', r.bare.p50Us, r.bare.p99Us, r.bare.meanUs, '', '', '', ''],
      row('withRedisPool, metrics off', r.metricsOff),
      row('withRedisPool, metrics on (default)', r.metricsOn),
      [
        'metrics on minus metrics off',
        '',
        '',
        '',
        r.metricsCost.p50Us,
        r.metricsCost.p99Us,
        `≤ ${MAX_METRICS_COST_P50_US} µs p50`,
        verdict(r.metricsCost.pass),
      ],
    ],
    notes: [
      '+p50/+p99: wrapped minus bare at that percentile',
      `metrics on: EMF built, serialized and written to /dev/null with a synchronous write (${r.emfLinesWritten.toLocaleString('en-US')} lines for ${r.metricsOnInvocations.toLocaleString('en-US')} timed invocations)`,
    ],
  };
}

function coldStartTable(r: ColdStartResult): Table {
  const kb = (n: number) => `${(n / 1024).toFixed(1)} KiB`;
  return {
    title: `Cold start: esbuild bundle with the manifest's BUNDLING, as the CDK stack's NodejsFunction builds it (${BUNDLING.format}, ${BUNDLING.target}, minified, @aws-sdk/* external); import in a fresh node, median of ${r.settings.imports}`,
    head: [
      'bundle',
      'size',
      'gzip',
      'size ×',
      'gzip ×',
      'import ms',
      'import ×',
      'ready ms',
      'target',
      'result',
    ],
    rows: r.bundles.map((b) => [
      b.name,
      kb(b.bytes),
      kb(b.gzipBytes),
      `${b.ratio.toFixed(3)}×`,
      `${b.gzipRatio.toFixed(3)}×`,
      b.importMs,
      `${b.importRatio.toFixed(3)}×`,
      b.readyMs,
      b.pass === undefined ? '' : `size, import ≤ ${MAX_BUNDLE_RATIO}×, ${MAX_IMPORT_RATIO}×`,
      verdict(b.pass),
    ]),
    notes: [
      'ready ms: process start to the end of the import (node startup included)',
      ...r.bundles.map(
        (b) =>
          `${b.name}: ${b.composition
            .slice(0, 6)
            .map((c) => `${c.from} ${kb(c.bytes)}`)
            .join(', ')}`,
      ),
    ],
  };
}

function firstInvocationTable(r: ColdStartResult): Table {
  const ratio = (x: number) => `${x.toFixed(2)}×`;
  const invoked = r.bundles.flatMap((b) => (b.invocations ? [{ ...b, inv: b.invocations }] : []));
  return {
    title: `First invocation after init: ${r.settings.invocation.event} in the process that imported the bundle, median of ${r.settings.imports} processes, bundles in rotating order`,
    head: [
      'bundle',
      'first ms',
      'first p90',
      'first ×',
      'p25–p75',
      'first CPU ms (JS thread)',
      'CPU ×',
      'GC in first ms',
      'second ms',
      'second ×',
      'import + first ×',
      'target',
      'result',
    ],
    rows: invoked.map((b) => [
      b.name,
      b.inv.firstMs,
      b.inv.firstP90Ms,
      ratio(b.inv.firstRatio.median),
      `${ratio(b.inv.firstRatio.p25)}–${ratio(b.inv.firstRatio.p75)}`,
      b.inv.firstCpuMs,
      ratio(b.inv.firstCpuRatio),
      `${b.inv.firstGcMs} (${b.inv.firstWithGc}/${r.settings.imports})`,
      b.inv.secondMs,
      ratio(b.inv.secondRatio),
      ratio(b.inv.coldStartRatio),
      b.inv.pass === undefined ? '' : `first ≤ ${MAX_FIRST_INVOCATION_RATIO}×`,
      verdict(b.inv.pass),
    ]),
    notes: [
      "first ×: over the baseline process of the same round, median and interquartile range over the rounds (the target); CPU: the JavaScript thread's user + system time during the first invocation (other threads left out), ratio of medians; second ×: ratio of medians (warm, for context)",
      'the event loop turns once before each invocation, as while the runtime waits for the next event: work the init left queued (a scheduled young-generation GC) runs there, not in the invocation',
      'both connect at their first command and PING: the baseline with ioredis defaults (handshake, ready check), the health function through withRedisPool with its defaults (metrics on, EMF to the piped stdout), as deployed',
      'GC in first: garbage-collection time overlapping the first invocation, median (in how many processes any)',
      'import + first ×: the import and the first invocation together, over the baseline process of the same round, median: the whole cold start, wherever a young GC falls',
    ],
  };
}

async function serverVersion(url: string): Promise<string> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0 });
  try {
    await client.connect();
    const info = await client.info('server');
    return /redis_version:(\S+)/.exec(info)?.[1] ?? 'unknown';
  } finally {
    client.disconnect();
  }
}

function gitCommit(): string {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src'], {
      encoding: 'utf8',
    }).trim();
    return dirty ? `${head} (src modified)` : head;
  } catch {
    return 'unknown';
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exitCode = 1;
});
