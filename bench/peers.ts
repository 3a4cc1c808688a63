/**
 * The library against what a user would write instead, in the two shapes Lambda runs a
 * function in, measured in one alternating run:
 *
 * - classic: one invocation at a time (standard Lambda), each one GET;
 * - Managed Instances: `inflight` invocations at once in one process (Lambda Managed
 *   Instances), each GET, SET, GET.
 *
 * Every side is a Lambda-style handler `(event, context)` called with a fresh context per
 * invocation, so what differs is only how the handler gets at Redis. Each round runs one block
 * of every side, in an order that rotates from round to round, so that drift on a noisy
 * machine reaches every side alike; a side's ratio is its invocations per second over bare
 * ioredis's in the same round, and the table shows the median ratio and its spread (p25–p75)
 * over the rounds. CPU per invocation (this process, user + system) is reported too: it is less
 * sensitive than throughput to other load on the machine.
 *
 * EMF documents (the metrics-on side) are written to /dev/null with a synchronous write, so
 * their cost, system call included, is in the figures, and the terminal stays readable.
 */
import type { Context } from 'aws-lambda';
import { createPool, type Pool } from 'generic-pool';
import { Redis } from 'ioredis';
import { getRedisPool, type RedisContext, withRedisPool } from 'lambda-redis-pool';
import { createClient } from 'redis';
import { redirectStdoutToDevNull } from './dev-null.js';
import { lambdaContext } from './lambda.js';
import { median, percentile, percentiles, round } from './stats.js';

export type ShapeName = 'classic' | 'managed-instances';

export interface PeerSettings {
  /** Rounds; each runs one block of every side. */
  readonly rounds: number;
  /** Duration of one side's block. */
  readonly blockMs: number;
  /** Untimed block per side before the first round: connects, warms the JIT. */
  readonly warmupMs: number;
  /** Invocations in flight in the Managed Instances shape. */
  readonly inflight: number;
  /** Connections of the per-invocation pool (generic-pool). */
  readonly perInvocationPoolMax: number;
}

/**
 * Many short blocks rather than a few long ones: on a shared machine, other work comes and
 * goes in bursts, and the finer the sides are interleaved, the more alike it reaches them.
 */
export const PEER_DEFAULTS: PeerSettings = {
  rounds: 30,
  blockMs: 150,
  warmupMs: 500,
  inflight: 64,
  perInvocationPoolMax: 10,
};

const KEY_PREFIX = 'lrp:bench:peers:';
const VALUE = 'x'.repeat(100);
/** Keys the SETs write: `${KEY_PREFIX}0` … (deleted at the end of the run). */
const KEYSPACE = 1_000;

type Handler = (event: unknown, context: Context) => Promise<unknown>;

/** What one invocation does with a client that has get/set. */
interface Commands {
  get(key: string): Promise<unknown>;
  set(key: string, value: string): Promise<unknown>;
}

interface Side {
  readonly name: string;
  /** The side every ratio is taken against. */
  readonly baseline?: boolean;
  readonly handler: Handler;
  close(): Promise<void>;
}

/** Block figures of one side in one round. */
export interface BlockFigures {
  readonly invocations: number;
  readonly perSec: number;
  readonly p50Us: number;
  readonly p99Us: number;
  readonly cpuUsPerInvocation: number;
}

export interface SideResult {
  readonly name: string;
  /** Medians over the rounds. */
  readonly perSec: number;
  readonly p50Us: number;
  readonly p99Us: number;
  readonly cpuUsPerInvocation: number;
  /**
   * Invocations per second over the baseline's, per round: the median, the interquartile
   * range (p25–p75: the spread the table shows; min and max say more about the machine's
   * bursts than about the sides), and min and max.
   */
  readonly ratio: {
    readonly median: number;
    readonly p25: number;
    readonly p75: number;
    readonly min: number;
    readonly max: number;
  };
  /** The baseline's CPU per invocation over this side's, median over the rounds. */
  readonly cpuRatio: number;
  readonly roundRatios: readonly number[];
}

export interface ShapeResult {
  readonly shape: ShapeName;
  readonly description: string;
  readonly inflight: number;
  readonly sides: readonly SideResult[];
}

