/**
 * withRedisPool() and the middy middleware against real redis-server processes, with a
 * Lambda-shaped context; EMF documents are read from what the code writes to stdout.
 */

import { createServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import httpErrorHandler from '@middy/http-error-handler';
import type { Context } from 'aws-lambda';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import {
  closeRedisPools,
  getRedisPool,
  METRIC_DIMENSION,
  METRIC_NAMES,
  METRIC_UNITS,
  type MetricKey,
  type RedisContext,
  RedisPoolError,
  type RedisPoolOptions,
  withRedisPool,
} from '../../src/index.js';
import { cleanupRedisPool, type MiddyRedisContext, redisPool } from '../../src/middy.js';
import { captureStdout, type EmfDocument, lambdaContext, metric } from '../helpers/lambda.js';
import { type RedisServer, startRedis, stopAll } from '../helpers/redis-server.js';
import { gate, settlesBefore } from './ordering.js';

afterEach(closeRedisPools);
afterAll(stopAll);

const NAMESPACE = 'LambdaRedisPoolTest';

/**
 * The command timeout of pools whose test is not about it. The library's 1 s default suits a
 * round trip inside a VPC, but a loaded 2-core test machine can leave a reply unread that long,
 * and the connection would be declared dead under a test that never meant to lose it (seen at
 * load 48: an exclusive lease's RESET on release). Tests of the timeout set their own.
 */
const COMMAND_TIMEOUT_MS = 10_000;

/** Pool options for one test's own server: a distinct options object means a distinct pool. */
function poolOptions(server: RedisServer, extra: RedisPoolOptions = {}): RedisPoolOptions {
  return {
    url: server.url,
    metricsNamespace: NAMESPACE,
    commandTimeoutMs: COMMAND_TIMEOUT_MS,
    ...extra,
  };
}

/**
 * A handler error the redaction on the way out cannot walk naively: causes 20,000 deep (deeper
 * than the stack lets a recursion go) around an error whose `command` throws when read.
 */
function unreadableError(): Error {
  const inner = new Error('refused');
  Object.defineProperty(inner, 'command', {
    get() {
      throw new Error('getter boom');
    },
  });
  let error = inner;
  for (let i = 0; i < 20_000; i++) error = new Error(`wrap ${i}`, { cause: error });
  return error;
}

/**
 * withRedisPool over `options`, its connection open (warmed: a lease is taken at once, so the
 * handler runs when the call returns): each invocation PINGs and returns 'done', or, when its
 * event says `hang`, first waits for `running` to open.
 */
async function hangingHandler(options: RedisPoolOptions, timeoutEarlyMs: number) {
  const running = gate();
  const handler = withRedisPool(
    async (event: { hang: boolean }, context: RedisContext) => {
      await context.redis.ping();
      if (event.hang) await running.wait;
      return 'done';
    },
    { pool: options, timeoutEarlyMs },
  );
  await handler.pool.warm();
  return { handler, running };
}

const sum = (docs: EmfDocument[], name: string) =>
  docs.reduce((total, d) => total + metric(d, name), 0);

/**
 * Lambda budget and early timeout for the early-timeout tests: seconds, so that acquiring (the
 * pool's deadline is 250 ms before Lambda's) fits on a loaded machine; the handlers wait on a
 * gate, so they are still running when the early timeout comes, whenever that is.
 */
const BUDGET_MS = 3_000;
const EARLY_MS = 2_000;

describe('withRedisPool', () => {
  it('1,000 sequential invocations create one connection; every one after the first reuses it', async () => {
    const server = await startRedis();
    const options = poolOptions(server);
    const handler = withRedisPool(
      async (_event: unknown, context: RedisContext) => context.redis.incr('hits'),
      {
        pool: options,
      },
    );
    const { result, emf } = await captureStdout(async () => {
      const results: number[] = [];
      for (let i = 0; i < 1_000; i++) results.push(await handler({}, lambdaContext()));
      return results;
    });
    expect(result.at(-1)).toBe(1_000);
    const stats = getRedisPool(options).stats();
    expect(stats.connectionsCreated).toBe(1);
    expect(emf).toHaveLength(1_000);
    expect(emf.map((d) => metric(d, METRIC_NAMES.connectionReused))).toEqual([
      0,
      ...Array(999).fill(1),
    ]);
    expect(sum(emf, METRIC_NAMES.connectionsCreated)).toBe(1);
    // This file's first invocation is its process's first: the cold-start marker, once.
    expect(emf.map((d) => metric(d, METRIC_NAMES.coldStart))).toEqual([1, ...Array(999).fill(0)]);
    expect((await server.clientList()).length).toBe(1);
  });

  it('writes one valid EMF document per invocation whose values agree with stats()', async () => {
    const server = await startRedis();
    const options = poolOptions(server);
    let during: ReturnType<ReturnType<typeof getRedisPool>['stats']> | undefined;
    const handler = withRedisPool(
      async (_event: unknown, context: RedisContext) => {
        during = getRedisPool(options).stats();
        return context.redis.ping();
      },
      { pool: options },
    );
    const { emf } = await captureStdout(() => handler({}, lambdaContext(3_000, 'orders-api')));
    expect(emf).toHaveLength(1);
    const doc = emf[0] as EmfDocument;

    // The EMF specification: _aws.Timestamp, CloudWatchMetrics with Namespace, Dimensions
    // (arrays of names present at the root) and Metrics (Name + Unit), values at the root.
    expect(Number.isInteger(doc._aws.Timestamp)).toBe(true);
    expect(Math.abs(doc._aws.Timestamp - Date.now())).toBeLessThan(60_000);
    const [directive] = doc._aws.CloudWatchMetrics;
    expect(directive?.Namespace).toBe(NAMESPACE);
    expect(directive?.Dimensions).toEqual([[METRIC_DIMENSION]]);
    expect(typeof doc[METRIC_DIMENSION]).toBe('string');
    for (const { Name, Unit } of directive?.Metrics ?? []) {
      const key = (Object.keys(METRIC_NAMES) as MetricKey[]).find((k) => METRIC_NAMES[k] === Name);
      expect(key, `unknown metric ${Name}`).toBeDefined();
      expect(Unit).toBe(METRIC_UNITS[key as MetricKey]);
      expect(typeof doc[Name]).toBe('number');
    }
    expect(directive?.Metrics.map((m) => m.Name).sort()).toEqual(
      Object.values(METRIC_NAMES)
        .filter((n) => n !== METRIC_NAMES.acquireErrors || doc[n] !== undefined)
        .sort(),
    );

    const after = getRedisPool(options).stats();
    expect(metric(doc, METRIC_NAMES.connectionsCreated)).toBe(after.connectionsCreated);
    expect(metric(doc, METRIC_NAMES.connectionsFailed)).toBe(after.connectionsFailed);
    expect(metric(doc, METRIC_NAMES.reconnects)).toBe(after.reconnects);
    expect(metric(doc, METRIC_NAMES.validationFailures)).toBe(after.validationFailures);
    expect(metric(doc, METRIC_NAMES.connectionsActive)).toBe(during?.active);
    expect(metric(doc, METRIC_NAMES.connectionsIdle)).toBe(during?.idle);
    expect(metric(doc, METRIC_NAMES.connectionReused)).toBe(0);
    expect(metric(doc, METRIC_NAMES.acquireErrors)).toBe(0);
    expect(metric(doc, METRIC_NAMES.acquireLatency)).toBeGreaterThanOrEqual(0);
  });

  it('a handler that throws: lease released, metrics flushed once, the same error reaches the caller', async () => {
    const server = await startRedis();
    const options = poolOptions(server);
    const failure = new TypeError('business logic failed');
    const handler = withRedisPool(
      async (_event: unknown, context: RedisContext) => {
        await context.redis.set('k', 'v');
        throw failure;
      },
      { pool: options },
    );
    const { result, emf } = await captureStdout(() =>
      handler({}, lambdaContext()).catch((e: unknown) => e),
    );
    expect(result).toBe(failure);
    expect(emf).toHaveLength(1);
    // Not a connection error: the connection stays for the next invocation.
    expect(getRedisPool(options).stats()).toMatchObject({ active: 0, idle: 1, connectionsLost: 0 });
  });

  it('a handler error that redaction cannot fully read (a cause chain 20,000 deep, a throwing getter) still reaches the caller; the lease is back', async () => {
    const server = await startRedis();
    const options = poolOptions(server);
    const failure = unreadableError();
    const handler = withRedisPool(
      async (_event: unknown, context: RedisContext) => {
        await context.redis.set('k', 'v');
        throw failure;
      },
      { pool: options },
    );
    const { result } = await captureStdout(() =>
      handler({}, lambdaContext()).catch((e: unknown) => e),
    );
    expect(result).toBe(failure);
    expect(getRedisPool(options).stats()).toMatchObject({ active: 0, idle: 1 });
  });

  it('a connection-level error destroys the connection; the next invocation gets a new one', async () => {
    const server = await startRedis();
    // A second (the default), not 100 ms: the handshake and the next invocation's PING must
    // answer within it too. The server is paused for as long as the timeout takes, rather than
    // put to sleep for a fixed time that must outlast it, and resumed before the next connect.
    const options = poolOptions(server, { commandTimeoutMs: 1_000 });
    const handler = withRedisPool(
      async (event: { pause: boolean }, context: RedisContext) => {
        if (event.pause) server.pause();
        return context.redis.ping();
      },
      { pool: options },
    );
    const error = await captureStdout(() =>
      handler({ pause: true }, lambdaContext()).catch((e: unknown) => e),
    );
    server.resume();
    // No reply within the command timeout: the connection is declared dead under the command.
    expect(error.result).toMatchObject({ name: 'ConnectionLostError', inFlight: true });
    expect(getRedisPool(options).stats()).toMatchObject({ connectionsLost: 1, active: 0 });
    const next = await captureStdout(() => handler({ pause: false }, lambdaContext()));
    expect(next.result).toBe('PONG');
    expect(metric(next.emf[0] as EmfDocument, METRIC_NAMES.connectionReused)).toBe(0);
    expect(getRedisPool(options).stats()).toMatchObject({ connectionsCreated: 2, reconnects: 1 });
  });

  it('64 concurrent invocations share one connection and write 64 documents whose counts add up', async () => {
    const server = await startRedis();
    const options = poolOptions(server);
    const handler = withRedisPool(
      async (event: { i: number }, context: RedisContext) => {
        await context.redis.set(`c:${event.i}`, String(event.i));
        await new Promise((r) => setTimeout(r, 10));
        return context.redis.get(`c:${event.i}`);
      },
      { pool: options },
    );
    const { result, emf } = await captureStdout(() =>
      Promise.all(Array.from({ length: 64 }, (_, i) => handler({ i }, lambdaContext()))),
    );
    expect(result).toEqual(Array.from({ length: 64 }, (_, i) => String(i)));
    expect(emf).toHaveLength(64);
    const stats = getRedisPool(options).stats();
    expect(stats.connectionsCreated).toBe(1);
    expect((await server.clientList()).length).toBe(1);
    expect(sum(emf, METRIC_NAMES.connectionsCreated)).toBe(stats.connectionsCreated);
    expect(sum(emf, METRIC_NAMES.connectionReused)).toBe(stats.reused);
    expect(sum(emf, METRIC_NAMES.acquireErrors)).toBe(0);
    // Each document is whole: every metric once, no values merged from another invocation.
    for (const doc of emf)
      expect(doc._aws.CloudWatchMetrics[0]?.Metrics.length).toBe(Object.keys(doc).length - 2);
  });

  it("writes a document at the end of the tick its lease was taken in: during the handler's first command, one write for a tick's leases, before an invocation that ends in that tick returns", async () => {
    const server = await startRedis();
    const options = poolOptions(server);
    const running = gate();
    const writes: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      writes.push(String(chunk));
      return true;
    });
    try {
      let writesDuringPing: number | undefined;
      const slow = withRedisPool(
        async (_event: unknown, context: RedisContext) => {
          const pong = context.redis.ping();
          writesDuringPing = writes.length; // not yet: this tick is not over
          await pong;
          await running.wait;
          return 'slow';
        },
        { pool: options },
      );
      await slow.pool.warm();
      const invocation = slow({}, lambdaContext());
      await new Promise((r) => setImmediate(r));
      expect(writesDuringPing).toBe(0);
      // The handler is still running, and its invocation's document is out.
      expect(writes).toHaveLength(1);
      running.open();
      await expect(invocation).resolves.toBe('slow');
      expect(writes).toHaveLength(1); // not a second time at the end

      // 64 leases taken in one tick: 64 documents, one write.
      const quick = withRedisPool(async () => 'quick', { pool: options });
      writes.length = 0;
      const all = Promise.all(Array.from({ length: 64 }, () => quick({}, lambdaContext())));
      expect(writes).toHaveLength(0);
      await all;
      expect(writes).toHaveLength(1);
      expect((writes[0] as string).split('\n').filter((l) => l.includes('"_aws"'))).toHaveLength(
        64,
      );

      // An invocation that ends within the tick its lease was taken in (no I/O): its document
      // is out before its promise settles, not at the end of the tick.
      writes.length = 0;
      await quick({}, lambdaContext());
      expect(writes).toHaveLength(1);
    } finally {
      running.open();
      vi.restoreAllMocks();
    }
  });

  it('with less time left than connecting needs, it fails fast with a typed error, well before the deadline', async () => {
    const server = await startRedis();
    const options = poolOptions(server);
    server.pause(); // connects hang: the kernel accepts, nothing answers
    let called = false;
    const handler = withRedisPool(
      async () => {
        called = true;
      },
      { pool: options },
    );
    const remaining = 600;
    const { result, emf } = await captureStdout(async () => {
      const context = lambdaContext(remaining);
      const outcome = handler({}, context).catch((e: unknown) => e);
      // The default margin keeps 250 ms of the 600 for the handler's error path: the acquire's
      // deadline timer is due before a sentinel 100 ms before Lambda's deadline, however late
      // both fire; an acquire that waited for the connect or acquire timeout would lose.
      expect(
        await settlesBefore(outcome, remaining - 100),
        "answered before a sentinel 100 ms before Lambda's deadline",
      ).toBe(true);
      return outcome;
    });
    server.resume();
    expect(result).toBeInstanceOf(RedisPoolError);
    expect(called).toBe(false);
    expect(metric(emf[0] as EmfDocument, METRIC_NAMES.acquireErrors)).toBe(1);
  });

  it('with metrics off, nothing is written to stdout', async () => {
    const server = await startRedis();
    const handler = withRedisPool(
      async (_e: unknown, context: RedisContext) => context.redis.ping(),
      {
        pool: poolOptions(server, { metrics: false }),
      },
    );
    const { result, lines } = await captureStdout(async () => {
      await handler({}, lambdaContext());
      return handler({}, lambdaContext());
    });
    expect(result).toBe('PONG');
    expect(lines).toEqual([]);
  });

  it("honours Powertools' POWERTOOLS_METRICS_DISABLED", async () => {
    const server = await startRedis();
    // Powertools reads it when the Metrics instance is made: when the wrapper is created.
    process.env.POWERTOOLS_METRICS_DISABLED = 'true';
    let handler: (event: unknown, context: Context) => Promise<string>;
    try {
      handler = withRedisPool(async (_e: unknown, context: RedisContext) => context.redis.ping(), {
        pool: poolOptions(server),
      });
    } finally {
      delete process.env.POWERTOOLS_METRICS_DISABLED;
    }
    const { result, lines } = await captureStdout(() => handler({}, lambdaContext()));
    expect(result).toBe('PONG');
    expect(lines).toEqual([]);
  });

  it('answers a handler still running at the early timeout with DeadlineError and flushes once', async () => {
    const server = await startRedis();
    const options = poolOptions(server);
    const running = gate();
    const handler = withRedisPool(
      async (_e: unknown, context: RedisContext) => {
        await context.redis.ping();
        await running.wait;
      },
      { pool: options, timeoutEarlyMs: EARLY_MS },
    );
    await handler.pool.warm(); // the invocation below measures the early timeout, not a connect
    try {
      const { result, emf } = await captureStdout(async () => {
        const context = lambdaContext(BUDGET_MS);
        const outcome = handler({}, context).catch((e: unknown) => e);
        // Answered before Lambda's deadline: the early timeout is due before this sentinel;
        // without it the handler would run on until the gate opens.
        expect(await settlesBefore(outcome, BUDGET_MS), 'answered before the deadline').toBe(true);
        return outcome;
      });
      expect((result as RedisPoolError).code).toBe('ERR_REDIS_POOL_DEADLINE');
      expect(emf).toHaveLength(1);
      expect(getRedisPool(options).stats().active).toBe(0);
    } finally {
      running.open();
    }
  });

  it("answers each of concurrent invocations at its own early timeout, the shortest first, with one handler's timer", async () => {
    const server = await startRedis();
    const options = poolOptions(server);
    const { handler, running } = await hangingHandler(options, EARLY_MS);
    try {
      const { result } = await captureStdout(async () => {
        // Ends at once, leaving the wrapper's timer armed for its (later) deadline.
        expect(await handler({ hang: false }, lambdaContext(2 * BUDGET_MS))).toBe('done');
        const long = handler({ hang: true }, lambdaContext(2 * BUDGET_MS)).catch((e: unknown) => e);
        // Due before everything armed so far: the timer must be brought forward for it.
        const short = handler({ hang: true }, lambdaContext(BUDGET_MS)).catch((e: unknown) => e);
        expect(await settlesBefore(short, BUDGET_MS), 'short answered in time').toBe(true);
        expect(await settlesBefore(long, 0), 'long not answered with short').toBe(false);
        // The timer, having fired for short, must be armed again for long.
        expect(await settlesBefore(long, 2 * BUDGET_MS), 'long answered in time').toBe(true);
        return Promise.all([short, long]);
      });
      for (const outcome of result) {
        expect((outcome as RedisPoolError).code).toBe('ERR_REDIS_POOL_DEADLINE');
      }
      expect(getRedisPool(options).stats().active).toBe(0);
    } finally {
      running.open();
    }
  });

  it("a handler still running past Lambda's deadline, its early timeout held back by a stalled loop, is answered when the next invocation starts", async () => {
    const server = await startRedis();
    const options = poolOptions(server);
    const { handler, running } = await hangingHandler(options, 200);
    try {
      const { result, emf } = await captureStdout(async () => {
        const context = lambdaContext(400);
        const stalled = handler({ hang: true }, context).catch((e: unknown) => e);
        // The stall: past its Lambda deadline (not just at it), no timer runs (its early timeout
        // among them).
        const pastDeadline = Date.now() + context.getRemainingTimeInMillis() + 2;
        while (Date.now() < pastDeadline) {
          // busy
        }
        let answered = false;
        void stalled.then(() => {
          answered = true;
        });
        const next = handler({ hang: false }, lambdaContext());
        // By the start of the next invocation, not by the overdue timer: answered before the
        // event loop turns (promise continuations only; no timer can run between them).
        for (let i = 0; i < 20 && !answered; i++) await Promise.resolve();
        expect(answered, 'answered by the next start').toBe(true);
        return Promise.all([stalled, next]);
      });
      expect((result[0] as RedisPoolError).code).toBe('ERR_REDIS_POOL_DEADLINE');
      expect(result[1]).toBe('done');
      expect(emf).toHaveLength(2); // one each: the stalled invocation's not written twice
      expect(getRedisPool(options).stats().active).toBe(0);
    } finally {
      running.open();
    }
  });

  it('after an early timeout, an exclusive connection the handler may still use is destroyed', async () => {
    const server = await startRedis();
    const options = poolOptions(server, { poolMax: 1 });
    const running = gate();
    const slow = async (_e: unknown, context: RedisContext) => {
      await context.redis.ping();
      await running.wait;
    };
    const early = withRedisPool(slow, {
      pool: options,
      exclusive: true,
      timeoutEarlyMs: EARLY_MS,
    });
    const viaMiddy = middy(slow, { timeoutEarlyInMillis: EARLY_MS }).use(
      redisPool({ pool: options, exclusive: true }),
    );
    /** Runs one invocation, which must be answered (early) before Lambda's deadline. */
    const answered = (invoke: () => Promise<unknown>) =>
      captureStdout(async () => {
        const outcome = invoke().catch((e: unknown) => e);
        expect(await settlesBefore(outcome, BUDGET_MS), 'answered before the deadline').toBe(true);
        return outcome;
      });
    try {
      const first = await answered(() => early({}, lambdaContext(BUDGET_MS)));
      expect((first.result as RedisPoolError).code).toBe('ERR_REDIS_POOL_DEADLINE');
      expect(getRedisPool(options).stats()).toMatchObject({ connectionsLost: 1, active: 0 });
      const second = await answered(() =>
        viaMiddy({}, lambdaContext(BUDGET_MS) as MiddyRedisContext),
      );
      expect((second.result as Error).name).toBe('TimeoutError');
      // Not handed on to the next invocation: each early-timed-out lease took its connection
      // along.
      expect(getRedisPool(options).stats()).toMatchObject({
        connectionsLost: 2,
        connectionsCreated: 2,
      });
    } finally {
      running.open();
    }
  });
});

