/**
 * An ElastiCache for Valkey cache as the pool wants one: TLS always, at-rest encryption, its
 * own security group (no ingress until a function is connected to it), a subnet group, and
 * optionally an IAM-authenticated user in a user group whose `default` user is switched off.
 * Either a replication group (a primary and replicas in several AZs, automatic failover) or an
 * ElastiCache Serverless cache (cluster mode, TLS always on).
 */

import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as elasticache from 'aws-cdk-lib/aws-elasticache';
import { ArnFormat, Duration, Names, Stack } from 'aws-cdk-lib/core';
import { Construct } from 'constructs';

/** What a function needs to know about a cache to use it through the pool. */
export interface RedisPoolCache {
  /** The host clients connect to (primary or serverless endpoint). */
  readonly host: string;
  /** Its port (a number, or a CloudFormation token). */
  readonly port: string | number;
  /** Every port a client needs open to the cache (serverless reads use a second one). */
  readonly ports: ec2.Port;
  /** The cache's security group(s): the functions' ingress is added here. */
  readonly connections: ec2.Connections;
  /** Cluster mode enabled (ElastiCache Serverless always is): `REDIS_CLUSTER=true`. */
  readonly clusterMode: boolean;
  /** ElastiCache Serverless rather than a replication group. */
  readonly serverless: boolean;
  /** The replication group id or serverless cache name (lowercase). */
  readonly cacheName: string;
  /** The ARN `elasticache:Connect` is granted on. */
  readonly cacheArn: string;
  /** The IAM-authenticated user, when the cache requires one. */
  readonly iamUser?: { readonly userId: string; readonly userArn: string } | undefined;
}

export type CacheAuth = 'iam' | 'none';

export interface ValkeyCacheProps {
  readonly vpc: ec2.IVpc;
  /** Where the cache's nodes go. Default: the VPC's default selection (private subnets). */
  readonly vpcSubnets?: ec2.SubnetSelection;
  /** ElastiCache Serverless instead of a replication group. Default false. */
  readonly serverless?: boolean;
  /**
   * `iam`: an IAM-authenticated user (user name = user id) in a user group whose `default`
   * user is off, so that no connection gets in without an IAM token (the pool signs one with
   * the function's role: `REDIS_AUTH=iam`). `none`: no authentication, only the security group
   * and TLS, for clients that cannot use IAM. Default `iam`.
   */
  readonly auth?: CacheAuth;
  /**
   * Replication group only: the port (ElastiCache allows 1024–65535). Default 6380, not Valkey's
   * well-known 6379, which scanners try first. Serverless listens on 6379 (and 6380 for reads).
   */
  readonly port?: number;
  /** Replication group only. Default `cache.t4g.micro`. */
  readonly nodeType?: string;
  /** Replication group only: replicas besides the primary, each in another AZ. Default 1. */
  readonly replicas?: number;
  /** Replication group only: Valkey engine version. Default `8.2`. */
  readonly engineVersion?: string;
  /** Serverless only: major engine version. Default `8`. */
  readonly majorEngineVersion?: string;
  /** Replication group only: parameters on top of ours (family `valkey8`). */
  readonly parameters?: Readonly<Record<string, string>>;
  /** Serverless only: upper bounds, so a runaway load cannot run up the bill. */
  readonly serverlessLimits?: { readonly maxDataGb: number; readonly maxEcpuPerSecond: number };
  /**
   * The IAM user's ACL access string, used as given. Default `on ~* +@read +@write -@dangerous
   * +ping` (what the pool and ordinary commands need; FLUSHALL, KEYS and the like refused),
   * plus `+cluster|slots` in cluster mode (ioredis's Cluster reads the slot map with it).
   */
  readonly accessString?: string;
  /** Create the cache's alarms (connections, CPU, replication lag or throttling). Default true. */
  readonly alarms?: boolean;
}

/** ElastiCache's limit of client connections per node (`maxclients`, not modifiable). */
export const ELASTICACHE_MAX_CLIENTS = 65_000;

