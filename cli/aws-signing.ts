/**
 * SigV4 for a call to API Gateway (`execute-api`), with the AWS SDK's own credential chain and
 * signer. The CLI imports this module only when it signs, so a call to the local API never
 * loads the SDK.
 */
import { Sha256 } from '@aws-crypto/sha256-js';
import { defaultProvider } from '@aws-sdk/credential-provider-node';
import { SignatureV4 } from '@smithy/signature-v4';
import { foundNoCredentials, noCredentialsMessage } from './aws-credentials.js';

/** Credentials could not be loaded; the message says what to set. */
export class CredentialsError extends Error {
  override readonly name = 'CredentialsError';
}

export interface RequestToSign {
  readonly method: string;
  readonly url: URL;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: string;
}

export interface SignedRequest {
  /** The headers to send: the given ones, X-Amz-Date, the security token, Authorization. */
  readonly headers: Record<string, string>;
  /** The text with the secret key, the session token and the signature replaced by `***`. */
  redact(text: string): string;
}

export async function signRequest(request: RequestToSign, region: string): Promise<SignedRequest> {
  const credentials = await loadCredentials();
  const signer = new SignatureV4({
    credentials,
    region,
    service: 'execute-api',
    sha256: Sha256,
    // The body's hash goes into the signature either way; API Gateway needs no header for it.
    applyChecksum: false,
  });
  const { url } = request;
  const signed = await signer.sign({
    method: request.method,
    protocol: url.protocol,
    hostname: url.hostname,
    port: url.port === '' ? undefined : Number(url.port),
    path: url.pathname,
    query: Object.fromEntries(url.searchParams),
    // Signed as fetch() will send it: the URL's host, with the port unless it is the default.
    headers: { ...request.headers, host: url.host },
    body: request.body,
  });
  // fetch() sets Host from the URL itself.
  const headers: Record<string, string> = { ...signed.headers };
  delete headers.host;
  const secrets = [credentials.secretAccessKey, credentials.sessionToken, headers.authorization];
  return {
    headers,
    redact: (text) =>
      secrets.reduce<string>((out, secret) => (secret ? out.split(secret).join('***') : out), text),
  };
}

/**
 * The SDK's chain, built once: it keeps the credentials it finds until they near expiry, so a
 * drill that signs for minutes does not re-read the config files or call STS/SSO on every
 * request. A failed lookup is not kept; the next call tries the chain again.
 */
let credentialProvider: ReturnType<typeof defaultProvider> | undefined;

async function loadCredentials() {
  credentialProvider ??= defaultProvider();
  try {
    return await credentialProvider();
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    if (!foundNoCredentials(message)) {
      throw new CredentialsError(`could not load AWS credentials: ${message}`);
    }
    throw new CredentialsError(
      `${noCredentialsMessage()}. The call is signed with SigV4 because the route uses AWS_IAM.`,
    );
  }
}
