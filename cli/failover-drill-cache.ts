/**
 * The ElastiCache API calls of the failover drill, with `@aws-sdk/client-elasticache`:
 * DescribeReplicationGroups, DescribeEvents and TestFailover. The drill imports this module
 * dynamically, so `--help` and usage errors never load the SDK. The SDK finds credentials,
 * region and endpoint (AWS_ENDPOINT_URL_ELASTICACHE) the way it always does; every failure
 * becomes a CacheApiError whose message says what to check, by the SDK error's name and message
 * only (its other fields hold request ids and raw responses).
 */
import {
  DescribeEventsCommand,
  DescribeReplicationGroupsCommand,
  ElastiCacheClient,
  type ReplicationGroup,
  TestFailoverCommand,
} from '@aws-sdk/client-elasticache';
import { foundNoCredentials, noCredentialsMessage } from './aws-credentials.js';
import type { CacheEvent, CacheState } from './failover-drill-follow.js';

export class CacheApiError extends Error {
  override readonly name = 'CacheApiError';
}

export interface CacheApi {
  /** The region the calls go to (--region, or the SDK's own); undefined when there is none. */
  region(): Promise<string | undefined>;
  /** The replication group now; undefined when there is none by that id. */
  describe(): Promise<CacheState | undefined>;
  testFailover(nodeGroup: string): Promise<void>;
  /** ElastiCache's events since `since`, of every source (the caller picks its cache's). */
  eventsSince(since: Date): Promise<CacheEvent[]>;
  close(): void;
}

/** DescribeEvents answers 100 events a page at most; a few pages cover a drill. */
const EVENT_PAGES = 10;

export function openCacheApi(cacheId: string, region: string | undefined): CacheApi {
  const client = new ElastiCacheClient(region === undefined ? {} : { region });
  const call = async <T>(action: string, run: () => Promise<T>): Promise<T> => {
    try {
      return await run();
    } catch (error) {
      throw asCacheApiError(error, action, cacheId);
    }
  };
  return {
    region: async () => {
      try {
        return await client.config.region();
      } catch {
        return undefined;
      }
    },
    describe: () =>
      call('DescribeReplicationGroups', async () => {
        try {
          const output = await client.send(
            new DescribeReplicationGroupsCommand({ ReplicationGroupId: cacheId }),
          );
          const group = output.ReplicationGroups?.[0];
          return group === undefined ? undefined : toState(group, cacheId);
        } catch (error) {
          if (error instanceof Error && error.name === 'ReplicationGroupNotFoundFault') {
            return undefined;
          }
          throw error;
        }
      }),
    testFailover: (nodeGroup) =>
      call('TestFailover', async () => {
        await client.send(
          new TestFailoverCommand({ ReplicationGroupId: cacheId, NodeGroupId: nodeGroup }),
        );
      }),
    eventsSince: (since) =>
      call('DescribeEvents', async () => {
        const events: CacheEvent[] = [];
        let marker: string | undefined;
        for (let page = 0; page < EVENT_PAGES; page++) {
          const output = await client.send(
            new DescribeEventsCommand({ StartTime: since, MaxRecords: 100, Marker: marker }),
          );
          for (const e of output.Events ?? []) {
            if (e.Date === undefined || e.SourceIdentifier === undefined) continue;
            events.push({
              at: e.Date.getTime(),
              source: e.SourceIdentifier,
              message: e.Message ?? '',
            });
          }
          marker = output.Marker;
          if (marker === undefined) break;
        }
        return events;
      }),
    close: () => client.destroy(),
  };
}

function toState(group: ReplicationGroup, cacheId: string): CacheState {
  return {
    id: group.ReplicationGroupId ?? cacheId,
    status: group.Status ?? 'unknown',
    automaticFailover: group.AutomaticFailover ?? 'disabled',
    nodeGroups: (group.NodeGroups ?? []).map((g) => ({
      id: g.NodeGroupId ?? '?',
      status: g.Status ?? 'unknown',
      primary: g.NodeGroupMembers?.find((m) => m.CurrentRole === 'primary')?.CacheClusterId,
    })),
    members: group.MemberClusters ?? [],
  };
}

const ACCESS_DENIED = new Set(['AccessDenied', 'AccessDeniedException', 'UnauthorizedOperation']);
const NO_REGION = /region is missing/i;

/** Hints for TestFailover's own refusals. */
const FAILOVER_HINTS: Readonly<Record<string, string>> = {
  TestFailoverNotAvailableFault:
    'ElastiCache allows TestFailover on a limited number of shards per rolling 24 hours, and not while a failover or node replacement is under way',
  APICallRateForCustomerExceededFault: 'TestFailover was called too often; try again later',
  InvalidReplicationGroupStateFault: 'the replication group must be available',
  NodeGroupNotFoundFault: 'see --node-group',
};

function asCacheApiError(error: unknown, action: string, cacheId: string): CacheApiError {
  if (error instanceof CacheApiError) return error;
  const name = error instanceof Error ? error.name : 'Error';
  const message = error instanceof Error ? error.message : String(error);
  if (foundNoCredentials(message)) return new CacheApiError(noCredentialsMessage());
  if (NO_REGION.test(message)) {
    return new CacheApiError('no region for ElastiCache: give --region or set AWS_REGION');
  }
  if (ACCESS_DENIED.has(name)) {
    return new CacheApiError(
      `ElastiCache refused ${action} (${message}): the identity needs elasticache:${action} on replication group ${cacheId}`,
    );
  }
  const hint = action === 'TestFailover' ? FAILOVER_HINTS[name] : undefined;
  return new CacheApiError(`${action} failed: ${name}: ${message}${hint ? ` (${hint})` : ''}`);
}
