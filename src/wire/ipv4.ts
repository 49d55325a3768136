/**
 * IPv4 header codec (RFC 791) and dotted-quad address helpers.
 *
 * `parseIpv4` validates a received packet and fills a reused {@link Ipv4Header};
 * `emitIpv4` writes the fixed 20-byte header the stack sends (no options, DF set).
 * Addresses are unsigned 32-bit numbers throughout.
 * @module
 */

import { readU32, writeU16, writeU32 } from "./bytes.ts";
import { internetChecksum } from "./checksum.ts";

/** IP protocol number of ICMP (RFC 792). */
export const IPPROTO_ICMP = 1;
/** IP protocol number of TCP (RFC 9293). */
export const IPPROTO_TCP = 6;
/** IP protocol number of UDP (RFC 768). */
export const IPPROTO_UDP = 17;

/** Length of an IPv4 header without options. */
export const IPV4_HEADER_LENGTH = 20;

/** Flags field bit: Don't Fragment (RFC 791 §3.1), as it appears in `Ipv4Header.flags`. */
export const IPV4_FLAG_DF = 0x2;
/** Flags field bit: More Fragments (RFC 791 §3.1), as it appears in `Ipv4Header.flags`. */
export const IPV4_FLAG_MF = 0x1;

/** Why an IPv4 packet was rejected. */
export enum Ipv4ParseError {
  None = 0,
  /** Fewer than 20 bytes. */
  TooShort = 1,
  /** Version field is not 4. */
  BadVersion = 2,
  /** IHL below 5 words or past the bytes read. */
  BadHeaderLength = 3,
  /** Total length below the IHL or past the bytes read. */
  BadTotalLength = 4,
  /** Header checksum does not verify. */
  BadChecksum = 5,
  /** A fragment (MF set or fragment offset ≠ 0); the stack does not reassemble. */
  Fragment = 6,
}

/** A parsed IPv4 header. Reused across packets: see {@link newIpv4Header}. */
export interface Ipv4Header {
  /** Always 4 after a successful parse. */
  version: number;
  /** Header length in bytes (IHL × 4), 20..60. */
  ihl: number;
  /** Type of service / DSCP+ECN byte. */
  tos: number;
  /** Total length field: header plus payload, in bytes. */
  totalLength: number;
  /** Identification field. */
  id: number;
  /** The 3 flag bits (bit 1 = DF, bit 0 = MF). */
  flags: number;
  /** Fragment offset in 8-byte units. */
  fragOffset: number;
  /** Time to live. */
  ttl: number;
  /** Protocol of the payload (`IPPROTO_TCP`, `IPPROTO_ICMP`, ...). */
  protocol: number;
  /** Header checksum as received. */
  checksum: number;
  /** Source address, unsigned 32-bit. */
  src: number;
  /** Destination address, unsigned 32-bit. */
  dst: number;
}

/** Creates an `Ipv4Header` to reuse across calls of {@link parseIpv4}. */
export function newIpv4Header(): Ipv4Header {
  return {
    version: 0,
    ihl: 0,
    tos: 0,
    totalLength: 0,
    id: 0,
    flags: 0,
    fragOffset: 0,
    ttl: 0,
    protocol: 0,
    checksum: 0,
    src: 0,
    dst: 0,
  };
}

/**
 * Parses a dotted-quad IPv4 address strictly: exactly four decimal octets 0-255, digits
 * only, no leading zeros beyond a single "0", no surrounding text.
 * @returns the address as an unsigned 32-bit number, or `null` when malformed.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseIpv4Address } from "./ipv4.ts";
 * assert(parseIpv4Address("10.0.0.1") === 0x0a000001);
 * assert(parseIpv4Address("10.0.0.256") === null);
 * ```
 */
