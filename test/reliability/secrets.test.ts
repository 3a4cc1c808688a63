/**
 * No secret in anything a whole scenario emits. The real pool runs in the simulator (real RIC
 * processes, frozen between invocations) against a real redis-server whose ACL users have
 * passwords, through a healthy phase, a password rotated under the function, an outage, and a
 * second function whose password is shaped like an IAM authentication token (a presigned
 * request, as ElastiCache IAM auth uses). The handler logs its context and client every way
 * people do, runs commands that carry a secret and fail, and logs every error deeply before
 * rethrowing it (test/fixtures/reliability/secrets.ts). Every line every environment wrote (the
 * runtime's own error logs and the EMF documents included) and every invocation report are
 * then searched for both secrets.
 */
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { afterEach, expect } from 'vitest';
import { type InvocationReport, LambdaSimulator } from '../../local/index.js';
import type { SecretsEvent } from '../fixtures/reliability/secrets.js';
import { test } from '../helpers/fixtures.js';
import { occurrences } from '../helpers/leaks.js';
import type { RedisServer } from '../helpers/redis-server.js';
import { figure, sleep } from './support.js';

const HANDLER = fileURLToPath(new URL('../fixtures/reliability/secrets.ts', import.meta.url));

/** A loaded machine can take minutes for the phases' cold starts and retries. */
const SCENARIO_MS = 240_000;
/** Invocations a phase may take to reach the state it waits for (a reconnect, a backoff). */
const ATTEMPTS = 40;

/** Distinctive parts of the two secrets: what the search looks for. */
const PASSWORD_MARK = randomBytes(8).toString('hex');
const TOKEN_SIGNATURE = randomBytes(32).toString('hex');
/** A password with characters a URL must encode, so both spellings are exercised. */
const PASSWORD = `s3cr3t/pool+${PASSWORD_MARK}`;
/** Shaped like an ElastiCache IAM auth token: a presigned, signed query string. */
const TOKEN = [
  'cache-app.example.com:6379/?Action=connect&User=app2',
  'X-Amz-Algorithm=AWS4-HMAC-SHA256',
  `X-Amz-Credential=ASIA${randomBytes(8).toString('hex').toUpperCase()}%2F20250101%2Fus-east-1%2Felasticache%2Faws4_request`,
  'X-Amz-Date=20250101T000000Z&X-Amz-Expires=900&X-Amz-SignedHeaders=host',
  `X-Amz-Signature=${TOKEN_SIGNATURE}`,
].join('&');
/** The password the server is rotated to; the function never has it. */
const ROTATED = `rotated-${randomBytes(8).toString('hex')}`;

const running: LambdaSimulator[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((sim) => sim.stop()));
});

/** An application user: all data commands, no ACL or CONFIG (those are refused, NOPERM). */
async function createUser(server: RedisServer, user: string, password: string): Promise<void> {
  const rules = ['on', `>${password}`, '~*', '&*', '+@all', '-@admin', '-@dangerous'];
  await server.cli('ACL', 'SETUSER', user, 'reset', ...rules);
}

/** The texts searched: everything any environment printed, and every report. */
interface Emitted {
  lines: string[];
  reports: InvocationReport[];
}

async function startSecretsFunction(
  server: RedisServer,
  user: string,
  password: string,
  emitted: Emitted,
): Promise<LambdaSimulator> {
  const sim = await LambdaSimulator.start({
    entry: HANDLER,
    functionName: 'secrets',
    timeoutMs: 10_000,
    initTimeoutMs: 60_000,
    maxEnvironments: 1,
    env: {
      REDIS_URL: `redis://${user}:${encodeURIComponent(password)}@127.0.0.1:${server.port}`,
      REDIS_CONNECT_TIMEOUT_MS: '1000',
      REDIS_COMMAND_TIMEOUT_MS: '2000',
      REDIS_ACQUIRE_TIMEOUT_MS: '2000',
      REDIS_RETRY_BASE_MS: '20',
      REDIS_RETRY_MAX_MS: '200',
      REDIS_IDLE_CHECK_MS: '100',
      REDIS_METRICS_NAMESPACE: 'Secrets',
    },
  });
  running.push(sim);
  sim.on('log', (event) => emitted.lines.push(event.line));
  return sim;
}

/** What the test may print about a report: the secrets masked, should one be there. */
function shown(report: InvocationReport): string {
  return JSON.stringify(report.error ?? report.result)
    .replaceAll(PASSWORD_MARK, '<password>')
    .replaceAll(TOKEN_SIGNATURE, '<token>');
}

function invoker(sim: LambdaSimulator, emitted: Emitted) {
  return async (event: SecretsEvent): Promise<InvocationReport> => {
    const report = await sim.invoke(event);
    emitted.reports.push(report);
    return report;
  };
}

