/**
 * One execution environment: one RIC process, its Runtime API server and its log.
 *
 * Lifecycle, as Lambda runs it:
 * - init: from spawn until the runtime first asks for work (GET /next);
 * - invoke: an event is handed out on /next with a deadline; the runtime posts a response or
 *   an error; past the deadline the process is killed;
 * - freeze: once nothing is in flight and the runtime is back waiting on /next, the process is
 *   SIGSTOPped; it is SIGCONTinued just before the next event is handed out;
 * - shutdown: SIGTERM, then SIGKILL after a grace period.
 */
import type { ChildProcess } from 'node:child_process';
import { type FSWatcher, watch } from 'node:fs';
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
import type { HandlerBundle } from './bundle.js';
import { type FunctionIdentity, functionArn, lambdaEnvironment, traceId } from './lambda-env.js';
import { sendSignal, spawnTracked } from './leftovers.js';
import { LogFile } from './log-file.js';
import { parseLogLine } from './log-line.js';
import { processState } from './proc.js';
import { type PostedOutcome, RuntimeApiServer } from './runtime-api.js';
import type {
  EnvironmentInfo,
  EnvironmentState,
  InvocationError,
  InvocationReport,
  LogEvent,
} from './types.js';

/** The RIC's entry (its package "main"); it reads the handler from _HANDLER, not from argv. */
const RIC_ENTRY = createRequire(import.meta.url).resolve('aws-lambda-ric');

/** 1 ms apart: a SIGSTOPped idle process normally shows as stopped on the first or second. */
const STOP_CONFIRM_ATTEMPTS = 200;

export interface EnvironmentConfig {
  id: string;
  bundle: HandlerBundle;
  fn: FunctionIdentity;
  /** Invocations at once; above 1 the runtime runs in Managed Instances mode. */
  concurrency: number;
  freeze: boolean;
  initTimeoutMs: number;
  userEnv: Record<string, string>;
  logPath: string;
}

export interface EnvironmentHooks {
  /** Anything that can change info() or acceptsWork happened. */
  onChange(env: ExecutionEnvironment): void;
  onLog(event: LogEvent): void;
}

/** An invocation assigned to this environment. */
interface Invocation {
  requestId: string;
  payload: string;
  /** It was assigned before init finished, so it waited for it. */
  coldStart: boolean;
  logs: string[];
  /** performance.now() when the event was handed out. */
  startedAt: number | undefined;
  timer: NodeJS.Timeout | undefined;
  resolve(report: InvocationReport): void;
}

export class ExecutionEnvironment {
  readonly id: string;
  readonly #config: EnvironmentConfig;
  readonly #hooks: EnvironmentHooks;
  readonly #logFile: LogFile;
  /** Every line the process wrote, attributed or not. */
  readonly #log: string[] = [];
  readonly #initLogs: string[] = [];
  /** Assigned, waiting for the runtime to ask for work. */
  readonly #queued: Invocation[] = [];
  readonly #inFlight = new Map<string, Invocation>();
  readonly #createdAt = performance.now();
  readonly #exited: Promise<void>;
  #markExited: () => void = () => {};
  #api: RuntimeApiServer | undefined;
  #child: ChildProcess | undefined;
  #watcher: FSWatcher | undefined;
  #initTimer: NodeJS.Timeout | undefined;
  #initMs: number | undefined;
  #initError: InvocationError | undefined;
  #invocations = 0;
  /** SIGSTOP sent (so SIGCONT is owed before the next hand-out). */
  #frozen = false;
  /** …and the process has actually stopped. */
  #stopConfirmed = false;
  /** Being killed or shut down: takes no more work. */
  #doomed = false;
  #dead = false;
  /** performance.now() of the latest assignment; the simulator prefers the most recent. */
  lastAssignedAt: number;

