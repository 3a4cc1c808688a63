/**
 * Host name resolution without libuv's threadpool (src/pool/resolve.ts).
 *
 * Stand-in for AWS: a DNS server on loopback (test/helpers/dns-server.ts) plays the VPC's
 * resolver that answers for an ElastiCache endpoint's name. The threadpool is real: it is kept
 * busy with pbkdf2 work, as the runtime's workers keep it busy on Lambda Managed Instances.
 */
import { lookup } from 'node:dns/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { resolveHost } from '../../src/pool/resolve.js';
import { type DnsServer, startDnsServer } from '../helpers/dns-server.js';
import { saturateThreadpool } from '../helpers/threadpool.js';

let dns: DnsServer;

beforeEach(async () => {
  dns = await startDnsServer({
    'primary.cache.test': '127.0.0.1',
    'ipv6-only.cache.test': '::1',
  });
});

afterEach(() => dns.close());

const options = () => ({ timeoutMs: 5_000, servers: [dns.server] });

describe('resolveHost', () => {
  it('uses IP literals as they are, asking no one', async () => {
    expect(await resolveHost('10.1.2.3', options())).toEqual({ address: '10.1.2.3', family: 4 });
    expect(await resolveHost('::1', options())).toEqual({ address: '::1', family: 6 });
    expect(dns.queries).toEqual([]);
  });

  it('takes localhost as the loopback address, asking no one', async () => {
    expect(await resolveHost('localhost', options())).toEqual({ address: '127.0.0.1', family: 4 });
    expect(await resolveHost('redis.localhost', options())).toMatchObject({ address: '127.0.0.1' });
    expect(dns.queries).toEqual([]);
  });

  it('asks the DNS servers for an A record, and for AAAA when there is none', async () => {
    expect(await resolveHost('primary.cache.test', options())).toEqual({
      address: '127.0.0.1',
      family: 4,
    });
    expect(await resolveHost('ipv6-only.cache.test', options())).toEqual({
      address: '::1',
      family: 6,
    });
    expect(dns.queries).toEqual([
      { name: 'primary.cache.test', type: 'A' },
      { name: 'ipv6-only.cache.test', type: 'A' },
      { name: 'ipv6-only.cache.test', type: 'AAAA' },
    ]);
  });

  it('asks again every time: a changed record is seen on the next resolve', async () => {
    expect((await resolveHost('primary.cache.test', options())).address).toBe('127.0.0.1');
    dns.setAddress('primary.cache.test', '127.0.0.2');
    expect((await resolveHost('primary.cache.test', options())).address).toBe('127.0.0.2');
  });

  it('falls back to the system resolver (getaddrinfo) for a name DNS does not know', async () => {
    const error = await resolveHost('no-such-name.invalid', options()).catch((e: unknown) => e);
    expect(dns.queries).toContainEqual({ name: 'no-such-name.invalid', type: 'A' });
    // The system resolver did not know it either: its error, not c-ares's, is the answer.
    expect(error).toMatchObject({ code: 'ENOTFOUND', syscall: 'getaddrinfo' });
  });

  it('answers while every threadpool thread is busy, before any of that work ends', async () => {
    const events: string[] = [];
    const busy = saturateThreadpool(events);
    // The threadpool's way, for contrast: getaddrinfo waits for a free thread.
    const viaThreadpool = lookup('localhost').then(() => events.push('dns.lookup answered'));
    const viaCares = resolveHost('primary.cache.test', options()).then(() =>
      events.push('resolveHost answered'),
    );
    await Promise.all([...busy, viaThreadpool, viaCares]);
    expect(events[0]).toBe('resolveHost answered');
    expect(events.indexOf('dns.lookup answered')).toBeGreaterThan(
      events.indexOf('threadpool work done'),
    );
  });
});
