/**
 * No secret at any depth, against real redis-servers whose ACL users have passwords: the
 * errors the pool throws and what they hold (a refused HELLO … AUTH carries the password in
 * its arguments), the errors of a handler's own commands that pass through the wrappers, and
 * the context (and client) a handler logs. Each is printed every way application code prints
 * things (test/helpers/leaks.ts).
 */
import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import middy from '@middy/core';
import type { Cluster, Redis } from 'ioredis';
import { afterEach, describe, expect } from 'vitest';
import {
  closeRedisPools,
  type RedisContext,
  RedisPool,
  type RedisPoolOptions,
  RedisUnavailableError,
  withRedisPool,
} from '../../src/index.js';
import { type MiddyRedisContext, redisPool } from '../../src/middy.js';
import { test } from '../helpers/fixtures.js';
import { lambdaContext } from '../helpers/lambda.js';
import { printedEveryWay } from '../helpers/leaks.js';
import type { RedisServer } from '../helpers/redis-server.js';

const PASSWORD = `pw-${randomBytes(8).toString('hex')}`;
/** A password the server does not accept: what a function has after a botched rotation. */
const WRONG = `wrong-${randomBytes(8).toString('hex')}`;

/** Creating a cluster can take half a minute on a loaded machine. */
const CLUSTER_TEST_MS = 90_000;

afterEach(closeRedisPools);

/** The options of a pool that connects as `app`, with `password`. */
function options(server: RedisServer, password: string, extra: RedisPoolOptions = {}) {
  return {
    url: `redis://app:${password}@127.0.0.1:${server.port}`,
    metrics: false,
    commandTimeoutMs: 10_000,
    // One attempt per test: the refusal is permanent, the tests look at its error.
    retryBaseMs: 10_000,
    retryMaxMs: 10_000,
    ...extra,
  } satisfies RedisPoolOptions;
}

async function createApp(server: RedisServer): Promise<void> {
  await server.cli('ACL', 'SETUSER', 'app', 'on', `>${PASSWORD}`, '~*', '+@all');
}

/** The error `promise` rejects with. */
async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => expect.fail('expected a rejection'),
    (error: unknown) => error,
  );
}

/** Fails the test, without printing the text, when a secret is in it. */
function expectNoSecret(text: string): void {
  expect(text.includes(PASSWORD), 'the password is printed').toBe(false);
  expect(text.includes(WRONG), 'the configured (wrong) password is printed').toBe(false);
}

describe('the errors the pool throws carry no secret at any depth', () => {
  test('a refused password (WRONGPASS): the error and its cause, every way they are printed', async ({
    redisServer: server,
  }) => {
    await createApp(server);
    const pool = new RedisPool(options(server, WRONG), {});
    try {
      const error = await rejection(pool.acquire());
      expect(error).toBeInstanceOf(RedisUnavailableError);
      const unavailable = error as RedisUnavailableError;
      expect(unavailable.reason).toBe('credentials');
      expectNoSecret(printedEveryWay(unavailable));
      expectNoSecret(printedEveryWay(unavailable.cause));

      // The cause is still the server's refusal, and still says which command it refused.
      const cause = unavailable.cause as Error & { command?: unknown };
      expect(cause.name).toBe('ReplyError');
      expect(cause.message).toMatch(/^WRONGPASS/);
      expect(cause.stack).toMatch(/^ReplyError: WRONGPASS/);
      expect(cause.command).toEqual({ name: 'hello', args: ['3', 'AUTH', 'app', '***'] });
    } finally {
      await pool.close();
    }
  });

  test('the same, thrown by withRedisPool and by the middy middleware', async ({
    redisServer: server,
  }) => {
    await createApp(server);
    const plain = withRedisPool(async () => 'unreachable', { pool: options(server, WRONG) });
    const fromPlain = await rejection(plain({}, lambdaContext()));
    expect(fromPlain).toBeInstanceOf(RedisUnavailableError);
    expectNoSecret(printedEveryWay(fromPlain));

    const viaMiddy = middy<unknown, unknown, Error, MiddyRedisContext>()
      .use(redisPool({ pool: options(server, WRONG, { clientName: 'secrets-middy' }) }))
      .handler(async () => 'unreachable');
    const fromMiddy = await rejection(viaMiddy({}, lambdaContext() as MiddyRedisContext));
    expect(fromMiddy).toBeInstanceOf(RedisUnavailableError);
    expectNoSecret(printedEveryWay(fromMiddy));
  });
});

