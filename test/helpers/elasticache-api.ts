/**
 * A local stand-in for the ElastiCache API: an HTTP server on loopback that speaks the AWS Query
 * protocol the SDK uses for ElastiCache (form-encoded POST, XML answers in the
 * `http://elasticache.amazonaws.com/doc/2015-02-02/` namespace, XML errors), for the caches a
 * test registers, pointing at local redis-servers. The SDK reaches it through its ordinary
 * endpoint configuration: `AWS_ENDPOINT_URL_ELASTICACHE` (see `env`).
 *
 *   const api = await startElastiCacheApi();
 *   api.putReplicationGroup('orders', { primary: { host: '127.0.0.1', port } });
 *   new RedisPool({}, { ...api.env, REDIS_CACHE_NAME: 'orders' });
 *   api.calls   // what was asked, in order
 *
 * Actions: DescribeReplicationGroups, DescribeServerlessCaches, DescribeEvents (the events a test
 * records with `event`); others (TestFailover, …) via `handle`. Errors as
 * ElastiCache sends them: ReplicationGroupNotFoundFault, ServerlessCacheNotFoundFault (404),
 * AccessDenied (403, `deny`). A request without a SigV4 Authorization header for the
 * `elasticache` service is refused as AWS would (MissingAuthenticationToken).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeAll, beforeEach } from 'vitest';
import { setEnv } from './env.js';

export const NAMESPACE = 'http://elasticache.amazonaws.com/doc/2015-02-02/';
export const REGION = 'eu-west-1';
export const ACCOUNT = '123456789012';

export interface Endpoint {
  readonly host: string;
  readonly port: number;
}

export interface ReplicationGroupSpec {
  /** Default `available`. */
  readonly status?: string;
  /** Cluster mode enabled: the configuration endpoint is the one to use. Default false. */
  readonly clusterEnabled?: boolean;
  /** TransitEncryptionEnabled. Default false. */
  readonly tls?: boolean;
  /** The primary endpoint of node group 0001 (cluster mode disabled). */
  readonly primary?: Endpoint;
  /** The configuration endpoint (cluster mode enabled). */
  readonly configuration?: Endpoint;
  /** Default false. */
  readonly automaticFailover?: boolean;
  /** The cache clusters of node group 0001 (MemberClusters, NodeGroupMembers), with their roles. */
  readonly members?: readonly MemberSpec[];
}

export interface MemberSpec {
  /** The cache cluster id, e.g. `orders-001`. */
  readonly id: string;
  readonly role: 'primary' | 'replica';
}

export type EventSourceType = 'replication-group' | 'cache-cluster';

export interface ServerlessCacheSpec {
  /** Default `available`. */
  readonly status?: string;
  readonly endpoint?: Endpoint;
}

export interface ApiCall {
  readonly action: string;
  /** The form parameters, Action and Version included. */
  readonly params: Readonly<Record<string, string>>;
  /** The SigV4 credential scope the SDK signed with: `AKID/date/region/elasticache/aws4_request`. */
  readonly credential: string | undefined;
}

/** Answers an action the stand-in does not know itself: `xml` goes inside `<ActionResult>`. */
export type ActionHandler = (
  params: Readonly<Record<string, string>>,
) => { readonly status?: number; readonly xml: string } | Promise<{ readonly xml: string }>;

export interface ElastiCacheApi {
  /** http://127.0.0.1:PORT */
  readonly url: string;
  /** The environment that points the AWS SDK at this stand-in, with fixed test credentials. */
  readonly env: Readonly<Record<string, string>>;
  /** Every request, in order. */
  readonly calls: ApiCall[];
  /** Registers (or replaces: a flipped endpoint, a new status) a replication group. */
  putReplicationGroup(id: string, spec: ReplicationGroupSpec): void;
  /** Registers (or replaces) a serverless cache. */
  putServerlessCache(name: string, spec: ServerlessCacheSpec): void;
  /** Removes a cache of either kind. */
  remove(name: string): void;
  /** Answers `action` with AccessDenied (true) or normally again (false). */
  deny(action: string, denied?: boolean): void;
  /** Holds every answer to `action` until `release()` is called (an unreachable API). */
  hold(action: string): { release(): void };
  /** Records an event, dated now, for DescribeEvents. */
  event(sourceId: string, sourceType: EventSourceType, message: string): void;
  /** Serves another action (TestFailover, …). */
  handle(action: string, handler: ActionHandler): void;
  close(): Promise<void>;
}

/**
 * For a test file whose code reaches ElastiCache through the AWS SDK: a fresh stand-in for each
 * test, with the process environment (the SDK reads its endpoint, region and credentials
 * there) pointing at it while the test runs. The SDK is loaded once up front: on a loaded
 * machine its first import alone can outlast the short deadlines some tests give.
 */
