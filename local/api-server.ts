/**
 * A local API Gateway: HTTP requests on loopback become REST proxy events (payload 1.0) for
 * the functions, which run in the simulator's execution environments, one simulator per
 * function, with the timeouts the deployment gives them. Redis is the caller's, or a
 * redis-server of our own (redis-server.ts).
 *
 * As deployed, nothing waits in a queue: an invocation beyond a function's concurrency limit is
 * refused (Lambda's throttling, which API Gateway answers 500), and a function that has not
 * answered within the integration timeout is API Gateway's 504 while it goes on running.
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  API_GATEWAY_TIMEOUT_MS,
  FUNCTIONS,
  type FunctionKey,
  ROUTES,
} from '../functions/manifest.js';
import { toProxyEvent } from './api-event.js';
import {
  GATEWAY_TIMEOUT,
  type HttpResponse,
  INTERNAL_ERROR,
  INVOCATION_REFUSED,
  jsonResponse,
  toHttpResponse,
} from './api-response.js';
import { startRedisServer } from './redis-server.js';
import { LambdaSimulator } from './simulator.js';

export const DEFAULT_PORT = 12_000;
export const STAGE = 'local';
/** Lambda's payload limit for a synchronous invocation. */
export const MAX_BODY_BYTES = 6 * 1024 * 1024;
/**
 * After a 413, how much more of the refused body is read (and discarded) before the connection
 * is closed, and for how long. Closing a socket with unread data resets it, and a reset can
 * destroy the 413 in the client's buffers before the client has read it.
 */
const LINGER_BYTES = 64 * 1024 * 1024;
const LINGER_MS = 10_000;
/** Local function names (AWS_LAMBDA_FUNCTION_NAME, so the prefix of CLIENT SETNAME). */
export const LOCAL_FUNCTION_PREFIX = 'local-api-';
/** Execution environments per function unless told otherwise: its concurrency limit. */
export const DEFAULT_MAX_ENVIRONMENTS = 10;

export interface LocalApiOptions {
  /** Default 12000; 0 picks a free port. */
  port?: number;
  /** Default 127.0.0.1: nothing outside this machine can reach it. */
  host?: string;
  /** The functions' REDIS_URL. Unset: a redis-server of our own is started (and stopped). */
  redisUrl?: string;
  /** The functions' other variables. Default: every REDIS_* variable of this process. */
  env?: Record<string, string>;
  /** Called with one line per request answered, e.g. for a console. */
  accessLog?: (line: string) => void;
  /**
   * Each function's concurrency limit: the execution environments it may have at once. A
   * request that would need one more is refused at once, as Lambda throttles it (API Gateway
   * answers 500). Default DEFAULT_MAX_ENVIRONMENTS (10).
   */
  maxEnvironments?: number;
  /**
   * API Gateway's integration timeout: a function that has not answered this long after it was
   * invoked (its cold start included) gets API Gateway's 504; the invocation goes on and keeps
   * its environment until it ends. Default API_GATEWAY_TIMEOUT_MS (29 s).
   */
  integrationTimeoutMs?: number;
  /** The functions' init phase limit. Default Lambda's 10 s. */
  initTimeoutMs?: number;
}

export interface LocalApi {
  /** http://host:port, without a trailing slash. */
  readonly url: string;
  readonly port: number;
  /** The Redis the functions use (it may contain a password: redact before printing). */
  readonly redisUrl: string;
  /** A redis-server was started for this API (and close() stops it). */
  readonly startedRedis: boolean;
  /** Stops the HTTP server, the simulators' environments and our own redis-server. */
  close(): Promise<void>;
}

type Closer = () => Promise<void>;

