/**
 * A local Lambda function: bundles the handler once, then routes invocations to execution
 * environments the way Lambda does. A warm environment with room is reused (the most recently
 * used first); otherwise a new one is started (a cold start) while there are fewer than
 * maxEnvironments; otherwise the invocation waits for room.
 */
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundleHandler, type HandlerBundle, useBuiltBundle } from './bundle.js';
import { ExecutionEnvironment } from './environment.js';
import type { FunctionIdentity } from './lambda-env.js';
import { forgetDir, removeDirOnExit } from './leftovers.js';
import type {
  EnvironmentInfo,
  InvocationReport,
  InvokeOptions,
  LogEvent,
  SimulatorOptions,
} from './types.js';

export interface SimulatorEvents {
  /** An environment changed state, load or invocation count. */
  environment: [EnvironmentInfo];
  /** A line an environment wrote (emitted as it is read; see ExecutionEnvironment). */
  log: [LogEvent];
  invocation: [InvocationReport];
}

interface Settings {
  fn: FunctionIdentity;
  maxEnvironments: number;
  perEnvironmentConcurrency: number;
  freeze: boolean;
  idleRecycleMs: number | undefined;
  shutdownGraceMs: number;
  initTimeoutMs: number;
  env: Record<string, string>;
}

/** An invoke() call not yet assigned to an environment. */
interface Waiting {
  requestId: string;
  payload: string;
  environmentId: string | undefined;
  resolve(report: InvocationReport): void;
  reject(error: Error): void;
}

export class LambdaSimulator extends EventEmitter<SimulatorEvents> {
  readonly #settings: Settings;
  readonly #workDir: string;
  readonly #bundle: HandlerBundle;
  /** Every environment ever started, dead ones included, in start order. */
  readonly #environments = new Map<string, ExecutionEnvironment>();
  readonly #waiting: Waiting[] = [];
  readonly #idleTimers = new Map<string, NodeJS.Timeout>();
  #started = 0;
  #pumping = false;
  #pumpAgain = false;
  #stopping: Promise<void> | undefined;

  private constructor(settings: Settings, workDir: string, bundle: HandlerBundle) {
    super();
    this.#settings = settings;
    this.#workDir = workDir;
    this.#bundle = bundle;
  }

  /** Bundles the handler; environments start on demand. */
  static async start(options: SimulatorOptions): Promise<LambdaSimulator> {
    const settings = resolveSettings(options);
    const workDir = await mkdtemp(join(tmpdir(), 'lambda-sim-'));
    removeDirOnExit(workDir);
    try {
      const taskRoot = join(workDir, 'task');
      await mkdir(taskRoot);
      const handlerExport = options.handlerExport ?? 'handler';
      const bundle = options.prebuilt
        ? await useBuiltBundle(options.entry, handlerExport, taskRoot)
        : await bundleHandler(options.entry, handlerExport, taskRoot);
      return new LambdaSimulator(settings, workDir, bundle);
    } catch (error) {
      await rm(workDir, { recursive: true, force: true });
      forgetDir(workDir);
      throw error;
    }
  }

