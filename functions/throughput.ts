/**
 * GET|POST /api/v1/test/redis: runs a bounded load through the pool's shared connection and
 * answers with ops, errors, ops/s, latency percentiles and the pool's stats. Parameters are
 * checked before any connection is taken; the run stops before the invocation's deadline
 * and reports what it did.
 */
import type { APIGatewayProxyResult, Context } from 'aws-lambda';
import { type RedisContext, withRedisPool } from 'lambda-redis-pool';
import { type ApiEvent, BadRequest, json, parseRequest } from './http.js';
import { runLoad } from './load.js';
import { publicError } from './public-error.js';
import {
  REPORT_RESERVE_MS,
  type ThroughputParams,
  type ThroughputReport,
} from './throughput-contract.js';
import { parseThroughputParams } from './throughput-params.js';

const measure = withRedisPool(async (params: ThroughputParams, context: RedisContext) => {
  const requestedEnd = performance.now() + params.durationMs;
  const deadlineEnd = performance.now() + context.getRemainingTimeInMillis() - REPORT_RESERVE_MS;
  const result = await runLoad(context.redis, params, Math.min(requestedEnd, deadlineEnd));
  return { ...result, stoppedEarly: deadlineEnd < requestedEnd, params };
});

export async function handler(event: ApiEvent, context: Context): Promise<APIGatewayProxyResult> {
  let params: ThroughputParams;
  try {
    params = parseThroughputParams(parseRequest(event));
  } catch (error) {
    if (error instanceof BadRequest)
      return json(400, { error: 'BadRequest', message: error.message });
    throw error;
  }
  try {
    const report: ThroughputReport = {
      ...(await measure(params, context)),
      pool: measure.pool.stats(),
    };
    return json(200, report);
  } catch (error) {
    return json(503, { error: publicError(error) });
  }
}
