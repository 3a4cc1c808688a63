/**
 * Building the handler the way a deployment does: one ESM file with every dependency inside
 * (the AWS SDK excepted, which the Node.js runtime provides). Bundling matters for fidelity:
 * module state then lives where it lives in Lambda, and nothing is resolved from the project
 * at run time.
 */
import { existsSync } from 'node:fs';
import { symlink } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { build } from 'esbuild';

export interface HandlerBundle {
  /** LAMBDA_TASK_ROOT: holds index.mjs. */
  taskRoot: string;
  /** _HANDLER, e.g. 'index.handler'. */
  handler: string;
}

// CommonJS dependencies (ioredis, …) call require(); an ESM bundle has none unless given one.
const REQUIRE_SHIM =
  "import { createRequire } from 'module'; const require = createRequire(import.meta.url);";

/** Bundles `entry` into `taskRoot`/index.mjs; `taskRoot` must exist. */
export async function bundleHandler(
  entry: string,
  handlerExport: string,
  taskRoot: string,
): Promise<HandlerBundle> {
  const entryPath = resolve(entry);
  await build({
    entryPoints: [entryPath],
    outfile: join(taskRoot, 'index.mjs'),
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node22',
    external: ['@aws-sdk/*'],
    banner: { js: REQUIRE_SHIM },
    logLevel: 'silent',
  });
  await linkNodeModules(entryPath, taskRoot);
  return { taskRoot, handler: `index.${handlerExport}` };
}

/**
 * The runtime's AWS SDK stays external; Lambda resolves it from the runtime's own
 * node_modules. Locally the project's node_modules stands in for it.
 */
async function linkNodeModules(entryPath: string, taskRoot: string): Promise<void> {
  for (let dir = dirname(entryPath); dir !== dirname(dir); dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules');
    if (existsSync(candidate)) {
      await symlink(candidate, join(taskRoot, 'node_modules'), 'dir');
      return;
    }
  }
}
