/**
 * `npm start`: the local API on http://127.0.0.1:12000 (PORT overrides it), with both functions
 * in the Lambda simulator. Redis is REDIS_URL, or a redis-server of our own when it is unset.
 * Ctrl-C stops everything this started.
 */
import { ROUTES } from '../functions/manifest.js';
import { DEFAULT_PORT, type LocalApi, startLocalApi } from './api-server.js';
import { RedisServerNotFoundError } from './redis-server.js';

/** Closing is bounded by its parts (environments get 500 ms, redis-server 3 s); this is a net. */
const FORCE_EXIT_MS = 15_000;

/** Set by the first SIGINT/SIGTERM, which may come while the API is still starting. */
let stopRequested: NodeJS.Signals | undefined;
let api: LocalApi | undefined;

async function main(): Promise<void> {
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const port = parsePort(process.env.PORT);
  const redisUrl = process.env.REDIS_URL || undefined;
  if (redisUrl === undefined) console.log('REDIS_URL is not set: starting a redis-server…');
  try {
    api = await startLocalApi({ port, redisUrl, accessLog: (line) => console.log(line) });
  } catch (error) {
    console.error(startFailure(error, port));
    process.exit(1);
  }
  if (stopRequested !== undefined) return stop(api, stopRequested);
  console.log(`Local API listening on ${api.url}`);
  for (const route of ROUTES) {
    console.log(`  ${route.methods.join('|').padEnd(9)} ${api.url}${route.resource}`);
  }
  const where = api.startedRedis
    ? 'a redis-server started for this session (stopped on exit)'
    : 'REDIS_URL';
  console.log(`Redis: ${withoutPassword(api.redisUrl)}, ${where}`);
  console.log('Try `npm run throughput`. Ctrl-C stops everything.');
}

function onSignal(signal: NodeJS.Signals): void {
  // A terminal's Ctrl-C reaches this process twice, directly and relayed by tsx: stop once.
  if (stopRequested !== undefined) return;
  stopRequested = signal;
  // Still starting: main() stops once the start is done, so nothing half-started is left.
  if (api !== undefined) void stop(api, signal);
}

async function stop(running: LocalApi, signal: NodeJS.Signals): Promise<void> {
  console.log(`${signal}: stopping…`);
  setTimeout(() => {
    console.error(`Still stopping after ${FORCE_EXIT_MS} ms: exiting anyway`);
    process.exit(1);
  }, FORCE_EXIT_MS).unref();
  try {
    await running.close();
  } catch (error) {
    console.error('Stopping failed:', error);
    process.exit(1);
  }
  console.log('Stopped.');
  process.exit(0);
}

function parsePort(raw: string | undefined): number {
  if (raw === undefined || raw === '') return DEFAULT_PORT;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    console.error(`PORT must be a port number (0-65535), got ${JSON.stringify(raw)}`);
    process.exit(1);
  }
  return port;
}

function startFailure(error: unknown, port: number): string {
  if (error instanceof RedisServerNotFoundError) return error.message;
  if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') {
    return `Port ${port} is in use: stop whatever listens there, or choose another with PORT=<port> npm start`;
  }
  // Pool and URL errors name the redacted URL only; other errors carry no URL at all.
  return `The local API did not start: ${error instanceof Error ? error.message : String(error)}`;
}

/** REDIS_URL as it may be printed: a password in it shows as `***`. */
function withoutPassword(raw: string): string {
  const url = new URL(raw);
  if (url.password) url.password = '***';
  return url.toString();
}

await main();
