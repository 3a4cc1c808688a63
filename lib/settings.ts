/**
 * The deployment's choices, read from CDK context (`-c key=value`, or `context` in cdk.json)
 * and checked all at once: a bad value fails the synth naming every problem, before anything
 * is built. Nothing here looks anything up in an AWS account, so synth stays offline.
 */
import type { CacheAuth } from 'lambda-redis-pool/cdk';
import { FUNCTIONS, type FunctionDefinition } from '../functions/manifest.js';

export type CacheKind = 'replication' | 'serverless';
/** The cache construct's own choice, read from context here. */
export type AuthMode = CacheAuth;

/** An existing VPC, given by ids (no lookup): the functions and the cache go in `subnetIds`. */
export interface ImportedVpc {
  readonly vpcId: string;
  readonly subnetIds: readonly string[];
  /** The AZ of each subnet, in the same order. */
  readonly availabilityZones: readonly string[];
}

export interface DeploySettings {
  readonly stackName: string;
  readonly cache: CacheKind;
  /**
   * `iam` (default): the functions authenticate with IAM tokens as an ElastiCache user, the
   * default user is off. `none`: the cache is reachable only from the functions' security
   * group, over TLS, with no authentication.
   */
  readonly auth: AuthMode;
  /** Undefined: a new VPC with isolated subnets in two AZs. */
  readonly vpc: ImportedVpc | undefined;
  /** An SNS topic every alarm notifies. */
  readonly alarmTopicArn: string | undefined;
  /** The throughput function's reserved concurrency. */
  readonly throughputConcurrency: number;
  /**
   * The functions find the cache by name (no REDIS_URL) through an ElastiCache interface VPC
   * endpoint in their subnets. Default false: the endpoint in REDIS_URL, no VPC endpoint.
   */
  readonly discovery: boolean;
}

/**
 * Every context key the app reads, with what it accepts (for errors). The README's table is
 * written by hand; test/docs/readme.test.ts checks that it lists exactly these keys.
 */
export const CONTEXT_KEYS = {
  stackName: 'the stack name (default LambdaRedisPool)',
  cache: 'replication (default) or serverless',
  auth: 'iam (default) or none',
  vpcId: 'an existing VPC id (vpc-…); needs subnetIds and availabilityZones',
  subnetIds: 'comma-separated subnet ids of that VPC (subnet-…)',
  availabilityZones: 'comma-separated AZ of each subnet, in the same order',
  alarmTopicArn: 'an SNS topic ARN the alarms notify',
  throughputConcurrency: 'the throughput function reserved concurrency (a positive integer)',
  discovery: 'false (default) or true: find the cache by name through an ElastiCache VPC endpoint',
} as const;

type ContextKey = keyof typeof CONTEXT_KEYS;

/** Reads context values by key (a construct node's `tryGetContext`). */
export type ContextReader = (key: string) => unknown;

/** @throws Error naming every bad context value. */
export function readSettings(context: ContextReader): DeploySettings {
  const problems: string[] = [];
  const text = (key: ContextKey): string | undefined => {
    const value = context(key);
    if (value === undefined || value === null || value === '') return undefined;
    // cdk.json's context may hold numbers and booleans; `-c key=value` gives strings.
    if (['string', 'number', 'boolean'].includes(typeof value)) return String(value).trim();
    problems.push(`${key}: expected ${CONTEXT_KEYS[key]}, got ${JSON.stringify(value)}`);
    return undefined;
  };
  const oneOf = <T extends string>(key: ContextKey, allowed: readonly T[], fallback: T): T => {
    const value = text(key);
    if (value === undefined) return fallback;
    if ((allowed as readonly string[]).includes(value)) return value as T;
    problems.push(`${key}: expected ${CONTEXT_KEYS[key]}, got ${JSON.stringify(value)}`);
    return fallback;
  };
  const matching = (key: ContextKey, pattern: RegExp): string | undefined => {
    const value = text(key);
    if (value === undefined || pattern.test(value)) return value;
    problems.push(`${key}: expected ${CONTEXT_KEYS[key]}, got ${JSON.stringify(value)}`);
    return undefined;
  };

  const throughput: FunctionDefinition = FUNCTIONS.throughput;
  const concurrencyText = text('throughputConcurrency');
  const concurrency =
    concurrencyText === undefined ? throughput.reservedConcurrency : Number(concurrencyText);
  if (concurrency === undefined || !Number.isInteger(concurrency) || concurrency < 1) {
    problems.push(
      `throughputConcurrency: expected ${CONTEXT_KEYS.throughputConcurrency}, got ${JSON.stringify(concurrencyText)}`,
    );
  }

  const settings: DeploySettings = {
    stackName: matching('stackName', /^[A-Za-z][A-Za-z0-9-]{0,127}$/) ?? 'LambdaRedisPool',
    cache: oneOf('cache', ['replication', 'serverless'] as const, 'replication'),
    auth: oneOf('auth', ['iam', 'none'] as const, 'iam'),
    vpc: readVpc(text, problems),
    alarmTopicArn: matching('alarmTopicArn', /^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[\w-]+$/),
    throughputConcurrency: concurrency ?? 1,
    discovery: oneOf('discovery', ['true', 'false'] as const, 'false') === 'true',
  };
  if (problems.length > 0) {
    throw new Error(`Invalid context for the CDK app:\n  ${problems.join('\n  ')}`);
  }
  return settings;
}

function readVpc(
  text: (key: ContextKey) => string | undefined,
  problems: string[],
): ImportedVpc | undefined {
  const vpcId = text('vpcId');
  const subnetIds = list(text('subnetIds'));
  const availabilityZones = list(text('availabilityZones'));
  if (vpcId === undefined && subnetIds.length === 0 && availabilityZones.length === 0) {
    return undefined;
  }
  const before = problems.length;
  if (vpcId === undefined || !/^vpc-[0-9a-f]+$/.test(vpcId)) {
    problems.push(`vpcId: expected ${CONTEXT_KEYS.vpcId}, got ${JSON.stringify(vpcId)}`);
  }
  if (subnetIds.length < 2 || !subnetIds.every((id) => /^subnet-[0-9a-f]+$/.test(id))) {
    // Two AZs at least: a replica in another AZ is what Multi-AZ failover needs.
    problems.push(`subnetIds: expected at least two ${CONTEXT_KEYS.subnetIds}`);
  }
  if (availabilityZones.length === 0 || availabilityZones.length !== subnetIds.length) {
    problems.push(`availabilityZones: expected ${CONTEXT_KEYS.availabilityZones}`);
  }
  if (problems.length > before || vpcId === undefined) return undefined;
  return { vpcId, subnetIds, availabilityZones };
}

function list(value: string | undefined): string[] {
  return value === undefined
    ? []
    : value
        .split(',')
        .map((item) => item.trim())
        .filter((item) => item !== '');
}
