/**
 * The Lambda Runtime API (2018-06-01) that one execution environment's runtime talks to.
 *
 * It only speaks the protocol; what an invocation means is the caller's business. The RIC's
 * native client long-polls `GET /invocation/next` from a libuv pool thread and posts results
 * with a blocking curl call; its Node side posts `/init/error` and streamed responses.
 */
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import type { InvocationError } from './types.js';

const PREFIX = '/2018-06-01/runtime';
const INVOCATION_PATH = /^\/2018-06-01\/runtime\/invocation\/([^/]+)\/(response|error)$/;
const ERROR_TYPE_HEADER = 'lambda-runtime-function-error-type';
const ERROR_BODY_TRAILER = 'lambda-runtime-function-error-body';
const RESPONSE_MODE_HEADER = 'lambda-runtime-function-response-mode';
const HTTP_INTEGRATION_CONTENT_TYPE = 'application/vnd.awslambda.http-integration-response';

/** What `/next` hands to the runtime. */
export interface NextInvocation {
  requestId: string;
  /** Epoch ms; the RIC's context.getRemainingTimeInMillis() counts down to it. */
  deadlineMs: number;
  functionArn: string;
  traceId: string;
  /** The event, as JSON. */
  payload: string;
}

/** What the runtime posted for an invocation. */
export type PostedOutcome = { ok: true; result: unknown } | { ok: false; error: InvocationError };

export interface RuntimeApiListener {
  /** The runtime asked for work; it waits until deliver() answers it. */
  onNext(): void;
  /** Returns false when the request id is not one in flight (the runtime then gets a 400). */
  onOutcome(requestId: string, outcome: PostedOutcome): boolean;
  onInitError(error: InvocationError): void;
}

export class RuntimeApiServer {
  readonly #server: Server;
  readonly #listener: RuntimeApiListener;
  /** `/next` requests not answered yet, oldest first. */
  readonly #waiting: ServerResponse[] = [];

  private constructor(listener: RuntimeApiListener) {
    this.#listener = listener;
    this.#server = createServer((req, res) => {
      this.#route(req, res).catch((error: unknown) => reply(res, 500, String(error)));
    });
    // A frozen runtime keeps its connections idle for as long as it is frozen, and a /next
    // long-poll or a streamed response may last longer than Node's default request timeout.
    this.#server.keepAliveTimeout = 0;
    this.#server.requestTimeout = 0;
  }

  /** Starts a server on a free port of 127.0.0.1. */
  static async listen(listener: RuntimeApiListener): Promise<RuntimeApiServer> {
    const api = new RuntimeApiServer(listener);
    await new Promise<void>((resolve, reject) => {
      api.#server.once('error', reject);
      api.#server.listen(0, '127.0.0.1', () => resolve());
    });
    return api;
  }

  /** host:port, the value of AWS_LAMBDA_RUNTIME_API. */
  get address(): string {
    const { port } = this.#server.address() as AddressInfo;
    return `127.0.0.1:${port}`;
  }

  /** `/next` requests currently waiting for an invocation. */
  get waiting(): number {
    return this.#waiting.length;
  }

  /** Answers the oldest waiting `/next`; false when the runtime is not waiting. */
  deliver(invocation: NextInvocation): boolean {
    const res = this.#waiting.shift();
    if (res === undefined) return false;
    res.writeHead(200, {
      'Content-Type': 'application/json',
      'Lambda-Runtime-Aws-Request-Id': invocation.requestId,
      'Lambda-Runtime-Deadline-Ms': String(invocation.deadlineMs),
      'Lambda-Runtime-Invoked-Function-Arn': invocation.functionArn,
      'Lambda-Runtime-Trace-Id': invocation.traceId,
    });
    res.end(invocation.payload);
    return true;
  }

  async close(): Promise<void> {
    this.#waiting.length = 0;
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.#server.closeAllConnections();
    await closed;
  }

  async #route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const listener = this.#listener;
    const path = req.url ?? '';
    if (req.method === 'GET' && path === `${PREFIX}/invocation/next`) {
      this.#waitForInvocation(res);
      listener.onNext();
      return;
    }
    if (req.method !== 'POST') return reply(res, 405, 'method not allowed');
    if (path === `${PREFIX}/init/error`) {
      const body = await readBody(req);
      listener.onInitError(parseError(body, req.headers));
      return reply(res, 202, 'accepted');
    }
    const match = INVOCATION_PATH.exec(path);
    if (match === null) return reply(res, 404, 'not found');
    const requestId = decodeURIComponent(match[1] ?? '');
    const body = await readBody(req);
    const outcome =
      match[2] === 'error' ? errorOutcome(body, req.headers) : responseOutcome(req, body);
    const known = listener.onOutcome(requestId, outcome);
    reply(res, known ? 202 : 400, known ? 'accepted' : 'unknown request id');
  }

  #waitForInvocation(res: ServerResponse): void {
    this.#waiting.push(res);
    // The runtime died or hung up: never hand an invocation to that request.
    res.once('close', () => {
      const index = this.#waiting.indexOf(res);
      if (index !== -1) this.#waiting.splice(index, 1);
    });
  }
}