export interface PeersResult {
  readonly settings: PeerSettings;
  readonly shapes: readonly ShapeResult[];
  /** EMF lines the metrics-on side wrote (to /dev/null) in the timed blocks and warm-up. */
  readonly emfLines: number;
}

/** One invocation's Redis work in each shape. */
const WORK: Record<ShapeName, (redis: Commands, n: number) => Promise<unknown>> = {
  classic: (redis) => redis.get(`${KEY_PREFIX}a`),
  'managed-instances': async (redis, n) => {
    await redis.get(`${KEY_PREFIX}a`);
    await redis.set(`${KEY_PREFIX}${n % KEYSPACE}`, VALUE);
    return redis.get(`${KEY_PREFIX}${n % KEYSPACE}`);
  },
};

const DESCRIPTIONS: Record<ShapeName, string> = {
  classic: 'classic Lambda: one invocation at a time, 1 GET',
  'managed-instances': 'Managed Instances: N in flight, GET SET GET',
};

export async function benchPeers(
  url: string,
  settings: PeerSettings = PEER_DEFAULTS,
  log: (line: string) => void = () => {},
  shapes: readonly ShapeName[] = ['classic', 'managed-instances'],
): Promise<PeersResult> {
  const seed = new Redis(url);
  await seed.set(`${KEY_PREFIX}a`, VALUE);
  const emf = redirectStdoutToDevNull();
  try {
    const results: ShapeResult[] = [];
    for (const shape of shapes) {
      log(`  ${DESCRIPTIONS[shape].replace('N in flight', `${settings.inflight} in flight`)}`);
      const sides = await makeSides(url, shape, settings);
      try {
        results.push(await runShape(shape, sides, settings, log));
      } finally {
        await Promise.all(sides.map((side) => side.close()));
      }
    }
    return { settings, shapes: results, emfLines: emf.lines() };
  } finally {
    emf.restore();
    const keys = Array.from({ length: KEYSPACE }, (_, i) => `${KEY_PREFIX}${i}`);
    await seed.del(`${KEY_PREFIX}a`, ...keys);
    seed.disconnect();
  }
}

async function makeSides(url: string, shape: ShapeName, settings: PeerSettings): Promise<Side[]> {
  const work = WORK[shape];
  let n = 0;
  const next = () => n++;
  // Pool options in code: each object is its own pool (REDIS_METRICS, which the bench sets to
  // false for the throughput function, is overridden by `metrics` here).
  const withMetrics = withRedisPool(
    async (_event: unknown, context: RedisContext) => work(context.redis, next()),
    { pool: { url, metrics: true } },
  );
  const withoutMetrics = withRedisPool(
    async (_event: unknown, context: RedisContext) => work(context.redis, next()),
    { pool: { url, metrics: false } },
  );
  const leasePool = getRedisPool({ url, metrics: false });

  const bare = new Redis(url);
  const autoPipelined = new Redis(url, { enableAutoPipelining: true });
  const nodeRedis = createClient({ url });
  await nodeRedis.connect();
  const perInvocation: Pool<Redis> = createPool(
    {
      create: async () => {
        const client = new Redis(url, { lazyConnect: true });
        await client.connect();
        return client;
      },
      destroy: async (client) => {
        await client.quit().catch(() => client.disconnect());
      },
    },
    { max: settings.perInvocationPoolMax, min: 1 },
  );

  return [
    {
      name: 'bare module-scope ioredis',
      baseline: true,
      handler: async () => work(bare, next()),
      close: async () => void (await bare.quit()),
    },
    {
      name: 'withRedisPool, defaults (metrics on)',
      handler: withMetrics as Handler,
      close: () => withMetrics.pool.close(),
    },
    {
      name: 'withRedisPool, metrics off',
      handler: withoutMetrics as Handler,
      close: () => withoutMetrics.pool.close(),
    },
    {
      name: 'raw lease (pool.acquire / release)',
      handler: async () => {
        const lease = await leasePool.acquire();
        try {
          return await work(lease.redis, next());
        } finally {
          await lease.release();
        }
      },
      close: () => leasePool.close(),
    },
    {
      name: 'ioredis, enableAutoPipelining',
      handler: async () => work(autoPipelined, next()),
      close: async () => void (await autoPipelined.quit()),
    },
    {
      name: 'node-redis 5, single client',
      handler: async () => work(nodeRedis, next()),
      close: async () => {
        await nodeRedis.close();
      },
    },
    {
      name: `generic-pool over ioredis (max ${settings.perInvocationPoolMax}), per invocation`,
      handler: async () => {
        const client = await perInvocation.acquire();
        try {
          return await work(client, next());
        } finally {
          await perInvocation.release(client);
        }
      },
      close: async () => {
        await perInvocation.drain();
        await perInvocation.clear();
      },
    },
  ];
}

