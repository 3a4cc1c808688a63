/**
 * The cold-start section's child program (bench/cold-start.ts), bundled with esbuild so that
 * the Lambda context and the event are the ones the rest of the bench uses (bench/lambda.ts).
 * It imports the bundle (the init), then, for an invoked bundle, calls its handler twice, each
 * with a fresh context as Lambda gives one per invocation, and prints one line of JSON. performance.now() counts from the process's
 * start.
 *
 * Before each invocation the event loop turns once, as it does while Lambda's runtime waits
 * for the next event (an I/O request to the Runtime API): what the init left to V8's task
 * queue (a young-generation collection that its allocations scheduled, say) runs there, in
 * Lambda as here, not in the invocation. One turn is the least any runtime gives.
 *
 * Garbage collections are observed, and the time of those that overlap the first invocation
 * is reported; so is the main thread's CPU time during it (process.threadCpuUsage; other
 * threads' work is left out), which moves less than its wall time when the machine is shared.
 */
import type { PerformanceEntry } from 'node:perf_hooks';
import type { Handler } from 'aws-lambda';
import { type ChildSample, type InvocationTimes, RESULT_MARKER } from './cold-start-result.js';
import { apiGet, lambdaContext } from './lambda.js';

const gcs: PerformanceEntry[] = [];
new PerformanceObserver((list) => gcs.push(...list.getEntries())).observe({ entryTypes: ['gc'] });

const started = performance.now();
const bundle = (await import(env('BENCH_IMPORT_URL'))) as { handler: Handler };
const imported = performance.now();
let invocations: InvocationTimes | undefined;

/** A variable the section sets for its child. */
function env(name: string): string {
  const value = process.env[name];
  if (value === undefined) throw new Error(`${name} is not set`);
  return value;
}

async function invoke() {
  await new Promise((resolve) => setImmediate(resolve));
  const context = lambdaContext(Number(env('BENCH_TIMEOUT_MS')), env('BENCH_FUNCTION'));
  const event = apiGet(env('BENCH_PATH'), {});
  const cpu = process.threadCpuUsage();
  const begun = performance.now();
  const response = (await bundle.handler(event, context, () => {})) as
    | { statusCode?: number }
    | undefined;
  const ended = performance.now();
  const { user, system } = process.threadCpuUsage(cpu);
  if (response?.statusCode !== 200) {
    throw new Error(`the handler answered ${JSON.stringify(response)}`);
  }
  return { begun, ended, cpuMs: (user + system) / 1000 };
}

if (process.env.BENCH_INVOKE === '1') {
  const first = await invoke();
  const second = await invoke();
  // GC entries are delivered asynchronously: let them arrive before reading them.
  await new Promise((resolve) => setTimeout(resolve, 0));
  const firstGcMs = gcs
    .filter((gc) => gc.startTime < first.ended && gc.startTime + gc.duration > first.begun)
    .reduce((sum, gc) => sum + gc.duration, 0);
  invocations = {
    firstMs: first.ended - first.begun,
    firstCpuMs: first.cpuMs,
    secondMs: second.ended - second.begun,
    firstGcMs,
  };
}
const result: ChildSample = { importMs: imported - started, readyMs: imported, invocations };
process.stdout.write(`${RESULT_MARKER}${JSON.stringify(result)}\n`);
process.exit(0);
