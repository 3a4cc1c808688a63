/**
 * The ordering helpers the integration tests assert with, checked against what they claim:
 * order survives a stalled process, I/O that arrived during the stall gets in before the
 * sentinel, and something due after the sentinel loses.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { settlesBefore } from './ordering.js';

/** Stalls this process as a loaded machine does: no timer fires, no socket is read. */
function stall(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

const elapsed = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

let server: Server | undefined;
afterEach(async () => {
  await new Promise((resolve) => server?.close(resolve) ?? resolve(undefined));
  server = undefined;
});

/** A connected pair on loopback: the server's end and the client's. */
async function socketPair(): Promise<{ serverSide: Socket; clientSide: Socket }> {
  const accepted = new Promise<Socket>((resolve) => {
    server = createServer(resolve);
  });
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
  const address = server?.address();
  if (!address || typeof address === 'string') throw new Error('no port');
  const clientSide = connect(address.port, '127.0.0.1');
  await new Promise((resolve) => clientSide.once('connect', resolve));
  return { serverSide: await accepted, clientSide };
}

describe('settlesBefore', () => {
  it('a promise settled by an earlier timer wins, even when a stall makes both due at once', async () => {
    const race = settlesBefore(elapsed(50), 100);
    stall(300);
    expect(await race).toBe(true);
  });

  it('a promise settled by a later timer loses', async () => {
    expect(await settlesBefore(elapsed(1_000), 50)).toBe(false);
  });

  it('a promise that never settles loses', async () => {
    expect(await settlesBefore(new Promise(() => {}), 10)).toBe(false);
  });

  it("a peer's close that arrived during a stall wins, where a bare timer would not", async () => {
    const { serverSide, clientSide } = await socketPair();
    const closed = new Promise((resolve) => clientSide.once('close', resolve));
    const race = settlesBefore(closed, 10);
    const bareTimer = Promise.race([closed.then(() => true), elapsed(10).then(() => false)]);
    serverSide.destroy(); // the FIN is on its way; the client reads it after the stall
    stall(200);
    expect(await bareTimer).toBe(false); // why the sentinel lets the loop turn after its timer
    expect(await race).toBe(true);
  });
});
