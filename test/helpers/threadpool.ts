import { pbkdf2 } from 'node:crypto';

/**
 * Occupies every libuv threadpool thread (UV_THREADPOOL_SIZE, 4 by default) with long pbkdf2
 * work, plus one task waiting: anything else that needs the threadpool (dns.lookup, fs) waits
 * behind it. Each task pushes 'threadpool work done' to `events` when it ends.
 *
 * Long: about 0.75 s per task on an idle 2.5 GHz core. The tests race a connect (a DNS query,
 * a TCP handshake, two round trips) against it; with 0.15 s (200,000 iterations) a machine
 * loaded by two test suites let the work end first once.
 */
export function saturateThreadpool(events: string[]): Promise<void>[] {
  const threads = Number(process.env.UV_THREADPOOL_SIZE ?? 4);
  return Array.from(
    { length: threads + 1 },
    (_, i) =>
      new Promise<void>((resolve) =>
        pbkdf2(`p${i}`, 'salt', 1_000_000, 32, 'sha512', () => {
          events.push('threadpool work done');
          resolve();
        }),
      ),
  );
}
