/**
 * What the cold-start section's child (bench/cold-start-harness.ts) reports to the section
 * (bench/cold-start.ts): one line of JSON on stdout, after this marker, since the bundle's own
 * output (EMF, logs) shares stdout with it.
 */
export const RESULT_MARKER = 'BENCH_RESULT ';

export interface InvocationTimes {
  readonly firstMs: number;
  readonly firstCpuMs: number;
  readonly secondMs: number;
  readonly firstGcMs: number;
}

export interface ChildSample {
  readonly importMs: number;
  readonly readyMs: number;
  /** Present when the child was asked to invoke the handler. */
  readonly invocations?: InvocationTimes;
}
