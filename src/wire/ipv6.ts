/**
 * IPv6 header codec (RFC 8200): the fixed header, the walk over extension headers to the
 * upper-layer header, and the pseudo-header sum for upper-layer checksums.
 *
 * - {@linkcode parseIpv6} validates the fixed 40-byte header and fills a reused
 *   {@linkcode Ipv6Header} (its `src`/`dst` objects are filled in place, no allocation).
 * - {@linkcode walkIpv6Extensions} then follows the Next Header chain (RFC 8200 §4): options
 *   processed by their action bits, Routing headers judged, Fragment headers exposed, and a
 *   verdict with the ICMPv6 Parameter Problem to send, if any (RFC 4443 §3.4), in a reused
 *   {@linkcode Ipv6Extensions}. The walk is bounded against abuse.
 * - {@linkcode emitIpv6} writes the 40-byte header of the stack's own packets.
 * - {@linkcode ipv6AddressSum}/{@linkcode ipv6PacketAddressSum} give the address part of the
 *   pseudo-header (RFC 8200 §8.1) for `parseTcpWithAddressSum`/`emitTcpWithAddressSum` and
 *   ICMPv6; {@linkcode ipv6PseudoHeaderSum} gives the whole of it.
 * @module
 */

import { readU32 } from "./bytes.ts";
import { checksumAdd } from "./checksum.ts";
import {
  classifyIpv6Address,
  type Ipv6Address,
  ipv6Address,
  Ipv6AddressKind,
  isIpv6Multicast,
  readIpv6Address,
  writeIpv6Address,
} from "./ipv6_address.ts";
import { IPPROTO_TCP, IPPROTO_UDP } from "./ipv4.ts";

/** Next Header value: Hop-by-Hop Options header (RFC 8200 §4.3). */
export const IPPROTO_HOPOPTS = 0;
/** Next Header value: Routing header (RFC 8200 §4.4). */
export const IPPROTO_ROUTING = 43;
/** Next Header value: Fragment header (RFC 8200 §4.5). */
export const IPPROTO_FRAGMENT = 44;
/** Next Header value: Encapsulating Security Payload (RFC 4303). */
export const IPPROTO_ESP = 50;
/** Next Header value: Authentication Header (RFC 4302). */
export const IPPROTO_AH = 51;
/** Next Header value: ICMPv6 (RFC 4443). */
export const IPPROTO_ICMPV6 = 58;
/** Next Header value: No Next Header (RFC 8200 §4.7). */
export const IPPROTO_NONE = 59;
/** Next Header value: Destination Options header (RFC 8200 §4.6). */
export const IPPROTO_DSTOPTS = 60;

/** Length of the fixed IPv6 header. */
export const IPV6_HEADER_LENGTH = 40;
/** The minimum link MTU every IPv6 link supports (RFC 8200 §5). */
export const IPV6_MIN_MTU = 1280;
/** At most this many extension headers are walked; more are dropped (RFC 8883 §4.3, code 8). */
export const IPV6_MAX_EXTENSION_HEADERS = 8;
/** At most this many bytes of extension headers are walked (RFC 8883 §4.2, code 7). */
export const IPV6_MAX_EXTENSION_BYTES = 1024;

/** ICMPv6 Parameter Problem code: erroneous header field encountered (RFC 4443 §3.4). */
export const ICMPV6_PARAM_HEADER_FIELD = 0;
/** ICMPv6 Parameter Problem code: unrecognized Next Header type encountered (RFC 4443 §3.4). */
export const ICMPV6_PARAM_NEXT_HEADER = 1;
/** ICMPv6 Parameter Problem code: unrecognized IPv6 option encountered (RFC 4443 §3.4). */
export const ICMPV6_PARAM_OPTION = 2;
/** ICMPv6 Parameter Problem code: first fragment has an incomplete header chain (RFC 7112). */
export const ICMPV6_PARAM_INCOMPLETE_CHAIN = 3;
/** ICMPv6 Parameter Problem code: extension header chain too long (RFC 8883 §4.2). */
export const ICMPV6_PARAM_CHAIN_TOO_LONG = 7;
/** ICMPv6 Parameter Problem code: too many extension headers (RFC 8883 §4.3). */
export const ICMPV6_PARAM_TOO_MANY_HEADERS = 8;

