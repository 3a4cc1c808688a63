/**
 * Cold start: each function bundled the way a deployment bundles it (the manifest's BUNDLING,
 * which lib/stack.ts hands to the CDK's NodejsFunction: one minified ESM file, the AWS SDK
 * external), its size raw and gzipped, how long a fresh `node` takes to import it, and, in the
 * same process, how long the handler's first and second invocations take, against a handler
 * written with ioredis alone (bench/baseline-handler.ts).
 */
import { spawn } from 'node:child_process';
import { mkdir, readFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import { type BuildOptions, build, type Metafile } from 'esbuild';
import { BUNDLING, FUNCTIONS } from '../functions/manifest.js';
import { type ChildSample, type InvocationTimes, RESULT_MARKER } from './cold-start-result.js';
import { median, percentile, round } from './stats.js';

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));

/**
 * `invoked`: the child calls the handler twice after the import, with a GET of the health
 * route. The baseline does in Redis what the health function does (a PING on a module-scope
 * client that connects at its first command), so the two first invocations are the same
 * work with and without the library. The throughput function's invocation is a timed load
 * whose length the caller chooses: there is nothing of the same size to compare it with.
 */
export const ENTRIES = [
  {
    name: 'baseline (ioredis only)',
    entry: join(ROOT, 'bench/baseline-handler.ts'),
    baseline: true,
    invoked: true,
  },
  { name: FUNCTIONS.health.name, entry: FUNCTIONS.health.entry, baseline: false, invoked: true },
  {
    name: FUNCTIONS.throughput.name,
    entry: FUNCTIONS.throughput.entry,
    baseline: false,
    invoked: false,
  },
] as const;

/** Issue 12: bundle size and import time, each against the baseline's. */
export const MAX_BUNDLE_RATIO = 1.1;
export const MAX_IMPORT_RATIO = 1.1;

/** Issue 12: the first invocation after init, against the baseline's. */
export const MAX_FIRST_INVOCATION_RATIO = 1.2;

/** The request the invoked bundles answer: the health route, as API Gateway sends it. */
const INVOKE = {
  path: '/api/v1/health',
  functionName: FUNCTIONS.health.name,
  timeoutMs: FUNCTIONS.health.timeoutMs,
} as const;

export interface ColdStartSettings {
  readonly imports: number;
  readonly outDir: string;
}

export const COLD_START_DEFAULTS: ColdStartSettings = {
  // 30: with 15, the first invocation's ratio moved 1.01-1.24 between runs of the same code.
  imports: 30,
  outDir: join(ROOT, 'bench/results/bundles'),
};

export interface BundleFigures {
  readonly name: string;
  readonly entry: string;
  readonly bytes: number;
  readonly gzipBytes: number;
  /** To the baseline, raw and gzip. */
  readonly ratio: number;
  readonly gzipRatio: number;
  /** Output bytes by package (`src` for the project's own code), largest first. */
  readonly composition: readonly { readonly from: string; readonly bytes: number }[];
  /** Median time of `await import(bundle)` in a fresh node. */
  readonly importMs: number;
  readonly importP90Ms: number;
  readonly importRatio: number;
  /** Median time from the process's start (timeOrigin) to the import's end. */
  readonly readyMs: number;
  readonly pass: boolean | undefined;
  /** The invocations after the import; undefined for a bundle that is not invoked. */
  readonly invocations: InvocationFigures | undefined;
}

/** Times of the handler's first and second invocations after the import, one each per process. */
export interface InvocationFigures {
  /** Median of the first invocation (call to settled promise). */
  readonly firstMs: number;
  readonly firstP90Ms: number;
  /** The first invocation over the baseline's in the same round: median and quartiles. */
  readonly firstRatio: { readonly median: number; readonly p25: number; readonly p75: number };
  /**
   * Median CPU time (user + system) of the JavaScript thread during the first invocation, and
   * over the baseline's: the handler's own work, without what other threads of the process do.
   */
  readonly firstCpuMs: number;
  readonly firstCpuRatio: number;
  /** Median of the second invocation (warm). */
  readonly secondMs: number;
  readonly secondRatio: number;
  /**
   * The import and the first invocation together over the baseline's in the same round, median:
   * what a cold start waits for, whichever of the two a young GC the init made due falls in.
   */
  readonly coldStartRatio: number;
  /** Median garbage-collection time during the first invocation, and in how many processes any. */
  readonly firstGcMs: number;
  readonly firstWithGc: number;
  readonly pass: boolean | undefined;
}

export interface ColdStartResult {
  readonly settings: {
    readonly imports: number;
    readonly esbuild: Record<string, unknown>;
    readonly invocation: {
      readonly event: string;
      readonly timeoutMs: number;
      readonly env: string;
    };
  };
  readonly node: string;
  readonly bundles: readonly BundleFigures[];
  readonly target: {
    readonly maxBundleRatio: number;
    readonly maxImportRatio: number;
    readonly maxFirstInvocationRatio: number;
  };
}

