/**
 * Where a cache named by REDIS_CACHE_NAME is, looked up once per execution environment and
 * remembered: the ElastiCache API is slow next to a Redis round trip, rate-limited, and may be
 * out of reach of a function in isolated subnets once it has its answer. The answer is
 * forgotten only after connections to it keep failing (the cache was replaced, or moved), so
 * that the next connection attempt looks again.
 *
 * This module loads no AWS code: `discovery.ts`, which does, is imported on the first lookup.
 */
import { ElastiCacheError } from '../errors.js';
import { Waiter } from '../pool/waiter.js';

/** Where a cache is and how to talk to it. */
export interface CacheLocation {
  readonly host: string;
  readonly port: number;
  readonly tls: boolean;
  readonly cluster: boolean;
}

export interface DiscoveryRequest {
  /** The replication group id or serverless cache name. */
  readonly cacheName: string;
  readonly serverless: boolean;
  /** The region the cache is in (the function's: AWS_REGION). */
  readonly region: string;
}

/**
 * AWS credentials, as the SDK's providers give them. Declared here, not imported, so that the
 * pool's types do not need the AWS SDK's installed.
 */
export interface AwsCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
  readonly expiration?: Date;
}

export type CredentialsProvider = () => Promise<AwsCredentials>;

/** Consecutive failed connection attempts at a location after which it is looked up again. */
export const FAILURES_BEFORE_LOOKUP = 3;

/** Asks ElastiCache; a seam for tests of the locator's policy. */
export type DescribeCache = (
  request: DiscoveryRequest,
  signal: AbortSignal,
) => Promise<CacheLocation>;

/** A lookup in progress, shared by the callers that come while it lasts. */
interface Lookup {
  readonly promise: Promise<CacheLocation>;
  readonly abort: AbortController;
}

export class CacheLocator {
  readonly request: DiscoveryRequest;
  readonly #describe: DescribeCache;
  #location: CacheLocation | undefined;
  #lookup: Lookup | undefined;
  #failures = 0;
  #lookups = 0;

  constructor(request: DiscoveryRequest, describe: DescribeCache = describeLazily) {
    this.request = request;
    this.#describe = describe;
  }

  /** Lookups made so far (for tests and stats). */
  get lookups(): number {
    return this.#lookups;
  }

  /**
   * The cache's location: remembered, or looked up now. A lookup in progress is shared by every
   * caller; each one waits no longer than its own `deadline` (epoch ms), and the lookup itself
   * is given up (aborted) at the deadline of the caller that started it.
   * @throws ElastiCacheError when the lookup fails or a deadline passes first.
   */
  locate(deadline: number): Promise<CacheLocation> {
    if (this.#location) return Promise.resolve(this.#location);
    const joined = this.#lookup;
    const lookup = joined ?? this.#start();
    const waiter = new Waiter<CacheLocation>(deadline - Date.now(), () => {
      // The starter's deadline ends the lookup, and it is forgotten before the starter hears of
      // it: a caller that comes after that starts a lookup of its own instead of joining one
      // that is being aborted.
      if (!joined) this.#abandon(lookup);
      return this.#tooLate();
    });
    waiter.follow(lookup.promise);
    return waiter.promise;
  }

  /** A connection to the location opened: it is right. */
  connected(): void {
    this.#failures = 0;
  }

  /**
   * A connection attempt to the location failed. After FAILURES_BEFORE_LOOKUP in a row the
   * location is forgotten, and the next `locate` asks ElastiCache again.
   */
  connectFailed(): void {
    if (!this.#location) return;
    this.#failures++;
    if (this.#failures >= FAILURES_BEFORE_LOOKUP) {
      this.#location = undefined;
      this.#failures = 0;
    }
  }

  #start(): Lookup {
    const abort = new AbortController();
    this.#lookups++;
    const promise = this.#describe(this.request, abort.signal).then((location) => {
      this.#location = location;
      this.#failures = 0;
      return location;
    });
    const lookup = { promise, abort };
    const clear = () => {
      if (this.#lookup === lookup) this.#lookup = undefined;
    };
    promise.then(clear, clear);
    this.#lookup = lookup;
    return lookup;
  }

  #abandon(lookup: Lookup): void {
    if (this.#lookup === lookup) this.#lookup = undefined;
    lookup.abort.abort();
  }

  #tooLate(): ElastiCacheError {
    const { cacheName, region } = this.request;
    return new ElastiCacheError(
      `The ElastiCache API did not answer the lookup of cache "${cacheName}" before the deadline`,
      {
        cacheName,
        permanent: false,
        reason: 'unreachable',
        check: reachTheApi(region),
      },
    );
  }
}

/** What to check when the ElastiCache API does not answer: the function's way out to it. */
export function reachTheApi(region: string): string {
  return `the function must reach the ElastiCache API (elasticache.${region}.amazonaws.com): in subnets without internet access, add an ElastiCache interface VPC endpoint or a NAT gateway, or set REDIS_URL instead of discovering the cache`;
}

const locators = new Map<string, CacheLocator>();

/** The locator of this cache, shared by every pool of the environment. */
export function locatorFor(request: DiscoveryRequest): CacheLocator {
  const key = `${request.region}/${request.serverless ? 'serverless' : 'group'}/${request.cacheName}`;
  let locator = locators.get(key);
  if (!locator) {
    locator = new CacheLocator(request);
    locators.set(key, locator);
  }
  return locator;
}

/** Loads discovery (and with it the AWS SDK) only now, on the first lookup. */
const describeLazily: DescribeCache = async (request, signal) => {
  const { describeCache } = await import('./discovery.js');
  return describeCache(request, signal);
};