const DEFAULT_PORT = 6380;
const DEFAULT_REPLICAS = 1;
const SERVERLESS_PORTS = ec2.Port.tcpRange(6379, 6380);
const PARAMETER_FAMILY = 'valkey8';
const ALARM_PERIOD = Duration.minutes(5);
const MAXIMUM = { statistic: 'Maximum' };
const SUM = { statistic: 'Sum' };
const DEFAULT_ACCESS = 'on ~* +@read +@write -@dangerous +ping';
/**
 * Placeholder for an ElastiCache name that is derived from the resource's own construct path,
 * which exists only once the resource does: each one is replaced right after it is created.
 */
const NAMED_FROM_PATH = 'named-from-path';

/**
 * Parameters we set. `timeout`: connections of execution environments that Lambda keeps frozen
 * (or retired without closing them) would otherwise hold a `maxclients` slot for ever; after an
 * idle hour the server drops them, and the pool's idle check replaces a dropped connection when
 * its environment thaws.
 */
const DEFAULT_PARAMETERS: Readonly<Record<string, string>> = { timeout: '3600' };

export class ValkeyCache extends Construct implements RedisPoolCache {
  readonly host: string;
  readonly port: string | number;
  readonly ports: ec2.Port;
  readonly connections: ec2.Connections;
  readonly securityGroup: ec2.SecurityGroup;
  readonly clusterMode: boolean;
  readonly serverless: boolean;
  readonly cacheName: string;
  readonly cacheArn: string;
  readonly auth: CacheAuth;
  readonly iamUser: { readonly userId: string; readonly userArn: string } | undefined;
  /** The CloudFormation resource (a replication group or a serverless cache). */
  readonly resource: elasticache.CfnReplicationGroup | elasticache.CfnServerlessCache;
  /** Replication group only: its member clusters (`<id>-001`, …), the dimension of node metrics. */
  readonly memberClusterIds: readonly string[];
  readonly alarms: readonly cloudwatch.Alarm[];

