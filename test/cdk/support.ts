/**
 * Synthesizes the CDK app in-process the way `cdk synth` does (cdk.json's feature flags, the
 * same defineApp), for template assertions. Bundling is skipped (the functions' code becomes
 * a placeholder asset; test/cdk/bundles.test.ts checks the real bundles), and so is the CDK's
 * built-in CloudFormation schema validation (slow; the real `cdk synth` in bundles.test.ts
 * runs it).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { App, type AppProps } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { afterAll } from 'vitest';
import { defineApp } from '../../lib/app.js';
import type { LambdaRedisPoolStack } from '../../lib/stack.js';

export const ROOT = resolve(import.meta.dirname, '../..');

/** Where this test file's apps write their cloud assemblies; removed after its tests. */
let outRoot: string | undefined;

// Registered when a test file imports this module, so it runs after that file's tests.
afterAll(() => {
  if (outRoot !== undefined) rmSync(outRoot, { recursive: true, force: true });
  outRoot = undefined;
});

/**
 * An App whose cloud assembly goes to a folder removed after the test file (an App without
 * `outdir` leaves a cdk.out folder in the system's temp dir for every synth), without the CDK's slow
 * CloudFormation schema checks (`npm run synth` in bundles.test.ts runs them).
 */
export function testApp(props: AppProps = {}): App {
  outRoot ??= mkdtempSync(join(tmpdir(), 'lrp-cdk-test-'));
  return new App({
    builtinCloudFormationValidation: false,
    ...props,
    outdir: mkdtempSync(join(outRoot, 'out-')),
  });
}

/** cdk.json's context: the feature flags `cdk synth` runs the app with. */
export function cdkJsonContext(): Record<string, unknown> {
  const cdkJson = JSON.parse(readFileSync(resolve(ROOT, 'cdk.json'), 'utf8')) as {
    context: Record<string, unknown>;
  };
  return cdkJson.context;
}

export interface Synthesized {
  readonly app: App;
  readonly stack: LambdaRedisPoolStack;
  readonly template: Template;
}

/** The app for `context` (strings, as `-c key=value` gives them), synthesized without nag. */
export function synthesize(context: Readonly<Record<string, string>> = {}): Synthesized {
  const app = testApp({
    context: { ...cdkJsonContext(), 'aws:cdk:bundling-stacks': [], ...context },
  });
  const stack = defineApp(app, { nag: false });
  return { app, stack, template: Template.fromStack(stack) };
}

/** An imported VPC's context, as a user would pass it. */
export const IMPORTED_VPC = {
  vpcId: 'vpc-0123456789abcdef0',
  subnetIds: 'subnet-0aaaaaaaaaaaaaaa1,subnet-0bbbbbbbbbbbbbbb2',
  availabilityZones: 'eu-west-1a,eu-west-1b',
} as const;

/** Every variant: replication group or serverless × new or imported VPC × IAM or no auth. */
export const VARIANTS = (['replication', 'serverless'] as const).flatMap((cache) =>
  (['new', 'imported'] as const).flatMap((vpc) =>
    (['none', 'iam'] as const).map((auth) => ({
      name: `${cache}, ${vpc} VPC, auth ${auth}`,
      cache,
      vpc,
      auth,
      context: { cache, auth, ...(vpc === 'imported' ? IMPORTED_VPC : {}) } as Record<
        string,
        string
      >,
    })),
  ),
);

/** Discovery by cache name through the ElastiCache API endpoint, for each cache and VPC kind. */
export const DISCOVERY_VARIANTS = (['replication', 'serverless'] as const).flatMap((cache) =>
  (['new', 'imported'] as const).map((vpc) => ({
    name: `discovery, ${cache}, ${vpc} VPC`,
    cache,
    vpc,
    context: {
      cache,
      discovery: 'true',
      ...(vpc === 'imported' ? IMPORTED_VPC : {}),
    } as Record<string, string>,
  })),
);

/** Resources of one type: logical id → properties. */
export function resourcesOf(template: Template, type: string): Array<[string, Props]> {
  return Object.entries(template.findResources(type)).map(([id, resource]) => [
    id,
    ((resource as { Properties?: Props }).Properties ?? {}) as Props,
  ]);
}

// biome-ignore lint/suspicious/noExplicitAny: CloudFormation properties are untyped JSON
export type Props = Record<string, any>;

/** The one resource of `type`; fails when there are none or several. */
export function onlyResource(template: Template, type: string): [string, Props] {
  const found = resourcesOf(template, type);
  if (found.length !== 1) throw new Error(`expected one ${type}, found ${found.length}`);
  return found[0] as [string, Props];
}

/** `Ref` → `ref-<logical id, lowercase>`; `Fn::GetAtt` of a port → 6379, of anything else → a host. */
function placeholder(intrinsic: Props): string {
  if ('Ref' in intrinsic) return `ref-${String(intrinsic.Ref).toLowerCase()}`;
  const [, attribute] = intrinsic['Fn::GetAtt'] as [string, string];
  return /Port$/.test(attribute) ? '6379' : 'getatt.example.internal';
}

/**
 * A CloudFormation value with its intrinsics replaced: `Fn::Join` joined, `Ref` and
 * `Fn::GetAtt` by `substitute` (default: a readable placeholder). For checking values that
 * only AWS knows at deploy time, e.g. an endpoint address inside REDIS_URL.
 */
export function resolveValue(
  value: unknown,
  substitute: (intrinsic: Props) => string = placeholder,
): string {
  if (typeof value === 'string' || typeof value === 'number') return String(value);
  if (value !== null && typeof value === 'object') {
    const intrinsic = value as Props;
    if ('Fn::Join' in intrinsic) {
      const [separator, parts] = intrinsic['Fn::Join'] as [string, unknown[]];
      return parts.map((part) => resolveValue(part, substitute)).join(separator);
    }
    if ('Ref' in intrinsic || 'Fn::GetAtt' in intrinsic) return substitute(intrinsic);
  }
  throw new Error(`cannot resolve ${JSON.stringify(value)}`);
}
