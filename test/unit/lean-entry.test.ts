/**
 * The main entry's cold start stays lean: nothing of the AWS SDK (@aws-sdk/*, @smithy/*,
 * @aws-crypto/*) is loaded unless REDIS_AUTH=iam or discovery asks for it.
 *
 * - Bundled with code splitting, the SDK sits only in chunks imported dynamically, never in
 *   the entry or in a chunk it imports statically.
 * - Bundled as the CDK's NodejsFunction and the demo functions do (one ES module, `@aws-sdk/*`
 *   left to the Lambda runtime), the SDK is imported dynamically: a static import of an external
 *   package would be hoisted to the top of the bundle and load at every cold start.
 * - Nor does it carry what only the documentation needs, or import any built-in as an ES module
 *   (which makes Node read every export, lazy ones included: see src/builtins.ts).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { type BuildOptions, build, type Metafile } from 'esbuild';
import { afterAll, describe, expect, it } from 'vitest';
import { BUNDLING } from '../../functions/manifest.js';
import { OPTION_DOCS } from '../../src/options-docs.js';

const run = promisify(execFile);
const AWS_CODE = /node_modules\/(@aws-sdk|@smithy|@aws-crypto)\//;
const outdir = mkdtempSync(join(tmpdir(), 'lrp-lean-'));
afterAll(() => rmSync(outdir, { recursive: true, force: true }));

async function bundle(entry: string): Promise<Metafile> {
  return (await build(options(entry, true))).metafile;
}

/** esbuild options for `entry`, its outputs kept in memory. */
function options(
  entry: string,
  splitting: boolean,
): BuildOptions & { write: false; metafile: true } {
  return {
    entryPoints: [entry],
    bundle: true,
    splitting,
    format: 'esm',
    platform: 'node',
    target: 'node22',
    outdir,
    write: false,
    metafile: true,
    logLevel: 'silent',
    // Peers the user installs; what matters here is our code and the AWS SDK.
    external: [
      'ioredis',
      '@aws-lambda-powertools/*',
      '@middy/*',
      ...(splitting ? [] : ['@aws-sdk/*']),
    ],
  };
}

/** The outputs loaded when the entry is imported: it and what it imports statically. */
function eagerOutputs(metafile: Metafile, entry: string): string[] {
  const start = Object.keys(metafile.outputs).find(
    (out) => metafile.outputs[out]?.entryPoint === entry,
  );
  if (!start) throw new Error(`no output for ${entry}`);
  const seen = new Set<string>([start]);
  const todo = [start];
  for (let out = todo.pop(); out !== undefined; out = todo.pop()) {
    for (const imported of metafile.outputs[out]?.imports ?? []) {
      if (imported.kind !== 'import-statement' || imported.external) continue;
      if (!seen.has(imported.path)) {
        seen.add(imported.path);
        todo.push(imported.path);
      }
    }
  }
  return [...seen];
}

function awsInputs(metafile: Metafile, outputs: string[]): string[] {
  return outputs.flatMap((out) =>
    Object.keys(metafile.outputs[out]?.inputs ?? {}).filter((input) => AWS_CODE.test(input)),
  );
}

describe.each(['src/index.ts', 'src/middy.ts'])('bundling %s', (entry) => {
  it('leaves the AWS SDK out of everything loaded at import', async () => {
    const metafile = await bundle(entry);
    const eager = eagerOutputs(metafile, entry);
    expect(awsInputs(metafile, eager)).toEqual([]);

    // The SDK is in the bundle (the lazy chunks): this test looks where it should.
    const lazy = Object.keys(metafile.outputs).filter((out) => !eager.includes(out));
    const lazyAws = awsInputs(metafile, lazy);
    expect(lazyAws.some((input) => input.includes('@smithy/signature-v4'))).toBe(true);
    expect(lazyAws.some((input) => input.includes('@aws-sdk/client-elasticache'))).toBe(true);

    const bytes = (outs: string[]) =>
      outs.reduce((sum, out) => sum + (metafile.outputs[out]?.bytes ?? 0), 0);
    console.log(
      `[figure] ${entry} bundled: ${Math.round(bytes(eager) / 1024)} KiB loaded at import, ` +
        `${Math.round(bytes(lazy) / 1024)} KiB only for IAM or discovery ` +
        `(${eager.map((out) => relative(outdir, out)).join(', ')})`,
    );
  });
});

