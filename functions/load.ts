/**
 * A bounded load against Redis: `concurrency` loops issuing commands back to back until a stop
 * time, recording every command's latency. Keys live under one prefix and expire, so a test
 * never leaves anything behind in a real cache.
 */
import type { RedisClient } from 'lambda-redis-pool';
import type { LoadResult, LoadTiming, Op, ThroughputParams } from './throughput-contract.js';

export const KEY_PREFIX = 'lrp:throughput:';
/** Written keys expire after this long. */
export const KEY_TTL_SECONDS = 60;

/** Runs the load until `stopAt` (a performance.now() time) and reports what it did. */
export async function runLoad(
  redis: RedisClient,
  params: ThroughputParams,
  stopAt: number,
): Promise<LoadResult> {
  const value = 'x'.repeat(params.valueBytes);
  const latencies = new LatencyRecorder();
  const timing = new TimingRecorder();
  const errorSamples = new Set<string>();
  let errors = 0;
  let sequence = 0;

  const command = (op: Op): Promise<unknown> => {
    const key = `${KEY_PREFIX}${sequence++ % params.keyspace}`;
    // mixed: one SET for every four GETs, a common cache read/write ratio.
    const write = op === 'set' || (op === 'mixed' && sequence % 5 === 0);
    return write ? redis.set(key, value, 'EX', KEY_TTL_SECONDS) : redis.get(key);
  };

  const worker = async (): Promise<void> => {
    while (performance.now() < stopAt) {
      const started = performance.now();
      try {
        await command(params.op);
        const now = performance.now();
        latencies.add(now - started);
        timing.ok(now);
      } catch (error) {
        errors++;
        timing.failed(performance.now());
        if (errorSamples.size < 5)
          errorSamples.add(error instanceof Error ? error.message : String(error));
        // A failing connection answers at once: do not spin on it.
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
    }
  };

  const started = performance.now();
  timing.start(started);
  await Promise.all(Array.from({ length: params.concurrency }, worker));
  const durationMs = performance.now() - started;
  const ops = latencies.count;
  return {
    ops,
    errors,
    durationMs: round(durationMs),
    opsPerSec: durationMs > 0 ? Math.round((ops / durationMs) * 1_000) : 0,
    latencyMs: latencies.percentiles(),
    errorSamples: [...errorSamples],
    timing: timing.result(),
  };
}

/** The run's first and last failures and successes, as they complete. */
class TimingRecorder {
  #startedAt = 0;
  #started = 0;
  #firstOk: number | null = null;
  #firstError: number | null = null;
  #lastError: number | null = null;
  #okAfterLastError: number | null = null;

  start(now: number): void {
    this.#startedAt = Date.now();
    this.#started = now;
  }

  ok(now: number): void {
    const at = this.#elapsed(now);
    this.#firstOk ??= at;
    if (this.#lastError !== null) this.#okAfterLastError ??= at;
  }

  failed(now: number): void {
    const at = this.#elapsed(now);
    this.#firstError ??= at;
    this.#lastError = at;
    // Only a success after this failure counts as recovery.
    this.#okAfterLastError = null;
  }

  result(): LoadTiming {
    return {
      startedAt: this.#startedAt,
      firstOkMs: this.#firstOk,
      firstErrorMs: this.#firstError,
      lastErrorMs: this.#lastError,
      okAfterLastErrorMs: this.#okAfterLastError,
    };
  }

  #elapsed(now: number): number {
    return round(now - this.#started);
  }
}

/** Every latency, kept exactly: a few million doubles at most within the duration limit. */
class LatencyRecorder {
  #values = new Float64Array(1 << 14);
  count = 0;

  add(ms: number): void {
    if (this.count === this.#values.length) {
      const grown = new Float64Array(this.#values.length * 2);
      grown.set(this.#values);
      this.#values = grown;
    }
    this.#values[this.count++] = ms;
  }

  /** Nearest-rank percentiles. */
  percentiles(): LoadResult['latencyMs'] {
    if (this.count === 0) return { p50: 0, p95: 0, p99: 0, max: 0 };
    const sorted = this.#values.slice(0, this.count).sort();
    const at = (p: number) =>
      round(sorted[Math.min(this.count - 1, Math.ceil((p / 100) * this.count) - 1)] ?? 0);
    return { p50: at(50), p95: at(95), p99: at(99), max: round(sorted[this.count - 1] ?? 0) };
  }
}

function round(ms: number): number {
  return Math.round(ms * 1_000) / 1_000;
}
