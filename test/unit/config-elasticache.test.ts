/**
 * The ElastiCache part of the configuration: REDIS_AUTH, REDIS_USER, REDIS_CACHE_NAME,
 * REDIS_SERVERLESS, REDIS_MAX_CONNECTION_AGE_MS, checked at init with everything else.
 */
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { ConfigError, type RedisPoolOptions } from '../../src/index.js';

function configError(env: Record<string, string>, options: RedisPoolOptions = {}): ConfigError {
  try {
    loadConfig(env, options);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error('expected loadConfig to throw');
}

const IAM = {
  REDIS_AUTH: 'iam',
  REDIS_URL: 'rediss://orders-app@master.orders.abc123.euw1.cache.amazonaws.com:6379',
  REDIS_CACHE_NAME: 'orders',
  AWS_REGION: 'eu-west-1',
};

describe('REDIS_AUTH=iam', () => {
  it('names each missing or unsafe piece in one ConfigError', () => {
    const error = configError({
      REDIS_AUTH: 'iam',
      REDIS_URL: 'redis://cache.example.com:6379',
      REDIS_MAX_CONNECTION_AGE_MS: '0',
    });
    const variables = error.issues.map((i) => i.variable);
    expect(variables).toEqual([
      'REDIS_URL',
      'REDIS_USER',
      'REDIS_CACHE_NAME',
      'AWS_REGION',
      'REDIS_MAX_CONNECTION_AGE_MS',
    ]);
    expect(error.issues[0]?.expected).toContain('in-transit encryption');
    expect(error.message).toContain('REDIS_AUTH=iam');
  });

  it('refuses a password in the URL, without printing it', () => {
    const error = configError({ ...IAM, REDIS_URL: 'rediss://app:hunter2-secret@cache:6379' });
    expect(error.issues).toEqual([
      {
        variable: 'REDIS_URL',
        expected: expect.stringContaining('no password in the URL'),
        received: 'rediss://app:***@cache:6379',
      },
    ]);
    expect(inspect(error, { depth: 10 })).not.toContain('hunter2-secret');
  });

  it('takes the user from the URL or REDIS_USER, and refuses two different ones', () => {
    expect(loadConfig(IAM)).toMatchObject({ auth: 'iam', user: 'orders-app', cacheName: 'orders' });
    const url = 'rediss://cache.example.com:6379';
    expect(loadConfig({ ...IAM, REDIS_URL: url, REDIS_USER: 'app' }).endpoint?.username).toBe(
      'app',
    );
    expect(loadConfig({ ...IAM, REDIS_USER: 'orders-app' }).user).toBe('orders-app');
    const error = configError({ ...IAM, REDIS_USER: 'other' });
    expect(error.issues.map((i) => i.variable)).toEqual(['REDIS_USER']);
    expect(error.issues[0]?.received).toContain('"orders-app" in the URL');
  });

  it('keeps connections under ElastiCache’s 12-hour limit', () => {
    expect(loadConfig(IAM).maxConnectionAgeMs).toBe(41_400_000);
    const error = configError({ ...IAM, REDIS_MAX_CONNECTION_AGE_MS: '43200001' });
    expect(error.issues.map((i) => i.variable)).toEqual(['REDIS_MAX_CONNECTION_AGE_MS']);
    expect(loadConfig({ ...IAM, REDIS_MAX_CONNECTION_AGE_MS: '43200000' }).maxConnectionAgeMs).toBe(
      43_200_000,
    );
  });

  it('names the option in code when the option was given in code', () => {
    const error = configError({ AWS_REGION: 'eu-west-1' }, { auth: 'iam', cacheName: 'orders' });
    expect(error.issues.map((i) => i.variable)).toEqual(['REDIS_USER']);
    expect(error.issues[0]?.expected).toContain('options.auth=iam');
  });

  it('accepts password or iam only', () => {
    expect(loadConfig({}).auth).toBe('password');
    expect(configError({ REDIS_AUTH: 'token' }).issues).toEqual([
      { variable: 'REDIS_AUTH', expected: 'password or iam', received: '"token"' },
    ]);
  });
});

describe('REDIS_CACHE_NAME', () => {
  it('without REDIS_URL means discovery: no endpoint at init, and a region to look in', () => {
    const config = loadConfig({ REDIS_CACHE_NAME: 'orders', AWS_REGION: 'eu-west-1' });
    expect(config.endpoint).toBeUndefined();
    expect(config).toMatchObject({ cacheName: 'orders', region: 'eu-west-1', serverless: false });
    expect(configError({ REDIS_CACHE_NAME: 'orders' }).issues.map((i) => i.variable)).toEqual([
      'AWS_REGION',
    ]);
    expect(loadConfig({ REDIS_CACHE_NAME: 'orders', AWS_DEFAULT_REGION: 'us-east-2' }).region).toBe(
      'us-east-2',
    );
  });

  it('with REDIS_URL keeps the URL as the endpoint', () => {
    const config = loadConfig({ REDIS_CACHE_NAME: 'orders', REDIS_URL: 'redis://10.0.0.5:6379' });
    expect(config.endpoint).toMatchObject({ host: '10.0.0.5' });
  });

  it('set but invalid with REDIS_AUTH=iam is one issue, not also "unset"', () => {
    const error = configError({ ...IAM, REDIS_CACHE_NAME: 'Bad_Name' });
    expect(error.issues).toHaveLength(1);
    expect(error.issues[0]).toMatchObject({ variable: 'REDIS_CACHE_NAME', received: '"Bad_Name"' });
  });

  it('must be an ElastiCache id, lowercase', () => {
    const upper = configError({ REDIS_CACHE_NAME: 'Orders', AWS_REGION: 'eu-west-1' });
    expect(upper.issues[0]).toMatchObject({ variable: 'REDIS_CACHE_NAME', received: '"Orders"' });
    expect(upper.issues[0]?.expected).toContain('did you mean "orders"?');
    for (const bad of ['1orders', 'orders-', 'or--ders', 'or_ders', 'a'.repeat(41)]) {
      const error = configError({ REDIS_CACHE_NAME: bad, AWS_REGION: 'eu-west-1' });
      expect(
        error.issues.map((i) => i.variable),
        bad,
      ).toEqual(['REDIS_CACHE_NAME']);
    }
    const longest = `a${'-b'.repeat(19)}`;
    expect(loadConfig({ REDIS_CACHE_NAME: longest, AWS_REGION: 'x' }).cacheName).toBe(longest);
  });
});

describe('REDIS_SERVERLESS', () => {
  it('means cluster mode unless REDIS_CLUSTER says otherwise', () => {
    expect(loadConfig({ REDIS_SERVERLESS: 'true' }).cluster).toBe(true);
    expect(loadConfig({ REDIS_SERVERLESS: 'true', REDIS_CLUSTER: 'false' }).cluster).toBe(false);
    expect(loadConfig({}).cluster).toBe(false);
  });
});

describe('REDIS_MAX_CONNECTION_AGE_MS', () => {
  it('defaults to 11.5 hours; 0 (no maximum) is allowed with passwords', () => {
    expect(loadConfig({}).maxConnectionAgeMs).toBe(11.5 * 3_600_000);
    expect(loadConfig({ REDIS_MAX_CONNECTION_AGE_MS: '0' }).maxConnectionAgeMs).toBe(0);
    expect(configError({ REDIS_MAX_CONNECTION_AGE_MS: '-1' }).issues[0]?.variable).toBe(
      'REDIS_MAX_CONNECTION_AGE_MS',
    );
  });
});

describe('REDIS_USER', () => {
  it('is a user name without spaces or URL delimiters', () => {
    expect(loadConfig({ REDIS_USER: 'app' }).endpoint?.username).toBe('app');
    expect(configError({ REDIS_USER: 'my app' }).issues[0]?.variable).toBe('REDIS_USER');
  });
});
