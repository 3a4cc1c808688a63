/**
 * Powertools is an optional peer: the library's code must not load it. Bundling the library's
 * entries (as a user's esbuild or NodejsFunction would) shows every module it pulls in.
 * (The published declarations are checked in test/package: they must not name it either.)
 */
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { expect, it } from 'vitest';

const entry = (path: string) => fileURLToPath(new URL(`../../src/${path}`, import.meta.url));

it('a bundle of the library (both entries) holds no Powertools module', async () => {
  const result = await build({
    entryPoints: [entry('index.ts'), entry('middy.ts')],
    bundle: true,
    write: false,
    outdir: 'out',
    platform: 'node',
    format: 'esm',
    // Peers a user installs, and the AWS SDK (left to the Lambda runtime); Powertools is
    // deliberately not listed: if the library imported it, the bundle would show it.
    external: ['ioredis', '@middy/*', '@aws-sdk/*'],
    metafile: true,
    logLevel: 'silent',
  });
  const inputs = Object.keys(result.metafile.inputs);
  expect(inputs.some((path) => path.includes('src/metrics.ts'))).toBe(true);
  expect(inputs.filter((path) => path.includes('@aws-lambda-powertools'))).toEqual([]);
});
