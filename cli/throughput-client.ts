/**
 * One call of a throughput endpoint: POST the parameters as JSON, wait while the load runs,
 * and turn every way that can fail into one message for the person at the terminal.
 */
import type { ThroughputParams } from '../functions/throughput-contract.js';
import { isThroughputReport, serverMessage, type ThroughputReport } from './throughput-format.js';

/** Beyond the run itself: a cold start and the report (API Gateway cuts at 29 s anyway). */
const RESPONSE_MARGIN_MS = 30_000;
const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

export type CallOutcome =
  | { readonly ok: true; readonly report: ThroughputReport }
  | { readonly ok: false; readonly message: string };

export async function callThroughput(url: string, params: ThroughputParams): Promise<CallOutcome> {
  // The URL is printed in messages: a token or password in it must not be.
  const shown = redactUrl(url);
  const timeoutMs = params.durationMs + RESPONSE_MARGIN_MS;
  let status: number;
  let text: string;
  try {
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify(params),
      signal: AbortSignal.timeout(timeoutMs),
    });
    status = response.status;
    text = await response.text();
  } catch (error) {
    return { ok: false, message: requestFailure(error, url, shown, timeoutMs) };
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