function reply(res: ServerResponse, status: number, message: string): void {
  if (res.headersSent) return;
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify({ status: message }));
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function responseOutcome(req: IncomingMessage, body: Buffer): PostedOutcome {
  if (req.headers[RESPONSE_MODE_HEADER] === 'streaming') return streamedOutcome(req, body);
  const text = body.toString('utf8');
  try {
    return { ok: true, result: JSON.parse(text) as unknown };
  } catch {
    return { ok: true, result: text };
  }
}

/**
 * A streamed response (awslambda.streamifyResponse) is a chunked POST whose trailers carry the
 * error, if the handler failed after it started streaming.
 */
function streamedOutcome(req: IncomingMessage, body: Buffer): PostedOutcome {
  const errorBody = req.trailers[ERROR_BODY_TRAILER];
  if (errorBody !== undefined) {
    const json = Buffer.from(errorBody, 'base64');
    return { ok: false, error: parseError(json, req.trailers) };
  }
  const contentType = req.headers['content-type'] ?? '';
  if (!contentType.startsWith(HTTP_INTEGRATION_CONTENT_TYPE)) {
    return { ok: true, result: body.toString('utf8') };
  }
  // awslambda.HttpResponseStream: a JSON prelude (status, headers), 8 NUL bytes, then the body.
  const delimiter = body.indexOf(Buffer.alloc(8));
  const prelude = JSON.parse(body.subarray(0, delimiter).toString('utf8')) as object;
  return { ok: true, result: { ...prelude, body: body.subarray(delimiter + 8).toString('utf8') } };
}

function errorOutcome(body: Buffer, headers: IncomingHttpHeaders): PostedOutcome {
  return { ok: false, error: parseError(body, headers) };
}

/** The RIC posts `{ errorType, errorMessage, trace }`; the type header is only a fallback. */
function parseError(body: Buffer, headers: NodeJS.Dict<string | string[]>): InvocationError {
  const headerType = headers[ERROR_TYPE_HEADER];
  const fallbackType = typeof headerType === 'string' ? headerType : 'Runtime.Unknown';
  const text = body.toString('utf8');
  try {
    const parsed = JSON.parse(text) as Partial<InvocationError>;
    const error: InvocationError = {
      errorType: typeof parsed.errorType === 'string' ? parsed.errorType : fallbackType,
      errorMessage: typeof parsed.errorMessage === 'string' ? parsed.errorMessage : text,
    };
    if (Array.isArray(parsed.trace)) error.trace = parsed.trace;
    return error;
  } catch {
    return { errorType: fallbackType, errorMessage: text };
  }
}
