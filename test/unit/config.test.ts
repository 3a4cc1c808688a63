import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rootCertificates } from 'node:tls';
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { DEFAULTS, ENV_VARS, loadConfig, redactUrl } from '../../src/config.js';
import {
  ConfigError,
  closeRedisPools,
  getRedisPool,
  type RedisPoolOptions,
} from '../../src/index.js';
import { POOL_OPTION_KEYS, POOL_OPTIONS } from '../../src/options.js';

const PASSWORD = 'hunter2-s3cr3t';

/** Real PEM certificates: two of Node's bundled root CAs. */
const [CERT_A = '', CERT_B = ''] = rootCertificates;

/** A fresh file holding `content`, in a directory of its own. */
function tempFile(name: string, content: string | Buffer): string {
  const path = join(mkdtempSync(join(tmpdir(), 'lrp-config-')), name);
  writeFileSync(path, content);
  return path;
}

function configError(env: Record<string, string>, options: object = {}): ConfigError {
  try {
    loadConfig(env, options as RedisPoolOptions);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error('expected loadConfig to throw');
}

describe('loadConfig', () => {
  it('gives the documented defaults for an empty environment', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      cluster: false,
      poolMax: DEFAULTS.poolMax,
      connectTimeoutMs: DEFAULTS.connectTimeoutMs,
      commandTimeoutMs: DEFAULTS.commandTimeoutMs,
      acquireTimeoutMs: DEFAULTS.acquireTimeoutMs,
      retryBaseMs: DEFAULTS.retryBaseMs,
      retryMaxMs: 30_000,
      idleCheckMs: DEFAULTS.idleCheckMs,
      tlsCaFile: undefined,
      connectOnInit: false,
      metricsNamespace: 'LambdaRedisPool',
      metrics: true,
      clientName: 'lambda-redis-pool',
    });
    expect(config.endpoint).toMatchObject({ host: '127.0.0.1', port: 6379, tls: false, db: 0 });
  });

  it('reads every variable', () => {
    const ca = tempFile('ca.pem', CERT_A);
    const config = loadConfig({
      REDIS_URL: `rediss://app:${PASSWORD}@cache.example.com:6380/3`,
      REDIS_CLUSTER: 'false',
      REDIS_POOL_MAX: '5',
      REDIS_CONNECT_TIMEOUT_MS: '1500',
      REDIS_COMMAND_TIMEOUT_MS: '250',
      REDIS_ACQUIRE_TIMEOUT_MS: '900',
      REDIS_RETRY_BASE_MS: '20',
      REDIS_RETRY_MAX_MS: '4000',
      REDIS_IDLE_CHECK_MS: '0',
      REDIS_TLS_CA_FILE: ca,
      REDIS_CONNECT_ON_INIT: 'yes',
      REDIS_METRICS_NAMESPACE: 'Shop/Cache',
      REDIS_METRICS: 'false',
      AWS_LAMBDA_FUNCTION_NAME: 'orders api',
    });
    expect(config).toMatchObject({
      poolMax: 5,
      connectTimeoutMs: 1500,
      commandTimeoutMs: 250,
      acquireTimeoutMs: 900,
      retryBaseMs: 20,
      retryMaxMs: 4000,
      idleCheckMs: 0,
      tlsCaFile: ca,
      connectOnInit: true,
      metricsNamespace: 'Shop/Cache',
      metrics: false,
      // CLIENT SETNAME refuses spaces.
      clientName: 'orders_api',
    });
    expect(config.endpoint).toMatchObject({
      host: 'cache.example.com',
      port: 6380,
      tls: true,
      db: 3,
      username: 'app',
    });
    expect(config.endpoint?.password?.reveal()).toBe(PASSWORD);
    expect(config.endpoint?.redactedUrl).toBe('rediss://app:***@cache.example.com:6380/3');
  });

  it('lets options given in code win over the environment', () => {
    const config = loadConfig(
      { REDIS_POOL_MAX: '7', REDIS_URL: 'redis://a:1' },
      { poolMax: 3, url: 'redis://b:2' },
    );
    expect(config.poolMax).toBe(3);
    expect(config.endpoint).toMatchObject({ host: 'b', port: 2 });
  });

  it('names every bad variable in one error, with what it expects', () => {
    const error = configError({
      REDIS_URL: 'http://cache:6379',
      REDIS_CLUSTER: 'maybe',
      REDIS_POOL_MAX: '0',
      REDIS_CONNECT_TIMEOUT_MS: 'soon',
      REDIS_COMMAND_TIMEOUT_MS: '-5',
      REDIS_ACQUIRE_TIMEOUT_MS: '1.5',
      REDIS_RETRY_BASE_MS: '100',
      REDIS_RETRY_MAX_MS: '10',
      REDIS_IDLE_CHECK_MS: 'x',
      REDIS_TLS_CA_FILE: '/nonexistent/ca.pem',
      REDIS_METRICS_NAMESPACE: 'AWS/ElastiCache',
      REDIS_METRICS: 'loud',
      REDIS_CONNECT_ON_INIT: '2',
    });
    expect(error.issues.map((i) => i.variable).sort()).toEqual(
      [
        'REDIS_URL',
        'REDIS_CLUSTER',
        'REDIS_POOL_MAX',
        'REDIS_CONNECT_TIMEOUT_MS',
        'REDIS_COMMAND_TIMEOUT_MS',
        'REDIS_ACQUIRE_TIMEOUT_MS',
        'REDIS_RETRY_MAX_MS',
        'REDIS_IDLE_CHECK_MS',
        'REDIS_TLS_CA_FILE',
        'REDIS_METRICS_NAMESPACE',
        'REDIS_METRICS',
        'REDIS_CONNECT_ON_INIT',
      ].sort(),
    );
    expect(error.message).toContain('REDIS_POOL_MAX: expected an integer from 1 to 1000, got "0"');
    expect(error.message).toContain('REDIS_CLUSTER: expected true or false, got "maybe"');
    expect(error.message).toContain('REDIS_URL: expected a redis:// or rediss:// URL');
    expect(error.message).toContain('a http:// URL');
    expect(error.message).toContain(
      'REDIS_RETRY_MAX_MS: expected a cap at least REDIS_RETRY_BASE_MS (100)',
    );
    expect(error.code).toBe('ERR_REDIS_POOL_CONFIG');
  });

  it('names the code option, not the variable, when the bad value came from code', () => {
    const error = configError({ REDIS_POOL_MAX: '2' }, { poolMax: -1 });
    expect(error.issues).toEqual([
      { variable: 'options.poolMax', expected: 'an integer from 1 to 1000', received: '-1' },
    ]);
  });

  it('rejects a database other than 0 in cluster mode and a CA file without TLS', () => {
    const ca = tempFile('ca.pem', CERT_A);
    const error = configError({
      REDIS_URL: 'redis://h:6379/2',
      REDIS_CLUSTER: 'true',
      REDIS_TLS_CA_FILE: ca,
    });
    expect(error.issues.map((i) => i.variable).sort()).toEqual(['REDIS_TLS_CA_FILE', 'REDIS_URL']);
  });

  describe('REDIS_TLS_CA_FILE is checked at init: a readable file of PEM certificates', () => {
    const TLS_URL = 'rediss://cache.example.com:6380';
    const caIssue = (path: string) =>
      configError({ REDIS_URL: TLS_URL, REDIS_TLS_CA_FILE: path }).issues.find(
        (i) => i.variable === 'REDIS_TLS_CA_FILE',
      );

    it('accepts a bundle of certificates, text between them included', () => {
      const bundle = tempFile('bundle.pem', `# Our CAs\n${CERT_A}\nsecond:\n${CERT_B}\n`);
      expect(loadConfig({ REDIS_URL: TLS_URL, REDIS_TLS_CA_FILE: bundle }).tlsCaFile).toBe(bundle);
    });

    it.each([
      ['a directory', () => mkdtempSync(join(tmpdir(), 'lrp-config-')), /\(a directory\)/],
      ['an empty file', () => tempFile('empty.pem', ''), /no PEM certificate/],
      ['a file of text', () => tempFile('notes.txt', 'hello\n'), /no PEM certificate/],
      [
        'DER bytes',
        () => tempFile('ca.der', Buffer.from([0x30, 0x82, 0x01, 0x0a, 0xff])),
        /no PEM/,
      ],
      [
        'a private key only',
        () => tempFile('key.pem', '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n'),
        /no PEM certificate/,
      ],
      [
        'a certificate whose body is not one',
        () =>
          tempFile(
            'broken.pem',
            `${CERT_A}\n-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n`,
          ),
        /certificate 2 of 2 does not parse/,
      ],
      [
        'a certificate cut short',
        () => tempFile('cut.pem', `${CERT_A}\n${CERT_B.slice(0, CERT_B.length / 2)}`),
        /certificate 2 of 2 has no END line/,
      ],
      ['a missing file', () => '/nonexistent/ca.pem', /not found or not readable/],
    ])('rejects %s, naming the variable and the path', (_, make, reason) => {
      const path = make();
      const issue = caIssue(path);
      expect(issue?.expected).toBe('a readable file of PEM certificates');
      expect(issue?.received).toContain(JSON.stringify(path));
      expect(issue?.received).toMatch(reason);
    });

    it('getRedisPool() refuses it at creation, before any acquire can fail on it', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'lrp-config-'));
      expect(() => getRedisPool({ url: TLS_URL, tlsCaFile: dir })).toThrow(
        /options\.tlsCaFile: expected a readable file of PEM certificates/,
      );
      await closeRedisPools();
    });
  });

  it('rejects a variable set to an empty string; only an unset one takes the default', () => {
    // An empty REDIS_URL used to mean 127.0.0.1:6379: in Lambda, a timeout instead of an error.
    expect(configError({ REDIS_URL: '' }).issues).toEqual([
      {
        variable: 'REDIS_URL',
        expected: 'a value (unset the variable for the default)',
        received: 'an empty string',
      },
    ]);
    expect(configError({ REDIS_URL: '  ' }).issues[0]?.received).toBe('an empty string');
    for (const key of POOL_OPTION_KEYS) {
      const { env } = POOL_OPTIONS[key];
      expect(configError({ [env]: '' }).issues.map((i) => i.variable)).toEqual([env]);
    }
    expect(loadConfig({ REDIS_URL: undefined }).endpoint).toMatchObject({
      host: '127.0.0.1',
      port: 6379,
    });
  });

  it.each([
    ['redis://cache:0', 'REDIS_URL'],
    ['rediss://cache:0/1', 'REDIS_URL'],
  ])('rejects port 0 (%s): a port is 1-65535', (url, variable) => {
    const error = configError({ REDIS_URL: url });
    expect(error.issues).toEqual([
      {
        variable,
        expected: 'a redis:// or rediss:// URL like redis://[user:password@]host[:port][/db]',
        received: expect.stringContaining('a port outside 1-65535'),
      },
    ]);
    expect(configError({}, { url }).issues[0]?.variable).toBe('options.url');
    expect(loadConfig({ REDIS_URL: 'redis://cache:1' }).endpoint?.port).toBe(1);
    expect(loadConfig({ REDIS_URL: 'redis://cache:65535' }).endpoint?.port).toBe(65_535);
    // Above 65535 the URL does not even parse.
    expect(configError({ REDIS_URL: 'redis://cache:65536' }).issues[0]?.variable).toBe('REDIS_URL');
  });

  it('never prints a password: not in errors, not when the config is logged', () => {
    const urls = [
      `redis://default:${PASSWORD}@host:6379/abc`,
      `rediss://:${PASSWORD}@host:notaport`,
      `redis://${PASSWORD}@`,
      `redis://user:${PASSWORD}@with@at@host/notadb`,
      PASSWORD,
      `ftp://user:${PASSWORD}@host`,
    ];
    for (const url of urls) {
      const error = configError({ REDIS_URL: url });
      expect(error.message).not.toContain(PASSWORD);
      expect(JSON.stringify(error.issues)).not.toContain(PASSWORD);
      expect(error.message).toContain('REDIS_URL');
    }
    const config = loadConfig({ REDIS_URL: `redis://app:${PASSWORD}@host:6379` });
    expect(JSON.stringify(config)).not.toContain(PASSWORD);
    expect(inspect(config, { depth: 10 })).not.toContain(PASSWORD);
    expect(String(config.endpoint?.password)).toBe('***');
  });
});

