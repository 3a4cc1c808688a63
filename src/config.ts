/**
 * Configuration: environment variables (and options given in code) → one typed, validated
 * config. Every problem is collected and reported in a single ConfigError at init, so a bad
 * deployment fails once, loudly, naming each variable, instead of one variable per cold start.
 * Secrets never leave this module in clear text except through `Secret.reveal()`.
 */
import { accessSync, constants } from 'node:fs';
import { inspect } from 'node:util';
import { ConfigError, type ConfigIssue } from './errors.js';

/** A value that prints as `***` everywhere (logs, JSON, util.inspect) unless revealed. */
export class Secret {
  readonly #value: string;
  constructor(value: string) {
    this.#value = value;
  }
  reveal(): string {
    return this.#value;
  }
  toString(): string {
    return '***';
  }
  toJSON(): string {
    return '***';
  }
  [inspect.custom](): string {
    return '***';
  }
}

/** Where Redis is, parsed from REDIS_URL. */
export interface RedisEndpoint {
  readonly host: string;
  readonly port: number;
  readonly tls: boolean;
  readonly db: number;
  readonly username: string | undefined;
  readonly password: Secret | undefined;
  /** The URL with any password replaced by `***`: safe for logs and errors. */
  readonly redactedUrl: string;
}

/** Everything that can be configured in code; each field has an environment variable. */
export interface RedisPoolOptions {
  /** REDIS_URL: `redis://` or `rediss://`, optional `user:password@`, optional `/db`. */
  url?: string;
  /** REDIS_CLUSTER: use an ioredis Cluster (cluster mode enabled). */
  cluster?: boolean;
  /** REDIS_POOL_MAX: connections per execution environment, a hard budget. */
  poolMax?: number;
  /** REDIS_CONNECT_TIMEOUT_MS: one connection attempt, TCP + TLS + handshake. */
  connectTimeoutMs?: number;
  /** REDIS_COMMAND_TIMEOUT_MS: a command without a reply for this long fails. */
  commandTimeoutMs?: number;
  /** REDIS_ACQUIRE_TIMEOUT_MS: the longest an acquire waits, including connecting. */
  acquireTimeoutMs?: number;
  /** REDIS_RETRY_BASE_MS: first reconnect backoff step. */
  retryBaseMs?: number;
  /** REDIS_RETRY_MAX_MS: reconnect backoff cap. */
  retryMaxMs?: number;
  /** REDIS_IDLE_CHECK_MS: a connection idle this long is PINGed before it is handed out. */
  idleCheckMs?: number;
  /** REDIS_TLS_CA_FILE: extra CA bundle (PEM) trusted for rediss://. */
  tlsCaFile?: string;
  /** REDIS_CONNECT_ON_INIT: open the first connection during the init phase. */
  connectOnInit?: boolean;
  /** REDIS_METRICS_NAMESPACE: CloudWatch namespace of the pool's metrics. */
  metricsNamespace?: string;
  /** REDIS_METRICS: emit metrics at all. */
  metrics?: boolean;
  /** REDIS_CLIENT_NAME: prefix of CLIENT SETNAME (defaults to the function name). */
  clientName?: string;
}

/** The resolved configuration: every value present and valid. */
export interface RedisPoolConfig {
  readonly endpoint: RedisEndpoint;
  readonly cluster: boolean;
  readonly poolMax: number;
  readonly connectTimeoutMs: number;
  readonly commandTimeoutMs: number;
  readonly acquireTimeoutMs: number;
  readonly retryBaseMs: number;
  readonly retryMaxMs: number;
  readonly idleCheckMs: number;
  readonly tlsCaFile: string | undefined;
  readonly connectOnInit: boolean;
  readonly metricsNamespace: string;
  readonly metrics: boolean;
  readonly clientName: string;
}

type Env = Readonly<Record<string, string | undefined>>;

/** Environment variable of each option: the contract documented in README.md. */
export const ENV_VARS = {
  url: 'REDIS_URL',
  cluster: 'REDIS_CLUSTER',
  poolMax: 'REDIS_POOL_MAX',
  connectTimeoutMs: 'REDIS_CONNECT_TIMEOUT_MS',
  commandTimeoutMs: 'REDIS_COMMAND_TIMEOUT_MS',
  acquireTimeoutMs: 'REDIS_ACQUIRE_TIMEOUT_MS',
  retryBaseMs: 'REDIS_RETRY_BASE_MS',
  retryMaxMs: 'REDIS_RETRY_MAX_MS',
  idleCheckMs: 'REDIS_IDLE_CHECK_MS',
  tlsCaFile: 'REDIS_TLS_CA_FILE',
  connectOnInit: 'REDIS_CONNECT_ON_INIT',
  metricsNamespace: 'REDIS_METRICS_NAMESPACE',
  metrics: 'REDIS_METRICS',
  clientName: 'REDIS_CLIENT_NAME',
} as const satisfies Record<keyof RedisPoolOptions, string>;

