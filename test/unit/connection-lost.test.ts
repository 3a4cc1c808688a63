/**
 * ConnectionLostError, the one error of a command that its connection could not carry: what a
 * handler, an error handler (http-errors fields) and the pool (isConnectionError) read from it.
 * The integration suite (test/integration/liveness.test.ts) produces it from real sockets.
 */
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { ConnectionLostError, isConnectionError, RedisPoolError } from '../../src/index.js';

describe('ConnectionLostError', () => {
  it('is a RedisPoolError: a stable code, a 503 whose message may be shown', () => {
    const error = new ConnectionLostError('incr', true);
    expect(error).toBeInstanceOf(RedisPoolError);
    expect(error).toMatchObject({
      name: 'ConnectionLostError',
      code: 'ERR_REDIS_POOL_CONNECTION_LOST',
      statusCode: 503,
      status: 503,
      expose: true,
      inFlight: true,
      command: 'incr',
    });
  });

  it('says whether the outcome is unknown', () => {
    expect(new ConnectionLostError('incr', true).message).toBe(
      'The connection to Redis was lost while INCR was in flight: its outcome is unknown',
    );
    expect(new ConnectionLostError('get', false).message).toBe(
      'The connection to Redis was lost: GET was not sent',
    );
  });

  it('the pool drops a connection that failed with it', () => {
    expect(isConnectionError(new ConnectionLostError('get', false))).toBe(true);
  });

  it('keeps its cause out of JSON, and shows it to inspect', () => {
    const cause = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
    const error = new ConnectionLostError('set', true, { cause });
    expect(JSON.parse(JSON.stringify(error))).toEqual({
      name: 'ConnectionLostError',
      code: 'ERR_REDIS_POOL_CONNECTION_LOST',
      statusCode: 503,
      status: 503,
      expose: true,
      inFlight: true,
      command: 'set',
    });
    expect(inspect(error)).toContain('read ECONNRESET');
  });
});