describe("a handler's own TimeoutError is not an early timeout", () => {
  /** An HTTP server that accepts requests and never answers them. */
  async function silentHttpServer(): Promise<{ url: string; close(): Promise<void> }> {
    const sockets = new Set<Socket>();
    const server = createServer(() => {});
    server.on('connection', (socket) => sockets.add(socket));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    return {
      url: `http://127.0.0.1:${port}/`,
      close: () => {
        for (const socket of sockets) socket.destroy();
        return new Promise((resolve) => server.close(() => resolve()));
      },
    };
  }

  /** Uses its exclusive connection, then lets a fetch bounded by AbortSignal.timeout() fail. */
  function fetchingHandler(url: string) {
    return async (_event: unknown, context: RedisContext) => {
      await context.redis.set('before-fetch', '1');
      await fetch(url, { signal: AbortSignal.timeout(50) });
    };
  }

  it('withRedisPool: the exclusive connection is released for the next invocation, not destroyed', async () => {
    const server = await startRedis();
    const http = await silentHttpServer();
    const options = poolOptions(server, { poolMax: 1 });
    try {
      const handler = withRedisPool(fetchingHandler(http.url), { pool: options, exclusive: true });
      const { result } = await captureStdout(() =>
        handler({}, lambdaContext()).catch((e: unknown) => e),
      );
      // The handler's own error, thrown after the handler ended: not middy's, not ours.
      expect((result as Error).name).toBe('TimeoutError');
      expect(result).toBeInstanceOf(DOMException);
      expect(getRedisPool(options).stats()).toMatchObject({ connectionsLost: 0, idle: 1 });
    } finally {
      await http.close();
    }
  });

  it('redisPool(): the exclusive connection is released for the next invocation, not destroyed', async () => {
    const server = await startRedis();
    const http = await silentHttpServer();
    const options = poolOptions(server, { poolMax: 1 });
    try {
      const handler = middy(fetchingHandler(http.url)).use(
        redisPool({ pool: options, exclusive: true }),
      );
      const { result } = await captureStdout(() =>
        handler({}, lambdaContext() as MiddyRedisContext).catch((e: unknown) => e),
      );
      expect((result as Error).name).toBe('TimeoutError');
      expect(result).toBeInstanceOf(DOMException);
      expect(getRedisPool(options).stats()).toMatchObject({ connectionsLost: 0, idle: 1 });
      // The next invocation gets the same connection back.
      await captureStdout(() =>
        handler({}, lambdaContext() as MiddyRedisContext).catch((e: unknown) => e),
      );
      expect(getRedisPool(options).stats()).toMatchObject({ connectionsCreated: 1, reused: 1 });
    } finally {
      await http.close();
    }
  });
});

