/**
 * A list whose entries leave in constant time through the handle `add` returned. For the
 * invocations in flight, each added and removed once: a Set would compute an identity hash for
 * every new object, about a quarter of a microsecond per add and delete on the bench machine,
 * paid on every invocation (the runner's open invocations, which carry the early timeouts too).
 */
export class List<T> {
  #first: ListEntry<T> | undefined;
  #size = 0;

  get size(): number {
    return this.#size;
  }

  /** Adds `value` at the end; the entry returned removes it. */
  add(value: T): ListEntry<T> {
    const entry = new ListEntry(value, this);
    const first = this.#first;
    if (first === undefined) {
      entry.previous = entry;
      entry.next = undefined;
      this.#first = entry;
    } else {
      // The first entry's `previous` is the last one: the end is reached without a walk.
      const last = first.previous as ListEntry<T>;
      last.next = entry;
      entry.previous = last;
      first.previous = entry;
    }
    this.#size++;
    return entry;
  }

  /** Removes the entry; false when it was removed already. */
  remove(entry: ListEntry<T>): boolean {
    if (entry.list !== this) return false;
    entry.list = undefined;
    const first = this.#first as ListEntry<T>;
    const { previous, next } = entry;
    if (entry === first) {
      this.#first = next;
      if (next) next.previous = entry.previous;
    } else {
      (previous as ListEntry<T>).next = next;
      if (next) next.previous = previous;
      else first.previous = previous;
    }
    entry.previous = undefined;
    entry.next = undefined;
    this.#size--;
    return true;
  }

  /** The entries in order of addition. The walk survives the removal of the entry it is at. */
  *entries(): IterableIterator<ListEntry<T>> {
    let entry = this.#first;
    while (entry !== undefined) {
      const next = entry.next;
      yield entry;
      entry = next;
    }
  }
}

/** One value in a List, and the handle that removes it. */
export class ListEntry<T> {
  previous: ListEntry<T> | undefined;
  next: ListEntry<T> | undefined;

  constructor(
    readonly value: T,
    /** The list it is in; undefined once removed. */
    public list: List<T> | undefined,
  ) {}
}
