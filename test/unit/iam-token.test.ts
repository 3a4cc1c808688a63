/**
 * IAM authentication tokens, checked against an independent reading of the SigV4 presigning
 * rules (AWS's "Create a signed AWS API request" and "Authenticating with IAM" pages): the
 * canonical request, the string to sign and the signature are recomputed with node:crypto from
 * the inputs (test/helpers/sigv4.ts), not by calling the code under test or the AWS SDK.
 *
 * Stand-ins for AWS: none is contacted. The credentials are fixed values in the environment
 * (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN), read by the SDK's real default
 * provider chain; the clock is fixed.
 */
import { inspect } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  type IamTokenRequest,
  IamTokenSource,
  TOKEN_LIFETIME_S,
  TOKEN_REFRESH_MARGIN_MS,
} from '../../src/aws/iam-token.js';
import { ElastiCacheError } from '../../src/errors.js';
import { expectedIamToken, uriEncode } from '../helpers/sigv4.js';

const ACCESS_KEY = 'AKIDEXAMPLEIAMTOKEN1';
const SECRET_KEY = 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY';
const SESSION_TOKEN = 'IQoJb3JpZ2luX2VjEXAMPLE/session+token==';
/** 2024-01-15T12:34:56Z */
const NOW = Date.UTC(2024, 0, 15, 12, 34, 56);

const REQUEST: IamTokenRequest = {
  cacheName: 'orders-cache',
  userId: 'orders-app',
  serverless: false,
  region: 'eu-west-1',
};

const AWS_VARS = ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN'] as const;
let saved: Record<string, string | undefined> = {};

beforeEach(() => {
  saved = Object.fromEntries(AWS_VARS.map((name) => [name, process.env[name]]));
  process.env.AWS_ACCESS_KEY_ID = ACCESS_KEY;
  process.env.AWS_SECRET_ACCESS_KEY = SECRET_KEY;
  process.env.AWS_SESSION_TOKEN = SESSION_TOKEN;
});

afterEach(() => {
  for (const name of AWS_VARS) {
    if (saved[name] === undefined) delete process.env[name];
    else process.env[name] = saved[name];
  }
});

/** What test/helpers/sigv4.ts, the independent reading, computes for these inputs. */
function expectedToken(request: IamTokenRequest, now: number, sessionToken?: string) {
  return expectedIamToken({
    ...request,
    accessKeyId: ACCESS_KEY,
    secretAccessKey: SECRET_KEY,
    ...(sessionToken ? { sessionToken } : {}),
    now,
  });
}