describe('redisPool() middy middleware', () => {
  type Handler = (event: unknown, context: RedisContext) => Promise<unknown>;

  /** The handler sees `context.redis` typed, without a cast. */
  function wrap(base: Handler, options: RedisPoolOptions, ...outer: middy.MiddlewareObj[]) {
    const handler = middy<unknown, unknown, Error, MiddyRedisContext>(base);
    for (const m of outer) handler.use(m);
    return handler.use(redisPool({ pool: options }));
  }

  it('sets context.redis, releases in after and flushes once', async () => {
    const server = await startRedis();
    const options = poolOptions(server);
    const handler = wrap(
      async (_e: unknown, context: RedisContext) => context.redis.incr('m'),
      options,
    );
    const { result, emf } = await captureStdout(async () => {
      await handler({}, lambdaContext() as MiddyRedisContext);
      return handler({}, lambdaContext() as MiddyRedisContext);
    });
    expect(result).toBe(2);
    expect(emf).toHaveLength(2);
    expect(getRedisPool(options).stats()).toMatchObject({ active: 0, connectionsCreated: 1 });
  });

  it('an error in the handler reaches the caller unchanged; released and flushed once', async () => {
    const server = await startRedis();
    const options = poolOptions(server);
    const failure = new Error('nope');
    const handler = wrap(async () => Promise.reject(failure), options);
    const { result, emf } = await captureStdout(() =>
      handler({}, lambdaContext() as MiddyRedisContext).catch((e: unknown) => e),
    );
    expect(result).toBe(failure);
    expect(emf).toHaveLength(1);
    expect(getRedisPool(options).stats().active).toBe(0);
  });

  it('an error that redaction cannot fully read still reaches the caller; released', async () => {
    const server = await startRedis();
    const options = poolOptions(server);
    const failure = unreadableError();
    const handler = wrap(async () => Promise.reject(failure), options);
    const { result } = await captureStdout(() =>
      handler({}, lambdaContext() as MiddyRedisContext).catch((e: unknown) => e),
    );
    expect(result).toBe(failure);
    expect(getRedisPool(options).stats().active).toBe(0);
  });

  it('an inner middleware that returns early and calls cleanupRedisPool still releases and flushes once', async () => {
    const server = await startRedis();
    const options = poolOptions(server);
    let handlerRan = false;
    const cache: middy.MiddlewareObj = {
      before: async (request) => {
        await cleanupRedisPool(request);
        return { statusCode: 200, body: 'from cache' };
      },
    };
    // Inner: its before runs after the pool's, so the lease is already out when it returns.
    const handler = middy<unknown, unknown, Error, MiddyRedisContext>(async () => {
      handlerRan = true;
    })
      .use(redisPool({ pool: options }))
      .use(cache);
    const { result, emf } = await captureStdout(() =>
      handler({}, lambdaContext() as MiddyRedisContext),
    );
    expect(result).toEqual({ statusCode: 200, body: 'from cache' });
    expect(handlerRan).toBe(false);
    expect(emf).toHaveLength(1);
    expect(getRedisPool(options).stats().active).toBe(0);
  });

  it("a lease left behind by an early return that skipped cleanup is reclaimed once its invocation's deadline passed", async () => {
    const server = await startRedis();
    const options = poolOptions(server, { poolMax: 1 });
    const rude: middy.MiddlewareObj = { before: async () => 'early' };
    const leaky = middy<unknown, unknown, Error, MiddyRedisContext>(async () => 'handler')
      .use(redisPool({ pool: options, exclusive: true, deadlineMarginMs: 0 }))
      .use(rude);
    const normal = middy<unknown, unknown, Error, MiddyRedisContext>(
      async (_e: unknown, context: RedisContext) => context.redis.ping(),
    ).use(redisPool({ pool: options, exclusive: true }));
    // Seconds to acquire in (not 200 ms, which a load spike could spend on the connect alone);
    // the test then waits until that deadline has passed, however long it took to get here.
    const abandonedContext = lambdaContext(2_000) as MiddyRedisContext;
    // No cleanup runs to write a leaky invocation's document before it returns: the end of the
    // tick its lease was taken in does.
    const leakyToEndOfTick = async (context: MiddyRedisContext) => {
      const result = await leaky({}, context);
      await new Promise((r) => process.nextTick(r));
      return result;
    };
    const first = await captureStdout(() => leakyToEndOfTick(abandonedContext));
    expect(first.result).toBe('early');
    // Written at the end of the tick its lease was taken in: skipping the cleanup loses nothing.
    expect(first.emf).toHaveLength(1);
    expect(getRedisPool(options).stats().active).toBe(1);
    await new Promise((r) => setTimeout(r, abandonedContext.getRemainingTimeInMillis() + 10));
    expect(abandonedContext.getRemainingTimeInMillis()).toBe(0);
    // Another invocation of the same wrapper reclaims it; a different wrapper waits for it.
    const second = await captureStdout(() =>
      leakyToEndOfTick(lambdaContext() as MiddyRedisContext),
    );
    // Its own document only: the abandoned invocation's is not written a second time.
    expect(second.emf).toHaveLength(1);
    const third = await captureStdout(() =>
      normal({}, lambdaContext(600) as MiddyRedisContext).catch((e: unknown) => e),
    );
    expect(third.result).toBeInstanceOf(RedisPoolError); // the second leaky lease holds the only connection
    expect(getRedisPool(options).stats().connectionsCreated).toBe(2); // the abandoned exclusive one was destroyed
  });

  it('a context whose getRemainingTimeInMillis() gives no number does not stop the reclaim of later abandoned leases', async () => {
    const server = await startRedis();
    const options = poolOptions(server);
    const running = gate();
    // Returns early, skipping every cleanup, when the event says so: the lease is left behind.
    const rude: middy.MiddlewareObj = {
      before: async (request) => ((request.event as { leak?: boolean }).leak ? 'early' : undefined),
    };
    const middleware = redisPool({ pool: options, deadlineMarginMs: 0 });
    type Event = { leak?: boolean; wait?: boolean };
    const handler = middy<Event, unknown, Error, MiddyRedisContext>(
      async (event: Event) => {
        if (event.wait) await running.wait;
        return 'handler';
      },
      { timeoutEarlyInMillis: 0 }, // middy's own would answer the stub's invocation at once
    )
      .use(middleware)
      .use(rude);
    await middleware.pool.warm();
    // A local runner's stub: no deadline the pool can read.
    const noDeadline = {
      ...lambdaContext(),
      getRemainingTimeInMillis: () => undefined as unknown as number,
    } as MiddyRedisContext;
    /** Leaves a lease behind, and waits until its invocation's deadline has passed. */
    const leakAndOutlive = async () => {
      const context = lambdaContext(1_000) as MiddyRedisContext;
      expect(await handler({ leak: true }, context)).toBe('early');
      await new Promise((r) => setTimeout(r, context.getRemainingTimeInMillis() + 10));
    };
    const { emf } = await captureStdout(async () => {
      const stub = handler({ wait: true }, noDeadline);
      await leakAndOutlive();
      // This one's start reclaims the first leak while the stub's invocation is in flight...
      await leakAndOutlive();
      running.open();
      expect(await stub).toBe('handler');
      // ...and this one's the second, once the stub's invocation is over.
      expect(await handler({}, lambdaContext() as MiddyRedisContext)).toBe('handler');
      await new Promise((r) => process.nextTick(r));
    });
    expect(getRedisPool(options).stats().active).toBe(0);
    expect(emf).toHaveLength(4);
  });

  it("middy's early timeout still releases and flushes once", async () => {
    const server = await startRedis();
    const options = poolOptions(server);
    const running = gate();
    const middleware = redisPool({ pool: options });
    const handler = middy<unknown, unknown, Error, MiddyRedisContext>(
      async (_e: unknown, context: RedisContext) => {
        await context.redis.ping();
        await running.wait;
      },
      { timeoutEarlyInMillis: EARLY_MS },
    ).use(middleware);
    await middleware.pool.warm(); // the invocation below is about the early timeout, not a connect
    try {
      const { result, emf } = await captureStdout(async () => {
        const outcome = handler({}, lambdaContext(BUDGET_MS) as MiddyRedisContext).catch(
          (e: unknown) => e,
        );
        expect(await settlesBefore(outcome, BUDGET_MS), 'answered before the deadline').toBe(true);
        return outcome;
      });
      expect((result as Error).name).toBe('TimeoutError');
      expect(emf).toHaveLength(1);
      expect(getRedisPool(options).stats().active).toBe(0);
    } finally {
      running.open();
    }
  });

  it("with the user's own Powertools Metrics, the pool's metrics land in the user's single document", async () => {
    const server = await startRedis();
    const options = poolOptions(server);
    const metrics = new Metrics({ namespace: 'Shop', serviceName: 'orders' });
    const handler = middy<unknown, unknown, Error, MiddyRedisContext>(
      async (_e: unknown, context: RedisContext) => {
        metrics.addMetric('OrdersPlaced', MetricUnit.Count, 1);
        return context.redis.ping();
      },
    )
      .use(logMetrics(metrics))
      .use(redisPool({ pool: options, metrics }));
    const { emf } = await captureStdout(() => handler({}, lambdaContext() as MiddyRedisContext));
    expect(emf).toHaveLength(1);
    const doc = emf[0] as EmfDocument;
    expect(doc._aws.CloudWatchMetrics[0]?.Namespace).toBe('Shop');
    expect(metric(doc, 'OrdersPlaced')).toBe(1);
    expect(metric(doc, METRIC_NAMES.connectionsCreated)).toBe(1);
    expect(metric(doc, METRIC_NAMES.acquireLatency)).toBeGreaterThanOrEqual(0);
  });

  it('types context.redis for the handler, in both wrappers, without casts', async () => {
    const server = await startRedis();
    const options = poolOptions(server, { metrics: false });
    await server.cli('SET', 'greeting', 'hello');
    // tsc checks this file: `context.redis.get` must type-check on a handler typed only by
    // its context, and both wrappers must accept it as written in the README.
    const base = async (_event: unknown, context: RedisContext) => context.redis.get('greeting');
    const plain: (event: unknown, context: Context) => Promise<string | null> = withRedisPool(
      base,
      {
        pool: options,
      },
    );
    const viaMiddy = middy(base).use(redisPool({ pool: options }));
    expect(await plain({}, lambdaContext())).toBe('hello');
    expect(await viaMiddy({}, lambdaContext() as MiddyRedisContext)).toBe('hello');
  });
});

