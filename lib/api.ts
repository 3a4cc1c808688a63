/**
 * The REST API, generated from the manifest's route table (the one `npm start` serves, so the
 * local and the deployed routes cannot drift): each route's methods go to its function through
 * a Lambda proxy integration; routes marked `iam` require a SigV4-signed request (AWS_IAM).
 * Stage throttling, per-route throttling, access logs and execution-error logs.
 */
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import {
  API_GATEWAY_TIMEOUT_MS,
  type FunctionKey,
  ROUTES,
  type Route,
} from '../functions/manifest.js';

/** The stage: the path segment after the host in every deployed URL. */
export const STAGE_NAME = 'prod';

/**
 * Requests per second (steady, burst). API Gateway applies the stage's default to each method
 * without limits of its own (a route added later); each route here has its own. The throughput
 * route runs a load for up to 25 s per request, so a few per second already fill its reserved
 * concurrency; the health route needs a handful per second for monitors.
 */
export const THROTTLING = {
  stage: { rate: 20, burst: 40 },
  routes: {
    health: { rate: 5, burst: 10 },
    throughput: { rate: 2, burst: 10 },
  } satisfies Record<FunctionKey, { rate: number; burst: number }>,
} as const;

export interface Api {
  readonly api: apigateway.RestApi;
  /** Each method, with the manifest route it serves. */
  readonly methods: ReadonlyArray<{ readonly route: Route; readonly method: apigateway.Method }>;
}

export function createApi(
  scope: Construct,
  functions: Readonly<Record<FunctionKey, lambda.IFunction>>,
): Api {
  const accessLogs = new logs.LogGroup(scope, 'ApiAccessLogs', {
    retention: logs.RetentionDays.ONE_MONTH,
    removalPolicy: RemovalPolicy.RETAIN,
  });
  const methodOptions: Record<string, apigateway.MethodDeploymentOptions> = {};
  for (const route of ROUTES) {
    const limits = THROTTLING.routes[route.fn];
    for (const method of route.methods) {
      methodOptions[`${route.resource}/${method}`] = {
        throttlingRateLimit: limits.rate,
        throttlingBurstLimit: limits.burst,
      };
    }
  }
  const api = new apigateway.RestApi(scope, 'Api', {
    description: 'lambda-redis-pool: health and throughput functions',
    endpointTypes: [apigateway.EndpointType.REGIONAL],
    // Access and execution logs need API Gateway's account-level CloudWatch role. It is an
    // account-wide setting other APIs may rely on, so it is kept when the stack is destroyed.
    cloudWatchRole: true,
    cloudWatchRoleRemovalPolicy: RemovalPolicy.RETAIN,
    deployOptions: {
      stageName: STAGE_NAME,
      throttlingRateLimit: THROTTLING.stage.rate,
      throttlingBurstLimit: THROTTLING.stage.burst,
      methodOptions,
      accessLogDestination: new apigateway.LogGroupLogDestination(accessLogs),
      accessLogFormat: apigateway.AccessLogFormat.jsonWithStandardFields(),
      // Errors only, and never request or response bodies (they may carry keys or values).
      loggingLevel: apigateway.MethodLoggingLevel.ERROR,
      dataTraceEnabled: false,
      metricsEnabled: true,
    },
  });
  const methods: Array<{ route: Route; method: apigateway.Method }> = [];
  for (const route of ROUTES) {
    const resource = api.root.resourceForPath(route.resource);
    const integration = new apigateway.LambdaIntegration(functions[route.fn], {
      timeout: Duration.millis(API_GATEWAY_TIMEOUT_MS),
      // No extra permission for the console's test invocations.
      allowTestInvoke: false,
    });
    for (const method of route.methods) {
      const authorizationType =
        route.auth === 'iam' ? apigateway.AuthorizationType.IAM : apigateway.AuthorizationType.NONE;
      methods.push({
        route,
        method: resource.addMethod(method, integration, { authorizationType }),
      });
    }
  }
  return { api, methods };
}