/** The deployment's bundling configuration (functions/manifest.ts), as esbuild options. */
const BUILD_OPTIONS = {
  bundle: true,
  ...BUNDLING,
  // Sizes and import times are of the code alone; the map is a separate file anyway.
  sourcemap: false,
  external: [...BUNDLING.external],
  mainFields: [...BUNDLING.mainFields],
  banner: { js: BUNDLING.banner },
} satisfies BuildOptions;

export async function benchColdStart(
  redisUrl: string,
  settings: ColdStartSettings = COLD_START_DEFAULTS,
): Promise<ColdStartResult> {
  await mkdir(settings.outDir, { recursive: true });
  const harness = await buildHarness(settings.outDir);
  const built: BuiltBundle[] = [];
  for (const spec of ENTRIES) {
    const outfile = join(settings.outDir, `${basename(spec.entry, '.ts')}.mjs`);
    const result = await build({
      ...BUILD_OPTIONS,
      entryPoints: [spec.entry],
      outfile,
      metafile: true,
      logLevel: 'silent',
    });
    const code = await readFile(outfile);
    built.push({
      ...spec,
      outfile,
      bytes: code.length,
      gzipBytes: gzipSync(code).length,
      composition: result.metafile ? composition(result.metafile) : [],
    });
  }

  // samples[round][bundle]: one fresh process each.
  const samples: ChildSample[][] = [];
  const run = (b: BuiltBundle) =>
    runChild(harness, { file: b.outfile, invoke: b.invoked, redisUrl });
  // One untimed process each (file cache, Redis's first accept), then rotate the order every
  // round so that neither side always runs first after the other.
  for (const b of built) await run(b);
  for (let round = 0; round < settings.imports; round++) {
    const row: ChildSample[] = new Array(built.length);
    for (let k = 0; k < built.length; k++) {
      const index = (round + k) % built.length;
      const target = built[index];
      if (target) row[index] = await run(target);
    }
    samples.push(row);
  }

  const baseIndex = built.findIndex((b) => b.baseline);
  const base = built[baseIndex];
  if (!base) throw new Error('no baseline bundle');
  const column = (index: number) => samples.map((row) => row[index] as ChildSample);
  const baseSamples = column(baseIndex);
  const baseImport = median(baseSamples.map((s) => s.importMs));
  const bundles = built.map((b, index): BundleFigures => {
    const own = column(index);
    const importTimes = own.map((s) => s.importMs);
    const ratio = round(b.bytes / base.bytes, 3);
    const importMs = median(importTimes);
    return {
      name: b.name,
      entry: b.entry,
      bytes: b.bytes,
      gzipBytes: b.gzipBytes,
      ratio,
      gzipRatio: round(b.gzipBytes / base.gzipBytes, 3),
      composition: b.composition,
      importMs: round(importMs),
      importP90Ms: round(percentile(importTimes, 90)),
      importRatio: round(importMs / baseImport, 3),
      readyMs: round(median(own.map((s) => s.readyMs))),
      pass: b.baseline
        ? undefined
        : ratio <= MAX_BUNDLE_RATIO && importMs / baseImport <= MAX_IMPORT_RATIO,
      invocations: b.invoked ? invocationFigures(own, baseSamples, b.baseline) : undefined,
    };
  });
  return {
    settings: {
      imports: settings.imports,
      esbuild: { ...BUILD_OPTIONS },
      invocation: {
        event: `API Gateway REST GET ${INVOKE.path}`,
        timeoutMs: INVOKE.timeoutMs,
        env: "REDIS_URL; the library's defaults otherwise (metrics on, as deployed)",
      },
    },
    node: `${process.execPath} ${process.version}`,
    bundles,
    target: {
      maxBundleRatio: MAX_BUNDLE_RATIO,
      maxImportRatio: MAX_IMPORT_RATIO,
      maxFirstInvocationRatio: MAX_FIRST_INVOCATION_RATIO,
    },
  };
}

interface BuiltBundle {
  readonly name: string;
  readonly entry: string;
  readonly baseline: boolean;
  readonly invoked: boolean;
  readonly outfile: string;
  readonly bytes: number;
  readonly gzipBytes: number;
  readonly composition: BundleFigures['composition'];
}

