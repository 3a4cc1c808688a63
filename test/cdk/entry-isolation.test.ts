// Runtime users never install the CDK: only the `lambda-redis-pool/cdk` entry may import
// aws-cdk-lib or constructs. esbuild walks each entry's import graph (packages left external,
// but recorded) and the test reads what it found. The lint rules say the same for src/, and
// test/package checks the built package in a consumer project.
import { join } from 'node:path';
import { build } from 'esbuild';
import { expect, test } from 'vitest';
import { ROOT } from './support.js';

/** Every package an entry's import graph reaches, by its bare specifier. */
async function packagesImported(entry: string): Promise<string[]> {
  const result = await build({
    entryPoints: [join(ROOT, entry)],
    bundle: true,
    write: false,
    metafile: true,
    platform: 'node',
    format: 'esm',
    packages: 'external',
    logLevel: 'silent',
  });
  const imports = Object.values(result.metafile.inputs).flatMap((input) => input.imports);
  return [...new Set(imports.filter((i) => i.external).map((i) => i.path))].sort();
}

const isCdk = (specifier: string) => /^(aws-cdk-lib|constructs)(\/|$)/.test(specifier);

test.each(['src/index.ts', 'src/middy.ts'])(
  '%s reaches neither aws-cdk-lib nor constructs',
  async (entry) => {
    const packages = await packagesImported(entry);
    expect(packages).toContain('ioredis');
    expect(packages.filter(isCdk)).toEqual([]);
  },
);

test('src/cdk/index.ts does (so the check above would see it)', async () => {
  const packages = await packagesImported('src/cdk/index.ts');
  expect(packages.filter(isCdk)).toEqual(
    expect.arrayContaining(['aws-cdk-lib/core', 'constructs']),
  );
});
