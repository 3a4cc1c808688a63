/**
 * The deployment's shape, in one place: which functions exist, where their code is, how long
 * they may run, how much memory they get, which routes reach them, and how they are bundled.
 * The local API (`npm start`), the bench and the CDK app all read this module; it reads none
 * of them, so local and deployed routes and settings cannot drift apart.
 */
import { fileURLToPath } from 'node:url';

export interface FunctionDefinition {
  /** Short name: the suffix of the deployed function's name and of the local one. */
  readonly name: string;
  /** Absolute path of the handler module (TypeScript source; bundled for deployment). */
  readonly entry: string;
  /** The exported handler. */
  readonly handler: string;
  /** The function's timeout. */
  readonly timeoutMs: number;
  /** The function's memory (Lambda gives CPU in proportion to it). */
  readonly memoryMb: number;
  /**
   * Deployed: the most invocations that may run at once (Lambda's reserved concurrency), so
   * that this function cannot take the account's whole concurrency. Unset: no reservation.
   */
  readonly reservedConcurrency?: number;
  readonly description: string;
}

const source = (path: string) => fileURLToPath(new URL(path, import.meta.url));

/** API Gateway's integration timeout: no request through the REST API lasts longer. */
export const API_GATEWAY_TIMEOUT_MS = 29_000;

export const FUNCTIONS = {
  health: {
    name: 'health',
    entry: source('./health.ts'),
    handler: 'handler',
    // The health check answers within its own 1 s budget whatever happens; 3 s leaves room
    // for a cold start.
    timeoutMs: 3_000,
    memoryMb: 256,
    description: 'GET /api/v1/health: PING through the pool, 200 or 503 within a second',
  },
  throughput: {
    name: 'throughput',
    entry: source('./throughput.ts'),
    handler: 'handler',
    // The longest run (LIMITS.durationMs.max) and its report fit in API Gateway's 29 s.
    timeoutMs: API_GATEWAY_TIMEOUT_MS,
    // A load generator is CPU-bound: 1,024 MB buys a larger share of a vCPU.
    memoryMb: 1_024,
    // A load generator must not starve the account's other functions. Deployed only: the local
    // API does not read it, and gives every function the same limit (its maxEnvironments option).
    reservedConcurrency: 10,
    description: 'GET|POST /api/v1/test/redis: a bounded load on the shared connection',
  },
} as const satisfies Record<string, FunctionDefinition>;

export type FunctionKey = keyof typeof FUNCTIONS;

export type HttpMethod = 'GET' | 'POST';

export interface Route {
  /** The REST API resource path. */
  readonly resource: string;
  readonly methods: readonly HttpMethod[];
  readonly fn: FunctionKey;
  /**
   * Who may call it: `none` is public; `iam` requires a SigV4-signed request (AWS_IAM), for
   * routes that must never be public (the throughput route is a load generator).
   */
  readonly auth: 'none' | 'iam';
}

export const ROUTES: readonly Route[] = [
  { resource: '/api/v1/health', methods: ['GET'], fn: 'health', auth: 'none' },
  { resource: '/api/v1/test/redis', methods: ['GET', 'POST'], fn: 'throughput', auth: 'iam' },
];

/**
 * The one bundling configuration (esbuild options) for every function: the local simulator
 * builds with it, the bench measures it, and the CDK's NodejsFunction is given the same.
 *
 * - ESM output for Node.js 24 (the Lambda runtime), the AWS SDK left to the runtime.
 * - Minified, but with names kept: a `RedisUnavailableError` must be logged as that, not `Ae`.
 * - Source maps, so stack traces point at the TypeScript (enable them with NODE_OPTIONS
 *   `--enable-source-maps`, which the deployment sets).
 * - The banner gives the ESM bundle a `require` for CommonJS dependencies (ioredis).
 */
export const BUNDLING = {
  platform: 'node',
  format: 'esm',
  target: 'node24',
  minify: true,
  keepNames: true,
  sourcemap: true,
  external: ['@aws-sdk/*'],
  mainFields: ['module', 'main'],
  banner: "import { createRequire } from 'module'; const require = createRequire(import.meta.url);",
} as const;

/** The bundle's file name inside its folder (Lambda handler `index.<export>`). */
export const BUNDLE_FILE = 'index.mjs';
