/**
 * The local Lambda execution-environment simulator: handlers run in real processes under
 * AWS's Runtime Interface Client, with cold starts, freezes, timeouts and scale-out.
 *
 *   const sim = await LambdaSimulator.start({ entry: 'src/functions/orders.ts', timeoutMs: 3000 });
 *   const report = await sim.invoke({ orderId: 42 });   // report.ok, report.result, report.logs
 *   await sim.waitFor((env) => env.state === 'frozen');
 *   await sim.stop();
 */
export { sendSignal } from './leftovers.js';
export { type LogLine, parseLogLine } from './log-line.js';
export { isProcessAlive, processState } from './proc.js';
export { LambdaSimulator, type SimulatorEvents } from './simulator.js';
export type {
  EnvironmentInfo,
  EnvironmentState,
  InvocationError,
  InvocationReport,
  InvokeOptions,
  LogEvent,
  SimulatorOptions,
} from './types.js';
