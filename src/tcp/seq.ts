/**
 * Sequence number arithmetic modulo 2^32 (RFC 9293 §3.4).
 *
 * Sequence numbers are unsigned 32-bit integers held in JavaScript numbers. Comparisons
 * are made on the signed 32-bit difference, which is correct as long as the two numbers
 * are less than 2^31 apart — always true for values inside one TCP window.
 *
 * @example
 * ```ts
 * import { seqAdd, seqLt } from "./seq.ts";
 * const last = 0xffff_ffff;
 * const next = seqAdd(last, 1); // wraps to 0
 * console.log(next, seqLt(last, next)); // 0 true
 * ```
 * @module
 */

/** `a + n` modulo 2^32, as an unsigned 32-bit number. `n` may be negative. */
export function seqAdd(a: number, n: number): number {
  return (a + n) >>> 0;
}

/**
 * The signed distance `a - b` modulo 2^32, in [-2^31, 2^31).
 * Positive when `a` is after `b`.
 */
export function seqDiff(a: number, b: number): number {
  return (a - b) | 0;
}

/** `a < b` in sequence space (RFC 9293 §3.4). */
export function seqLt(a: number, b: number): boolean {
  return ((a - b) | 0) < 0;
}

/** `a <= b` in sequence space (RFC 9293 §3.4). */
export function seqLe(a: number, b: number): boolean {
  return ((a - b) | 0) <= 0;
}

/** `a > b` in sequence space (RFC 9293 §3.4). */
export function seqGt(a: number, b: number): boolean {
  return ((a - b) | 0) > 0;
}

/** `a >= b` in sequence space (RFC 9293 §3.4). */
export function seqGe(a: number, b: number): boolean {
  return ((a - b) | 0) >= 0;
}

/** The later of two sequence numbers. */
export function seqMax(a: number, b: number): number {
  return ((a - b) | 0) >= 0 ? a : b;
}

/** The earlier of two sequence numbers. */
export function seqMin(a: number, b: number): number {
  return ((a - b) | 0) <= 0 ? a : b;
}

/**
 * `lo <= x < hi` modulo 2^32: whether `x` lies in the half-open range starting at `lo`
 * and ending before `hi`. An empty range (`lo === hi`) contains nothing. Unlike a pair of
 * comparisons, this is exact for any range shorter than 2^32.
 */
export function seqInRange(x: number, lo: number, hi: number): boolean {
  return ((x - lo) >>> 0) < ((hi - lo) >>> 0);
}
