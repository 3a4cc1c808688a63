// The deployment's template, for every variant (replication group or serverless × a new or an
// imported VPC × IAM or no authentication): what `cdk deploy` would create, asserted against
// the manifest and the library's own constants rather than against copies of their values.
// Nothing here talks to AWS: the app is synthesized in-process (test/cdk/support.ts).
import type { CfnElement } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';
import { beforeAll, describe, expect, test } from 'vitest';
import {
  API_GATEWAY_TIMEOUT_MS,
  FUNCTIONS,
  type FunctionKey,
  ROUTES,
} from '../../functions/manifest.js';
import { THROTTLING } from '../../lib/api.js';
import { METRIC_DIMENSION, METRIC_NAMES } from '../../src/metrics.js';
import { DEFAULTS } from '../../src/options.js';
import {
  DISCOVERY_VARIANTS,
  IMPORTED_VPC,
  onlyResource,
  type Props,
  resolveValue,
  resourcesOf,
  type Synthesized,
  synthesize,
  VARIANTS,
} from './support.js';

const FUNCTION_KEYS = Object.keys(FUNCTIONS) as FunctionKey[];

/** The logical id of a construct's resource (an L2's default child, or an L1 itself). */
function logicalId(s: Synthesized, construct: IConstruct): string {
  return s.stack.getLogicalId((construct.node.defaultChild ?? construct) as CfnElement);
}

/** Every IAM statement of the template (policies and roles' inline policies). */
function statements(s: Synthesized): Props[] {
  const documents = [
    ...resourcesOf(s.template, 'AWS::IAM::Policy').map(([, p]) => p.PolicyDocument),
    ...resourcesOf(s.template, 'AWS::IAM::Role').flatMap(([, p]) =>
      (p.Policies ?? []).map((policy: Props) => policy.PolicyDocument),
    ),
  ];
  return documents.flatMap((document) => document.Statement as Props[]);
}

const asArray = <T>(value: T | T[]): T[] => (Array.isArray(value) ? value : [value]);

/** The dashboard's body as JSON, references replaced by `ref-<logical id in lowercase>`. */
function dashboardBody(s: Synthesized): { widgets: Props[] } {
  const [, dashboard] = onlyResource(s.template, 'AWS::CloudWatch::Dashboard');
  return JSON.parse(resolveValue(dashboard.DashboardBody));
}

/** [namespace, metric name, dimension name, dimension value] of each metric on the dashboard. */
function dashboardMetrics(s: Synthesized): string[][] {
  return dashboardBody(s).widgets.flatMap((widget) =>
    ((widget.properties?.metrics ?? []) as unknown[][])
      .filter((m) => typeof m[0] === 'string')
      .map((m) => m.filter((part) => typeof part === 'string') as string[]),
  );
}

