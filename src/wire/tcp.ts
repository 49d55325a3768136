/**
 * TCP header codec (RFC 9293 §3.1), with options from RFC 9293 (MSS),
 * RFC 7323 (window scale, timestamps) and RFC 2018 (SACK).
 *
 * - `parseTcp(bytes, srcAddr, dstAddr, out)` fills a reused `TcpSegment` from a TCP header+payload
 *   held in `bytes` (the whole of it, or `bytes[start..end)`: the TCP part of an IP packet read
 *   into a larger buffer). It verifies the checksum with the IPv4 pseudo-header and validates
 *   data offset and option lengths. It returns `TcpParseError.None` (0) on success, or a reason
 *   code; it never throws on bad input. `out.payload` is a subarray view of `bytes` (zero-copy;
 *   valid only while `bytes` is), reused when the same window of the same buffer comes again.
 * - `emitTcp(seg, srcAddr, dstAddr, into)` writes header, options and payload into `into`
 *   (starting at index 0), fills the checksum, and returns the number of bytes written.
 * - `parseTcpWithAddressSum`/`emitTcpWithAddressSum` do the same for any IP version, given the
 *   sum of the pseudo-header's addresses: `ipv4AddressSum(src, dst)` (checksum.ts) or
 *   `ipv6AddressSum(src, dst)` (ipv6.ts, RFC 8200 §8.1). `parseTcp`/`emitTcp` are these with
 *   the IPv4 sum.
 * - `tcpHeaderLength(options)` gives the header length emitTcp will use for these options.
 * @module
 */

import { readU32, writeU32 } from "./bytes.ts";
import { checksumAdd, checksumFinish, checksumFold, ipv4AddressSum } from "./checksum.ts";
import { IPPROTO_TCP } from "./ipv4.ts";
import { ViewCache } from "./views.ts";

/** FIN flag bit. */
export const FIN = 0x01;
/** SYN flag bit. */
export const SYN = 0x02;
/** RST flag bit. */
export const RST = 0x04;
/** PSH flag bit. */
export const PSH = 0x08;
/** ACK flag bit. */
export const ACK = 0x10;
/** URG flag bit. */
export const URG = 0x20;
/** ECE flag bit (RFC 3168). */
export const ECE = 0x40;
/** CWR flag bit (RFC 3168). */
export const CWR = 0x80;

/** TCP options the stack reads and writes. Absent numeric options are -1. */
export interface TcpOptions {
  /** Maximum segment size (kind 2), or -1. */
  mss: number;
  /** Window scale shift count (kind 3), or -1. */
  wscale: number;
  /** SACK-permitted (kind 4). */
  sackPermitted: boolean;
  /** Whether a timestamps option (kind 8) is present. */
  hasTimestamps: boolean;
  /** TSval, when `hasTimestamps`. */
  tsVal: number;
  /** TSecr, when `hasTimestamps`. */
  tsEcr: number;
  /** SACK blocks (kind 5) as [left0, right0, left1, right1, ...]; empty when none. */
  sackBlocks: number[];
}

/** A TCP segment: header fields as numbers, payload as a view. Reused across packets. */
export interface TcpSegment {
  /** Source port. */
  srcPort: number;
  /** Destination port. */
  dstPort: number;
  /** Sequence number, unsigned 32-bit. */
  seq: number;
  /** Acknowledgment number, unsigned 32-bit. */
  ack: number;
  /** Flags as a bitmask of FIN, SYN, RST, PSH, ACK, URG, ECE, CWR. */
  flags: number;
  /** The raw 16-bit window field (not scaled). */
  window: number;
  /** Urgent pointer (meaningful with URG). */
  urgent: number;
  /** Options carried by the segment. */
  options: TcpOptions;
  /** Payload bytes (a view; copy what must outlive the packet buffer). */
  payload: Uint8Array;
}

/** Why a TCP header was rejected. */
export enum TcpParseError {
  None = 0,
  TooShort = 1,
  BadDataOffset = 2,
  BadChecksum = 3,
  BadOption = 4,
}

/** Length of a TCP header without options. */
export const TCP_HEADER_LENGTH = 20;
/** Largest number of option bytes a header can carry (data offset 15 words). */
export const TCP_MAX_OPTIONS_LENGTH = 40;

