/**
 * A view of the Lambda context with less time left: a function that must answer within a
 * budget (the health check) hands this to withRedisPool, so the acquire and the early
 * timeout work against the budget instead of the function's whole timeout.
 */
import type { Context } from 'aws-lambda';

export function withinBudget(context: Context, budgetMs: number): Context {
  const until = Date.now() + budgetMs;
  const remaining = () => Math.min(context.getRemainingTimeInMillis(), until - Date.now());
  return Object.assign(Object.create(context) as Context, { getRemainingTimeInMillis: remaining });
}
