/**
 * An independent reading of SigV4 query-string presigning, for checking IAM authentication
 * tokens: written from AWS's "Create a signed AWS API request" page (canonical request, string
 * to sign, signing key) and the ElastiCache "Authenticating with IAM" page (what is signed),
 * with node:crypto alone. It shares nothing with the code under test or the AWS SDK.
 */
import { createHash, createHmac } from 'node:crypto';

export interface TokenInputs {
  readonly cacheName: string;
  readonly userId: string;
  readonly serverless: boolean;
  readonly region: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
  /** Epoch ms of signing. */
  readonly now: number;
}

/**
 * The token of expectedIamToken, signed with the credentials of an environment as Lambda sets
 * them for a function's role: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and, when set,
 * AWS_SESSION_TOKEN.
 */
export function expectedIamTokenFor(
  env: Readonly<Record<string, string | undefined>>,
  inputs: Omit<TokenInputs, 'accessKeyId' | 'secretAccessKey' | 'sessionToken'>,
): string {
  const sessionToken = env.AWS_SESSION_TOKEN;
  return expectedIamToken({
    ...inputs,
    accessKeyId: env.AWS_ACCESS_KEY_ID ?? '',
    secretAccessKey: env.AWS_SECRET_ACCESS_KEY ?? '',
    ...(sessionToken ? { sessionToken } : {}),
  }).token;
}

/** RFC 3986 percent-encoding: everything but A-Z a-z 0-9 - _ . ~ */
export function uriEncode(text: string): string {
  return [...Buffer.from(text, 'utf8')]
    .map((byte) => {
      const c = String.fromCharCode(byte);
      return /[A-Za-z0-9\-_.~]/.test(c)
        ? c
        : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
    })
    .join('');
}

const sha256Hex = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');
const hmac = (key: Buffer | string, text: string) =>
  createHmac('sha256', key).update(text, 'utf8').digest();

/**
 * What AWS's rules give for these inputs: the signed parameters (without X-Amz-Signature),
 * the signature, and the whole token (`cacheName/?query`, parameters in canonical order).
 */
export function expectedIamToken(inputs: TokenInputs) {
  const amzDate = new Date(inputs.now)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
  const date = amzDate.slice(0, 8);
  const scope = `${date}/${inputs.region}/elasticache/aws4_request`;
  const params: Record<string, string> = {
    Action: 'connect',
    User: inputs.userId,
    'X-Amz-Algorithm': 'AWS4-HMAC-SHA256',
    'X-Amz-Credential': `${inputs.accessKeyId}/${scope}`,
    'X-Amz-Date': amzDate,
    'X-Amz-Expires': '900',
    'X-Amz-SignedHeaders': 'host',
  };
  if (inputs.serverless) params.ResourceType = 'ServerlessCache';
  if (inputs.sessionToken) params['X-Amz-Security-Token'] = inputs.sessionToken;
  const canonicalQuery = Object.keys(params)
    .map((key) => [uriEncode(key), uriEncode(params[key] ?? '')] as const)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([key, value]) => `${key}=${value}`)
    .join('&');
  const canonicalRequest = [
    'GET',
    '/',
    canonicalQuery,
    `host:${inputs.cacheName}\n`,
    'host',
    sha256Hex(''), // a GET without a body
  ].join('\n');
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256Hex(canonicalRequest)].join('\n');
  const kDate = hmac(`AWS4${inputs.secretAccessKey}`, date);
  const kRegion = hmac(kDate, inputs.region);
  const kService = hmac(kRegion, 'elasticache');
  const kSigning = hmac(kService, 'aws4_request');
  const signature = createHmac('sha256', kSigning).update(stringToSign, 'utf8').digest('hex');
  const token = `${inputs.cacheName}/?${canonicalQuery}&X-Amz-Signature=${signature}`;
  return { params, signature, token };
}