export async function startLocalApi(options: LocalApiOptions = {}): Promise<LocalApi> {
  const maxEnvironments = positiveInteger(
    'maxEnvironments',
    options.maxEnvironments ?? DEFAULT_MAX_ENVIRONMENTS,
  );
  const integrationTimeoutMs = positiveInteger(
    'integrationTimeoutMs',
    options.integrationTimeoutMs ?? API_GATEWAY_TIMEOUT_MS,
  );
  // Whatever has started is stopped again, in reverse order, on close or a failed start.
  const closers: Closer[] = [];
  const closeAll = memoize(async () => {
    for (const close of closers.reverse()) await close();
  });
  try {
    let redisUrl = options.redisUrl;
    if (redisUrl === undefined) {
      const own = await startRedisServer();
      closers.push(own.stop);
      redisUrl = own.url;
    }
    const env = { ...(options.env ?? redisVariables(process.env)), REDIS_URL: redisUrl };
    const gateway: Gateway = {
      functions: await startFunctions(env, maxEnvironments, options.initTimeoutMs, closers),
      integrationTimeoutMs,
      accessLog: options.accessLog,
    };
    const handle = (req: IncomingMessage, res: ServerResponse) => {
      void serve(req, res, gateway);
    };
    const server = createServer(handle);
    // Node answers `Expect: 100-continue` with 100 by itself; a body that will be refused with
    // a 413 must not be invited (curl sends one for bodies over 1 MB).
    server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
      if (!(declaredLength(req) > MAX_BODY_BYTES)) res.writeContinue();
      handle(req, res);
    });
    await listen(server, options.port ?? DEFAULT_PORT, options.host ?? '127.0.0.1');
    closers.push(() => closeServer(server, gateway.functions));
    const { address, port } = server.address() as AddressInfo;
    return {
      url: `http://${address.includes(':') ? `[${address}]` : address}:${port}`,
      port,
      redisUrl,
      startedRedis: options.redisUrl === undefined,
      close: closeAll,
    };
  } catch (error) {
    await closeAll();
    throw error;
  }
}

/** REDIS_* of a process environment: the pool's configuration. */
export function redisVariables(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (name.startsWith('REDIS_') && value !== undefined) out[name] = value;
  }
  return out;
}

function positiveInteger(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) {
    throw new RangeError(`${name} must be a positive integer, got ${value}`);
  }
  return value;
}

/** A function behind the API: its simulator and the invocations it has in flight. */
interface LocalFunction {
  readonly key: FunctionKey;
  readonly sim: LambdaSimulator;
  /** Its concurrency limit. */
  readonly maxEnvironments: number;
  /** Invocations started and not ended, those API Gateway gave up on (504) included. */
  inFlight: number;
}

type Functions = Record<FunctionKey, LocalFunction>;

interface Gateway {
  readonly functions: Functions;
  readonly integrationTimeoutMs: number;
  readonly accessLog: ((line: string) => void) | undefined;
}

async function startFunctions(
  env: Record<string, string>,
  maxEnvironments: number,
  initTimeoutMs: number | undefined,
  closers: Closer[],
): Promise<Functions> {
  const keys = Object.keys(FUNCTIONS) as FunctionKey[];
  const started = await Promise.allSettled(
    keys.map((key) => {
      const fn = FUNCTIONS[key];
      return LambdaSimulator.start({
        entry: fn.entry,
        handlerExport: fn.handler,
        functionName: `${LOCAL_FUNCTION_PREFIX}${fn.name}`,
        timeoutMs: fn.timeoutMs,
        memoryMb: fn.memoryMb,
        maxEnvironments,
        initTimeoutMs,
        env,
      });
    }),
  );
  for (const result of started) {
    if (result.status === 'fulfilled') closers.push(() => result.value.stop());
  }
  const failed = started.find((result) => result.status === 'rejected');
  if (failed !== undefined) throw failed.reason;
  const sims = started.map((result) => (result as PromiseFulfilledResult<LambdaSimulator>).value);
  return Object.fromEntries(
    keys.map((key, i) => [key, { key, sim: sims[i], maxEnvironments, inFlight: 0 }]),
  ) as Functions;
}

async function listen(server: Server, port: number, host: string): Promise<void> {
  server.listen(port, host);
  // 'error' (EADDRINUSE, …) makes once() reject.
  await once(server, 'listening');
}

