/**
 * The main entry's cold start stays lean: nothing of the AWS SDK (@aws-sdk/*, @smithy/*,
 * @aws-crypto/*) is loaded unless REDIS_AUTH=iam or discovery asks for it. esbuild bundles
 * src/index.ts with code splitting, as a user's bundler would: the SDK must sit only in chunks
 * that are imported dynamically, never in the entry or in a chunk it imports statically.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { build, type Metafile } from 'esbuild';
import { afterAll, describe, expect, it } from 'vitest';

const AWS_CODE = /node_modules\/(@aws-sdk|@smithy|@aws-crypto)\//;
const outdir = mkdtempSync(join(tmpdir(), 'lrp-lean-'));
afterAll(() => rmSync(outdir, { recursive: true, force: true }));

async function bundle(entry: string): Promise<Metafile> {
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node22',
    outdir,
    write: false,
    metafile: true,
    logLevel: 'silent',
    // Peers the user installs; what matters here is our code and the AWS SDK.
    external: ['ioredis', '@aws-lambda-powertools/*', '@middy/*'],
  });
  return result.metafile;
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
