/**
 * Cold-start baseline: a handler that only imports ioredis and keeps a module-scope client
 * (lazyConnect, like the pool, which opens nothing at init by default).
 */
import { Redis } from 'ioredis';

const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', { lazyConnect: true });

export async function handler(): Promise<{ statusCode: number; body: string }> {
  return { statusCode: 200, body: redis.status };
}
