// What `cdk deploy` would upload is what is tested: `npm run synth` (the CDK CLI, offline, no
// AWS credentials: esbuild from node_modules, cdk-nag and the CDK's CloudFormation checks
// included) writes a cloud assembly; its function bundles run in the local Lambda simulator
// against a real redis-server, with the environment the template gives them.
//
// Stand-ins for AWS: the simulator (AWS's Runtime Interface Client) for Lambda, the local
// API's proxy events for API Gateway, a TLS redis-server for ElastiCache, and, for the IAM
// user's access string, a redis-server ACL user with a password instead of an IAM token.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect } from 'vitest';
import { BUNDLE_FILE, FUNCTIONS, type FunctionKey } from '../../functions/manifest.js';
import { toProxyEvent } from '../../local/api-event.js';
import { type AssemblyFunction, readAssemblyFunctions } from '../../local/cloud-assembly.js';
import { LambdaSimulator } from '../../local/index.js';
import { test } from '../helpers/fixtures.js';
import { ROOT, resolveValue, synthesize } from './support.js';

const run = promisify(execFile);
const SYNTH_TIMEOUT_MS = 240_000;

let outdir: string;
let functions: Record<FunctionKey, AssemblyFunction>;
const simulators: LambdaSimulator[] = [];

/** The environment of a shell with no AWS credentials or profile. */
function withoutAwsCredentials(): NodeJS.ProcessEnv {
  return Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !/^AWS_|^CDK_DEFAULT_/.test(name)),
  );
}

beforeAll(async () => {
  outdir = await mkdtemp(join(tmpdir(), 'lrp-cdk-out-'));
  await run('npm', ['run', 'synth', '--', '--quiet', '--output', outdir], {
    cwd: ROOT,
    env: withoutAwsCredentials(),
    timeout: SYNTH_TIMEOUT_MS,
    maxBuffer: 32 * 1024 * 1024,
  });
  functions = readAssemblyFunctions(outdir);
}, SYNTH_TIMEOUT_MS + 10_000);

afterEach(async () => {
  await Promise.all(simulators.splice(0).map((sim) => sim.stop()));
});

afterAll(async () => {
  if (outdir !== undefined) await rm(outdir, { recursive: true, force: true });
});

/** Starts the assembly's bundle of `key` in the simulator with the template's environment. */
async function simulate(key: FunctionKey, redisEnv: Record<string, string>) {
  const fn = functions[key];
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(fn.environment)) {
    // REDIS_URL names the cache endpoint only AWS knows; it is replaced below.
    if (typeof value === 'string') env[name] = value;
  }
  const sim = await LambdaSimulator.start({
    entry: fn.bundleDir,
    prebuilt: true,
    handlerExport: fn.handlerExport,
    functionName: `cdk-out-${key}`,
    timeoutMs: FUNCTIONS[key].timeoutMs,
    maxEnvironments: 1,
    env: { ...env, ...redisEnv, REDIS_METRICS: 'false' },
  });
  simulators.push(sim);
  return sim;
}

function get(path: string, query = '') {
  return toProxyEvent({
    method: 'GET',
    path,
    query,
    rawHeaders: ['Host', 'abc123.execute-api.eu-west-1.amazonaws.com'],
    body: Buffer.alloc(0),
    sourceIp: '192.0.2.1',
    resource: path,
    stage: 'prod',
  });
}

interface ProxyResult {
  statusCode: number;
  body: string;
}