/**
 * Defaults, chosen for Lambda: a Redis round trip inside a VPC is well under a millisecond,
 * so a second of silence means a dead peer, and every wait stays small next to a typical
 * 3–30 s function timeout.
 */
export const DEFAULTS = {
  url: 'redis://127.0.0.1:6379',
  cluster: false,
  // One shared connection for plain commands plus one for an exclusive lease
  // (MULTI/WATCH, blocking, pub/sub) at a time.
  poolMax: 2,
  connectTimeoutMs: 2_000,
  commandTimeoutMs: 1_000,
  acquireTimeoutMs: 3_000,
  retryBaseMs: 50,
  retryMaxMs: 30_000,
  // Lambda freezes an environment right after each invocation; after five idle seconds
  // the peer may have dropped us unnoticed, and one PING costs a fraction of a millisecond.
  idleCheckMs: 5_000,
  connectOnInit: false,
  metricsNamespace: 'LambdaRedisPool',
  metrics: true,
} as const;

const MAX_TIMEOUT_MS = 900_000; // Lambda's 15-minute limit: no wait can usefully be longer.

/**
 * Reads and validates the configuration. Options given in code win over the environment.
 * @throws ConfigError listing every bad variable.
 */
export function loadConfig(
  env: Env = process.env,
  options: RedisPoolOptions = {},
): RedisPoolConfig {
  const issues: ConfigIssue[] = [];
  const read = new Reader(env, options, issues);

  const cluster = read.boolean('cluster', DEFAULTS.cluster);
  const endpoint = read.endpoint();
  const poolMax = read.integer('poolMax', DEFAULTS.poolMax, 1, 1_000);
  const connectTimeoutMs = read.integer(
    'connectTimeoutMs',
    DEFAULTS.connectTimeoutMs,
    1,
    MAX_TIMEOUT_MS,
  );
  const commandTimeoutMs = read.integer(
    'commandTimeoutMs',
    DEFAULTS.commandTimeoutMs,
    1,
    MAX_TIMEOUT_MS,
  );
  const acquireTimeoutMs = read.integer(
    'acquireTimeoutMs',
    DEFAULTS.acquireTimeoutMs,
    1,
    MAX_TIMEOUT_MS,
  );
  const retryBaseMs = read.integer('retryBaseMs', DEFAULTS.retryBaseMs, 1, 60_000);
  const retryMaxMs = read.integer('retryMaxMs', DEFAULTS.retryMaxMs, 1, MAX_TIMEOUT_MS);
  const idleCheckMs = read.integer('idleCheckMs', DEFAULTS.idleCheckMs, 0, 86_400_000);
  const tlsCaFile = read.caFile(endpoint);
  const connectOnInit = read.boolean('connectOnInit', DEFAULTS.connectOnInit);
  const metricsNamespace = read.namespace();
  const metrics = read.boolean('metrics', DEFAULTS.metrics);
  const clientName = read.clientName(env.AWS_LAMBDA_FUNCTION_NAME);

  if (retryMaxMs < retryBaseMs) {
    read.fail(
      'retryMaxMs',
      `a cap at least ${read.name('retryBaseMs')} (${retryBaseMs})`,
      String(retryMaxMs),
    );
  }
  if (cluster && endpoint && endpoint.db !== 0) {
    read.fail(
      'url',
      `database 0 when ${read.name('cluster')} is true (Redis Cluster has only db 0)`,
      `/${endpoint.db}`,
    );
  }
  if (issues.length > 0 || !endpoint) throw new ConfigError(issues);

  return {
    endpoint,
    cluster,
    poolMax,
    connectTimeoutMs,
    commandTimeoutMs,
    acquireTimeoutMs,
    retryBaseMs,
    retryMaxMs,
    idleCheckMs,
    tlsCaFile,
    connectOnInit,
    metricsNamespace,
    metrics,
    clientName,
  };
}

/** Reads one option at a time from code options or the environment, recording issues. */
class Reader {
  constructor(
    private readonly env: Env,
    private readonly options: RedisPoolOptions,
    private readonly issues: ConfigIssue[],
  ) {}

  /** How the offending value is named in errors: the variable, or the code option. */
  name(key: keyof RedisPoolOptions): string {
    return this.options[key] !== undefined ? `options.${key}` : ENV_VARS[key];
  }

  fail(key: keyof RedisPoolOptions, expected: string, received: string): void {
    this.issues.push({ variable: this.name(key), expected, received });
  }

  /** The raw value: a code option as given, or a non-empty environment string. */
  private raw(key: keyof RedisPoolOptions): unknown {
    if (this.options[key] !== undefined) return this.options[key];
    const value = this.env[ENV_VARS[key]];
    return value === undefined || value.trim() === '' ? undefined : value.trim();
  }

