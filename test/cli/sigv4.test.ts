// The throughput CLI's SigV4 signing for API Gateway: which calls are signed, what a denial
// says, and the real command (a child process) signing real requests. No AWS account here: a
// local server stands in for API Gateway's AWS_IAM authorization (./api-gateway-stand-in.ts:
// it recomputes each signature with the AWS SDK's signer) in front of the local API.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { deniedMessage, methodArn, parseApiGatewayHost } from '../../cli/api-gateway.js';
import { signRequest } from '../../cli/aws-signing.js';
import { parseCliArgs, THROUGHPUT_PATH, UsageError } from '../../cli/throughput-args.js';
import type { ThroughputReport } from '../../cli/throughput-format.js';
import { ROUTES } from '../../functions/manifest.js';
import { type LocalApi, startLocalApi } from '../../local/api-server.js';
import { type Credentials, type StandIn, startApiGatewayStandIn } from './api-gateway-stand-in.js';
import { type Run, runCli } from './run-cli.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const API = 'https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com';

function signingOf(argv: string[]) {
  const parsed = parseCliArgs(argv);
  if (parsed.help) throw new Error('unexpected --help');
  return parsed.signing;
}

describe('which calls are signed', () => {
  test('an execute-api URL at its stage: the throughput route, signed for its region', () => {
    for (const url of [`${API}/prod`, `${API}/prod/`, `${API}/prod${THROUGHPUT_PATH}`]) {
      expect(parseCliArgs(['--url', url])).toMatchObject({
        url: `${API}/prod${THROUGHPUT_PATH}`,
        signing: { region: 'eu-west-1' },
      });
    }
    // A path below the stage is taken as it is.
    expect(parseCliArgs(['--url', `${API}/prod/api/v1/health`])).toMatchObject({
      url: `${API}/prod/api/v1/health`,
    });
  });

  test('the local API and other hosts are not signed, unless --sign --region says so', () => {
    expect(signingOf([])).toBeUndefined();
    expect(signingOf(['--url', 'http://127.0.0.1:12000'])).toBeUndefined();
    expect(parseCliArgs(['--url', 'http://127.0.0.1:12000'])).toMatchObject({
      url: `http://127.0.0.1:12000${THROUGHPUT_PATH}`,
    });
    const custom = 'https://api.example.com/throughput';
    expect(signingOf(['--url', custom])).toBeUndefined();
    expect(parseCliArgs(['--url', custom, '--sign', '--region', 'us-east-1'])).toMatchObject({
      url: custom,
      signing: { region: 'us-east-1' },
    });
  });

  test.each([
    [['--sign'], '--sign: 127.0.0.1 names no region; add --region'],
    [['--region', 'eu-west-1'], '--region: only used to sign; add --sign'],
    [['--sign', '--region', 'Europe'], '--region: expected a region such as eu-west-1'],
    [['--url', `${API}/prod`, '--region', 'us-east-1'], "us-east-1 is not the URL's region"],
  ])('%j is a usage error', (argv, message) => {
    expect(() => parseCliArgs(argv)).toThrow(UsageError);
    expect(() => parseCliArgs(argv)).toThrow(message);
  });

  test.each([
    ['a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com', 'a1b2c3d4e5', 'eu-west-1', 'aws'],
    ['A1B2C3D4E5.Execute-API.us-east-1.amazonaws.com', 'a1b2c3d4e5', 'us-east-1', 'aws'],
    // A private API through a VPC endpoint's Route 53 alias.
    [
      'a1b2c3d4e5-vpce-0123456789abcdef0.execute-api.ap-south-1.amazonaws.com',
      'a1b2c3d4e5',
      'ap-south-1',
      'aws',
    ],
    ['a1b2c3d4e5.execute-api.cn-north-1.amazonaws.com.cn', 'a1b2c3d4e5', 'cn-north-1', 'aws-cn'],
    [
      'a1b2c3d4e5.execute-api.us-gov-west-1.amazonaws.com',
      'a1b2c3d4e5',
      'us-gov-west-1',
      'aws-us-gov',
    ],
  ])('%s is API Gateway', (host, apiId, region, partition) => {
    expect(parseApiGatewayHost(host)).toEqual({ apiId, region, partition });
  });

  test.each([
    'api.example.com',
    '127.0.0.1',
    'a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com.evil.test',
    'execute-api.eu-west-1.amazonaws.com',
    'a1b2c3d4e5.execute-api.eu-west-1.example.com',
  ])('%s is not API Gateway', (host) => {
    expect(parseApiGatewayHost(host)).toBeUndefined();
  });

  test('the CLI appends the route the manifest puts behind AWS_IAM', () => {
    expect(ROUTES.find((route) => route.fn === 'throughput')).toMatchObject({
      resource: THROUGHPUT_PATH,
      auth: 'iam',
    });
  });
});