describe('errors carry an HTTP status, for middy error handlers', () => {
  it('with @middy/http-error-handler, an unreachable Redis is a 503 whose body names no endpoint', async () => {
    const server = await startRedis();
    const options = poolOptions(server, { metrics: false });
    await server.kill();
    const handler = middy(async () => ({ statusCode: 200, body: 'unreachable' }))
      .use(httpErrorHandler({ logger: false }))
      .use(redisPool({ pool: options }));
    // Seconds, so that the first refused connect lands inside the acquire's deadline even on a
    // loaded machine: a deadline that passed before any attempt failed tells another story.
    const response = (await handler({}, lambdaContext(2_000) as MiddyRedisContext)) as {
      statusCode: number;
      body: string;
    };
    expect(response.statusCode).toBe(503);
    expect(response.body).toMatch(/^Redis is unavailable \(ECONNREFUSED\)/);
    expect(response.body).not.toContain(String(server.port));
    expect(response.body).not.toContain('127.0.0.1');
  });
});

describe('cold starts', () => {
  const fresh: Array<typeof import('../../src/index.js')> = [];
  afterEach(async () => {
    delete process.env.AWS_LAMBDA_INITIALIZATION_TYPE;
    await Promise.all(fresh.splice(0).map((library) => library.closeRedisPools()));
  });

  /** The cold-start metric of two invocations in a new execution environment of this type. */
  async function coldStartMetrics(initializationType: string | undefined): Promise<number[]> {
    if (initializationType === undefined) delete process.env.AWS_LAMBDA_INITIALIZATION_TYPE;
    else process.env.AWS_LAMBDA_INITIALIZATION_TYPE = initializationType;
    vi.resetModules(); // a new environment: the library's module state starts over
    const library = await import('../../src/index.js');
    fresh.push(library);
    const handler = library.withRedisPool(async (_e: unknown, context: RedisContext) =>
      context.redis.ping(),
    );
    const { emf } = await captureStdout(async () => {
      await handler({}, lambdaContext());
      await handler({}, lambdaContext());
    });
    return emf.map((doc) => metric(doc, METRIC_NAMES.coldStart));
  }

  it('an on-demand environment reports its first invocation as a cold start', async () => {
    expect(await coldStartMetrics('on-demand')).toEqual([1, 0]);
    expect(await coldStartMetrics(undefined)).toEqual([1, 0]);
  });

  it('a provisioned-concurrency environment does not: it was initialised before any request', async () => {
    expect(await coldStartMetrics('provisioned-concurrency')).toEqual([0, 0]);
  });
});
