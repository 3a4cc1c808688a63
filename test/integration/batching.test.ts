/**
 * The shared connection batches the commands of a turn of the event loop into one write while
 * several leases are in flight, and writes each command at once while one is; against a real
 * redis-server. Writes are counted on the client's socket (its flushes, counted and passed on
 * unchanged): how many chunks reach the server would depend on TCP coalescing.
 */
import type { Redis } from 'ioredis';
import { afterEach, expect } from 'vitest';
import { ConnectionLostError, type Lease, RedisPool } from '../../src/index.js';
import { test } from '../helpers/fixtures.js';

const pools: RedisPool[] = [];

afterEach(async () => {
  await Promise.all(pools.splice(0).map((pool) => pool.close()));
});

function poolFor(url: string): RedisPool {
  // A generous command timeout: a loaded test machine must not declare the connection dead.
  const pool = new RedisPool({ url, clientName: 'batching-test', commandTimeoutMs: 10_000 }, {});
  pools.push(pool);
  return pool;
}

/**
 * Counts the socket's flushes from now on: each is one write system call (`_write` for one
 * chunk, `_writev` for the chunks gathered while corked), called through unchanged.
 */
function countWrites(redis: Redis): () => number {
  const stream = redis.stream as Redis['stream'] & {
    _write: (...args: unknown[]) => void;
    _writev: (...args: unknown[]) => void;
  };
  const write = stream._write;
  const writev = stream._writev;
  let writes = 0;
  stream._write = (...args: unknown[]) => {
    writes++;
    write.apply(stream, args);
  };
  stream._writev = (...args: unknown[]) => {
    writes++;
    writev.apply(stream, args);
  };
  return () => writes;
}

async function leases(pool: RedisPool, n: number): Promise<Lease[]> {
  const all: Lease[] = [];
  for (let i = 0; i < n; i++) all.push(await pool.acquire());
  return all;
}

/** A pool on `url` with eight shared leases held, and the writes on their connection from now. */
async function eightLeases(url: string) {
  const pool = poolFor(url);
  const held = await leases(pool, 8);
  const writes = countWrites(held[0]?.redis as Redis);
  return { pool, held, writes };
}

/**
 * The ECHOs `replies` (of `${label} 0`, `${label} 1`, …), sent in this turn, were not written
 * yet, are answered in order, and went out in one write.
 */
async function expectOneWrite(
  writes: () => number,
  replies: Promise<string>[],
  label: string,
): Promise<void> {
  expect(writes()).toBe(0); // deferred to the batch
  expect(await Promise.all(replies)).toEqual(replies.map((_, i) => `${label} ${i}`));
  expect(writes()).toBe(1);
}

test('one lease in flight: each command is written at once, not on a later turn', async ({
  redisServer,
}) => {
  const pool = poolFor(redisServer.url);
  const lease = await pool.acquire();
  const redis = lease.redis as Redis;
  const writes = countWrites(redis);
  const reply = redis.echo('now');
  expect(writes()).toBe(1); // synchronously: not deferred
  await expect(reply).resolves.toBe('now');
  await lease.release();
});

test('several leases in flight: one turn of their commands goes out in one write', async ({
  redisServer,
}) => {
  const { pool, held, writes } = await eightLeases(redisServer.url);
  const replies = held.map((lease, i) => (lease.redis as Redis).echo(`lease ${i}`));
  await expectOneWrite(writes, replies, 'lease');
  await Promise.all(held.map((lease) => lease.release()));

  // Back to one lease, in a later turn of the event loop: written at once again.
  await new Promise((resolve) => setImmediate(resolve));
  const single = await pool.acquire();
  const before = writes();
  const reply = (single.redis as Redis).echo('alone');
  expect(writes()).toBe(before + 1);
  await expect(reply).resolves.toBe('alone');
  await single.release();
});

test('a wave of leases released and taken again within one turn stays batched: one write', async ({
  redisServer,
}) => {
  const { pool, held, writes } = await eightLeases(redisServer.url);
  // As at 64 in flight: the invocations of one turn end (their leases drop to none) and new
  // ones start, each sending its command as soon as it has its lease.
  for (const lease of held) void lease.release();
  const replies: Promise<string>[] = [];
  const next: Lease[] = [];
  for (let i = 0; i < 8; i++) {
    const lease = pool.acquireNow();
    if (!lease) throw new Error('the shared connection is open: a lease at once');
    next.push(lease);
    replies.push((lease.redis as Redis).echo(`wave ${i}`));
  }
  await expectOneWrite(writes, replies, 'wave'); // the first one too
  await Promise.all(next.map((lease) => lease.release()));
});

test("a lease's commands keep their order when the batching stops under them", async ({
  redisServer,
}) => {
  const pool = poolFor(redisServer.url);
  const [a, b] = await leases(pool, 2);
  if (!a || !b) throw new Error('two leases');
  const redis = a.redis as Redis;
  const key = 'batching-test:order';
  const first = redis.set(key, 'first'); // batched: two leases in flight
  await b.release(); // one lease left; its SET may still wait for the tick's write
  const second = redis.set(key, 'second'); // written at once, must not overtake the first
  await Promise.all([first, second]);
  expect(await redis.get(key)).toBe('second');
  await redis.del(key);
  await a.release();
});

test('batched commands of a lost connection fail with ConnectionLostError', async ({
  redisServer,
}) => {
  const pool = poolFor(redisServer.url);
  const held = await leases(pool, 4);
  const redis = held[0]?.redis as Redis;
  // In flight: written, unanswered (BLPOP holds the server's reply), then the socket goes.
  const pending = held.map((lease, i) =>
    (lease.redis as Redis).blpop(`batching-test:none:${i}`, 5).then(
      () => 'answered',
      (error: unknown) => error,
    ),
  );
  await new Promise((resolve) => setImmediate(resolve));
  await new Promise((resolve) => setImmediate(resolve));
  redis.stream.destroy();
  for (const outcome of await Promise.all(pending)) {
    expect(outcome).toBeInstanceOf(ConnectionLostError);
  }
  await Promise.all(held.map((lease) => lease.release(new Error('ECONNRESET'))));
});
