/** Waiter: the one bounded wait behind every wait of the pool. Fake timers: no real time passes. */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { withTimeout } from '../../src/pool/timeout.js';
import { Waiter } from '../../src/pool/waiter.js';

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

class Late extends Error {}

describe('Waiter', () => {
  it('resolves with the value it is given, and clears its timer', async () => {
    const waiter = new Waiter<string>(1_000, () => new Late());
    expect(vi.getTimerCount()).toBe(1);
    expect(waiter.resolve('conn')).toBe(true);
    expect(waiter.isPending).toBe(false);
    expect(vi.getTimerCount()).toBe(0);
    await expect(waiter.promise).resolves.toBe('conn');
  });

  it('rejects with the error onTimeout makes, exactly at its timeout', async () => {
    const onTimeout = vi.fn(() => new Late('too late'));
    const waiter = new Waiter<string>(1_000, onTimeout);
    const outcome = waiter.promise.catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(999);
    expect(waiter.isPending).toBe(true);
    expect(onTimeout).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(1);
    expect(waiter.isPending).toBe(false);
    expect(await outcome).toBeInstanceOf(Late);
    expect(onTimeout).toHaveBeenCalledTimes(1);
  });

  it('onTimeout runs once the wait is over, so it may clean up after it', async () => {
    let pendingDuringTimeout: boolean | undefined;
    const waiter: Waiter<string> = new Waiter<string>(10, () => {
      pendingDuringTimeout = waiter.isPending;
      return new Late();
    });
    const outcome = waiter.promise.catch(() => 'rejected');
    await vi.advanceTimersByTimeAsync(10);
    expect(pendingDuringTimeout).toBe(false);
    expect(await outcome).toBe('rejected');
  });

  it('the first outcome wins; later ones are refused and say so', async () => {
    const waiter = new Waiter<string>(10, () => new Late());
    const outcome = waiter.promise.catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(10);
    expect(waiter.resolve('a connection that came too late')).toBe(false);
    expect(waiter.reject(new Error('also too late'))).toBe(false);
    expect(await outcome).toBeInstanceOf(Late);

    const resolved = new Waiter<string>(10, () => new Late());
    resolved.resolve('first');
    expect(resolved.reject(new Error('second'))).toBe(false);
    await vi.advanceTimersByTimeAsync(10);
    await expect(resolved.promise).resolves.toBe('first');
  });

  it('an infinite timeout arms no timer', () => {
    const waiter = new Waiter<string>(Number.POSITIVE_INFINITY, () => new Late());
    expect(vi.getTimerCount()).toBe(0);
    expect(waiter.isPending).toBe(true);
  });

  it('a timeout already past ends the wait on the next turn, after what is already settled', async () => {
    const waiter = new Waiter<string>(-50, () => new Late());
    waiter.follow(Promise.resolve('ready now'));
    await vi.advanceTimersByTimeAsync(0);
    await expect(waiter.promise).resolves.toBe('ready now');
  });

  it('follow() settles the wait the way its source settles', async () => {
    const ok = new Waiter<number>(100, () => new Late());
    ok.follow(Promise.resolve(7));
    await expect(ok.promise).resolves.toBe(7);

    const failed = new Waiter<number>(100, () => new Late());
    const cause = new Error('PING failed');
    failed.follow(Promise.reject(cause));
    await expect(failed.promise).rejects.toBe(cause);
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe('withTimeout (a Waiter that follows a promise)', () => {
  it('passes the result through and leaves no timer behind', async () => {
    await expect(withTimeout(Promise.resolve('OK'), 1_000, () => new Late())).resolves.toBe('OK');
    expect(vi.getTimerCount()).toBe(0);
  });

  it('rejects with the timeout error when the promise takes too long', async () => {
    const never = new Promise<string>(() => {});
    const outcome = withTimeout(never, 300, () => new Late('QUIT timed out')).catch(
      (e: unknown) => e,
    );
    await vi.advanceTimersByTimeAsync(300);
    expect(await outcome).toMatchObject({ message: 'QUIT timed out' });
  });
});