/** Why an IPv6 packet was rejected by {@linkcode parseIpv6}. */
export enum Ipv6ParseError {
  None = 0,
  /** Fewer than 40 bytes. */
  TooShort = 1,
  /** Version field is not 6. */
  BadVersion = 2,
  /** Payload Length past the bytes read. */
  BadPayloadLength = 3,
  /** Payload Length 0 with a Hop-by-Hop header: a jumbogram (RFC 2675), not supported. */
  Jumbogram = 4,
  /** A multicast source address (RFC 4291 §2.7: never a source). */
  MulticastSource = 5,
}

/** A parsed IPv6 fixed header. Reused across packets: see {@linkcode newIpv6Header}. */
export interface Ipv6Header {
  /** Always 6 after a successful parse. */
  version: number;
  /** Traffic Class (DSCP and ECN, RFC 8200 §7). */
  trafficClass: number;
  /** Flow Label, 20 bits (RFC 8200 §6, RFC 6437). */
  flowLabel: number;
  /** Payload Length: bytes after the fixed header, extension headers included. */
  payloadLength: number;
  /** Next Header: the first extension header or the upper-layer protocol. */
  nextHeader: number;
  /** Hop Limit. */
  hopLimit: number;
  /** Source address (filled in place: copy it to keep it). */
  src: Ipv6Address;
  /** Destination address (filled in place: copy it to keep it). */
  dst: Ipv6Address;
}

/** Creates an `Ipv6Header` to reuse across calls of {@linkcode parseIpv6}. */
export function newIpv6Header(): Ipv6Header {
  return {
    version: 0,
    trafficClass: 0,
    flowLabel: 0,
    payloadLength: 0,
    nextHeader: 0,
    hopLimit: 0,
    src: ipv6Address(),
    dst: ipv6Address(),
  };
}

/**
 * Validates the fixed IPv6 header at the start of `packet[0..length)` and fills `out`. Bytes
 * past `40 + out.payloadLength` (link padding) are for the caller to ignore. Extension headers
 * are not looked at: call {@linkcode walkIpv6Extensions} next. A Payload Length of 0 is a
 * jumbogram when a Hop-by-Hop header follows (RFC 2675 §3; refused), else an empty payload.
 * Never throws on bad input; on error `out` may be partly filled.
 * @returns `Ipv6ParseError.None` (0) when the header is acceptable, else the reason.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { emitIpv6, Ipv6ParseError, newIpv6Header, parseIpv6 } from "./ipv6.ts";
 * import { parseIpv6Address } from "./ipv6_address.ts";
 * const packet = new Uint8Array(60);
 * emitIpv6(packet, {
 *   src: parseIpv6Address("fd00::1")!, dst: parseIpv6Address("fd00::2")!,
 *   nextHeader: 6, hopLimit: 64, payloadLength: 20,
 * });
 * const ip = newIpv6Header();
 * assert(parseIpv6(packet, packet.length, ip) === Ipv6ParseError.None);
 * assert(ip.nextHeader === 6 && ip.payloadLength === 20 && ip.dst.w3 === 2);
 * ```
 */
export function parseIpv6(packet: Uint8Array, length: number, out: Ipv6Header): Ipv6ParseError {
  if (length > packet.length) length = packet.length;
  if (length < IPV6_HEADER_LENGTH) return Ipv6ParseError.TooShort;
  const b = packet;
  // RFC 8200 §3: Version (4 bits), Traffic Class (8), Flow Label (20).
  out.version = b[0] >>> 4;
  out.trafficClass = ((b[0] & 0x0f) << 4) | (b[1] >>> 4);
  out.flowLabel = ((b[1] & 0x0f) << 16) | (b[2] << 8) | b[3];
  out.payloadLength = (b[4] << 8) | b[5];
  out.nextHeader = b[6];
  out.hopLimit = b[7];
  readIpv6Address(b, 8, out.src);
  readIpv6Address(b, 24, out.dst);
  if (out.version !== 6) return Ipv6ParseError.BadVersion;
  if (IPV6_HEADER_LENGTH + out.payloadLength > length) return Ipv6ParseError.BadPayloadLength;
  // RFC 2675 §3: Payload Length 0 with a Jumbo Payload option in a Hop-by-Hop header.
  if (out.payloadLength === 0 && out.nextHeader === IPPROTO_HOPOPTS) {
    return Ipv6ParseError.Jumbogram;
  }
  // RFC 4291 §2.7: multicast addresses must not be used as source addresses.
  if (isIpv6Multicast(out.src)) return Ipv6ParseError.MulticastSource;
  return Ipv6ParseError.None;
}

