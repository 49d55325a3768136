/**
 * A binary min-heap of timed items: earliest `time` first, and items with equal times in
 * the order they were pushed (by `seq`). Shared by the delaying links and the simulator.
 * @module
 */

/** What the heap orders: a time, and an insertion number that breaks ties. */
export interface Timed {
  time: number;
  seq: number;
}

function before(a: Timed, b: Timed): boolean {
  return a.time < b.time || (a.time === b.time && a.seq < b.seq);
}

/** A min-heap of `T` by (`time`, `seq`). */
export class TimeHeap<T extends Timed> {
  readonly #items: T[] = [];

  /** Number of items held. */
  get size(): number {
    return this.#items.length;
  }

  /** The earliest item, or undefined when empty. */
  peek(): T | undefined {
    return this.#items[0];
  }

  /** Adds an item. */
  push(item: T): void {
    const heap = this.#items;
    let i = heap.length;
    heap.push(item);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(item, heap[parent])) break;
      heap[i] = heap[parent];
      i = parent;
    }
    heap[i] = item;
  }

  /** Removes and returns the earliest item (the heap must not be empty). */
  pop(): T {
    const heap = this.#items;
    const top = heap[0];
    const last = heap.pop()!;
    if (heap.length > 0) {
      const n = heap.length;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        const c = r < n && before(heap[r], heap[l]) ? r : l;
        if (!before(heap[c], last)) break;
        heap[i] = heap[c];
        i = c;
      }
      heap[i] = last;
    }
    return top;
  }

  /** Removes everything. */
  clear(): void {
    this.#items.length = 0;
  }
}