  constructor(scope: Construct, id: string, props: ValkeyCacheProps) {
    super(scope, id);
    this.serverless = props.serverless ?? false;
    this.clusterMode = this.serverless;
    this.auth = props.auth ?? 'iam';
    const port = props.port ?? DEFAULT_PORT;
    if (this.serverless && props.port !== undefined) {
      throw new Error(
        'ValkeyCache: ElastiCache Serverless listens on 6379 and 6380 only; pass no `port`',
      );
    }
    if (!Number.isInteger(port) || port < 1024 || port > 65_535) {
      throw new Error(`ValkeyCache: port must be an integer from 1024 to 65535, got ${port}`);
    }
    const replicas = props.replicas ?? DEFAULT_REPLICAS;
    // Automatic failover and Multi-AZ need at least one replica; ElastiCache allows five.
    if (!this.serverless && (!Number.isInteger(replicas) || replicas < 1 || replicas > 5)) {
      throw new Error(`ValkeyCache: replicas must be an integer from 1 to 5, got ${replicas}`);
    }

    this.securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc: props.vpc,
      description: 'Valkey cache: ingress only from the functions connected to it',
      // The cache never opens connections of its own.
      allowAllOutbound: false,
    });
    this.ports = this.serverless ? SERVERLESS_PORTS : ec2.Port.tcp(port);
    this.connections = new ec2.Connections({
      securityGroups: [this.securityGroup],
      defaultPort: this.ports,
    });
    const subnetIds = props.vpc.selectSubnets(props.vpcSubnets).subnetIds;
    const iam = this.auth === 'iam' ? this.#iamUserGroup(props.accessString) : undefined;
    this.iamUser = iam?.user;
    const userGroupId = iam?.userGroupId;

    if (this.serverless) {
      const cache = this.#serverlessCache(props, subnetIds, userGroupId);
      this.resource = cache;
      this.host = cache.attrEndpointAddress;
      this.port = cache.attrEndpointPort;
      this.cacheName = cache.ref;
      this.cacheArn = cache.attrArn;
      this.memberClusterIds = [];
    } else {
      const group = this.#replicationGroup(props, port, replicas, subnetIds, userGroupId);
      this.resource = group;
      this.host = group.attrPrimaryEndPointAddress;
      this.port = port;
      this.cacheName = group.ref;
      this.cacheArn = Stack.of(this).formatArn({
        service: 'elasticache',
        resource: 'replicationgroup',
        resourceName: group.ref,
        arnFormat: ArnFormat.COLON_RESOURCE_NAME,
      });
      const members = 1 + replicas;
      this.memberClusterIds = Array.from(
        { length: members },
        (_, i) => `${group.ref}-${String(i + 1).padStart(3, '0')}`,
      );
    }
    this.alarms = (props.alarms ?? true) ? this.#alarms() : [];
  }

  /** A metric of this cache (AWS/ElastiCache): one per node of a replication group. */
  metrics(metricName: string, props: cloudwatch.MetricOptions = {}): cloudwatch.IMetric[] {
    const dimensions = this.serverless
      ? [{ clusterId: this.cacheName }]
      : this.memberClusterIds.map((member) => ({ CacheClusterId: member }));
    return dimensions.map(
      (dimensionsMap) =>
        new cloudwatch.Metric({
          namespace: 'AWS/ElastiCache',
          metricName,
          dimensionsMap,
          ...props,
        }),
    );
  }

  /** Dashboard widgets: connections against maxclients, then CPU and lag, or ECPUs and throttling. */
  widgets(): cloudwatch.IWidget[] {
    const graph = (title: string, left: cloudwatch.IMetric[], extra = {}) =>
      new cloudwatch.GraphWidget({ title, left, width: 8, height: 6, ...extra });
    const connections = graph('Cache connections', this.metrics('CurrConnections', MAXIMUM), {
      leftAnnotations: [{ value: ELASTICACHE_MAX_CLIENTS, label: 'maxclients' }],
    });
    if (this.serverless) {
      return [
        connections,
        graph('Cache ECPUs', this.metrics('ElastiCacheProcessingUnits', SUM)),
        graph('Cache throttled commands', this.metrics('ThrottledCmds', SUM)),
      ];
    }
    return [
      connections,
      graph('Cache engine CPU (%)', this.metrics('EngineCPUUtilization', MAXIMUM)),
      graph('Cache replication lag (s)', this.metrics('ReplicationLag', MAXIMUM)),
    ];
  }

  #alarms(): cloudwatch.Alarm[] {
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
        evaluationPeriods: 3,
        datapointsToAlarm: 2,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
    const alarms = [
      alarm(
        'Connections',
        // Every environment holds up to REDIS_POOL_MAX connections: a scale-out storm shows
        // here first.
        'Cache client connections at 80% of maxclients',
        this.#highest('CurrConnections'),
        0.8 * ELASTICACHE_MAX_CLIENTS,
      ),
    ];
    if (this.serverless) {
      alarms.push(
        alarm(
          'Throttled',
          'ElastiCache Serverless throttled commands (usage limits reached)',
          this.#highest('ThrottledCmds', 'Sum'),
          1,
        ),
      );
    } else {
      alarms.push(
        alarm('EngineCpu', 'Cache engine CPU at 80%', this.#highest('EngineCPUUtilization'), 80),
        alarm(
          'ReplicationLag',
          'Cache replica more than a second behind its primary',
          this.#highest('ReplicationLag'),
          1,
        ),
      );
    }
    return alarms;
  }

  /** The highest value of a metric across the cache's nodes (one series to alarm on). */
  #highest(metricName: string, statistic = 'Maximum'): cloudwatch.IMetric {
    const metrics = this.metrics(metricName, { statistic, period: ALARM_PERIOD });
    const [only] = metrics;
    if (metrics.length === 1 && only !== undefined) return only;
    return new cloudwatch.MathExpression({
      expression: `MAX([${metrics.map((_, i) => `m${i}`).join(', ')}])`,
      usingMetrics: Object.fromEntries(metrics.map((m, i) => [`m${i}`, m])),
      label: `${metricName} (highest node)`,
      period: ALARM_PERIOD,
    });
  }

  #iamUserGroup(accessString: string | undefined): {
    userGroupId: string;
    user: { userId: string; userArn: string };
  } {
    const engine = 'valkey';
    // ElastiCache requires a user named `default` in every user group: this one is off and
    // has no password, so a connection that has not authenticated can do nothing.
    const defaultUser = new elasticache.CfnUser(this, 'DefaultUser', {
      engine,
      userId: NAMED_FROM_PATH,
      userName: 'default',
      accessString: 'off -@all',
      authenticationMode: { Type: 'no-password-required' },
    });
    defaultUser.userId = elastiCacheName(defaultUser);
    const user = new elasticache.CfnUser(this, 'User', {
      engine,
      userId: NAMED_FROM_PATH,
      userName: NAMED_FROM_PATH,
      accessString: accessString ?? this.#defaultAccessString(),
      authenticationMode: { Type: 'iam' },
    });
    user.userId = elastiCacheName(user);
    // IAM authentication requires the user name to be the user id.
    user.userName = user.userId;
    const group = new elasticache.CfnUserGroup(this, 'UserGroup', {
      engine,
      userGroupId: NAMED_FROM_PATH,
      userIds: [defaultUser.ref, user.ref],
    });
    group.userGroupId = elastiCacheName(group);
    return { userGroupId: group.ref, user: { userId: user.userId, userArn: user.attrArn } };
  }

  #defaultAccessString(): string {
    return this.clusterMode ? `${DEFAULT_ACCESS} +cluster|slots` : DEFAULT_ACCESS;
  }

  #replicationGroup(
    props: ValkeyCacheProps,
    port: number,
    replicas: number,
    subnetIds: string[],
    userGroupId: string | undefined,
  ): elasticache.CfnReplicationGroup {
    const subnetGroup = new elasticache.CfnSubnetGroup(this, 'SubnetGroup', {
      description: 'Valkey cache subnets',
      subnetIds,
    });
    const parameterGroup = new elasticache.CfnParameterGroup(this, 'ParameterGroup', {
      cacheParameterGroupFamily: PARAMETER_FAMILY,
      description: 'Valkey cache parameters',
      properties: { ...DEFAULT_PARAMETERS, ...props.parameters },
    });
    return new elasticache.CfnReplicationGroup(this, 'ReplicationGroup', {
      replicationGroupDescription: 'Valkey for lambda-redis-pool',
      engine: 'valkey',
      engineVersion: props.engineVersion ?? '8.2',
      cacheNodeType: props.nodeType ?? 'cache.t4g.micro',
      numCacheClusters: 1 + replicas,
      automaticFailoverEnabled: true,
      multiAzEnabled: true,
      transitEncryptionEnabled: true,
      // `required`, not `preferred`: a client without TLS is refused.
      transitEncryptionMode: 'required',
      atRestEncryptionEnabled: true,
      port,
      cacheSubnetGroupName: subnetGroup.ref,
      cacheParameterGroupName: parameterGroup.ref,
      securityGroupIds: [this.securityGroup.securityGroupId],
      autoMinorVersionUpgrade: true,
      ...(userGroupId === undefined ? {} : { userGroupIds: [userGroupId] }),
    });
  }

  #serverlessCache(
    props: ValkeyCacheProps,
    subnetIds: string[],
    userGroupId: string | undefined,
  ): elasticache.CfnServerlessCache {
    const limits = props.serverlessLimits ?? { maxDataGb: 1, maxEcpuPerSecond: 5_000 };
    const cache = new elasticache.CfnServerlessCache(this, 'ServerlessCache', {
      serverlessCacheName: NAMED_FROM_PATH,
      description: 'Valkey for lambda-redis-pool',
      engine: 'valkey',
      majorEngineVersion: props.majorEngineVersion ?? '8',
      subnetIds,
      securityGroupIds: [this.securityGroup.securityGroupId],
      cacheUsageLimits: {
        dataStorage: { maximum: limits.maxDataGb, unit: 'GB' },
        ecpuPerSecond: { maximum: limits.maxEcpuPerSecond },
      },
      ...(userGroupId === undefined ? {} : { userGroupId }),
    });
    cache.serverlessCacheName = elastiCacheName(cache);
    return cache;
  }
}

/**
 * A name ElastiCache accepts for users, user groups and serverless caches (lowercase letters,
 * digits and single hyphens, starting with a letter, at most 40 characters), derived from the
 * resource's path in the app: stable across deployments, and different for two stacks in one
 * account and region.
 */
export function elastiCacheName(resource: Construct): string {
  const name = Names.uniqueResourceName(resource, { maxLength: 40, separator: '-' })
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, '')
    .replace(/-+/g, '-')
    .replace(/^[^a-z]+/, '');
  return name.slice(0, 40).replace(/-+$/, '');
}