/** What {@linkcode emitIpv6} needs to build a header. */
export interface Ipv6EmitFields {
  /** Source address. */
  src: Readonly<Ipv6Address>;
  /** Destination address. */
  dst: Readonly<Ipv6Address>;
  /** Next Header: the upper-layer protocol (`IPPROTO_TCP`, `IPPROTO_ICMPV6`, ...). */
  nextHeader: number;
  /** Hop Limit. */
  hopLimit: number;
  /** Bytes following the 40-byte header. */
  payloadLength: number;
  /** Traffic Class; default 0. */
  trafficClass?: number;
  /** Flow Label (20 bits); default 0 (RFC 6437 §3: 0 when not labelling flows). */
  flowLabel?: number;
}

/**
 * Writes the 40-byte IPv6 header (no extension headers) at `into[0..40)`. The payload is
 * expected at `into[40..)`; `payloadLength` must be at most 65535 (no jumbograms).
 * @returns the header length, 40.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { emitIpv6, IPPROTO_ICMPV6 } from "./ipv6.ts";
 * import { IPV6_LOOPBACK } from "./ipv6_address.ts";
 * const buf = new Uint8Array(48);
 * const n = emitIpv6(buf, { src: IPV6_LOOPBACK, dst: IPV6_LOOPBACK, nextHeader: IPPROTO_ICMPV6, hopLimit: 64, payloadLength: 8 });
 * assert(n === 40 && buf[0] === 0x60 && buf[5] === 8 && buf[6] === 58);
 * ```
 */
export function emitIpv6(into: Uint8Array, fields: Ipv6EmitFields): number {
  const tc = fields.trafficClass ?? 0;
  const flow = fields.flowLabel ?? 0;
  into[0] = 0x60 | ((tc >>> 4) & 0x0f);
  into[1] = ((tc & 0x0f) << 4) | ((flow >>> 16) & 0x0f);
  into[2] = flow >>> 8;
  into[3] = flow;
  into[4] = fields.payloadLength >>> 8;
  into[5] = fields.payloadLength;
  into[6] = fields.nextHeader;
  into[7] = fields.hopLimit;
  writeIpv6Address(fields.src, into, 8);
  writeIpv6Address(fields.dst, into, 24);
  return IPV6_HEADER_LENGTH;
}

/** Folds a non-negative sum below 2^53 into 16 bits with end-around carry (RFC 1071). */
function fold(sum: number): number {
  while (sum > 0xffff) sum = (sum % 0x10000) + Math.floor(sum / 0x10000);
  return sum;
}

/** Sum of the 16-bit halves of a 32-bit word. */
function halves(w: number): number {
  return (w >>> 16) + (w & 0xffff);
}

/**
 * The one's complement sum (folded, not complemented) of the source and destination
 * addresses: the part of the IPv6 pseudo-header (RFC 8200 §8.1) that depends on the packet's
 * addresses. It is symmetric, so a reply's sum equals the request's. Pass it to
 * `parseTcpWithAddressSum`, `emitTcpWithAddressSum`, `parseIcmpv6` and the ICMPv6 emitters,
 * which add the length and Next Header themselves.
 *
 * When a Routing header is present, RFC 8200 §8.1 puts the final destination in the
 * pseudo-header; a host receiving a packet with Segments Left 0 is that destination.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ipv6AddressSum } from "./ipv6.ts";
 * import { parseIpv6Address } from "./ipv6_address.ts";
 * const a = parseIpv6Address("fd00::1")!;
 * const b = parseIpv6Address("fd00::2")!;
 * assert(ipv6AddressSum(a, b) === ipv6AddressSum(b, a));
 * ```
 */
export function ipv6AddressSum(src: Readonly<Ipv6Address>, dst: Readonly<Ipv6Address>): number {
  return fold(
    halves(src.w0) + halves(src.w1) + halves(src.w2) + halves(src.w3) +
      halves(dst.w0) + halves(dst.w1) + halves(dst.w2) + halves(dst.w3),
  );
}

