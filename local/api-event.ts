/**
 * An HTTP request as API Gateway hands it to a Lambda proxy integration: a REST API proxy
 * event (payload format 1.0). The deployed functions receive exactly this shape, so the local
 * API builds it field by field the way API Gateway fills it, nulls included.
 */
import { randomUUID } from 'node:crypto';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { ACCOUNT_ID } from './lambda-env.js';

const API_ID = 'local';

export interface HttpRequestInput {
  method: string;
  /** The path, without the query string. */
  path: string;
  /** The query string without its '?', '' when there is none. */
  query: string;
  /** Node's rawHeaders: names as the client sent them, alternating with their values. */
  rawHeaders: readonly string[];
  body: Buffer;
  sourceIp: string;
  /** The API resource the path matched, e.g. '/api/v1/health'. */
  resource: string;
  stage: string;
}

export function toProxyEvent(
  input: HttpRequestInput,
  now = new Date(),
  requestId: string = randomUUID(),
): APIGatewayProxyEvent {
  const headers = multiValues(pairs(input.rawHeaders));
  const query = multiValues([...new URLSearchParams(input.query)]);
  const body = encodeBody(input.body);
  const header = (name: string) => last(headers, name.toLowerCase());
  return {
    resource: input.resource,
    path: input.path,
    httpMethod: input.method,
    headers: singleValues(headers),
    multiValueHeaders: headers ?? names(),
    // API Gateway sends null, not {}, when there is no query string.
    queryStringParameters: query === null ? null : singleValues(query),
    multiValueQueryStringParameters: query,
    pathParameters: null,
    stageVariables: null,
    requestContext: {
      accountId: ACCOUNT_ID,
      apiId: API_ID,
      authorizer: undefined,
      domainName: header('host'),
      domainPrefix: header('host')?.replace(/:\d+$/, '').split('.')[0],
      extendedRequestId: requestId,
      httpMethod: input.method,
      identity: identity(input.sourceIp, header('user-agent')),
      // Unlike the event's own path, the context's path includes the stage.
      path: `/${input.stage}${input.path}`,
      protocol: 'HTTP/1.1',
      requestId,
      requestTime: clfTime(now),
      requestTimeEpoch: now.getTime(),
      resourceId: resourceId(input.resource),
      resourcePath: input.resource,
      stage: input.stage,
    },
    body: body.text,
    isBase64Encoded: body.base64,
  };
}

type MultiValues = Record<string, string[]>;

/**
 * A map keyed by names the client chose: without a prototype, so that `constructor`,
 * `toString` or `__proto__` is a name like any other instead of Object.prototype's member (a
 * plain `{}` crashed the request on `?constructor=1`, and silently dropped `__proto__`). It
 * serializes to JSON as any object does.
 */
function names<T>(): Record<string, T> {
  return Object.create(null) as Record<string, T>;
}

function pairs(flat: readonly string[]): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (let i = 0; i + 1 < flat.length; i += 2) out.push([flat[i] ?? '', flat[i + 1] ?? '']);
  return out;
}

/** null when there are no entries, as API Gateway sends it. */
function multiValues(entries: ReadonlyArray<[string, string]>): MultiValues | null {
  if (entries.length === 0) return null;
  const out: MultiValues = names();
  for (const [name, value] of entries) {
    const values = out[name] ?? [];
    values.push(value);
    out[name] = values;
  }
  return out;
}

/** The single-value view keeps the last value of a repeated name, as API Gateway does. */
function singleValues(multi: MultiValues | null): Record<string, string> {
  const out = names<string>();
  for (const [name, values] of Object.entries(multi ?? {})) out[name] = values.at(-1) ?? '';
  return out;
}

/** Header names keep the client's case in the event; look them up case-insensitively. */
function last(multi: MultiValues | null, lowerName: string): string | undefined {
  for (const [name, values] of Object.entries(multi ?? {})) {
    if (name.toLowerCase() === lowerName) return values.at(-1);
  }
  return undefined;
}

/** Text bodies arrive as text; bytes that are not UTF-8 arrive base64-encoded. */
function encodeBody(body: Buffer): { text: string | null; base64: boolean } {
  if (body.length === 0) return { text: null, base64: false };
  try {
    return { text: new TextDecoder('utf-8', { fatal: true }).decode(body), base64: false };
  } catch {
    return { text: body.toString('base64'), base64: true };
  }
}

function identity(sourceIp: string, userAgent: string | undefined) {
  return {
    accessKey: null,
    accountId: null,
    apiKey: null,
    apiKeyId: null,
    caller: null,
    clientCert: null,
    cognitoAuthenticationProvider: null,
    cognitoAuthenticationType: null,
    cognitoIdentityId: null,
    cognitoIdentityPoolId: null,
    principalOrgId: null,
    sourceIp,
    user: null,
    userAgent: userAgent ?? null,
    userArn: null,
  };
}

/** A stable, API-Gateway-looking id per resource (real ones are 6 random characters). */
function resourceId(resource: string): string {
  let hash = 0;
  for (const char of resource) hash = (hash * 31 + (char.codePointAt(0) ?? 0)) >>> 0;
  return hash.toString(36).padStart(6, '0').slice(-6);
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** requestTime in API Gateway's (Common Log Format) form: 25/Nov/2025:19:48:00 +0000. */
function clfTime(date: Date): string {
  const two = (n: number) => String(n).padStart(2, '0');
  const day = two(date.getUTCDate());
  const month = MONTHS[date.getUTCMonth()];
  const time = `${two(date.getUTCHours())}:${two(date.getUTCMinutes())}:${two(date.getUTCSeconds())}`;
  return `${day}/${month}/${date.getUTCFullYear()}:${time} +0000`;
}
