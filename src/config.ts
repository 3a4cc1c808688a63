/**
 * Configuration: environment variables (and options given in code) → one typed, validated
 * config. Every problem is collected and reported in a single ConfigError at init, so a bad
 * deployment fails once, loudly, naming each variable, instead of one variable per cold start.
 * Secrets never leave this module in clear text except through `Secret.reveal()`.
 */
import { inspect, readFileSync, statSync, X509Certificate } from './builtins.js';
import { ConfigError, type ConfigIssue } from './errors.js';
import {
  ENV_VARS,
  IAM_CONNECTION_LIMIT_MS,
  type OptionKind,
  type OptionValue,
  POOL_OPTION_KEYS,
  POOL_OPTIONS,
  type PoolOptionKey,
  type RedisPoolOptions,
} from './options.js';

export { DEFAULTS, ENV_VARS, type RedisPoolOptions } from './options.js';

/** A value that prints as `***` everywhere (logs, JSON, util.inspect) unless revealed. */
export class Secret {
  readonly #value: string;
  constructor(value: string) {
    this.#value = value;
  }
  reveal(): string {
    return this.#value;
  }
  toString(): string {
    return '***';
  }
  toJSON(): string {
    return '***';
  }
  [inspect.custom](): string {
    return '***';
  }
}

/** Where Redis is, parsed from REDIS_URL. */
export interface RedisEndpoint {
  readonly host: string;
  readonly port: number;
  readonly tls: boolean;
  readonly db: number;
  readonly username: string | undefined;
  readonly password: Secret | undefined;
  /** The URL with any password replaced by `***`: safe for logs and errors. */
  readonly redactedUrl: string;
}

/** An option's resolved value: `undefined` only for an option without a default (tlsCaFile). */
type ConfigValue<K extends PoolOptionKey> =
  | OptionValue<K>
  | ((typeof POOL_OPTIONS)[K]['default'] extends undefined ? undefined : never);

/**
 * The resolved configuration: every option of POOL_OPTIONS, valid, except `url`, which becomes
 * `endpoint` (its password a Secret, so a config can be logged).
 */
export type RedisPoolConfig = {
  readonly [K in Exclude<PoolOptionKey, 'url'>]: ConfigValue<K>;
} & {
  /**
   * Where Redis is, from REDIS_URL (or its default). Undefined when it is to be discovered:
   * REDIS_CACHE_NAME without REDIS_URL.
   */
  readonly endpoint: RedisEndpoint | undefined;
  /** AWS_REGION (else AWS_DEFAULT_REGION): where the cache is, for discovery and IAM tokens. */
  readonly region: string | undefined;
};

type Env = Readonly<Record<string, string | undefined>>;

/**
 * Reads and validates the configuration. Options given in code win over the environment.
 * @throws ConfigError listing every bad variable or option, unknown option keys included.
 */
export function loadConfig(
  env: Env = process.env,
  options: RedisPoolOptions = {},
): RedisPoolConfig {
  const issues: ConfigIssue[] = [];
  const read = new Reader(env, options, issues);
  const values = Object.fromEntries(POOL_OPTION_KEYS.map((key) => [key, read.value(key)])) as {
    readonly [K in PoolOptionKey]: ConfigValue<K>;
  };
  const { url, ...rest } = values;
  // REDIS_CACHE_NAME without REDIS_URL: the endpoint is asked of ElastiCache at run time.
  const discover = values.cacheName !== undefined && !read.isSet('url');
  const parsed = discover ? undefined : read.endpoint(url);
  const user = read.user(values.user, parsed);
  const endpoint = parsed && { ...parsed, username: user };
  const region = (env.AWS_REGION ?? env.AWS_DEFAULT_REGION)?.trim() || undefined;
  // ElastiCache Serverless speaks the cluster protocol.
  const cluster = values.cluster || (values.serverless && !read.isSet('cluster'));

  if (values.retryMaxMs < values.retryBaseMs) {
    read.fail(
      'retryMaxMs',
      `a cap at least ${read.name('retryBaseMs')} (${values.retryBaseMs})`,
      String(values.retryMaxMs),
    );
  }
  if (values.auth === 'iam') read.iam(values, parsed, user, region);
  if (discover && region === undefined && values.auth !== 'iam') {
    read.issue(
      'AWS_REGION',
      `the region of the cache to discover (${read.name('cacheName')})`,
      'unset',
    );
  }
  if (cluster && endpoint && endpoint.db !== 0) {
    read.fail(
      'url',
      `database 0 when ${read.name('cluster')} is true (Redis Cluster has only db 0)`,
      `/${endpoint.db}`,
    );
  }
  if (values.tlsCaFile !== undefined && endpoint && !endpoint.tls) {
    read.fail(
      'tlsCaFile',
      `to be set only with a rediss:// ${read.name('url')}`,
      `a CA file with ${endpoint.redactedUrl}`,
    );
  }
  if (issues.length > 0 || (!endpoint && !discover)) throw new ConfigError(issues);
  return { ...rest, cluster, user, endpoint, region };
}

