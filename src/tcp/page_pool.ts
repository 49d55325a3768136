/**
 * One-page buffers shared by every connection's rings: a connection that holds a few bytes
 * for a moment (a request, a reply, one keystroke) takes a page and gives it back when its
 * ring is empty again, so that ten thousand mostly idle connections need a handful of pages
 * between them instead of one each, and no allocation is made per exchange.
 *
 * A page can carry bytes of an earlier connection; a ring never hands out bytes it was not
 * given, so they are never seen.
 * @module
 */

/** Bytes in a page. */
export const PAGE_SIZE = 4096;
/** Most free pages kept (4 MiB); beyond, a given-back page is left to the collector. */
const MAX_FREE = 1024;
const free: Uint8Array[] = [];

/**
 * A page from the free list, or a new one.
 *
 * @example
 * ```ts
 * import { givePage, PAGE_SIZE, takePage } from "./page_pool.ts";
 * const p = takePage();
 * console.log(p.length === PAGE_SIZE); // true
 * givePage(p);
 * ```
 */
export function takePage(): Uint8Array {
  return free.pop() ?? new Uint8Array(PAGE_SIZE);
}

/** Gives a buffer back: kept when it is a whole page and the free list has room. */
export function givePage(b: Uint8Array): void {
  if (b.length === PAGE_SIZE && b.byteOffset === 0 && free.length < MAX_FREE) free.push(b);
}

/** Pages on the free list now. */
export function freePages(): number {
  return free.length;
}