/** Option kinds (IANA "TCP Option Kind Numbers"). */
const OPT_EOL = 0;
const OPT_NOP = 1;
const OPT_MSS = 2;
const OPT_WS = 3;
const OPT_SACK_PERMITTED = 4;
const OPT_SACK = 5;
const OPT_TIMESTAMPS = 8;

/** RFC 7323 §2.3: the largest usable window scale shift. */
const MAX_WSCALE = 14;
/** RFC 2018 §3: at most 4 SACK blocks fit in 40 option bytes. */
const MAX_SACK_BLOCKS = 4;

const EMPTY = new Uint8Array(0);

/**
 * Payload views: a stack parses every packet from one receive buffer, so full-sized segments
 * keep the same window and their payload view is made once (a handful of buffers stay
 * referenced, at most 16).
 */
const PAYLOAD_VIEWS = new ViewCache(16);

/** Creates a `TcpOptions` with every option absent. */
export function newTcpOptions(): TcpOptions {
  return {
    mss: -1,
    wscale: -1,
    sackPermitted: false,
    hasTimestamps: false,
    tsVal: 0,
    tsEcr: 0,
    sackBlocks: [],
  };
}

/** Marks every option of `o` absent, keeping (and emptying) its `sackBlocks` array. */
export function resetTcpOptions(o: TcpOptions): void {
  o.mss = -1;
  o.wscale = -1;
  o.sackPermitted = false;
  o.hasTimestamps = false;
  o.tsVal = 0;
  o.tsEcr = 0;
  o.sackBlocks.length = 0;
}

/** Creates an empty `TcpSegment` (all fields zero, no options, empty payload) to reuse. */
export function newTcpSegment(): TcpSegment {
  return {
    srcPort: 0,
    dstPort: 0,
    seq: 0,
    ack: 0,
    flags: 0,
    window: 0,
    urgent: 0,
    options: newTcpOptions(),
    payload: EMPTY,
  };
}

/** Option bytes before SACK blocks, in the layout {@link emitTcp} uses. */
function baseOptionsLength(o: TcpOptions): number {
  let n = 0;
  if (o.mss >= 0) n += 4;
  if (o.hasTimestamps) n += 12; // NOP NOP TS, or SACK-permitted packed before TS
  else if (o.sackPermitted) n += 4; // NOP NOP SACK-permitted
  if (o.wscale >= 0) n += 4; // NOP WS
  return n;
}

/** How many SACK blocks {@link emitTcp} writes: as many as fit in 40 option bytes. */
function sackBlocksToEmit(o: TcpOptions, base: number): number {
  const wanted = Math.min(o.sackBlocks.length >>> 1, MAX_SACK_BLOCKS);
  if (wanted === 0) return 0;
  // NOP NOP kind len = 4 bytes, then 8 per block (RFC 2018 §3).
  const room = Math.floor((TCP_MAX_OPTIONS_LENGTH - base - 4) / 8);
  return Math.max(0, Math.min(wanted, room));
}

/**
 * The TCP header length (20 plus options, padded to a multiple of 4) that
 * {@link emitTcp} writes for `options`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { newTcpOptions, tcpHeaderLength } from "./tcp.ts";
 * const o = newTcpOptions();
 * o.hasTimestamps = true;
 * assert(tcpHeaderLength(o) === 32);
 * ```
 */
export function tcpHeaderLength(options: TcpOptions): number {
  const base = baseOptionsLength(options);
  const blocks = sackBlocksToEmit(options, base);
  const len = base + (blocks > 0 ? 4 + 8 * blocks : 0);
  return TCP_HEADER_LENGTH + ((len + 3) & ~3);
}