  constructor(config: EnvironmentConfig, hooks: EnvironmentHooks) {
    this.id = config.id;
    this.#config = config;
    this.#hooks = hooks;
    this.#logFile = new LogFile(config.logPath);
    this.lastAssignedAt = this.#createdAt;
    this.#exited = new Promise((resolve) => {
      this.#markExited = resolve;
    });
    this.#initTimer = setTimeout(() => this.#initTimedOut(), config.initTimeoutMs);
    void this.#boot();
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  get state(): EnvironmentState {
    if (this.#dead) return 'dead';
    if (this.#initMs === undefined) return 'initializing';
    if (this.load > 0) return 'busy';
    return this.#frozen && this.#stopConfirmed ? 'frozen' : 'idle';
  }

  /** Invocations assigned and not finished. */
  get load(): number {
    return this.#queued.length + this.#inFlight.size;
  }

  get acceptsWork(): boolean {
    return !this.#doomed && !this.#dead && this.load < this.#config.concurrency;
  }

  /** Shutting down, killed or dead: it will never take work again. */
  get retired(): boolean {
    return this.#doomed || this.#dead;
  }

  /** Resolves once the process has exited (or never started). */
  get exited(): Promise<void> {
    return this.#exited;
  }

  /** Every line this environment's process wrote. */
  get log(): readonly string[] {
    return this.#log;
  }

  info(): EnvironmentInfo | undefined {
    const pid = this.pid;
    if (pid === undefined) return undefined;
    return {
      id: this.id,
      pid,
      state: this.state,
      invocations: this.#invocations,
      inFlight: this.load,
    };
  }

  /** Runs one invocation; the caller checks acceptsWork first. Never rejects. */
  assign(requestId: string, payload: string): Promise<InvocationReport> {
    if (!this.acceptsWork) throw new Error(`environment ${this.id} takes no more work`);
    this.lastAssignedAt = performance.now();
    return new Promise((resolve) => {
      this.#queued.push({
        requestId,
        payload,
        coldStart: this.#initMs === undefined,
        logs: [],
        startedAt: undefined,
        timer: undefined,
        resolve,
      });
      this.#dispatchQueued();
      this.#changed();
    });
  }

  signal(signal: NodeJS.Signals): boolean {
    const pid = this.pid;
    return pid !== undefined && !this.#dead && sendSignal(pid, signal);
  }

  /** SIGKILL (it also ends a frozen process). */
  kill(): void {
    this.#doomed = true;
    this.signal('SIGKILL');
  }

  /** Lambda's shutdown: thaw, SIGTERM, SIGKILL after `graceMs`; resolves once exited. */
  async shutdown(graceMs: number): Promise<void> {
    if (this.#dead) return;
    this.#doomed = true;
    this.#changed();
    this.#thaw();
    this.signal('SIGTERM');
    const timer = setTimeout(() => this.kill(), graceMs);
    await this.#exited;
    clearTimeout(timer);
  }

  async #boot(): Promise<void> {
    try {
      this.#api = await RuntimeApiServer.listen({
        onNext: () => this.#onNext(),
        onOutcome: (requestId, outcome) => this.#onOutcome(requestId, outcome),
        onInitError: (error) => this.#onInitError(error),
      });
      if (this.#doomed) return this.#onExit('never started: shut down while booting');
      this.#spawn(this.#api.address);
    } catch (error) {
      this.#initError = { errorType: 'Runtime.StartError', errorMessage: String(error) };
      this.#onExit(String(error));
    }
  }

  #spawn(runtimeApi: string): void {
    const { bundle, fn, concurrency, userEnv } = this.#config;
    const child = spawnTracked(process.execPath, [RIC_ENTRY], {
      cwd: bundle.taskRoot,
      env: lambdaEnvironment({
        fn,
        runtimeApi,
        handler: bundle.handler,
        taskRoot: bundle.taskRoot,
        maxConcurrency: concurrency > 1 ? concurrency : undefined,
        userEnv,
      }),
      stdio: ['ignore', this.#logFile.writeFd, this.#logFile.writeFd],
    });
    this.#child = child;
    this.#logFile.releaseWriteFd();
    child.once('exit', (code, signal) => this.#onExit(exitReason(code, signal)));
    child.once('error', (error) => this.#onExit(String(error)));
    // Only for live 'log' events; attribution never depends on it (see #collectLogs).
    this.#watcher = watch(this.#config.logPath, { persistent: false }, () => this.#collectLogs());
    this.#watcher.on('error', () => this.#watcher?.close());
    this.#changed();
  }

  #onNext(): void {
    if (this.#dead) return;
    if (this.#initMs === undefined) {
      this.#collectLogs();
      this.#initMs = performance.now() - this.#createdAt;
      clearTimeout(this.#initTimer);
    }
    this.#dispatchQueued();
    this.#freezeIfIdle();
    this.#changed();
  }

  #dispatchQueued(): void {
    while (this.#queued.length > 0 && (this.#api?.waiting ?? 0) > 0 && !this.#dead) {
      const invocation = this.#queued.shift();
      if (invocation !== undefined) this.#dispatch(invocation);
    }
  }

  #dispatch(invocation: Invocation): void {
    const { fn } = this.#config;
    // Lines written before the hand-out belong to whatever ran before, not to this invocation;
    // reading them before the thaw leaves nothing the thawed process writes unattributed.
    this.#collectLogs();
    this.#thaw();
    invocation.startedAt = performance.now();
    this.#inFlight.set(invocation.requestId, invocation);
    this.#invocations += 1;
    this.#api?.deliver({
      requestId: invocation.requestId,
      deadlineMs: Date.now() + fn.timeoutMs,
      functionArn: functionArn(fn),
      traceId: traceId(),
      payload: invocation.payload,
    });
    invocation.timer = setTimeout(() => this.#timedOut(invocation), fn.timeoutMs);
  }

  #onOutcome(requestId: string, outcome: PostedOutcome): boolean {
    const invocation = this.#inFlight.get(requestId);
    if (invocation === undefined) return false;
    // The runtime wrote these lines before it posted, so they are in the file by now.
    this.#collectLogs();
    const report = outcome.ok
      ? { ok: true, result: outcome.result, timedOut: false }
      : { ok: false, error: outcome.error, timedOut: false };
    this.#finish(invocation, report);
    return true;
  }

  #onInitError(error: InvocationError): void {
    this.#initError = error;
    // The RIC exits by itself after posting; Lambda discards the environment either way.
    this.kill();
  }

  #initTimedOut(): void {
    const seconds = (this.#config.initTimeoutMs / 1000).toFixed(2);
    this.#initError = {
      errorType: 'Sandbox.Timedout',
      errorMessage: `Init phase timed out after ${seconds} seconds`,
    };
    this.kill();
  }

  #timedOut(invocation: Invocation): void {
    this.#collectLogs();
    const seconds = (this.#config.fn.timeoutMs / 1000).toFixed(2);
    const error = {
      errorType: 'Sandbox.Timedout',
      errorMessage: `Task timed out after ${seconds} seconds`,
    };
    this.#finish(invocation, { ok: false, error, timedOut: true });
    this.kill();
  }

  #onExit(reason: string): void {
    if (this.#dead) return;
    this.#dead = true;
    this.#frozen = false;
    clearTimeout(this.#initTimer);
    this.#watcher?.close();
    this.#collectLogs({ final: true });
    const exitError: InvocationError = {
      errorType: 'Runtime.ExitError',
      errorMessage: `Runtime exited with error: ${reason}`,
    };
    for (const invocation of [...this.#inFlight.values(), ...this.#queued]) {
      const error = this.#initMs === undefined ? (this.#initError ?? exitError) : exitError;
      this.#finish(invocation, { ok: false, error, timedOut: false });
    }
    this.#queued.length = 0;
    this.#logFile.close();
    void this.#api?.close();
    this.#markExited();
    this.#changed();
  }

  #finish(
    invocation: Invocation,
    outcome: Pick<InvocationReport, 'ok' | 'result' | 'error' | 'timedOut'>,
  ): void {
    clearTimeout(invocation.timer);
    this.#inFlight.delete(invocation.requestId);
    const { startedAt } = invocation;
    const report: InvocationReport = {
      requestId: invocation.requestId,
      environmentId: this.id,
      coldStart: invocation.coldStart,
      durationMs: startedAt === undefined ? 0 : performance.now() - startedAt,
      ...outcome,
      logs: invocation.logs,
    };
    if (invocation.coldStart) {
      report.initMs = this.#initMs ?? performance.now() - this.#createdAt;
      report.initLogs = [...this.#initLogs];
    }
    invocation.resolve(report);
    this.#changed();
  }

  #freezeIfIdle(): void {
    if (!this.#config.freeze || this.#frozen || this.#doomed || this.load > 0) return;
    if (!this.signal('SIGSTOP')) return;
    this.#frozen = true;
    this.#confirmStopped(0);
  }

  /**
   * kill() only queues SIGSTOP; the process stops when it is next scheduled. Report 'frozen'
   * once the kernel says so ('T' in /proc), so that whoever waits for 'frozen' sees a stopped
   * process. Node gets no event for a child that stopped, hence the short poll.
   */
  #confirmStopped(attempt: number): void {
    if (!this.#frozen || this.#dead || this.#stopConfirmed) return;
    const pid = this.pid ?? 0;
    const state = processState(pid);
    // No /proc (not Linux): trust the signal.
    if (state === 'T' || state === undefined || attempt >= STOP_CONFIRM_ATTEMPTS) {
      this.#stopConfirmed = true;
      this.#changed();
      return;
    }
    setTimeout(() => this.#confirmStopped(attempt + 1), 1);
  }

  #thaw(): void {
    if (!this.#frozen) return;
    this.#frozen = false;
    this.#stopConfirmed = false;
    this.signal('SIGCONT');
  }

  /**
   * Reads what the process wrote since the last call and attributes each line. Every call is
   * synchronous and happens at a protocol event (hand-out, outcome, exit) or on a file watch
   * event; reading at the hand-out and at the outcome brackets exactly the lines written
   * while the invocation was in flight.
   */
  #collectLogs(options: { final?: boolean } = {}): void {
    const lines = options.final === true ? this.#logFile.drainAll() : this.#logFile.drain();
    for (const line of lines) {
      this.#log.push(line);
      if (this.#initMs === undefined) this.#initLogs.push(line);
      const owner = this.#ownerOf(line);
      owner?.logs.push(line);
      this.#hooks.onLog({ environmentId: this.id, requestId: owner?.requestId, line });
    }
  }

  /**
   * One at a time, everything written while an invocation is in flight is its own. With
   * several in flight, the request id the RIC's console puts on each line decides; a line
   * without one goes to the only invocation in flight, if there is just one.
   */
  #ownerOf(line: string): Invocation | undefined {
    if (this.#inFlight.size === 0) return undefined;
    const only = this.#inFlight.size === 1 ? this.#inFlight.values().next().value : undefined;
    if (this.#config.concurrency === 1) return only;
    const { requestId } = parseLogLine(line);
    return requestId === undefined ? only : this.#inFlight.get(requestId);
  }

  #changed(): void {
    this.#hooks.onChange(this);
  }
}

function exitReason(code: number | null, signal: NodeJS.Signals | null): string {
  if (signal !== null) return `signal: ${signal}`;
  return `exit status ${code ?? 'unknown'}`;
}