/**
 * Stops accepting, then stops the simulators, which ends the invocations in flight, so their
 * requests are answered (502) before the remaining (idle keep-alive) connections are cut.
 */
async function closeServer(server: Server, functions: Functions): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  await Promise.all(Object.values(functions).map((fn) => fn.sim.stop()));
  server.closeAllConnections();
  await closed;
}

async function serve(req: IncomingMessage, res: ServerResponse, gateway: Gateway): Promise<void> {
  const started = performance.now();
  const method = req.method ?? 'GET';
  const url = new URL(req.url ?? '/', 'http://local');
  let status: string;
  try {
    const response = await respond(req, method, url, gateway);
    if (response.bodyRefused) sendAndLinger(req, res, response);
    else send(res, response);
    status = String(response.statusCode);
  } catch (error) {
    // Only the request itself can fail here (the client went away mid-body).
    console.error(`[local-api] ${method} ${url.pathname}: ${String(error)}`);
    res.destroy();
    status = 'aborted';
  }
  const ms = Math.round(performance.now() - started);
  gateway.accessLog?.(`${method} ${url.pathname}${url.search} ${status} ${ms} ms`);
}

/** A response, and whether the request's body was refused unread (a 413). */
type Answer = HttpResponse & { readonly bodyRefused?: boolean };

async function respond(
  req: IncomingMessage,
  method: string,
  url: URL,
  gateway: Gateway,
): Promise<Answer> {
  const route = ROUTES.find((r) => r.resource === url.pathname);
  if (route === undefined) {
    const routes = ROUTES.map((r) => `${r.methods.join('|')} ${r.resource}`);
    return jsonResponse(404, { message: `No route for ${url.pathname}`, routes });
  }
  if (!(route.methods as readonly string[]).includes(method)) {
    return jsonResponse(
      405,
      { message: `${method} is not allowed on ${route.resource}` },
      { allow: route.methods.join(', ') },
    );
  }
  const body = await readBody(req, MAX_BODY_BYTES);
  if (body === undefined) {
    return {
      ...jsonResponse(
        413,
        { message: `Request Too Long: the body is over ${MAX_BODY_BYTES} bytes` },
        { connection: 'close' },
      ),
      bodyRefused: true,
    };
  }
  const event = toProxyEvent({
    method,
    path: url.pathname,
    query: url.search.slice(1),
    rawHeaders: req.rawHeaders,
    body,
    sourceIp: req.socket.remoteAddress ?? '127.0.0.1',
    resource: route.resource,
    stage: STAGE,
  });
  const requestId = event.requestContext.requestId;
  const what = `${method} ${url.pathname}`;
  const response = await invoke(gateway.functions[route.fn], event, what, gateway);
  // API Gateway names its request id in every response.
  response.headers['x-amzn-requestid'] = requestId;
  return response;
}

/**
 * Invokes the function as API Gateway does: refused at once beyond its concurrency limit, and
 * cut off with a 504 at the integration timeout. The client gets API Gateway's bare answers;
 * the developer gets the reason (and the function's last lines) on stderr.
 */
async function invoke(
  fn: LocalFunction,
  event: unknown,
  what: string,
  gateway: Gateway,
): Promise<HttpResponse> {
  if (fn.inFlight >= fn.maxEnvironments) {
    console.error(
      `[local-api] ${what} -> 500: throttled: ${fn.inFlight} invocations of ${fn.key} in ` +
        'flight, its limit (maxEnvironments). Lambda refuses the invocation ' +
        '(TooManyRequestsException, 429) and API Gateway answers a refused invocation with 500.',
    );
    return INVOCATION_REFUSED();
  }
  fn.inFlight += 1;
  const invocation = runInvocation(fn.sim, event).finally(() => {
    fn.inFlight -= 1;
  });
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<undefined>((resolve) => {
    timer = setTimeout(resolve, gateway.integrationTimeoutMs, undefined);
  });
  const outcome = await Promise.race([invocation, timedOut]);
  clearTimeout(timer);
  if (outcome === undefined) {
    console.error(
      `[local-api] ${what} -> 504: no answer after ${gateway.integrationTimeoutMs} ms ` +
        "(API Gateway's integration timeout); the invocation goes on in its environment",
    );
    // What the cut-off invocation did in the end is still worth a line.
    void invocation.then((late) => {
      if (late.failure !== undefined) logFailure(`${what} (after its 504)`, late);
    });
    return GATEWAY_TIMEOUT();
  }
  if (outcome.failure !== undefined) logFailure(`${what} -> 502`, outcome);
  return outcome.response;
}