describe('what a denial says', () => {
  const url = new URL(`${API}/prod${THROUGHPUT_PATH}`);

  test('the method ARN execute-api:Invoke must allow', () => {
    expect(methodArn(url, 'POST', 'eu-west-1')).toBe(
      'arn:aws:execute-api:eu-west-1:<account-id>:a1b2c3d4e5/prod/POST/api/v1/test/redis',
    );
    expect(methodArn(new URL('https://api.example.com/x'), 'GET', 'us-east-1')).toBe(
      'arn:aws:execute-api:us-east-1:<account-id>:<api-id>/<stage>/GET/<resource-path>',
    );
  });

  test.each([
    [
      'User: arn:aws:iam::123456789012:user/me is not authorized to perform: execute-api:Invoke',
      'needs execute-api:Invoke on arn:aws:execute-api:eu-west-1:<account-id>:a1b2c3d4e5/prod/POST/api/v1/test/redis',
    ],
    ['Signature expired: 20250101T000000Z is now earlier than …', 'clock is off'],
    ['The request signature we calculated does not match …', 'Check the secret key'],
    ['The security token included in the request is invalid.', 'refresh your credentials'],
    ['Missing Authentication Token', 'The API has no such route'],
  ])('signed, %s', (server, hint) => {
    const message = deniedMessage('U', server, url, 'POST', 'eu-west-1');
    expect(message).toContain(`U denied the call (403): ${server}`);
    expect(message).toContain(hint);
  });

  test('not signed: how to sign', () => {
    expect(deniedMessage('U', 'Missing Authentication Token', url, 'POST', undefined)).toContain(
      'pass --sign --region <region>',
    );
  });
});

// Made-up credentials, distinctive enough that any echo of them would be found.
const CREDENTIALS: Credentials = {
  accessKeyId: 'AKIAEXAMPLESTANDIN01',
  secretAccessKey: 'stand-in-secret/K7MDENG+bPxRfiCYEXAMPLEKEY',
  sessionToken: 'stand-in-session-token/IQoJb3JpZ2luX2VjEXAMPLETOKEN==',
};
const REGION = 'eu-west-1';

function expectNoSecrets(run: Run, secretAccessKey = CREDENTIALS.secretAccessKey): void {
  for (const secret of [secretAccessKey, CREDENTIALS.sessionToken]) {
    expect(run.stdout).not.toContain(secret);
    expect(run.stderr).not.toContain(secret);
  }
  expect(`${run.stdout}${run.stderr}`).not.toMatch(/AWS4-HMAC-SHA256|Signature=|\n\s+at /);
}

