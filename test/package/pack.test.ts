// A consumer's first hour, as a stranger would have it: `npm pack` the package, install the
// tarball into a fresh project, and use it from ES modules, from CommonJS, through esbuild
// bundles in both formats (what NodejsFunction builds), and from TypeScript in both module
// formats. Handlers run against the real local Redis (REDIS_URL from .env.test).
//
// The fresh project installs the tarball with npm (the registry's ioredis and the rest
// resolved as for any user; --prefer-offline reuses the cache that `npm ci` filled).
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parseEmf } from '../helpers/lambda.js';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '../..');
const NPM_TIMEOUT_MS = 240_000;
/**
 * The Powertools a user brings in the last part: another 2.x than the repository's own
 * (devDependencies), as most users' will be, and one whose peer range takes middy 7.
 */
const USER_POWERTOOLS = '2.31.0';

let project: string;
let tarball: string;
let files: string[];
/** What npm installed for aws-cdk-lib and constructs, the optional peers of the cdk entry. */
let cdkInstalledByNpm: boolean[];

/** The CDK packages a CDK user has, taken from this repository (linked: no second download). */
const CDK_PACKAGES = ['aws-cdk-lib', 'constructs'];

/**
 * Runs `node` (the suite's own, Node 24 under npm scripts) in the fresh project; the pool's
 * metrics are off unless `env` turns them on.
 */
async function node(args: string[], env: Record<string, string> = {}): Promise<string> {
  const { stdout } = await run(process.execPath, args, {
    cwd: project,
    env: { ...process.env, POWERTOOLS_DEV: 'false', REDIS_METRICS: 'false', ...env },
    timeout: 60_000,
  });
  return stdout.trim();
}

/** Installs `packages` into the consumer project, from the local cache when it can. */
async function npmInstall(packages: string[]): Promise<void> {
  await run(
    'npm',
    ['install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts', ...packages],
    { cwd: project, timeout: NPM_TIMEOUT_MS },
  );
}

/** The consumer's tsconfig.json: strict, both module formats, type-checking only `files`. */
async function writeTsconfig(files: string[]): Promise<void> {
  await writeFile(
    join(project, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        module: 'nodenext',
        moduleResolution: 'nodenext',
        target: 'es2022',
        strict: true,
        noEmit: true,
        // The usual setting; it would also hide a declaration that silently became `any`,
        // which the @ts-expect-error lines of the consumers catch.
        skipLibCheck: true,
        types: ['node'],
      },
      files,
    }),
  );
}

/** Every file under `dir`, recursively, relative to it. */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
}

beforeAll(async () => {
  project = await mkdtemp(join(tmpdir(), 'lrp-consumer-'));
  // prepack builds dist/ from a clean state: the tarball holds what a publish would.
  const packed = await run('npm', ['pack', '--json', '--pack-destination', project], {
    cwd: ROOT,
    timeout: NPM_TIMEOUT_MS,
    maxBuffer: 16 * 1024 * 1024,
  });
  const [info] = JSON.parse(packed.stdout.slice(packed.stdout.indexOf('['))) as Array<{
    filename: string;
    files: Array<{ path: string }>;
  }>;
  if (!info) throw new Error('npm pack printed no result');
  tarball = join(project, info.filename);
  files = info.files.map((f) => f.path);
  await writeFile(
    join(project, 'package.json'),
    JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }),
  );
  await npmInstall([tarball, 'ioredis@^6', '@middy/core@^7', 'typescript@~5.9', '@types/node@^22']);
  cdkInstalledByNpm = CDK_PACKAGES.map((name) => existsSync(join(project, 'node_modules', name)));
  // Then the consumer is also a CDK user, for the cdk entry's tests.
  await mkdir(join(project, 'node_modules'), { recursive: true });
  for (const name of CDK_PACKAGES) {
    const target = join(project, 'node_modules', name);
    // (Present only if npm installed it; the optional-peer test below then fails.)
    if (!existsSync(target)) await symlink(join(ROOT, 'node_modules', name), target, 'dir');
  }
}, NPM_TIMEOUT_MS * 2);

afterAll(async () => {
  if (project) await rm(project, { recursive: true, force: true });
});

