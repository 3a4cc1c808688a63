#!/usr/bin/env node

/**
 * redis-pool-throughput: runs the Redis throughput test of a throughput endpoint (by default
 * the local one of `npm start`) and prints its results as a table, or as JSON with --json.
 * A call to an API Gateway host is signed with SigV4 (./aws-signing.ts).
 * Exit status: 0 done, 1 the endpoint failed, could not be reached, denied the call or no
 * credentials were found, 2 bad options.
 */

import { readCommandLine } from './command-line.js';
import { startProgress } from './progress.js';
import { parseCliArgs, USAGE } from './throughput-args.js';
import { callThroughput } from './throughput-client.js';
import { formatReport } from './throughput-format.js';

async function main(argv: readonly string[]): Promise<number> {
  const parsed = readCommandLine(parseCliArgs, argv, USAGE);
  if (typeof parsed === 'number') return parsed;
  const { params, json } = parsed;
  const label = `${params.op} x ${params.concurrency} for ${params.durationMs} ms`;
  const progress = startProgress(params.durationMs, label);
  const outcome = await callThroughput(parsed).finally(() => progress.stop());
  if (!outcome.ok) {
    process.stderr.write(`${outcome.message}\n`);
    return 1;
  }
  process.stdout.write(
    `${json ? JSON.stringify(outcome.report, null, 2) : formatReport(outcome.report)}\n`,
  );
  return 0;
}

// exitCode, not exit(): a piped stdout is still flushed.
process.exitCode = await main(process.argv.slice(2));