/** Each entry bundled as one ES module once, for the tests below to read. */
const singleModules = new Map<string, ReturnType<typeof build<ReturnType<typeof options>>>>();
function singleModule(entry: string) {
  let built = singleModules.get(entry);
  if (!built) {
    built = build(options(entry, false));
    singleModules.set(entry, built);
  }
  return built;
}

describe.each(['src/index.ts', 'src/middy.ts'])('bundling %s as one ES module', (entry) => {
  it('imports the AWS SDK, left to the runtime, only dynamically', async () => {
    const { metafile } = await singleModule(entry);
    const imports = Object.values(metafile.outputs).flatMap((out) => out.imports);
    const sdk = imports.filter((i) => i.external && i.path.startsWith('@aws-sdk/'));
    expect(sdk.map((i) => `${i.kind} ${i.path}`)).toEqual([
      'dynamic-import @aws-sdk/client-elasticache',
    ]);
    const inputs = Object.values(metafile.outputs).flatMap((out) => Object.keys(out.inputs));
    expect(inputs.filter((input) => AWS_CODE.test(input))).toEqual([]);
  });

  it('carries none of the README text of the options', async () => {
    const result = await singleModule(entry);
    const code = result.outputFiles.map((file) => file.text).join('\n');
    const documented = Object.entries(OPTION_DOCS).filter(([, doc]) =>
      code.includes(doc.description),
    );
    expect(documented.map(([key]) => key)).toEqual([]);
    // The options themselves are there: this test looks where it should.
    expect(code.includes('REDIS_COMMAND_TIMEOUT_MS')).toBe(true);
  });

  it('imports no built-in as an ES module: it takes them with process.getBuiltinModule', async () => {
    const result = await singleModule(entry);
    const imports = Object.values(result.metafile.outputs).flatMap((out) => out.imports);
    const builtins = imports.filter((i) => i.path.startsWith('node:') || isBuiltin(i.path));
    expect(builtins.map((i) => i.path)).toEqual([]);
    // The bundle does use built-ins (and ioredis, left external here, is imported): this test
    // looks where it should.
    const code = result.outputFiles.map((file) => file.text).join('\n');
    expect(code).toContain('getBuiltinModule("node:net")');
    expect(imports.some((i) => i.path === 'ioredis')).toBe(true);
  });
});

describe('importing the main entry', () => {
  it('reads none of the lazy getters of the built-ins it takes (tls.rootCertificates, …)', async () => {
    // The whole bundle (ioredis in it, with the `require` its CommonJS needs), written out for
    // a fresh node to import, as the functions' bundles are (functions/manifest.ts BUNDLING).
    const outfile = join(outdir, 'whole.mjs');
    await build({
      ...options('src/index.ts', false),
      external: [],
      banner: { js: BUNDLING.banner },
      write: true,
      outdir: undefined,
      outfile,
    });
    // Every module process.getBuiltinModule returns is watched: a read of an accessor
    // property (a lazy getter, which builds its value on first use) is recorded.
    const program = `
      const read = [];
      const taken = [];
      const take = process.getBuiltinModule.bind(process);
      process.getBuiltinModule = (id) => (taken.push(id), new Proxy(take(id), {
        get(target, key, receiver) {
          if (Object.getOwnPropertyDescriptor(target, key)?.get) read.push(id + '.' + String(key));
          return Reflect.get(target, key, receiver);
        },
      }));
      await import(${JSON.stringify(pathToFileURL(outfile).href)});
      process.stdout.write(JSON.stringify({ read, taken }));`;
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', program]);
    const { read, taken } = JSON.parse(stdout) as { read: string[]; taken: string[] };
    expect(read).toEqual([]);
    // The built-ins were taken through the watched function: this test looks where it should.
    expect(taken).toContain('node:tls');
  });
});
