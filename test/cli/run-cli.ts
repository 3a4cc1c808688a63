/** Runs a CLI (the throughput CLI by default) as a user does (a child process), and collects what it printed. */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** What `npm run throughput` (or another CLI's script) runs (tsx), without npm's and npx's own
 * start-up on top: on a loaded machine every process start costs seconds. `env` replaces the
 * inherited environment. */
export async function runCli(
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
  script = 'cli/throughput.ts',
): Promise<Run> {
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const [code] = (await once(child, 'close')) as [number | null];
  return { code, stdout, stderr };
}