/** Parses the options in `b[start + 20..end)` into `o` (already reset). */
function parseOptions(b: Uint8Array, start: number, end: number, o: TcpOptions): TcpParseError {
  let i = start + TCP_HEADER_LENGTH;
  while (i < end) {
    const kind = b[i];
    // RFC 9293 §3.1: End of Option List ends parsing; NOP is a single byte.
    if (kind === OPT_EOL) break;
    if (kind === OPT_NOP) {
      i++;
      continue;
    }
    // RFC 9293 §3.1: every other option has a length byte counting kind and length.
    if (i + 1 >= end) return TcpParseError.BadOption;
    const len = b[i + 1];
    if (len < 2 || i + len > end) return TcpParseError.BadOption;
    switch (kind) {
      case OPT_MSS:
        if (len !== 4) return TcpParseError.BadOption;
        o.mss = (b[i + 2] << 8) | b[i + 3];
        break;
      case OPT_WS:
        if (len !== 3) return TcpParseError.BadOption;
        // RFC 7323 §2.3: a shift above 14 MUST be treated as 14.
        o.wscale = Math.min(b[i + 2], MAX_WSCALE);
        break;
      case OPT_SACK_PERMITTED:
        if (len !== 2) return TcpParseError.BadOption;
        o.sackPermitted = true;
        break;
      case OPT_SACK: {
        // RFC 2018 §3: length 2 + 8n for n blocks of (left edge, right edge).
        const n = (len - 2) >>> 3;
        if ((len - 2) % 8 !== 0 || n < 1 || n > MAX_SACK_BLOCKS) return TcpParseError.BadOption;
        const blocks = o.sackBlocks;
        blocks.length = 0;
        for (let k = 0, p = i + 2; k < n; k++, p += 8) {
          blocks.push(readU32(b, p), readU32(b, p + 4));
        }
        break;
      }
      case OPT_TIMESTAMPS:
        // RFC 7323 §3.2: kind 8, length 10, TSval then TSecr.
        if (len !== 10) return TcpParseError.BadOption;
        o.hasTimestamps = true;
        o.tsVal = readU32(b, i + 2);
        o.tsEcr = readU32(b, i + 6);
        break;
      default:
        // RFC 9293 §3.1 / RFC 1122 §4.2.2.5: unknown options are skipped by their length.
        break;
    }
    i += len;
  }
  return TcpParseError.None;
}

/**
 * Parses and validates a TCP segment: `bytes[start..end)` (default: all of `bytes`) is exactly
 * the TCP header and payload (the IP payload, `totalLength - ihl` bytes). `srcAddr`/`dstAddr`
 * are the IP addresses
 * for the pseudo-header checksum (RFC 9293 §3.1). `out` is fully reset first: absent
 * options read as -1/false and `out.options.sackBlocks` is emptied in place. Options are
 * reported wherever they appear (MSS/WS/SACK-permitted are meaningful only on a SYN; the
 * state machine decides). On error `out` may be partly filled and `out.payload` is empty.
 * Never throws on bad input.
 * @param verifyChecksum set false when the link already verified it (e.g. a trusted test link).
 * @param start where the TCP header begins in `bytes` (parse in place, without a view).
 * @param end one past the last byte of the segment in `bytes`.
 * @returns `TcpParseError.None` (0), or why the segment was rejected.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { emitTcp, newTcpSegment, parseTcp, SYN, TcpParseError } from "./tcp.ts";
 * const seg = newTcpSegment();
 * seg.srcPort = 40000;
 * seg.dstPort = 80;
 * seg.seq = 1;
 * seg.flags = SYN;
 * seg.window = 65535;
 * seg.options.mss = 1460;
 * const buf = new Uint8Array(64);
 * const n = emitTcp(seg, 0x0a000002, 0x0a000001, buf);
 * const got = newTcpSegment();
 * assert(parseTcp(buf.subarray(0, n), 0x0a000002, 0x0a000001, got) === TcpParseError.None);
 * assert(got.options.mss === 1460 && got.flags === SYN);
 * ```
 */
export function parseTcp(
  bytes: Uint8Array,
  srcAddr: number,
  dstAddr: number,
  out: TcpSegment,
  verifyChecksum = true,
  start = 0,
  end: number = bytes.length,
): TcpParseError {
  return parseTcpWithAddressSum(
    bytes,
    ipv4AddressSum(srcAddr, dstAddr),
    out,
    verifyChecksum,
    start,
    end,
  );
}

/**
 * {@linkcode parseTcp} (of `bytes[start..end)`) for any IP version: `addressSum` is the one's complement sum of the
 * pseudo-header's source and destination addresses, `ipv4AddressSum(src, dst)` for IPv4 (RFC
 * 9293 §3.1) or `ipv6AddressSum(src, dst)` / `ipv6PacketAddressSum(packet)` for IPv6 (RFC 8200
 * §8.1). The protocol (6) and the TCP length are added here; over IPv6 the length's upper 16
 * bits are zero (no jumbograms), so both pseudo-headers sum the same way.
 * @returns `TcpParseError.None` (0), or why the segment was rejected.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { emitTcpWithAddressSum, newTcpSegment, parseTcpWithAddressSum, SYN, TcpParseError } from "./tcp.ts";
 * import { ipv6AddressSum } from "./ipv6.ts";
 * import { parseIpv6Address } from "./ipv6_address.ts";
 * const sum = ipv6AddressSum(parseIpv6Address("fd00::1")!, parseIpv6Address("fd00::2")!);
 * const seg = newTcpSegment();
 * seg.srcPort = 40000;
 * seg.dstPort = 80;
 * seg.flags = SYN;
 * const buf = new Uint8Array(60);
 * const n = emitTcpWithAddressSum(seg, sum, buf);
 * assert(parseTcpWithAddressSum(buf.subarray(0, n), sum, newTcpSegment()) === TcpParseError.None);
 * ```
 */
