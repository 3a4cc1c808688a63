/**
 * Which command arguments carry secrets, and how errors holding such commands (at any depth)
 * are redacted in place. Errors are built as ioredis builds them: `error.command = { name,
 * args }` on the error of a refused command (test/integration/secrets.test.ts has the real
 * ones, from a real server).
 */
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { RedisUnavailableError } from '../../src/errors.js';
import { REDACTED, redactCommandArgs, redactSecrets } from '../../src/redact.js';
import { printedEveryWay } from '../helpers/leaks.js';

const SECRET = 'hunter2-secret';

/** An error as ioredis makes it for a refused command. */
function replyError(message: string, name: string, args: unknown[]): Error {
  const error = new Error(message);
  error.name = 'ReplyError';
  Object.assign(error, { command: { name, args } });
  return error;
}

const commandOf = (error: unknown) => (error as { command?: unknown }).command;

describe('redactCommandArgs: the argument positions that carry secrets', () => {
  it.each<[string, string, unknown[], unknown[]]>([
    ['AUTH password', 'AUTH', [SECRET], [REDACTED]],
    ['AUTH username password', 'auth', ['app', SECRET], ['app', REDACTED]],
    [
      'HELLO 3 AUTH username password (what ioredis sends to connect)',
      'hello',
      ['3', 'AUTH', 'app', SECRET],
      ['3', 'AUTH', 'app', REDACTED],
    ],
    [
      'HELLO with SETNAME before AUTH',
      'HELLO',
      ['3', 'SETNAME', 'auth', 'auth', 'app', SECRET],
      ['3', 'SETNAME', 'auth', 'auth', 'app', REDACTED],
    ],
    ['HELLO without AUTH', 'hello', ['3'], ['3']],
    [
      'MIGRATE … AUTH password',
      'migrate',
      ['h', '6379', '', '0', '5000', 'COPY', 'AUTH', SECRET, 'KEYS', 'a', 'auth'],
      ['h', '6379', '', '0', '5000', 'COPY', 'AUTH', REDACTED, 'KEYS', 'a', 'auth'],
    ],
    [
      'MIGRATE … AUTH2 username password',
      'MIGRATE',
      ['h', '6379', 'k', '0', '5000', 'REPLACE', 'AUTH2', 'app', SECRET],
      ['h', '6379', 'k', '0', '5000', 'REPLACE', 'AUTH2', 'app', REDACTED],
    ],
    [
      'MIGRATE: a key named AUTH is not an option',
      'migrate',
      ['h', '6379', 'AUTH', '0', '5000'],
      ['h', '6379', 'AUTH', '0', '5000'],
    ],
    [
      'CONFIG SET requirepass / masterauth / tls-key-file-pass, among others',
      'config',
      ['SET', 'maxmemory', '1gb', 'requirepass', SECRET, 'masterauth', SECRET],
      ['SET', 'maxmemory', '1gb', 'requirepass', REDACTED, 'masterauth', REDACTED],
    ],
    [
      'CONFIG SET tls-key-file-pass',
      'CONFIG',
      ['set', 'tls-key-file-pass', SECRET],
      ['set', 'tls-key-file-pass', REDACTED],
    ],
    ['CONFIG GET requirepass', 'config', ['GET', 'requirepass'], ['GET', 'requirepass']],
    [
      'ACL SETUSER with password and hash rules',
      'acl',
      [
        'SETUSER',
        'app',
        'on',
        `>${SECRET}`,
        `<${SECRET}`,
        `#${'a'.repeat(64)}`,
        `!${'b'.repeat(64)}`,
        '~*',
        '+@all',
      ],
      ['SETUSER', 'app', 'on', '>***', '<***', '#***', '!***', '~*', '+@all'],
    ],
    [
      'SENTINEL SET master auth-pass',
      'sentinel',
      ['SET', 'mymaster', 'auth-pass', SECRET, 'quorum', '2'],
      ['SET', 'mymaster', 'auth-pass', REDACTED, 'quorum', '2'],
    ],
    [
      'SENTINEL CONFIG SET sentinel-pass',
      'sentinel',
      ['CONFIG', 'SET', 'sentinel-pass', SECRET],
      ['CONFIG', 'SET', 'sentinel-pass', REDACTED],
    ],
    ['SET key value: nothing', 'set', ['auth', SECRET], ['auth', SECRET]],
  ])('%s', (_, name, args, expected) => {
    expect(redactCommandArgs(name, args)).toEqual(expected);
  });

  it('reads Buffer arguments, and leaves the array it was given alone', () => {
    const args = [Buffer.from('3'), Buffer.from('AUTH'), Buffer.from('app'), Buffer.from(SECRET)];
    const redacted = redactCommandArgs('hello', args);
    expect(redacted[3]).toBe(REDACTED);
    expect(redacted[2]).toBe(args[2]);
    expect(args[3]).toEqual(Buffer.from(SECRET));
  });
});