/** Invokes until `done(report)`; fails after ATTEMPTS invocations. */
async function until(
  invoke: (event: SecretsEvent) => Promise<InvocationReport>,
  event: SecretsEvent,
  done: (report: InvocationReport) => boolean,
): Promise<InvocationReport[]> {
  const seen: InvocationReport[] = [];
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const report = await invoke(event);
    seen.push(report);
    if (done(report)) return seen;
    await sleep(50);
  }
  throw new Error(`never reached after ${ATTEMPTS} invocations: ${seen.map(shown).join('\n')}`);
}

const answered = (report: InvocationReport) => report.ok;
const refusedCredentials = (report: InvocationReport) =>
  report.error?.errorType === 'RedisUnavailableError' &&
  /WRONGPASS/.test(report.error.errorMessage);

/**
 * The handler's own commands that carry a secret and fail, each passing through the wrapper.
 * The checks of these steps are soft: one that goes wrong is reported, and the scenario still
 * runs on to the search, which counts every leak.
 */
async function failingCommands(
  invoke: (event: SecretsEvent) => Promise<InvocationReport>,
  user: string,
  wrongPassword: string,
): Promise<void> {
  const auth = await invoke({ op: 'auth', user, password: wrongPassword });
  expect.soft(auth.error?.errorType, shown(auth)).toBe('ReplyError');
  expect.soft(auth.error?.errorMessage).toMatch(/^WRONGPASS/);
  const acl = await invoke({ op: 'acl-setuser', user, password: PASSWORD });
  expect.soft(acl.error?.errorMessage, shown(acl)).toMatch(/^NOPERM/);
  const multi = await invoke({ op: 'multi-config', password: TOKEN });
  expect.soft(multi.error?.errorMessage, shown(multi)).toMatch(/^EXECABORT/);
}

async function logContext(
  invoke: (event: SecretsEvent) => Promise<InvocationReport>,
): Promise<void> {
  const report = await invoke({ op: 'log-context' });
  // JSON.stringify(context) does not throw, and the client still works.
  expect.soft(report.result, shown(report)).toBe('PONG');
}

test('nothing a whole scenario emits holds the password or the token', {
  timeout: SCENARIO_MS,
}, async ({ redisServer: server }) => {
  const emitted: Emitted = { lines: [], reports: [] };
  await createUser(server, 'app', PASSWORD);
  const sim = await startSecretsFunction(server, 'app', PASSWORD, emitted);
  const invoke = invoker(sim, emitted);

  // Healthy: the context logged every way; the handler's own failing commands.
  await until(invoke, { op: 'ping' }, answered);
  await logContext(invoke);
  await failingCommands(invoke, 'app', TOKEN);

  // The password is rotated under the function and its connection is closed: every connect
  // is refused (WRONGPASS) until the password is rotated back.
  await server.cli('ACL', 'SETUSER', 'app', 'resetpass', `>${ROTATED}`);
  await server.cli('CLIENT', 'KILL', 'USER', 'app');
  const refused = await until(invoke, { op: 'ping' }, refusedCredentials);
  refused.push(...(await until(invoke, { op: 'ping' }, refusedCredentials)));
  await server.cli('ACL', 'SETUSER', 'app', 'resetpass', `>${PASSWORD}`);
  await until(invoke, { op: 'ping' }, answered);

  // An outage: the server is down, then back (its users recreated: they live in memory).
  await server.stop();
  const outage = await until(invoke, { op: 'ping' }, (r) => !r.ok && !r.timedOut);
  outage.push(...(await until(invoke, { op: 'ping' }, (r) => !r.ok && !r.timedOut)));
  await server.restart();
  await createUser(server, 'app', PASSWORD);
  await until(invoke, { op: 'ping' }, answered);
  await logContext(invoke);

  // A second function whose password is a token, refused until the server knows it.
  const sim2 = await startSecretsFunction(server, 'app2', TOKEN, emitted);
  const invoke2 = invoker(sim2, emitted);
  refused.push(...(await until(invoke2, { op: 'ping' }, refusedCredentials)));
  await createUser(server, 'app2', TOKEN);
  await until(invoke2, { op: 'ping' }, answered);
  await logContext(invoke2);
  await failingCommands(invoke2, 'app2', PASSWORD);

  await Promise.all(running.splice(0).map((s) => s.stop()));

  // The phases happened: refusals, an outage, errors logged deeply by the handler.
  expect(refused.filter(refusedCredentials).length).toBeGreaterThanOrEqual(3);
  expect(outage.filter((r) => !r.ok).length).toBeGreaterThanOrEqual(2);
  expect(emitted.lines.filter((l) => l.includes('RedisUnavailableError')).length).toBeGreaterThan(
    0,
  );
  expect(emitted.lines.filter((l) => l.includes('"_aws"')).length).toBeGreaterThan(0);

  const everything = [...emitted.lines, ...emitted.reports.map((r) => JSON.stringify(r))].join(
    '\n',
  );
  const found = {
    password: occurrences(everything, PASSWORD_MARK),
    token: occurrences(everything, TOKEN_SIGNATURE),
  };
  figure('lines and reports searched', emitted.lines.length + emitted.reports.length);
  figure('password occurrences', found.password);
  figure('token occurrences', found.token);
  expect(found).toEqual({ password: 0, token: 0 });
});