export function parseTcpWithAddressSum(
  bytes: Uint8Array,
  addressSum: number,
  out: TcpSegment,
  verifyChecksum = true,
  start = 0,
  end: number = bytes.length,
): TcpParseError {
  const b = bytes;
  const p = start;
  const length = end - start;
  resetTcpOptions(out.options);
  out.payload = EMPTY;
  if (length < TCP_HEADER_LENGTH) {
    out.srcPort =
      out.dstPort =
      out.seq =
      out.ack =
      out.flags =
      out.window =
      out.urgent =
        0;
    return TcpParseError.TooShort;
  }
  out.srcPort = (b[p] << 8) | b[p + 1];
  out.dstPort = (b[p + 2] << 8) | b[p + 3];
  out.seq = readU32(b, p + 4);
  out.ack = readU32(b, p + 8);
  out.flags = b[p + 13];
  out.window = (b[p + 14] << 8) | b[p + 15];
  out.urgent = (b[p + 18] << 8) | b[p + 19];
  // RFC 9293 §3.1: Data Offset counts 32-bit words; at least 5, and within the segment.
  const headerLength = (b[p + 12] >>> 4) << 2;
  if (headerLength < TCP_HEADER_LENGTH || headerLength > length) {
    return TcpParseError.BadDataOffset;
  }
  if (verifyChecksum) {
    // RFC 9293 §3.1: the checksum covers the pseudo-header, header and data; a valid one sums to 0.
    const acc = addressSum + IPPROTO_TCP + length;
    if (checksumFinish(checksumAdd(acc, b, p, end)) !== 0) return TcpParseError.BadChecksum;
  }
  const err = parseOptions(b, p, p + headerLength, out.options);
  if (err !== TcpParseError.None) return err;
  if (headerLength < length) out.payload = PAYLOAD_VIEWS.get(b, p + headerLength, end);
  return TcpParseError.None;
}

/**
 * Writes `seg` (header, options, payload) into `into` from index 0, fills the checksum
 * using the IPv4 pseudo-header of `srcAddr`/`dstAddr`, and returns the bytes written
 * (`tcpHeaderLength(seg.options) + seg.payload.length`); `into` must have that much room.
 *
 * Options are written in the order Linux uses: MSS; SACK-permitted packed with timestamps
 * (kinds 4,2,8,10), or NOP NOP timestamps, or NOP NOP SACK-permitted; NOP window scale;
 * NOP NOP SACK blocks (only as many as fit in 40 option bytes); zero padding to a 4-byte
 * multiple. Present options are written whatever the flags: set on `seg.options` only
 * what this segment should carry (e.g. MSS and window scale only on a SYN).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ACK, emitTcp, newTcpSegment } from "./tcp.ts";
 * const seg = newTcpSegment();
 * seg.srcPort = 80;
 * seg.dstPort = 40000;
 * seg.flags = ACK;
 * seg.payload = new TextEncoder().encode("hi");
 * const buf = new Uint8Array(64);
 * assert(emitTcp(seg, 0x0a000001, 0x0a000002, buf) === 22);
 * ```
 */
export function emitTcp(
  seg: TcpSegment,
  srcAddr: number,
  dstAddr: number,
  into: Uint8Array,
  partialChecksum = false,
): number {
  return emitTcpWithAddressSum(seg, ipv4AddressSum(srcAddr, dstAddr), into, partialChecksum);
}

