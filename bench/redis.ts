/**
 * The one Redis of a run: REDIS_URL when set, otherwise a private redis-server (the launcher
 * of local/redis-server.ts: a free loopback port, no persistence), so the users of the shared
 * 6379 server neither disturb the figures nor get disturbed by the load.
 */
import { startRedisServer } from '../local/redis-server.js';

export interface BenchRedis {
  readonly url: string;
  /** Where it came from, as printed in the output. */
  readonly source: string;
  stop(): Promise<void>;
}

const BENCH_ADVICE = {
  why: 'REDIS_URL is not set and there is no redis-server on the PATH to start one.',
  instead: [
    'or point the bench at a Redis you have:',
    '  REDIS_URL=redis://127.0.0.1:6379 npm run bench',
  ],
};

export async function startBenchRedis(env = process.env): Promise<BenchRedis> {
  const fromEnv = env.REDIS_URL;
  if (fromEnv) {
    return { url: fromEnv, source: `REDIS_URL (${redact(fromEnv)})`, stop: async () => {} };
  }
  const server = await startRedisServer({ advice: BENCH_ADVICE });
  return {
    url: server.url,
    source: `private redis-server on 127.0.0.1:${server.port} (pid ${server.pid}), stopped at the end`,
    stop: server.stop,
  };
}

function redact(url: string): string {
  return url.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@');
}