/**
 * {@linkcode ipv6AddressSum} read straight from the fixed header at `packet[offset..)`
 * (bytes 8..40 of it), without reading the addresses into objects.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { emitIpv6, ipv6AddressSum, ipv6PacketAddressSum } from "./ipv6.ts";
 * import { parseIpv6Address } from "./ipv6_address.ts";
 * const src = parseIpv6Address("fd00::1")!;
 * const dst = parseIpv6Address("fd00::2")!;
 * const p = new Uint8Array(40);
 * emitIpv6(p, { src, dst, nextHeader: 6, hopLimit: 64, payloadLength: 0 });
 * assert(ipv6PacketAddressSum(p) === ipv6AddressSum(src, dst));
 * ```
 */
export function ipv6PacketAddressSum(packet: Uint8Array, offset = 0): number {
  return checksumAdd(0, packet, offset + 8, offset + 40);
}

/**
 * The whole IPv6 pseudo-header sum (RFC 8200 §8.1, folded, not complemented): addresses, the
 * 32-bit upper-layer packet length, three zero bytes and the Next Header value. Start
 * `checksumAdd` from it over the upper-layer packet.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checksumAdd, checksumFinish } from "./checksum.ts";
 * import { ipv6PseudoHeaderSum } from "./ipv6.ts";
 * import { IPV6_LOOPBACK } from "./ipv6_address.ts";
 * const udp = new Uint8Array([0x30, 0x39, 0x00, 0x35, 0x00, 0x08, 0x00, 0x00]);
 * const acc = ipv6PseudoHeaderSum(IPV6_LOOPBACK, IPV6_LOOPBACK, 17, udp.length);
 * assert(checksumFinish(checksumAdd(acc, udp, 0, udp.length)) !== 0);
 * ```
 */
export function ipv6PseudoHeaderSum(
  src: Readonly<Ipv6Address>,
  dst: Readonly<Ipv6Address>,
  nextHeader: number,
  upperLayerLength: number,
): number {
  return fold(
    ipv6AddressSum(src, dst) + Math.floor(upperLayerLength / 0x10000) +
      (upperLayerLength & 0xffff) + (nextHeader & 0xff),
  );
}

/** Why {@linkcode walkIpv6Extensions} dropped a packet (or found nothing to deliver). */
export enum Ipv6ExtError {
  None = 0,
  /** An extension header runs past the payload (its length field lies, or it is cut). */
  Truncated = 1,
  /** More than {@linkcode IPV6_MAX_EXTENSION_HEADERS} extension headers. */
  TooManyHeaders = 2,
  /** More than {@linkcode IPV6_MAX_EXTENSION_BYTES} bytes of extension headers. */
  ChainTooLong = 3,
  /** A Hop-by-Hop header anywhere but right after the fixed header (RFC 8200 §4.1). */
  HopByHopNotFirst = 4,
  /** An option's length runs past its header (RFC 8200 §4.2). */
  BadOption = 5,
  /** An option of unrecognized type whose action bits say discard (RFC 8200 §4.2). */
  UnrecognizedOption = 6,
  /** A Routing header with Segments Left > 0: this host routes no type (RFC 8200 §4.4). */
  SegmentsLeft = 7,
  /** A non-final fragment whose length is not a multiple of 8 (RFC 8200 §4.5). */
  FragmentLength = 8,
  /** Fragment Offset plus length past 65535 (RFC 8200 §4.5). */
  FragmentTooFar = 9,
  /** A first fragment without the whole header chain (RFC 8200 §4.5, RFC 7112 §5). */
  IncompleteChain = 10,
  /** A second Fragment header in one packet (nested fragmentation is not supported). */
  RepeatedFragment = 11,
  /** No Next Header (59): nothing to deliver (RFC 8200 §4.7). */
  NoNextHeader = 12,
  /** Authentication Header or ESP (RFC 4302, RFC 4303): IPsec is not supported. */
  Ipsec = 13,
}

