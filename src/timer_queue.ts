/**
 * The stack's timer queue: every connection's next deadline in one indexed binary min-heap,
 * so that a wake-up costs O(due timers · log n) and finding the next deadline costs O(1),
 * however many idle connections there are. An entry moves when its deadline changes
 * (`update`, O(log n)); an entry with no deadline is not in the heap at all.
 * @module
 */

/** What the queue holds: anything with a deadline slot and a heap position slot. */
export interface TimerEntry {
  /** The deadline the entry is filed under (ms), or Infinity when not queued. */
  timerAt: number;
  /** Position in the heap, or -1 when not queued. */
  timerIndex: number;
}

/**
 * An indexed min-heap of entries by `timerAt`.
 *
 * @example
 * ```ts
 * import { TimerQueue } from "./timer_queue.ts";
 * const q = new TimerQueue<{ timerAt: number; timerIndex: number; name: string }>();
 * const a = { timerAt: Infinity, timerIndex: -1, name: "a" };
 * const b = { timerAt: Infinity, timerIndex: -1, name: "b" };
 * q.update(a, 30);
 * q.update(b, 10);
 * q.update(b, 50); // b's deadline moved
 * console.log(q.peek()?.name, q.next()); // a 30
 * ```
 */
export class TimerQueue<T extends TimerEntry> {
  readonly #heap: T[] = [];

  /** Entries queued. */
  get size(): number {
    return this.#heap.length;
  }

  /** The earliest deadline, or Infinity. */
  next(): number {
    return this.#heap.length > 0 ? this.#heap[0].timerAt : Infinity;
  }

  /** The entry with the earliest deadline, or undefined. */
  peek(): T | undefined {
    return this.#heap[0];
  }

  /** Files `e` under `at` (Infinity removes it). */
  update(e: T, at: number): void {
    if (at === e.timerAt && (e.timerIndex >= 0 || at === Infinity)) return;
    if (at === Infinity) {
      this.remove(e);
      return;
    }
    const heap = this.#heap;
    if (e.timerIndex < 0) {
      e.timerAt = at;
      e.timerIndex = heap.length;
      heap.push(e);
      this.#up(e.timerIndex);
      return;
    }
    const earlier = at < e.timerAt;
    e.timerAt = at;
    if (earlier) this.#up(e.timerIndex);
    else this.#down(e.timerIndex);
  }

  /** Takes `e` out of the queue. */
  remove(e: T): void {
    const i = e.timerIndex;
    e.timerAt = Infinity;
    if (i < 0) return;
    e.timerIndex = -1;
    const heap = this.#heap;
    const last = heap.pop()!;
    if (last === e) return;
    heap[i] = last;
    last.timerIndex = i;
    this.#up(i);
    this.#down(last.timerIndex);
  }

  #up(i: number): void {
    const heap = this.#heap;
    const e = heap[i];
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = heap[p];
      if (parent.timerAt <= e.timerAt) break;
      heap[i] = parent;
      parent.timerIndex = i;
      i = p;
    }
    heap[i] = e;
    e.timerIndex = i;
  }

  #down(i: number): void {
    const heap = this.#heap;
    const n = heap.length;
    const e = heap[i];
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && heap[r].timerAt < heap[l].timerAt ? r : l;
      if (heap[c].timerAt >= e.timerAt) break;
      heap[i] = heap[c];
      heap[i].timerIndex = i;
      i = c;
    }
    heap[i] = e;
    e.timerIndex = i;
  }
}
