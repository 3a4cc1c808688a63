/**
 * What one connection attempt connects to and authenticates with: the configured endpoint, or
 * the one ElastiCache gives for REDIS_CACHE_NAME (looked up once per environment, and again
 * after connections to it keep failing); the password in REDIS_URL, or a fresh IAM token
 * (REDIS_AUTH=iam) for every attempt.
 *
 * The AWS SDK is loaded here only when needed, by dynamic import: a pool with a REDIS_URL and a
 * password loads none of it.
 */
import type { IamTokenSource, IamTokenSourceOptions } from '../aws/iam-token.js';
import { type CacheLocation, type CacheLocator, locatorFor } from '../aws/locator.js';
import type { RedisEndpoint, RedisPoolConfig } from '../config.js';
import { ElastiCacheError } from '../errors.js';
import type { ConnectConfig } from './connection.js';

export interface TargetSeams {
  /** For the IAM token source: a clock, credentials. */
  readonly iam?: IamTokenSourceOptions;
  /** DNS servers to resolve with instead of the system's. */
  readonly dnsServers?: readonly string[];
}

export class ConnectTarget {
  readonly #config: RedisPoolConfig;
  readonly #seams: TargetSeams;
  #locator: CacheLocator | undefined;
  #tokens: Promise<IamTokenSource> | undefined;
  /**
   * The token source an attempt used, once it has one: keepFresh, on every acquire, looks at it
   * without a promise.
   */
  #signer: IamTokenSource | undefined;
  #location: CacheLocation | undefined;

  constructor(config: RedisPoolConfig, seams: TargetSeams = {}) {
    this.#config = config;
    this.#seams = seams;
  }

  /**
   * The configuration of one attempt, within `deadline` (epoch ms): where to connect and with
   * which password.
   * @throws ElastiCacheError (the promise rejects) when discovery or signing fails.
   */
  async prepare(deadline: number): Promise<ConnectConfig> {
    const config = this.#config;
    const { endpoint, cluster } = config.endpoint
      ? { endpoint: config.endpoint, cluster: config.cluster }
      : await this.#discover(deadline);
    const base = this.#attempt(endpoint, cluster);
    if (config.auth !== 'iam') return base;
    const tokens = await this.#tokenSource();
    this.#signer = tokens;
    const { token } = await tokens.token();
    return {
      ...base,
      endpoint: { ...endpoint, password: token },
      // Cluster nodes ioredis opens later, on its own, authenticate with the newest token signed
      // (keepFresh signs one before the margin): never this attempt's, which may have expired.
      password: () => (tokens.latest() ?? { token }).token.reveal(),
    };
  }

  /**
   * The configuration of every attempt when it is known without asking anyone: a configured
   * endpoint and its own password (no discovery, no IAM token); else undefined.
   */
  known(): ConnectConfig | undefined {
    const { endpoint, cluster, auth } = this.#config;
    return endpoint && auth !== 'iam' ? this.#attempt(endpoint, cluster) : undefined;
  }

  #attempt(endpoint: RedisEndpoint, cluster: boolean): ConnectConfig {
    return { ...this.#config, endpoint, cluster, dnsServers: this.#seams.dnsServers };
  }

  /** A connection opened: the discovered location (if any) is right. */
  connected(): void {
    this.#locator?.connected();
  }

  /** An attempt failed without reaching the server: the location may have moved. */
  unreachable(): void {
    this.#locator?.connectFailed();
  }

  /**
   * Keeps the cached IAM token fresh for cluster nodes ioredis opens on its own, which cannot
   * wait for a signing: called on each acquire, it signs in the background once the token has
   * less than a few minutes left.
   */
  keepFresh(): void {
    const signer = this.#signer;
    if (!signer || !this.#clusterMode() || signer.current()) return;
    signer.token().catch(() => {});
  }

  /**
   * Whether connections go in cluster mode: with discovery the cache decides (known once it
   * was found), not REDIS_CLUSTER.
   */
  #clusterMode(): boolean {
    const { endpoint, cluster } = this.#config;
    return endpoint ? cluster : (this.#location?.cluster ?? false);
  }

  /** Where Redis is, for logs and errors: the redacted URL, or the cache's name. */
  describe(): string {
    if (this.#config.endpoint) return this.#config.endpoint.redactedUrl;
    const location = this.#location;
    const name = `ElastiCache ${this.#config.serverless ? 'serverless cache' : 'replication group'} ${this.#config.cacheName}`;
    return location ? `${name} (${redactedUrl(location, this.#config.user)})` : name;
  }

  async #discover(deadline: number): Promise<{ endpoint: RedisEndpoint; cluster: boolean }> {
    const config = this.#config;
    const cacheName = config.cacheName ?? '';
    this.#locator ??= locatorFor({
      cacheName,
      serverless: config.serverless,
      region: config.region ?? '',
    });
    const location = await this.#locator.locate(deadline);
    this.#location = location;
    if (config.cluster && !location.cluster) {
      throw new ElastiCacheError(
        `REDIS_CLUSTER is true but ElastiCache cache "${cacheName}" has cluster mode disabled`,
        {
          cacheName,
          permanent: true,
          reason: 'configuration',
          check:
            'unset REDIS_CLUSTER (or cluster: true in code): discovery takes cluster mode from the cache',
        },
      );
    }
    if (config.auth === 'iam' && !location.tls) {
      throw new ElastiCacheError(
        `ElastiCache cache "${cacheName}" has in-transit encryption off, which IAM authentication needs`,
        {
          cacheName,
          permanent: true,
          reason: 'configuration',
          check:
            'enable in-transit encryption on the cache (IAM tokens never travel in clear text)',
        },
      );
    }
    return {
      endpoint: {
        host: location.host,
        port: location.port,
        tls: location.tls,
        db: 0,
        username: config.user,
        password: undefined,
        redactedUrl: redactedUrl(location, config.user),
      },
      cluster: location.cluster,
    };
  }

  #tokenSource(): Promise<IamTokenSource> {
    this.#tokens ??= this.#loadTokenSource();
    // A failed load is not kept: the next attempt tries again (and fails as fast).
    this.#tokens.catch(() => {
      this.#tokens = undefined;
    });
    return this.#tokens;
  }

  async #loadTokenSource(): Promise<IamTokenSource> {
    const config = this.#config;
    const cacheName = config.cacheName ?? '';
    const { IamTokenSource } = await import('../aws/iam-token.js');
    return new IamTokenSource(
      {
        cacheName,
        userId: config.user ?? '',
        serverless: config.serverless,
        region: config.region ?? '',
      },
      this.#seams.iam,
    );
  }
}

function redactedUrl(location: CacheLocation, user: string | undefined): string {
  const scheme = location.tls ? 'rediss' : 'redis';
  const host = location.host.includes(':') ? `[${location.host}]` : location.host;
  return `${scheme}://${user ? `${encodeURIComponent(user)}@` : ''}${host}:${location.port}`;
}