describe('the cloud assembly of `npm run synth`', () => {
  test('holds both functions as the manifest bundles them: ESM, minified, source maps', async () => {
    for (const key of Object.keys(FUNCTIONS) as FunctionKey[]) {
      const { bundleDir, handlerExport, environment } = functions[key];
      const code = await readFile(join(bundleDir, BUNDLE_FILE), 'utf8');
      expect(handlerExport).toBe(FUNCTIONS[key].handler);
      // ESM with the manifest's banner (a require for ioredis), and no import of the library
      // left over: it is inside the bundle.
      expect(code).toContain('createRequire');
      expect(code).toMatch(/export\s*\{[^}]*\bhandler\b/);
      expect(code).not.toMatch(/from\s*["']lambda-redis-pool["']/);
      // Minified: long lines; names kept so errors are logged by their class name.
      expect(Math.max(...code.split('\n').map((line) => line.length))).toBeGreaterThan(10_000);
      expect(code).toContain('RedisUnavailableError');
      await expect(readFile(join(bundleDir, `${BUNDLE_FILE}.map`), 'utf8')).resolves.toContain(
        'functions/',
      );
      expect(environment.NODE_OPTIONS).toBe('--enable-source-maps');
      expect(resolveValue(environment.REDIS_URL)).toMatch(/^rediss:\/\//);
    }
  });

  describe('run in the simulator against a TLS redis-server', () => {
    test.override({ redisTls: true });

    test('health answers 200, throughput a report, a bad parameter 400', async ({
      redisServer,
    }) => {
      const caFile = redisServer.tls?.caFile;
      if (caFile === undefined) throw new Error('expected a TLS server');
      const redisEnv = { REDIS_URL: redisServer.url, REDIS_TLS_CA_FILE: caFile };
      expect(redisServer.url).toMatch(/^rediss:/);

      const health = await simulate('health', redisEnv);
      const healthReport = await health.invoke(get('/api/v1/health'));
      const healthResult = healthReport.result as ProxyResult;
      expect(healthResult.statusCode, healthReport.logs.join('\n')).toBe(200);
      expect(JSON.parse(healthResult.body)).toMatchObject({
        status: 'ok',
        redis: { mode: 'standalone' },
      });

      const throughput = await simulate('throughput', redisEnv);
      const ran = await throughput.invoke(
        get('/api/v1/test/redis', 'durationMs=300&concurrency=4&op=mixed'),
      );
      const ranResult = ran.result as ProxyResult;
      expect(ranResult.statusCode, ran.logs.join('\n')).toBe(200);
      const report = JSON.parse(ranResult.body);
      expect(report.ops).toBeGreaterThan(0);
      expect(report.errors).toBe(0);
      expect(report.params).toMatchObject({ durationMs: 300, concurrency: 4, op: 'mixed' });

      const bad = await throughput.invoke(get('/api/v1/test/redis', 'durationMs=0&op=flush'));
      const badResult = bad.result as ProxyResult;
      expect(badResult.statusCode).toBe(400);
      const message = JSON.parse(badResult.body).message as string;
      expect(message).toContain('durationMs');
      expect(message).toContain('op');
    });

    test("the IAM user's access string is enough for both functions", async ({ redisServer }) => {
      // The ACL the stack gives its IAM user (auth=iam), as a redis-server ACL user; a
      // password stands in for the IAM token the library will send (issue 11).
      const { template } = synthesize({ auth: 'iam' });
      const users = template.findResources('AWS::ElastiCache::User', {
        Properties: { AuthenticationMode: { Type: 'iam' } },
      });
      const [user] = Object.values(users) as Array<{ Properties: { AccessString: string } }>;
      const access = user?.Properties.AccessString ?? '';
      expect(access).toMatch(/^on /);
      await redisServer.cli('ACL', 'SETUSER', 'lrp-iam', ...access.split(' '), '>not-a-token');
      const caFile = redisServer.tls?.caFile ?? '';
      const url = redisServer.url.replace('rediss://', 'rediss://lrp-iam:not-a-token@');
      const redisEnv = { REDIS_URL: url, REDIS_TLS_CA_FILE: caFile };

      const health = await simulate('health', redisEnv);
      const healthResult = (await health.invoke(get('/api/v1/health'))).result as ProxyResult;
      expect(healthResult.statusCode).toBe(200);
      const throughput = await simulate('throughput', redisEnv);
      const ran = await throughput.invoke(get('/api/v1/test/redis', 'durationMs=200&op=mixed'));
      const report = JSON.parse((ran.result as ProxyResult).body);
      expect(report).toMatchObject({ errors: 0 });
      expect(report.ops).toBeGreaterThan(0);
      // And no more than that: an administrative command, or another application's keys,
      // are refused.
      for (const command of [['FLUSHALL'], ['GET', 'orders:1'], ['KEYS', '*']]) {
        await expect(redisServer.cli('ACL', 'DRYRUN', 'lrp-iam', ...command)).resolves.toMatch(
          /no permissions/,
        );
      }
    });
  });
});
