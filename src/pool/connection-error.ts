/**
 * Telling a dead connection from a failed command, and a failed connection attempt that waiting
 * can heal from one that it cannot. A lease released with a connection-level
 * error is destroyed (the next lease gets a fresh connection); a command error such as
 * WRONGTYPE says nothing about the connection, which stays in the pool.
 */
import {
  ConnectionLostError,
  ElastiCacheError,
  RedisUnavailableError,
  type RedisUnavailableReason,
} from '../errors.js';

/** Socket errors that mean the peer is gone or unreachable. */
const SOCKET_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ERR_SOCKET_CLOSED',
  'ERR_STREAM_DESTROYED',
]);

/**
 * Messages of ioredis's own errors that mean the connection, not the command, failed. A pooled
 * standalone connection reports these as ConnectionLostError; a Cluster client, and code that
 * catches them elsewhere, still sees them.
 */
const CLIENT_MESSAGES = [
  'Connection is closed',
  "Stream isn't writeable",
  'Command aborted due to connection close',
  "Cluster isn't ready",
  'Reached the max retries per request limit',
];

/**
 * Replies that mean this connection talks to the wrong or an unusable node: READONLY after a
 * failover (the endpoint now resolves to the new primary; only a new connection finds it),
 * a node still LOADING its dataset, or a replica whose primary is down.
 */
const REPLY_PREFIXES = ['READONLY', 'LOADING', 'MASTERDOWN'];

export function isConnectionError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  if (error instanceof RedisUnavailableError || error instanceof ConnectionLostError) return true;
  const code = (error as NodeJS.ErrnoException).code;
  if (code !== undefined && SOCKET_CODES.has(code)) return true;
  if (error.name === 'ReplyError') return REPLY_PREFIXES.some((p) => error.message.startsWith(p));
  if (error.name === 'MaxRetriesPerRequestError') return true;
  return CLIENT_MESSAGES.some((m) => error.message.startsWith(m));
}

/** Whether a Redis reply error should make ioredis drop the connection right away. */
export function isFailoverReply(error: Error): boolean {
  return REPLY_PREFIXES.some((p) => error.message.startsWith(p));
}

/**
 * What a failed connection attempt means: whether waiting can heal it, in a word
 * (`RedisUnavailableError.reason`), what happened and, when it is permanent, what to check.
 * Every text here is fit for a log line and an error message: a code, a server's reply (no
 * secrets, no addresses) or our own words; never a Node socket or TLS message, which names
 * addresses and certificate names.
 */
export interface ConnectFailure {
  readonly permanent: boolean;
  readonly reason: RedisUnavailableReason;
  /** What happened: an error code or the server's reply, e.g. `WRONGPASS invalid …`. */
  readonly what: string;
  /** For a permanent failure: what to check or change. */
  readonly check?: string;
}

/** Certificate verification failures (OpenSSL's X509_V_ERR_* as Node reports them). */
const UNTRUSTED_CERTIFICATE = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
  'CERT_REJECTED',
  'INVALID_CA',
  'CERT_REVOKED',
]);
const EXPIRED_CERTIFICATE = new Set(['CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID']);
const WRONG_HOST_CERTIFICATE = new Set(['ERR_TLS_CERT_ALTNAME_INVALID', 'HOSTNAME_MISMATCH']);

const CHECK_CREDENTIALS =
  'check the user name and password in REDIS_URL (or the secret they come from), and that the user exists and is on';
const CHECK_PERMISSION =
  "grant that command to the Redis user (its ACL rules, or the ElastiCache user's access string)";
const CHECK_CA =
  "the server's certificate is not signed by a CA this function trusts: set REDIS_TLS_CA_FILE to the bundle of the CA that signed it";
const CHECK_HOST =
  "the server's certificate is not issued for the host in REDIS_URL: connect by a name the certificate lists (on ElastiCache, the endpoint's DNS name, not an IP address)";
const CHECK_EXPIRY =
  "the server's certificate has expired or is not valid yet: renew it, or check the clocks";

const CHECK_IAM =
  "ElastiCache refused the IAM token: the function's role needs elasticache:Connect on both the cache's ARN (…:replicationgroup:NAME or …:serverlesscache:NAME) and the user's ARN (…:user:USER); the user needs authentication mode IAM, a user name equal to its user id, and must be in the cache's user group";