/** The result of {@linkcode walkIpv6Extensions}. Reused: see {@linkcode newIpv6Extensions}. */
export interface Ipv6Extensions {
  /**
   * The upper-layer protocol (`IPPROTO_TCP`, `IPPROTO_ICMPV6`, or any value the walk does not
   * know as an extension header: the caller answers an unknown one with Parameter Problem code
   * 1 pointing at `nextHeaderOffset`, RFC 8200 §4). For a fragment other than the first: the
   * Fragment header's Next Header.
   */
  protocol: number;
  /** Offset of the upper-layer header (for a later fragment: of its fragment data). */
  offset: number;
  /** End of the packet: 40 + Payload Length. The upper layer is `packet[offset..end)`. */
  end: number;
  /** Offset of the Next Header field that holds `protocol` (6 with no extension headers). */
  nextHeaderOffset: number;
  /** Extension headers walked. */
  headerCount: number;
  /**
   * A fragment of a larger packet (Fragment header, not atomic): reassemble it (RFC 8200 §4.5)
   * and walk the result instead of delivering this one.
   */
  fragment: boolean;
  /** Offset of the Fragment header, or -1 when there is none (atomic fragments included). */
  fragmentHeaderOffset: number;
  /** Offset of the Next Header field that names the Fragment header (the reassembled packet's). */
  fragmentLinkOffset: number;
  /** The Fragment header's Next Header: the first header of the fragmentable part. */
  fragmentNextHeader: number;
  /** Fragment Offset in bytes (the field × 8). */
  fragmentOffset: number;
  /** The M flag: more fragments follow. */
  moreFragments: boolean;
  /** Identification (unsigned 32-bit). */
  fragmentId: number;
  /**
   * On a drop: the ICMPv6 Parameter Problem code to send (`ICMPV6_PARAM_*`), or -1 for none —
   * the RFC says silence, or RFC 4443 §2.4(e) forbids an error for this packet (multicast
   * destination except for an action-10 option, unspecified source).
   */
  icmpCode: number;
  /** With `icmpCode` ≥ 0: the Pointer, the offending byte's offset in the packet. */
  icmpPointer: number;
}

/** Creates an `Ipv6Extensions` to reuse across calls of {@linkcode walkIpv6Extensions}. */
export function newIpv6Extensions(): Ipv6Extensions {
  return {
    protocol: 0,
    offset: 0,
    end: 0,
    nextHeaderOffset: 0,
    headerCount: 0,
    fragment: false,
    fragmentHeaderOffset: -1,
    fragmentLinkOffset: -1,
    fragmentNextHeader: 0,
    fragmentOffset: 0,
    moreFragments: false,
    fragmentId: 0,
    icmpCode: -1,
    icmpPointer: 0,
  };
}

// Option types the host understands (RFC 8200 §4.2; the IANA "Destination Options and
// Hop-by-Hop Options" registry). Pad1 and PadN pad; Router Alert (RFC 2711) and Tunnel
// Encapsulation Limit (RFC 2473) mean nothing to an end host and carry action 00 anyway.
const OPT_PAD1 = 0x00;
const OPT_PADN = 0x01;
const OPT_TUNNEL_ENCAP_LIMIT = 0x04;
const OPT_ROUTER_ALERT = 0x05;

/**
 * Whether this packet may draw an ICMPv6 error (RFC 4443 §2.4(e)): not when the source does
 * not identify a single node (unspecified or multicast, (e.6)), nor when the destination is
 * multicast (e.3), except for Packet Too Big and for Parameter Problem code 2 about an option
 * whose action bits are 10. The caller still rate-limits (§2.4(f)) and never answers an ICMPv6
 * error or redirect (e.1, e.2).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ipv6ErrorAllowed } from "./ipv6.ts";
 * import { parseIpv6Address } from "./ipv6_address.ts";
 * const src = parseIpv6Address("fd00::1")!;
 * assert(ipv6ErrorAllowed(src, parseIpv6Address("fd00::2")!, false));
 * assert(!ipv6ErrorAllowed(src, parseIpv6Address("ff02::1")!, false));
 * assert(ipv6ErrorAllowed(src, parseIpv6Address("ff02::1")!, true));
 * ```
 * @param multicastExempt the error is Packet Too Big, or Parameter Problem code 2 for an
 *   action-10 option: allowed towards a multicast destination's sender.
 */
export function ipv6ErrorAllowed(
  src: Readonly<Ipv6Address>,
  dst: Readonly<Ipv6Address>,
  multicastExempt: boolean,
): boolean {
  const s = classifyIpv6Address(src);
  if (s === Ipv6AddressKind.Unspecified || s === Ipv6AddressKind.Multicast) return false;
  return multicastExempt || !isIpv6Multicast(dst);
}

