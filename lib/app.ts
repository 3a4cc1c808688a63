/**
 * The CDK app: one stack, built from the context's settings, checked by cdk-nag's AwsSolutions
 * rules when synthesized (an unacknowledged finding fails the synth).
 */
import { type App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { readSettings } from './settings.js';
import { LambdaRedisPoolStack } from './stack.js';

export interface DefineAppOptions {
  /** Run cdk-nag during synth. Default true. */
  readonly nag?: boolean;
}

export function defineApp(app: App, options: DefineAppOptions = {}): LambdaRedisPoolStack {
  const settings = readSettings((key) => app.node.tryGetContext(key));
  const stack = new LambdaRedisPoolStack(app, settings.stackName, {
    settings,
    description: 'lambda-redis-pool: Valkey, health and throughput functions, REST API',
  });
  if (options.nag ?? true) Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return stack;
}
