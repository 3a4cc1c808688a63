import { ReplyError } from 'ioredis';
import { describe, expect, it } from 'vitest';
import {
  AcquireTimeoutError,
  DeadlineError,
  isConnectionError,
  RedisUnavailableError,
} from '../../src/index.js';

const reply = (message: string): Error => new (ReplyError as new (m: string) => Error)(message);

describe('isConnectionError', () => {
  it('says yes for a dead or wrong connection', () => {
    expect(
      isConnectionError(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' })),
    ).toBe(true);
    expect(isConnectionError(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }))).toBe(
      true,
    );
    expect(isConnectionError(new Error('Connection is closed.'))).toBe(true);
    expect(
      isConnectionError(
        new Error("Stream isn't writeable and enableOfflineQueue options is false"),
      ),
    ).toBe(true);
    expect(isConnectionError(reply("READONLY You can't write against a read only replica."))).toBe(
      true,
    );
    expect(isConnectionError(reply('LOADING Redis is loading the dataset in memory'))).toBe(true);
    expect(isConnectionError(new RedisUnavailableError('down', 10))).toBe(true);
  });

  it('says no for a failed command, the caller’s own errors and non-errors', () => {
    expect(
      isConnectionError(reply('WRONGTYPE Operation against a key holding the wrong kind of value')),
    ).toBe(false);
    expect(isConnectionError(reply('ERR unknown command'))).toBe(false);
    expect(isConnectionError(new TypeError('x is undefined'))).toBe(false);
    expect(isConnectionError(new AcquireTimeoutError('budget', 5))).toBe(false);
    expect(isConnectionError(new DeadlineError(5))).toBe(false);
    expect(isConnectionError('ECONNRESET')).toBe(false);
    expect(isConnectionError(undefined)).toBe(false);
  });
});