describe.each(VARIANTS)('the stack: $name', (variant) => {
  let s: Synthesized;
  const serverless = variant.cache === 'serverless';
  const iam = variant.auth === 'iam';

  beforeAll(() => {
    s = synthesize(variant.context);
  });

  test('the cache is Valkey, encrypted in transit and at rest', () => {
    if (serverless) {
      const [, cache] = onlyResource(s.template, 'AWS::ElastiCache::ServerlessCache');
      // ElastiCache Serverless always encrypts in transit and at rest: nothing can turn it off.
      expect(cache).toMatchObject({ Engine: 'valkey', MajorEngineVersion: '8' });
    } else {
      const [, group] = onlyResource(s.template, 'AWS::ElastiCache::ReplicationGroup');
      expect(group).toMatchObject({
        Engine: 'valkey',
        TransitEncryptionEnabled: true,
        TransitEncryptionMode: 'required',
        AtRestEncryptionEnabled: true,
      });
      const [, parameters] = onlyResource(s.template, 'AWS::ElastiCache::ParameterGroup');
      expect(parameters.CacheParameterGroupFamily).toBe('valkey8');
      expect(group.CacheParameterGroupName).toEqual({
        Ref: logicalId(s, s.stack.cache.node.findChild('ParameterGroup')),
      });
    }
    // And the functions are told to use TLS.
    for (const key of FUNCTION_KEYS) {
      const env = functionProps(s, key).Environment.Variables;
      expect(resolveValue(env.REDIS_URL)).toMatch(/^rediss:\/\/getatt\.example\.internal:\d+$/);
    }
  });

  test('Multi-AZ: a replica in another AZ with automatic failover, or serverless over 2 AZs', () => {
    const functionSubnets = functionProps(s, 'health').VpcConfig.SubnetIds;
    expect(functionSubnets).toHaveLength(2);
    if (serverless) {
      const [, cache] = onlyResource(s.template, 'AWS::ElastiCache::ServerlessCache');
      expect(cache.SubnetIds).toEqual(functionSubnets);
    } else {
      const [, group] = onlyResource(s.template, 'AWS::ElastiCache::ReplicationGroup');
      expect(group).toMatchObject({ MultiAZEnabled: true, AutomaticFailoverEnabled: true });
      expect(group.NumCacheClusters).toBeGreaterThanOrEqual(2);
      const [subnetGroupId, subnetGroup] = onlyResource(
        s.template,
        'AWS::ElastiCache::SubnetGroup',
      );
      expect(group.CacheSubnetGroupName).toEqual({ Ref: subnetGroupId });
      expect(subnetGroup.SubnetIds).toEqual(functionSubnets);
    }
    if (variant.vpc === 'imported') {
      expect(functionSubnets).toEqual(IMPORTED_VPC.subnetIds.split(','));
    } else {
      const azs = resourcesOf(s.template, 'AWS::EC2::Subnet').map(([, subnet]) =>
        JSON.stringify(subnet.AvailabilityZone),
      );
      expect(new Set(azs).size).toBe(2);
    }
  });

  test("the cache admits only the functions' security group, on its own port(s)", () => {
    const cacheSg = logicalId(s, s.stack.cache.securityGroup);
    const functionsSg = logicalId(s, s.stack.functionsSecurityGroup);
    const ports = serverless ? [6379, 6380] : [s.stack.cache.port, s.stack.cache.port];
    if (!serverless) expect(s.stack.cache.port).not.toBe(6379);

    const ingress = resourcesOf(s.template, 'AWS::EC2::SecurityGroupIngress').map(([, r]) => r);
    expect(ingress).toEqual([
      {
        Description: expect.any(String),
        GroupId: { 'Fn::GetAtt': [cacheSg, 'GroupId'] },
        SourceSecurityGroupId: { 'Fn::GetAtt': [functionsSg, 'GroupId'] },
        IpProtocol: 'tcp',
        FromPort: ports[0],
        ToPort: ports[1],
      },
    ]);
    // No inline ingress at all, and no rule from an address range anywhere.
    for (const [, group] of resourcesOf(s.template, 'AWS::EC2::SecurityGroup')) {
      expect(group.SecurityGroupIngress ?? []).toEqual([]);
    }
    // The cache opens nothing outwards; the functions only reach the cache.
    expect(
      resourcesOf(s.template, 'AWS::EC2::SecurityGroup').find(([id]) => id === cacheSg)?.[1],
    ).toMatchObject({ SecurityGroupEgress: [{ CidrIp: '255.255.255.255/32' }] });
    const egress = resourcesOf(s.template, 'AWS::EC2::SecurityGroupEgress').map(([, r]) => r);
    expect(egress).toEqual([
      expect.objectContaining({
        GroupId: { 'Fn::GetAtt': [functionsSg, 'GroupId'] },
        DestinationSecurityGroupId: { 'Fn::GetAtt': [cacheSg, 'GroupId'] },
        FromPort: ports[0],
        ToPort: ports[1],
      }),
    ]);
    for (const key of FUNCTION_KEYS) {
      expect(functionProps(s, key).VpcConfig.SecurityGroupIds).toEqual([
        { 'Fn::GetAtt': [functionsSg, 'GroupId'] },
      ]);
    }
  });

  test('nothing public: no internet or NAT gateway, no public subnet, no default route', () => {
    for (const type of [
      'AWS::EC2::InternetGateway',
      'AWS::EC2::EgressOnlyInternetGateway',
      'AWS::EC2::VPCGatewayAttachment',
      'AWS::EC2::NatGateway',
      'AWS::EC2::EIP',
    ]) {
      expect(resourcesOf(s.template, type), type).toEqual([]);
    }
    for (const [, route] of resourcesOf(s.template, 'AWS::EC2::Route')) {
      expect(route.DestinationCidrBlock).not.toBe('0.0.0.0/0');
    }
    const subnets = resourcesOf(s.template, 'AWS::EC2::Subnet');
    for (const [, subnet] of subnets) expect(subnet.MapPublicIpOnLaunch).toBe(false);
    if (variant.vpc === 'imported') {
      // The user's VPC is used as it is: nothing of it is created or changed.
      expect(resourcesOf(s.template, 'AWS::EC2::VPC')).toEqual([]);
      expect(subnets).toEqual([]);
    } else {
      expect(subnets).toHaveLength(2);
      expect(resourcesOf(s.template, 'AWS::EC2::FlowLog')).toHaveLength(1);
    }
  });

  test(
    iam
      ? 'IAM auth: a user named after its id, the default user off, Connect on exactly both ARNs'
      : 'no auth: no ElastiCache user, and no ElastiCache permission for anyone',
    () => {
      const elastiCacheStatements = statements(s).filter((st) =>
        asArray(st.Action).some((action: string) => action.startsWith('elasticache:')),
      );
      if (!iam) {
        expect(resourcesOf(s.template, 'AWS::ElastiCache::User')).toEqual([]);
        expect(resourcesOf(s.template, 'AWS::ElastiCache::UserGroup')).toEqual([]);
        expect(elastiCacheStatements).toEqual([]);
        for (const key of FUNCTION_KEYS) {
          expect(functionProps(s, key).Environment.Variables.REDIS_AUTH).toBeUndefined();
        }
        return;
      }
      const users = resourcesOf(s.template, 'AWS::ElastiCache::User');
      const iamUsers = users.filter(([, u]) => u.AuthenticationMode?.Type === 'iam');
      const defaults = users.filter(([, u]) => u.UserName === 'default');
      expect(users).toHaveLength(2);
      const [[userId, user]] = iamUsers as [[string, Props]];
      const [[defaultId, defaultUser]] = defaults as [[string, Props]];
      expect(user.UserName).toBe(user.UserId);
      expect(user.UserId).toMatch(/^[a-z][a-z0-9-]{0,39}$/);
      expect(defaultUser.AccessString).toMatch(/^off\b/);
      expect(defaultUser.AuthenticationMode).toEqual({ Type: 'no-password-required' });
      const [groupId, group] = onlyResource(s.template, 'AWS::ElastiCache::UserGroup');
      expect(group.UserIds).toEqual([{ Ref: defaultId }, { Ref: userId }]);

      const cacheId = logicalId(s, s.stack.cache.resource);
      const cacheArn = serverless
        ? { 'Fn::GetAtt': [cacheId, 'ARN'] }
        : {
            'Fn::Join': [
              '',
              [
                'arn:',
                { Ref: 'AWS::Partition' },
                ':elasticache:',
                { Ref: 'AWS::Region' },
                ':',
                { Ref: 'AWS::AccountId' },
                ':replicationgroup:',
                { Ref: cacheId },
              ],
            ],
          };
      const cache = s.template.toJSON().Resources[cacheId].Properties;
      if (serverless) expect(cache.UserGroupId).toEqual({ Ref: groupId });
      else expect(cache.UserGroupIds).toEqual([{ Ref: groupId }]);

      // One statement per function role, each on exactly the cache and the user.
      expect(elastiCacheStatements).toHaveLength(FUNCTION_KEYS.length);
      for (const statement of elastiCacheStatements) {
        expect(statement.Effect).toBe('Allow');
        expect(asArray(statement.Action)).toEqual(['elasticache:Connect']);
        expect(asArray(statement.Resource)).toHaveLength(2);
        expect(asArray(statement.Resource)).toEqual(
          expect.arrayContaining([cacheArn, { 'Fn::GetAtt': [userId, 'Arn'] }]),
        );
      }
      for (const key of FUNCTION_KEYS) {
        expect(functionProps(s, key).Environment.Variables).toMatchObject({
          REDIS_AUTH: 'iam',
          REDIS_USER: user.UserId,
          REDIS_CACHE_NAME: { Ref: cacheId },
          REDIS_SERVERLESS: String(serverless),
        });
      }
    },
  );

  test('no statement of any role grants anything on every resource of ElastiCache', () => {
    for (const statement of statements(s)) {
      const actions = asArray(statement.Action) as string[];
      expect(actions).not.toContain('elasticache:*');
      if (actions.some((a) => a.startsWith('elasticache:'))) {
        expect(asArray(statement.Resource)).not.toContain('*');
      }
    }
  });

  test("the functions: the manifest's runtime settings and the library's configuration", () => {
    for (const key of FUNCTION_KEYS) {
      const fn = functionProps(s, key);
      const definition = FUNCTIONS[key];
      expect(fn).toMatchObject({
        Runtime: 'nodejs24.x',
        Architectures: ['arm64'],
        Handler: `index.${definition.handler}`,
        Timeout: definition.timeoutMs / 1000,
        MemorySize: definition.memoryMb,
        Description: definition.description,
      });
      expect(fn.Environment.Variables).toMatchObject({
        NODE_OPTIONS: '--enable-source-maps',
        REDIS_CLUSTER: String(serverless),
      });
    }
    expect(FUNCTIONS.health.timeoutMs / 1000).toBe(3);
    expect(FUNCTIONS.throughput.timeoutMs / 1000).toBe(29);
  });

  test('the throughput function has its reserved concurrency; health has none', () => {
    expect(functionProps(s, 'throughput').ReservedConcurrentExecutions).toBe(
      FUNCTIONS.throughput.reservedConcurrency,
    );
    expect(functionProps(s, 'health').ReservedConcurrentExecutions).toBeUndefined();
  });

  test('every log group has a retention: the functions’, the API’s access logs, flow logs', () => {
    const groups = resourcesOf(s.template, 'AWS::Logs::LogGroup');
    expect(groups.length).toBeGreaterThanOrEqual(3);
    for (const [, group] of groups) expect(group.RetentionInDays).toBe(30);
    const groupIds = new Set(groups.map(([id]) => id));
    for (const key of FUNCTION_KEYS) {
      const { LogGroup } = functionProps(s, key).LoggingConfig;
      expect(groupIds.has(LogGroup.Ref)).toBe(true);
    }
    const [, stage] = onlyResource(s.template, 'AWS::ApiGateway::Stage');
    const destination = resolveValue(stage.AccessLogSetting.DestinationArn);
    expect([...groupIds].some((id) => destination.endsWith(`ref-${id.toLowerCase()}`))).toBe(true);
  });

  test("the REST API serves exactly the manifest's routes; the throughput route is AWS_IAM", () => {
    const paths = resourcePaths(s);
    const methods = resourcesOf(s.template, 'AWS::ApiGateway::Method').map(([, m]) => ({
      route: `${m.HttpMethod} ${paths.get(m.ResourceId.Ref)}`,
      auth: m.AuthorizationType,
      integration: m.Integration.Type,
      timeout: m.Integration.TimeoutInMillis,
      fn: JSON.stringify(m.Integration.Uri).match(/"Fn::GetAtt":\["(\w+)","Arn"\]/)?.[1],
    }));
    const expected = ROUTES.flatMap((route) =>
      route.methods.map((method) => ({
        route: `${method} ${route.resource}`,
        auth: route.auth === 'iam' ? 'AWS_IAM' : 'NONE',
        integration: 'AWS_PROXY',
        timeout: API_GATEWAY_TIMEOUT_MS,
        fn: logicalId(s, s.stack.functions[route.fn]),
      })),
    );
    expect(methods.sort(byRoute)).toEqual(expected.sort(byRoute));
    expect(methods.find((m) => m.route === 'GET /api/v1/test/redis')?.auth).toBe('AWS_IAM');
  });

  test('the stage and each route are throttled; errors are logged without bodies', () => {
    const [, stage] = onlyResource(s.template, 'AWS::ApiGateway::Stage');
    const settings = stage.MethodSettings as Props[];
    expect(settings).toContainEqual(
      expect.objectContaining({
        ResourcePath: '/*',
        HttpMethod: '*',
        ThrottlingRateLimit: THROTTLING.stage.rate,
        ThrottlingBurstLimit: THROTTLING.stage.burst,
        LoggingLevel: 'ERROR',
        DataTraceEnabled: false,
      }),
    );
    for (const route of ROUTES) {
      for (const method of route.methods) {
        expect(settings).toContainEqual(
          expect.objectContaining({
            ResourcePath: `/${route.resource.replaceAll('/', '~1')}`,
            HttpMethod: method,
            ThrottlingRateLimit: THROTTLING.routes[route.fn].rate,
            ThrottlingBurstLimit: THROTTLING.routes[route.fn].burst,
          }),
        );
      }
    }
    expect(THROTTLING.routes.health.rate).toBeLessThan(THROTTLING.stage.rate);
  });

  test("the dashboard shows the pool's metrics by METRIC_NAMES, per function, and the cache's", () => {
    const metrics = dashboardMetrics(s);
    for (const key of FUNCTION_KEYS) {
      const fn = `ref-${logicalId(s, s.stack.functions[key]).toLowerCase()}`;
      for (const name of [
        METRIC_NAMES.acquireLatency,
        METRIC_NAMES.connectionReused,
        METRIC_NAMES.acquireErrors,
        METRIC_NAMES.connectionsCreated,
        METRIC_NAMES.validationFailures,
      ]) {
        expect(metrics).toContainEqual([DEFAULTS.metricsNamespace, name, METRIC_DIMENSION, fn]);
      }
      for (const name of ['Errors', 'Throttles', 'Duration']) {
        expect(metrics).toContainEqual(['AWS/Lambda', name, 'FunctionName', fn]);
      }
    }
    const latency = dashboardBody(s)
      .widgets.flatMap((w) => (w.properties?.metrics ?? []) as unknown[][])
      .filter((m) => m[1] === METRIC_NAMES.acquireLatency)
      .map((m) => (m.at(-1) as Props).stat);
    expect(latency).toEqual(expect.arrayContaining(['p50', 'p99']));
    const cacheMetrics = metrics.filter((m) => m[0] === 'AWS/ElastiCache').map((m) => m[1]);
    expect(cacheMetrics).toEqual(
      expect.arrayContaining(
        serverless
          ? ['CurrConnections', 'ElastiCacheProcessingUnits', 'ThrottledCmds']
          : ['CurrConnections', 'EngineCPUUtilization', 'ReplicationLag'],
      ),
    );
  });

  test("alarms: the pool's acquire errors and latency per function, the cache, the functions", () => {
    const alarms = resourcesOf(s.template, 'AWS::CloudWatch::Alarm').map(([, a]) => a);
    const alarmMetrics = alarms.flatMap((alarm) =>
      alarm.MetricName !== undefined
        ? [{ namespace: alarm.Namespace, name: alarm.MetricName, dims: alarm.Dimensions }]
        : (alarm.Metrics as Props[])
            .filter((m) => m.MetricStat !== undefined)
            .map((m) => ({
              namespace: m.MetricStat.Metric.Namespace,
              name: m.MetricStat.Metric.MetricName,
              dims: m.MetricStat.Metric.Dimensions,
            })),
    );
    for (const key of FUNCTION_KEYS) {
      const dims = [
        { Name: METRIC_DIMENSION, Value: { Ref: logicalId(s, s.stack.functions[key]) } },
      ];
      for (const name of [METRIC_NAMES.acquireErrors, METRIC_NAMES.acquireLatency]) {
        expect(alarmMetrics).toContainEqual({ namespace: DEFAULTS.metricsNamespace, name, dims });
      }
      expect(alarmMetrics).toContainEqual({
        namespace: 'AWS/Lambda',
        name: 'Errors',
        dims: [{ Name: 'FunctionName', Value: { Ref: logicalId(s, s.stack.functions[key]) } }],
      });
    }
    const cacheAlarms = alarmMetrics.filter((m) => m.namespace === 'AWS/ElastiCache');
    expect(cacheAlarms.map((m) => m.name)).toEqual(
      expect.arrayContaining(
        serverless
          ? ['CurrConnections', 'ThrottledCmds']
          : ['CurrConnections', 'EngineCPUUtilization', 'ReplicationLag'],
      ),
    );
    // Without a topic in the context, alarms notify no one (they still show on the dashboard).
    for (const alarm of alarms) expect(alarm.AlarmActions).toBeUndefined();
  });

  test('outputs: the API, both routes, the cache endpoint and the dashboard', () => {
    const outputs = s.template.toJSON().Outputs as Props;
    expect(Object.keys(outputs)).toEqual(
      expect.arrayContaining([
        'ApiUrl',
        'CacheEndpoint',
        'DashboardUrl',
        'HealthUrl',
        'ThroughputUrl',
      ]),
    );
    expect(resolveValue(outputs.CacheEndpoint.Value)).toMatch(/^getatt\.example\.internal:\d+$/);
    expect(resolveValue(outputs.HealthUrl.Value)).toMatch(/\/api\/v1\/health$/);
    expect(resolveValue(outputs.ThroughputUrl.Value)).toMatch(/\/api\/v1\/test\/redis$/);
    expect(resolveValue(outputs.DashboardUrl.Value)).toMatch(/#dashboards:name=ref-dashboard/);
  });
});

describe.each(DISCOVERY_VARIANTS)('-c discovery=true: $name', (variant) => {
  test('the functions find the cache by name through one ElastiCache endpoint in their subnets', () => {
    const s = synthesize(variant.context);
    const endpoint = s.stack.elastiCacheApi;
    if (endpoint === undefined) throw new Error('no ElastiCache API endpoint');
    const [, vpce] = onlyResource(s.template, 'AWS::EC2::VPCEndpoint');
    expect(vpce).toMatchObject({ VpcEndpointType: 'Interface', PrivateDnsEnabled: true });
    expect(resolveValue(vpce.ServiceName)).toMatch(/\.elasticache$/);
    const endpointSg = logicalId(s, endpoint.securityGroup);
    const functionsSg = logicalId(s, s.stack.functionsSecurityGroup);
    expect(vpce.SecurityGroupIds).toEqual([{ 'Fn::GetAtt': [endpointSg, 'GroupId'] }]);
    // Not open to the VPC's address range: no inline rule on the endpoint's security group.
    const endpointGroup = s.template.toJSON().Resources[endpointSg].Properties as Props;
    expect(endpointGroup.SecurityGroupIngress ?? []).toEqual([]);

    // HTTPS from the functions' security group into the endpoint's, and out of theirs to it.
    const rules = (type: string, groupOf: (r: Props) => unknown) =>
      resourcesOf(s.template, type)
        .map(([, r]) => r)
        .filter((r) => r.FromPort === 443 || groupOf(r) === endpointSg);
    expect(rules('AWS::EC2::SecurityGroupIngress', (r) => r.GroupId?.['Fn::GetAtt']?.[0])).toEqual([
      expect.objectContaining({
        GroupId: { 'Fn::GetAtt': [endpointSg, 'GroupId'] },
        SourceSecurityGroupId: { 'Fn::GetAtt': [functionsSg, 'GroupId'] },
        FromPort: 443,
        ToPort: 443,
      }),
    ]);
    expect(rules('AWS::EC2::SecurityGroupEgress', (r) => r.GroupId?.['Fn::GetAtt']?.[0])).toEqual([
      expect.objectContaining({
        GroupId: { 'Fn::GetAtt': [functionsSg, 'GroupId'] },
        DestinationSecurityGroupId: { 'Fn::GetAtt': [endpointSg, 'GroupId'] },
        FromPort: 443,
        ToPort: 443,
      }),
    ]);

    const cacheId = logicalId(s, s.stack.cache.resource);
    const describeAction =
      variant.cache === 'serverless'
        ? 'elasticache:DescribeServerlessCaches'
        : 'elasticache:DescribeReplicationGroups';
    const describes = statements(s).filter((st) => asArray(st.Action).includes(describeAction));
    // One per function role, on exactly the cache.
    expect(describes).toHaveLength(FUNCTION_KEYS.length);
    for (const statement of describes) {
      expect(statement.Resource).toEqual(s.stack.resolve(s.stack.cache.cacheArn));
    }
    for (const key of FUNCTION_KEYS) {
      const fn = functionProps(s, key);
      expect(fn.VpcConfig.SubnetIds).toEqual(vpce.SubnetIds);
      const variables = fn.Environment.Variables;
      expect(variables.REDIS_URL).toBeUndefined();
      expect(variables.REDIS_CLUSTER).toBeUndefined();
      expect(variables.REDIS_CACHE_NAME).toEqual({ Ref: cacheId });
    }
  });
});

describe('context options', () => {
  test('alarmTopicArn: every alarm notifies the topic, on alarm and on recovery', () => {
    const topic = 'arn:aws:sns:eu-west-1:123456789012:ops-alarms';
    const { template } = synthesize({ alarmTopicArn: topic });
    const alarms = resourcesOf(template, 'AWS::CloudWatch::Alarm');
    expect(alarms.length).toBeGreaterThanOrEqual(8);
    for (const [, alarm] of alarms) {
      expect(alarm.AlarmActions).toEqual([topic]);
      expect(alarm.OKActions).toEqual([topic]);
    }
  });

  test('discovery is off by default: no VPC endpoint, the endpoint in REDIS_URL', () => {
    const s = synthesize({});
    expect(s.stack.elastiCacheApi).toBeUndefined();
    expect(resourcesOf(s.template, 'AWS::EC2::VPCEndpoint')).toEqual([]);
    for (const key of FUNCTION_KEYS) {
      expect(resolveValue(functionProps(s, key).Environment.Variables.REDIS_URL)).toMatch(
        /^rediss:\/\//,
      );
    }
  });

  test('throughputConcurrency resizes the reservation', () => {
    const s = synthesize({ throughputConcurrency: '3' });
    expect(functionProps(s, 'throughput').ReservedConcurrentExecutions).toBe(3);
  });

  test('bad values fail the synth naming each one', () => {
    const bad = {
      cache: 'memcached',
      auth: 'password',
      vpcId: 'vpc-0abc',
      throughputConcurrency: '0',
      discovery: 'yes',
    };
    let message = '';
    try {
      synthesize(bad);
    } catch (error) {
      message = String(error);
    }
    for (const problem of [
      'cache: expected replication',
      'auth: expected iam',
      'throughputConcurrency: expected',
      'discovery: expected false',
      'subnetIds: expected at least two',
      'availabilityZones: expected',
    ]) {
      expect(message).toContain(problem);
    }
  });
});

function functionProps(s: Synthesized, key: FunctionKey): Props {
  const id = logicalId(s, s.stack.functions[key]);
  return s.template.toJSON().Resources[id].Properties;
}

/** API Gateway resource logical id → its full path. */
function resourcePaths(s: Synthesized): Map<string, string> {
  const resources = new Map(resourcesOf(s.template, 'AWS::ApiGateway::Resource'));
  const pathOf = (id: string): string => {
    const resource = resources.get(id);
    if (resource === undefined) return '';
    const parent = resource.ParentId.Ref ?? '';
    return `${pathOf(parent)}/${resource.PathPart}`;
  };
  return new Map([...resources.keys()].map((id) => [id, pathOf(id)]));
}

function byRoute(a: { route: string }, b: { route: string }): number {
  return a.route.localeCompare(b.route);
}
