/**
 * The cache as the drill follows it, in pure functions: whether a replication group may be
 * failed over at all, and, after TestFailover, what changed at each look (statuses, the primary
 * member, ElastiCache's events) and whether the failover is over.
 *
 * ElastiCache reports a TestFailover in its events, in this order (the TestFailover API
 * reference): "Test Failover API called for node group <id>" (replication group), "Failover from
 * primary node <id> to replica node <id> completed" (cache cluster, then replication group),
 * "Recovering cache nodes <id>", "Finished recovery for cache nodes <id>" (cache cluster). The
 * failover is over once it was reported completed (or the primary member changed) and the
 * replication group and the node group are `available`.
 */

export interface NodeGroupState {
  readonly id: string;
  readonly status: string;
  /** The cache cluster whose role is primary; undefined when the API does not say (cluster mode). */
  readonly primary: string | undefined;
}

/** What DescribeReplicationGroups says of the cache. */
export interface CacheState {
  readonly id: string;
  readonly status: string;
  /** `enabled`, `disabled`, `enabling` or `disabling`. */
  readonly automaticFailover: string;
  readonly nodeGroups: readonly NodeGroupState[];
  /** Its cache clusters: the sources of its nodes' events. */
  readonly members: readonly string[];
}

/** One of ElastiCache's events, `at` on AWS's clock (ms since the epoch). */
export interface CacheEvent {
  readonly at: number;
  readonly source: string;
  readonly message: string;
}

/** Something the drill saw or ElastiCache reported, for the timeline (`at`: ms since the epoch). */
export interface Mark {
  readonly at: number;
  readonly text: string;
}

/**
 * Events are read from this long before TestFailover was called: AWS dates them by its clock,
 * which may be behind this machine's. Which of them are the drill's does not depend on clocks:
 * those that were not there yet when the drill read the events just before TestFailover.
 */
export const CLOCK_SKEW_MS = 5_000;

const FAILOVER_COMPLETED = /\bfailover\b.*\bcompleted?\b/i;

/** Identifies an event among repeated reads. */
const eventKey = (e: CacheEvent) => `${e.at} ${e.source} ${e.message}`;

/** Why the drill must not run against this cache; undefined when it may. */
export function refusal(
  state: CacheState | undefined,
  cacheId: string,
  nodeGroup: string,
  region: string | undefined,
): string | undefined {
  if (state === undefined) {
    return (
      `ElastiCache has no replication group "${cacheId}"${region ? ` in ${region}` : ''}: ` +
      'check --cache and --region (a serverless cache cannot be failed over with TestFailover)'
    );
  }
  if (state.status !== 'available') {
    return `replication group "${cacheId}" is ${state.status}, not available: run the drill on a cache at rest`;
  }
  if (state.automaticFailover !== 'enabled') {
    return (
      `replication group "${cacheId}" has automatic failover ${state.automaticFailover}: ` +
      'TestFailover needs it enabled (and a replica), and without it a failure of the primary is an outage, not a failover'
    );
  }
  const group = state.nodeGroups.find((g) => g.id === nodeGroup);
  if (group === undefined) {
    const ids = state.nodeGroups.map((g) => g.id).join(', ') || 'none';
    return `replication group "${cacheId}" has no node group ${nodeGroup} (it has: ${ids}); see --node-group`;
  }
  if (group.status !== 'available') {
    return `node group ${nodeGroup} of "${cacheId}" is ${group.status}, not available`;
  }
  return undefined;
}

/** What the drill has seen of the cache since it called TestFailover. */
export class FailoverWatch {
  readonly #nodeGroup: string;
  readonly #since: Date;
  readonly #sources: Set<string>;
  /** Events that were there before TestFailover, and those reported since. */
  readonly #seen: Set<string>;
  readonly #firstPrimary: string | undefined;
  #last: CacheState;
  #reportedCompleted = false;
  #primaryChanged = false;

  /**
   * `before`: the cache just before TestFailover; `known`: the events read then, from `since`
   * on (CLOCK_SKEW_MS before that moment).
   */
  constructor(before: CacheState, nodeGroup: string, since: Date, known: readonly CacheEvent[]) {
    this.#nodeGroup = nodeGroup;
    this.#since = since;
    this.#seen = new Set(known.map(eventKey));
    this.#last = before;
    this.#sources = new Set([before.id, ...before.members]);
    this.#firstPrimary = this.#group(before)?.primary;
  }

  /** Where to start reading events. */
  get eventsSince(): Date {
    return this.#since;
  }

  /** A new look at the cache, at `at`: what changed since the previous one. */
  observeState(state: CacheState, at: number): Mark[] {
    const marks: Mark[] = [];
    const before = this.#last;
    if (state.status !== before.status) {
      marks.push({ at, text: `replication group ${state.id}: ${state.status}` });
    }
    const group = this.#group(state);
    const previous = this.#group(before);
    if (group && group.status !== previous?.status) {
      marks.push({ at, text: `node group ${group.id}: ${group.status}` });
    }
    if (group?.primary !== undefined && group.primary !== previous?.primary) {
      marks.push({ at, text: `primary: ${previous?.primary ?? '?'} → ${group.primary}` });
    }
    if (group?.primary !== undefined && group.primary !== this.#firstPrimary) {
      this.#primaryChanged = true;
    }
    for (const member of state.members) this.#sources.add(member);
    this.#last = state;
    return marks;
  }

  /** Events read from ElastiCache (any, in any order, repeated): the drill's new ones. */
  observeEvents(events: readonly CacheEvent[]): Mark[] {
    const marks: Mark[] = [];
    for (const event of [...events].sort((a, b) => a.at - b.at)) {
      const key = eventKey(event);
      if (event.at < this.#since.getTime() || !this.#sources.has(event.source)) continue;
      if (this.#seen.has(key)) continue;
      this.#seen.add(key);
      if (FAILOVER_COMPLETED.test(event.message)) this.#reportedCompleted = true;
      marks.push({ at: event.at, text: `ElastiCache (${event.source}): ${event.message}` });
    }
    return marks;
  }

  /** ElastiCache reported the failover (or the primary changed), and the cache is available. */
  get over(): boolean {
    const group = this.#group(this.#last);
    const available = this.#last.status === 'available' && group?.status === 'available';
    return available && (this.#reportedCompleted || this.#primaryChanged);
  }

  #group(state: CacheState): NodeGroupState | undefined {
    return state.nodeGroups.find((g) => g.id === this.#nodeGroup);
  }
}