describe('the published package', { timeout: 120_000 }, () => {
  test('ships the library only: dist, types, README, LICENSE, CHANGELOG', () => {
    expect(files).toContain('dist/esm/index.js');
    expect(files).toContain('dist/cjs/index.js');
    expect(files).toContain('dist/esm/index.d.ts');
    expect(files).toContain('dist/cjs/index.d.ts');
    expect(files).toContain('dist/esm/middy.js');
    expect(files).toContain('dist/cjs/middy.js');
    expect(files).toContain('dist/esm/cdk/index.js');
    expect(files).toContain('dist/cjs/cdk/index.d.ts');
    expect(files).toEqual(expect.arrayContaining(['README.md', 'LICENSE', 'CHANGELOG.md']));
    const outside = files.filter(
      (f) =>
        !/^dist\/(esm|cjs)\//.test(f) &&
        !/^(README\.md|LICENSE|CHANGELOG\.md|package\.json)$/.test(f),
    );
    expect(outside).toEqual([]);
    // Nothing of the demo functions, the simulator or the CLI.
    expect(files.filter((f) => /functions|local|cli|throughput/.test(f))).toEqual([]);
  });

  test('ES modules: import, run a wrapped handler against Redis', async () => {
    await writeFile(
      join(project, 'esm.mjs'),
      `import { withRedisPool, closeRedisPools, RedisUnavailableError } from 'lambda-redis-pool';
import { redisPool } from 'lambda-redis-pool/middy';
const handler = withRedisPool(async (event, context) => context.redis.incr('lrp:pack:esm'));
const context = { getRemainingTimeInMillis: () => 3000, functionName: 'pack', awsRequestId: 'r1' };
const n = await handler({}, context);
console.log(JSON.stringify({ n, error: typeof RedisUnavailableError, middy: typeof redisPool }));
await closeRedisPools();
`,
    );
    const out = JSON.parse(await node(['esm.mjs'])) as { n: number; error: string; middy: string };
    expect(out.n).toBeGreaterThan(0);
    expect(out).toMatchObject({ error: 'function', middy: 'function' });
  });

  test('CommonJS: require, run a wrapped handler against Redis', async () => {
    await writeFile(
      join(project, 'cjs.cjs'),
      `const { withRedisPool, closeRedisPools, RedisPoolError } = require('lambda-redis-pool');
const { redisPool } = require('lambda-redis-pool/middy');
const handler = withRedisPool(async (event, context) => context.redis.incr('lrp:pack:cjs'));
const context = { getRemainingTimeInMillis: () => 3000, functionName: 'pack', awsRequestId: 'r1' };
handler({}, context).then(async (n) => {
  console.log(JSON.stringify({ n, error: typeof RedisPoolError, middy: typeof redisPool }));
  await closeRedisPools();
});
`,
    );
    const out = JSON.parse(await node(['cjs.cjs'])) as { n: number; error: string; middy: string };
    expect(out.n).toBeGreaterThan(0);
    expect(out).toMatchObject({ error: 'function', middy: 'function' });
  });

  test.each([
    ['cjs', 'bundle.cjs'],
    ['esm', 'bundle.mjs'],
  ] as const)(
    'esbuild bundles a handler as %s (as NodejsFunction does) and it runs',
    async (format, out) => {
      await writeFile(
        join(project, 'handler.ts'),
        `import { withRedisPool } from 'lambda-redis-pool';
export const handler = withRedisPool(async (_event: unknown, context) => {
  await context.redis.set('lrp:pack:bundle', '${format}', 'EX', 60);
  return context.redis.get('lrp:pack:bundle');
});
`,
      );
      await build({
        entryPoints: [join(project, 'handler.ts')],
        outfile: join(project, out),
        absWorkingDir: project,
        bundle: true,
        platform: 'node',
        target: 'node22',
        format,
        external: ['@aws-sdk/*'],
        // ioredis is CommonJS: an ES module bundle needs a require (as the manifest's banner).
        banner:
          format === 'esm'
            ? {
                js: "import { createRequire } from 'module'; const require = createRequire(import.meta.url);",
              }
            : {},
        logLevel: 'silent',
      });
      const loader =
        format === 'cjs'
          ? `const { handler } = require('./${out}');`
          : `const { handler } = await import('./${out}');`;
      await writeFile(
        join(project, `run-${format}.mjs`),
        `import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
${loader}
const context = { getRemainingTimeInMillis: () => 3000, functionName: 'pack', awsRequestId: 'r1' };
console.log(await handler({}, context));
process.exit(0);
`,
      );
      expect(await node([`run-${format}.mjs`])).toBe(format);
    },
  );

  test('TypeScript consumers compile in both module formats, with no @types/aws-lambda', async () => {
    await writeTsconfig(['typed.mts', 'typed.cts', 'cdk.mts', 'cdk.cts']);
    const cdkBody = `export function wire(scope: Construct, fn: lambda.Function, vpc: ec2.IVpc) {
  const cache = new ValkeyCache(scope, 'Cache', { vpc, serverless: true, auth: 'iam' });
  const link = new RedisPoolConnection(scope, 'Redis', { function: fn, cache, options: { poolMax: 4 } });
  // @ts-expect-error the URL comes from the cache, not from options
  new RedisPoolConnection(scope, 'Bad', { function: fn, cache, options: { url: 'redis://x' } });
  const widgets: cloudwatch.IWidget[] = link.widgets();
  return { widgets, env: redisPoolEnvironment(cache) };
}
`;
    for (const file of ['cdk.mts', 'cdk.cts']) {
      await writeFile(
        join(project, file),
        `import type { Construct } from 'constructs';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { RedisPoolConnection, ValkeyCache, redisPoolEnvironment } from 'lambda-redis-pool/cdk';
${cdkBody}`,
      );
    }
    const body = `const handler = withRedisPool(async (_event: { key: string }, context) => {
  const value: string | null = await context.redis.get(_event.key);
  return { value, left: context.getRemainingTimeInMillis() };
});
export const check: (event: { key: string }, context: Parameters<typeof handler>[1]) => Promise<{ value: string | null; left: number }> = handler;
export const mw = redisPool();
// Not \`any\`: without @types/aws-lambda the context and the client are still typed.
export const probe = withRedisPool(async (_event: unknown, context) => {
  // @ts-expect-error no such method on an ioredis client
  await context.redis.noSuchCommand();
  // @ts-expect-error getRemainingTimeInMillis returns a number
  const text: string = context.getRemainingTimeInMillis();
  return text;
});
export const isError = (e: unknown): boolean => e instanceof RedisPoolError;
`;
    await writeFile(
      join(project, 'typed.mts'),
      `import { withRedisPool, RedisPoolError } from 'lambda-redis-pool';
import { redisPool } from 'lambda-redis-pool/middy';
${body}`,
    );
    await writeFile(
      join(project, 'typed.cts'),
      `import { withRedisPool, RedisPoolError } from 'lambda-redis-pool';
import { redisPool } from 'lambda-redis-pool/middy';
${body}`,
    );
    await expect(
      run(process.execPath, [join(project, 'node_modules/typescript/bin/tsc'), '-p', '.'], {
        cwd: project,
        timeout: 170_000,
      }),
    ).resolves.toBeDefined();
    // And the installed tree really has no aws-lambda types for the check above to lean on.
    const scoped = await readdir(join(project, 'node_modules/@types'));
    expect(scoped).not.toContain('aws-lambda');
  }, 180_000);

  test('cdk: aws-cdk-lib and constructs are optional peers, never installed for runtime users', () => {
    expect(cdkInstalledByNpm).toEqual([false, false]);
  });

  test.each([
    [
      'ESM',
      'cdk.mjs',
      "import { App, Stack } from 'aws-cdk-lib';\nimport * as ec2 from 'aws-cdk-lib/aws-ec2';\nimport * as lambda from 'aws-cdk-lib/aws-lambda';\nimport { RedisPoolConnection, ValkeyCache } from 'lambda-redis-pool/cdk';",
    ],
    [
      'CommonJS',
      'cdk.cjs',
      "const { App, Stack } = require('aws-cdk-lib');\nconst ec2 = require('aws-cdk-lib/aws-ec2');\nconst lambda = require('aws-cdk-lib/aws-lambda');\nconst { RedisPoolConnection, ValkeyCache } = require('lambda-redis-pool/cdk');",
    ],
  ] as const)(
    'cdk (%s): the construct wires a function to a cache in a synthesized stack',
    async (_, file, imports) => {
      await writeFile(
        join(project, file),
        `${imports}
// (The CDK's CloudFormation schema checks are slow and not what this test is about.)
const app = new App({ builtinCloudFormationValidation: false, outdir: 'cdk.out.${file}' });
const stack = new Stack(app, 'Consumer');
const vpc = new ec2.Vpc(stack, 'Vpc', { maxAzs: 2, natGateways: 0 });
const fn = new lambda.Function(stack, 'Fn', {
  runtime: lambda.Runtime.NODEJS_24_X,
  handler: 'index.handler',
  code: lambda.Code.fromInline('exports.handler = async () => 1;'),
  vpc,
});
const cache = new ValkeyCache(stack, 'Cache', { vpc });
new RedisPoolConnection(stack, 'Redis', { function: fn, cache });
const template = app.synth().getStackByName('Consumer').template;
const fnProps = Object.values(template.Resources).find((r) => r.Type === 'AWS::Lambda::Function').Properties;
console.log(JSON.stringify(fnProps.Environment.Variables.REDIS_URL));
`,
      );
      const url = JSON.parse(await node([file])) as { 'Fn::Join': [string, unknown[]] };
      expect(url['Fn::Join'][1][0]).toBe('rediss://');
    },
  );

  test('cdk: the main and middy entries load nothing of the CDK, even where it is installed', async () => {
    await writeFile(
      join(project, 'no-cdk.cjs'),
      `require('lambda-redis-pool');
require('lambda-redis-pool/middy');
const loaded = Object.keys(require.cache);
console.log(JSON.stringify({
  library: loaded.filter((p) => p.includes('lambda-redis-pool')).length,
  cdk: loaded.filter((p) => /[\\/](aws-cdk-lib|constructs)[\\/]/.test(p)),
}));
`,
    );
    const out = JSON.parse(await node(['no-cdk.cjs'])) as { library: number; cdk: string[] };
    expect(out.library).toBeGreaterThan(0);
    expect(out.cdk).toEqual([]);
  });

  test('without Powertools installed, the metrics work: one valid EMF document per invocation', async () => {
    // Powertools is an optional peer: npm installs none for the consumer, and nothing in the
    // package (code or declarations) names it, so neither node nor tsc looks for it.
    const scoped = await readdir(join(project, 'node_modules/@aws-lambda-powertools')).catch(
      () => [],
    );
    expect(scoped).toEqual([]);
    const dist = await filesUnder(join(project, 'node_modules/lambda-redis-pool/dist'));
    expect(dist.length).toBeGreaterThan(0);
    const naming: string[] = [];
    for (const file of dist) {
      if ((await readFile(file, 'utf8')).includes('@aws-lambda-powertools')) naming.push(file);
    }
    expect(naming).toEqual([]);

    await writeFile(
      join(project, 'metrics.mjs'),
      `import { withRedisPool, closeRedisPools } from 'lambda-redis-pool';
const handler = withRedisPool(async (event, context) => context.redis.incr('lrp:pack:metrics'));
const context = { getRemainingTimeInMillis: () => 3000, functionName: 'pack', awsRequestId: 'r1' };
await handler({}, context);
await handler({}, context);
await closeRedisPools();
`,
    );
    const lines = (
      await node(['metrics.mjs'], { REDIS_METRICS: 'true', AWS_LAMBDA_FUNCTION_NAME: 'pack-fn' })
    ).split('\n');
    const docs = lines.filter((l) => l.includes('"_aws"')).map(parseEmf);
    expect(docs).toHaveLength(2);
    expect(docs.map((d) => d.RedisPoolColdStart)).toEqual([1, 0]);
    expect(docs[0]?._aws.CloudWatchMetrics[0]?.Namespace).toBe('LambdaRedisPool');
    expect(docs[0]?.FunctionName).toBe('pack-fn');
  });

  describe(`with the user's own Powertools (${USER_POWERTOOLS}, not the repository's)`, () => {
    beforeAll(async () => {
      await npmInstall([`@aws-lambda-powertools/metrics@${USER_POWERTOOLS}`]);
    }, NPM_TIMEOUT_MS);

    test('their Metrics type-checks as the metrics option, and theirs is the only copy', async () => {
      await writeTsconfig(['own-metrics.mts']);
      await writeFile(
        join(project, 'own-metrics.mts'),
        `import { Metrics } from '@aws-lambda-powertools/metrics';
import { withRedisPool } from 'lambda-redis-pool';
import { redisPool } from 'lambda-redis-pool/middy';
const metrics = new Metrics({ namespace: 'Shop', serviceName: 'orders' });
export const handler = withRedisPool(async () => 'ok', { metrics });
export const mw = redisPool({ metrics });
`,
      );
      await expect(
        run(process.execPath, [join(project, 'node_modules/typescript/bin/tsc'), '-p', '.'], {
          cwd: project,
          timeout: 170_000,
        }),
      ).resolves.toBeDefined();
      const copies = (await filesUnder(join(project, 'node_modules'))).filter((f) =>
        f.endsWith('@aws-lambda-powertools/metrics/package.json'),
      );
      expect(copies).toHaveLength(1);
    }, 180_000);

    test("the pool's metrics land in the user's single document", async () => {
      await writeFile(
        join(project, 'own-metrics.mjs'),
        `import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { withRedisPool, closeRedisPools } from 'lambda-redis-pool';
const metrics = new Metrics({ namespace: 'Shop', serviceName: 'orders' });
const handler = withRedisPool(async (event, context) => {
  metrics.addMetric('OrdersPlaced', MetricUnit.Count, 1);
  return context.redis.incr('lrp:pack:own-metrics');
}, { metrics });
const context = { getRemainingTimeInMillis: () => 3000, functionName: 'pack', awsRequestId: 'r1' };
await handler({}, context);
metrics.publishStoredMetrics();
await closeRedisPools();
`,
      );
      const lines = (await node(['own-metrics.mjs'], { REDIS_METRICS: 'true' })).split('\n');
      const docs = lines.filter((l) => l.includes('"_aws"')).map(parseEmf);
      expect(docs).toHaveLength(1);
      expect(docs[0]?._aws.CloudWatchMetrics[0]?.Namespace).toBe('Shop');
      expect(docs[0]?.OrdersPlaced).toBe(1);
      expect(docs[0]?.RedisPoolColdStart).toBe(1);
    });
  });
});
