/**
 * The typed errors the pool throws. A handler can tell an outage (`RedisUnavailableError`),
 * an exhausted budget (`AcquireTimeoutError`) and a bad deployment (`ConfigError`) apart
 * with `instanceof` or the stable `code`, without parsing messages.
 *
 * Each also carries an HTTP status the way `http-errors` does (`statusCode`, `status`,
 * `expose`), so error handlers that read them (middy's `http-error-handler`) answer an outage
 * with a 503 the client may retry. The 503 errors are `expose`d: their messages say what
 * happened without naming the endpoint or anything from the configuration (the endpoint is a
 * property of its own, for logs). A broken deployment (500) is not exposed.
 */

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
    super(message, options);
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
 * Redis cannot be reached now: the last connect attempt failed and the next one is not due
 * before the caller's deadline. `cause` holds the last connection error; `endpoint` says
 * which Redis (password redacted), for logs: the message names none.
 */
export class RedisUnavailableError extends RedisPoolError {
  /** Milliseconds until the pool will try to connect again (0 when an attempt is due). */
  readonly retryInMs: number;
  /** The Redis URL, password redacted. */
  readonly endpoint: string | undefined;

  constructor(
    message: string,
    retryInMs: number,
    options?: ErrorOptions & { readonly endpoint?: string },
  ) {
    super('ERR_REDIS_POOL_UNAVAILABLE', message, options, 503);
    this.retryInMs = retryInMs;
    this.endpoint = options?.endpoint;
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
 * handler goes on in the background; its lease was released and its metrics flushed).
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
