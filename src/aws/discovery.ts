/**
 * Discovery by cache name: where an ElastiCache cache is, asked of the ElastiCache API
 * (DescribeReplicationGroups, or DescribeServerlessCaches for a serverless cache): its endpoint
 * (the primary endpoint, or the configuration endpoint in cluster mode), whether it speaks TLS
 * and whether it is in cluster mode.
 *
 * The pool loads this module, and it the AWS SDK (sdk.ts), only when a cache is to be discovered
 * (REDIS_CACHE_NAME without REDIS_URL). The SDK finds its credentials, its
 * region (AWS_REGION) and its endpoint (AWS_ENDPOINT_URL_ELASTICACHE, for a VPC endpoint with a
 * custom name or a local stand-in) the way it always does.
 */
import type {
  ElastiCacheClient,
  ReplicationGroup,
  ServerlessCache,
} from '@aws-sdk/client-elasticache';
import { ElastiCacheError } from '../errors.js';
import { type CacheLocation, type DiscoveryRequest, reachTheApi } from './locator.js';
import { type ElastiCacheSdk, loadElastiCacheSdk, sdkErrorSummary } from './sdk.js';

/**
 * Statuses in which a cache serves traffic at its endpoints: a cache being modified (scaled,
 * patched) or snapshotted keeps serving.
 */
const SERVING = new Set(['available', 'modifying', 'snapshotting']);
/** Statuses from which a cache becomes available without anyone doing anything. */
const BECOMING_AVAILABLE = new Set(['creating']);

/**
 * Asks ElastiCache where the cache is. Gives up when `signal` aborts (the caller's deadline).
 * @throws ElastiCacheError naming the cache and what to check (and, for a refusal, the IAM
 *   action the function's role needs).
 */
export async function describeCache(
  request: DiscoveryRequest,
  signal: AbortSignal,
): Promise<CacheLocation> {
  const sdk = await loadElastiCacheSdk(request.cacheName);
  const client = new sdk.ElastiCacheClient({ region: request.region, maxAttempts: 2 });
  try {
    return request.serverless
      ? locateServerless(request, await describeServerless(sdk, client, request, signal))
      : locateReplicationGroup(
          request,
          await describeReplicationGroup(sdk, client, request, signal),
        );
  } catch (error) {
    throw asElastiCacheError(error, request, signal);
  } finally {
    // One lookup per environment: no keep-alive socket to the API should outlive it.
    client.destroy();
  }
}

async function describeReplicationGroup(
  sdk: ElastiCacheSdk,
  client: ElastiCacheClient,
  request: DiscoveryRequest,
  signal: AbortSignal,
): Promise<ReplicationGroup | undefined> {
  const output = await client.send(
    new sdk.DescribeReplicationGroupsCommand({ ReplicationGroupId: request.cacheName }),
    { abortSignal: signal },
  );
  return output.ReplicationGroups?.[0];
}

async function describeServerless(
  sdk: ElastiCacheSdk,
  client: ElastiCacheClient,
  request: DiscoveryRequest,
  signal: AbortSignal,
): Promise<ServerlessCache | undefined> {
  const output = await client.send(
    new sdk.DescribeServerlessCachesCommand({ ServerlessCacheName: request.cacheName }),
    { abortSignal: signal },
  );
  return output.ServerlessCaches?.[0];
}

function locateReplicationGroup(
  request: DiscoveryRequest,
  group: ReplicationGroup | undefined,
): CacheLocation {
  if (!group) throw notFound(request);
  checkStatus(request, group.Status);
  const cluster = group.ClusterEnabled === true;
  const endpoint = cluster ? group.ConfigurationEndpoint : group.NodeGroups?.[0]?.PrimaryEndpoint;
  if (!endpoint?.Address || !endpoint.Port) {
    throw new ElastiCacheError(
      `ElastiCache replication group "${request.cacheName}" has no ${cluster ? 'configuration' : 'primary'} endpoint yet`,
      {
        cacheName: request.cacheName,
        permanent: false,
        reason: 'unreachable',
        check: 'wait for the replication group to become available',
      },
    );
  }
  return {
    host: endpoint.Address,
    port: endpoint.Port,
    tls: group.TransitEncryptionEnabled === true,
    cluster,
  };
}

/** A serverless cache: one endpoint, always TLS, cluster mode. */
function locateServerless(
  request: DiscoveryRequest,
  cache: ServerlessCache | undefined,
): CacheLocation {
  if (!cache) throw notFound(request);
  checkStatus(request, cache.Status);
  const endpoint = cache.Endpoint;
  if (!endpoint?.Address || !endpoint.Port) {
    throw new ElastiCacheError(
      `ElastiCache serverless cache "${request.cacheName}" has no endpoint yet`,
      {
        cacheName: request.cacheName,
        permanent: false,
        reason: 'unreachable',
        check: 'wait for the serverless cache to become available',
      },
    );
  }
  return { host: endpoint.Address, port: endpoint.Port, tls: true, cluster: true };
}

