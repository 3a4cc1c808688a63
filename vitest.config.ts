import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseEnv } from 'node:util';
import { defineConfig } from 'vitest/config';

const source = (path: string) => fileURLToPath(new URL(path, import.meta.url));

export default defineConfig({
  // The functions import the library by its package name, as a user's code does (tsconfig
  // `paths` says the same to tsc, tsx and esbuild).
  resolve: {
    alias: [
      { find: /^lambda-redis-pool$/, replacement: source('./src/index.ts') },
      { find: /^lambda-redis-pool\/middy$/, replacement: source('./src/middy.ts') },
      { find: /^lambda-redis-pool\/cdk$/, replacement: source('./src/cdk/index.ts') },
    ],
  },
  test: {
    // The IAM scenarios (*.scenarios.ts) run only inside test/integration/iam-output.test.ts,
    // which runs them in a vitest of its own (LRP_TEST_INCLUDE) and searches their output for
    // secrets: included here too, they would run twice.
    include: [process.env.LRP_TEST_INCLUDE ?? 'test/**/*.test.ts'],
    reporters: ['default', './test/summary-reporter.ts'],
    // Tests start their own redis-server processes on free ports; two workers suit the
    // 2-core machines this runs on and keep fault tests from starving each other.
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // .env.test is the environment every test runs with.
    env: parseEnv(readFileSync(new URL('./.env.test', import.meta.url), 'utf8')) as Record<
      string,
      string
    >,
  },
});
