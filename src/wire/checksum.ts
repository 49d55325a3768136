/**
 * The Internet checksum (RFC 1071): the 16-bit one's complement of the one's
 * complement sum of 16-bit big-endian words, used by IPv4, TCP, UDP and ICMP.
 *
 * The sum reads 32-bit big-endian words through a `DataView` (the views of the two
 * most recent `ArrayBuffer`s are cached, so reused receive and transmit buffers cost
 * no allocation) and adds them into a float accumulator, folding once at the end;
 * `bench/checksum_bench.ts` compares this against byte-wise and 16-bit variants.
 * @module
 */

let recentBuffer: ArrayBufferLike | null = null;
let recentView: DataView<ArrayBufferLike> = new DataView(new ArrayBuffer(0));
let olderBuffer: ArrayBufferLike | null = null;
let olderView: DataView<ArrayBufferLike> = recentView;

/** A DataView over the whole of `buffer`, from a two-entry cache. */
function viewOf(buffer: ArrayBufferLike): DataView<ArrayBufferLike> {
  if (buffer === recentBuffer) return recentView;
  const view = buffer === olderBuffer ? olderView : new DataView(buffer);
  olderBuffer = recentBuffer;
  olderView = recentView;
  recentBuffer = buffer;
  recentView = view;
  return view;
}

/** Folds any non-negative sum below 2^53 into 16 bits with end-around carry (RFC 1071 §2(C)). */
function fold(sum: number): number {
  while (sum > 0xffff) sum = (sum % 0x10000) + Math.floor(sum / 0x10000);
  return sum;
}

/**
 * Adds `bytes[start..end)` to a running one's complement sum and returns the new sum
 * (a non-negative number ≤ 0xffff, not complemented).
 *
 * Start from `0`. Every range except the last one fed into one sum must have an even
 * length, because words are formed from byte pairs counted from `start`; an odd final
 * byte is padded with a zero low byte (RFC 1071 §4.1).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checksumAdd, checksumFinish } from "./checksum.ts";
 * const header = new Uint8Array([0x45, 0x00, 0x00, 0x1c]);
 * const payload = new Uint8Array([0x01, 0x02, 0x03]);
 * let acc = checksumAdd(0, header, 0, header.length);
 * acc = checksumAdd(acc, payload, 0, payload.length);
 * const csum = checksumFinish(acc);
 * assert(csum >= 0 && csum <= 0xffff);
 * ```
 */
export function checksumAdd(acc: number, bytes: Uint8Array, start: number, end: number): number {
  const view = viewOf(bytes.buffer);
  let i = bytes.byteOffset + start;
  const stop = bytes.byteOffset + end;
  const stop4 = i + ((stop - i) & ~3);
  // A 32-bit word is two 16-bit words; 2^16 ≡ 1 mod 0xffff, so summing 32-bit words and
  // folding later gives the same one's complement sum (RFC 1071 §2(B)). The float
  // accumulator stays exact: 16384 words of 2^32 stay far below 2^53.
  let sum = acc;
  for (; i < stop4; i += 4) sum += view.getUint32(i);
  if (i + 1 < stop) {
    sum += view.getUint16(i);
    i += 2;
  }
  if (i < stop) sum += view.getUint8(i) << 8;
  return fold(sum);
}

/**
 * Completes a running sum from {@link checksumAdd} or {@link pseudoHeaderSum}: folds
 * the carries and returns the 16-bit one's complement, ready to store in a header.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checksumAdd, checksumFinish } from "./checksum.ts";
 * const bytes = new Uint8Array([0x00, 0x01, 0xf2, 0x03]);
 * assert(checksumFinish(checksumAdd(0, bytes, 0, 4)) === 0x0dfb);
 * ```
 */
export function checksumFinish(acc: number): number {
  return ~fold(acc) & 0xffff;
}

/**
 * Folds a running sum into 16 bits without complementing it: the "partial checksum" a
 * checksum-offloading sender stores (the pseudo-header sum, RFC 1071 §2(C) folding), which
 * whoever completes the checksum adds the covered bytes to.
 *
 * @example
 * ```ts
 * import { checksumFold, pseudoHeaderSum } from "./checksum.ts";
 * console.log(checksumFold(pseudoHeaderSum(0x0a000001, 0x0a000002, 6, 40)) <= 0xffff); // true
 * ```
 */
export function checksumFold(acc: number): number {
  return fold(acc);
}

/**
 * The Internet checksum of `bytes[start..end)` (defaults: the whole array).
 * Over a header or segment that already holds a correct checksum, the result is 0.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { internetChecksum } from "./checksum.ts";
 * // RFC 1071 §3 example bytes: sum 0xddf2, checksum 0x220d.
 * const bytes = new Uint8Array([0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]);
 * assert(internetChecksum(bytes) === 0x220d);
 * ```
 */
export function internetChecksum(bytes: Uint8Array, start = 0, end: number = bytes.length): number {
  return checksumFinish(checksumAdd(0, bytes, start, end));
}

/**
 * The one's complement sum (not complemented) of the IPv4 pseudo-header used by TCP and
 * UDP (RFC 9293 §3.1, RFC 768): source and destination address, zero, protocol, and the
 * TCP/UDP length (header plus data). Addresses are unsigned 32-bit numbers.
 * Feed the result as the starting `acc` of {@link checksumAdd} over the segment.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checksumAdd, checksumFinish, pseudoHeaderSum } from "./checksum.ts";
 * const segment = new Uint8Array(20); // a TCP header with a zero checksum field
 * const acc = pseudoHeaderSum(0x0a000001, 0x0a000002, 6, segment.length);
 * const csum = checksumFinish(checksumAdd(acc, segment, 0, segment.length));
 * assert(csum !== 0);
 * ```
 */
export function pseudoHeaderSum(src: number, dst: number, proto: number, length: number): number {
  return fold(
    (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + (proto & 0xff) +
      (length & 0xffff),
  );
}

/**
 * The one's complement sum (folded, not complemented) of an IPv4 pseudo-header's two addresses
 * (RFC 9293 §3.1): the part that depends on the packet's addresses, as
 * `parseTcpWithAddressSum`/`emitTcpWithAddressSum` take it. `pseudoHeaderSum(src, dst, proto,
 * length)` equals this plus `proto` and `length`, folded. Symmetric in `src` and `dst`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checksumFold, ipv4AddressSum, pseudoHeaderSum } from "./checksum.ts";
 * const sum = ipv4AddressSum(0x0a000001, 0x0a000002);
 * assert(checksumFold(sum + 6 + 40) === pseudoHeaderSum(0x0a000001, 0x0a000002, 6, 40));
 * ```
 */
export function ipv4AddressSum(src: number, dst: number): number {
  return fold((src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff));
}