function checkStatus(request: DiscoveryRequest, status: string | undefined): void {
  if (status !== undefined && SERVING.has(status)) return;
  const kind = request.serverless ? 'serverless cache' : 'replication group';
  const transient = status !== undefined && BECOMING_AVAILABLE.has(status);
  throw new ElastiCacheError(
    `ElastiCache ${kind} "${request.cacheName}" is not available (status ${status ?? 'unknown'})`,
    {
      cacheName: request.cacheName,
      permanent: !transient,
      reason: transient ? 'unreachable' : 'configuration',
      check: transient
        ? `wait for the ${kind} to become available`
        : `the ${kind} must be available: check its status in the ElastiCache console`,
    },
  );
}

function notFound(request: DiscoveryRequest): ElastiCacheError {
  const kind = request.serverless ? 'serverless cache' : 'replication group';
  return new ElastiCacheError(
    `ElastiCache has no ${kind} "${request.cacheName}" in ${request.region}`,
    {
      cacheName: request.cacheName,
      permanent: true,
      reason: 'configuration',
      check: request.serverless
        ? 'REDIS_CACHE_NAME must be the name of a serverless cache in AWS_REGION (for a replication group, unset REDIS_SERVERLESS)'
        : 'REDIS_CACHE_NAME must be the id of a replication group in AWS_REGION (for a serverless cache, set REDIS_SERVERLESS=true)',
    },
  );
}

/** Error codes ElastiCache (and the IAM layer in front of it) answers a refused call with. */
const ACCESS_DENIED = new Set(['AccessDenied', 'AccessDeniedException', 'UnauthorizedOperation']);
const NOT_FOUND = new Set([
  'ReplicationGroupNotFoundFault',
  'ServerlessCacheNotFoundFault',
  'CacheClusterNotFound',
  'CacheClusterNotFoundFault',
]);
/** The SDK's and Node's names for a call that never got an answer. */
const NO_ANSWER = new Set(['AbortError', 'TimeoutError', 'RequestTimeout']);

/**
 * What went wrong, in the library's terms. The SDK's own error goes along as the cause, by
 * name and message only: its other fields hold request ids and raw responses.
 */
function asElastiCacheError(
  error: unknown,
  request: DiscoveryRequest,
  signal: AbortSignal,
): ElastiCacheError {
  if (error instanceof ElastiCacheError) return error;
  const { cacheName } = request;
  const name = error instanceof Error ? error.name : 'Error';
  const code = (error as { code?: unknown } | undefined)?.code;
  const cause = sdkErrorSummary(error);
  if (NOT_FOUND.has(name)) return notFound(request);
  if (ACCESS_DENIED.has(name)) {
    const action = request.serverless
      ? 'elasticache:DescribeServerlessCaches'
      : 'elasticache:DescribeReplicationGroups';
    const resource = request.serverless
      ? `arn:aws:elasticache:${request.region}:<account>:serverlesscache:${cacheName}`
      : `arn:aws:elasticache:${request.region}:<account>:replicationgroup:${cacheName}`;
    return new ElastiCacheError(
      `The function may not look up ElastiCache cache "${cacheName}": it needs ${action}`,
      {
        cacheName,
        permission: action,
        permanent: true,
        reason: 'permission',
        check: `allow ${action} on ${resource} in the function's execution role, or set REDIS_URL instead of discovering the cache`,
        cause,
      },
    );
  }
  if (name === 'CredentialsProviderError') {
    return new ElastiCacheError(`No AWS credentials to look up ElastiCache cache "${cacheName}"`, {
      cacheName,
      permanent: true,
      reason: 'credentials',
      check: "the function's execution role (its credentials are in the environment on Lambda)",
      cause,
    });
  }
  const unanswered =
    signal.aborted ||
    NO_ANSWER.has(name) ||
    (typeof code === 'string' && /^(E[A-Z]+|ERR_)/.test(code) && code !== 'ERR_INVALID_ARG_TYPE');
  if (unanswered) {
    return new ElastiCacheError(
      `The ElastiCache API did not answer the lookup of cache "${cacheName}" in time`,
      {
        cacheName,
        permanent: false,
        reason: 'unreachable',
        check: reachTheApi(request.region),
        cause,
      },
    );
  }
  return new ElastiCacheError(`The lookup of ElastiCache cache "${cacheName}" failed (${name})`, {
    cacheName,
    permanent: false,
    reason: 'server',
    check: 'the ElastiCache API refused the call; it is retried under the backoff',
    cause,
  });
}