export function parseIpv4Address(text: string): number | null {
  let value = 0;
  let octets = 0;
  let digits = 0;
  let octet = 0;
  for (let i = 0; i <= text.length; i++) {
    const c = i < text.length ? text.charCodeAt(i) : 0x2e; // a virtual trailing "."
    if (c >= 0x30 && c <= 0x39) {
      // A leading zero followed by more digits is rejected: "010" is ambiguous (octal in inet_aton).
      if (digits === 1 && octet === 0) return null;
      octet = octet * 10 + (c - 0x30);
      digits++;
      if (octet > 255) return null;
    } else if (c === 0x2e) {
      if (digits === 0 || octets === 4) return null;
      value = value * 256 + octet;
      octets++;
      digits = 0;
      octet = 0;
    } else {
      return null;
    }
  }
  return octets === 4 ? value >>> 0 : null;
}

/**
 * Formats an unsigned 32-bit address as a dotted quad.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatIpv4Address } from "./ipv4.ts";
 * assert(formatIpv4Address(0x7f000001) === "127.0.0.1");
 * ```
 */
export function formatIpv4Address(addr: number): string {
  return `${(addr >>> 24) & 0xff}.${(addr >>> 16) & 0xff}.${(addr >>> 8) & 0xff}.${addr & 0xff}`;
}

/**
 * Validates the IPv4 header at the start of `packet[0..length)` and fills `out`.
 * Options are skipped (the payload starts at `out.ihl`); bytes past `out.totalLength`
 * (link padding) are ignored by the caller. On error `out` may be partly filled.
 * Never throws on bad input.
 * @returns `Ipv4ParseError.None` (0) when the packet is acceptable, else the reason.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { emitIpv4, IPPROTO_TCP, Ipv4ParseError, newIpv4Header, parseIpv4 } from "./ipv4.ts";
 * const packet = new Uint8Array(40);
 * emitIpv4(packet, { src: 0x0a000001, dst: 0x0a000002, protocol: IPPROTO_TCP, ttl: 64, id: 1, payloadLength: 20 });
 * const ip = newIpv4Header();
 * assert(parseIpv4(packet, packet.length, ip) === Ipv4ParseError.None);
 * assert(ip.protocol === IPPROTO_TCP && ip.totalLength === 40);
 * ```
 */
export function parseIpv4(packet: Uint8Array, length: number, out: Ipv4Header): Ipv4ParseError {
  if (length > packet.length) length = packet.length;
  if (length < IPV4_HEADER_LENGTH) return Ipv4ParseError.TooShort;
  const b = packet;
  out.version = b[0] >>> 4;
  out.ihl = (b[0] & 0x0f) << 2;
  out.tos = b[1];
  out.totalLength = (b[2] << 8) | b[3];
  out.id = (b[4] << 8) | b[5];
  out.flags = b[6] >>> 5;
  out.fragOffset = ((b[6] & 0x1f) << 8) | b[7];
  out.ttl = b[8];
  out.protocol = b[9];
  out.checksum = (b[10] << 8) | b[11];
  out.src = readU32(b, 12);
  out.dst = readU32(b, 16);
  if (out.version !== 4) return Ipv4ParseError.BadVersion;
  // RFC 791 §3.1: IHL counts 32-bit words; the minimum value for a correct header is 5.
  if (out.ihl < IPV4_HEADER_LENGTH || out.ihl > length) return Ipv4ParseError.BadHeaderLength;
  // RFC 1122 §3.2.1.1 / RFC 791 §3.1: total length covers header and data; a link may pad past it.
  if (out.totalLength < out.ihl || out.totalLength > length) return Ipv4ParseError.BadTotalLength;
  // RFC 791 §3.1: the checksum over the header including the checksum field sums to zero.
  if (internetChecksum(b, 0, out.ihl) !== 0) return Ipv4ParseError.BadChecksum;
  // RFC 791 §3.2: MF set or a non-zero offset marks a fragment; no reassembly here.
  if ((out.flags & IPV4_FLAG_MF) !== 0 || out.fragOffset !== 0) return Ipv4ParseError.Fragment;
  return Ipv4ParseError.None;
}

