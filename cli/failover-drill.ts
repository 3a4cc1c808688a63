#!/usr/bin/env node
/**
 * redis-pool-failover-drill (`npm run failover-drill`): fails over an ElastiCache replication
 * group's primary (TestFailover) while the throughput function sends it writes, and prints
 * what that did to the traffic. See USAGE in ./failover-drill-args.ts.
 *
 * Progress goes to stderr, the timeline (a table, or JSON with --json) to stdout.
 * Exit status: 0 passed; 1 failed or could not run; 2 bad options, or no terminal to confirm on
 * and no --yes.
 */
import { readCommandLine } from './command-line.js';
import { parseDrillArgs, USAGE } from './failover-drill-args.js';
import { confirm } from './failover-drill-confirm.js';
import { refusal } from './failover-drill-follow.js';
import { drillJson, formatDrill } from './failover-drill-format.js';
import { runDrill } from './failover-drill-run.js';
import { buildTimeline, verdict } from './failover-drill-timeline.js';
import { redactUrl } from './throughput-client.js';

const log = (line: string) => process.stderr.write(`failover-drill: ${line}\n`);

async function main(argv: readonly string[]): Promise<number> {
  const options = readCommandLine(parseDrillArgs, argv, USAGE);
  if (typeof options === 'number') return options;
  // Decided before anything is asked of AWS: a script without --yes learns it at once.
  if (!options.yes && !process.stdin.isTTY) {
    log(
      `refusing to run without confirmation: the drill fails over the primary of "${options.cacheId}", ` +
        'and stdin is not a terminal to ask on. Add --yes to confirm.',
    );
    return 2;
  }
  const url = redactUrl(options.url);
  // The SDK is loaded only now: --help and usage errors never pay for it.
  const { openCacheApi, CacheApiError } = await import('./failover-drill-cache.js');
  const cache = openCacheApi(options.cacheId, options.region);
  try {
    const state = await cache.describe();
    const refused = refusal(state, options.cacheId, options.nodeGroup, await cache.region());
    if (refused !== undefined) {
      log(`refusing to run: ${refused}`);
      return 1;
    }
    if (
      !options.yes &&
      !(await confirm(
        question(options.cacheId, options.nodeGroup, url),
        process.stdin,
        process.stderr,
      ))
    ) {
      log('not confirmed: nothing was done');
      return 1;
    }
    const outcome = await runDrill(options, cache, log);
    if (!outcome.ran) {
      log(outcome.message);
      return 1;
    }
    const timeline = buildTimeline(outcome.record);
    const result = verdict(timeline, options.maxErrorWindowMs);
    const summary = {
      cache: options.cacheId,
      nodeGroup: options.nodeGroup,
      url,
      maxErrorWindowMs: options.maxErrorWindowMs,
    };
    process.stdout.write(
      `${options.json ? drillJson(summary, timeline, result) : formatDrill(summary, timeline, result)}\n`,
    );
    return result.passed ? 0 : 1;
  } catch (error) {
    if (!(error instanceof CacheApiError)) throw error;
    log(error.message);
    return 1;
  } finally {
    cache.close();
  }
}

function question(cacheId: string, nodeGroup: string, url: string): string {
  return [
    `This drill calls TestFailover on node group ${nodeGroup} of replication group "${cacheId}":`,
    'its primary fails over to a replica, and the traffic the drill sends through',
    `${url} will see errors until it recovers. ElastiCache allows TestFailover on a`,
    'limited number of shards per rolling 24 hours.',
    'Run the drill? [y/N] ',
  ].join('\n');
}

// exitCode, not exit(): a piped stdout is still flushed.
process.exitCode = await main(process.argv.slice(2));