// A child process per test, and functions that cold-start: slow on a loaded machine.
describe('signed calls through an API Gateway stand-in', { timeout: 90_000 }, () => {
  let api: LocalApi;
  let gateway: StandIn;
  let skewed: StandIn;
  let dir: string;
  /** No AWS variable of this machine; config files that name no profile; no IMDS. */
  let bareEnv: NodeJS.ProcessEnv;

  const withCredentials = (secretAccessKey = CREDENTIALS.secretAccessKey): NodeJS.ProcessEnv => ({
    ...bareEnv,
    AWS_ACCESS_KEY_ID: CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: secretAccessKey,
    AWS_SESSION_TOKEN: CREDENTIALS.sessionToken,
  });
  const signed = (base: StandIn, ...args: string[]) => [
    '--url',
    `${base.url}${THROUGHPUT_PATH}`,
    '--sign',
    '--region',
    REGION,
    '--duration',
    '200',
    '--concurrency',
    '5',
    ...args,
  ];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lrp-sigv4-'));
    const empty = join(dir, 'empty');
    await writeFile(empty, '');
    bareEnv = {
      ...Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('AWS_'))),
      AWS_CONFIG_FILE: empty,
      AWS_SHARED_CREDENTIALS_FILE: empty,
      AWS_EC2_METADATA_DISABLED: 'true',
    };
    api = await startLocalApi({
      port: 0,
      redisUrl: REDIS_URL,
      env: { REDIS_METRICS: 'false' },
      // No test here is about Lambda's 10 s init limit, which a loaded machine can exceed.
      initTimeoutMs: 60_000,
    });
    gateway = await startApiGatewayStandIn({
      region: REGION,
      credentials: CREDENTIALS,
      upstream: api.url,
    });
    skewed = await startApiGatewayStandIn({
      region: REGION,
      credentials: CREDENTIALS,
      upstream: api.url,
      clockAheadMs: 10 * 60_000,
    });
  }, 90_000);
  afterAll(async () => {
    await gateway?.close();
    await skewed?.close();
    await api?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('a signed POST (its body hashed into the signature) is accepted: the table', async () => {
    const run = await runCli(signed(gateway, '--op', 'mixed'), withCredentials());
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^mixed x 5 for 200 ms/);
    expect(run.stdout).toMatch(/^ {2}ops\/s\s+\d/m);
    expect(gateway.seen.at(-1)).toEqual({
      method: 'POST',
      path: `/prod${THROUGHPUT_PATH}`,
      verified: true,
    });
    expectNoSecrets(run);
  });

  test('a signed GET (the parameters in the signed query string) is accepted: --json', async () => {
    const args = signed(gateway, '--method', 'GET', '--op', 'set', '--keyspace', '10', '--json');
    const run = await runCli(args, withCredentials());
    expect(run.code, run.stderr).toBe(0);
    const report = JSON.parse(run.stdout) as ThroughputReport;
    expect(report.params).toEqual({
      durationMs: 200,
      concurrency: 5,
      op: 'set',
      valueBytes: 100,
      keyspace: 10,
    });
    expect(report.ops).toBeGreaterThan(0);
    expect(gateway.seen.at(-1)).toMatchObject({ method: 'GET', verified: true });
    expectNoSecrets(run);
  });

  test("a wrong secret key: API Gateway's 403, what to check, exit 1", async () => {
    const wrong = 'a-wrong-secret/K7MDENG+bPxRfiCYEXAMPLEKEY';
    const run = await runCli(signed(gateway), withCredentials(wrong));
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toContain(
      'denied the call (403): The request signature we calculated does not match',
    );
    expect(run.stderr).toContain('Check the secret key of your AWS credentials');
    // The answer echoed the signed headers, the session token among them: shown redacted.
    expect(run.stderr).toContain('x-amz-security-token:***');
    expect(gateway.seen.at(-1)).toMatchObject({ verified: false });
    expectNoSecrets(run, wrong);
  });

  test("a clock that is off: API Gateway's message and a hint, exit 1", async () => {
    const run = await runCli(signed(skewed), withCredentials());
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('denied the call (403): Signature expired:');
    expect(run.stderr).toContain("This machine's clock is off");
    expectNoSecrets(run);
  });

  test('no credentials anywhere: what to set, exit 1, nothing sent', async () => {
    const before = gateway.seen.length;
    const run = await runCli(signed(gateway), bareEnv);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toContain('no AWS credentials found: set AWS_PROFILE');
    expect(run.stderr).toContain('AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY');
    expect(gateway.seen.length).toBe(before);
    expectNoSecrets(run);
  });

  test('an unsigned call to an AWS_IAM route: the 403 and how to sign, exit 1', async () => {
    const url = `${gateway.url}${THROUGHPUT_PATH}`;
    const run = await runCli(['--url', url, '--duration', '200'], withCredentials());
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('denied the call (403): Missing Authentication Token');
    expect(run.stderr).toContain('pass --sign --region <region>');
    expect(gateway.seen.at(-1)).toMatchObject({ verified: false });
    expectNoSecrets(run);
  });
});

describe('the credential chain', () => {
  test('runs once for all the calls a drill signs, not once per call', async () => {
    // A profile whose credential_process notes each run of it in a file.
    const dir = await mkdtemp(join(tmpdir(), 'lrp-chain-'));
    try {
      const runs = join(dir, 'runs');
      const answer = JSON.stringify({
        Version: 1,
        AccessKeyId: CREDENTIALS.accessKeyId,
        SecretAccessKey: CREDENTIALS.secretAccessKey,
        SessionToken: CREDENTIALS.sessionToken,
      });
      const script = join(dir, 'credential-process.sh');
      await writeFile(script, `echo run >> '${runs}'\necho '${answer}'\n`);
      const config = join(dir, 'config');
      await writeFile(config, `[profile counted]\ncredential_process = sh ${script}\n`);
      const empty = join(dir, 'empty');
      await writeFile(empty, '');
      for (const key of Object.keys(process.env)) {
        if (key.startsWith('AWS_')) vi.stubEnv(key, undefined);
      }
      vi.stubEnv('AWS_CONFIG_FILE', config);
      vi.stubEnv('AWS_SHARED_CREDENTIALS_FILE', empty);
      vi.stubEnv('AWS_EC2_METADATA_DISABLED', 'true');
      vi.stubEnv('AWS_PROFILE', 'counted');

      const request = {
        method: 'GET',
        url: new URL(`https://example.test${THROUGHPUT_PATH}`),
        headers: {},
      };
      for (let call = 0; call < 3; call += 1) {
        const signed = await signRequest(request, REGION);
        expect(signed.headers.authorization).toContain(CREDENTIALS.accessKeyId);
      }
      expect((await readFile(runs, 'utf8')).split('\n').filter(Boolean)).toHaveLength(1);
    } finally {
      vi.unstubAllEnvs();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