export function useElastiCacheApi(): { readonly api: ElastiCacheApi } {
  const current = {} as { api: ElastiCacheApi };
  let restoreEnv = () => {};
  beforeAll(async () => {
    await import('@aws-sdk/client-elasticache');
  });
  beforeEach(async () => {
    current.api = await startElastiCacheApi();
    restoreEnv = setEnv(current.api.env);
  });
  afterEach(async () => {
    restoreEnv();
    await current.api.close();
  });
  return current;
}

export async function startElastiCacheApi(): Promise<ElastiCacheApi> {
  const groups = new Map<string, ReplicationGroupSpec>();
  const serverless = new Map<string, ServerlessCacheSpec>();
  const denied = new Set<string>();
  const held = new Map<string, Array<() => void>>();
  const handlers = new Map<string, ActionHandler>();
  const events: Array<{ date: Date; sourceId: string; sourceType: string; message: string }> = [];
  const calls: ApiCall[] = [];

  const serve = async (request: IncomingMessage, response: ServerResponse) => {
    const body = await readBody(request);
    const params = Object.fromEntries(new URLSearchParams(body));
    const action = params.Action ?? '';
    const authorization = request.headers.authorization ?? '';
    const credential = /Credential=([^,\s]+)/.exec(authorization)?.[1];
    calls.push({ action, params, credential });
    const waiting = held.get(action);
    if (waiting) await new Promise<void>((resolve) => waiting.push(resolve));
    if (request.method !== 'POST' || !credential?.endsWith('/elasticache/aws4_request')) {
      return sendError(
        response,
        403,
        'MissingAuthenticationToken',
        'Request is missing a SigV4 signature for elasticache',
      );
    }
    if (denied.has(action)) {
      const resource = params.ServerlessCacheName
        ? `arn:aws:elasticache:${REGION}:${ACCOUNT}:serverlesscache:${params.ServerlessCacheName}`
        : `arn:aws:elasticache:${REGION}:${ACCOUNT}:replicationgroup:${params.ReplicationGroupId ?? '*'}`;
      return sendError(
        response,
        403,
        'AccessDenied',
        `User: arn:aws:sts::${ACCOUNT}:assumed-role/test-role/test is not authorized to perform: elasticache:${action} on resource: ${resource} because no identity-based policy allows the elasticache:${action} action`,
      );
    }
    switch (action) {
      case 'DescribeReplicationGroups': {
        const id = params.ReplicationGroupId;
        const group = id === undefined ? undefined : groups.get(id);
        if (id === undefined || !group) {
          return sendError(
            response,
            404,
            'ReplicationGroupNotFoundFault',
            `ReplicationGroup ${id} not found.`,
          );
        }
        return sendResult(
          response,
          action,
          `<ReplicationGroups><ReplicationGroup>${replicationGroupXml(id, group)}</ReplicationGroup></ReplicationGroups>`,
        );
      }
      case 'DescribeServerlessCaches': {
        const name = params.ServerlessCacheName;
        const cache = name === undefined ? undefined : serverless.get(name);
        if (name === undefined || !cache) {
          return sendError(
            response,
            404,
            'ServerlessCacheNotFoundFault',
            `Serverless cache ${name} not found.`,
          );
        }
        return sendResult(
          response,
          action,
          `<ServerlessCaches><member>${serverlessXml(name, cache)}</member></ServerlessCaches>`,
        );
      }
      case 'DescribeEvents': {
        const from = params.StartTime ? Date.parse(params.StartTime) : 0;
        const to = params.EndTime ? Date.parse(params.EndTime) : Number.POSITIVE_INFINITY;
        const matching = events.filter(
          (e) =>
            e.date.getTime() >= from &&
            e.date.getTime() <= to &&
            (params.SourceIdentifier === undefined || e.sourceId === params.SourceIdentifier) &&
            (params.SourceType === undefined || e.sourceType === params.SourceType),
        );
        return sendResult(response, action, `<Events>${matching.map(eventXml).join('')}</Events>`);
      }
      default: {
        const handler = handlers.get(action);
        if (!handler)
          return sendError(response, 400, 'InvalidAction', `Could not find operation ${action}`);
        const result = await handler(params);
        return sendResult(response, action, result.xml);
      }
    }
  };

  const server = createServer((request, response) => {
    serve(request, response).catch((error: unknown) => {
      sendError(response, 500, 'InternalFailure', String(error));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url,
    env: {
      AWS_ENDPOINT_URL_ELASTICACHE: url,
      AWS_REGION: REGION,
      AWS_ACCESS_KEY_ID: 'AKIDSTANDINELASTICACHE',
      AWS_SECRET_ACCESS_KEY: 'stand-in-secret-key-for-elasticache-tests',
    },
    calls,
    putReplicationGroup: (id, spec) => {
      groups.set(id, spec);
    },
    putServerlessCache: (name, spec) => {
      serverless.set(name, spec);
    },
    remove: (name) => {
      groups.delete(name);
      serverless.delete(name);
    },
    deny: (action, isDenied = true) => {
      if (isDenied) denied.add(action);
      else denied.delete(action);
    },
    hold: (action) => {
      const waiting: Array<() => void> = [];
      held.set(action, waiting);
      return {
        release: () => {
          held.delete(action);
          for (const resolve of waiting.splice(0)) resolve();
        },
      };
    },
    event: (sourceId, sourceType, message) => {
      events.push({ date: new Date(), sourceId, sourceType, message });
    },
    handle: (action, handler) => {
      handlers.set(action, handler);
    },
    close: async () => {
      for (const waiting of held.values()) for (const resolve of waiting.splice(0)) resolve();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    request.on('error', reject);
  });
}

function sendResult(response: ServerResponse, action: string, resultXml: string): void {
  send(
    response,
    200,
    `<${action}Response xmlns="${NAMESPACE}"><${action}Result>${resultXml}</${action}Result><ResponseMetadata><RequestId>${requestId()}</RequestId></ResponseMetadata></${action}Response>`,
  );
}

function sendError(response: ServerResponse, status: number, code: string, message: string): void {
  const type = status >= 500 ? 'Receiver' : 'Sender';
  send(
    response,
    status,
    `<ErrorResponse xmlns="${NAMESPACE}"><Error><Type>${type}</Type><Code>${code}</Code><Message>${xmlText(message)}</Message></Error><RequestId>${requestId()}</RequestId></ErrorResponse>`,
  );
}

function send(response: ServerResponse, status: number, xml: string): void {
  if (response.headersSent) return;
  response.writeHead(status, { 'content-type': 'text/xml', 'x-amzn-requestid': requestId() });
  response.end(`<?xml version="1.0" encoding="UTF-8"?>\n${xml}`);
}

function endpointXml(tag: string, endpoint: Endpoint | undefined): string {
  return endpoint
    ? `<${tag}><Address>${xmlText(endpoint.host)}</Address><Port>${endpoint.port}</Port></${tag}>`
    : '';
}

function replicationGroupXml(id: string, group: ReplicationGroupSpec): string {
  const cluster = group.clusterEnabled ?? false;
  const members = group.members ?? [];
  const nodeGroupMembers = members
    .map(
      (m) =>
        `<NodeGroupMember><CacheClusterId>${xmlText(m.id)}</CacheClusterId><CacheNodeId>0001</CacheNodeId><CurrentRole>${m.role}</CurrentRole></NodeGroupMember>`,
    )
    .join('');
  const nodeGroup = cluster
    ? ''
    : `<NodeGroups><NodeGroup><NodeGroupId>0001</NodeGroupId><Status>${group.status ?? 'available'}</Status>${endpointXml('PrimaryEndpoint', group.primary)}<NodeGroupMembers>${nodeGroupMembers}</NodeGroupMembers></NodeGroup></NodeGroups>`;
  return [
    `<ReplicationGroupId>${xmlText(id)}</ReplicationGroupId>`,
    `<Description>stand-in</Description>`,
    `<Status>${group.status ?? 'available'}</Status>`,
    `<MemberClusters>${members.map((m) => `<ClusterId>${xmlText(m.id)}</ClusterId>`).join('')}</MemberClusters>`,
    nodeGroup,
    endpointXml('ConfigurationEndpoint', cluster ? group.configuration : undefined),
    `<AutomaticFailover>${group.automaticFailover ? 'enabled' : 'disabled'}</AutomaticFailover>`,
    `<ClusterEnabled>${cluster}</ClusterEnabled>`,
    `<TransitEncryptionEnabled>${group.tls ?? false}</TransitEncryptionEnabled>`,
    `<ARN>arn:aws:elasticache:${REGION}:${ACCOUNT}:replicationgroup:${xmlText(id)}</ARN>`,
  ].join('');
}

function serverlessXml(name: string, cache: ServerlessCacheSpec): string {
  return [
    `<ServerlessCacheName>${xmlText(name)}</ServerlessCacheName>`,
    `<Status>${cache.status ?? 'available'}</Status>`,
    `<Engine>valkey</Engine>`,
    endpointXml('Endpoint', cache.endpoint),
    `<ARN>arn:aws:elasticache:${REGION}:${ACCOUNT}:serverlesscache:${xmlText(name)}</ARN>`,
  ].join('');
}

function eventXml(e: { date: Date; sourceId: string; sourceType: string; message: string }) {
  return `<Event><SourceIdentifier>${xmlText(e.sourceId)}</SourceIdentifier><SourceType>${e.sourceType}</SourceType><Message>${xmlText(e.message)}</Message><Date>${e.date.toISOString()}</Date></Event>`;
}

function xmlText(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

let nextRequest = 1;
function requestId(): string {
  return `00000000-0000-4000-8000-${String(nextRequest++).padStart(12, '0')}`;
}
