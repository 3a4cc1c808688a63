/**
 * `npm run bench`: one run, one Redis, every figure side by side. Prints a table per section
 * (with its target and pass/MISS) and writes bench/results/latest.json (plus a timestamped
 * copy).
 *
 * Redis: REDIS_URL when set, else a private redis-server on a free port, stopped at the end.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { benchColdStart, type ColdStartResult, MAX_BUNDLE_RATIO } from './cold-start.js';
import { benchOverhead, MAX_OVERHEAD_P50_US, type OverheadResult } from './overhead.js';
import { startBenchRedis } from './redis.js';
import { renderTable, type Table, verdict } from './table.js';
import { benchThroughput, MIN_THROUGHPUT_RATIO, type ThroughputResult } from './throughput.js';

const RESULTS = resolve(fileURLToPath(new URL('results', import.meta.url)));

const log = (line: string) => process.stderr.write(`${line}\n`);

async function main(): Promise<void> {
  const startedAt = new Date();
  const t0 = performance.now();
  const loadavgAtStart = loadavg().map((n) => Math.round(n * 100) / 100);
  const redis = await startBenchRedis();
  const stopOnSignal = () => {
    void redis.stop().finally(() => process.exit(130));
  };
  process.once('SIGINT', stopOnSignal);
  try {
    // Read once, when the throughput function's module-scope pool is created.
    process.env.REDIS_URL = redis.url;
    process.env.REDIS_METRICS = 'false';
    process.env.AWS_LAMBDA_FUNCTION_NAME ??= 'lambda-redis-pool-bench';
    log(`redis: ${redis.source}`);
    const redisVersion = await serverVersion(redis.url);

    log('throughput: withRedisPool (throughput handler) vs bare ioredis client, alternating…');
    const throughput = await benchThroughput(redis.url, undefined, log);
    log('overhead: bare vs withRedisPool (metrics off / on), interleaved blocks…');
    const overhead = await benchOverhead();
    log('cold start: bundling, then importing each bundle in fresh node processes…');
    const coldStart = await benchColdStart(redis.url);

    const { closeRedisPools } = await import('lambda-redis-pool');
    await closeRedisPools();
    const runSeconds = Math.round((performance.now() - t0) / 100) / 10;

    const machine = {
      date: startedAt.toISOString(),
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model ?? 'unknown',
      loadavgAtStart,
      loadavgAtEnd: loadavg().map((n) => Math.round(n * 100) / 100),
      memoryGiB: Math.round(totalmem() / 2 ** 30),
      node: process.version,
      platform: `${process.platform} ${process.arch}`,
      redis: `${redisVersion}; ${redis.source}`,
      commit: gitCommit(),
      runSeconds,
    };
    const report = { machine, throughput, overhead, coldStart };

    const tables = [
      throughputTable(throughput),
      overheadTable(overhead),
      coldStartTable(coldStart),
    ];
    process.stdout.write(
      `\nlambda-redis-pool bench, ${machine.date}, ${machine.cpus} × ${machine.cpuModel}, node ${machine.node}, commit ${machine.commit}\n` +
        `redis ${machine.redis}\n` +
        `load average ${machine.loadavgAtStart.join(' ')} at start, ${machine.loadavgAtEnd.join(' ')} at end\n\n${tables.map(renderTable).join('\n\n')}\n\n` +
        `run time ${runSeconds} s\n`,
    );
    await mkdir(RESULTS, { recursive: true });
    const json = `${JSON.stringify(report, null, 2)}\n`;
    await writeFile(join(RESULTS, 'latest.json'), json);
    await writeFile(join(RESULTS, `${startedAt.toISOString().replace(/[:.]/g, '-')}.json`), json);
    log(`wrote ${join(RESULTS, 'latest.json')}`);
  } finally {
    process.removeListener('SIGINT', stopOnSignal);
    await redis.stop();
  }
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
    ],
    notes: [
      '+p50/+p99: wrapped minus bare at that percentile',
      `metrics on: EMF built and serialized; stdout.write replaced by a no-op during the loop (${r.emfLinesDiscarded.toLocaleString('en-US')} lines dropped for ${r.metricsOnInvocations.toLocaleString('en-US')} timed invocations)`,
    ],
  };
}

function coldStartTable(r: ColdStartResult): Table {
  const kb = (n: number) => `${(n / 1024).toFixed(1)} KiB`;
  return {
    title: `Cold start: esbuild bundle (esm, node22, minified, @aws-sdk/* external); import in a fresh node, median of ${r.settings.imports}`,
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
      b.pass === undefined ? '' : `size ≤ ${MAX_BUNDLE_RATIO}×`,
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
