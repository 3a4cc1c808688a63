// What `cdk deploy` would upload is what is tested: `npm run synth` (the CDK CLI, offline, no
// AWS credentials: esbuild from node_modules, cdk-nag and the CDK's CloudFormation checks
// included) writes a cloud assembly; its function bundles run in the local Lambda simulator
// against a real redis-server, with the environment the template gives them.
//
// Stand-ins for AWS: the simulator (AWS's Runtime Interface Client) for Lambda, the local
// API's proxy events for API Gateway, a TLS redis-server for ElastiCache, fixed credentials in
// the function's environment for its role, and for ElastiCache's IAM check the server's ACL:
// the stack's IAM user, with its access string, whose passwords are the tokens that an
// independent reading of SigV4 (test/helpers/sigv4.ts) gives for each second of the test.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Template } from 'aws-cdk-lib/assertions';
import { afterAll, afterEach, beforeAll, describe, expect } from 'vitest';
import { BUNDLE_FILE, FUNCTIONS, type FunctionKey } from '../../functions/manifest.js';
import { toProxyEvent } from '../../local/api-event.js';
import { type AssemblyFunction, readAssemblyFunctions } from '../../local/cloud-assembly.js';
import { LambdaSimulator } from '../../local/index.js';
import { test } from '../helpers/fixtures.js';
import { expectedIamTokenFor } from '../helpers/sigv4.js';
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

/** Seconds of IAM tokens the stand-in user accepts, from 30 s before the test began. */
const TOKEN_WINDOW_S = 330;
const REGION = 'eu-west-1';
/** The replication group's id, which CloudFormation would give. */
const STAND_IN_CACHE = 'lrp-stand-in-cache';
/** Credentials of the function's role, as Lambda puts them in its environment. */
const ROLE_CREDENTIALS = {
  AWS_ACCESS_KEY_ID: 'AKIDCDKBUNDLETEST01',
  AWS_SECRET_ACCESS_KEY: 'cdk/Bundle+Test0Secret0Key',
  AWS_SESSION_TOKEN: 'FwoGZXIvYXdzEXAMPLEcdkBundleTestSession',
};

/** The IAM token for the stand-in cache, signed at `now`, by AWS's rules (not the library's). */
function tokenFor(userId: string, now: number): string {
  return expectedIamTokenFor(ROLE_CREDENTIALS, {
    cacheName: STAND_IN_CACHE,
    userId,
    serverless: false,
    region: REGION,
    now,
  });
}

/** The access string of the stack's IAM-enabled ElastiCache user `userId`. */
function iamUserAccess(template: Template, userId: string): string {
  const users = Object.values(
    template.findResources('AWS::ElastiCache::User', {
      Properties: { AuthenticationMode: { Type: 'iam' }, UserId: userId },
    }),
  ) as Array<{ Properties: { AccessString: string } }>;
  const [user] = users;
  if (users.length !== 1 || user === undefined) throw new Error(`no IAM user ${userId}`);
  return user.Properties.AccessString;
}

/** A function's literal environment variables in a template (those AWS resolves left out). */
function literalEnvironment(template: Template, description: string): Record<string, string> {
  const [fn] = Object.values(
    template.findResources('AWS::Lambda::Function', { Properties: { Description: description } }),
  ) as Array<{ Properties: { Environment: { Variables: Record<string, unknown> } } }>;
  const variables = fn?.Properties.Environment.Variables ?? {};
  return Object.fromEntries(
    Object.entries(variables).filter(
      (entry): entry is [string, string] => typeof entry[1] === 'string',
    ),
  );
}

/**
 * Starts the assembly's bundle of `key` in the simulator, with the template's literal
 * environment (unless told otherwise) and `redisEnv` on top: what only AWS knows (the
 * endpoint, the cache's name) and what stands in for it.
 */