async function runShape(
  shape: ShapeName,
  sides: readonly Side[],
  settings: PeerSettings,
  log: (line: string) => void,
): Promise<ShapeResult> {
  const inflight = shape === 'classic' ? 1 : settings.inflight;
  for (const side of sides) await runBlock(side.handler, inflight, settings.warmupMs);
  const rounds: BlockFigures[][] = [];
  for (let r = 0; r < settings.rounds; r++) {
    const figures: BlockFigures[] = new Array(sides.length);
    for (let i = 0; i < sides.length; i++) {
      const index = (r + i) % sides.length;
      const side = sides[index] as Side;
      figures[index] = await runBlock(side.handler, inflight, settings.blockMs);
    }
    rounds.push(figures);
    const base = figures[0] as BlockFigures;
    log(
      `    round ${r + 1}/${settings.rounds}: ${figures
        .map((f) => `${(f.perSec / base.perSec).toFixed(2)}×`)
        .join(' ')}`,
    );
  }
  const baseIndex = sides.findIndex((s) => s.baseline);
  return {
    shape,
    description: DESCRIPTIONS[shape].replace('N in flight', `${inflight} in flight`),
    inflight,
    sides: sides.map((side, i) => sideResult(side.name, rounds, i, baseIndex)),
  };
}

function sideResult(
  name: string,
  rounds: readonly (readonly BlockFigures[])[],
  index: number,
  baseIndex: number,
): SideResult {
  const mine = rounds.map((r) => r[index] as BlockFigures);
  const ratios = rounds.map(
    (r) => (r[index] as BlockFigures).perSec / (r[baseIndex] as BlockFigures).perSec,
  );
  const cpuRatios = rounds.map(
    (r) =>
      (r[baseIndex] as BlockFigures).cpuUsPerInvocation /
      (r[index] as BlockFigures).cpuUsPerInvocation,
  );
  return {
    name,
    perSec: Math.round(median(mine.map((f) => f.perSec))),
    p50Us: round(median(mine.map((f) => f.p50Us)), 1),
    p99Us: round(median(mine.map((f) => f.p99Us)), 1),
    cpuUsPerInvocation: round(median(mine.map((f) => f.cpuUsPerInvocation)), 1),
    ratio: {
      median: round(median(ratios), 3),
      p25: round(percentile(ratios, 25), 3),
      p75: round(percentile(ratios, 75), 3),
      min: round(Math.min(...ratios), 3),
      max: round(Math.max(...ratios), 3),
    },
    cpuRatio: round(median(cpuRatios), 3),
    roundRatios: ratios.map((x) => round(x, 3)),
  };
}

/**
 * `inflight` loops invoke the handler back to back for `durationMs`, each invocation with a
 * fresh context and timed alone.
 */
async function runBlock(
  handler: Handler,
  inflight: number,
  durationMs: number,
): Promise<BlockFigures> {
  const latencies: number[] = [];
  const event = {};
  const stopAt = performance.now() + durationMs;
  const loop = async (): Promise<void> => {
    while (performance.now() < stopAt) {
      const context = lambdaContext(60_000);
      const started = performance.now();
      await handler(event, context);
      latencies.push(performance.now() - started);
    }
  };
  const cpu = process.cpuUsage();
  const started = performance.now();
  await Promise.all(Array.from({ length: inflight }, loop));
  const elapsedMs = performance.now() - started;
  const used = process.cpuUsage(cpu);
  const [p50 = 0, p99 = 0] = percentiles(latencies, [50, 99]);
  return {
    invocations: latencies.length,
    perSec: (latencies.length / elapsedMs) * 1_000,
    p50Us: p50 * 1_000,
    p99Us: p99 * 1_000,
    cpuUsPerInvocation: (used.user + used.system) / latencies.length,
  };
}
