/**
 * Host names to addresses without libuv's threadpool.
 *
 * Node's default resolution (`dns.lookup`, what `net.connect` uses) calls getaddrinfo on one of
 * libuv's threadpool threads (4 by default). On Lambda Managed Instances the runtime's workers
 * can keep all of them busy (file system, crypto, zlib), and every lookup then waits for a free
 * thread: a connect stalls until its timeout although DNS would answer at once. `dns.Resolver`
 * asks the DNS servers itself (c-ares, on the event loop), so a busy threadpool cannot hold it
 * up. A name is resolved again on every new connection: a failover changes what an
 * ElastiCache endpoint points to.
 *
 * - IP literals are used as they are.
 * - `localhost` and `*.localhost` are the loopback address (RFC 6761), without asking anyone.
 * - A name the DNS servers do not know (NXDOMAIN, or no A or AAAA record) falls back to
 *   `dns.lookup`, which reads /etc/hosts and the other sources of the system's resolver: such a
 *   name is not an ElastiCache endpoint, and this fallback does use the threadpool.
 */
import { isIP, Resolver, lookup as systemLookup } from '../builtins.js';

export interface ResolvedAddress {
  readonly address: string;
  readonly family: 4 | 6;
}

/** Codes of an answer that says the DNS servers have no address for the name. */
const NO_SUCH_NAME = new Set(['ENOTFOUND', 'ENODATA', 'ENONAME', 'NXDOMAIN']);

interface ResolveOptions {
  /** Bounds the resolution: each query gets half of it (c-ares tries twice). */
  readonly timeoutMs: number;
  /**
   * DNS servers to ask (`ip` or `ip:port`) instead of the system's (/etc/resolv.conf): for
   * tests, which answer from a DNS server of their own.
   */
  readonly servers?: readonly string[] | undefined;
}

/** The address to connect to for `host`: IPv4 when the name has an A record, else IPv6. */
export async function resolveHost(host: string, options: ResolveOptions): Promise<ResolvedAddress> {
  const family = isIP(host);
  if (family === 4 || family === 6) return { address: host, family };
  const name = host.toLowerCase().replace(/\.$/, '');
  if (name === 'localhost' || name.endsWith('.localhost'))
    return { address: '127.0.0.1', family: 4 };
  const resolver = new Resolver({
    timeout: Math.max(1, Math.ceil(options.timeoutMs / 2)),
    tries: 2,
  });
  if (options.servers) resolver.setServers(options.servers);
  try {
    return await resolveWith(resolver, host);
  } catch (error) {
    if (!NO_SUCH_NAME.has(codeOf(error))) throw error;
    const found = await systemLookup(host);
    return { address: found.address, family: found.family === 6 ? 6 : 4 };
  } finally {
    // Ends queries still running (AAAA after an A answer; a query past the caller's patience).
    resolver.cancel();
  }
}

async function resolveWith(
  resolver: InstanceType<typeof Resolver>,
  host: string,
): Promise<ResolvedAddress> {
  try {
    const [address] = await resolver.resolve4(host);
    if (address) return { address, family: 4 };
  } catch (error) {
    // NXDOMAIN: no record of any type. ENODATA: no A record; maybe an AAAA one.
    if (codeOf(error) !== 'ENODATA') throw error;
  }
  const [address] = await resolver.resolve6(host);
  if (address) return { address, family: 6 };
  throw Object.assign(new Error(`No address for ${host}`), { code: 'ENODATA' });
}

function codeOf(error: unknown): string {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : '';
}
