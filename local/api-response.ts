/**
 * A proxy integration's result as API Gateway turns it into an HTTP response. A failed
 * invocation (handler error, timeout, crash) or a result that is not a proxy response becomes
 * API Gateway's own 502; the reason is for the server's log, never for the client.
 */
import type { InvocationReport } from './types.js';

export interface HttpResponse {
  statusCode: number;
  headers: Record<string, string | string[]>;
  body: Buffer;
}

export interface Translated {
  response: HttpResponse;
  /** Why the client got a 502, when it did. */
  failure: string | undefined;
}

export function jsonResponse(
  statusCode: number,
  body: unknown,
  headers: Record<string, string> = {},
): HttpResponse {
  return {
    statusCode,
    headers: { 'content-type': 'application/json', ...headers },
    body: Buffer.from(JSON.stringify(body)),
  };
}

/** What API Gateway answers when the integration failed. */
export const INTERNAL_ERROR = (): HttpResponse =>
  jsonResponse(502, { message: 'Internal server error' });

/**
 * What API Gateway answers when Lambda refused the invocation, as it does when throttling it:
 * a 500, not the 429 Lambda gave API Gateway ("If the Lambda API rejects the invocation
 * request, API Gateway returns a 500 error code", Lambda developer guide, "Handling Lambda
 * errors with an API Gateway API"). API Gateway's own 429 `Too Many Requests` is for its own
 * throttling (stage and usage-plan rate limits), which the deployment does not set.
 */
export const INVOCATION_REFUSED = (): HttpResponse =>
  jsonResponse(500, { message: 'Internal server error' });

/** API Gateway's answer when the integration has not answered within its timeout (29 s). */
export const GATEWAY_TIMEOUT = (): HttpResponse =>
  jsonResponse(504, { message: 'Endpoint request timed out' });

export function toHttpResponse(report: InvocationReport): Translated {
  if (!report.ok) {
    const error = report.error;
    const reason =
      error === undefined ? 'unknown error' : `${error.errorType}: ${error.errorMessage}`;
    return { response: INTERNAL_ERROR(), failure: `invocation failed: ${reason}` };
  }
  const result = report.result;
  const problem = proxyResultProblem(result);
  if (problem !== undefined) {
    return { response: INTERNAL_ERROR(), failure: `malformed Lambda proxy response: ${problem}` };
  }
  return { response: fromProxyResult(result as ProxyResult), failure: undefined };
}

/** The proxy result, as loosely as API Gateway accepts it. */
interface ProxyResult {
  statusCode: number | string;
  headers?: Record<string, unknown> | null;
  multiValueHeaders?: Record<string, unknown[]> | null;
  body?: string | null;
  isBase64Encoded?: boolean;
}

function proxyResultProblem(result: unknown): string | undefined {
  if (typeof result !== 'object' || result === null || Array.isArray(result))
    return `expected an object, got ${JSON.stringify(result) ?? String(result)}`;
  const { statusCode, body } = result as Record<string, unknown>;
  const status = Number(statusCode);
  if (!Number.isInteger(status) || status < 100 || status > 599)
    return `statusCode must be an HTTP status, got ${JSON.stringify(statusCode)}`;
  if (body !== undefined && body !== null && typeof body !== 'string')
    return `body must be a string, got ${typeof body}`;
  return undefined;
}

function fromProxyResult(result: ProxyResult): HttpResponse {
  // No prototype: a header the function names `__proto__` or `constructor` is a header.
  const headers = Object.create(null) as Record<string, string | string[]>;
  for (const [name, value] of Object.entries(result.headers ?? {})) {
    headers[name.toLowerCase()] = String(value);
  }
  // A name in both maps: API Gateway keeps only the multi-value list.
  for (const [name, values] of Object.entries(result.multiValueHeaders ?? {})) {
    headers[name.toLowerCase()] = values.map(String);
  }
  // REST APIs answer application/json when the function names no content type.
  headers['content-type'] ??= 'application/json';
  const text = result.body ?? '';
  const body = result.isBase64Encoded === true ? Buffer.from(text, 'base64') : Buffer.from(text);
  return { statusCode: Number(result.statusCode), headers, body };
}
