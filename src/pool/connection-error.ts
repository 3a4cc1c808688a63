/**
 * Telling a dead connection from a failed command. A lease released with a connection-level
 * error is destroyed (the next lease gets a fresh connection); a command error such as
 * WRONGTYPE says nothing about the connection, which stays in the pool.
 */
import { RedisUnavailableError } from '../errors.js';

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

/** Messages of ioredis's own errors that mean the connection, not the command, failed. */
const CLIENT_MESSAGES = [
  'Connection is closed',
  "Stream isn't writeable",
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
  if (error instanceof RedisUnavailableError) return true;
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
