/**
 * Building the handler the way a deployment does (the manifest's one BUNDLING configuration):
 * one ESM file with every dependency inside (the AWS SDK excepted, which the Node.js runtime
 * provides). Bundling matters for fidelity:
 * module state then lives where it lives in Lambda, and nothing is resolved from the project
 * at run time.
 */
import { existsSync } from 'node:fs';
import { cp, symlink } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { BUNDLE_FILE, BUNDLING } from '../functions/manifest.js';

export interface HandlerBundle {
  /** LAMBDA_TASK_ROOT: holds index.mjs. */
  taskRoot: string;
  /** _HANDLER, e.g. 'index.handler'. */
  handler: string;
}

/** Bundles `entry` into `taskRoot`/index.mjs; `taskRoot` must exist. */
export async function bundleHandler(
  entry: string,
  handlerExport: string,
  taskRoot: string,
): Promise<HandlerBundle> {
  const entryPath = resolve(entry);
  await build({
    entryPoints: [entryPath],
    outfile: join(taskRoot, BUNDLE_FILE),
    bundle: true,
    ...BUNDLING,
    external: [...BUNDLING.external],
    mainFields: [...BUNDLING.mainFields],
    banner: { js: BUNDLING.banner },
    logLevel: 'silent',
  });
  await linkNodeModules(entryPath, taskRoot);
  return { taskRoot, handler: `index.${handlerExport}` };
}

/**
 * Uses a bundle that was built elsewhere, e.g. a function's asset folder in a synthesized CDK
 * cloud assembly (cdk.out): its files are copied into `taskRoot` as they are, as Lambda
 * unpacks the uploaded zip, so what runs is exactly what a deployment uploads.
 */
export async function useBuiltBundle(
  dir: string,
  handlerExport: string,
  taskRoot: string,
): Promise<HandlerBundle> {
  if (!existsSync(join(dir, BUNDLE_FILE))) {
    throw new Error(
      `${dir} holds no ${BUNDLE_FILE}: not a bundle built with the manifest's settings`,
    );
  }
  await cp(dir, taskRoot, { recursive: true });
  await linkNodeModules(fileURLToPath(import.meta.url), taskRoot);
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
