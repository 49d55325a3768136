/**
 * The receive-side out-of-order queue.
 *
 * RFC 9293 §3.10.7.4: segments with higher beginning sequence numbers than RCV.NXT may be
 * held for later processing. Held data is kept as sorted, non-overlapping chunks (each a
 * private copy); adjacent chunks form the contiguous blocks reported in SACK options
 * (RFC 2018 §4). All positions are compared in sequence space (modulo 2^32).
 * @module
 */

import { seqAdd, seqDiff, seqLt } from "./seq.ts";

/** One held run of bytes: [seq, seq + data.length). */
interface Chunk {
  seq: number;
  data: Uint8Array;
  /** Insertion counter value of the newest segment that touched this chunk. */
  stamp: number;
}

/**
 * Holds out-of-order data until the gap before it is filled.
 *
 * @example
 * ```ts
 * import { ReassemblyQueue } from "./reassembly.ts";
 * const q = new ReassemblyQueue(65536);
 * // RCV.NXT = 1000; bytes 1100..1199 arrive early.
 * q.insert(1100, new Uint8Array(100), 1000, 65535);
 * const sack: number[] = [];
 * q.sackBlocks(4, sack); // [1100, 1200]
 * // Bytes 1000..1099 arrive and are delivered: RCV.NXT = 1100; the held bytes follow.
 * const next = q.takeInOrder(1100); // 100 bytes, starting at 1100
 * console.log(sack, next?.length, q.isEmpty); // [ 1100, 1200 ] 100 true
 * ```
 */
export class ReassemblyQueue {
  /** Maximum bytes held. */
  readonly capacity: number;
  /** Maximum number of separate chunks held (bounds the work per insert). */
  readonly maxChunks: number;
  #chunks: Chunk[] = [];
  #bytes = 0;
  #stamp = 0;
  // Scratch for sackBlocks: merged runs and their recency.
  #runL: number[] = [];
  #runR: number[] = [];
  #runStamp: number[] = [];

  /**
   * `capacity`: the most bytes held out of order. `maxChunks`: the most separately
   * received pieces held (tiny segments cannot make the queue arbitrarily long).
   */
  constructor(capacity: number, maxChunks = 1024) {
    this.capacity = capacity;
    this.maxChunks = maxChunks;
  }

  /** Bytes held. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Whether nothing is held. */
  get isEmpty(): boolean {
    return this.#chunks.length === 0;
  }

  /**
   * Stores a copy of the parts of `data` (starting at sequence number `seq`) that are not
   * already held, trimmed to the window [rcvNxt, rcvNxt + windowLimit) and to the
   * capacity. Held data wins over new data where they overlap. Returns the bytes newly
   * stored.
   */
  insert(seq: number, data: Uint8Array, rcvNxt: number, windowLimit: number): number {
    this.#prune(rcvNxt);
    // RFC 9293 §3.10.7.4: only data inside the receive window is kept.
    let s = seqDiff(seq, rcvNxt); // offsets relative to rcvNxt
    let e = s + data.length;
    const limit = Math.max(0, windowLimit);
    if (s < 0) s = 0;
    if (e > limit) e = limit;
    if (e <= s) return 0;
    const base = seq; // data[i] has sequence number base + i
    const stamp = ++this.#stamp;
    const chunks = this.#chunks;
    let stored = 0;
    let i = this.#firstEndingAfter(rcvNxt, s);
    let cur = s;
    while (cur < e) {
      const c = i < chunks.length ? chunks[i] : undefined;
      const cs = c === undefined ? Infinity : seqDiff(c.seq, rcvNxt);
      if (cur < cs) {
        // A gap before the next held chunk (or after the last one): store new bytes.
        let end = Math.min(e, cs);
        const room = this.capacity - this.#bytes;
        if (end - cur > room) end = cur + room;
        if (end <= cur || chunks.length >= this.maxChunks) break;
        const from = seqDiff(seqAdd(rcvNxt, cur), base);
        chunks.splice(i, 0, {
          seq: seqAdd(rcvNxt, cur),
          data: data.slice(from, from + (end - cur)),
          stamp,
        });
        this.#bytes += end - cur;
        stored += end - cur;
        i++;
        cur = end;
        continue;
      }
      // Overlaps a held chunk: held data wins; it now contains the newest segment.
      c!.stamp = stamp;
      cur = cs + c!.data.length;
      i++;
    }
    return stored;
  }

  /**
   * Removes and returns held bytes starting exactly at `rcvNxt` (one chunk per call; call
   * again until `null`). Held data entirely below `rcvNxt` is dropped; a chunk that
   * straddles it is trimmed at the front.
   */
  takeInOrder(rcvNxt: number): Uint8Array | null {
    this.#prune(rcvNxt);
    const first = this.#chunks[0];
    if (first === undefined || first.seq !== rcvNxt) return null;
    this.#chunks.shift();
    this.#bytes -= first.data.length;
    return first.data;
  }

  /**
   * Writes up to `max` SACK blocks `[left0, right0, left1, right1, ...]` into `out`
   * (cleared first). RFC 2018 §4: the first block contains the most recently received
   * segment; the others follow from the most to the least recently updated.
   */
  sackBlocks(max: number, out: number[]): void {
    out.length = 0;
    const chunks = this.#chunks;
    if (chunks.length === 0 || max <= 0) return;
    const runL = this.#runL, runR = this.#runR, runStamp = this.#runStamp;
    runL.length = 0, runR.length = 0, runStamp.length = 0;
    // Merge adjacent chunks into the contiguous blocks a receiver reports.
    for (const c of chunks) {
      const end = seqAdd(c.seq, c.data.length);
      const n = runL.length;
      if (n > 0 && runR[n - 1] === c.seq) {
        runR[n - 1] = end;
        if (c.stamp > runStamp[n - 1]) runStamp[n - 1] = c.stamp;
      } else {
        runL.push(c.seq), runR.push(end), runStamp.push(c.stamp);
      }
    }
    // Select the `max` most recent blocks, newest first (a few passes; max is small).
    for (let k = 0; k < max; k++) {
      let best = -1;
      for (let j = 0; j < runL.length; j++) {
        if (runStamp[j] >= 0 && (best < 0 || runStamp[j] > runStamp[best])) best = j;
      }
      if (best < 0) break;
      out.push(runL[best], runR[best]);
      runStamp[best] = -1;
    }
  }

  /** Drops everything held. */
  clear(): void {
    this.#chunks.length = 0;
    this.#bytes = 0;
  }

  /** Drops held data below `rcvNxt`, trimming a chunk that straddles it. */
  #prune(rcvNxt: number): void {
    const chunks = this.#chunks;
    while (chunks.length > 0) {
      const c = chunks[0];
      if (!seqLt(c.seq, rcvNxt)) return;
      const len = c.data.length;
      const below = seqDiff(rcvNxt, c.seq);
      if (below >= len) {
        chunks.shift();
        this.#bytes -= len;
        continue;
      }
      c.data = c.data.subarray(below);
      c.seq = rcvNxt;
      this.#bytes -= below;
      return;
    }
  }

  /** Index of the first chunk ending after offset `off` (relative to `rcvNxt`). */
  #firstEndingAfter(rcvNxt: number, off: number): number {
    const chunks = this.#chunks;
    let lo = 0, hi = chunks.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const c = chunks[mid];
      if (seqDiff(c.seq, rcvNxt) + c.data.length <= off) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