interface Outcome {
  response: HttpResponse;
  /** Why the client got a 502, when it did. */
  failure: string | undefined;
  logs: readonly string[];
}

/** One invocation, as API Gateway would answer it; never rejects. */
async function runInvocation(sim: LambdaSimulator, event: unknown): Promise<Outcome> {
  try {
    const report = await sim.invoke(event);
    const { response, failure } = toHttpResponse(report);
    // A failed cold start usually explains itself in the init phase's lines.
    return { response, failure, logs: [...(report.initLogs ?? []), ...report.logs] };
  } catch (error) {
    // The simulator is stopping: the API is closing.
    const reason = error instanceof Error ? error.message : String(error);
    return { response: INTERNAL_ERROR(), failure: `invocation failed: ${reason}`, logs: [] };
  }
}

/** The client gets API Gateway's bare 502; the developer gets the reason and the logs. */
function logFailure(what: string, outcome: Outcome): void {
  const tail = outcome.logs.slice(-20).map((line) => `  | ${line}`);
  console.error([`[local-api] ${what}: ${outcome.failure}`, ...tail].join('\n'));
}

/** The Content-Length the client declared; 0 without one (a chunked body, or none). */
function declaredLength(req: IncomingMessage): number {
  return Number(req.headers['content-length'] ?? 0);
}

/** The request body, or undefined when it is over `limit` bytes. */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  if (declaredLength(req) > limit) return Promise.resolve(undefined);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) {
        chunks.push(chunk);
        return;
      }
      req.off('data', onData);
      req.pause();
      resolve(undefined);
    };
    req.on('data', onData);
    req.once('end', () => resolve(Buffer.concat(chunks)));
    // After 'end' this is a no-op; before it, the client went away.
    req.once('close', () => reject(new Error('the request was closed before its body arrived')));
    req.once('error', reject);
  });
}

/**
 * Sends a response to a request whose body was refused, then closes the connection without
 * losing it: the complete response is written at once (the client can read it while it is
 * still sending), the rest of the body is read and discarded until it ends or the client
 * closes, and only then does the connection close. Closing with the body still arriving made
 * the kernel reset the connection, and the reset often destroyed the 413 in the client's
 * buffers before the client read it ("lingering close", as web servers do it). A client that
 * goes on past LINGER_BYTES or LINGER_MS is cut off.
 */
function sendAndLinger(req: IncomingMessage, res: ServerResponse, response: HttpResponse): void {
  res.writeHead(response.statusCode, {
    ...response.headers,
    'content-length': String(response.body.length),
    connection: 'close',
  });
  res.write(response.body);
  let drained = 0;
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    clearTimeout(timer);
    req.off('data', discard);
    // Ends the response: Node then closes the connection (Connection: close).
    res.end();
  };
  const discard = (chunk: Buffer) => {
    drained += chunk.length;
    if (drained > LINGER_BYTES) close();
  };
  const timer = setTimeout(close, LINGER_MS);
  req.on('data', discard);
  req.once('end', close);
  req.once('close', close);
  req.resume();
}

function send(res: ServerResponse, response: HttpResponse): void {
  res.writeHead(response.statusCode, {
    ...response.headers,
    'content-length': String(response.body.length),
  });
  res.end(response.body);
}

function memoize<T>(fn: () => Promise<T>): () => Promise<T> {
  let result: Promise<T> | undefined;
  return () => {
    result ??= fn();
    return result;
  };
}
