/**
 * What Lambda tells a function about itself: the environment variables of an execution
 * environment and the per-invocation identifiers (ARN, X-Ray trace id).
 */
import { randomBytes } from 'node:crypto';

export interface FunctionIdentity {
  functionName: string;
  region: string;
  memoryMb: number;
  timeoutMs: number;
}

export const ACCOUNT_ID = '123456789012';
const VERSION = '$LATEST';

export function functionArn(fn: FunctionIdentity): string {
  return `arn:aws:lambda:${fn.region}:${ACCOUNT_ID}:function:${fn.functionName}`;
}

/** An X-Ray trace header as Lambda passes it, unsampled. */
export function traceId(): string {
  const epochHex = Math.floor(Date.now() / 1000).toString(16);
  const root = `1-${epochHex}-${randomBytes(12).toString('hex')}`;
  return `Root=${root};Parent=${randomBytes(8).toString('hex')};Sampled=0;Lineage=1:${randomBytes(4).toString('hex')}:0`;
}

export interface EnvironmentVariablesInput {
  fn: FunctionIdentity;
  runtimeApi: string;
  handler: string;
  taskRoot: string;
  /** Set only in Managed Instances mode: its presence switches the RIC to worker threads. */
  maxConcurrency: number | undefined;
  /** The function's own variables; they may override everything except the runtime wiring. */
  userEnv: Record<string, string>;
}

/**
 * The variables of a Node.js 24 execution environment. The host's environment is not
 * inherited (a function never sees the deployer's shell), except PATH so that child
 * processes a handler starts can be found.
 */
export function lambdaEnvironment(input: EnvironmentVariablesInput): Record<string, string> {
  const { fn } = input;
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    LANG: 'en_US.UTF-8',
    TZ: ':UTC',
    AWS_REGION: fn.region,
    AWS_DEFAULT_REGION: fn.region,
    AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs24.x',
    AWS_LAMBDA_FUNCTION_NAME: fn.functionName,
    AWS_LAMBDA_FUNCTION_VERSION: VERSION,
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(fn.memoryMb),
    AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${fn.functionName}`,
    AWS_LAMBDA_LOG_STREAM_NAME: logStreamName(),
    AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand',
    ...input.userEnv,
    // The wiring to this simulator wins over anything the caller passes.
    AWS_LAMBDA_RUNTIME_API: input.runtimeApi,
    _HANDLER: input.handler,
    LAMBDA_TASK_ROOT: input.taskRoot,
  };
  if (input.maxConcurrency !== undefined) {
    env.AWS_LAMBDA_MAX_CONCURRENCY = String(input.maxConcurrency);
  }
  return env;
}

function logStreamName(): string {
  const day = new Date().toISOString().slice(0, 10).replaceAll('-', '/');
  return `${day}/[${VERSION}]${randomBytes(16).toString('hex')}`;
}