/**
 * Reads each option from code options or the environment as POOL_OPTIONS describes it,
 * recording every issue; an invalid value reads as its default so that reading goes on.
 */
class Reader {
  readonly #env: Env;
  readonly #options: Readonly<Record<string, unknown>>;
  readonly #issues: ConfigIssue[];

  constructor(env: Env, options: unknown, issues: ConfigIssue[]) {
    this.#env = env;
    this.#issues = issues;
    this.#options = this.#checkKeys(options);
  }

  /** How the offending value is named in errors: the variable, or the code option. */
  name(key: PoolOptionKey): string {
    return this.#options[key] !== undefined ? `options.${key}` : ENV_VARS[key];
  }

  fail(key: PoolOptionKey, expected: string, received: string): void {
    this.#issues.push({ variable: this.name(key), expected, received });
  }

  /** An issue with a variable that is not a pool option (AWS_REGION). */
  issue(variable: string, expected: string, received: string): void {
    this.#issues.push({ variable, expected, received });
  }

  /** Whether the option was given in code or the environment (not left to its default). */
  isSet(key: PoolOptionKey): boolean {
    return this.#raw(key) !== undefined;
  }

  /** REDIS_USER, else the URL's user; both set and different is an issue. */
  user(user: string | undefined, endpoint: RedisEndpoint | undefined): string | undefined {
    const fromUrl = endpoint?.username;
    if (user !== undefined && fromUrl !== undefined && user !== fromUrl) {
      this.fail(
        'user',
        `the same user as ${this.name('url')}, or only one of them`,
        `${show(user)} and ${show(fromUrl)} in the URL`,
      );
    }
    return user ?? fromUrl;
  }

  /**
   * REDIS_AUTH=iam needs a user, a cache to sign the token for, a region, TLS (a token must
   * never travel in clear text) and no password, and connections replaced before ElastiCache
   * drops them at 12 hours. Each missing piece is an issue of its own.
   */
  iam(
    values: { readonly cacheName: string | undefined; readonly maxConnectionAgeMs: number },
    endpoint: RedisEndpoint | undefined,
    user: string | undefined,
    region: string | undefined,
  ): void {
    const why = `with ${this.name('auth')}=iam`;
    if (endpoint && !endpoint.tls) {
      this.fail(
        'url',
        `a rediss:// URL ${why}: IAM authentication needs in-transit encryption`,
        endpoint.redactedUrl,
      );
    }
    if (endpoint?.password !== undefined) {
      this.fail(
        'url',
        `no password in the URL ${why} (the IAM token is the password)`,
        endpoint.redactedUrl,
      );
    }
    if (user === undefined) {
      this.fail(
        'user',
        `the ElastiCache user id ${why} (or a user in ${this.name('url')})`,
        'unset',
      );
    }
    // A name that is set but invalid has its issue already.
    if (values.cacheName === undefined && !this.isSet('cacheName')) {
      this.fail('cacheName', `the replication group id or serverless cache name ${why}`, 'unset');
    }
    if (region === undefined) this.issue('AWS_REGION', `the cache's region ${why}`, 'unset');
    const age = values.maxConnectionAgeMs;
    if (age === 0 || age > IAM_CONNECTION_LIMIT_MS) {
      this.fail(
        'maxConnectionAgeMs',
        `1 to ${IAM_CONNECTION_LIMIT_MS} ${why} (ElastiCache drops IAM connections after 12 hours)`,
        String(age),
      );
    }
  }

  value<K extends PoolOptionKey>(key: K): ConfigValue<K> {
    const spec: Spec = POOL_OPTIONS[key];
    const raw = this.#raw(key);
    if (raw === EMPTY) {
      this.fail(key, 'a value (unset the variable for the default)', 'an empty string');
    }
    const value = raw === undefined || raw === EMPTY ? undefined : this.#check(key, spec, raw);
    if (spec.kind === 'clientName') return this.#clientName(value, spec) as ConfigValue<K>;
    return (value ?? spec.default) as ConfigValue<K>;
  }

  /** Parses the URL into an endpoint. */
  endpoint(url: string): RedisEndpoint | undefined {
    const result = parseRedisUrl(url);
    if (typeof result !== 'string') return result;
    this.fail(
      'url',
      'a redis:// or rediss:// URL like redis://[user:password@]host[:port][/db]',
      result,
    );
    return undefined;
  }

