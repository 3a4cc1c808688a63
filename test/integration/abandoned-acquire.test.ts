/**
 * An invocation abandoned while its acquire still waits (its Lambda deadline passed; another
 * invocation's start reclaimed it) must not keep the lease that arrives afterwards: nobody
 * would release it, and the pool's budget would shrink for good.
 *
 * The order is forced with real parts: a real redis-server, a real ioredis connection opened
 * through the pool's own factory (connectIoredis), handed to the pool by its connection seam
 * only when the test says. A stalled event loop (a freeze, a busy handler next door) makes the
 * rest happen before the acquire's deadline timer can run: the deadline passes, the next
 * invocation starts, and the connection arrives.
 */
import { afterAll, afterEach, expect, it } from 'vitest';
import { AcquireTimeoutError, closeRedisPools } from '../../src/index.js';
import { InvocationRunner, resolveOptions } from '../../src/invocation.js';
import { type Connection, connectIoredis } from '../../src/pool/connection.js';
import { RedisPool } from '../../src/pool/RedisPool.js';
import { lambdaContext } from '../helpers/lambda.js';
import { startRedis, stopAll } from '../helpers/redis-server.js';

afterEach(closeRedisPools);
afterAll(stopAll);

it('an invocation abandoned while it waits gives back the lease that comes afterwards', async () => {
  const server = await startRedis();
  const options = { url: server.url, poolMax: 1, metrics: false, commandTimeoutMs: 10_000 };
  let open: ((args: Parameters<typeof connectIoredis>) => void) | undefined;
  const asked = new Promise<Parameters<typeof connectIoredis>>((resolve) => {
    open = resolve;
  });
  let deliver: ((connection: Connection) => void) | undefined;
  const delivered = new Promise<Connection>((resolve) => {
    deliver = resolve;
  });
  let opened = 0;
  const pool = new RedisPool(
    options,
    {},
    {
      // The first connection when the test says; any later one at once.
      connect: (...args) => {
        if (opened++ > 0) return connectIoredis(...args);
        open?.(args);
        return delivered;
      },
    },
  );
  const runner = new InvocationRunner(
    resolveOptions({ pool: options, exclusive: true, deadlineMarginMs: 0 }, 'withRedisPool'),
    pool,
  );
  try {
    // A asks for the only connection: the pool starts opening it.
    const a = runner.start(lambdaContext(1_500));
    const acquiredByA = a.acquire().then(
      () => 'leased',
      (error: unknown) => error,
    );
    let settled = false;
    void acquiredByA.finally(() => {
      settled = true;
    });
    const connection = await connectIoredis(...(await asked));
    // Still waiting: the connect took less than A's 1.5 s (else this test would prove nothing).
    expect(settled).toBe(false);

    // The stall: past A's deadline, no timer runs. B starts (and finds A abandoned), then the
    // connection arrives, and the pool hands it to A, first in line.
    while (Date.now() <= a.lambdaDeadline) {
      // busy
    }
    const b = runner.start(lambdaContext(10_000));
    deliver?.(connection);

    const outcome = await acquiredByA;
    expect(outcome).toBeInstanceOf(AcquireTimeoutError);
    expect(pool.stats().active).toBe(0);
    // And B gets the connection.
    const client = b.acquireNow() ?? (await b.acquire());
    expect(await client.ping()).toBe('PONG');
    await b.end();
    expect(pool.stats().active).toBe(0);
  } finally {
    await pool.close();
  }
});
