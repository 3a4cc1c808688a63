import { expect } from 'vitest';

/** The error `promise` rejects with, asserted to be a `type`; fails the test if it resolves. */
export async function rejectionOf<T>(
  promise: Promise<unknown>,
  type: abstract new (...args: never[]) => T,
): Promise<T> {
  const error = await promise.then(
    () => expect.fail(`expected a rejection with ${type.name}`),
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(type);
  return error as T;
}
