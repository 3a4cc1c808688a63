/**
 * What to tell the person at the terminal when the AWS SDK's credential chain finds nothing,
 * for both modules that load the SDK (signing, ElastiCache). Nothing here loads the SDK.
 */

/** The chain found nothing at all (as opposed to a source that failed, e.g. an expired SSO session). */
const NOTHING_FOUND = /could not load credentials from any providers/i;

/** Whether an SDK error's message says the credential chain found nothing at all. */
export function foundNoCredentials(message: string): boolean {
  return NOTHING_FOUND.test(message);
}

/** The places the SDK looks, to set one; no full stop, so a caller can add why they are needed. */
export function noCredentialsMessage(): string {
  const profile = process.env.AWS_PROFILE;
  return (
    `no AWS credentials found${profile ? ` for profile ${JSON.stringify(profile)}` : ''}: ` +
    'set AWS_PROFILE to a profile of `aws configure` or `aws sso login`, or set ' +
    'AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN), or run where a ' +
    'role provides them'
  );
}