describe('redactSecrets: an error and every error it holds, in place', () => {
  it('replaces the command with a redacted copy; the error keeps its identity, class and stack', () => {
    const args = ['3', 'AUTH', 'app', SECRET];
    const error = replyError('WRONGPASS invalid username-password pair', 'hello', args);
    const stack = error.stack;
    expect(redactSecrets(error)).toBe(error);
    expect(commandOf(error)).toEqual({ name: 'hello', args: ['3', 'AUTH', 'app', REDACTED] });
    expect(error.stack).toBe(stack);
    expect(error.message).toBe('WRONGPASS invalid username-password pair');
    // ioredis's own array (the command it sent) is not touched.
    expect(args[3]).toBe(SECRET);
    expect(printedEveryWay(error)).not.toContain(SECRET);
  });

  it('walks causes, AggregateError errors, previousErrors and lastNodeError, and survives cycles', () => {
    const refused = () => replyError('WRONGPASS', 'auth', ['app', SECRET]);
    const exec = replyError('EXECABORT Transaction discarded', 'exec', []);
    Object.assign(exec, { previousErrors: [refused()] });
    const clusterFailed = new Error('Failed to refresh slots cache.');
    Object.assign(clusterFailed, { lastNodeError: refused() });
    const outer = new AggregateError(
      [new Error('wrapped', { cause: refused() }), exec, clusterFailed],
      'all failed',
      { cause: refused() },
    );
    // A cycle: the outer error is its inner error's cause too.
    ((outer.errors[0] as Error).cause as Error).cause = outer;
    const before = printedEveryWay(outer);
    expect(before).toContain(SECRET);

    redactSecrets(outer);

    expect(printedEveryWay(outer)).not.toContain(SECRET);
    expect(commandOf(outer.cause)).toEqual({ name: 'auth', args: ['app', REDACTED] });
  });

  it("removes a secret the server's message quotes back, from the message and the stack", () => {
    const hash = `${'c'.repeat(20)}`;
    const error = replyError(`ERR Error in ACL SETUSER modifier '#${hash}': Syntax error`, 'acl', [
      'SETUSER',
      'app',
      `#${hash}`,
    ]);
    redactSecrets(error);
    expect(error.message).toBe("ERR Error in ACL SETUSER modifier '#***': Syntax error");
    expect(error.stack).not.toContain(hash);
  });

  it('leaves errors without a secret, and anything that is not an error, as they were', () => {
    const plain = replyError('WRONGTYPE', 'get', ['key']);
    const command = commandOf(plain);
    redactSecrets(plain);
    expect(commandOf(plain)).toBe(command);
    const notAnError = { command: { name: 'auth', args: [SECRET] } };
    expect(redactSecrets(notAnError)).toBe(notAnError);
    expect(notAnError.command.args).toEqual([SECRET]);
    expect(redactSecrets(undefined)).toBeUndefined();
  });

  it('a frozen error cannot be changed: no throw', () => {
    const error = Object.freeze(replyError('WRONGPASS', 'auth', [SECRET]));
    expect(() => redactSecrets(error)).not.toThrow();
  });
});

describe('redactSecrets never throws (the wrappers call it on the way out of an invocation)', () => {
  it('walks a cause chain of any depth: 100,000 errors, the deepest redacted', () => {
    const deepest = replyError('WRONGPASS', 'auth', [SECRET]);
    let error = deepest;
    for (let i = 0; i < 100_000; i++) error = new Error(`wrap ${i}`, { cause: error });
    expect(redactSecrets(error)).toBe(error);
    expect(commandOf(deepest)).toEqual({ name: 'auth', args: [REDACTED] });
  });

  it('leaves an error it cannot read as it is, and goes on with the others', () => {
    const unreadable = new Error('a command that throws when read');
    Object.defineProperty(unreadable, 'command', {
      get() {
        throw new Error('getter boom');
      },
    });
    const noString = replyError('ERR', 'auth', [
      {
        toString() {
          throw new Error('no string form');
        },
      },
    ]);
    const readable = replyError('WRONGPASS', 'auth', [SECRET]);
    const revoked = Proxy.revocable({}, {});
    revoked.revoke();
    // A property that throws on every look, next to a command and a cause.
    const strange = Object.assign(replyError('WRONGPASS', 'auth', ['app', SECRET]), {
      meta: revoked.proxy,
    });
    const behind = replyError('WRONGPASS', 'auth', [SECRET]);
    Object.defineProperty(strange, 'cause', { value: behind });
    const error = new AggregateError([unreadable, noString, readable, strange], 'all of them');
    expect(redactSecrets(error)).toBe(error);
    expect(commandOf(readable)).toEqual({ name: 'auth', args: [REDACTED] });
    expect(commandOf(strange)).toEqual({ name: 'auth', args: ['app', REDACTED] });
    expect(commandOf(behind)).toEqual({ name: 'auth', args: [REDACTED] });
    // The argument with no string form did not stop its command's redaction.
    expect((commandOf(noString) as { args: unknown[] }).args).toEqual([REDACTED]);
  });

  it('walks an AggregateError of 200,000 errors (too many to spread into a call), and its own command', () => {
    const last = replyError('WRONGPASS', 'auth', [SECRET]);
    const many = [...Array.from({ length: 200_000 }, (_, i) => new Error(`e${i}`)), last];
    const error = Object.assign(new AggregateError(many, 'many'), {
      command: { name: 'auth', args: ['app', SECRET] },
    });
    expect(redactSecrets(error)).toBe(error);
    expect(commandOf(error)).toEqual({ name: 'auth', args: ['app', REDACTED] });
    expect(commandOf(last)).toEqual({ name: 'auth', args: [REDACTED] });
  });
});

describe("the library's errors redact their cause", () => {
  it('RedisUnavailableError built with a refused HELLO … AUTH as its cause', () => {
    const cause = replyError('WRONGPASS', 'hello', ['3', 'AUTH', 'app', SECRET]);
    const error = new RedisUnavailableError('Cannot connect to Redis', 0, { cause });
    expect(error.cause).toBe(cause);
    expect(inspect(error, { depth: Number.POSITIVE_INFINITY })).toContain("'AUTH', 'app', '***'");
    expect(printedEveryWay(error)).not.toContain(SECRET);
  });
});
