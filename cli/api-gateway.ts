/**
 * What an API Gateway URL says about itself, from the URL alone: whether its host is an
 * `execute-api` one, the region (the scope a SigV4 signature must carry), and the method ARN
 * an IAM policy must allow. And what to check when API Gateway denies a call (403).
 * And the command-line flags that decide whether a call is signed, and for which region.
 * Pure functions: nothing here loads the AWS SDK.
 */
import { UsageError } from './command-line.js';

/**
 * `{api-id}.execute-api.{region}.amazonaws.com`, and `{api-id}-{vpce-id}.execute-api.…`, the
 * Route 53 alias of a private API reached through a VPC endpoint; `.amazonaws.com.cn` in China.
 * Regions look like `eu-west-1`, `us-gov-west-1`, `cn-north-1`.
 */
const EXECUTE_API_HOST =
  /^([a-z0-9]+)(?:-vpce-[a-z0-9]+)?\.execute-api\.([a-z]{2}(?:-[a-z]+)+-\d+)\.amazonaws\.com(\.cn)?$/;

export interface ApiGatewayHost {
  readonly apiId: string;
  readonly region: string;
  /** The ARN partition: `aws`, `aws-cn` or `aws-us-gov`. */
  readonly partition: string;
}

export function parseApiGatewayHost(hostname: string): ApiGatewayHost | undefined {
  const match = EXECUTE_API_HOST.exec(hostname.toLowerCase());
  if (match === null) return undefined;
  const [, apiId = '', region = '', china] = match;
  const partition = china ? 'aws-cn' : region.startsWith('us-gov-') ? 'aws-us-gov' : 'aws';
  return { apiId, region, partition };
}

/** A call signed with SigV4 for API Gateway (`execute-api`) in this region. */
export interface Signing {
  readonly region: string;
}

/** The form of a region, as in EXECUTE_API_HOST. */
const REGION = /^[a-z]{2}(?:-[a-z]+)+-\d+$/;

/** `--region`, checked; absent stays absent. */
export function parseRegion(raw: string | undefined): string | undefined {
  if (raw === undefined || REGION.test(raw)) return raw;
  throw new UsageError(`--region: expected a region such as eu-west-1, got ${JSON.stringify(raw)}`);
}

export interface SigningFlags {
  readonly sign: boolean;
  /** `--region`, already checked by parseRegion. */
  readonly region: string | undefined;
  /**
   * Whether `--region` is there only to sign. Then, for a URL that is not API Gateway's,
   * `--region` without `--sign` is a mistake (the throughput CLI); the drill's `--region` also
   * names the cache's region, so there it may come alone.
   */
  readonly regionOnlySigns: boolean;
}

/** An execute-api host is signed for its own region; any other host only with --sign --region. */
export function parseSigning(url: URL, flags: SigningFlags): Signing | undefined {
  const { sign, region } = flags;
  const apiGateway = parseApiGatewayHost(url.hostname);
  if (apiGateway !== undefined) {
    // API Gateway checks the region in the signature against its own. For the drill, the
    // throughput function also runs in the cache's VPC: one region for both.
    if (region !== undefined && region !== apiGateway.region) {
      throw new UsageError(`--region: ${region} is not the URL's region, ${apiGateway.region}`);
    }
    return { region: apiGateway.region };
  }
  if (!sign) {
    if (region !== undefined && flags.regionOnlySigns) {
      throw new UsageError('--region: only used to sign; add --sign to sign this URL');
    }
    return undefined;
  }
  if (region === undefined) {
    throw new UsageError(`--sign: ${url.hostname} names no region; add --region`);
  }
  return { region };
}

/**
 * The ARN `execute-api:Invoke` must allow for this call:
 * `arn:aws:execute-api:{region}:{account}:{api-id}/{stage}/{METHOD}/{resource path}`.
 * The account is not in the URL; a custom domain hides the API id and the stage too.
 */
export function methodArn(url: URL, method: string, region: string): string {
  const host = parseApiGatewayHost(url.hostname);
  if (host === undefined) {
    return `arn:aws:execute-api:${region}:<account-id>:<api-id>/<stage>/${method}/<resource-path>`;
  }
  const [stage = '<stage>', ...resource] = url.pathname.split('/').slice(1);
  return `arn:${host.partition}:execute-api:${region}:<account-id>:${host.apiId}/${stage}/${method}/${resource.join('/')}`;
}

/** What a 403 from API Gateway means when the call was signed, keyed by its message's start. */
const DENIALS: ReadonlyArray<readonly [RegExp, (region: string) => string]> = [
  [
    /^Signature expired/i,
    () => "This machine's clock is off by more than 5 minutes: set it right (NTP) and retry.",
  ],
  [
    /^The request signature we calculated does not match/i,
    (region) =>
      `Check the secret key of your AWS credentials, and the region (signed for ${region}; --region).`,
  ],
  [
    /^The security token included in the request is (invalid|expired)/i,
    () =>
      'Your AWS access key or session token is not valid (expired or deleted): refresh your credentials (e.g. `aws sso login`).',
  ],
  [
    /^Credential should be scoped to a valid region/i,
    (region) => `The API is not in ${region}: pass its region with --region.`,
  ],
  [
    // To a signed call, API Gateway says this only for a route it does not have.
    /^Missing Authentication Token/i,
    () =>
      'The API has no such route: check the path after the stage (…/<stage>/api/v1/test/redis).',
  ],
];

/** The lines printed when API Gateway answers 403; `signedFor` is the region, if signed. */
export function deniedMessage(
  shown: string,
  serverText: string,
  url: URL,
  method: string,
  signedFor: string | undefined,
): string {
  const first = `${shown} denied the call (403): ${serverText}`;
  if (signedFor === undefined) {
    return `${first}\nThe call was not signed. An AWS_IAM route needs SigV4: the CLI signs by itself for an execute-api host; for any other host (a custom domain) pass --sign --region <region>. API Gateway also answers "Missing Authentication Token" for a route it does not have: check the path.`;
  }
  const known = DENIALS.find(([pattern]) => pattern.test(serverText));
  const hint = known
    ? known[1](signedFor)
    : `The identity of your AWS credentials (\`aws sts get-caller-identity\`) needs execute-api:Invoke on ${methodArn(url, method, signedFor)}, and the API's resource policy, if it has one, must allow it.`;
  return `${first}\n${hint}`;
}
