/**
 * A stand-in for API Gateway's AWS_IAM authorization in front of the local API (there is no
 * AWS account here). It checks a request's SigV4 signature the way API Gateway does: it
 * recomputes the signature from the request it received (method, path, query, the signed
 * headers, the body's hash) with the AWS SDK's own signer and the credentials it knows, and
 * answers API Gateway's 403s when anything is off. A request that passes is forwarded, without
 * the stage, to the real local API (real Lambda simulator, real Redis).
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Sha256 } from '@aws-crypto/sha256-js';
import { SignatureV4 } from '@smithy/signature-v4';

export interface Credentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken: string;
}

export interface StandInOptions {
  /** The region the API is in: a signature scoped to another one is refused. */
  readonly region: string;
  /** The only credentials that are valid. */
  readonly credentials: Credentials;
  /** The local API that verified requests go to. */
  readonly upstream: string;
  readonly stage?: string;
  /** How far the stand-in's clock is ahead of the caller's (API Gateway allows 5 minutes). */
  readonly clockAheadMs?: number;
}

export interface StandIn {
  /** The stage's base URL: `http://127.0.0.1:<port>/<stage>`. */
  readonly url: string;
  /** What reached it: each request's method and path, and whether it passed. */
  readonly seen: Array<{ method: string; path: string; verified: boolean }>;
  close(): Promise<void>;
}

const MAX_SKEW_MS = 5 * 60_000;
const AUTHORIZATION =
  /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$/;

export async function startApiGatewayStandIn(options: StandInOptions): Promise<StandIn> {
  const stage = options.stage ?? 'prod';
  const seen: StandIn['seen'] = [];
  const server = createServer((req, res) => {
    handle(req, res, options, stage, seen).catch((error: unknown) => {
      res.writeHead(500).end(JSON.stringify({ message: String(error) }));
    });
  });
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/${stage}`,
    seen,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

async function handle(
  req: IncomingMessage,
  res: ServerResponse,
  options: StandInOptions,
  stage: string,
  seen: StandIn['seen'],
): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const body = Buffer.concat(chunks).toString('utf8');
  const url = new URL(req.url ?? '/', 'http://stand-in');
  const denial = await verify(req, url, body, options);
  seen.push({ method: req.method ?? '', path: url.pathname, verified: denial === undefined });
  if (denial !== undefined) {
    res.writeHead(403, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ message: denial }));
    return;
  }
  if (!url.pathname.startsWith(`/${stage}/`)) {
    res.writeHead(403, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ message: 'Missing Authentication Token' }));
    return;
  }
  const upstream = await fetch(
    `${options.upstream}${url.pathname.slice(stage.length + 1)}${url.search}`,
    {
      method: req.method ?? 'GET',
      headers: { 'content-type': req.headers['content-type'] ?? 'application/json' },
      body: req.method === 'GET' ? undefined : body,
    },
  );
  res.writeHead(upstream.status, { 'content-type': 'application/json' });
  res.end(await upstream.text());
}

/** API Gateway's message for a refused request, or undefined when the signature is right. */
async function verify(
  req: IncomingMessage,
  url: URL,
  body: string,
  options: StandInOptions,
): Promise<string | undefined> {
  const authorization = req.headers.authorization;
  if (authorization === undefined) return 'Missing Authentication Token';
  const match = AUTHORIZATION.exec(authorization);
  if (match === null) return 'Authorization header requires a valid SigV4 signature.';
  const [, accessKeyId, scopeDate, region = '', service = '', signedList = '', signature] = match;
  const header = (name: string) => {
    const value = req.headers[name];
    return Array.isArray(value) ? value.join(',') : (value ?? '');
  };
  const { credentials } = options;
  if (
    accessKeyId !== credentials.accessKeyId ||
    header('x-amz-security-token') !== credentials.sessionToken
  ) {
    return 'The security token included in the request is invalid.';
  }
  if (region !== options.region) return 'Credential should be scoped to a valid region. ';
  if (service !== 'execute-api') {
    return "Credential should be scoped to correct service: 'execute-api'. ";
  }
  const signedHeaders = signedList.split(';');
  if (!signedHeaders.includes('host') || !signedHeaders.includes('x-amz-date')) {
    return "'Host' and 'X-Amz-Date' must be signed.";
  }
  const amzDate = header('x-amz-date');
  const signingDate = parseAmzDate(amzDate);
  if (signingDate === undefined || !amzDate.startsWith(scopeDate ?? '')) {
    return 'Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP.';
  }
  const now = Date.now() + (options.clockAheadMs ?? 0);
  if (Math.abs(now - signingDate.getTime()) > MAX_SKEW_MS) {
    return `Signature expired: ${amzDate} is now earlier than ${formatAmzDate(new Date(now - MAX_SKEW_MS))} (${formatAmzDate(new Date(now))} - 5 min.)`;
  }
  // Only what the caller signed, with the values that arrived; the body's hash is computed here
  // from the body that arrived, never taken from the caller.
  const payloadHash = createHash('sha256').update(body).digest('hex');
  const headers = Object.fromEntries(signedHeaders.map((name) => [name, header(name)]));
  if ('x-amz-content-sha256' in headers) headers['x-amz-content-sha256'] = payloadHash;
  const signer = new SignatureV4({
    credentials,
    region,
    service,
    sha256: Sha256,
    applyChecksum: false,
  });
  const expected = await signer.sign(
    {
      method: req.method ?? 'GET',
      protocol: 'http:',
      hostname: header('host'),
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      headers,
      body,
    },
    { signingDate },
  );
  if (expected.headers.authorization?.endsWith(`Signature=${signature}`)) return undefined;
  // As API Gateway does, the message shows what it signed, signed header values included
  // (the session token among them): the CLI must not print that.
  const canonical = [
    req.method,
    url.pathname,
    url.searchParams.toString(),
    ...signedHeaders.map((name) => `${name}:${header(name)}`),
    '',
    signedList,
    payloadHash,
  ].join('\n');
  return (
    'The request signature we calculated does not match the signature you provided. Check your ' +
    'AWS Secret Access Key and signing method. Consult the service documentation for details.' +
    `\n\nThe Canonical String for this request should have been\n'${canonical}'\n`
  );
}

function parseAmzDate(value: string): Date | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value);
  if (m === null) return undefined;
  const [, y, mo, d, h, mi, s] = m.map(Number);
  return new Date(Date.UTC(y ?? 0, (mo ?? 1) - 1, d, h, mi, s));
}

function formatAmzDate(date: Date): string {
  return date
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
}
