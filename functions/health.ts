/**
 * GET /api/v1/health: 200 with the PING time and the pool's stats when Redis answers, 503
 * when it does not, always within about a second, whatever the function's timeout: a health
 * check that hangs is worse than one that says "unavailable".
 */
import type { APIGatewayProxyResult, Context } from 'aws-lambda';
import { type RedisContext, withRedisPool } from 'lambda-redis-pool';
import { withinBudget } from './budget.js';
import { type ApiEvent, json } from './http.js';
import { publicError } from './public-error.js';

/** The health check's own deadline. */
export const HEALTH_BUDGET_MS = 1_000;

const probe = withRedisPool(async (_event: ApiEvent, context: RedisContext) => {
  const started = performance.now();
  await context.redis.ping();
  return {
    pingMs: round(performance.now() - started),
    mode: context.redis.isCluster ? 'cluster' : 'standalone',
  };
});

export async function handler(event: ApiEvent, context: Context): Promise<APIGatewayProxyResult> {
  const started = performance.now();
  try {
    const redis = await probe(event, withinBudget(context, HEALTH_BUDGET_MS));
    return json(200, {
      status: 'ok',
      redis,
      pool: probe.pool.stats(),
      durationMs: round(performance.now() - started),
    });
  } catch (error) {
    const reason = publicError(error);
    console.warn(JSON.stringify({ level: 'WARN', message: 'health check failed', error: reason }));
    return json(503, {
      status: 'unavailable',
      error: reason,
      durationMs: round(performance.now() - started),
    });
  }
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}
