import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { backoffDelay } from '../../src/backoff.js';

const policyArb = fc
  .record({
    baseMs: fc.integer({ min: 1, max: 5_000 }),
    capMs: fc.integer({ min: 1, max: 900_000 }),
  })
  .filter((p) => p.capMs >= p.baseMs);
const randomArb = fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true });

describe('backoffDelay', () => {
  it('is never negative, never above the cap, never past the deadline', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 5_000 }),
        policyArb,
        fc.option(fc.integer({ min: 0, max: 1_000_000 }), { nil: undefined }),
        randomArb,
        (attempt, policy, remainingMs, r) => {
          const delay = backoffDelay(attempt, policy, remainingMs, () => r);
          expect(Number.isFinite(delay)).toBe(true);
          expect(delay).toBeGreaterThanOrEqual(0);
          expect(delay).toBeLessThanOrEqual(policy.capMs);
          if (remainingMs !== undefined) expect(delay).toBeLessThanOrEqual(remainingMs);
        },
      ),
    );
  });

  it('stays inside the exponential window base * 2^attempt', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 30 }), policyArb, randomArb, (attempt, policy, r) => {
        expect(backoffDelay(attempt, policy, undefined, () => r)).toBeLessThan(
          Math.min(policy.capMs, policy.baseMs * 2 ** attempt) + 1,
        );
      }),
    );
  });

  it('is monotone in the random draw for a fixed attempt (the jitter is the only spread)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 40 }),
        policyArb,
        randomArb,
        randomArb,
        (attempt, policy, a, b) => {
          const [lo, hi] = a <= b ? [a, b] : [b, a];
          expect(backoffDelay(attempt, policy, undefined, () => lo)).toBeLessThanOrEqual(
            backoffDelay(attempt, policy, undefined, () => hi),
          );
        },
      ),
    );
  });

  it('grows with the attempt on average until it reaches the cap', () => {
    const policy = { baseMs: 50, capMs: 30_000 };
    const mean = (attempt: number) => {
      let sum = 0;
      for (let i = 0; i < 4_000; i++) sum += backoffDelay(attempt, policy);
      return sum / 4_000;
    };
    const means = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9].map(mean);
    for (let i = 1; i < means.length; i++) expect(means[i]).toBeGreaterThan(means[i - 1] as number);
    // Full jitter: the mean is half the window, and the window stops at the cap.
    expect(mean(20)).toBeGreaterThan(30_000 * 0.4);
    expect(mean(20)).toBeLessThan(30_000 * 0.6);
  });

  it('is jittered: one attempt spreads over its whole window', () => {
    const delays = Array.from({ length: 2_000 }, () =>
      backoffDelay(6, { baseMs: 100, capMs: 30_000 }),
    );
    const window = 6_400;
    const buckets = new Array<number>(8).fill(0);
    for (const d of delays) {
      const bucket = Math.min(7, Math.floor((d / window) * 8));
      buckets[bucket] = (buckets[bucket] ?? 0) + 1;
    }
    // Every eighth of the window is used, none holds the bulk of the retries.
    for (const count of buckets) {
      expect(count).toBeGreaterThan(150);
      expect(count).toBeLessThan(350);
    }
    expect(new Set(delays).size).toBeGreaterThan(1_000);
  });
});
