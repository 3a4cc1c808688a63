/**
 * Wires one Lambda function to a cache the way the pool expects: the cache's security group
 * admits the function's on the cache's port(s), the function's environment follows the
 * library's configuration contract (REDIS_URL and friends, from the same option table the
 * library reads), `elasticache:Connect` is granted on exactly the cache and its user when the
 * cache uses IAM, and the pool's metrics (METRIC_NAMES, in the function's namespace) become
 * dashboard widgets and alarms. With `discovery`, the function finds the cache by name at run
 * time instead (no REDIS_URL), with the Describe permission on exactly that cache and, when
 * given one, a way through the ElastiCache API's interface VPC endpoint.
 */

import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { Duration } from 'aws-cdk-lib/core';
import { Construct } from 'constructs';
import { METRIC_DIMENSION, METRIC_NAMES } from '../metrics.js';
import { DEFAULTS, ENV_VARS, type RedisPoolOptions } from '../options.js';
import type { RedisPoolCache } from './cache.js';
import { ELASTICACHE_API_PORT } from './endpoint.js';

/**
 * Options whose values come from the cache (where it is, how to authenticate), never from
 * `options`: the type leaves them out, and a caller without types is stopped at synth.
 */
const FROM_THE_CACHE = ['url', 'cluster', 'auth', 'user', 'cacheName', 'serverless'] as const;

/**
 * Pool options for the function's environment. Where the cache is and how to authenticate
 * (URL, cluster mode, cache name and kind, IAM user) come from the cache.
 */
export type RedisPoolEnvironmentOptions = Omit<RedisPoolOptions, (typeof FROM_THE_CACHE)[number]>;

export interface RedisPoolConnectionProps {
  /** A function in the cache's VPC (it needs a security group to be admitted). */
  readonly function: lambda.Function;
  readonly cache: RedisPoolCache;
  /** More pool options, set as their REDIS_* variables. */
  readonly options?: RedisPoolEnvironmentOptions;
  /** Create the pool's alarms (acquire errors, acquire latency). Default true. */
  readonly alarms?: boolean;
  /**
   * Find the cache by name at run time (`REDIS_CACHE_NAME` without `REDIS_URL`): the pool asks
   * ElastiCache for the endpoint, TLS and cluster mode once per execution environment, so a
   * replaced cache is found again without a redeploy. The function's role gets
   * `elasticache:DescribeReplicationGroups` (or `DescribeServerlessCaches`) on this cache only.
   * The function must reach the ElastiCache API: through NAT, or an interface VPC endpoint
   * (`endpoint`). Default false: the endpoint is fixed at deploy time in `REDIS_URL`, no API
   * call, nothing more to pay for.
   */
  readonly discovery?: boolean | RedisPoolDiscoveryProps;
}

export interface RedisPoolDiscoveryProps {
  /**
   * The ElastiCache API's interface VPC endpoint the function calls through: an
   * `ElastiCacheApiEndpoint`, or one you have (`ec2.InterfaceVpcEndpoint` and its imports are
   * connectable). Its security group is made to admit the function's on 443. Omit it when the
   * function's subnets reach the API another way (a NAT gateway).
   */
  readonly endpoint?: ec2.IConnectable;
}

/** How long each alarm looks at its metric. */
const ALARM_PERIOD = Duration.minutes(5);

export class RedisPoolConnection extends Construct {
  /** The variables set on the function (values may be CloudFormation tokens). */
  readonly environment: Readonly<Record<string, string>>;
  /** The CloudWatch namespace the function's pool publishes to. */
  readonly namespace: string;
  readonly alarms: readonly cloudwatch.Alarm[];
  readonly #fn: lambda.Function;
  readonly #metricsOn: boolean;

  constructor(scope: Construct, id: string, props: RedisPoolConnectionProps) {
    super(scope, id);
    const { function: fn, cache } = props;
    const options = props.options ?? {};
    if (!fn.isBoundToVpc) {
      throw new Error(
        `RedisPoolConnection: function ${fn.node.path} is not in a VPC; give it the cache's VPC and subnets`,
      );
    }
    this.#fn = fn;
    this.namespace = options.metricsNamespace ?? DEFAULTS.metricsNamespace;
    this.#metricsOn = options.metrics ?? DEFAULTS.metrics;

    fn.connections.allowTo(cache, cache.ports, 'Valkey from the pool');

    const discovery = props.discovery ?? false;
    this.environment = redisPoolEnvironment(cache, options, discovery !== false);
    for (const [name, value] of Object.entries(this.environment)) fn.addEnvironment(name, value);
    if (discovery !== false) {
      fn.addToRolePolicy(
        new iam.PolicyStatement({
          // Both actions accept the cache's ARN as their resource: the role can describe this
          // cache and no other.
          actions: [
            cache.serverless
              ? 'elasticache:DescribeServerlessCaches'
              : 'elasticache:DescribeReplicationGroups',
          ],
          resources: [cache.cacheArn],
        }),
      );
      const endpoint = discovery === true ? undefined : discovery.endpoint;
      if (endpoint !== undefined) {
        fn.connections.allowTo(endpoint, ELASTICACHE_API_PORT, 'ElastiCache API for discovery');
      }
    }

    if (cache.iamUser !== undefined) {
      fn.addToRolePolicy(
        new iam.PolicyStatement({
          actions: ['elasticache:Connect'],
          resources: [cache.cacheArn, cache.iamUser.userArn],
        }),
      );
    }

    const connectTimeoutMs = options.connectTimeoutMs ?? DEFAULTS.connectTimeoutMs;
    this.alarms = (props.alarms ?? true) && this.#metricsOn ? this.#alarms(connectTimeoutMs) : [];
  }