/** A token split into its host and its (decoded) query parameters. */
function parseToken(token: string) {
  expect(token).not.toMatch(/^https?:\/\//);
  const url = new URL(`http://${token}`);
  expect(url.pathname).toBe('/');
  const params = Object.fromEntries(url.searchParams);
  // Each parameter appears once, encoded as RFC 3986 says (no '+' for spaces, '/' as %2F).
  for (const pair of url.search.slice(1).split('&')) {
    const [key = '', value = ''] = pair.split('=');
    expect(uriEncode(decodeURIComponent(value)), `${key} is RFC 3986 encoded`).toBe(value);
  }
  return { host: url.host, params };
}

const ENV_CREDENTIALS = () => new IamTokenSource(REQUEST, { now: () => NOW });

describe('an IAM token', () => {
  it('is the SigV4 presigned connect request, signed with the credentials of the environment', async () => {
    const { token } = await ENV_CREDENTIALS().token();
    const { host, params } = parseToken(token.reveal());
    const expected = expectedToken(REQUEST, NOW, SESSION_TOKEN);
    expect(host).toBe('orders-cache');
    const { 'X-Amz-Signature': signature, ...rest } = params;
    expect(rest).toEqual(expected.params);
    expect(signature).toBe(expected.signature);
    expect(token.reveal()).toBe(expected.token);
  });

  it('carries ResourceType=ServerlessCache for a serverless cache, signed', async () => {
    const request = { ...REQUEST, cacheName: 'sessions', serverless: true };
    const { token } = await new IamTokenSource(request, { now: () => NOW }).token();
    const { host, params } = parseToken(token.reveal());
    const expected = expectedToken(request, NOW, SESSION_TOKEN);
    const { 'X-Amz-Signature': signature, ...rest } = params;
    expect(host).toBe('sessions');
    expect(rest).toEqual(expected.params);
    expect(signature).toBe(expected.signature);
  });

  it('has no security token parameter with long-term credentials, and encodes the user', async () => {
    const request = { ...REQUEST, userId: 'app user/1' };
    const signed = await new IamTokenSource(request, {
      credentials: async () => ({ accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY }),
      now: () => NOW,
    }).token();
    const { params } = parseToken(signed.token.reveal());
    const expected = expectedToken(request, NOW);
    const { 'X-Amz-Signature': signature, ...rest } = params;
    expect(rest).toEqual(expected.params);
    expect(signature).toBe(expected.signature);
  });

  it('prints as *** everywhere but reveal()', async () => {
    const { token } = await ENV_CREDENTIALS().token();
    const printed = [String(token), JSON.stringify({ token }), inspect({ token })].join(' ');
    expect(printed).not.toContain('X-Amz');
    expect(printed).not.toContain(SECRET_KEY);
    expect(token.reveal()).not.toContain(SECRET_KEY);
  });
});

describe('IamTokenSource', () => {
  it('reuses a token while it has more than the margin left, then signs a new one', async () => {
    let now = NOW;
    const source = new IamTokenSource(REQUEST, { now: () => now });
    const first = await source.token();
    expect(first.expiresAt).toBe(NOW + TOKEN_LIFETIME_S * 1000);
    now = first.expiresAt - TOKEN_REFRESH_MARGIN_MS - 1;
    expect((await source.token()).token.reveal()).toBe(first.token.reveal());
    expect(source.signed).toBe(1);
    now = first.expiresAt - TOKEN_REFRESH_MARGIN_MS;
    expect(source.current()).toBeUndefined();
    const second = await source.token();
    expect(source.signed).toBe(2);
    expect(second.token.reveal()).not.toBe(first.token.reveal());
    expect(second.expiresAt).toBe(now + TOKEN_LIFETIME_S * 1000);
  });

  it('signs once for concurrent callers', async () => {
    const source = ENV_CREDENTIALS();
    const tokens = await Promise.all(Array.from({ length: 20 }, () => source.token()));
    expect(source.signed).toBe(1);
    expect(new Set(tokens.map((t) => t.token.reveal())).size).toBe(1);
  });

  it('ends a token when the credentials that signed it expire, if that is sooner', async () => {
    const expiration = new Date(NOW + 60_000);
    const source = new IamTokenSource(REQUEST, {
      now: () => NOW,
      credentials: async () => ({
        accessKeyId: ACCESS_KEY,
        secretAccessKey: SECRET_KEY,
        expiration,
      }),
    });
    expect((await source.token()).expiresAt).toBe(expiration.getTime());
    // One minute of life is less than the margin: not reused.
    expect(source.current()).toBeUndefined();
  });

  it('fails with an ElastiCacheError naming the cache, not the provider’s details, without credentials', async () => {
    const source = new IamTokenSource(REQUEST, {
      credentials: async () => {
        throw new Error(`provider failed near ${SECRET_KEY}`.slice(0, 20));
      },
    });
    const error = await source.token().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ElastiCacheError);
    expect(error).toMatchObject({ cacheName: 'orders-cache', reason: 'credentials' });
    expect((error as Error).message).toContain('orders-cache');
    // A failure is not cached: the next call tries again.
    await expect(source.token()).rejects.toBeInstanceOf(ElastiCacheError);
  });

  it('measures what signing costs ([figure])', async () => {
    // Each call 11 minutes after the last: every one signs anew, with the source's SDK client.
    let now = NOW;
    const source = new IamTokenSource(REQUEST, { now: () => now });
    const n = 300;
    for (let i = 0; i < 20; i++, now += 11 * 60_000) await source.token(); // warm-up
    const start = process.hrtime.bigint();
    for (let i = 0; i < n; i++, now += 11 * 60_000) await source.token();
    const perToken = Number(process.hrtime.bigint() - start) / n / 1000;
    const cached = process.hrtime.bigint();
    for (let i = 0; i < n; i++) await source.token();
    const perCached = Number(process.hrtime.bigint() - cached) / n / 1000;
    console.log(
      `[figure] an IAM token: ${perToken.toFixed(0)} µs to sign, ${perCached.toFixed(1)} µs from the cache (means of ${n})`,
    );
    // Every call of the first two loops signed; the third signed once (the clock had moved).
    expect(source.signed).toBe(20 + n + 1);
  });
});
