/**
 * The typed errors the pool throws. A handler can tell an outage (`RedisUnavailableError`),
 * a connection lost under a command (`ConnectionLostError`), an exhausted budget
 * (`AcquireTimeoutError`) and a bad deployment (`ConfigError`) apart with `instanceof` or the
 * stable `code`, without parsing messages.
 *
 * Each also carries an HTTP status the way `http-errors` does (`statusCode`, `status`,
 * `expose`), so error handlers that read them (middy's `http-error-handler`) answer an outage
 * with a 503 the client may retry. The 503 errors are `expose`d: their messages say what
 * happened without naming the endpoint or anything from the configuration (the endpoint is a
 * property of its own, for logs). A broken deployment (500) is not exposed.
 */
import { redactSecrets } from './redact.js';

/** Base class of every error this library throws. */
export class RedisPoolError extends Error {
  readonly code: string;
  /** HTTP status for this error, as http-errors sets it. */
  readonly statusCode: number;
  /** The same, under http-errors' other name. */
  readonly status: number;
  /** The message may be shown to a client (http-errors' `expose`): true of the 503s only. */
  readonly expose: boolean;

  constructor(code: string, message: string, options?: ErrorOptions, statusCode = 500) {
    // A cause (ioredis's refusal of HELLO … AUTH, say) may hold a password: see redact.ts.
    super(message, options && 'cause' in options ? { cause: redactSecrets(options.cause) } : {});
    this.name = new.target.name;
    this.code = code;
    this.statusCode = statusCode;
    this.status = statusCode;
    this.expose = statusCode === 503;
  }
}

/** One bad configuration variable: its name, what it expects, what it got (redacted). */
export interface ConfigIssue {
  readonly variable: string;
  readonly expected: string;
  readonly received: string;
}

/** Thrown at init when the configuration is wrong; lists every bad variable at once. */
export class ConfigError extends RedisPoolError {
  readonly issues: readonly ConfigIssue[];

  constructor(issues: readonly ConfigIssue[]) {
    const lines = issues.map((i) => `  - ${i.variable}: expected ${i.expected}, got ${i.received}`);
    super(
      'ERR_REDIS_POOL_CONFIG',
      `Invalid lambda-redis-pool configuration (${issues.length} problem${issues.length === 1 ? '' : 's'}):\n${lines.join('\n')}`,
    );
    this.issues = issues;
  }
}

/**
 * No lease could be handed out before the acquire timeout or the invocation deadline:
 * the budget was in use, or connecting/validating took too long.
 */
export class AcquireTimeoutError extends RedisPoolError {
  readonly waitedMs: number;

  constructor(message: string, waitedMs: number, options?: ErrorOptions) {
    super('ERR_REDIS_POOL_ACQUIRE_TIMEOUT', message, options, 503);
    this.waitedMs = waitedMs;
  }
}

/**
 * Why the last connection attempt failed, in one word a handler or an alarm can switch on.
 * Transient (retried under the backoff):
 * - `unreachable`: no connection (refused, reset, timed out, DNS, closed during the handshake);
 * - `loading`: the server is loading its dataset into memory (a restart, a new replica);
 * - `server`: the server answered that it cannot serve now (max clients, BUSY, MASTERDOWN).
 *
 * Permanent (retrying does not help until someone changes something):
 * - `credentials`: wrong user name or password, a disabled user, a password required;
 * - `permission`: the user may not run a command the connection needs (NOPERM);
 * - `tls`: the server's certificate was rejected (untrusted, another host name, expired);
 * - `configuration`: the configuration names something the server does not have (a db out of
 *   range, port 0, TLS to a plaintext port, a cluster node without cluster mode).
 */
export type RedisUnavailableReason =
  | 'unreachable'
  | 'loading'
  | 'server'
  | 'credentials'
  | 'permission'
  | 'tls'
  | 'configuration';

/**
 * Redis cannot be used now: the last connect attempt failed and the next one is not due before
 * the caller's deadline. `cause` holds the last connection error; `endpoint` says which Redis
 * (password redacted), for logs: the message names none.
 *
 * `permanent` says whether waiting can help. An outage (`permanent: false`) is a 503 with a
 * message fit for clients. A failure that only a change of configuration, credentials,
 * permissions or certificates can heal (`permanent: true`) is a broken deployment, as a
 * ConfigError is: 500, not exposed, and its message says what to check. The pool still tries
 * again under its backoff (credentials may be rotated back), once per acquire at most.
 */
