/**
 * What a failed connection attempt means: the classification behind RedisUnavailableError's
 * `permanent` and `reason`, on the errors ioredis and Node produce (replies as ioredis's
 * ReplyError, socket and TLS errors by their codes). test/integration/handshake.test.ts meets
 * the same errors from real servers.
 */
import { ReplyError } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { classifyConnectFailure } from '../../src/pool/connection-error.js';

const reply = (message: string): Error => new (ReplyError as new (m: string) => Error)(message);
const coded = (code: string, message = `${code} 10.1.2.3:6379 cache.internal`) =>
  Object.assign(new Error(message), { code });

describe('classifyConnectFailure', () => {
  it.each([
    [reply('WRONGPASS invalid username-password pair or user is disabled.'), 'credentials'],
    [reply('ERR invalid password'), 'credentials'],
    [reply('NOAUTH HELLO must be called with the client already authenticated'), 'credentials'],
    [reply("NOPERM this user has no permissions to run the 'select' command"), 'permission'],
    [coded('DEPTH_ZERO_SELF_SIGNED_CERT'), 'tls'],
    [coded('SELF_SIGNED_CERT_IN_CHAIN'), 'tls'],
    [coded('UNABLE_TO_VERIFY_LEAF_SIGNATURE'), 'tls'],
    [coded('UNABLE_TO_GET_ISSUER_CERT_LOCALLY'), 'tls'],
    [coded('ERR_TLS_CERT_ALTNAME_INVALID'), 'tls'],
    [coded('CERT_HAS_EXPIRED'), 'tls'],
    [coded('CERT_NOT_YET_VALID'), 'tls'],
    [reply('ERR DB index is out of range'), 'configuration'],
    [reply('ERR SELECT is not allowed in cluster mode'), 'configuration'],
    [coded('ERR_SSL_WRONG_VERSION_NUMBER'), 'configuration'],
  ])('permanent: %s → %s, with what to check', (error, reason) => {
    const failure = classifyConnectFailure(error);
    expect(failure).toMatchObject({ permanent: true, reason });
    expect(failure.check?.length).toBeGreaterThan(30);
  });

  it.each([
    [coded('ECONNREFUSED'), 'unreachable'],
    [coded('ECONNRESET'), 'unreachable'],
    [coded('ETIMEDOUT'), 'unreachable'],
    [coded('ENOTFOUND'), 'unreachable'],
    [coded('EAI_AGAIN'), 'unreachable'],
    [coded('EPIPE'), 'unreachable'],
    [new Error('Connection attempt timed out after 2000 ms'), 'unreachable'],
    [new Error('The server closed the connection during the handshake'), 'unreachable'],
    [reply('LOADING Redis is loading the dataset in memory'), 'loading'],
    [reply('ERR max number of clients reached'), 'server'],
    [reply('BUSY Redis is busy running a script'), 'server'],
    [reply('MASTERDOWN Link with MASTER is down'), 'server'],
  ])('transient: %s → %s', (error, reason) => {
    expect(classifyConnectFailure(error)).toMatchObject({ permanent: false, reason });
  });

  it('a server loading its dataset says so', () => {
    const failure = classifyConnectFailure(reply('LOADING Redis is loading the dataset in memory'));
    expect(failure.what).toMatch(/loading its dataset/);
  });

  it('names a socket or TLS error by its code alone: its message names addresses and hosts', () => {
    for (const code of ['ECONNREFUSED', 'CERT_HAS_EXPIRED', 'ERR_TLS_CERT_ALTNAME_INVALID']) {
      const failure = classifyConnectFailure(coded(code));
      expect(failure.what).toBe(code);
      expect(`${failure.what} ${failure.check ?? ''}`).not.toMatch(/10\.1\.2\.3|cache\.internal/);
    }
  });

  it('anything that is not an Error is transient', () => {
    expect(classifyConnectFailure('ECONNRESET')).toMatchObject({
      permanent: false,
      reason: 'unreachable',
    });
  });
});
