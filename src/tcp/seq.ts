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

/**
 * `a` as a signed 32-bit integer: the same sequence number modulo 2^32, which every function
 * of this module accepts. The per-packet path hands sequence numbers to functions that are not
 * inlined in this form: V8 passes an int32 as a small integer, where an unsigned value past
 * 2^31 becomes a heap number, an allocation per call. A function that stores such an
 * argument, or compares it with `===`, first makes it unsigned again (`>>> 0`).
 *
 * @example
 * ```ts
 * import { seqAdd, seqI32 } from "./seq.ts";
 * console.log(seqI32(0xffff_fff0), seqAdd(seqI32(0xffff_fff0), 1)); // -16 4294967281
 * ```
 */
export function seqI32(a: number): number {
  return a | 0;
}

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

/**
 * Our TSval at `now` (RFC 7323 §5.4): the millisecond clock plus a per-connection offset,
 * modulo 2^32. Timestamps compare like sequence numbers (RFC 7323 §5.3), with the functions
 * above.
 *
 * @example
 * ```ts
 * import { tsClock } from "./seq.ts";
 * console.log(tsClock(0xffff_fff0, 20.7)); // 4
 * ```
 */
export function tsClock(tsOffset: number, now: number): number {
  return (tsOffset + Math.floor(now)) >>> 0;
}
