/**
 * A DNS server on loopback (UDP) that answers A and AAAA queries from a table the test sets:
 * what a VPC's resolver is to a function resolving its ElastiCache endpoint. Names not in the
 * table get NXDOMAIN; a known name without an address of the asked family gets an empty answer
 * (NODATA). TTL 0, so nothing is cached between connects and `setAddress` acts at once (the
 * DNS flip of a failover).
 *
 *   const dns = await startDnsServer({ 'cache.test': '127.0.0.1' });
 *   new Resolver().setServers([dns.server]);   // '127.0.0.1:PORT'
 */
import { createSocket as createUdpSocket, type RemoteInfo } from 'node:dgram';
import { isIP } from 'node:net';

export interface DnsServer {
  /** `127.0.0.1:PORT`, for `Resolver.setServers`. */
  readonly server: string;
  /** Names asked for, in order, with their query type (`A` or `AAAA`). */
  readonly queries: Array<{ name: string; type: string }>;
  /** Points `name` at `address` (IPv4 or IPv6); undefined removes it. */
  setAddress(name: string, address: string | undefined): void;
  close(): Promise<void>;
}

const TYPE_A = 1;
const TYPE_AAAA = 28;

export async function startDnsServer(table: Record<string, string> = {}): Promise<DnsServer> {
  const addresses = new Map(Object.entries(table).map(([k, v]) => [k.toLowerCase(), v]));
  const queries: Array<{ name: string; type: string }> = [];
  const socket = createUdpSocket('udp4');
  socket.on('message', (message: Buffer, peer: RemoteInfo) => {
    const reply = answer(message, addresses, queries);
    if (reply) socket.send(reply, peer.port, peer.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const { port } = socket.address();
  return {
    server: `127.0.0.1:${port}`,
    queries,
    setAddress(name, address) {
      if (address === undefined) addresses.delete(name.toLowerCase());
      else addresses.set(name.toLowerCase(), address);
    },
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}

/** The reply to one query, or undefined for a message that is not one. */
function answer(
  message: Buffer,
  addresses: Map<string, string>,
  queries: Array<{ name: string; type: string }>,
): Buffer | undefined {
  if (message.length < 12) return undefined;
  const labels: string[] = [];
  let offset = 12;
  for (;;) {
    const length = message[offset];
    if (length === undefined) return undefined;
    offset++;
    if (length === 0) break;
    labels.push(message.subarray(offset, offset + length).toString('ascii'));
    offset += length;
  }
  const type = message.readUInt16BE(offset);
  const questionEnd = offset + 4;
  const name = labels.join('.').toLowerCase();
  queries.push({ name, type: type === TYPE_A ? 'A' : type === TYPE_AAAA ? 'AAAA' : String(type) });

  const address = addresses.get(name);
  const family = address === undefined ? 0 : isIP(address);
  const matches = (type === TYPE_A && family === 4) || (type === TYPE_AAAA && family === 6);
  const header = Buffer.alloc(12);
  message.copy(header, 0, 0, 2); // the query's id
  // QR=1, opcode 0, AA=1, RD copied, RA=1; RCODE 3 (NXDOMAIN) for an unknown name.
  header.writeUInt16BE(0x8400 | (message.readUInt16BE(2) & 0x0100) | 0x0080 | (address ? 0 : 3), 2);
  header.writeUInt16BE(1, 4); // one question
  header.writeUInt16BE(matches ? 1 : 0, 6); // answers
  const question = message.subarray(12, questionEnd);
  if (!matches || address === undefined) return Buffer.concat([header, question]);
  const rdata =
    family === 4
      ? Buffer.from(address.split('.').map(Number))
      : Buffer.from(expandIpv6(address), 'hex');
  const record = Buffer.alloc(12);
  record.writeUInt16BE(0xc00c, 0); // the name: a pointer to the question's
  record.writeUInt16BE(type, 2);
  record.writeUInt16BE(1, 4); // class IN
  record.writeUInt32BE(0, 6); // TTL 0: ask again every time
  record.writeUInt16BE(rdata.length, 10);
  return Buffer.concat([header, question, record, rdata]);
}

/** `::1` → 32 hex digits. */
function expandIpv6(address: string): string {
  const [head = '', tail = ''] = address.split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = [...left, ...Array(8 - left.length - right.length).fill('0'), ...right];
  return groups.map((g) => g.padStart(4, '0')).join('');
}
