/**
 * No secret in any output: runs the IAM integration tests (test/integration/iam.scenarios.ts, which
 * print every error the pool gives them in full) in a vitest of their own, their only run, and searches all it
 * printed, stdout and stderr, for the AWS secret key, the session token and every token those
 * tests' pools sent or could have sent.
 *
 * Stand-ins for AWS: as in iam.scenarios.ts.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { IAM_TEST_CREDENTIALS, IAM_TEST_START, MINUTE, tokenAt } from './iam-secrets.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** An ANSI colour code (ESC [ … m). */
const COLOUR = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, 'g');

function runVitest(file: string): Promise<{ output: string; code: number | null }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['node_modules/vitest/vitest.mjs', 'run', '--reporter=verbose'],
      {
        cwd: ROOT,
        env: { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1', LRP_TEST_INCLUDE: file },
        maxBuffer: 64 * 1024 * 1024,
      },
      (error, stdout, stderr) => {
        // Without colour codes, so that a secret split by one would still be found.
        const output = `${stdout}\n${stderr}`.replace(COLOUR, '');
        resolve({ output, code: error ? (error.code as number) : 0 });
      },
    );
  });
}

describe('the output of the IAM tests', () => {
  it('holds neither the secret key, nor the session token, nor a token', async () => {
    const { output, code } = await runVitest('test/integration/iam.scenarios.ts');
    // Every scenario passed; on a failure, their names (never the output, which may hold a
    // secret when something is wrong).
    const failed = output.split('\n').filter((line) => /^\s*(×|FAIL)/.test(line));
    expect(failed, 'IAM scenarios that failed').toEqual([]);
    expect(code).toBe(0);
    // The run did happen and printed errors in full: the search below searches something.
    expect(output).toContain('[iam] refused token');
    expect(output).toMatch(/Tests\s+\d+ passed/);

    const tokens = [0, 9, 11, 12].flatMap((minutes) => {
      const at = IAM_TEST_START + minutes * MINUTE;
      return [tokenAt(at), tokenAt(at, 'orders-discovered')];
    });
    const secrets: Record<string, string> = {
      'the secret access key': IAM_TEST_CREDENTIALS.AWS_SECRET_ACCESS_KEY,
      'the session token': IAM_TEST_CREDENTIALS.AWS_SESSION_TOKEN,
      // Any presigned connect request, whatever its time or signature.
      'a signature parameter': 'X-Amz-Signature',
      'a credential parameter': 'X-Amz-Credential',
      ...Object.fromEntries(tokens.map((token, i) => [`token ${i + 1}`, token])),
    };
    // Named, not shown: this test's own failure must not print them either.
    const found = Object.keys(secrets).filter((name) => output.includes(secrets[name] ?? ''));
    expect(found, 'secrets found in the output of test/integration/iam.scenarios.ts').toEqual([]);
  }, 120_000);
});