async function simulate(
  key: FunctionKey,
  redisEnv: Record<string, string>,
  { templateEnvironment = true } = {},
) {
  const fn = functions[key];
  const env: Record<string, string> = {};
  if (templateEnvironment) {
    for (const [name, value] of Object.entries(fn.environment)) {
      if (typeof value === 'string') env[name] = value;
    }
  }
  const sim = await LambdaSimulator.start({
    entry: fn.bundleDir,
    prebuilt: true,
    handlerExport: fn.handlerExport,
    functionName: `cdk-out-${key}`,
    region: REGION,
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

/**
 * Calls health until it answers 200, and returns that answer. A cold start (loading the AWS
 * SDK, signing, the TLS handshake) may outlast the health check's own 1 s budget on a loaded
 * machine: such an answer is a 503 with AcquireTimeoutError, and is tried again (at most 5
 * times). Any other answer fails at once.
 */
async function healthy(sim: LambdaSimulator): Promise<ProxyResult> {
  for (let attempt = 1; ; attempt++) {
    const report = await sim.invoke(get('/api/v1/health'));
    const result = report.result as ProxyResult;
    if (result?.statusCode === 200 || attempt === 5) {
      expect(result?.statusCode, report.logs.join('\n')).toBe(200);
      return result;
    }
    expect(result?.statusCode, report.logs.join('\n')).toBe(503);
    expect(JSON.parse(result.body).error?.type).toBe('AcquireTimeoutError');
  }
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

    test('IAM (the default): health answers 200, throughput a report, a bad parameter 400', async ({
      redisServer,
    }) => {
      const caFile = redisServer.tls?.caFile;
      if (caFile === undefined) throw new Error('expected a TLS server');
      const literal = (key: FunctionKey, name: string) => {
        const value = functions[key].environment[name];
        if (typeof value !== 'string') throw new Error(`${key}: ${name} is not a literal`);
        return value;
      };
      const userId = literal('health', 'REDIS_USER');
      expect(literal('health', 'REDIS_AUTH')).toBe('iam');
      expect(literal('throughput', 'REDIS_USER')).toBe(userId);
      // The ElastiCache user, as the stack defines it, with the token ElastiCache would accept
      // for any second of this test as its passwords.
      const { template } = synthesize({});
      const access = iamUserAccess(template, userId);
      const now = Date.now();
      const tokens = Array.from({ length: TOKEN_WINDOW_S }, (_, i) =>
        tokenFor(userId, now + (i - 30) * 1_000),
      );
      await redisServer.cli(
        'ACL',
        'SETUSER',
        userId,
        ...access.split(' '),
        ...tokens.map((t) => `>${t}`),
      );
      const redisEnv = {
        // The cache's endpoint and name are AWS's to fill in: the local server stands in.
        REDIS_URL: redisServer.url,
        REDIS_CACHE_NAME: STAND_IN_CACHE,
        REDIS_TLS_CA_FILE: caFile,
        ...ROLE_CREDENTIALS,
      };

      const health = await simulate('health', redisEnv);
      const healthResult = await healthy(health);
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

      // Every connection of both functions authenticated as the IAM user (with a token: it has
      // no other password; its access string has no CLIENT SETNAME, so they are unnamed), and
      // that user may do what the functions need and no more.
      const users = (await redisServer.clientList()).map((client) => client.user);
      expect(users.length).toBeGreaterThanOrEqual(2);
      expect(new Set(users)).toEqual(new Set([userId]));
      for (const command of [['FLUSHALL'], ['GET', 'orders:1'], ['KEYS', '*']]) {
        await expect(redisServer.cli('ACL', 'DRYRUN', userId, ...command)).resolves.toMatch(
          /no permissions/,
        );
      }
    });

    test('auth none: the same bundles with that variant’s environment', async ({ redisServer }) => {
      const { template } = synthesize({ auth: 'none' });
      const env = literalEnvironment(template, FUNCTIONS.health.description);
      expect(env.REDIS_AUTH).toBeUndefined();
      const redisEnv = {
        ...env,
        REDIS_URL: redisServer.url,
        REDIS_TLS_CA_FILE: redisServer.tls?.caFile ?? '',
      };
      const health = await simulate('health', redisEnv, { templateEnvironment: false });
      await healthy(health);
      // No authentication: the connection is the server's default user.
      const clients = await redisServer.clientList();
      expect(clients.map((client) => client.user)).toEqual(['default']);
      expect(clients[0]?.name).toMatch(/^cdk-out-health/);
    });
  });
});
