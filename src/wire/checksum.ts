/**
 * The Internet checksum (RFC 1071): the 16-bit one's complement of the one's
 * complement sum of 16-bit big-endian words, used by IPv4, TCP, UDP and ICMP.
 *
 * The sum reads 32-bit big-endian words through a `DataView` (the views of the four
 * most recent `ArrayBuffer`s are cached, so reused receive and transmit buffers cost
 * no allocation) and adds their 16-bit halves into an integer accumulator, folding every
 * 64 KiB and at the end;
 * `bench/checksum_bench.ts` compares this against byte-wise and 16-bit variants.
 * @module
 */

/**
 * DataViews of the most recent `ArrayBuffer`s summed (replaced in turn): a stack sums packets
 * in its receive buffer and its transmit buffer, and two stacks in one process (a simulation,
 * a test) four, so that none of them costs a new view per packet.
 */
const CACHED_VIEWS = 4;
const cachedBuffers: (ArrayBufferLike | null)[] = new Array(CACHED_VIEWS).fill(null);
const cachedViews: DataView<ArrayBufferLike>[] = new Array(CACHED_VIEWS).fill(
  new DataView(new ArrayBuffer(0)),
);
let nextSlot = 0;

/** A DataView over the whole of `buffer`, from the cache. */
function viewOf(buffer: ArrayBufferLike): DataView<ArrayBufferLike> {
  for (let i = 0; i < CACHED_VIEWS; i++) {
    if (cachedBuffers[i] === buffer) return cachedViews[i];
  }
  const view = new DataView(buffer);
  cachedBuffers[nextSlot] = buffer;
  cachedViews[nextSlot] = view;
  nextSlot = (nextSlot + 1) % CACHED_VIEWS;
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
  // 32-bit words, each added as its two 16-bit halves into a 32-bit integer accumulator
  // (RFC 1071 §2(B): the order of the additions does not matter), folded after every 64 KiB:
  // 2^14 words add less than 2^31, so the sum stays exact in unsigned 32-bit arithmetic and
  // never becomes a float (which could be boxed, a heap number per packet).
  let sum = acc > 0xffff ? fold(acc) : acc;
  while (i < stop4) {
    const blockEnd = Math.min(stop4, i + 0x10000);
    for (; i < blockEnd; i += 4) {
      const w = view.getUint32(i);
      sum = (sum + (w >>> 16) + (w & 0xffff)) >>> 0;
    }
    sum = (sum & 0xffff) + (sum >>> 16);
  }
  if (i + 1 < stop) {
    sum += view.getUint16(i);
    i += 2;
  }
  if (i < stop) sum += view.getUint8(i) << 8;
  // End-around carry down to 16 bits (RFC 1071 §2(C)).
  sum = (sum & 0xffff) + (sum >>> 16);
  return (sum & 0xffff) + (sum >>> 16);
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
