/**
 * The AWS SDK, loaded when first needed: `@aws-sdk/client-elasticache`, which the Lambda
 * Node.js runtime provides (bundlers leave `@aws-sdk/*` out, as the CDK's NodejsFunction does).
 *
 * A dynamic `import()` of the package itself, not a static import in a lazily loaded module: a
 * bundle that is one ES module (no code splitting) must turn an external package's static
 * import into a top-level one, which would load the SDK at every cold start, and fail where
 * the package is not installed.
 */
import { ElastiCacheError } from '../errors.js';

export type ElastiCacheSdk = typeof import('@aws-sdk/client-elasticache');

let loading: Promise<ElastiCacheSdk> | undefined;

/**
 * The SDK's ElastiCache client module.
 * @throws ElastiCacheError (permanent) naming the package when it cannot be loaded.
 */
export function loadElastiCacheSdk(cacheName: string): Promise<ElastiCacheSdk> {
  loading ??= import('@aws-sdk/client-elasticache');
  return loading.catch((error: unknown) => {
    loading = undefined;
    throw missingSdk(cacheName, error);
  });
}

function missingSdk(cacheName: string, error: unknown): ElastiCacheError {
  const reason = error instanceof Error ? error.message.split('\n')[0] : String(error);
  return new ElastiCacheError(`Cannot load @aws-sdk/client-elasticache (${reason})`, {
    cacheName,
    permanent: true,
    reason: 'configuration',
    check:
      'the Lambda Node.js runtime provides the AWS SDK (@aws-sdk/*); elsewhere, install @aws-sdk/client-elasticache',
  });
}

/**
 * An SDK error as a cause to pass on: its name and message only, never the error itself, whose
 * other fields hold request ids, raw responses, or (from a credential provider) credentials.
 */
export function sdkErrorSummary(error: unknown): Error {
  if (!(error instanceof Error)) return new Error(String(error));
  return new Error(`${error.name}: ${error.message}`);
}