describe("errors of the handler's own commands pass through the wrappers redacted", () => {
  /** A handler's command that carries a secret and is refused, thrown through a wrapper. */
  const failing: Array<[string, (redis: Redis) => Promise<unknown>, unknown]> = [
    [
      'AUTH with a wrong password',
      (redis) => redis.call('AUTH', 'app', WRONG),
      { name: 'AUTH', args: ['app', '***'] },
    ],
    [
      'ACL SETUSER with a password rule, refused (NOPERM)',
      (redis) => redis.call('ACL', 'SETUSER', 'app', 'on', `>${WRONG}`, `#${'0'.repeat(64)}`),
      { name: 'ACL', args: ['SETUSER', 'app', 'on', '>***', '#***'] },
    ],
  ];

  test.for(failing)(
    '%s: withRedisPool rethrows it without the secret',
    async ([, run, command], { redisServer: server }) => {
      await server.cli('ACL', 'SETUSER', 'app', 'on', `>${PASSWORD}`, '~*', '+@all', '-@admin');
      const handler = withRedisPool(
        async (_event: unknown, context: RedisContext) => run(context.redis),
        { pool: options(server, PASSWORD, { clientName: 'secrets-handler' }) },
      );
      const error = (await rejection(handler({}, lambdaContext()))) as Error & {
        command?: unknown;
      };
      expect(error.name).toBe('ReplyError');
      expect(error.command).toEqual(command);
      expectNoSecret(printedEveryWay(error));
    },
  );

  test('the middy middleware: a refused command, and an EXECABORT whose previousErrors hold one', async ({
    redisServer: server,
  }) => {
    await server.cli('ACL', 'SETUSER', 'app', 'on', `>${PASSWORD}`, '~*', '+@all', '-@admin');
    const handler = middy<{ op: string }, unknown, Error, MiddyRedisContext>()
      .use(redisPool({ pool: options(server, PASSWORD, { clientName: 'secrets-middy' }) }))
      .handler(async (event, context) =>
        event.op === 'multi'
          ? context.redis.multi().call('CONFIG', 'SET', 'requirepass', WRONG).exec()
          : context.redis.call('AUTH', 'app', WRONG),
      );

    const auth = (await rejection(
      handler({ op: 'auth' }, lambdaContext() as MiddyRedisContext),
    )) as Error & {
      command?: unknown;
    };
    expect(auth.message).toMatch(/^WRONGPASS/);
    expect(auth.command).toEqual({ name: 'AUTH', args: ['app', '***'] });
    expectNoSecret(printedEveryWay(auth));

    const aborted = (await rejection(
      handler({ op: 'multi' }, lambdaContext() as MiddyRedisContext),
    )) as Error & {
      previousErrors?: Array<Error & { command?: unknown }>;
    };
    expect(aborted.message).toMatch(/^EXECABORT/);
    expect(aborted.previousErrors?.[0]?.command).toEqual({
      name: 'CONFIG',
      args: ['SET', 'requirepass', '***'],
    });
    expectNoSecret(printedEveryWay(aborted));
  });

  test("the handler's own error whose cause, or an AggregateError's errors, hold such an error", async ({
    redisServer: server,
  }) => {
    await createApp(server);
    const handler = withRedisPool(
      async (_event: unknown, context: RedisContext) => {
        const refused = await rejection(context.redis.call('AUTH', 'app', WRONG));
        throw new AggregateError([new Error('wrapped', { cause: refused })], 'all failed');
      },
      { pool: options(server, PASSWORD, { clientName: 'secrets-aggregate' }) },
    );
    const error = await rejection(handler({}, lambdaContext()));
    expect(error).toBeInstanceOf(AggregateError);
    const inner = (error as AggregateError).errors[0] as Error;
    expect((inner.cause as { command?: unknown }).command).toEqual({
      name: 'AUTH',
      args: ['app', '***'],
    });
    expectNoSecret(printedEveryWay(error));
  });
});

describe('the context a handler logs shows no secret, and JSON.stringify does not throw', () => {
  /** Checks the context from inside a handler, while its lease is held; returns what it found. */
  function expectContextSafe(context: RedisContext): void {
    expectNoSecret(printedEveryWay(context));
    expect(Object.keys(context)).not.toContain('redis');
    expect(inspect(context.redis)).toMatch(/^Redis \{ name: '[^']+', status: 'ready' \}$/);
    expect(JSON.parse(JSON.stringify(context.redis))).toEqual({
      name: expect.any(String),
      status: 'ready',
    });
    expectNoSecret(printedEveryWay(context.redis));
  }

  test('withRedisPool', async ({ redisServer: server }) => {
    await createApp(server);
    const handler = withRedisPool(
      async (_event: unknown, context: RedisContext) => {
        expectContextSafe(context);
        // Still the client: hidden from printing, not from use.
        return context.redis.ping();
      },
      { pool: options(server, PASSWORD, { clientName: 'secrets-context' }) },
    );
    expect(await handler({}, lambdaContext())).toBe('PONG');
  });

  test('the middy middleware', async ({ redisServer: server }) => {
    await createApp(server);
    const handler = middy<unknown, unknown, Error, MiddyRedisContext>()
      .use(redisPool({ pool: options(server, PASSWORD, { clientName: 'secrets-context-middy' }) }))
      .handler(async (_event, context) => {
        expectContextSafe(context);
        return context.redis.ping();
      });
    expect(await handler({}, lambdaContext() as MiddyRedisContext)).toBe('PONG');
  });

  test('a cluster client and its node clients', {
    timeout: CLUSTER_TEST_MS,
  }, async ({ redisCluster }) => {
    await Promise.all(
      redisCluster.nodes.map((node) =>
        node.cli('ACL', 'SETUSER', 'app', 'on', `>${PASSWORD}`, '~*', '&*', '+@all'),
      ),
    );
    const handler = withRedisPool(
      async (_event: unknown, context: RedisContext<Cluster>) => {
        await Promise.all(Array.from({ length: 30 }, (_, i) => context.redis.set(`k${i}`, 'v')));
        expectNoSecret(printedEveryWay(context));
        expect(Object.keys(context)).not.toContain('redis');
        expect(inspect(context.redis)).toBe("Cluster { status: 'ready', nodes: 3 }");
        expect(JSON.parse(JSON.stringify(context.redis))).toEqual({ status: 'ready', nodes: 3 });
        expectNoSecret(printedEveryWay(context.redis));
        for (const node of context.redis.nodes()) {
          expect(inspect(node)).toMatch(/^Redis \{ name: '[^']+', status: '\w+' \}$/);
          expectNoSecret(printedEveryWay(node));
        }
        return context.redis.get('k1');
      },
      {
        pool: {
          url: `redis://app:${PASSWORD}@127.0.0.1:${redisCluster.ports[0]}`,
          cluster: true,
          metrics: false,
          commandTimeoutMs: 10_000,
        },
      },
    );
    expect(await handler({}, lambdaContext())).toBe('v');
  });
});
