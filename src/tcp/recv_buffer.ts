/**
 * The receive buffer: one ring per connection for everything the receiving side holds.
 *
 * In-order bytes the application has not read yet and out-of-order bytes inside the window
 * (RFC 9293 §3.10.7.4: "segments with higher beginning sequence numbers ... may be held for
 * later processing") both live in one ring, each byte at its own place, so that held data costs
 * exactly its size: no per-segment copy, object or header. A short sorted list of the ranges
 * held beyond the gap (bounded in count) says what is there; it also gives the SACK blocks of
 * RFC 2018 §4. Positions are absolute stream offsets (bytes since the connection began), so
 * nothing moves when the application reads.
 *
 * The ring is allocated on first use, grows by doubling up to its limit, and can be released
 * when it holds nothing (an idle connection then costs no buffer at all).
 * @module
 */

/** The empty range list shared by buffers that hold nothing out of order (never written). */
const NONE: number[] = [];

import { givePage, PAGE_SIZE, takePage } from "./page_pool.ts";
import { seqAdd } from "./seq.ts";

/**
 * The bytes a connection holds on its receiving side.
 *
 * @example
 * ```ts
 * import { RecvBuffer } from "./recv_buffer.ts";
 * const b = new RecvBuffer(65536);
 * b.write(100, new Uint8Array(50).fill(2)); // out of order: 100 bytes missing before it
 * console.log(b.unread, b.outOfOrderBytes); // 0 50
 * b.write(0, new Uint8Array(100).fill(1)); // the gap fills: 150 bytes become readable
 * const out = new Uint8Array(200);
 * console.log(b.read(out), out[99], out[100]); // 150 1 2
 * ```
 */
export class RecvBuffer {
  /** The most bytes held, counted from the next byte the application reads. */
  readonly limit: number;
  /** The most separate out-of-order ranges held; a segment that would add one more is dropped. */
  readonly maxRanges: number;
  /** Segments (or parts) dropped because they would have exceeded `maxRanges` or `limit`. */
  dropped = 0;

  #ring: Uint8Array | null = null;
  /** Ring index of the byte at `#readPos`. */
  #head = 0;
  /** Absolute offset of the next byte the application reads. */
  #readPos = 0;
  /** Absolute offset one past the in-order bytes (RCV.NXT's place in the stream). */
  #end = 0;
  // Out-of-order ranges beyond #end: sorted, disjoint and not touching; absolute offsets.
  // They start as one shared empty array, and get arrays of their own with the first range
  // (most connections never hold data out of order).
  #rs: number[] = NONE;
  #re: number[] = NONE;
  /** Insertion counter of the newest write that touched each range (RFC 2018 §4 order). */
  #rstamp: number[] = NONE;
  #stamp = 0;
  #oooBytes = 0;

  /** `limit`: the most bytes held; `maxRanges`: the most out-of-order ranges tracked. */
  constructor(limit: number, maxRanges = 32) {
    this.limit = limit;
    this.maxRanges = maxRanges;
  }

  /** In-order bytes not yet read by the application. */
  get unread(): number {
    return this.#end - this.#readPos;
  }

  /** Bytes held beyond the first gap. */
  get outOfOrderBytes(): number {
    return this.#oooBytes;
  }

  /** Whether out-of-order data is held. */
  get hasOutOfOrder(): boolean {
    return this.#rs.length > 0;
  }

  /** Number of separate out-of-order ranges held. */
  get rangeCount(): number {
    return this.#rs.length;
  }

  /** Bytes of ring memory allocated now. */
  get allocated(): number {
    return this.#ring === null ? 0 : this.#ring.length;
  }

  /** Bytes held past the in-order end, up to the end of the last out-of-order range. */
  get heldBeyond(): number {
    const n = this.#re.length;
    return n === 0 ? 0 : this.#re[n - 1] - this.#end;
  }

  /**
   * Stores `data`, whose first byte lies `rel` bytes after the in-order end (`rel` ≥ 0; the
   * caller trims what lies below RCV.NXT and beyond the window). Bytes already held are kept
   * (held data wins); bytes beyond `limit` are not stored. Returns how many bytes the in-order
   * end advanced (the caller moves RCV.NXT by as much), or -1 when the data was dropped
   * because it would have needed one out-of-order range too many.
   */
  write(rel: number, data: Uint8Array): number {
    let s = this.#end + Math.max(0, rel);
    let e = this.#end + rel + data.length;
    const cap = this.#readPos + this.limit;
    if (e > cap) {
      e = cap;
      this.dropped++;
    }
    if (e <= s) return 0;
    const base = this.#end + rel; // absolute offset of data[0]
    const rs = this.#rs, re = this.#re;
    // Index of the first range that ends at or after s (touching counts: it merges).
    let i = 0;
    while (i < rs.length && re[i] < s) i++;
    const inOrder = s === this.#end;
    const merges = i < rs.length && rs[i] <= e;
    if (!inOrder && !merges && rs.length >= this.maxRanges) {
      this.dropped++;
      return -1;
    }
    this.#reserve(e);
    const stamp = ++this.#stamp;
    // Copy the parts of [s, e) that no range holds, then merge [s, e) into the range list.
    let cur = s;
    let j = i;
    while (cur < e) {
      const holeEnd = j < rs.length ? Math.min(rs[j], e) : e;
      if (holeEnd > cur) this.#copyIn(cur, data, cur - base, holeEnd - base);
      if (j >= rs.length || rs[j] >= e) break;
      cur = re[j];
      j++;
    }
    // Ranges i..j-1 overlap or touch [s, e); any range starting exactly at e touches too.
    let k = i;
    while (k < rs.length && rs[k] <= e) k++;
    if (k > i) {
      s = Math.min(s, rs[i]);
      e = Math.max(e, re[k - 1]);
      for (let m = i; m < k; m++) this.#oooBytes -= re[m] - rs[m];
    }
    if (s === this.#end) {
      // In order: the in-order end moves over it (and over every range it joined).
      if (k > i) {
        rs.splice(i, k - i);
        re.splice(i, k - i);
        this.#rstamp.splice(i, k - i);
      }
      const advanced = e - this.#end;
      this.#end = e;
      return advanced;
    }
    if (rs === NONE) {
      this.#rs = [s];
      this.#re = [e];
      this.#rstamp = [stamp];
    } else {
      rs.splice(i, k - i, s);
      re.splice(i, k - i, e);
      this.#rstamp.splice(i, k - i, stamp);
    }
    this.#oooBytes += e - s;
    return 0;
  }

