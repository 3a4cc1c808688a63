/**
 * The fixed credentials, clock and tokens of the IAM tests (iam.scenarios.ts), shared with the test
 * that searches their output for secrets (iam-output.test.ts).
 */
import { expectedIamTokenFor } from '../helpers/sigv4.js';

/** Fixed test credentials: what test/integration/iam-output.test.ts greps for. */
export const IAM_TEST_CREDENTIALS = {
  AWS_ACCESS_KEY_ID: 'AKIDIAMINTEGRATION01',
  AWS_SECRET_ACCESS_KEY: 'iam/Integration+Secret0Key0That0Must0Never0Print',
  AWS_SESSION_TOKEN: 'FwoGZXIvYXdzEXAMPLEsessionTokenForIamIntegration',
};
export const REGION = 'eu-west-1';
export const USER = 'orders-app';
export const CACHE = 'orders';
/** 2024-03-01T08:00:00Z */
export const IAM_TEST_START = Date.UTC(2024, 2, 1, 8, 0, 0);
export const MINUTE = 60_000;

/** The token for the pool's cache and user, signed at `now`, as AWS's rules make it. */
export function tokenAt(now: number, cacheName = CACHE): string {
  return expectedIamTokenFor(IAM_TEST_CREDENTIALS, {
    cacheName,
    userId: USER,
    serverless: false,
    region: REGION,
    now,
  });
}
