/**
 * What each pool option means, in the words of README.md's configuration table
 * (`npm run docs:options` generates it from this and POOL_OPTIONS). Kept apart from
 * options.ts, which the pool reads at run time, so that the functions' bundles do not carry
 * the documentation (some 5 KB of text). The type requires an entry for every option and
 * allows no other.
 */
import type { PoolOptionKey } from './options.js';

export interface OptionDoc {
  /** How the default reads in the README, when the value alone would mislead. */
  readonly defaultText?: string;
  /** One paragraph (Markdown) for the README's configuration table. */
  readonly description: string;
}

export const OPTION_DOCS: { readonly [K in PoolOptionKey]: OptionDoc } = {
  url: {
    defaultText: '`redis://127.0.0.1:6379`, or discovered from `REDIS_CACHE_NAME`',
    description:
      '`redis://` or `rediss://` (TLS), optional `user:password@`, optional `:port` (1–65535), optional `/db`. Passwords are redacted everywhere the library prints the URL. Unset means the default (or, with `REDIS_CACHE_NAME`, the endpoint ElastiCache gives); set to an empty string it is an error, as for every variable.',
  },
  auth: {
    description:
      "`password`: the user and password in `REDIS_URL`, if any. `iam`: ElastiCache IAM authentication, a short-lived token signed with the function's role for each connection instead of a password; needs `REDIS_USER`, `REDIS_CACHE_NAME`, `AWS_REGION` and TLS (`rediss://`, or discovery), and no password in the URL. See [ElastiCache](#elasticache).",
  },
  user: {
    defaultText: 'the user in `REDIS_URL`, if any',
    description:
      'The Redis (ACL) user; for `REDIS_AUTH=iam`, the ElastiCache user id (IAM-enabled users have user name = user id). Set both this and a user in `REDIS_URL` only if they are the same.',
  },
  cacheName: {
    description:
      'The ElastiCache replication group id or serverless cache name (lowercase). Without `REDIS_URL`, the pool asks ElastiCache for its endpoint, TLS and cluster mode once per execution environment; with `REDIS_AUTH=iam`, the tokens are signed for it.',
  },
  serverless: {
    description:
      '`true` for ElastiCache Serverless: discovery asks `DescribeServerlessCaches`, IAM tokens carry `ResourceType=ServerlessCache`, and, with `REDIS_URL`, the pool uses cluster mode unless `REDIS_CLUSTER=false` (discovery takes the cluster mode from the cache).',
  },
  cluster: {
    description:
      '`true` for cluster mode enabled (ioredis `Cluster`; the URL is a seed, typically the configuration endpoint; db must be 0). One pooled "connection" is then one Cluster client. Say `cluster: true` in code too if you want `context.redis` typed as `Cluster`.',
  },
  poolMax: {
    description:
      "Connections per execution environment, a hard budget: one shared connection plus exclusive ones. Plan `environments × REDIS_POOL_MAX` against the node's `maxclients` (65,000 on ElastiCache). On Lambda Managed Instances the Node.js runtime runs the handler module once per worker thread (`AWS_LAMBDA_NODEJS_WORKER_COUNT`), so the budget is per worker: `environments × workers × REDIS_POOL_MAX`.",
  },
  connectTimeoutMs: {
    description:
      'One connection attempt: TCP, TLS, HELLO/AUTH, then CLIENT SETNAME (and SELECT for a db other than 0).',
  },
  commandTimeoutMs: {
    description:
      "A connection with commands pending that receives nothing for this long is declared dead and its pending commands fail with `ConnectionLostError` (outcome unknown), the idle-check PING too. Only time the process runs counts: an event-loop stall or a freeze adds a quarter of it at most, and a reply that arrived meanwhile is read first. Not a per-command timeout: every command pending on the connection fails with it (on the shared one, those of concurrent invocations too), and replies that keep arriving never trip it. A blocking command on an exclusive lease must time out sooner. In cluster mode it is ioredis's `socketTimeout` on each node connection (wall time).",
  },
  acquireTimeoutMs: {
    description:
      'The longest `acquire()` waits, for the budget, a connect or a validation; also bounded by the `deadline` you pass.',
  },
  retryBaseMs: {
    description: 'Reconnect backoff: the first window.',
  },
  retryMaxMs: {
    description: 'Reconnect backoff cap; at least `REDIS_RETRY_BASE_MS`.',
  },
  idleCheckMs: {
    description:
      'A connection idle at least this long is PINGed before it is handed out, which finds one the network dropped silently; `0` checks every time it was idle at all. A close or reset the server sent while the environment was frozen is found without a PING, whatever this is: a connection unused for 10 ms or more is handed out only after the socket events that arrived meanwhile have run.',
  },
  tlsCaFile: {
    description:
      "PEM bundle trusted **in addition to** Node's root CAs for `rediss://` (ElastiCache's certificates chain to Amazon's public roots and need none). Checked at init: a readable file with at least one `-----BEGIN CERTIFICATE-----` block, each of which must parse; a directory, a DER file or a key alone is a `ConfigError`.",
  },
  maxConnectionAgeMs: {
    description:
      'A connection open this long is closed and replaced when no lease holds it (never under a running command), so that connections do not live forever: ElastiCache drops IAM-authenticated ones after 12 hours. `0` keeps connections for as long as they work (not with `REDIS_AUTH=iam`, which needs 1 – 43200000).',
  },
  connectOnInit: {
    description:
      "Open the shared connection when the pool is created (at module scope: during Lambda's init phase, so the first invocation does not wait for the connect; with provisioned concurrency, before any request arrives). A failure there is not fatal: the first acquire retries.",
  },
  metricsNamespace: {
    description: "CloudWatch namespace of the pool's metrics.",
  },
  metrics: {
    description: "`false` turns the pool's metrics off.",
  },
  clientName: {
    defaultText: '`AWS_LAMBDA_FUNCTION_NAME`, else `lambda-redis-pool`',
    description:
      "Prefix of each connection's `CLIENT SETNAME`, followed by `:<environment id>:<n>`. Characters CLIENT SETNAME refuses become `_`.",
  },
};
