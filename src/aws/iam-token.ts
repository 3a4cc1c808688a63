/**
 * IAM authentication tokens for ElastiCache (Valkey 7.2+, Redis OSS 7.0+): the password an
 * IAM-enabled user sends with HELLO/AUTH instead of a stored secret.
 *
 * A token is a SigV4-presigned `GET http://{cacheName}/?Action=connect&User={userId}` (plus
 * `&ResourceType=ServerlessCache` for a serverless cache), service `elasticache`, valid for
 * 900 s, with the leading `http://` removed (AWS's "Authenticating with IAM" page).
 *
 * It is signed by the AWS SDK itself: the SigV4 signer an ElastiCache client configures for its
 * own requests (service `elasticache`, the region, the SDK's default Node credential chain: on
 * Lambda, the function's role from the environment). One package, `@aws-sdk/client-elasticache`,
 * which the Lambda runtime provides and bundlers leave out with the rest of `@aws-sdk/*`, serves
 * both this and discovery.
 *
 * The pool loads this module, and it the AWS SDK (sdk.ts), only when REDIS_AUTH=iam, so that
 * users who do not use IAM load none of it.
 */
import type { ElastiCacheClient } from '@aws-sdk/client-elasticache';
import { Secret } from '../config.js';
import { ElastiCacheError } from '../errors.js';
import type { AwsCredentials, CredentialsProvider } from './locator.js';
import { loadElastiCacheSdk, sdkErrorSummary } from './sdk.js';

/** How long a token is valid: AWS's fixed 15 minutes. */
export const TOKEN_LIFETIME_S = 900;

/**
 * A cached token is reused while it has more than this much life left, so that a connection
 * attempt (connect timeout, a slow TLS handshake) never carries a token about to expire.
 */
export const TOKEN_REFRESH_MARGIN_MS = 5 * 60_000;

export interface IamTokenRequest {
  /** The replication group id or serverless cache name: the host the token is signed for. */
  readonly cacheName: string;
  /** The ElastiCache user id (IAM-enabled users have user name = user id). */
  readonly userId: string;
  /** Serverless caches need `ResourceType=ServerlessCache`. */
  readonly serverless: boolean;
  /** The region the cache is in (the function's: AWS_REGION). */
  readonly region: string;
}

export interface IamToken {
  readonly token: Secret;
  /** Epoch ms after which ElastiCache refuses it. */
  readonly expiresAt: number;
}

/** The part of the SDK's SigV4 signer used here (the SDK types it as a signer only). */
interface Presigner {
  presign(
    request: {
      method: string;
      protocol: string;
      hostname: string;
      path: string;
      query: Record<string, string>;
      headers: Record<string, string>;
    },
    options: { expiresIn: number; signingDate: Date },
  ): Promise<{ query?: Record<string, string | string[] | null> }>;
}

/** An ElastiCache client: its configuration holds the SDK's signer and credential chain. */
async function sdkClient(
  request: IamTokenRequest,
  credentials?: CredentialsProvider,
): Promise<ElastiCacheClient> {
  const { ElastiCacheClient } = await loadElastiCacheSdk(request.cacheName);
  const { region } = request;
  return new ElastiCacheClient(credentials ? { region, credentials } : { region });
}

/**
 * Signs one token at `signingDate` with `client`'s signer. Its life ends at 900 s, or earlier
 * when the credentials that signed it expire first (a presigned request is only valid while
 * they are).
 */
async function presign(
  client: ElastiCacheClient,
  request: IamTokenRequest,
  credentials: AwsCredentials,
  signingDate: Date,
): Promise<IamToken> {
  const signer = (await client.config.signer()) as unknown as Partial<Presigner>;
  if (typeof signer.presign !== 'function') {
    throw new Error('The AWS SDK signer of @aws-sdk/client-elasticache cannot presign');
  }
  const query: Record<string, string> = { Action: 'connect', User: request.userId };
  if (request.serverless) query.ResourceType = 'ServerlessCache';
  const signed = await signer.presign(
    {
      method: 'GET',
      protocol: 'http:',
      hostname: request.cacheName,
      path: '/',
      query,
      headers: { host: request.cacheName },
    },
    { expiresIn: TOKEN_LIFETIME_S, signingDate },
  );
  const lifetimeEnd = signingDate.getTime() + TOKEN_LIFETIME_S * 1000;
  const credentialsEnd = credentials.expiration?.getTime() ?? Number.POSITIVE_INFINITY;
  return {
    token: new Secret(`${request.cacheName}/?${formatQuery(signed.query ?? {})}`),
    expiresAt: Math.min(lifetimeEnd, credentialsEnd),
  };
}