export class RedisUnavailableError extends RedisPoolError {
  /** Milliseconds until the pool will try to connect again (0 when an attempt is due). */
  readonly retryInMs: number;
  /** The Redis URL, password redacted. */
  readonly endpoint: string | undefined;
  /** True when retrying cannot help until something is changed (see `reason`). */
  readonly permanent: boolean;
  /** Why the last attempt failed. */
  readonly reason: RedisUnavailableReason;

  constructor(
    message: string,
    retryInMs: number,
    options?: ErrorOptions & {
      readonly endpoint?: string;
      readonly permanent?: boolean;
      readonly reason?: RedisUnavailableReason;
    },
  ) {
    const permanent = options?.permanent ?? false;
    super('ERR_REDIS_POOL_UNAVAILABLE', message, options, permanent ? 500 : 503);
    this.retryInMs = retryInMs;
    this.endpoint = options?.endpoint;
    this.permanent = permanent;
    this.reason = options?.reason ?? 'unreachable';
  }
}

/**
 * A command failed because its connection was lost: closed by the server or the network, reset,
 * or silent for `REDIS_COMMAND_TIMEOUT_MS` while commands were pending. The pool drops the
 * connection; the next lease gets a new one.
 *
 * `inFlight` says whether the command had been written: then its outcome is unknown, since the
 * server may have applied it before the connection was lost. Retry only what is idempotent.
 * `command` is the command's name only, never its arguments; `cause` is the underlying error
 * (a socket error, the silence, or ioredis's own), without the command's arguments either.
 */
export class ConnectionLostError extends RedisPoolError {
  /** True when the command had been written: the server may or may not have run it. */
  readonly inFlight: boolean;
  /** The command's name, lower case (`incr`), without arguments. */
  readonly command: string;

  constructor(command: string, inFlight: boolean, options?: ErrorOptions) {
    const name = command.toUpperCase();
    super(
      'ERR_REDIS_POOL_CONNECTION_LOST',
      inFlight
        ? `The connection to Redis was lost while ${name} was in flight: its outcome is unknown`
        : `The connection to Redis was lost: ${name} was not sent`,
      options,
      503,
    );
    this.inFlight = inFlight;
    this.command = command;
  }
}

/** The pool was closed; it hands out no more leases. */
export class PoolClosedError extends RedisPoolError {
  constructor() {
    super('ERR_REDIS_POOL_CLOSED', 'The Redis pool is closed');
  }
}

/**
 * withRedisPool answered for a handler still running shortly before Lambda's deadline (the
 * handler goes on in the background; its lease was released and its metrics written).
 */
export class DeadlineError extends RedisPoolError {
  constructor(marginMs: number) {
    super(
      'ERR_REDIS_POOL_DEADLINE',
      `The handler was still running ${marginMs} ms before the Lambda deadline`,
      undefined,
      503,
    );
  }
}

/**
 * ElastiCache could not tell where a cache is, or a token to authenticate with it could not be
 * made: a cache that does not exist or is not `available`, a permission the function's role
 * lacks, the ElastiCache API out of reach, no AWS credentials. It names the cache and, for a
 * refusal, the IAM action to grant. The pool reports it as the `cause` of a
 * RedisUnavailableError whose `reason` and `permanent` it sets.
 */
export class ElastiCacheError extends RedisPoolError {
  /** The replication group id or serverless cache name. */
  readonly cacheName: string;
  /** The IAM action the function's role needs, when ElastiCache refused one. */
  readonly permission: string | undefined;
  /** True when retrying cannot help until something is changed. */
  readonly permanent: boolean;
  readonly reason: RedisUnavailableReason;
  /** What to check or change, in words. */
  readonly check: string;

  constructor(
    message: string,
    options: ErrorOptions & {
      readonly cacheName: string;
      readonly permission?: string;
      readonly permanent: boolean;
      readonly reason: RedisUnavailableReason;
      readonly check: string;
    },
  ) {
    super('ERR_REDIS_POOL_ELASTICACHE', message, options, options.permanent ? 500 : 503);
    this.cacheName = options.cacheName;
    this.permission = options.permission;
    this.permanent = options.permanent;
    this.reason = options.reason;
    this.check = options.check;
  }
}
