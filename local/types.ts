/** Public types of the local Lambda simulator. */

export interface SimulatorOptions {
  /**
   * Path to the handler module (.ts or .js); it is bundled the way a deployment would be. With
   * `prebuilt`, a folder holding a bundle built already (index.mjs).
   */
  entry: string;
  /**
   * `entry` is a folder with a built bundle (e.g. a function's asset in a CDK cloud assembly),
   * run as it is instead of being bundled. Default false.
   */
  prebuilt?: boolean;
  /** Exported handler function. Default 'handler'. */
  handlerExport?: string;
  /** AWS_LAMBDA_FUNCTION_NAME. Default 'local-function'. */
  functionName?: string;
  /** Function timeout. Default 3000. */
  timeoutMs?: number;
  /** AWS_LAMBDA_FUNCTION_MEMORY_SIZE. Default 128. Informational only: nothing is enforced. */
  memoryMb?: number;
  /** Execution environments that may exist at once. Default 10. */
  maxEnvironments?: number;
  /**
   * Invocations one environment takes at once. Above 1 this is Lambda Managed Instances mode:
   * AWS_LAMBDA_MAX_CONCURRENCY is set and the RIC serves invocations from worker threads.
   * Default 1.
   */
  perEnvironmentConcurrency?: number;
  /** SIGSTOP environments that have nothing in flight, as Lambda freezes them. Default true. */
  freeze?: boolean;
  /** Retire an environment once it has been idle this long. Default: never. */
  idleRecycleMs?: number;
  /** Time an environment gets between SIGTERM and SIGKILL when it is retired. Default 500. */
  shutdownGraceMs?: number;
  /** Time the init phase may take before the environment is killed. Default 10000, as Lambda. */
  initTimeoutMs?: number;
  /** AWS_REGION. Default 'us-east-1'. */
  region?: string;
  /** The function's environment variables, on top of the ones Lambda sets. */
  env?: Record<string, string>;
}

export interface InvokeOptions {
  /** Run on this environment (waiting for it to have room), for tests. */
  environmentId?: string;
}

export interface InvocationError {
  errorType: string;
  errorMessage: string;
  /** Stack trace lines, when the runtime reported them. */
  trace?: string[];
}

export interface InvocationReport {
  requestId: string;
  environmentId: string;
  /** The invocation waited for its environment's init phase. */
  coldStart: boolean;
  /** Spawn to the runtime's first /next request; only on cold starts. */
  initMs?: number;
  /** Event handed out to response received (or to the timeout). */
  durationMs: number;
  ok: boolean;
  /** The parsed JSON response (text for streamed responses). */
  result?: unknown;
  error?: InvocationError;
  timedOut: boolean;
  /** stdout/stderr lines written while this invocation was in flight. */
  logs: string[];
  /** Lines written during the init phase; only on cold starts. */
  initLogs?: string[];
}

export type EnvironmentState = 'initializing' | 'idle' | 'frozen' | 'busy' | 'dead';

export interface EnvironmentInfo {
  id: string;
  pid: number;
  state: EnvironmentState;
  /** Invocations handed to it so far. */
  invocations: number;
  /** Invocations assigned to it and not finished yet. */
  inFlight: number;
}

export interface LogEvent {
  environmentId: string;
  /** The invocation the line was attributed to, if any. */
  requestId: string | undefined;
  line: string;
}