/**
 * The presigned query as ElastiCache reads it: each key and value URI-encoded (RFC 3986), in
 * canonical order, the signature last as in every presigned URL.
 */
function formatQuery(query: Readonly<Record<string, string | string[] | null>>): string {
  const keys = Object.keys(query).filter((key) => key !== SIGNATURE);
  return [...keys.sort(), SIGNATURE]
    .map((key) => `${encode(key)}=${encode(String(query[key] ?? ''))}`)
    .join('&');
}

const SIGNATURE = 'X-Amz-Signature';

function encode(text: string): string {
  return encodeURIComponent(text).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

export interface IamTokenSourceOptions {
  /** Default: the AWS SDK's default Node provider chain (memoized, refreshed before expiry). */
  readonly credentials?: CredentialsProvider;
  /** Epoch ms now; tests move it. */
  readonly now?: () => number;
  /** Default TOKEN_REFRESH_MARGIN_MS. */
  readonly refreshMarginMs?: number;
}

/**
 * Tokens for one cache and user: a token per connection attempt, the same one while it has
 * more than `refreshMarginMs` of life left. Concurrent callers share one signing. A failure is
 * not cached: the next attempt signs again.
 */
export class IamTokenSource {
  readonly #request: IamTokenRequest;
  readonly #credentialsOption: CredentialsProvider | undefined;
  #client: Promise<ElastiCacheClient> | undefined;
  readonly #now: () => number;
  readonly #marginMs: number;
  #current: IamToken | undefined;
  #signing: Promise<IamToken> | undefined;
  #signed = 0;

  constructor(request: IamTokenRequest, options: IamTokenSourceOptions = {}) {
    this.#request = request;
    this.#credentialsOption = options.credentials;
    this.#now = options.now ?? Date.now;
    this.#marginMs = options.refreshMarginMs ?? TOKEN_REFRESH_MARGIN_MS;
  }

  /** How many tokens were signed (for tests and the bench). */
  get signed(): number {
    return this.#signed;
  }

  /** A token with more than the margin left, signing a new one when needed. */
  async token(): Promise<IamToken> {
    const current = this.current();
    if (current) return current;
    this.#signing ??= this.#sign().finally(() => {
      this.#signing = undefined;
    });
    return this.#signing;
  }

  /**
   * The cached token if it still has more than the margin left, without waiting: for
   * connections that ioredis opens on its own (cluster nodes) and need a password right now.
   */
  current(): IamToken | undefined {
    const current = this.#current;
    return current && current.expiresAt - this.#now() > this.#marginMs ? current : undefined;
  }

  /**
   * The newest token signed, whatever its life left: for cluster nodes that reconnect on their
   * own, it is the best there is (keepFresh replaces it before the margin).
   */
  latest(): IamToken | undefined {
    return this.#current;
  }

  async #sign(): Promise<IamToken> {
    this.#client ??= sdkClient(this.#request, this.#credentialsOption);
    // A failed load is not kept: the next attempt tries again.
    this.#client.catch(() => {
      this.#client = undefined;
    });
    const client = await this.#client;
    let credentials: AwsCredentials;
    try {
      credentials = await client.config.credentials();
    } catch (error) {
      throw new ElastiCacheError(
        `No AWS credentials to sign an IAM authentication token for ElastiCache cache "${this.#request.cacheName}"`,
        {
          cacheName: this.#request.cacheName,
          permanent: true,
          reason: 'credentials',
          check:
            "the function's execution role (on Lambda the runtime provides its credentials in AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN)",
          cause: sdkErrorSummary(error),
        },
      );
    }
    const token = await presign(client, this.#request, credentials, new Date(this.#now()));
    this.#signed++;
    this.#current = token;
    return token;
  }
}