/**
 * Classifies why a connection attempt failed (see ConnectFailure). What is not known to be
 * permanent is transient: the pool goes on retrying it under the backoff, as it always did.
 * @param auth How the attempt authenticated: a refused IAM token has other causes to check
 *   than a refused password.
 */
export function classifyConnectFailure(
  error: unknown,
  auth: 'password' | 'iam' = 'password',
): ConnectFailure {
  if (!(error instanceof Error))
    return { permanent: false, reason: 'unreachable', what: String(error) };
  if (error instanceof ElastiCacheError) return classifyElastiCache(error);
  const code = (error as NodeJS.ErrnoException).code;
  if (typeof code === 'string') return classifyCode(code);
  if (error.name === 'ReplyError') {
    const failure = classifyReply(error.message);
    const refused = failure.reason === 'credentials' || failure.reason === 'permission';
    return auth === 'iam' && refused ? { ...failure, check: CHECK_IAM } : failure;
  }
  return { permanent: false, reason: 'unreachable', what: error.message };
}

/**
 * Discovery or signing failed. A transient failure's text may reach clients (a 503 is
 * exposed), so it names no cache; a permanent one's (a 500) says which cache and what to do.
 */
function classifyElastiCache(error: ElastiCacheError): ConnectFailure {
  const { permanent, reason, check } = error;
  if (permanent) return { permanent, reason, what: error.message, check };
  const what =
    reason === 'credentials'
      ? 'no AWS credentials to sign an IAM token'
      : 'ElastiCache could not say where the cache is';
  return { permanent, reason, what, check };
}

function classifyCode(code: string): ConnectFailure {
  const permanent = (reason: RedisUnavailableReason, check: string): ConnectFailure => ({
    permanent: true,
    reason,
    what: code,
    check,
  });
  if (UNTRUSTED_CERTIFICATE.has(code)) return permanent('tls', CHECK_CA);
  if (WRONG_HOST_CERTIFICATE.has(code)) return permanent('tls', CHECK_HOST);
  if (EXPIRED_CERTIFICATE.has(code)) return permanent('tls', CHECK_EXPIRY);
  if (code === 'ERR_SSL_WRONG_VERSION_NUMBER') {
    return permanent(
      'configuration',
      'the server does not speak TLS on that port: use redis:// for a plaintext server, or its TLS port',
    );
  }
  return { permanent: false, reason: 'unreachable', what: code };
}

function classifyReply(message: string): ConnectFailure {
  const permanent = (reason: RedisUnavailableReason, check: string, what = message) => ({
    permanent: true,
    reason,
    what,
    check,
  });
  // Redis 6+: WRONGPASS; Redis 5 and older: ERR invalid password.
  if (message.startsWith('WRONGPASS') || message.startsWith('ERR invalid password')) {
    return permanent('credentials', CHECK_CREDENTIALS);
  }
  if (message.startsWith('NOAUTH')) {
    return permanent(
      'credentials',
      'the server requires a password: put the user name and password in REDIS_URL (redis://user:password@host)',
      'NOAUTH authentication required',
    );
  }
  if (message.startsWith('NOPERM')) return permanent('permission', CHECK_PERMISSION);
  if (message.startsWith('ERR DB index is out of range')) {
    return permanent(
      'configuration',
      "the db in REDIS_URL (/n) must be below the server's `databases` setting (16 by default; Redis Cluster and ElastiCache Serverless have db 0 only)",
    );
  }
  if (message.startsWith('ERR SELECT is not allowed in cluster mode')) {
    return permanent(
      'configuration',
      'the server is a cluster node: set REDIS_CLUSTER=true, with db 0 in REDIS_URL',
    );
  }
  if (message.startsWith('LOADING')) {
    return {
      permanent: false,
      reason: 'loading',
      what: 'LOADING: the server is loading its dataset into memory',
    };
  }
  // Anything else the server said (max number of clients reached, BUSY, MASTERDOWN, ...): it
  // is there and may let a later attempt in.
  return { permanent: false, reason: 'server', what: message };
}
