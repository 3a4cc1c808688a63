/**
 * The connection handshake against real redis-server processes: least-privilege users and
 * hardened servers (ACLs, rename-command), failures that retrying cannot heal (credentials,
 * permissions, certificates, configuration) told apart from those it can (a server loading its
 * dataset), and the connect timeout as the one bound of the whole handshake on a slow link.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  ConfigError,
  RedisPool,
  type RedisPoolOptions,
  RedisUnavailableError,
} from '../../src/index.js';
import { freePort, startRedis, stopAll } from '../helpers/redis-server.js';
import { rejectionOf } from '../helpers/rejection.js';
import { startTcpProxy } from '../helpers/tcp-proxy.js';

const rejection = (promise: Promise<unknown>) => rejectionOf(promise, RedisUnavailableError);

const pools: RedisPool[] = [];

function poolFor(url: string, options: RedisPoolOptions = {}): RedisPool {
  const pool = new RedisPool({ url, clientName: 'handshake-test', metrics: false, ...options }, {});
  pools.push(pool);
  return pool;
}

/** What ioredis (or anything else) printed while the test ran. */
let printed: string[];
beforeEach(() => {
  printed = [];
  for (const method of ['log', 'info', 'warn', 'error'] as const) {
    vi.spyOn(console, method).mockImplementation((...args: unknown[]) => {
      printed.push(args.map(String).join(' '));
    });
  }
});

afterEach(async () => {
  vi.restoreAllMocks();
  await Promise.all(pools.splice(0).map((p) => p.close()));
});

