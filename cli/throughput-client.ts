/**
 * One call of a throughput endpoint: send the parameters (a JSON body on POST, the query string
 * on GET), signed with SigV4 when the route is API Gateway's AWS_IAM one, wait while the load
 * runs, and turn every way that can fail into one message for the person at the terminal.
 */
import type { ThroughputParams } from '../functions/throughput-contract.js';
import { deniedMessage, type Signing } from './api-gateway.js';
import type { RequestToSign, SignedRequest } from './aws-signing.js';
import type { Method } from './throughput-args.js';
import { isThroughputReport, serverMessage, type ThroughputReport } from './throughput-format.js';

/** Beyond the run itself: a cold start and the report (API Gateway cuts at 29 s anyway). */
const RESPONSE_MARGIN_MS = 30_000;
const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

export interface ThroughputCall {
  readonly url: string;
  readonly method: Method;
  readonly params: ThroughputParams;
  /** Sign with SigV4 for this region; absent, the call is sent as it is. */
  readonly signing?: Signing | undefined;
}

export type CallOutcome =
  | { readonly ok: true; readonly report: ThroughputReport }
  | { readonly ok: false; readonly message: string };

type Redact = (text: string) => string;

export async function callThroughput(call: ThroughputCall): Promise<CallOutcome> {
  const request = toRequest(call);
  if (call.signing === undefined) return send(call, request, (text) => text);
  // Only a signed call loads the AWS SDK.
  const aws = await import('./aws-signing.js');
  let signed: SignedRequest;
  try {
    signed = await aws.signRequest(request, call.signing.region);
  } catch (error) {
    if (error instanceof aws.CredentialsError) return { ok: false, message: error.message };
    throw error;
  }
  return send(call, { ...request, headers: signed.headers }, signed.redact);
}

function toRequest({ url, method, params }: ThroughputCall): RequestToSign {
  const headers = { accept: 'application/json' };
  if (method === 'POST') {
    const body = JSON.stringify(params);
    return {
      method,
      url: new URL(url),
      headers: { ...headers, 'content-type': 'application/json' },
      body,
    };
  }
  const withQuery = new URL(url);
  for (const [key, value] of Object.entries(params)) withQuery.searchParams.set(key, String(value));
  return { method, url: withQuery, headers };
}

/** `redact` takes the credentials out of anything the server echoes before it is shown. */
async function send(
  call: ThroughputCall,
  request: RequestToSign,
  redact: Redact,
): Promise<CallOutcome> {
  // The URL is printed in messages: a token or password in it must not be.
  const shown = redactUrl(call.url);
  const timeoutMs = call.params.durationMs + RESPONSE_MARGIN_MS;
  let status: number;
  let text: string;
  try {
    const response = await fetch(request.url, {
      method: request.method,
      headers: request.headers,
      body: request.body,
      signal: AbortSignal.timeout(timeoutMs),
    });
    status = response.status;
    text = redact(await response.text());
  } catch (error) {
    return { ok: false, message: redact(requestFailure(error, call.url, shown, timeoutMs)) };
  }
  if (status === 403) {
    const message = deniedMessage(
      shown,
      serverMessage(text),
      new URL(call.url),
      call.method,
      call.signing?.region,
    );
    return { ok: false, message };
  }
  if (status < 200 || status > 299) {
    return { ok: false, message: `${shown} answered ${status}: ${serverMessage(text)}` };
  }
  const body = parseJson(text);
  if (!isThroughputReport(body)) {
    return {
      ok: false,
      message: `${shown} answered ${status}, but not with a throughput report: ${serverMessage(text)}`,
    };
  }
  return { ok: true, report: body };
}

function requestFailure(error: unknown, url: string, shown: string, timeoutMs: number): string {
  if (error instanceof Error && error.name === 'TimeoutError') {
    return `${shown} did not answer within ${timeoutMs / 1000} s`;
  }
  // fetch() says only "fetch failed"; the socket's reason (ECONNREFUSED, ENOTFOUND, …) is the cause.
  const cause = (error as { cause?: { code?: unknown; message?: unknown } }).cause;
  const reason = [cause?.code, cause?.message, (error as Error).message].find(
    (value): value is string => typeof value === 'string',
  );
  const hint = LOOPBACK.has(new URL(url).hostname)
    ? 'Is `npm start` running?'
    : 'Check --url and your network.';
  return `Cannot reach ${shown} (${reason ?? 'unknown error'}). ${hint}`;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** The URL as it may be printed: without a password or a secret-looking query value. */
export function redactUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return '<an unparsable URL>';
  }
  if (url.password) url.password = '***';
  for (const key of [...url.searchParams.keys()]) {
    if (/pass|pwd|token|secret|signature|credential/i.test(key)) url.searchParams.set(key, '***');
  }
  return url.toString();
}
