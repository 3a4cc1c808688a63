/**
 * The functions of a synthesized CDK cloud assembly (`cdk synth`'s output folder, cdk.out):
 * for each function of the manifest, the folder of the bundle `cdk deploy` would upload and
 * the function's settings in the template. With the simulator's `prebuilt` option, this runs
 * the deployment's artifact itself rather than a bundle built again.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FUNCTIONS, type FunctionKey } from '../functions/manifest.js';

export interface AssemblyFunction {
  /** The asset folder (holds the manifest's BUNDLE_FILE). */
  readonly bundleDir: string;
  /** The exported handler (`index.<export>` in the template). */
  readonly handlerExport: string;
  /** The template's environment variables; values that AWS resolves are left as intrinsics. */
  readonly environment: Readonly<Record<string, unknown>>;
}

interface Resource {
  Type: string;
  Properties?: {
    Description?: string;
    Handler?: string;
    Environment?: { Variables?: Record<string, unknown> };
  };
  Metadata?: Record<string, unknown>;
}

/**
 * Reads the assembly in `outdir`. A function is recognised by its description, which comes
 * from the manifest. Needs the asset metadata the CDK CLI writes by default.
 * @throws when a function of the manifest is missing or has no asset folder.
 */
export function readAssemblyFunctions(outdir: string): Record<FunctionKey, AssemblyFunction> {
  const manifest = JSON.parse(readFileSync(join(outdir, 'manifest.json'), 'utf8')) as {
    artifacts: Record<string, { type: string; properties?: { templateFile?: string } }>;
  };
  const resources: Resource[] = [];
  for (const artifact of Object.values(manifest.artifacts)) {
    const templateFile = artifact.properties?.templateFile;
    if (artifact.type !== 'aws:cloudformation:stack' || templateFile === undefined) continue;
    const template = JSON.parse(readFileSync(join(outdir, templateFile), 'utf8')) as {
      Resources: Record<string, Resource>;
    };
    resources.push(...Object.values(template.Resources));
  }
  const found = {} as Record<FunctionKey, AssemblyFunction>;
  for (const key of Object.keys(FUNCTIONS) as FunctionKey[]) {
    const resource = resources.find(
      (r) =>
        r.Type === 'AWS::Lambda::Function' &&
        r.Properties?.Description === FUNCTIONS[key].description,
    );
    const assetPath = resource?.Metadata?.['aws:asset:path'];
    if (resource === undefined || typeof assetPath !== 'string') {
      throw new Error(`${outdir}: no bundle of the ${key} function (is it a cdk synth output?)`);
    }
    found[key] = {
      bundleDir: join(outdir, assetPath),
      handlerExport: (resource.Properties?.Handler ?? '').replace(/^index\./, ''),
      environment: resource.Properties?.Environment?.Variables ?? {},
    };
  }
  return found;
}