describe('pool options, each defined once in POOL_OPTIONS', () => {
  it('rejects an unknown option, naming it (a typo must not make a second pool)', () => {
    const error = configError({}, { poolmax: 3, pasword: PASSWORD, REDIS_URL: 'redis://h' });
    expect(error.issues).toEqual([
      {
        variable: 'options.poolmax',
        expected: 'a pool option (did you mean poolMax?)',
        received: 'an unknown option',
      },
      { variable: 'options.pasword', expected: 'a pool option', received: 'an unknown option' },
      {
        variable: 'options.REDIS_URL',
        expected: 'a pool option (did you mean url?)',
        received: 'an unknown option',
      },
    ]);
    expect(error.message).not.toContain(PASSWORD);
  });

  it('getRedisPool() refuses a misspelt option instead of creating a pool with its own budget', async () => {
    expect(() => getRedisPool({ poolmax: 3 } as RedisPoolOptions)).toThrow(
      /options\.poolmax: expected a pool option \(did you mean poolMax\?\)/,
    );
    await closeRedisPools();
  });

  it('rejects options that are not an object', () => {
    expect(configError({}, null as unknown as RedisPoolOptions).issues).toEqual([
      { variable: 'options', expected: 'an object of pool options', received: 'null' },
    ]);
  });

  it('enforces the bounds of every integer option, from its variable and in code', () => {
    for (const key of POOL_OPTION_KEYS) {
      if (key === 'url') continue; // the config holds it as `endpoint`
      const spec: { env: string; kind: string; min?: number; max?: number } = POOL_OPTIONS[key];
      if (spec.kind !== 'integer' || spec.min === undefined || spec.max === undefined) continue;
      // retryBaseMs must stay under the default retryMaxMs (and the reverse): pin the other.
      const env = { REDIS_RETRY_BASE_MS: '1', REDIS_RETRY_MAX_MS: '900000' };
      expect(loadConfig({ ...env, [spec.env]: String(spec.min) })[key]).toBe(spec.min);
      expect(loadConfig({ ...env, [spec.env]: String(spec.max) })[key]).toBe(spec.max);
      for (const bad of [spec.min - 1, spec.max + 1]) {
        expect(configError({ ...env, [spec.env]: String(bad) }).issues).toEqual([
          {
            variable: spec.env,
            expected: `an integer from ${spec.min} to ${spec.max}`,
            received: `"${bad}"`,
          },
        ]);
        expect(configError(env, { [key]: bad }).issues[0]?.variable).toBe(`options.${key}`);
      }
    }
  });

  it('reads every boolean option from its variable', () => {
    for (const key of POOL_OPTION_KEYS) {
      if (key === 'url') continue; // the config holds it as `endpoint`
      const { env, kind } = POOL_OPTIONS[key];
      if (kind !== 'boolean') continue;
      expect(loadConfig({ [env]: 'yes' })[key]).toBe(true);
      expect(loadConfig({ [env]: 'no' })[key]).toBe(false);
      expect(configError({ [env]: 'perhaps' }).issues[0]?.variable).toBe(env);
    }
  });

  it('derives ENV_VARS and DEFAULTS from the table', () => {
    for (const key of POOL_OPTION_KEYS) {
      expect(ENV_VARS[key]).toBe(POOL_OPTIONS[key].env);
      expect(DEFAULTS[key]).toBe(POOL_OPTIONS[key].default);
    }
    expect(new Set(Object.values(ENV_VARS)).size).toBe(POOL_OPTION_KEYS.length);
  });
});

describe('redactUrl', () => {
  it('hides passwords in userinfo and query parameters, keeps the rest', () => {
    expect(redactUrl('redis://u:p@h:1/0')).toBe('redis://u:***@h:1/0');
    expect(redactUrl('redis://:p@h')).toBe('redis://:***@h');
    expect(redactUrl('redis://h:6379?password=p&x=1')).toBe('redis://h:6379?password=***&x=1');
    expect(redactUrl('redis://h:6379')).toBe('redis://h:6379');
  });
});