/** The invocation figures of one bundle from its samples and the baseline's, round by round. */
function invocationFigures(
  own: readonly ChildSample[],
  base: readonly ChildSample[],
  isBaseline: boolean,
): InvocationFigures {
  const mine = own.map(timesOf);
  const theirs = base.map(timesOf);
  const first = mine.map((t) => t.firstMs);
  const second = mine.map((t) => t.secondMs);
  const cpu = mine.map((t) => t.firstCpuMs);
  const gc = mine.map((t) => t.firstGcMs);
  const baseFirst = theirs.map((t) => t.firstMs);
  // Paired by round: the two processes ran one after the other, under the same load.
  const roundRatios = first.map((ms, round) => ms / (baseFirst[round] ?? Number.NaN));
  const coldStart = (sample: ChildSample | undefined) =>
    sample ? sample.importMs + timesOf(sample).firstMs : Number.NaN;
  const coldStartRatios = own.map((sample, round) => coldStart(sample) / coldStart(base[round]));
  const ratioMedian = median(roundRatios);
  return {
    firstMs: round(median(first)),
    firstP90Ms: round(percentile(first, 90)),
    firstRatio: {
      median: round(ratioMedian, 3),
      p25: round(percentile(roundRatios, 25), 3),
      p75: round(percentile(roundRatios, 75), 3),
    },
    firstCpuMs: round(median(cpu)),
    firstCpuRatio: round(median(cpu) / median(theirs.map((t) => t.firstCpuMs)), 3),
    secondMs: round(median(second), 3),
    secondRatio: round(median(second) / median(theirs.map((t) => t.secondMs)), 3),
    coldStartRatio: round(median(coldStartRatios), 3),
    firstGcMs: round(median(gc)),
    firstWithGc: gc.filter((ms) => ms > 0).length,
    pass: isBaseline ? undefined : ratioMedian <= MAX_FIRST_INVOCATION_RATIO,
  };
}

/** The invocation times of an invoked bundle's process (every such process reports them). */
function timesOf(sample: ChildSample): InvocationTimes {
  if (!sample.invocations) throw new Error("an invoked bundle's process reported no invocations");
  return sample.invocations;
}

/** Output bytes grouped by package (node_modules/<pkg> or <@scope/pkg>), or `src`/`bench`. */
function composition(metafile: Metafile): BundleFigures['composition'] {
  const bytes = new Map<string, number>();
  for (const output of Object.values(metafile.outputs)) {
    for (const [path, input] of Object.entries(output.inputs)) {
      const from = packageOf(path);
      bytes.set(from, (bytes.get(from) ?? 0) + input.bytesInOutput);
    }
  }
  return [...bytes]
    .map(([from, n]) => ({ from, bytes: n }))
    .filter((c) => c.bytes > 0)
    .sort((a, b) => b.bytes - a.bytes);
}

function packageOf(path: string): string {
  const match = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path);
  if (match?.[1]) return match[1];
  return path.split('/')[0] ?? path;
}

/** Builds the child's program next to the bundles; returns its path. */
async function buildHarness(outDir: string): Promise<string> {
  const outfile = join(outDir, 'harness.mjs');
  await build({
    entryPoints: [join(ROOT, 'bench/cold-start-harness.ts')],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node24',
    outfile,
    logLevel: 'silent',
  });
  return outfile;
}

function runChild(
  harness: string,
  job: { readonly file: string; readonly invoke: boolean; readonly redisUrl: string },
): Promise<ChildSample> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    BENCH_IMPORT_URL: pathToFileURL(job.file).href,
    BENCH_INVOKE: job.invoke ? '1' : '0',
    BENCH_PATH: INVOKE.path,
    BENCH_FUNCTION: INVOKE.functionName,
    BENCH_TIMEOUT_MS: String(INVOKE.timeoutMs),
    REDIS_URL: job.redisUrl,
    AWS_LAMBDA_FUNCTION_NAME: 'bench-cold-start',
  };
  // A clean node: no loader hooks inherited from the tsx parent.
  delete env.NODE_OPTIONS;
  // The functions as deployed: the parent turns the pool's metrics off for its own sections.
  delete env.REDIS_METRICS;
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [harness], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      err += chunk.toString();
    });
    child.once('error', reject);
    child.once('close', (code) => {
      const sample = code === 0 ? parseSample(out) : undefined;
      if (sample && (sample.invocations !== undefined) === job.invoke) {
        resolvePromise(sample);
        return;
      }
      const why = err.trim() || out.trim();
      reject(new Error(`cold start of ${job.file} failed (exit ${code}): ${why}`));
    });
  });
}

/** The child's result line, or undefined when it printed none or a malformed one. */
function parseSample(out: string): ChildSample | undefined {
  const line = out.split('\n').find((l) => l.startsWith(RESULT_MARKER));
  if (!line) return undefined;
  try {
    const parsed: unknown = JSON.parse(line.slice(RESULT_MARKER.length));
    if (typeof parsed !== 'object' || parsed === null) return undefined;
    const p = parsed as Record<string, unknown>;
    if (typeof p.importMs !== 'number' || typeof p.readyMs !== 'number') return undefined;
    const inv = p.invocations as Record<string, unknown> | undefined;
    if (inv === undefined) return { importMs: p.importMs, readyMs: p.readyMs };
    if (
      typeof inv.firstMs !== 'number' ||
      typeof inv.firstCpuMs !== 'number' ||
      typeof inv.secondMs !== 'number' ||
      typeof inv.firstGcMs !== 'number'
    ) {
      return undefined;
    }
    return {
      importMs: p.importMs,
      readyMs: p.readyMs,
      invocations: {
        firstMs: inv.firstMs,
        firstCpuMs: inv.firstCpuMs,
        secondMs: inv.secondMs,
        firstGcMs: inv.firstGcMs,
      },
    };
  } catch {
    return undefined;
  }
}
