/**
 * Cold start: each function bundled the way a deployment bundles it (the manifest's BUNDLING,
 * which lib/stack.ts hands to the CDK's NodejsFunction: one minified ESM file, the AWS SDK
 * external), its size raw and gzipped, and how long a fresh
 * `node` takes to import it, against a handler that only imports ioredis.
 */
import { spawn } from 'node:child_process';
import { mkdir, readFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import { type BuildOptions, build, type Metafile } from 'esbuild';
import { BUNDLING, FUNCTIONS } from '../functions/manifest.js';
import { median, round } from './stats.js';

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));

export const ENTRIES = [
  {
    name: 'baseline (ioredis only)',
    entry: join(ROOT, 'bench/baseline-handler.ts'),
    baseline: true,
  },
  { name: FUNCTIONS.health.name, entry: FUNCTIONS.health.entry, baseline: false },
  { name: FUNCTIONS.throughput.name, entry: FUNCTIONS.throughput.entry, baseline: false },
] as const;

export const MAX_BUNDLE_RATIO = 1.2;

export interface ColdStartSettings {
  readonly imports: number;
  readonly outDir: string;
}

export const COLD_START_DEFAULTS: ColdStartSettings = {
  imports: 15,
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
}

export interface ColdStartResult {
  readonly settings: { readonly imports: number; readonly esbuild: Record<string, unknown> };
  readonly node: string;
  readonly bundles: readonly BundleFigures[];
  readonly target: { readonly maxBundleRatio: number };
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
  const built = [];
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

  const importTimes = built.map(() => ({ importMs: [] as number[], readyMs: [] as number[] }));
  // One untimed import each (file cache), then rotate the order every round.
  for (const b of built) await importOnce(b.outfile, redisUrl);
  for (let round = 0; round < settings.imports; round++) {
    for (let k = 0; k < built.length; k++) {
      const index = (round + k) % built.length;
      const target = built[index];
      const times = importTimes[index];
      if (!target || !times) continue;
      const sample = await importOnce(target.outfile, redisUrl);
      times.importMs.push(sample.importMs);
      times.readyMs.push(sample.readyMs);
    }
  }

  const baseIndex = built.findIndex((b) => b.baseline);
  const base = built[baseIndex];
  const baseImport = median(importTimes[baseIndex]?.importMs ?? []);
  if (!base) throw new Error('no baseline bundle');
  const bundles = built.map((b, index): BundleFigures => {
    const times = importTimes[index] ?? { importMs: [], readyMs: [] };
    const ratio = round(b.bytes / base.bytes, 3);
    const importMs = median(times.importMs);
    const sorted = [...times.importMs].sort((x, y) => x - y);
    return {
      name: b.name,
      entry: b.entry,
      bytes: b.bytes,
      gzipBytes: b.gzipBytes,
      ratio,
      gzipRatio: round(b.gzipBytes / base.gzipBytes, 3),
      composition: b.composition,
      importMs: round(importMs),
      importP90Ms: round(sorted[Math.ceil(sorted.length * 0.9) - 1] ?? 0),
      importRatio: round(importMs / baseImport, 3),
      readyMs: round(median(times.readyMs)),
      pass: b.baseline ? undefined : ratio <= MAX_BUNDLE_RATIO,
    };
  });
  return {
    settings: { imports: settings.imports, esbuild: { ...BUILD_OPTIONS } },
    node: `${process.execPath} ${process.version}`,
    bundles,
    target: { maxBundleRatio: MAX_BUNDLE_RATIO },
  };
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

// Runs in the child: times the import alone; performance.now() counts from process start.
const CHILD = `
const started = performance.now();
await import(process.env.BENCH_IMPORT_URL);
const ended = performance.now();
process.stdout.write(JSON.stringify({ importMs: ended - started, readyMs: ended }) + '\\n');
process.exit(0);
`;

interface ImportSample {
  readonly importMs: number;
  readonly readyMs: number;
}

function importOnce(file: string, redisUrl: string): Promise<ImportSample> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    BENCH_IMPORT_URL: pathToFileURL(file).href,
    REDIS_URL: redisUrl,
    AWS_LAMBDA_FUNCTION_NAME: 'bench-cold-start',
  };
  // A clean node: no loader hooks inherited from the tsx parent.
  delete env.NODE_OPTIONS;
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', CHILD], {
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
      const line = out.trim().split('\n').pop() ?? '';
      try {
        const parsed: unknown = JSON.parse(line);
        if (
          code === 0 &&
          typeof parsed === 'object' &&
          parsed !== null &&
          'importMs' in parsed &&
          'readyMs' in parsed &&
          typeof parsed.importMs === 'number' &&
          typeof parsed.readyMs === 'number'
        ) {
          resolvePromise({ importMs: parsed.importMs, readyMs: parsed.readyMs });
          return;
        }
      } catch {
        // reported below
      }
      reject(new Error(`import of ${file} failed (exit ${code}): ${err.trim() || out.trim()}`));
    });
  });
}
