/**
 * Reused subarray views. `Uint8Array.prototype.subarray` allocates a view object (about 100
 * bytes) on every call, and the per-packet path takes the same windows of the same long-lived
 * buffers again and again: the payload of every full-sized packet in the one receive buffer,
 * the prefix of the one transmit buffer that holds the packet to write. `ViewCache` hands back
 * the view it made the first time instead.
 * @module
 */

/**
 * A small direct-mapped cache of `array.subarray(start, end)` views, keyed by the array (its
 * identity), `start` and `end`. A miss makes the view and keeps it in place of the entry it
 * maps to, so that a cache holds at most `size` views (and keeps at most `size` arrays alive).
 * Views are windows onto the array's bytes, so a cached one always shows the current bytes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ViewCache } from "./views.ts";
 * const buf = new Uint8Array(2048);
 * const views = new ViewCache();
 * const a = views.get(buf, 52, 1500);
 * assert(a.length === 1448 && a.byteOffset === 52);
 * assert(views.get(buf, 52, 1500) === a); // the same object: no allocation
 * ```
 */
export class ViewCache {
  readonly #mask: number;
  readonly #arrays: (Uint8Array | null)[];
  readonly #starts: Int32Array;
  readonly #ends: Int32Array;
  readonly #views: Uint8Array[];

  /** `size`: entries, rounded up to a power of two (default 16). */
  constructor(size = 16) {
    let n = 1;
    while (n < size) n *= 2;
    this.#mask = n - 1;
    this.#arrays = new Array<Uint8Array | null>(n).fill(null);
    this.#starts = new Int32Array(n).fill(-1);
    this.#ends = new Int32Array(n).fill(-1);
    this.#views = new Array<Uint8Array>(n).fill(EMPTY);
  }

  /** `array.subarray(start, end)` (0 ≤ start ≤ end ≤ array.length), cached. */
  get(array: Uint8Array, start: number, end: number): Uint8Array {
    const i = (start * 31 + end) & this.#mask;
    if (this.#arrays[i] === array && this.#starts[i] === start && this.#ends[i] === end) {
      return this.#views[i];
    }
    const view = array.subarray(start, end);
    this.#arrays[i] = array;
    this.#starts[i] = start;
    this.#ends[i] = end;
    this.#views[i] = view;
    return view;
  }
}

const EMPTY = new Uint8Array(0);
