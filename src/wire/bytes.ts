/**
 * Big-endian ("network byte order", RFC 791 Appendix B) 16- and 32-bit fields in a byte array:
 * the one place header codecs, the IP layer and the test tools read and write them. Each is a
 * few byte operations V8 inlines at the call site: no allocation, no `DataView`. Bounds are the
 * caller's: a read past the end yields a wrong number, a write past the end is dropped, as with
 * any typed array index.
 * @module
 */

/**
 * The unsigned 16-bit big-endian number at `b[i..i+2)`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readU16 } from "./bytes.ts";
 * assert.equal(readU16(new Uint8Array([0x12, 0x34, 0x56]), 1), 0x3456);
 * ```
 */
export function readU16(b: Uint8Array, i: number): number {
  return (b[i] << 8) | b[i + 1];
}

/**
 * The unsigned 32-bit big-endian number at `b[i..i+4)` (0 to 2^32 − 1, never negative).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readU32 } from "./bytes.ts";
 * assert.equal(readU32(new Uint8Array([0xc0, 0xa8, 0x00, 0x01]), 0), 0xc0a80001);
 * ```
 */
export function readU32(b: Uint8Array, i: number): number {
  return ((b[i] << 24) | (b[i + 1] << 16) | (b[i + 2] << 8) | b[i + 3]) >>> 0;
}

/**
 * Writes the low 16 bits of `v` big-endian at `b[i..i+2)`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { writeU16 } from "./bytes.ts";
 * const b = new Uint8Array(2);
 * writeU16(b, 0, 1500);
 * assert.deepEqual([...b], [0x05, 0xdc]);
 * ```
 */
export function writeU16(b: Uint8Array, i: number, v: number): void {
  b[i] = v >>> 8;
  b[i + 1] = v;
}

/**
 * Writes the low 32 bits of `v` big-endian at `b[i..i+4)`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readU32, writeU32 } from "./bytes.ts";
 * const b = new Uint8Array(4);
 * writeU32(b, 0, 0xdeadbeef);
 * assert.deepEqual([...b], [0xde, 0xad, 0xbe, 0xef]);
 * assert.equal(readU32(b, 0), 0xdeadbeef);
 * ```
 */
export function writeU32(b: Uint8Array, i: number, v: number): void {
  b[i] = v >>> 24;
  b[i + 1] = v >>> 16;
  b[i + 2] = v >>> 8;
  b[i + 3] = v;
}