  /**
   * Code options must be an object of known keys: an unknown key would otherwise be ignored
   * and, since pools are keyed by their options, silently make a second pool with a budget of
   * its own (`{ poolmax: 3 }`).
   */
  #checkKeys(options: unknown): Readonly<Record<string, unknown>> {
    if (typeof options !== 'object' || options === null) {
      this.#issues.push({
        variable: 'options',
        expected: 'an object of pool options',
        received: show(options),
      });
      return {};
    }
    for (const key of Object.keys(options)) {
      if (Object.hasOwn(POOL_OPTIONS, key)) continue;
      const near = POOL_OPTION_KEYS.find(
        (k) => k.toLowerCase() === key.toLowerCase() || ENV_VARS[k] === key,
      );
      this.#issues.push({
        variable: `options.${key}`,
        expected: `a pool option${near ? ` (did you mean ${near}?)` : ''}`,
        // Not the value: a misspelt url or password option may hold a secret.
        received: 'an unknown option',
      });
    }
    return options as Readonly<Record<string, unknown>>;
  }

  /**
   * The raw value: a code option as given, or the environment's string trimmed. A variable set
   * to an empty string is EMPTY, not unset: `REDIS_URL=` from a template whose value did not
   * resolve must fail at init, not quietly mean redis://127.0.0.1:6379.
   */
  #raw(key: PoolOptionKey): unknown {
    if (this.#options[key] !== undefined) return this.#options[key];
    const value = this.#env[ENV_VARS[key]];
    if (value === undefined) return undefined;
    return value.trim() === '' ? EMPTY : value.trim();
  }

  /** The checked value, or undefined (and an issue) when it is not what its kind accepts. */
  #check(key: PoolOptionKey, spec: Spec, raw: unknown): string | number | boolean | undefined {
    switch (spec.kind) {
      case 'integer': {
        const min = spec.min ?? 0;
        const max = spec.max ?? Number.MAX_SAFE_INTEGER;
        const n =
          typeof raw === 'number' ? raw : /^-?\d+$/.test(String(raw)) ? Number(raw) : Number.NaN;
        if (Number.isInteger(n) && n >= min && n <= max) return n;
        return this.#reject(key, `an integer from ${min} to ${max}`, raw);
      }
      case 'boolean': {
        if (typeof raw === 'boolean') return raw;
        const text = String(raw).toLowerCase();
        if (['true', '1', 'yes'].includes(text)) return true;
        if (['false', '0', 'no'].includes(text)) return false;
        return this.#reject(key, 'true or false', raw);
      }
      case 'url':
        // Parsed by endpoint(); a value that is not even a string is not shown (a password).
        return typeof raw === 'string' ? raw : this.#reject(key, 'a string', typeof raw, false);
      case 'file': {
        const problem = certificateFileProblem(String(raw));
        if (problem === undefined) return String(raw);
        return this.#reject(
          key,
          'a readable file of PEM certificates',
          `${show(raw)} (${problem})`,
          false,
        );
      }
      case 'namespace': {
        const text = String(raw);
        // CloudWatch's rules for namespaces; AWS/ is reserved for AWS services.
        if (/^[A-Za-z0-9 .\-_/#:]{1,255}$/.test(text) && !text.startsWith('AWS/')) return text;
        return this.#reject(
          key,
          '1-255 of A-Z a-z 0-9 . - _ / # : or space, not starting with AWS/',
          raw,
        );
      }
      case 'clientName':
        return String(raw);
      case 'auth': {
        const text = String(raw).toLowerCase();
        if (text === 'password' || text === 'iam') return text;
        return this.#reject(key, 'password or iam', raw);
      }
      case 'user': {
        const text = String(raw);
        if (/^[^\s:@/]{1,128}$/.test(text)) return text;
        return this.#reject(key, 'a user name: 1-128 characters, no spaces, no : @ /', raw);
      }
      case 'cacheName': {
        const text = String(raw);
        if (CACHE_NAME.test(text) && text.length <= 40) return text;
        const hint = CACHE_NAME.test(text.toLowerCase())
          ? ` (did you mean ${show(text.toLowerCase())}? ElastiCache ids are lowercase)`
          : '';
        return this.#reject(
          key,
          `an ElastiCache id: 1-40 lowercase letters, digits and single hyphens, starting with a letter${hint}`,
          raw,
        );
      }
    }
  }

  #reject(key: PoolOptionKey, expected: string, received: unknown, quote = true): undefined {
    this.fail(key, expected, quote ? show(received) : String(received));
    return undefined;
  }

  /** Any name is accepted: what CLIENT SETNAME would refuse becomes `_`. */
  #clientName(value: unknown, spec: Spec): string {
    const fallback = String(spec.default);
    const name = String(value ?? this.#env.AWS_LAMBDA_FUNCTION_NAME ?? fallback)
      // CLIENT SETNAME rejects spaces and newlines; keep names greppable in CLIENT LIST.
      .replace(/[^A-Za-z0-9._:\-$[\]]/g, '_')
      .slice(0, 64);
    return name || fallback;
  }
}