/** Records a drop with a Parameter Problem, subject to RFC 4443 §2.4(e). */
function drop(
  ip: Ipv6Header,
  out: Ipv6Extensions,
  reason: Ipv6ExtError,
  code: number,
  pointer: number,
  multicastExempt = false,
): Ipv6ExtError {
  if (code >= 0 && ipv6ErrorAllowed(ip.src, ip.dst, multicastExempt)) {
    out.icmpCode = code;
    out.icmpPointer = pointer;
  } else {
    out.icmpCode = -1;
    out.icmpPointer = 0;
  }
  return reason;
}

/**
 * Processes the options of a Hop-by-Hop or Destination Options header at `b[start..end)`
 * (RFC 8200 §4.2): Pad1 is one byte, every other option is type, length, data; an option of
 * unrecognized type is handled by its two high-order bits.
 */
function walkOptions(
  b: Uint8Array,
  start: number,
  end: number,
  ip: Ipv6Header,
  out: Ipv6Extensions,
): Ipv6ExtError {
  let i = start + 2;
  while (i < end) {
    const type = b[i];
    if (type === OPT_PAD1) {
      i++;
      continue;
    }
    // Type, length, then `length` bytes of data, within the header.
    if (i + 1 >= end || i + 2 + b[i + 1] > end) {
      return drop(
        ip,
        out,
        Ipv6ExtError.BadOption,
        ICMPV6_PARAM_HEADER_FIELD,
        i + 1 < end ? i + 1 : i,
      );
    }
    if (
      type !== OPT_PADN && type !== OPT_ROUTER_ALERT && type !== OPT_TUNNEL_ENCAP_LIMIT
    ) {
      // RFC 8200 §4.2: the action for an unrecognized option type.
      switch (type >>> 6) {
        case 0: // 00: skip over this option and continue processing the header
          break;
        case 1: // 01: discard the packet
          return drop(ip, out, Ipv6ExtError.UnrecognizedOption, -1, 0);
        case 2: // 10: discard, send Parameter Problem code 2 even to a multicast destination
          return drop(ip, out, Ipv6ExtError.UnrecognizedOption, ICMPV6_PARAM_OPTION, i, true);
        default: // 11: discard, send Parameter Problem code 2 only if not multicast
          return drop(ip, out, Ipv6ExtError.UnrecognizedOption, ICMPV6_PARAM_OPTION, i);
      }
    }
    i += 2 + b[i + 1];
  }
  return Ipv6ExtError.None;
}

/** Upper-layer header bytes a first fragment must hold, as Linux's `ipv6frag_thdr_truncated`. */
function upperHeaderMinimum(protocol: number): number {
  if (protocol === IPPROTO_TCP) return 20;
  if (protocol === IPPROTO_UDP || protocol === IPPROTO_ICMPV6) return 8;
  return 1;
}

