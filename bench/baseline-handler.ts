/**
 * Cold-start baseline: the health check as a user would write it without the library. A
 * module-scope ioredis client with its defaults, but lazyConnect, like the pool, which opens
 * nothing at init by default: the first invocation connects (ioredis's handshake and ready
 * check) and then PINGs, as the health function's first invocation connects its pool's
 * connection and PINGs.
 */
import { Redis } from 'ioredis';

const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', { lazyConnect: true });

export async function handler(): Promise<{ statusCode: number; body: string }> {
  const started = performance.now();
  try {
    await redis.ping();
    const pingMs = performance.now() - started;
    return { statusCode: 200, body: JSON.stringify({ status: 'ok', pingMs }) };
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    return { statusCode: 503, body: JSON.stringify({ status: 'unavailable', error: reason }) };
  }
}
