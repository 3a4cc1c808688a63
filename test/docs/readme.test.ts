// Every TypeScript block in README.md compiles as pasted into a user's project: each block is
// its own module (so each must carry its own imports), type-checked with the repository's
// strict settings, `lambda-redis-pool` resolving to the library's source as it would to the
// installed package.
import { execFile } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, test } from 'vitest';
import { CONTEXT_KEYS } from '../../lib/settings.js';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '../..');
// Inside the repository, so that node_modules and tsconfig's paths apply; ignored by git.
const DIR = join(ROOT, `node_modules/.cache/readme-blocks-${process.pid}`);

/** The first-column keys (`` `key` ``) of the Markdown table whose header starts `| context`. */
function contextTableKeys(markdown: string): string[] {
  const lines = markdown.split('\n');
  const header = lines.findIndex((line) => /^\|\s*context\s*\|/.test(line));
  if (header === -1) return [];
  const keys: string[] = [];
  // Past the header and its |---| line, to the first line that is not a row.
  for (const line of lines.slice(header + 2)) {
    if (!line.startsWith('|')) break;
    const key = /^\|\s*`([^`]+)`/.exec(line)?.[1];
    if (key !== undefined) keys.push(key);
  }
  return keys;
}

/** The ```ts blocks of a Markdown text, with the line each starts on. */
function typeScriptBlocks(markdown: string): Array<{ line: number; code: string }> {
  const blocks: Array<{ line: number; code: string }> = [];
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (!/^```(ts|typescript)\s*$/.test(lines[i] ?? '')) continue;
    const start = i + 1;
    let end = start;
    while (end < lines.length && !/^```\s*$/.test(lines[end] ?? '')) end++;
    blocks.push({ line: start + 1, code: lines.slice(start, end).join('\n') });
    i = end;
  }
  return blocks;
}

afterAll(async () => {
  await rm(DIR, { recursive: true, force: true });
});

describe('README.md', () => {
  test('has TypeScript examples, and every one of them compiles on its own', async () => {
    const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
    const blocks = typeScriptBlocks(readme);
    expect(blocks.length).toBeGreaterThanOrEqual(3);

    await rm(DIR, { recursive: true, force: true });
    await mkdir(DIR, { recursive: true });
    const files = blocks.map((b) => `readme-line-${b.line}.ts`);
    await Promise.all(
      // `export {}` keeps a block without imports a module of its own, as a file is.
      blocks.map((b, i) => writeFile(join(DIR, files[i] ?? ''), `${b.code}\nexport {};\n`)),
    );
    await writeFile(
      join(DIR, 'tsconfig.json'),
      JSON.stringify({
        extends: join(ROOT, 'tsconfig.json'),
        compilerOptions: {
          // Examples may leave values unused, as documentation does.
          noUnusedLocals: false,
          types: ['node'],
          baseUrl: ROOT,
          paths: {
            'lambda-redis-pool': [join(ROOT, 'src/index.ts')],
            'lambda-redis-pool/middy': [join(ROOT, 'src/middy.ts')],
            'lambda-redis-pool/cdk': [join(ROOT, 'src/cdk/index.ts')],
          },
        },
        include: files,
      }),
    );
    const tsc = join(ROOT, 'node_modules/typescript/bin/tsc');
    const result = await run(process.execPath, [tsc, '-p', DIR, '--pretty', 'false'], {
      cwd: ROOT,
      timeout: 170_000,
    }).then(
      () => '',
      (error: { stdout?: string }) => error.stdout ?? String(error),
    );
    // Errors name the file, which names the README line the block starts on.
    expect(result).toBe('');
  }, 180_000);

  test('the block extractor finds blocks and their lines (so the check above is not vacuous)', () => {
    const md = [
      '# t',
      '```ts',
      'const a = 1;',
      '```',
      'text',
      '```sh',
      'npm ci',
      '```',
      '```typescript',
      'let b;',
      '```',
    ].join('\n');
    expect(typeScriptBlocks(md)).toEqual([
      { line: 3, code: 'const a = 1;' },
      { line: 10, code: 'let b;' },
    ]);
  });

  test('the deploy context table lists exactly the keys the app reads (lib/settings.ts)', async () => {
    const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
    expect(contextTableKeys(readme).sort()).toEqual(Object.keys(CONTEXT_KEYS).sort());
  });

  test('the table reader takes the rows of the context table only', () => {
    const md = [
      '| context | default |',
      '| ------- | ------- |',
      '| `cache` | `replication` |',
      '| `auth`  | `iam` |',
      '',
      '| other | x |',
      '| `not` | y |',
    ].join('\n');
    expect(contextTableKeys(md)).toEqual(['cache', 'auth']);
  });
});