  integer(key: keyof RedisPoolOptions, fallback: number, min: number, max: number): number {
    const value = this.raw(key);
    if (value === undefined) return fallback;
    const n =
      typeof value === 'number'
        ? value
        : /^-?\d+$/.test(String(value))
          ? Number(value)
          : Number.NaN;
    if (!Number.isInteger(n) || n < min || n > max) {
      this.fail(key, `an integer from ${min} to ${max}`, show(value));
      return fallback;
    }
    return n;
  }

  boolean(key: keyof RedisPoolOptions, fallback: boolean): boolean {
    const value = this.raw(key);
    if (value === undefined) return fallback;
    if (typeof value === 'boolean') return value;
    const text = String(value).toLowerCase();
    if (['true', '1', 'yes'].includes(text)) return true;
    if (['false', '0', 'no'].includes(text)) return false;
    this.fail(key, 'true or false', show(value));
    return fallback;
  }

  endpoint(): RedisEndpoint | undefined {
    const value = this.raw('url') ?? DEFAULTS.url;
    if (typeof value !== 'string') {
      this.fail('url', 'a redis:// or rediss:// URL', typeof value);
      return undefined;
    }
    const result = parseRedisUrl(value);
    if (typeof result === 'string') {
      this.fail(
        'url',
        'a redis:// or rediss:// URL like redis://[user:password@]host[:port][/db]',
        result,
      );
      return undefined;
    }
    return result;
  }

  caFile(endpoint: RedisEndpoint | undefined): string | undefined {
    const value = this.raw('tlsCaFile');
    if (value === undefined) return undefined;
    const path = String(value);
    if (endpoint && !endpoint.tls) {
      this.fail(
        'tlsCaFile',
        `to be set only with a rediss:// ${this.name('url')}`,
        `a CA file with ${endpoint.redactedUrl}`,
      );
    }
    try {
      accessSync(path, constants.R_OK);
    } catch {
      this.fail('tlsCaFile', 'a readable PEM file', `${show(path)} (not found or not readable)`);
    }
    return path;
  }

  namespace(): string {
    const value = this.raw('metricsNamespace');
    if (value === undefined) return DEFAULTS.metricsNamespace;
    const text = String(value);
    // CloudWatch's rules for namespaces; AWS/ is reserved for AWS services.
    if (!/^[A-Za-z0-9 .\-_/#:]{1,255}$/.test(text) || text.startsWith('AWS/')) {
      this.fail(
        'metricsNamespace',
        '1-255 of A-Z a-z 0-9 . - _ / # : or space, not starting with AWS/',
        show(value),
      );
      return DEFAULTS.metricsNamespace;
    }
    return text;
  }

  clientName(functionName: string | undefined): string {
    const value = this.raw('clientName') ?? functionName ?? 'lambda-redis-pool';
    // CLIENT SETNAME rejects spaces and newlines; keep names greppable in CLIENT LIST.
    const name = String(value)
      .replace(/[^A-Za-z0-9._:\-$[\]]/g, '_')
      .slice(0, 64);
    return name || 'lambda-redis-pool';
  }
}

/**
 * Parses a redis:// or rediss:// URL. Returns an error description (never containing the
 * password) when it is not one.
 */
export function parseRedisUrl(raw: string): RedisEndpoint | string {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(raw)?.[1]?.toLowerCase();
  if (scheme === undefined) return `a value without a scheme (${raw.length} characters)`;
  if (scheme !== 'redis' && scheme !== 'rediss') return `a ${scheme}:// URL`;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return `an unparsable URL (${redactUrl(raw)})`;
  }
  const redacted = redactUrl(raw);
  if (!url.hostname) return `a URL without a host (${redacted})`;
  const port = url.port === '' ? 6379 : Number(url.port);
  const dbText = url.pathname.replace(/^\//, '');
  if (dbText !== '' && !/^\d{1,5}$/.test(dbText))
    return `a URL whose path is not a database number (${redacted})`;
  const db = dbText === '' ? 0 : Number(dbText);
  return {
    host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port,
    tls: scheme === 'rediss',
    db,
    username: url.username ? decodeURIComponent(url.username) : undefined,
    password: url.password ? new Secret(decodeURIComponent(url.password)) : undefined,
    redactedUrl: redacted,
  };
}

/** Replaces the password of a URL (in userinfo or a password= query parameter) with `***`. */
export function redactUrl(raw: string): string {
  return (
    raw
      // Greedy up to the last '@': an unencoded '@' inside a password must not expose its tail.
      .replace(/^([a-z][a-z0-9+.-]*:\/\/)(.*)@/is, (_, scheme: string, userinfo: string) => {
        const colon = userinfo.indexOf(':');
        // A lone userinfo may be a password written without its colon: hide it too.
        return colon === -1 ? `${scheme}***@` : `${scheme}${userinfo.slice(0, colon)}:***@`;
      })
      .replace(/([?&](?:password|pass|pwd|token)=)[^&#]*/gi, '$1***')
  );
}

/** A non-secret value, quoted and shortened for an error message. */
function show(value: unknown): string {
  const text = typeof value === 'string' ? JSON.stringify(value) : String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