  /** Copies up to `into.length` in-order bytes into `into` and frees them; returns the count. */
  read(into: Uint8Array): number {
    const n = Math.min(into.length, this.#end - this.#readPos);
    if (n === 0) return 0;
    const ring = this.#ring!;
    const cap = ring.length;
    const first = Math.min(n, cap - this.#head);
    into.set(ring.subarray(this.#head, this.#head + first), 0);
    if (first < n) into.set(ring.subarray(0, n - first), first);
    this.#head = (this.#head + n) % cap;
    this.#readPos += n;
    // An emptied one-page ring goes back to the shared pool at once (see page_pool.ts).
    if (cap === PAGE_SIZE) this.release();
    return n;
  }

  /**
   * Copies in-order bytes starting `offset` bytes after the next byte to read into `into`,
   * without freeing them; returns the count.
   */
  peek(into: Uint8Array, offset = 0): number {
    const n = Math.min(into.length, this.#end - this.#readPos - offset);
    if (n <= 0) return 0;
    const ring = this.#ring!;
    const cap = ring.length;
    const from = (this.#head + offset) % cap;
    const first = Math.min(n, cap - from);
    into.set(ring.subarray(from, from + first), 0);
    if (first < n) into.set(ring.subarray(0, n - first), first);
    return n;
  }

  /** Frees up to `n` in-order bytes without copying them (the application discards input). */
  skip(n: number): number {
    const k = Math.min(n, this.#end - this.#readPos);
    if (k > 0 && this.#ring) {
      this.#head = (this.#head + k) % this.#ring.length;
      this.#readPos += k;
    }
    return k;
  }

  /**
   * Writes up to `max` SACK blocks `[left0, right0, left1, right1, ...]` into `out` (cleared
   * first), as sequence numbers given RCV.NXT = `rcvNxt`. RFC 2018 §4: the first block holds
   * the most recently received segment; the others follow, most recently updated first.
   */
  sackBlocks(max: number, out: number[], rcvNxt: number): void {
    out.length = 0;
    const rs = this.#rs, re = this.#re, st = this.#rstamp;
    let prev = Infinity;
    for (let k = 0; k < max; k++) {
      let best = -1;
      for (let j = 0; j < rs.length; j++) {
        if (st[j] < prev && (best < 0 || st[j] > st[best])) best = j;
      }
      if (best < 0) return;
      prev = st[best];
      out.push(seqAdd(rcvNxt, rs[best] - this.#end), seqAdd(rcvNxt, re[best] - this.#end));
    }
  }

  /** Drops the out-of-order data (RFC 2018 §8 allows reneging; used on reset and FIN). */
  dropOutOfOrder(): void {
    this.#rs = NONE;
    this.#re = NONE;
    this.#rstamp = NONE;
    this.#oooBytes = 0;
  }

  /** Drops everything held, read or not, and releases the ring. */
  clear(): void {
    this.dropOutOfOrder();
    this.#readPos = this.#end;
    this.release();
  }

  /** Releases the ring when nothing is held in it; returns the bytes freed. */
  release(): number {
    if (this.#ring === null || this.#end !== this.#readPos || this.#rs.length > 0) return 0;
    const n = this.#ring.length;
    givePage(this.#ring);
    this.#ring = null;
    this.#head = 0;
    return n;
  }

  /** Makes the ring hold at least up to absolute offset `upTo` (never beyond `limit`). */
  #reserve(upTo: number): void {
    const need = upTo - this.#readPos;
    const ring = this.#ring;
    if (ring !== null && need <= ring.length) return;
    let size = ring === null ? PAGE_SIZE : ring.length * 2;
    while (size < need) size *= 2;
    if (size > this.limit) size = Math.max(this.limit, need);
    const next = size === PAGE_SIZE ? takePage() : new Uint8Array(size);
    if (ring !== null) {
      // Everything from the read position to the furthest byte held moves to index 0.
      const held = Math.max(this.#end, this.#re.length ? this.#re[this.#re.length - 1] : 0) -
        this.#readPos;
      const first = Math.min(held, ring.length - this.#head);
      next.set(ring.subarray(this.#head, this.#head + first), 0);
      if (first < held) next.set(ring.subarray(0, held - first), first);
    }
    if (ring !== null) givePage(ring);
    this.#ring = next;
    this.#head = 0;
  }

  /**
   * Copies `data[from..to)` to absolute offset `at` (the ring already reaches that far). The
   * common case, a whole segment that does not wrap the ring, is one copy of `data` itself,
   * with no view made.
   */
  #copyIn(at: number, data: Uint8Array, from: number, to: number): void {
    const ring = this.#ring!;
    const cap = ring.length;
    const idx = (this.#head + (at - this.#readPos)) % cap;
    const n = to - from;
    const first = Math.min(n, cap - idx);
    ring.set(first === data.length ? data : data.subarray(from, from + first), idx);
    if (first < n) ring.set(data.subarray(from + first, to), 0);
  }
}