/** What {@link emitIpv4} needs to build a header. */
export interface Ipv4EmitFields {
  /** Source address, unsigned 32-bit. */
  src: number;
  /** Destination address, unsigned 32-bit. */
  dst: number;
  /** Protocol number (e.g. `IPPROTO_TCP`). */
  protocol: number;
  /** Time to live. */
  ttl: number;
  /** Identification field (16 bits). */
  id: number;
  /** Bytes following the 20-byte header. */
  payloadLength: number;
  /** Type of service byte; default 0. */
  tos?: number;
}

/**
 * Writes a 20-byte IPv4 header (no options, DF set, fragment offset 0) at `into[0..20)`
 * and fills its checksum. The payload is expected at `into[20..)`.
 * @returns the header length, 20.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { emitIpv4, IPPROTO_ICMP } from "./ipv4.ts";
 * const buf = new Uint8Array(28);
 * const n = emitIpv4(buf, { src: 0x0a000001, dst: 0x0a000002, protocol: IPPROTO_ICMP, ttl: 64, id: 7, payloadLength: 8 });
 * assert(n === 20 && buf[0] === 0x45 && buf[3] === 28);
 * ```
 */
export function emitIpv4(into: Uint8Array, fields: Ipv4EmitFields): number {
  const total = IPV4_HEADER_LENGTH + fields.payloadLength;
  const src = fields.src;
  const dst = fields.dst;
  into[0] = 0x45; // version 4, IHL 5 words
  into[1] = fields.tos ?? 0;
  into[2] = total >>> 8;
  into[3] = total;
  into[4] = fields.id >>> 8;
  into[5] = fields.id;
  into[6] = IPV4_FLAG_DF << 5; // RFC 791 §3.1: DF, offset 0
  into[7] = 0;
  into[8] = fields.ttl;
  into[9] = fields.protocol;
  writeU32(into, 12, src);
  writeU32(into, 16, dst);
  fillIpv4Checksum(into, IPV4_HEADER_LENGTH);
  return IPV4_HEADER_LENGTH;
}

/**
 * Fills the header checksum of the IPv4 header at `header[0..ihl)`: the one's complement of
 * the one's complement sum of its 16-bit words, the checksum field taken as zero (RFC 791
 * §3.1). For a header built or changed in place (a fragment's offset, a reassembled
 * datagram's length).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { emitIpv4, fillIpv4Checksum, IPPROTO_TCP } from "./ipv4.ts";
 * import { internetChecksum } from "./checksum.ts";
 * const h = new Uint8Array(20);
 * emitIpv4(h, { src: 0x0a000001, dst: 0x0a000002, protocol: IPPROTO_TCP, ttl: 64, id: 1, payloadLength: 0 });
 * h[8] = 63; // the TTL changes
 * fillIpv4Checksum(h, 20);
 * assert(internetChecksum(h, 0, 20) === 0); // a valid header sums to zero
 * ```
 */
export function fillIpv4Checksum(header: Uint8Array, ihl: number): void {
  header[10] = 0;
  header[11] = 0;
  writeU16(header, 10, internetChecksum(header, 0, ihl));
}

/**
 * Whether `addr` can be a TCP peer: not "this network" (0/8), loopback (127/8, never on a
 * link), multicast (224/4) or reserved and limited broadcast (240/4, 255.255.255.255). RFC
 * 1122 §3.2.1.3 and RFC 9293 MUST-46, MUST-57, MUST-63: no connection to or from those.
 *
 * @example
 * ```ts
 * import { isUnicastAddress, parseIpv4Address } from "./ipv4.ts";
 * console.log(isUnicastAddress(parseIpv4Address("10.0.0.2")!)); // true
 * console.log(isUnicastAddress(parseIpv4Address("224.0.0.1")!)); // false
 * ```
 */
export function isUnicastAddress(addr: number): boolean {
  const a = addr >>> 24;
  return a !== 0 && a !== 127 && a < 224;
}