const dirs: string[] = [];
afterAll(async () => {
  await stopAll();
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

/** The message a client would see names neither the endpoint nor a secret. */
function expectNoEndpointOrSecret(error: Error, port: number, secret?: string): void {
  expect(error.message).not.toContain('127.0.0.1');
  expect(error.message).not.toContain(String(port));
  if (secret) expect(error.message).not.toContain(secret);
}

describe('least privilege: the handshake needs nothing beyond HELLO/AUTH', () => {
  it.each([
    ['+get +set +ping', ['+get', '+set', '+ping'], 'SET'],
    ['+@read +@connection -client', ['+@read', '+@connection', '-client'], 'GET'],
    // The access string the README gives as enough for the pool.
    ['+@read +@write +ping', ['+@read', '+@write', '+ping'], 'SET'],
  ])(
    'an ACL user allowed only %s connects, works, and nothing is printed',
    async (_, rules, use) => {
      const server = await startRedis();
      await server.cli('ACL', 'SETUSER', 'app', 'on', '>app-secret', '~*', ...rules);
      await server.cli('SET', 'k', 'v');
      const pool = poolFor(`redis://app:app-secret@127.0.0.1:${server.port}`, {
        retryBaseMs: 10_000,
        retryMaxMs: 10_000,
      });
      const lease = await pool.acquire();
      if (use === 'SET') expect(await lease.redis.set('k', 'w')).toBe('OK');
      expect(await lease.redis.get('k')).toBe(use === 'SET' ? 'w' : 'v');
      await lease.release();
      expect(pool.stats()).toMatchObject({ connectionsCreated: 1, connectionsFailed: 0 });
      expect(printed).toEqual([]);
    },
  );

  it('a server with CLIENT and INFO renamed away (rename-command "") serves the pool', async () => {
    const server = await startBareRedis([
      '--rename-command',
      'CLIENT',
      '',
      '--rename-command',
      'INFO',
      '',
    ]);
    const pool = poolFor(`redis://127.0.0.1:${server.port}`, {
      retryBaseMs: 10_000,
      retryMaxMs: 10_000,
    });
    const lease = await pool.acquire();
    expect(await lease.redis.set('renamed', 'yes')).toBe('OK');
    await lease.release();
    expect(pool.stats()).toMatchObject({ connectionsCreated: 1, connectionsFailed: 0 });
    expect(printed).toEqual([]);
  });

  it('exclusive leases of a user without DISCARD/UNWATCH/SELECT/CLIENT come back and are reused', async () => {
    const server = await startRedis();
    await server.cli('ACL', 'SETUSER', 'app', 'on', '>app-secret', '~*', '+get', '+set', '+ping');
    const pool = poolFor(`redis://app:app-secret@127.0.0.1:${server.port}`, { poolMax: 1 });
    const first = await pool.acquire({ exclusive: true });
    await first.redis.set('x', '1');
    await first.release();
    const second = await pool.acquire({ exclusive: true });
    expect(second.redis).toBe(first.redis);
    expect(await second.redis.get('x')).toBe('1');
    await second.release();
    expect(pool.stats()).toMatchObject({ connectionsCreated: 1, connectionsLost: 0 });
  });
});

describe('failures retrying cannot heal fail fast, saying what to check', () => {
  /** Settings under which a transient failure would be retried many times in one acquire. */
  const eagerRetries = { retryBaseMs: 5, retryMaxMs: 20, acquireTimeoutMs: 1_500 };

  it('a wrong password: one attempt, a permanent error naming the credentials; healed once the password is right', async () => {
    const server = await startRedis();
    await server.cli('ACL', 'SETUSER', 'app', 'on', '>right-secret', '~*', '+@all');
    const pool = poolFor(`redis://app:wrong-secret@127.0.0.1:${server.port}`, eagerRetries);
    const error = await rejection(pool.acquire());
    expect(error.permanent).toBe(true);
    expect(error.reason).toBe('credentials');
    expect(error.message).toMatch(/WRONGPASS/);
    expect(error.message).toMatch(/REDIS_URL/);
    expect(error.statusCode).toBe(500);
    expect(error.expose).toBe(false);
    expectNoEndpointOrSecret(error, server.port, 'wrong-secret');
    expect(pool.stats().connectionsFailed).toBe(1);

    // Credentials rotated (back) to what the function has: the next attempt the backoff
    // permits connects.
    await server.cli('ACL', 'SETUSER', 'app', 'resetpass', '>wrong-secret');
    await new Promise((resolve) => setTimeout(resolve, error.retryInMs + 5));
    const lease = await pool.acquire({ deadline: Date.now() + 5_000 });
    expect(await lease.redis.ping()).toBe('PONG');
    await lease.release();
  });

  it('a user without the permission to SELECT the configured db: permanent, names NOPERM', async () => {
    const server = await startRedis();
    await server.cli('ACL', 'SETUSER', 'app', 'on', '>app-secret', '~*', '+get', '+ping');
    const pool = poolFor(`redis://app:app-secret@127.0.0.1:${server.port}/2`, eagerRetries);
    const error = await rejection(pool.acquire());
    expect(error).toMatchObject({ permanent: true, reason: 'permission' });
    expect(error.message).toMatch(/NOPERM/);
    expect(error.message).toMatch(/select/i);
    expectNoEndpointOrSecret(error, server.port, 'app-secret');
    expect(pool.stats().connectionsFailed).toBe(1);
  });

  it('a db beyond the server’s databases: permanent, names the db setting to check', async () => {
    const server = await startRedis({ args: ['--databases', '4'] });
    const pool = poolFor(`redis://127.0.0.1:${server.port}/9`, eagerRetries);
    const error = await rejection(pool.acquire());
    expect(error).toMatchObject({ permanent: true, reason: 'configuration' });
    expect(error.message).toMatch(/DB index is out of range/);
    expectNoEndpointOrSecret(error, server.port);
    expect(pool.stats().connectionsFailed).toBe(1);
  });

  it('port 0 never gets as far as a connect: the configuration refuses it at init', () => {
    expect(() => poolFor('redis://127.0.0.1:0', eagerRetries)).toThrow(ConfigError);
  });

  describe('certificates', () => {
    let tls: TlsFiles;
    beforeEach(async () => {
      tls ??= await makeCertificates();
    });

    it.each([
      ['self-signed', 'selfSigned', false, /SELF_SIGNED/],
      ['for another host name', 'wrongHost', true, /ALTNAME|HOSTNAME/],
      ['expired', 'expired', true, /EXPIRED/],
    ] as const)(
      'a server certificate %s: permanent, names the certificate problem',
      async (_, cert, trustCa, code) => {
        const tlsPort = await freePort();
        const files = tls[cert];
        const server = await startRedis({
          args: [
            ...['--tls-port', String(tlsPort), '--tls-auth-clients', 'no'],
            ...['--tls-cert-file', files.cert, '--tls-key-file', files.key],
            ...['--tls-ca-cert-file', tls.ca],
          ],
        });
        const pool = poolFor(`rediss://127.0.0.1:${tlsPort}`, {
          ...eagerRetries,
          ...(trustCa ? { tlsCaFile: tls.ca } : {}),
        });
        const error = await rejection(pool.acquire());
        expect(error).toMatchObject({ permanent: true, reason: 'tls' });
        expect(error.message).toMatch(code);
        expect(error.message).toMatch(/certificate/);
        expectNoEndpointOrSecret(error, tlsPort);
        expect(pool.stats().connectionsFailed).toBe(1);
        await server.stop();
      },
    );
  });
});

describe('a server loading its dataset', () => {
  it('is reported as loading, within the deadline, retried under the backoff until it is done', async () => {
    // key-load-delay (µs per key) makes the load slow; processing events every KiB keeps the
    // server answering (with LOADING) meanwhile, as a big dataset does between its chunks.
    const server = await startRedis({
      args: ['--key-load-delay', '50', '--loading-process-events-interval-bytes', '1024'],
    });
    await server.cli('DEBUG', 'POPULATE', '20000');
    await server.cli('SAVE');
    await server.restart();
    const loading = async () => /^loading:1/m.test(await server.cli('INFO', 'persistence'));
    expect(await loading()).toBe(true);

    const pool = poolFor(`redis://127.0.0.1:${server.port}`, {
      connectTimeoutMs: 1_000,
      retryBaseMs: 50,
      retryMaxMs: 200,
    });
    const deadline = Date.now() + 1_500;
    const error = await rejection(pool.acquire({ deadline }));
    expect(Date.now()).toBeLessThan(deadline + 500);
    expect(error).toMatchObject({ permanent: false, reason: 'loading' });
    expect(error.message).toMatch(/loading its dataset/);
    expect(error.statusCode).toBe(503);
    // The test saw what it meant to: the load was still going on.
    expect(await loading()).toBe(true);

    await expect.poll(loading, { timeout: 60_000, interval: 200 }).toBe(false);
    const lease = await pool.acquire({ deadline: Date.now() + 5_000 });
    expect(await lease.redis.dbsize()).toBe(20_000);
    await lease.release();
  }, 90_000);
});

describe('the connect timeout bounds the whole handshake, and only it', () => {
  it('a link slower than the command timeout but within the connect timeout connects', async () => {
    const server = await startRedis();
    const proxy = await startTcpProxy(server.port);
    proxy.setLatency(150); // 300 ms per round trip
    try {
      const pool = poolFor(proxy.url, {
        commandTimeoutMs: 200,
        connectTimeoutMs: 5_000,
        retryBaseMs: 10_000,
        retryMaxMs: 10_000,
      });
      const lease = await pool.acquire();
      await lease.release();
      expect(pool.stats()).toMatchObject({ connectionsCreated: 1, connectionsFailed: 0 });
      expect(printed).toEqual([]);
    } finally {
      await proxy.close();
    }
  });

  it('a link within the command timeout but slower than the connect timeout does not', async () => {
    const server = await startRedis();
    const proxy = await startTcpProxy(server.port);
    proxy.setLatency(300); // 600 ms per round trip
    try {
      const pool = poolFor(proxy.url, {
        commandTimeoutMs: 10_000,
        connectTimeoutMs: 400,
        retryBaseMs: 10_000,
        retryMaxMs: 10_000,
      });
      const error = await rejection(pool.acquire());
      expect(error).toMatchObject({ permanent: false });
      expect(error.message).toMatch(/timed out after 400 ms/);
      // The jittered backoff may allow a second attempt within the acquire: it times out too.
      expect(pool.stats().connectionsCreated).toBe(0);
      expect(pool.stats().connectionsFailed).toBeGreaterThanOrEqual(1);
    } finally {
      await proxy.close();
    }
  });
});

// ---- a server without INFO ---------------------------------------------------------------

const bareServers = new Set<ChildProcess>();
const killBareServers = () => {
  for (const child of bareServers) child.kill('SIGKILL');
};
process.on('exit', killBareServers);
afterAll(async () => {
  await Promise.all(
    [...bareServers].map(
      (child) =>
        new Promise((resolve) => {
          child.once('exit', resolve);
          child.kill('SIGTERM');
        }),
    ),
  );
  process.off('exit', killBareServers);
});

/**
 * A redis-server started here rather than with startRedis(), whose readiness probe needs the
 * INFO command this server does not have. Ready once it answers PING; stopped after the file.
 */
async function startBareRedis(args: string[]): Promise<{ readonly port: number }> {
  const port = await freePort();
  const child = spawn(
    'redis-server',
    ['--bind', '127.0.0.1', '--port', String(port), '--save', '', '--appendonly', 'no', ...args],
    { stdio: 'ignore' },
  );
  bareServers.add(child);
  child.once('exit', () => bareServers.delete(child));
  const ping = promisify(execFile);
  for (let tries = 0; ; tries++) {
    const answer = await ping('redis-cli', ['-p', String(port), 'PING']).catch(() => undefined);
    if (answer?.stdout.trim() === 'PONG') return { port };
    if (tries > 100) throw new Error(`redis-server on ${port} did not start`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

// ---- a slow link ----------------------------------------------------------------------------

// ---- certificates ---------------------------------------------------------------------------

interface KeyPair {
  readonly cert: string;
  readonly key: string;
}

interface TlsFiles {
  /** The CA that signed wrongHost and expired. */
  readonly ca: string;
  readonly selfSigned: KeyPair;
  readonly wrongHost: KeyPair;
  readonly expired: KeyPair;
}

const openssl = (cwd: string, ...args: string[]) =>
  promisify(execFile)('openssl', args, { cwd, timeout: 15_000 });

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/** Server certificates with one thing wrong each; all of them for 127.0.0.1 except wrongHost. */
async function makeCertificates(): Promise<TlsFiles> {
  const dir = await mkdtemp(join(tmpdir(), 'handshake-tls-'));
  dirs.push(dir);
  const ext = (san: string) => `basicConstraints=CA:FALSE\nsubjectAltName=${san}\n`;
  await writeFile(join(dir, 'ok.ext'), ext('IP:127.0.0.1,DNS:localhost'));
  await writeFile(join(dir, 'other.ext'), ext('DNS:redis.example.internal'));
  await writeFile(
    join(dir, 'ca.cnf'),
    [
      '[ca]',
      'default_ca = local',
      '[local]',
      'dir = .',
      'database = index.txt',
      'serial = serial',
      'new_certs_dir = .',
      'default_md = sha256',
      'policy = any',
      'unique_subject = no',
      '[any]',
      'commonName = supplied',
      '[ok]',
      'basicConstraints = CA:FALSE',
      'subjectAltName = IP:127.0.0.1,DNS:localhost',
      '',
    ].join('\n'),
  );
  await writeFile(join(dir, 'index.txt'), '');
  await writeFile(join(dir, 'serial'), '01\n');
  const subject = (cn: string) => ['-subj', `/CN=${cn}`];
  await openssl(
    dir,
    'req',
    '-x509',
    ...EC,
    '-keyout',
    'ca.key',
    '-out',
    'ca.crt',
    '-days',
    '2',
    ...subject('handshake test CA'),
  );
  // Self-signed: the server's own certificate, signed by nobody a client trusts.
  await openssl(
    dir,
    'req',
    '-x509',
    ...EC,
    '-keyout',
    'self.key',
    '-out',
    'self.crt',
    '-days',
    '2',
    ...subject('localhost'),
    '-addext',
    'subjectAltName=IP:127.0.0.1,DNS:localhost',
  );
  for (const name of ['other', 'expired']) {
    await openssl(
      dir,
      'req',
      ...EC,
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.csr`,
      ...subject(name),
    );
  }
  await openssl(
    dir,
    'x509',
    '-req',
    '-in',
    'other.csr',
    '-CA',
    'ca.crt',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-days',
    '2',
    '-extfile',
    'other.ext',
    '-out',
    'other.crt',
  );
  // Valid for one day, in 2020: `openssl ca` takes explicit dates where `x509 -days` cannot.
  await openssl(
    dir,
    'ca',
    '-batch',
    '-config',
    'ca.cnf',
    '-cert',
    'ca.crt',
    '-keyfile',
    'ca.key',
    '-in',
    'expired.csr',
    '-out',
    'expired.crt',
    '-startdate',
    '20200101000000Z',
    '-enddate',
    '20200102000000Z',
    '-extensions',
    'ok',
    '-notext',
  );
  const pair = (name: string) => ({
    cert: join(dir, `${name}.crt`),
    key: join(dir, `${name}.key`),
  });
  return {
    ca: join(dir, 'ca.crt'),
    selfSigned: pair('self'),
    wrongHost: pair('other'),
    expired: pair('expired'),
  };
}
