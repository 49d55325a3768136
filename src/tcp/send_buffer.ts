/**
 * The send buffer: bytes the application wrote that are not yet acknowledged
 * (RFC 9293 §3.3.1, the span from SND.UNA to the end of queued data).
 *
 * A ring allocated on first use that grows by doubling up to its capacity, and that can be
 * released when empty, so an idle connection holds no buffer. Offsets are relative to the
 * first unacknowledged data byte; the connection maps sequence numbers onto them.
 *
 * A segment's bytes are handed out as a view. A ring larger than a page carries a staging
 * area behind it in the same `ArrayBuffer`: a segment of up to `STAGING_BYTES` is copied there
 * (`copyWithin`, no allocation) and handed out through one view made once, so that sending
 * full-sized segments allocates nothing. Other segments get a view of their own.
 * @module
 */

import { givePage, PAGE_SIZE, takePage } from "./page_pool.ts";

const EMPTY = new Uint8Array(0);

/** Bytes of the staging area behind a ring larger than a page: room for one MSS-sized segment. */
const STAGING_BYTES = 2048;

/** A bounded ring buffer of outgoing bytes. */
export class SendBuffer {
  readonly capacity: number;
  #ring: Uint8Array = EMPTY;
  /** The ring and the staging area behind it (one `ArrayBuffer`), or null for a page ring. */
  #staged: Uint8Array | null = null;
  /** The last view of the staging area handed out (its length is the segment's). */
  #stageView: Uint8Array = EMPTY;
  #start = 0;
  #length = 0;
  #scratch: Uint8Array = EMPTY;

  /** Creates a buffer holding at most `capacity` bytes (nothing is allocated yet). */
  constructor(capacity: number) {
    this.capacity = capacity;
  }

  /** Bytes of memory allocated now (the ring, its staging area and the gather scratch). */
  get allocated(): number {
    return (this.#staged ?? this.#ring).length + this.#scratch.length;
  }

  /** Frees the memory when nothing is held; returns the bytes freed. */
  release(): number {
    if (this.#length > 0) return 0;
    const n = this.allocated;
    givePage(this.#ring);
    this.#ring = EMPTY;
    this.#staged = null;
    this.#stageView = EMPTY;
    this.#scratch = EMPTY;
    this.#start = 0;
    return n;
  }

  /** Bytes held (unacknowledged plus unsent). */
  get length(): number {
    return this.#length;
  }

  /** Free space in bytes. */
  get free(): number {
    return this.capacity - this.#length;
  }

  /** Copies as much of `data` as fits; returns the number of bytes taken. */
  append(data: Uint8Array): number {
    const n = Math.min(data.length, this.capacity - this.#length);
    if (n === 0) return 0;
    if (this.#length + n > this.#ring.length) this.#grow(this.#length + n);
    const cap = this.#ring.length;
    const end = (this.#start + this.#length) % cap;
    const first = Math.min(n, cap - end);
    this.#ring.set(data.subarray(0, first), end);
    if (first < n) this.#ring.set(data.subarray(first, n), 0);
    this.#length += n;
    return n;
  }

  /**
   * A view of `len` bytes at `offset`, valid until the next call: the bytes copied to the
   * staging area (see the module notes), a view of the ring, or, when the range wraps a ring
   * without staging, the bytes gathered into a scratch buffer.
   */
  view(offset: number, len: number): Uint8Array {
    const cap = this.#ring.length;
    const from = (this.#start + offset) % cap;
    const staged = this.#staged;
    if (staged !== null && len <= STAGING_BYTES) {
      const first = Math.min(len, cap - from);
      staged.copyWithin(cap, from, from + first);
      if (first < len) staged.copyWithin(cap + first, 0, len - first);
      if (this.#stageView.length !== len) this.#stageView = staged.subarray(cap, cap + len);
      return this.#stageView;
    }
    if (from + len <= cap) return this.#ring.subarray(from, from + len);
    if (this.#scratch.length < len) this.#scratch = new Uint8Array(Math.max(len, 2048));
    const first = cap - from;
    this.#scratch.set(this.#ring.subarray(from, cap), 0);
    this.#scratch.set(this.#ring.subarray(0, len - first), first);
    return this.#scratch.subarray(0, len);
  }

  /** Drops `n` acknowledged bytes from the front. */
  consume(n: number): void {
    const k = Math.min(n, this.#length);
    if (k === 0) return;
    this.#start = (this.#start + k) % this.#ring.length;
    this.#length -= k;
    if (this.#length === 0) {
      this.#start = 0;
      // An emptied one-page ring goes back to the shared pool at once (see page_pool.ts).
      if (this.#ring.length === PAGE_SIZE) this.release();
    }
  }

  #grow(need: number): void {
    let size = Math.max(this.#ring.length, Math.min(PAGE_SIZE, this.capacity));
    while (size < need) size *= 2;
    size = Math.min(size, this.capacity);
    const staged = size > PAGE_SIZE ? new Uint8Array(size + STAGING_BYTES) : null;
    let ring: Uint8Array;
    if (staged !== null) ring = staged.subarray(0, size);
    else ring = size === PAGE_SIZE ? takePage() : new Uint8Array(size);
    if (this.#length > 0) ring.set(this.view(0, this.#length), 0);
    givePage(this.#ring);
    this.#ring = ring;
    this.#staged = staged;
    this.#stageView = EMPTY;
    this.#start = 0;
  }

  /** Drops everything. */
  clear(): void {
    this.#start = 0;
    this.#length = 0;
    this.release();
  }
}
