// `lambda-redis-pool/cdk` on its own, as a user wires their own function to a cache: the
// environment it writes is read back by the library's own loadConfig (so the CDK side and the
// library's configuration contract cannot disagree), the security-group rule, the grant, and
// the widgets and alarms in the function's metrics namespace.
import { Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import {
  ELASTICACHE_MAX_CLIENTS,
  ElastiCacheApiEndpoint,
  RedisPoolConnection,
  type RedisPoolConnectionProps,
  type RedisPoolEnvironmentOptions,
  ValkeyCache,
} from 'lambda-redis-pool/cdk';
import { describe, expect, test } from 'vitest';
import { elastiCacheName } from '../../src/cdk/cache.js';
import { loadConfig } from '../../src/config.js';
import { METRIC_NAMES } from '../../src/metrics.js';
import { DEFAULTS, ENV_VARS } from '../../src/options.js';
import { onlyResource, type Props, resolveValue, resourcesOf, testApp } from './support.js';

interface Setup {
  serverless?: boolean;
  auth?: 'iam' | 'none';
  options?: RedisPoolEnvironmentOptions;
  /** The connection's `discovery`; `endpoint` creates an ElastiCacheApiEndpoint for it. */
  discovery?: boolean | 'endpoint' | ((stack: Stack) => RedisPoolConnectionProps['discovery']);
}

/** A user's stack: their VPC and function, our cache and connection. */
function userStack({ serverless = false, auth, options, discovery }: Setup = {}) {
  const stack = new Stack(testApp(), 'UserStack');
  const vpc = new ec2.Vpc(stack, 'Vpc', { maxAzs: 2, natGateways: 0 });
  const fn = new lambda.Function(stack, 'Orders', {
    runtime: lambda.Runtime.NODEJS_24_X,
    handler: 'index.handler',
    code: lambda.Code.fromInline('export const handler = async () => 1;'),
    vpc,
  });
  const cache = new ValkeyCache(stack, 'Cache', {
    vpc,
    serverless,
    ...(auth === undefined ? {} : { auth }),
  });
  const endpoint =
    discovery === 'endpoint'
      ? new ElastiCacheApiEndpoint(stack, 'ElastiCacheApi', { vpc })
      : undefined;
  const discoveryProp =
    typeof discovery === 'function'
      ? discovery(stack)
      : discovery === 'endpoint'
        ? { endpoint }
        : discovery;
  const connection = new RedisPoolConnection(stack, 'OrdersRedis', {
    function: fn,
    cache,
    ...(options === undefined ? {} : { options }),
    ...(discoveryProp === undefined ? {} : { discovery: discoveryProp }),
  });
  return { stack, fn, cache, connection, endpoint, template: Template.fromStack(stack) };
}

function environment(template: Template): Record<string, string> {
  const [[, fn]] = resourcesOf(template, 'AWS::Lambda::Function') as [[string, Props]];
  const variables = fn.Environment.Variables as Record<string, unknown>;
  return Object.fromEntries(Object.entries(variables).map(([k, v]) => [k, resolveValue(v)]));
}

describe('RedisPoolConnection', () => {
  test.each([
    [false, false],
    [true, true],
  ])(
    'serverless %s: the library reads the environment it writes (TLS, cluster %s)',
    (serverless, cluster) => {
      const { template } = userStack({
        serverless,
        options: { poolMax: 4, connectOnInit: true, commandTimeoutMs: 500 },
      });
      const env = environment(template);
      // The deployed values, with the endpoint that only AWS knows replaced by a host name, and
      // the region Lambda sets.
      const config = loadConfig({ ...env, AWS_REGION: 'eu-west-1' });
      expect(config.endpoint).toMatchObject({ tls: true, host: 'getatt.example.internal' });
      expect(config.endpoint?.port).toBe(serverless ? 6379 : 6380);
      expect(config).toMatchObject({
        cluster,
        serverless,
        auth: 'iam',
        poolMax: 4,
        connectOnInit: true,
        commandTimeoutMs: 500,
      });
      // The ElastiCache user the token is for, and the cache it is signed for.
      expect(config.endpoint?.username).toMatch(/^[a-z][a-z0-9-]+$/);
      expect(config.cacheName).toMatch(/^ref-cache/);
      expect(env[ENV_VARS.poolMax]).toBe('4');
    },
  );

  test("the function's security group may reach the cache's port, and nothing else may", () => {
    const { template, stack, fn, cache } = userStack();
    const fnSg = stack.getLogicalId(fn.connections.securityGroups[0]?.node.defaultChild as never);
    const cacheSg = stack.getLogicalId(cache.securityGroup.node.defaultChild as never);
    expect(resourcesOf(template, 'AWS::EC2::SecurityGroupIngress').map(([, r]) => r)).toEqual([
      expect.objectContaining({
        GroupId: { 'Fn::GetAtt': [cacheSg, 'GroupId'] },
        SourceSecurityGroupId: { 'Fn::GetAtt': [fnSg, 'GroupId'] },
        FromPort: 6380,
        ToPort: 6380,
      }),
    ]);
  });

  test('IAM by default: Connect on the cache and its user only, the IAM variables', () => {
    const { template, cache } = userStack();
    expect(cache.auth).toBe('iam');
    const [[, policy]] = resourcesOf(template, 'AWS::IAM::Policy') as [[string, Props]];
    expect(policy.PolicyDocument.Statement).toEqual([
      expect.objectContaining({ Action: 'elasticache:Connect', Resource: expect.any(Array) }),
    ]);
    expect(policy.PolicyDocument.Statement[0].Resource).toHaveLength(2);
    const env = environment(template);
    expect(env).toMatchObject({
      REDIS_AUTH: 'iam',
      REDIS_USER: cache.iamUser?.userId,
      REDIS_SERVERLESS: 'false',
    });
    // What the library needs for IAM: TLS, the user, the cache name, and the region Lambda sets.
    expect(loadConfig({ ...env, AWS_REGION: 'eu-west-1' })).toMatchObject({ auth: 'iam' });
  });

  test("auth 'none': no IAM user, no policy at all, no REDIS_AUTH", () => {
    const { template, cache } = userStack({ auth: 'none' });
    expect(cache.iamUser).toBeUndefined();
    expect(environment(template)[ENV_VARS.auth]).toBeUndefined();
    expect(resourcesOf(template, 'AWS::IAM::Policy')).toEqual([]);
  });

  test.each([false, true])(
    'discovery, serverless %s: no REDIS_URL, the library finds the cache by name, Describe on it only',
    (serverless) => {
      const { template, stack, cache } = userStack({ serverless, discovery: true });
      const env = environment(template);
      expect(env[ENV_VARS.url]).toBeUndefined();
      // Cluster mode comes from ElastiCache's answer, not from the deployment.
      expect(env[ENV_VARS.cluster]).toBeUndefined();
      const config = loadConfig({ ...env, AWS_REGION: 'eu-west-1' });
      expect(config.endpoint).toBeUndefined();
      expect(config).toMatchObject({ serverless, auth: 'iam' });
      expect(config.cacheName).toMatch(/^ref-cache/);

      const [[, policy]] = resourcesOf(template, 'AWS::IAM::Policy') as [[string, Props]];
      const describe = (policy.PolicyDocument.Statement as Props[]).filter((st) =>
        String(st.Action).startsWith('elasticache:Describe'),
      );
      expect(describe).toEqual([
        expect.objectContaining({
          Effect: 'Allow',
          Action: serverless
            ? 'elasticache:DescribeServerlessCaches'
            : 'elasticache:DescribeReplicationGroups',
          Resource: stack.resolve(cache.cacheArn),
        }),
      ]);
      // Without an endpoint to reach, the function gets no new network rule (NAT is the user's).
      expect(resourcesOf(template, 'AWS::EC2::VPCEndpoint')).toEqual([]);
      expect(resourcesOf(template, 'AWS::EC2::SecurityGroupIngress')).toHaveLength(1);
    },
  );

  test("discovery through an ElastiCacheApiEndpoint: private DNS, the function's subnets, 443 from it only", () => {
    const { template, stack, fn, endpoint } = userStack({ discovery: 'endpoint' });
    if (endpoint === undefined) throw new Error('no endpoint');
    const [, vpce] = onlyResource(template, 'AWS::EC2::VPCEndpoint');
    const [[, lambdaFn]] = resourcesOf(template, 'AWS::Lambda::Function') as [[string, Props]];
    expect(vpce).toMatchObject({ VpcEndpointType: 'Interface', PrivateDnsEnabled: true });
    expect(resolveValue(vpce.ServiceName)).toMatch(/^com\.amazonaws\..+\.elasticache$/);
    expect(vpce.SubnetIds).toEqual(lambdaFn.VpcConfig.SubnetIds);
    const endpointSg = stack.getLogicalId(endpoint.securityGroup.node.defaultChild as never);
    const fnSg = stack.getLogicalId(fn.connections.securityGroups[0]?.node.defaultChild as never);
    expect(vpce.SecurityGroupIds).toEqual([{ 'Fn::GetAtt': [endpointSg, 'GroupId'] }]);
    // The endpoint's security group: HTTPS from the function's, and no other way in.
    const endpointGroup = template.toJSON().Resources[endpointSg].Properties as Props;
    expect(endpointGroup.SecurityGroupIngress ?? []).toEqual([]);
    const intoEndpoint = resourcesOf(template, 'AWS::EC2::SecurityGroupIngress')
      .map(([, r]) => r)
      .filter((r) => r.GroupId?.['Fn::GetAtt']?.[0] === endpointSg);
    expect(intoEndpoint).toEqual([
      expect.objectContaining({
        SourceSecurityGroupId: { 'Fn::GetAtt': [fnSg, 'GroupId'] },
        IpProtocol: 'tcp',
        FromPort: 443,
        ToPort: 443,
      }),
    ]);
  });

  test('discovery through an endpoint you have: its security group admits the function on 443', () => {
    const { template, stack, fn } = userStack({
      discovery: (scope) => ({
        endpoint: ec2.InterfaceVpcEndpoint.fromInterfaceVpcEndpointAttributes(scope, 'Existing', {
          vpcEndpointId: 'vpce-0123456789abcdef0',
          port: 443,
          securityGroups: [ec2.SecurityGroup.fromSecurityGroupId(scope, 'ExistingSg', 'sg-0e1')],
        }),
      }),
    });
    const fnSg = stack.getLogicalId(fn.connections.securityGroups[0]?.node.defaultChild as never);
    expect(resourcesOf(template, 'AWS::EC2::VPCEndpoint')).toEqual([]);
    const intoExisting = resourcesOf(template, 'AWS::EC2::SecurityGroupIngress')
      .map(([, r]) => r)
      .filter((r) => r.GroupId === 'sg-0e1');
    expect(intoExisting).toEqual([
      expect.objectContaining({
        SourceSecurityGroupId: { 'Fn::GetAtt': [fnSg, 'GroupId'] },
        FromPort: 443,
        ToPort: 443,
      }),
    ]);
  });

  test('widgets and alarms use METRIC_NAMES in the namespace the function publishes to', () => {
    const { connection, template } = userStack({ options: { metricsNamespace: 'Shop/Orders' } });
    expect(connection.namespace).toBe('Shop/Orders');
    expect(connection.environment[ENV_VARS.metricsNamespace]).toBe('Shop/Orders');
    const alarms = resourcesOf(template, 'AWS::CloudWatch::Alarm').map(([, a]) => a);
    const pool = alarms.filter((a) => a.Namespace === 'Shop/Orders').map((a) => a.MetricName);
    expect(pool.sort()).toEqual([METRIC_NAMES.acquireErrors, METRIC_NAMES.acquireLatency].sort());
    const latency = alarms.find((a) => a.MetricName === METRIC_NAMES.acquireLatency);
    expect(latency?.Threshold).toBe(DEFAULTS.connectTimeoutMs / 2);
    expect(JSON.stringify(connection.widgets().map((w) => w.toJson()))).toContain(
      METRIC_NAMES.connectionReused,
    );
  });

  test('metrics off: no pool widgets and no pool alarms', () => {
    const { connection } = userStack({ options: { metrics: false } });
    expect(connection.widgets()).toEqual([]);
    expect(connection.alarms).toEqual([]);
  });

  test('refuses a function outside a VPC, and options the cache decides', () => {
    const stack = new Stack(testApp(), 'S');
    const vpc = new ec2.Vpc(stack, 'Vpc', { natGateways: 0 });
    const cache = new ValkeyCache(stack, 'Cache', { vpc });
    const outside = new lambda.Function(stack, 'Outside', {
      runtime: lambda.Runtime.NODEJS_24_X,
      handler: 'index.handler',
      code: lambda.Code.fromInline('export const handler = async () => 1;'),
    });
    expect(() => new RedisPoolConnection(stack, 'A', { function: outside, cache })).toThrow(
      /not in a VPC/,
    );
    const inside = new lambda.Function(stack, 'Inside', {
      runtime: lambda.Runtime.NODEJS_24_X,
      handler: 'index.handler',
      code: lambda.Code.fromInline('export const handler = async () => 1;'),
      vpc,
    });
    for (const [key, value] of [
      ['url', 'redis://elsewhere:6379'],
      ['auth', 'password'],
      ['cacheName', 'other'],
    ]) {
      const options = { [key as string]: value } as RedisPoolEnvironmentOptions;
      expect(
        () => new RedisPoolConnection(stack, `With-${key}`, { function: inside, cache, options }),
      ).toThrow(`options.${key} comes from the cache`);
    }
  });
});

describe('ValkeyCache', () => {
  test('cache alarms: connections at 80% of maxclients, across every node', () => {
    const { template, stack, cache } = userStack();
    const group = `ref-${stack.getLogicalId(cache.resource).toLowerCase()}`;
    const alarm = resourcesOf(template, 'AWS::CloudWatch::Alarm')
      .map(([, a]) => a)
      .find((a) =>
        (a.Metrics ?? []).some((m: Props) => m.MetricStat?.Metric.MetricName === 'CurrConnections'),
      );
    if (alarm === undefined) throw new Error('no CurrConnections alarm');
    expect(alarm.Threshold).toBe(0.8 * ELASTICACHE_MAX_CLIENTS);
    const nodes = (alarm.Metrics as Props[])
      .filter((m) => m.MetricStat !== undefined)
      .map((m) => resolveValue(m.MetricStat.Metric.Dimensions[0].Value));
    expect(nodes).toEqual([`${group}-001`, `${group}-002`]);
  });

  test('refuses a port outside 1024-65535, a port for serverless, and too few replicas', () => {
    const stack = new Stack(testApp(), 'S');
    const vpc = new ec2.Vpc(stack, 'Vpc', { natGateways: 0 });
    expect(() => new ValkeyCache(stack, 'A', { vpc, port: 80 })).toThrow(/port/);
    expect(() => new ValkeyCache(stack, 'B', { vpc, serverless: true, port: 7000 })).toThrow(
      /6379/,
    );
    expect(() => new ValkeyCache(stack, 'C', { vpc, replicas: 0 })).toThrow(/replicas/);
    // Refused before anything was built under it (no security group, subnet or user group).
    expect(stack.node.findChild('C').node.children).toEqual([]);
  });

  test('ElastiCache names: lowercase, a letter first, single hyphens, at most 40 characters', () => {
    const stack = new Stack(testApp(), 'A-Very-Long--Stack-Name-That-Goes-On-And-On-And-On');
    const deep = new ec2.Vpc(stack, '1Deeply--Nested_Construct-With-A-Long-Id', { natGateways: 0 });
    const name = elastiCacheName(deep);
    expect(name).toMatch(/^[a-z][a-z0-9]*(-[a-z0-9]+)*$/);
    expect(name.length).toBeLessThanOrEqual(40);
    // Different paths, different names (two stacks in one account and region).
    const other = new ec2.Vpc(new Stack(testApp(), 'Other'), 'Vpc', { natGateways: 0 });
    const another = new ec2.Vpc(new Stack(testApp(), 'Another'), 'Vpc', { natGateways: 0 });
    expect(elastiCacheName(other)).not.toBe(elastiCacheName(another));
  });
});