/** ElastiCache's rule for replication group ids and serverless cache names (stored lowercase). */
const CACHE_NAME = /^[a-z](?:-?[a-z0-9])*$/;

/** A variable set to an empty (or blank) string. */
const EMPTY = Symbol('empty');

const BEGIN_CERTIFICATE = '-----BEGIN CERTIFICATE-----';
const END_CERTIFICATE = '-----END CERTIFICATE-----';

/**
 * Why `path` is not a CA bundle, or undefined when it is one: a readable regular file holding
 * at least one PEM certificate, every one of which parses. Checked at init so that a directory,
 * a DER file or a key fails the deployment naming the variable, instead of failing every
 * connect later as if Redis were down. Text around the certificates is allowed, as in
 * OpenSSL's bundles.
 */
function certificateFileProblem(path: string): string | undefined {
  let text: string;
  try {
    // stat first: reading a FIFO or a device would block init, a directory throws EISDIR.
    const stat = statSync(path);
    if (stat.isDirectory()) return 'a directory';
    if (!stat.isFile()) return 'not a regular file';
    text = readFileSync(path, 'utf8');
  } catch {
    return 'not found or not readable';
  }
  const blocks = text.split(BEGIN_CERTIFICATE).slice(1);
  if (blocks.length === 0) return `no PEM certificate in it (no ${BEGIN_CERTIFICATE} line)`;
  for (const [i, block] of blocks.entries()) {
    const which = `certificate ${i + 1} of ${blocks.length}`;
    const end = block.indexOf(END_CERTIFICATE);
    if (end === -1) return `${which} has no END line`;
    try {
      new X509Certificate(`${BEGIN_CERTIFICATE}${block.slice(0, end)}${END_CERTIFICATE}`);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      return `${which} does not parse: ${reason.slice(0, 80)}`;
    }
  }
  return undefined;
}

/** A table entry as the reader sees it: bounds and default may be absent. */
interface Spec {
  readonly kind: OptionKind;
  readonly default: string | number | boolean | undefined;
  readonly min?: number;
  readonly max?: number;
}

/**
 * Parses a redis:// or rediss:// URL. Returns an error description (never containing the
 * password) when it is not one.
 */
export function parseRedisUrl(raw: string): RedisEndpoint | string {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(raw)?.[1]?.toLowerCase();
  if (scheme === undefined) return `a value without a scheme (${raw.length} characters)`;
  if (scheme !== 'redis' && scheme !== 'rediss') return `a ${scheme}:// URL`;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return `an unparsable URL (${redactUrl(raw)})`;
  }
  const redacted = redactUrl(raw);
  if (!url.hostname) return `a URL without a host (${redacted})`;
  const port = url.port === '' ? 6379 : Number(url.port);
  // The URL parser refuses ports above 65535 but takes 0, which no server listens on.
  if (port < 1) return `a port outside 1-65535 (${redacted})`;
  const dbText = url.pathname.replace(/^\//, '');
  if (dbText !== '' && !/^\d{1,5}$/.test(dbText))
    return `a URL whose path is not a database number (${redacted})`;
  const db = dbText === '' ? 0 : Number(dbText);
  return {
    host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port,
    tls: scheme === 'rediss',
    db,
    username: url.username ? decodeURIComponent(url.username) : undefined,
    password: url.password ? new Secret(decodeURIComponent(url.password)) : undefined,
    redactedUrl: redacted,
  };
}

/** Replaces the password of a URL (in userinfo or a password= query parameter) with `***`. */
export function redactUrl(raw: string): string {
  return (
    raw
      // Greedy up to the last '@': an unencoded '@' inside a password must not expose its tail.
      .replace(/^([a-z][a-z0-9+.-]*:\/\/)(.*)@/is, (_, scheme: string, userinfo: string) => {
        const colon = userinfo.indexOf(':');
        // A lone userinfo may be a password written without its colon: hide it too.
        return colon === -1 ? `${scheme}***@` : `${scheme}${userinfo.slice(0, colon)}:***@`;
      })
      .replace(/([?&](?:password|pass|pwd|token)=)[^&#]*/gi, '$1***')
  );
}

/** A non-secret value, quoted and shortened for an error message. */
function show(value: unknown): string {
  const text = typeof value === 'string' ? JSON.stringify(value) : String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