  /**
   * Runs one invocation. Resolves with its report whatever the handler did (errors, timeouts
   * and crashes are in the report); rejects only when the simulator is stopped or the pinned
   * environment is gone.
   */
  invoke(event: unknown, options: InvokeOptions = {}): Promise<InvocationReport> {
    if (this.#stopping !== undefined) {
      return handledByCaller(Promise.reject(new Error('LambdaSimulator stopped')));
    }
    const invocation = new Promise<InvocationReport>((resolve, reject) => {
      this.#waiting.push({
        requestId: randomUUID(),
        // Like the AWS CLI, an invocation without a payload gets an empty object.
        payload: event === undefined ? '{}' : JSON.stringify(event),
        environmentId: options.environmentId,
        resolve,
        reject,
      });
      this.#pump();
    });
    return handledByCaller(invocation);
  }

  /** Environments whose process has been spawned, dead ones included, in start order. */
  environments(): EnvironmentInfo[] {
    const infos: EnvironmentInfo[] = [];
    for (const env of this.#environments.values()) {
      const info = env.info();
      if (info !== undefined) infos.push(info);
    }
    return infos;
  }

  environment(environmentId: string): EnvironmentInfo | undefined {
    return this.#environments.get(environmentId)?.info();
  }

  /**
   * Resolves with the first environment (now or later) that satisfies `predicate`, e.g.
   * `await sim.waitFor((env) => env.state === 'frozen')`.
   */
  waitFor(
    predicate: (env: EnvironmentInfo) => boolean,
    timeoutMs = 10_000,
  ): Promise<EnvironmentInfo> {
    const now = this.environments().find(predicate);
    if (now !== undefined) return Promise.resolve(now);
    return new Promise((resolve, reject) => {
      const onChange = (info: EnvironmentInfo): void => {
        if (!predicate(info)) return;
        clearTimeout(timer);
        this.off('environment', onChange);
        resolve(info);
      };
      const timer = setTimeout(() => {
        this.off('environment', onChange);
        const states = this.environments().map((env) => `${env.id}:${env.state}`);
        reject(new Error(`waitFor timed out after ${timeoutMs} ms; environments: ${states}`));
      }, timeoutMs);
      this.on('environment', onChange);
    });
  }

  /** Lambda's shutdown of one environment: it takes no new work, then SIGTERM, SIGKILL. */
  async recycle(environmentId: string): Promise<void> {
    const env = this.#environments.get(environmentId);
    if (env === undefined) throw new Error(`no environment ${environmentId}`);
    this.#clearIdleTimer(environmentId);
    await env.shutdown(this.#settings.shutdownGraceMs);
  }

  /** The environment's process id (also while it is frozen). */
  pid(environmentId: string): number | undefined {
    return this.#environments.get(environmentId)?.pid;
  }

  /** Signals the environment's process directly, e.g. SIGSTOP to simulate a stuck runtime.
   * The simulator does not track this: a SIGSTOPped environment will time out. */
  sendSignal(environmentId: string, signal: NodeJS.Signals): boolean {
    return this.#environments.get(environmentId)?.signal(signal) ?? false;
  }

  /** Every line the environment's process wrote, for debugging. */
  logs(environmentId: string): readonly string[] {
    return this.#environments.get(environmentId)?.log ?? [];
  }

  /** Rejects waiting invocations, shuts every environment down, removes the bundle. */
  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async #stop(): Promise<void> {
    for (const waiting of this.#waiting.splice(0)) {
      waiting.reject(new Error('LambdaSimulator stopped'));
    }
    for (const id of [...this.#idleTimers.keys()]) this.#clearIdleTimer(id);
    const envs = [...this.#environments.values()];
    await Promise.all(envs.map((env) => env.shutdown(this.#settings.shutdownGraceMs)));
    await rm(this.#workDir, { recursive: true, force: true });
    forgetDir(this.#workDir);
  }

  /** Assigns waiting invocations, oldest first, to wherever there is room. */
  #pump(): void {
    // Assigning changes environments, which calls back here; one pass at a time.
    if (this.#pumping) {
      this.#pumpAgain = true;
      return;
    }
    this.#pumping = true;
    try {
      do {
        this.#pumpAgain = false;
        this.#assignWaiting();
      } while (this.#pumpAgain);
    } finally {
      this.#pumping = false;
    }
  }

  #assignWaiting(): void {
    for (let i = 0; i < this.#waiting.length; ) {
      const waiting = this.#waiting[i];
      if (waiting !== undefined && this.#tryAssign(waiting)) {
        this.#waiting.splice(i, 1);
      } else {
        i += 1;
      }
    }
  }

  /** True when `waiting` was assigned (or rejected); false when it has to keep waiting. */
  #tryAssign(waiting: Waiting): boolean {
    if (waiting.environmentId !== undefined) {
      const env = this.#environments.get(waiting.environmentId);
      if (env === undefined || env.retired) {
        waiting.reject(new Error(`environment ${waiting.environmentId} is gone`));
        return true;
      }
      if (!env.acceptsWork) return false;
      this.#run(env, waiting);
      return true;
    }
    const env = this.#mostRecentlyUsedWithRoom() ?? this.#startEnvironmentIfAllowed();
    if (env === undefined) return false;
    this.#run(env, waiting);
    return true;
  }

  #run(env: ExecutionEnvironment, waiting: Waiting): void {
    this.#clearIdleTimer(env.id);
    env.assign(waiting.requestId, waiting.payload).then((report) => {
      try {
        this.emit('invocation', report);
      } finally {
        // A listener that throws must not leave the invocation unsettled.
        waiting.resolve(report);
      }
    }, waiting.reject);
  }

  #mostRecentlyUsedWithRoom(): ExecutionEnvironment | undefined {
    let best: ExecutionEnvironment | undefined;
    for (const env of this.#environments.values()) {
      if (!env.acceptsWork) continue;
      if (best === undefined || env.lastAssignedAt > best.lastAssignedAt) best = env;
    }
    return best;
  }

  #startEnvironmentIfAllowed(): ExecutionEnvironment | undefined {
    let live = 0;
    for (const env of this.#environments.values()) {
      // A dying environment counts until its process is gone: never more processes than max.
      if (env.state !== 'dead') live += 1;
    }
    if (live >= this.#settings.maxEnvironments) return undefined;
    this.#started += 1;
    const id = `env-${this.#started}`;
    const settings = this.#settings;
    const env = new ExecutionEnvironment(
      {
        id,
        bundle: this.#bundle,
        fn: settings.fn,
        concurrency: settings.perEnvironmentConcurrency,
        freeze: settings.freeze,
        initTimeoutMs: settings.initTimeoutMs,
        userEnv: settings.env,
        logPath: join(this.#workDir, `${id}.log`),
      },
      {
        onChange: (changed) => this.#onEnvironmentChange(changed),
        onLog: (event) => this.emit('log', event),
      },
    );
    this.#environments.set(id, env);
    return env;
  }

  #onEnvironmentChange(env: ExecutionEnvironment): void {
    this.#scheduleIdleRecycle(env);
    const info = env.info();
    if (info !== undefined) this.emit('environment', info);
    this.#pump();
  }

  #scheduleIdleRecycle(env: ExecutionEnvironment): void {
    const { idleRecycleMs } = this.#settings;
    if (idleRecycleMs === undefined) return;
    const idle = env.state === 'idle' || env.state === 'frozen';
    if (!idle || env.retired) {
      this.#clearIdleTimer(env.id);
      return;
    }
    if (this.#idleTimers.has(env.id)) return;
    const timer = setTimeout(() => {
      this.#idleTimers.delete(env.id);
      void this.recycle(env.id);
    }, idleRecycleMs);
    this.#idleTimers.set(env.id, timer);
  }

  #clearIdleTimer(environmentId: string): void {
    clearTimeout(this.#idleTimers.get(environmentId));
    this.#idleTimers.delete(environmentId);
  }
}

/**
 * An invoke() rejects when the simulator stops or its pinned environment is gone, which can
 * happen long after whoever called it stopped listening (a fire-and-forget invoke, a test that
 * failed before awaiting it and is being torn down). Such a rejection is no one's unhandled
 * error: the simulator marks its own promise handled. A caller that awaits it still gets the
 * rejection, and promises derived from it are the caller's to handle.
 */
function handledByCaller<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => {});
  return promise;
}

function resolveSettings(options: SimulatorOptions): Settings {
  const settings: Settings = {
    fn: {
      functionName: options.functionName ?? 'local-function',
      region: options.region ?? 'us-east-1',
      memoryMb: options.memoryMb ?? 128,
      timeoutMs: options.timeoutMs ?? 3000,
    },
    maxEnvironments: options.maxEnvironments ?? 10,
    perEnvironmentConcurrency: options.perEnvironmentConcurrency ?? 1,
    freeze: options.freeze ?? true,
    idleRecycleMs: options.idleRecycleMs,
    shutdownGraceMs: options.shutdownGraceMs ?? 500,
    initTimeoutMs: options.initTimeoutMs ?? 10_000,
    env: options.env ?? {},
  };
  requirePositiveInteger('timeoutMs', settings.fn.timeoutMs);
  requirePositiveInteger('maxEnvironments', settings.maxEnvironments);
  requirePositiveInteger('perEnvironmentConcurrency', settings.perEnvironmentConcurrency);
  return settings;
}

function requirePositiveInteger(name: string, value: number): void {
  if (!Number.isInteger(value) || value < 1) {
    throw new RangeError(`${name} must be a positive integer, got ${value}`);
  }
}
