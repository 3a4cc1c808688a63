/** src/list.ts: the list of invocations in flight, against a plain array doing the same. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { List, type ListEntry } from '../../src/list.js';

describe('List', () => {
  it('keeps the order of addition through any adds and removals, as an array would (property)', () => {
    // An operation: add the next number, or remove the entry added k-th (maybe twice).
    const operation = fc.oneof(fc.constant('add' as const), fc.nat(40));
    fc.assert(
      fc.property(fc.array(operation, { maxLength: 60 }), (operations) => {
        const list = new List<number>();
        const entries: ListEntry<number>[] = [];
        let model: number[] = [];
        for (const op of operations) {
          if (op === 'add') {
            entries.push(list.add(entries.length));
            model.push(entries.length - 1);
            continue;
          }
          const entry = entries[op];
          if (entry === undefined) continue;
          expect(list.remove(entry)).toBe(model.includes(op));
          model = model.filter((value) => value !== op);
        }
        expect([...list.entries()].map((entry) => entry.value)).toEqual(model);
        expect(list.size).toBe(model.length);
        // The end is still known after any removals: a new entry goes last.
        list.add(-1);
        expect([...list.entries()].map((entry) => entry.value)).toEqual([...model, -1]);
      }),
      { numRuns: 500 },
    );
  });

  it('a walk survives the removal of the entry it is at', () => {
    const list = new List<number>();
    for (let i = 0; i < 6; i++) list.add(i);
    const seen: number[] = [];
    for (const entry of list.entries()) {
      seen.push(entry.value);
      if (entry.value % 2 === 0) list.remove(entry);
    }
    expect(seen).toEqual([0, 1, 2, 3, 4, 5]);
    expect([...list.entries()].map((entry) => entry.value)).toEqual([1, 3, 5]);
  });

  it('an entry is not removed from another list, nor twice', () => {
    const a = new List<string>();
    const b = new List<string>();
    const entry = a.add('x');
    b.add('y');
    expect(b.remove(entry)).toBe(false);
    expect(b.size).toBe(1);
    expect(a.remove(entry)).toBe(true);
    expect(a.remove(entry)).toBe(false);
    expect(a.size).toBe(0);
  });
});
