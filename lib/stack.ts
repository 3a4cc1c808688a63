/**
 * The demo deployment, one stack: the network, the Valkey cache, the health and throughput
 * functions (bundled from the manifest's entries with the manifest's esbuild settings), the
 * REST API from the manifest's routes, a dashboard and alarms. Built with the package's own
 * constructs (`lambda-redis-pool/cdk`), as a user's stack would be. Environment-agnostic: no
 * account, region or lookup is needed to synthesize it.
 */
import { fileURLToPath } from 'node:url';
import { CfnOutput, Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sns from 'aws-cdk-lib/aws-sns';
import type { Construct } from 'constructs';
import { ElastiCacheApiEndpoint, RedisPoolConnection, ValkeyCache } from 'lambda-redis-pool/cdk';
import {
  BUNDLING,
  FUNCTIONS,
  type FunctionDefinition,
  type FunctionKey,
  ROUTES,
} from '../functions/manifest.js';
import { type Api, createApi } from './api.js';
import { acknowledgeFindings } from './nag.js';
import { createNetwork, type Network } from './network.js';
import type { DeploySettings } from './settings.js';

const PROJECT_ROOT = fileURLToPath(new URL('..', import.meta.url));

export interface LambdaRedisPoolStackProps extends StackProps {
  readonly settings: DeploySettings;
}

export class LambdaRedisPoolStack extends Stack {
  readonly network: Network;
  readonly cache: ValkeyCache;
  readonly functions: Readonly<Record<FunctionKey, nodejs.NodejsFunction>>;
  readonly connections: Readonly<Record<FunctionKey, RedisPoolConnection>>;
  readonly functionsSecurityGroup: ec2.SecurityGroup;
  /** With `-c discovery=true`: the ElastiCache API's interface endpoint the functions ask. */
  readonly elastiCacheApi: ElastiCacheApiEndpoint | undefined;
  readonly api: Api;
  readonly dashboard: cloudwatch.Dashboard;
  readonly alarms: readonly cloudwatch.Alarm[];

  constructor(scope: Construct, id: string, props: LambdaRedisPoolStackProps) {
    super(scope, id, props);
    const { settings } = props;
    this.network = createNetwork(this, settings.vpc);
    this.cache = new ValkeyCache(this, 'Cache', {
      vpc: this.network.vpc,
      vpcSubnets: this.network.subnets,
      serverless: settings.cache === 'serverless',
      auth: settings.auth,
      // The demo functions touch only their own keys (lrp:…; test/cdk/bundles.test.ts runs
      // both bundles as this user) and need no administrative command.
      accessString: `on ~lrp:* +@read +@write -@dangerous +ping${
        settings.cache === 'serverless' ? ' +cluster|slots' : ''
      }`,
    });
    this.functionsSecurityGroup = new ec2.SecurityGroup(this, 'FunctionsSecurityGroup', {
      vpc: this.network.vpc,
      description: 'health and throughput functions: out to the cache only',
      // The functions talk to the cache and nothing else; their logs go through Lambda.
      allowAllOutbound: false,
    });

    // Isolated subnets reach no AWS API: discovery goes through an interface endpoint there.
    this.elastiCacheApi = settings.discovery
      ? new ElastiCacheApiEndpoint(this, 'ElastiCacheApi', {
          vpc: this.network.vpc,
          subnets: this.network.subnets,
        })
      : undefined;
    const discovery = this.elastiCacheApi && { endpoint: this.elastiCacheApi };

    const functions = {} as Record<FunctionKey, nodejs.NodejsFunction>;
    const connections = {} as Record<FunctionKey, RedisPoolConnection>;
    for (const key of Object.keys(FUNCTIONS) as FunctionKey[]) {
      const definition: FunctionDefinition = FUNCTIONS[key];
      // The manifest says which functions reserve concurrency; context may resize the
      // throughput function's reservation (accounts with a small concurrency quota).
      const reserved =
        key === 'throughput' ? settings.throughputConcurrency : definition.reservedConcurrency;
      const fn = this.#function(definition, reserved);
      functions[key] = fn;
      connections[key] = new RedisPoolConnection(this, `${definition.name}Redis`, {
        function: fn,
        cache: this.cache,
        ...(discovery === undefined ? {} : { discovery }),
      });
    }
    this.functions = functions;
    this.connections = connections;
    this.api = createApi(this, functions);

    this.alarms = [
      ...this.cache.alarms,
      ...Object.values(connections).flatMap((c) => c.alarms),
      ...this.#functionAlarms(),
    ];
    if (settings.alarmTopicArn !== undefined) {
      const topic = sns.Topic.fromTopicArn(this, 'AlarmTopic', settings.alarmTopicArn);
      for (const alarm of this.alarms) {
        alarm.addAlarmAction(new actions.SnsAction(topic));
        alarm.addOkAction(new actions.SnsAction(topic));
      }
    }
    this.dashboard = this.#dashboard();
    this.#outputs();
    acknowledgeFindings(this);
  }

  #function(
    definition: FunctionDefinition,
    reservedConcurrency: number | undefined,
  ): nodejs.NodejsFunction {
    const logGroup = new logs.LogGroup(this, `${definition.name}Logs`, {
      retention: logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    return new nodejs.NodejsFunction(this, definition.name, {
      entry: definition.entry,
      handler: definition.handler,
      description: definition.description,
      runtime: lambda.Runtime.NODEJS_24_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: definition.memoryMb,
      timeout: Duration.millis(definition.timeoutMs),
      ...(reservedConcurrency === undefined
        ? {}
        : { reservedConcurrentExecutions: reservedConcurrency }),
      logGroup,
      vpc: this.network.vpc,
      vpcSubnets: this.network.subnets,
      securityGroups: [this.functionsSecurityGroup],
      environment: {
        // The bundle carries source maps: stack traces then point at the TypeScript.
        NODE_OPTIONS: '--enable-source-maps',
      },
      projectRoot: PROJECT_ROOT,
      depsLockFilePath: `${PROJECT_ROOT}package-lock.json`,
      bundling: {
        // The manifest's one esbuild configuration, as the local simulator uses it.
        format: BUNDLING.format === 'esm' ? nodejs.OutputFormat.ESM : nodejs.OutputFormat.CJS,
        target: BUNDLING.target,
        minify: BUNDLING.minify,
        keepNames: BUNDLING.keepNames,
        sourceMap: BUNDLING.sourcemap,
        externalModules: [...BUNDLING.external],
        mainFields: [...BUNDLING.mainFields],
        banner: BUNDLING.banner,
        // esbuild from node_modules, never Docker.
        forceDockerBundling: false,
      },
    });
  }

  /** Per function: Lambda errors; for health also throttles and a p99 near its timeout. */
  #functionAlarms(): cloudwatch.Alarm[] {
    const alarm = (
      id: string,
      description: string,
      metric: cloudwatch.IMetric,
      threshold: number,
    ) =>
      new cloudwatch.Alarm(this, id, {
        alarmDescription: description,
        metric,
        threshold,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
    const period = Duration.minutes(5);
    const { health, throughput } = this.functions;
    return [
      alarm('healthErrors', 'health: invocation errors', health.metricErrors({ period }), 1),
      alarm(
        'throughputErrors',
        'throughput: invocation errors',
        throughput.metricErrors({ period }),
        1,
      ),
      // A monitor's health check must never be refused; the throughput function's throttles
      // are its reserved concurrency doing its job under a load test, so they do not alarm.
      alarm(
        'healthThrottles',
        'health: throttled invocations',
        health.metricThrottles({ period }),
        1,
      ),
      alarm(
        'healthDurationP99',
        // The health check answers within its 1 s budget; near its timeout means cold starts
        // or init that hang.
        'health: p99 duration at 90% of its timeout',
        health.metricDuration({ period, statistic: 'p99' }),
        0.9 * FUNCTIONS.health.timeoutMs,
      ),
    ];
  }

  #dashboard(): cloudwatch.Dashboard {
    const dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      defaultInterval: Duration.hours(3),
    });
    for (const key of Object.keys(this.functions) as FunctionKey[]) {
      const fn = this.functions[key];
      const timeoutMs = FUNCTIONS[key].timeoutMs;
      dashboard.addWidgets(
        new cloudwatch.TextWidget({ markdown: `## ${key}: the pool`, width: 24, height: 1 }),
      );
      dashboard.addWidgets(...this.connections[key].widgets());
      dashboard.addWidgets(
        new cloudwatch.GraphWidget({
          title: `${key}: errors and throttles`,
          width: 12,
          height: 6,
          left: [fn.metricErrors({ statistic: 'Sum' }), fn.metricThrottles({ statistic: 'Sum' })],
        }),
        new cloudwatch.GraphWidget({
          title: `${key}: duration (ms)`,
          width: 12,
          height: 6,
          left: [
            fn.metricDuration({ statistic: 'p50', label: 'p50' }),
            fn.metricDuration({ statistic: 'p99', label: 'p99' }),
          ],
          leftAnnotations: [{ value: timeoutMs, label: 'timeout' }],
        }),
      );
    }
    dashboard.addWidgets(
      new cloudwatch.TextWidget({ markdown: '## The cache', width: 24, height: 1 }),
    );
    dashboard.addWidgets(...this.cache.widgets());
    dashboard.addWidgets(
      new cloudwatch.AlarmStatusWidget({ title: 'Alarms', alarms: [...this.alarms], width: 24 }),
    );
    return dashboard;
  }

  #outputs(): void {
    const { api } = this.api;
    new CfnOutput(this, 'ApiUrl', {
      value: api.url,
      description: 'The REST API with its stage: npm run throughput -- --url <this>',
    });
    new CfnOutput(this, 'HealthUrl', {
      value: api.urlForPath(routeOf('health')),
      description: 'GET: public health check',
    });
    new CfnOutput(this, 'ThroughputUrl', {
      value: api.urlForPath(routeOf('throughput')),
      description: 'GET|POST, SigV4-signed requests only (AWS_IAM)',
    });
    new CfnOutput(this, 'CacheEndpoint', {
      value: `${this.cache.host}:${this.cache.port}`,
      description: 'The Valkey endpoint (TLS), reachable from the functions only',
    });
    new CfnOutput(this, 'DashboardUrl', {
      value: `https://console.aws.amazon.com/cloudwatch/home?region=${this.region}#dashboards:name=${this.dashboard.dashboardName}`,
      description: 'The CloudWatch dashboard',
    });
  }
}

function routeOf(fn: FunctionKey): string {
  const route = ROUTES.find((r) => r.fn === fn);
  if (route === undefined) throw new Error(`the manifest has no route to ${fn}`);
  return route.resource;
}