/**
 * Walks the extension headers of a packet `parseIpv6` accepted into `ip`, from the fixed
 * header's Next Header to the upper-layer header (RFC 8200 §4), and fills `out`.
 *
 * - Hop-by-Hop (only right after the fixed header, §4.1/§4.3) and Destination Options (§4.6):
 *   options by their action bits (§4.2): 00 skip, 01 drop, 10 drop + Parameter Problem code 2,
 *   11 the same unless the destination is multicast; Pad1/PadN/Router Alert skipped.
 * - Routing (§4.4): ignored when Segments Left is 0; otherwise (any type: this host routes
 *   none, and type 0 is deprecated by RFC 5095 §3) dropped with code 0 at the Routing Type.
 * - Fragment (§4.5): offset, M flag and identification are exposed; a non-final fragment's
 *   length must be a multiple of 8 (code 0 at Payload Length) and the reassembled payload may
 *   not pass 65535 bytes (code 0 at Fragment Offset). An atomic fragment (offset 0, M 0, RFC 6946) is walked through like
 *   any packet. A later fragment stops the walk (`fragment` true, `protocol` = the Fragment
 *   header's Next Header); a first fragment is walked on to check that it holds the whole
 *   header chain (RFC 7112 §5; code 3 otherwise), then also reports `fragment` true.
 * - AH/ESP stop the walk (IPsec unsupported, silent); No Next Header (59) ends it with nothing
 *   to deliver. Any other value is the upper-layer protocol.
 * - Bounded: at most {@linkcode IPV6_MAX_EXTENSION_HEADERS} headers and
 *   {@linkcode IPV6_MAX_EXTENSION_BYTES} bytes of them (RFC 8883 codes 8 and 7 past that).
 *
 * `out.icmpCode`/`out.icmpPointer` say which Parameter Problem to send on a drop, already
 * filtered by {@linkcode ipv6ErrorAllowed}. Never throws on bad input.
 * @returns `Ipv6ExtError.None` (0) when `out.protocol` at `out.offset` is to be delivered (or,
 *   with `out.fragment`, reassembled), else why the packet is dropped.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import {
 *   emitIpv6, IPPROTO_DSTOPTS, Ipv6ExtError, newIpv6Extensions, newIpv6Header, parseIpv6,
 *   walkIpv6Extensions,
 * } from "./ipv6.ts";
 * import { parseIpv6Address } from "./ipv6_address.ts";
 * // A Destination Options header (next: TCP) holding an option of type 0x9e (action 10).
 * const p = new Uint8Array(40 + 8 + 20);
 * emitIpv6(p, { src: parseIpv6Address("fd00::1")!, dst: parseIpv6Address("fd00::2")!, nextHeader: IPPROTO_DSTOPTS, hopLimit: 64, payloadLength: 28 });
 * p.set([6, 0, 0x9e, 4, 0, 0, 0, 0], 40);
 * const ip = newIpv6Header();
 * const ext = newIpv6Extensions();
 * assert(parseIpv6(p, p.length, ip) === 0);
 * assert(walkIpv6Extensions(p, ip, ext) === Ipv6ExtError.UnrecognizedOption);
 * assert(ext.icmpCode === 2 && ext.icmpPointer === 42);
 * ```
 */
