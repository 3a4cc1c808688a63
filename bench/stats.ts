/** Small statistics helpers shared by the benchmark sections. */

/** Nearest-rank percentile of `values` (need not be sorted); 0 for an empty set. */
export function percentile(values: ArrayLike<number>, p: number): number {
  return percentiles(values, [p])[0] ?? 0;
}

/** Several nearest-rank percentiles from one sort. */
export function percentiles(values: ArrayLike<number>, ps: readonly number[]): number[] {
  const count = values.length;
  if (count === 0) return ps.map(() => 0);
  const sorted = Float64Array.from(values).sort();
  return ps.map(
    (p) => sorted[Math.min(count - 1, Math.max(0, Math.ceil((p / 100) * count) - 1))] ?? 0,
  );
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const upper = sorted[mid] ?? 0;
  return sorted.length % 2 === 1 ? upper : ((sorted[mid - 1] ?? 0) + upper) / 2;
}

/** Rounds to `digits` decimals, for figures meant to be read. */
export function round(value: number, digits = 2): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}
