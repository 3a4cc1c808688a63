/**
 * API Gateway events in, JSON responses out. The deployed API is a REST API (proxy events,
 * payload 1.0); HTTP API events (payload 2.0) are accepted too. One normalized request shape
 * keeps the handlers free of either format.
 */
import type {
  APIGatewayProxyEvent,
  APIGatewayProxyEventV2,
  APIGatewayProxyResult,
} from 'aws-lambda';

export type ApiEvent = APIGatewayProxyEvent | APIGatewayProxyEventV2;

export interface ApiRequest {
  readonly method: string;
  readonly path: string;
  readonly query: Readonly<Record<string, string>>;
  /** The body as text (base64 bodies decoded), or undefined when there is none. */
  readonly body: string | undefined;
}

export function parseRequest(event: ApiEvent): ApiRequest {
  const v2 = 'version' in event && event.version === '2.0';
  const method = v2
    ? (event as APIGatewayProxyEventV2).requestContext.http.method
    : (event as APIGatewayProxyEvent).httpMethod;
  const path = v2
    ? (event as APIGatewayProxyEventV2).rawPath
    : (event as APIGatewayProxyEvent).path;
  // No prototype: `?__proto__=1` is a parameter (that the caller is told is unknown), not an
  // assignment to the map's prototype that silently drops it.
  const query = Object.create(null) as Record<string, string>;
  for (const [key, value] of Object.entries(event.queryStringParameters ?? {})) {
    if (value !== undefined) query[key] = value;
  }
  const raw = event.body ?? undefined;
  const body =
    raw !== undefined && event.isBase64Encoded ? Buffer.from(raw, 'base64').toString('utf8') : raw;
  return {
    method: (method ?? 'GET').toUpperCase(),
    path: path ?? '/',
    query,
    body: body || undefined,
  };
}

export function json(statusCode: number, body: unknown): APIGatewayProxyResult {
  return {
    statusCode,
    headers: { 'content-type': 'application/json', 'cache-control': 'no-store' },
    body: JSON.stringify(body),
  };
}

/** A 400 whose message names what was wrong with the request. */
export class BadRequest extends Error {
  override readonly name = 'BadRequest';
}