export function walkIpv6Extensions(
  packet: Uint8Array,
  ip: Ipv6Header,
  out: Ipv6Extensions,
): Ipv6ExtError {
  const b = packet;
  const end = IPV6_HEADER_LENGTH + ip.payloadLength;
  out.end = end;
  out.headerCount = 0;
  out.fragment = false;
  out.fragmentHeaderOffset = -1;
  out.fragmentLinkOffset = -1;
  out.fragmentNextHeader = 0;
  out.fragmentOffset = 0;
  out.moreFragments = false;
  out.fragmentId = 0;
  out.icmpCode = -1;
  out.icmpPointer = 0;
  let next = ip.nextHeader;
  let link = 6; // offset of the Next Header field holding `next`
  let at = IPV6_HEADER_LENGTH;
  let firstFragment = false;
  while (true) {
    out.protocol = next;
    out.offset = at;
    out.nextHeaderOffset = link;
    let length: number;
    switch (next) {
      case IPPROTO_HOPOPTS:
      case IPPROTO_DSTOPTS:
      case IPPROTO_ROUTING:
        length = -1; // from the Hdr Ext Len field, below
        break;
      case IPPROTO_FRAGMENT:
        length = 8;
        break;
      case IPPROTO_AH:
      case IPPROTO_ESP:
        return drop(ip, out, Ipv6ExtError.Ipsec, -1, 0);
      case IPPROTO_NONE:
        // RFC 8200 §4.7: bytes after a No Next Header are ignored.
        return drop(ip, out, Ipv6ExtError.NoNextHeader, -1, 0);
      default: {
        // The upper-layer header. A first fragment must hold enough of it (RFC 7112 §5).
        if (firstFragment && at + upperHeaderMinimum(next) > end) {
          return drop(ip, out, Ipv6ExtError.IncompleteChain, ICMPV6_PARAM_INCOMPLETE_CHAIN, 0);
        }
        return Ipv6ExtError.None;
      }
    }
    // An extension header: the bounds first (RFC 8883 §4.2/§4.3 name the errors).
    if (out.headerCount === IPV6_MAX_EXTENSION_HEADERS) {
      return drop(ip, out, Ipv6ExtError.TooManyHeaders, ICMPV6_PARAM_TOO_MANY_HEADERS, at);
    }
    if (at + 2 > end) {
      if (firstFragment) {
        return drop(ip, out, Ipv6ExtError.IncompleteChain, ICMPV6_PARAM_INCOMPLETE_CHAIN, 0);
      }
      return drop(ip, out, Ipv6ExtError.Truncated, -1, 0);
    }
    // RFC 8200 §4.3/§4.4/§4.6: Hdr Ext Len counts 8-octet units after the first 8 octets.
    if (length < 0) length = (b[at + 1] + 1) << 3;
    if (at + length - IPV6_HEADER_LENGTH > IPV6_MAX_EXTENSION_BYTES) {
      return drop(ip, out, Ipv6ExtError.ChainTooLong, ICMPV6_PARAM_CHAIN_TOO_LONG, at);
    }
    if (at + length > end) {
      if (firstFragment) {
        return drop(ip, out, Ipv6ExtError.IncompleteChain, ICMPV6_PARAM_INCOMPLETE_CHAIN, 0);
      }
      // A Fragment header is merely cut short: silence. Otherwise RFC 4443 §3.4: the Hdr Ext
      // Len is the erroneous field.
      if (next === IPPROTO_FRAGMENT) return drop(ip, out, Ipv6ExtError.Truncated, -1, 0);
      return drop(ip, out, Ipv6ExtError.Truncated, ICMPV6_PARAM_HEADER_FIELD, at + 1);
    }
    out.headerCount++;
    switch (next) {
      case IPPROTO_HOPOPTS: {
        // RFC 8200 §4.1: Hop-by-Hop only immediately after the IPv6 header; elsewhere its Next
        // Header value is unrecognized (§4, Parameter Problem code 1 at that field).
        if (at !== IPV6_HEADER_LENGTH) {
          return drop(ip, out, Ipv6ExtError.HopByHopNotFirst, ICMPV6_PARAM_NEXT_HEADER, link);
        }
        const err = walkOptions(b, at, at + length, ip, out);
        if (err !== Ipv6ExtError.None) return err;
        break;
      }
      case IPPROTO_DSTOPTS: {
        const err = walkOptions(b, at, at + length, ip, out);
        if (err !== Ipv6ExtError.None) return err;
        break;
      }
      case IPPROTO_ROUTING:
        // RFC 8200 §4.4: an unrecognized Routing Type with Segments Left 0 is ignored; with
        // Segments Left > 0, discard and point at the Routing Type. This host forwards nothing,
        // so no type is one it can act on (RFC 5095 §3 deprecates type 0 outright).
        if (b[at + 3] !== 0) {
          return drop(ip, out, Ipv6ExtError.SegmentsLeft, ICMPV6_PARAM_HEADER_FIELD, at + 2);
        }
        break;
      default: {
        // IPPROTO_FRAGMENT (RFC 8200 §4.5): Next Header, Reserved, Fragment Offset (13 bits),
        // Res (2), M (1), Identification (32).
        if (out.fragmentHeaderOffset >= 0) {
          return drop(ip, out, Ipv6ExtError.RepeatedFragment, -1, 0);
        }
        const offset = ((b[at + 2] << 8) | b[at + 3]) & 0xfff8;
        const more = (b[at + 3] & 1) === 1;
        out.fragmentHeaderOffset = at;
        out.fragmentLinkOffset = link;
        out.fragmentNextHeader = b[at];
        out.fragmentOffset = offset;
        out.moreFragments = more;
        out.fragmentId = readU32(b, at + 4);
        if (offset !== 0 || more) {
          const dataLength = end - (at + 8);
          // §4.5: a fragment that is not the last must be a multiple of 8 octets long.
          if (more && (dataLength & 7) !== 0) {
            return drop(ip, out, Ipv6ExtError.FragmentLength, ICMPV6_PARAM_HEADER_FIELD, 4);
          }
          // §4.5: the reassembled packet's Payload Length (the unfragmentable headers, then
          // the fragmentable part up to this fragment's end) would exceed 65535 octets.
          if (at - IPV6_HEADER_LENGTH + offset + dataLength > 0xffff) {
            return drop(ip, out, Ipv6ExtError.FragmentTooFar, ICMPV6_PARAM_HEADER_FIELD, at + 2);
          }
          out.fragment = true;
          if (offset !== 0) {
            // A later fragment: what follows is fragment data, not headers.
            out.protocol = b[at];
            out.offset = at + 8;
            out.nextHeaderOffset = at;
            return Ipv6ExtError.None;
          }
          firstFragment = true;
        }
        break;
      }
    }
    next = b[at];
    link = at;
    at += length;
  }
}