  /** One of the pool's metrics for this function, e.g. `metric('acquireLatency')`. */
  metric(key: keyof typeof METRIC_NAMES, props: cloudwatch.MetricOptions = {}): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: this.namespace,
      metricName: METRIC_NAMES[key],
      dimensionsMap: { [METRIC_DIMENSION]: this.#fn.functionName },
      period: ALARM_PERIOD,
      ...props,
    });
  }

  /** A row of dashboard widgets for this function's pool. */
  widgets(): cloudwatch.IWidget[] {
    if (!this.#metricsOn) return [];
    const width = 8;
    const height = 6;
    return [
      new cloudwatch.GraphWidget({
        title: 'Acquire latency (ms)',
        width,
        height,
        left: [
          this.metric('acquireLatency', { statistic: 'p50', label: 'p50' }),
          this.metric('acquireLatency', { statistic: 'p99', label: 'p99' }),
        ],
      }),
      new cloudwatch.GraphWidget({
        title: 'Warm leases (%)',
        width,
        height,
        leftYAxis: { min: 0, max: 100 },
        left: [
          new cloudwatch.MathExpression({
            // RedisConnectionReused is 1 for a lease on a connection that was already open.
            expression: '100 * reused',
            usingMetrics: { reused: this.metric('connectionReused', { statistic: 'Average' }) },
            label: 'warm lease share',
            period: ALARM_PERIOD,
          }),
        ],
      }),
      new cloudwatch.GraphWidget({
        title: 'Pool events',
        width,
        height,
        left: (
          [
            'acquireErrors',
            'connectionsCreated',
            'connectionsFailed',
            'reconnects',
            'validationFailures',
          ] as const
        ).map((key) => this.metric(key, { statistic: 'Sum', label: METRIC_NAMES[key] })),
      }),
    ];
  }

  #alarms(connectTimeoutMs: number): cloudwatch.Alarm[] {
    const fnName = this.#fn.node.id;
    return [
      new cloudwatch.Alarm(this, 'AcquireErrors', {
        alarmDescription: `${fnName}: invocations got no Redis connection (${METRIC_NAMES.acquireErrors})`,
        metric: this.metric('acquireErrors', { statistic: 'Sum' }),
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
      new cloudwatch.Alarm(this, 'AcquireLatencyP99', {
        // A p99 at half the connect timeout means connects are slow or failing: Redis is slow or
        // hard to reach from the function's subnets.
        alarmDescription: `${fnName}: p99 ${METRIC_NAMES.acquireLatency} at half the connect timeout`,
        metric: this.metric('acquireLatency', { statistic: 'p99' }),
        threshold: connectTimeoutMs / 2,
        evaluationPeriods: 3,
        datapointsToAlarm: 2,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
    ];
  }
}

/**
 * The function's REDIS_* variables for `cache`, as the library reads them: the TLS URL of the
 * cache's endpoint and cluster mode (unless `discovery`: the pool then asks ElastiCache for
 * both), the cache's name and kind, IAM authentication when the cache has an IAM user, and
 * each option in `options` under its own variable.
 */
export function redisPoolEnvironment(
  cache: RedisPoolCache,
  options: RedisPoolEnvironmentOptions = {},
  discovery = false,
): Record<string, string> {
  const env: Record<string, string> = discovery
    ? {}
    : {
        // ElastiCache encrypts in transit here (the replication group requires it, serverless
        // always does): rediss://.
        [ENV_VARS.url]: `rediss://${cache.host}:${cache.port}`,
        [ENV_VARS.cluster]: String(cache.clusterMode),
      };
  env[ENV_VARS.cacheName] = cache.cacheName;
  env[ENV_VARS.serverless] = String(cache.serverless);
  if (cache.iamUser !== undefined) {
    // A token signed with the function's role for each connection: no password anywhere.
    env[ENV_VARS.auth] = 'iam';
    env[ENV_VARS.user] = cache.iamUser.userId;
  }
  for (const [key, value] of Object.entries(options) as Array<[keyof typeof ENV_VARS, unknown]>) {
    if ((FROM_THE_CACHE as readonly string[]).includes(key)) {
      throw new Error(`RedisPoolConnection: options.${key} comes from the cache; do not set it`);
    }
    if (!Object.hasOwn(ENV_VARS, key)) {
      throw new Error(`RedisPoolConnection: options.${String(key)} is not a pool option`);
    }
    if (value !== undefined) env[ENV_VARS[key]] = String(value);
  }
  return env;
}