/**
 * {@linkcode emitTcp} for any IP version: `addressSum` is the sum of the pseudo-header's
 * addresses (`ipv4AddressSum` or `ipv6AddressSum`; see {@linkcode parseTcpWithAddressSum}).
 * With `partialChecksum` the checksum field holds the folded pseudo-header sum for a device
 * that completes it (virtio-net NEEDS_CSUM), for either version.
 * @returns the number of bytes written.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ACK, emitTcpWithAddressSum, newTcpSegment } from "./tcp.ts";
 * import { ipv6AddressSum } from "./ipv6.ts";
 * import { IPV6_LOOPBACK } from "./ipv6_address.ts";
 * const seg = newTcpSegment();
 * seg.flags = ACK;
 * seg.payload = new TextEncoder().encode("hi");
 * const buf = new Uint8Array(64);
 * assert(emitTcpWithAddressSum(seg, ipv6AddressSum(IPV6_LOOPBACK, IPV6_LOOPBACK), buf) === 22);
 * ```
 */
export function emitTcpWithAddressSum(
  seg: TcpSegment,
  addressSum: number,
  into: Uint8Array,
  partialChecksum = false,
): number {
  const o = seg.options;
  const b = into;
  b[0] = seg.srcPort >>> 8;
  b[1] = seg.srcPort;
  b[2] = seg.dstPort >>> 8;
  b[3] = seg.dstPort;
  writeU32(b, 4, seg.seq);
  writeU32(b, 8, seg.ack);
  b[13] = seg.flags;
  b[14] = seg.window >>> 8;
  b[15] = seg.window;
  b[16] = 0;
  b[17] = 0;
  b[18] = seg.urgent >>> 8;
  b[19] = seg.urgent;

  let i = TCP_HEADER_LENGTH;
  if (o.mss >= 0) {
    // RFC 9293 §3.2: MSS, kind 2 length 4.
    b[i] = OPT_MSS;
    b[i + 1] = 4;
    b[i + 2] = o.mss >>> 8;
    b[i + 3] = o.mss;
    i += 4;
  }
  if (o.hasTimestamps) {
    if (o.sackPermitted) {
      // RFC 2018 §2 SACK-permitted (4,2) in place of the two NOPs before TS, as Linux does.
      b[i] = OPT_SACK_PERMITTED;
      b[i + 1] = 2;
    } else {
      b[i] = OPT_NOP;
      b[i + 1] = OPT_NOP;
    }
    // RFC 7323 §3.2 (and Appendix A layout): kind 8, length 10, TSval, TSecr.
    b[i + 2] = OPT_TIMESTAMPS;
    b[i + 3] = 10;
    writeU32(b, i + 4, o.tsVal);
    writeU32(b, i + 8, o.tsEcr);
    i += 12;
  } else if (o.sackPermitted) {
    b[i] = OPT_NOP;
    b[i + 1] = OPT_NOP;
    b[i + 2] = OPT_SACK_PERMITTED;
    b[i + 3] = 2;
    i += 4;
  }
  if (o.wscale >= 0) {
    // RFC 7323 §2.2: NOP, then kind 3 length 3 shift.cnt.
    b[i] = OPT_NOP;
    b[i + 1] = OPT_WS;
    b[i + 2] = 3;
    b[i + 3] = o.wscale;
    i += 4;
  }
  const blocks = sackBlocksToEmit(o, i - TCP_HEADER_LENGTH);
  if (blocks > 0) {
    // RFC 2018 §3: kind 5, length 2 + 8n, then n (left, right) pairs; NOP NOP aligns them.
    b[i] = OPT_NOP;
    b[i + 1] = OPT_NOP;
    b[i + 2] = OPT_SACK;
    b[i + 3] = 2 + 8 * blocks;
    i += 4;
    const s = o.sackBlocks;
    for (let k = 0; k < 2 * blocks; k++, i += 4) writeU32(b, i, s[k]);
  }
  // Pad with EOL (zero) bytes to a 32-bit boundary (RFC 9293 §3.1, "Padding").
  while ((i & 3) !== 0) b[i++] = OPT_EOL;
  const headerLength = i;
  b[12] = (headerLength >>> 2) << 4;

  const payload = seg.payload;
  if (payload.length > 0) b.set(payload, headerLength);
  const total = headerLength + payload.length;
  const acc = addressSum + IPPROTO_TCP + total;
  // With checksum offload the field holds the folded pseudo-header sum, not complemented,
  // and whoever sends the segment on completes it over the header and data (virtio-net
  // NEEDS_CSUM); otherwise the full RFC 9293 §3.1 checksum.
  const csum = partialChecksum ? checksumFold(acc) : checksumFinish(checksumAdd(acc, b, 0, total));
  b[16] = csum >>> 8;
  b[17] = csum;
  return total;
}
