/**
 * ICMPv6 codec (RFC 4443): parse a message (checksum over the IPv6 pseudo-header), answer an
 * echo request, build error messages that quote the invoking packet, and read the quote of a
 * received error to find the connection it is about.
 *
 * Everything works on the ICMPv6 part only (the upper-layer packet); the caller writes the IPv6
 * header with `emitIpv6`. Checksums take the pseudo-header's address sum (`ipv6AddressSum`,
 * `ipv6PacketAddressSum`), to which the length and Next Header 58 are added here (RFC 4443
 * §2.3). Neighbor Discovery (RFC 4861) and Multicast Listener Discovery (RFC 2710, RFC 3810)
 * messages are recognized ({@linkcode Icmpv6Category}) so a host without them can count and
 * ignore them instead of calling them malformed.
 * @module
 */

import { readU32, writeU32 } from "./bytes.ts";
import { checksumAdd, checksumFinish } from "./checksum.ts";
import { type Ipv6Address, ipv6Address, readIpv6Address } from "./ipv6_address.ts";
import {
  IPPROTO_AH,
  IPPROTO_DSTOPTS,
  IPPROTO_ESP,
  IPPROTO_FRAGMENT,
  IPPROTO_HOPOPTS,
  IPPROTO_ICMPV6,
  IPPROTO_NONE,
  IPPROTO_ROUTING,
  IPV6_HEADER_LENGTH,
  IPV6_MAX_EXTENSION_HEADERS,
  IPV6_MIN_MTU,
} from "./ipv6.ts";

/** ICMPv6 type: Destination Unreachable (RFC 4443 §3.1). */
export const ICMPV6_DEST_UNREACHABLE = 1;
/** ICMPv6 type: Packet Too Big (RFC 4443 §3.2). */
export const ICMPV6_PACKET_TOO_BIG = 2;
/** ICMPv6 type: Time Exceeded (RFC 4443 §3.3). */
export const ICMPV6_TIME_EXCEEDED = 3;
/** ICMPv6 type: Parameter Problem (RFC 4443 §3.4); codes `ICMPV6_PARAM_*` in ipv6.ts. */
export const ICMPV6_PARAMETER_PROBLEM = 4;
/** ICMPv6 type: Echo Request (RFC 4443 §4.1). */
export const ICMPV6_ECHO_REQUEST = 128;
/** ICMPv6 type: Echo Reply (RFC 4443 §4.2). */
export const ICMPV6_ECHO_REPLY = 129;
/** ICMPv6 type: Multicast Listener Query (RFC 2710 §3, RFC 3810 §5.1). */
export const ICMPV6_MLD_QUERY = 130;
/** ICMPv6 type: Multicast Listener Report, version 1 (RFC 2710 §3). */
export const ICMPV6_MLD_REPORT = 131;
/** ICMPv6 type: Multicast Listener Done (RFC 2710 §3). */
export const ICMPV6_MLD_DONE = 132;
/** ICMPv6 type: Router Solicitation (RFC 4861 §4.1). */
export const ICMPV6_ROUTER_SOLICITATION = 133;
/** ICMPv6 type: Router Advertisement (RFC 4861 §4.2). */
export const ICMPV6_ROUTER_ADVERTISEMENT = 134;
/** ICMPv6 type: Neighbor Solicitation (RFC 4861 §4.3). */
export const ICMPV6_NEIGHBOR_SOLICITATION = 135;
/** ICMPv6 type: Neighbor Advertisement (RFC 4861 §4.4). */
export const ICMPV6_NEIGHBOR_ADVERTISEMENT = 136;
/** ICMPv6 type: Redirect (RFC 4861 §4.5). */
export const ICMPV6_REDIRECT = 137;
/** ICMPv6 type: Multicast Listener Report, version 2 (RFC 3810 §5.2). */
export const ICMPV6_MLDV2_REPORT = 143;

/** Destination Unreachable code: no route to destination (RFC 4443 §3.1). */
export const ICMPV6_UNREACH_NO_ROUTE = 0;
/** Destination Unreachable code: communication administratively prohibited. */
export const ICMPV6_UNREACH_ADMIN = 1;
/** Destination Unreachable code: beyond scope of source address. */
export const ICMPV6_UNREACH_BEYOND_SCOPE = 2;
/** Destination Unreachable code: address unreachable. */
export const ICMPV6_UNREACH_ADDRESS = 3;
/** Destination Unreachable code: port unreachable. */
export const ICMPV6_UNREACH_PORT = 4;
/** Destination Unreachable code: source address failed ingress/egress policy. */
export const ICMPV6_UNREACH_POLICY = 5;
/** Destination Unreachable code: reject route to destination. */
export const ICMPV6_UNREACH_REJECT_ROUTE = 6;

/** Time Exceeded code: hop limit exceeded in transit (RFC 4443 §3.3). */
export const ICMPV6_TIME_HOP_LIMIT = 0;
/** Time Exceeded code: fragment reassembly time exceeded (RFC 4443 §3.3, RFC 8200 §4.5). */
export const ICMPV6_TIME_REASSEMBLY = 1;

/** Length of the ICMPv6 header (type, code, checksum, 4 type-specific bytes). */
export const ICMPV6_HEADER_LENGTH = 8;
/**
 * The most an ICMPv6 error may be, counting its IPv6 header: the minimum MTU (RFC 4443
 * §2.4(c)). So an error quotes at most 1280 - 40 - 8 = 1232 bytes.
 */
export const ICMPV6_ERROR_MAX_PACKET = IPV6_MIN_MTU;

/** What a message is for, by type (RFC 4443 §2.1 and the protocols built on ICMPv6). */
export enum Icmpv6Category {
  /** Types 0-127 (RFC 4443 §2.1), including ones this codec does not name. */
  Error = 0,
  /** Echo Request or Reply (RFC 4443 §4). */
  Echo = 1,
  /** Router/Neighbor Solicitation and Advertisement, Redirect (RFC 4861). */
  NeighborDiscovery = 2,
  /** MLD Query, Report, Done and MLDv2 Report (RFC 2710, RFC 3810). */
  MulticastListener = 3,
  /** Any other informational type (128-255): silently discarded (RFC 4443 §2.4(b)). */
  OtherInformational = 4,
}

/** Why an ICMPv6 message was rejected. */
export enum Icmpv6ParseError {
  None = 0,
  /** Fewer than 8 bytes. */
  TooShort = 1,
  /** The checksum over the pseudo-header and message does not verify (RFC 4443 §2.3). */
  BadChecksum = 2,
  /** An echo message with a code other than 0 (RFC 4443 §4.1, §4.2). */
  BadCode = 3,
}

/** A parsed ICMPv6 message. Reused across packets: see {@linkcode newIcmpv6Message}. */
export interface Icmpv6Message {
  /** Message type (`ICMPV6_ECHO_REQUEST`, ...). */
  type: number;
  /** Message code, meaning depends on the type. */
  code: number;
  /** Checksum as received. */
  checksum: number;
  /** What the type is for. */
  category: Icmpv6Category;
  /** Bytes 4-7 as one unsigned 32-bit number: the MTU of Packet Too Big, the Pointer of Parameter Problem. */
  rest: number;
  /** Identifier (bytes 4-5), meaningful for echo messages. */
  id: number;
  /** Sequence number (bytes 6-7), meaningful for echo messages. */
  seq: number;
  /** Everything after the 8-byte header (a view): echo data, or an error's invoking packet. */
  data: Uint8Array;
}

const EMPTY = new Uint8Array(0);

/** Creates an `Icmpv6Message` to reuse across calls of {@linkcode parseIcmpv6}. */
export function newIcmpv6Message(): Icmpv6Message {
  return {
    type: 0,
    code: 0,
    checksum: 0,
    category: Icmpv6Category.Error,
    rest: 0,
    id: 0,
    seq: 0,
    data: EMPTY,
  };
}

/**
 * The category of an ICMPv6 type.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Icmpv6Category, icmpv6Category } from "./icmpv6.ts";
 * assert(icmpv6Category(135) === Icmpv6Category.NeighborDiscovery);
 * assert(icmpv6Category(2) === Icmpv6Category.Error);
 * ```
 */
export function icmpv6Category(type: number): Icmpv6Category {
  if (type < 128) return Icmpv6Category.Error;
  if (type === ICMPV6_ECHO_REQUEST || type === ICMPV6_ECHO_REPLY) return Icmpv6Category.Echo;
  if (type >= ICMPV6_ROUTER_SOLICITATION && type <= ICMPV6_REDIRECT) {
    return Icmpv6Category.NeighborDiscovery;
  }
  if ((type >= ICMPV6_MLD_QUERY && type <= ICMPV6_MLD_DONE) || type === ICMPV6_MLDV2_REPORT) {
    return Icmpv6Category.MulticastListener;
  }
  return Icmpv6Category.OtherInformational;
}

/** The ICMPv6 checksum's starting sum (RFC 4443 §2.3, RFC 8200 §8.1). */
function pseudoSum(addressSum: number, length: number): number {
  return addressSum + Math.floor(length / 0x10000) + (length & 0xffff) + IPPROTO_ICMPV6;
}

/**
 * Parses and validates an ICMPv6 message: `bytes` is exactly the upper-layer packet (from the
 * ICMPv6 type to the end of the IPv6 payload), `addressSum` the pseudo-header's address sum
 * (`ipv6PacketAddressSum(packet)`). Verifies the checksum (RFC 4443 §2.3) unless told not to,
 * and that echo messages carry code 0. On error `out.data` is empty. Never throws.
 * @returns `Icmpv6ParseError.None` (0), or why the message was rejected.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { emitIcmpv6EchoReply, Icmpv6ParseError, newIcmpv6Message, parseIcmpv6 } from "./icmpv6.ts";
 * import { ipv6AddressSum } from "./ipv6.ts";
 * import { parseIpv6Address } from "./ipv6_address.ts";
 * const sum = ipv6AddressSum(parseIpv6Address("fd00::1")!, parseIpv6Address("fd00::2")!);
 * // Build an echo request by "replying" to a fake one, then flip its type.
 * const req = newIcmpv6Message();
 * req.id = 7;
 * req.seq = 1;
 * const buf = new Uint8Array(8);
 * emitIcmpv6EchoReply(req, buf, sum);
 * const msg = newIcmpv6Message();
 * assert(parseIcmpv6(buf, sum, msg) === Icmpv6ParseError.None && msg.type === 129 && msg.id === 7);
 * ```
 */
export function parseIcmpv6(
  bytes: Uint8Array,
  addressSum: number,
  out: Icmpv6Message,
  verifyChecksum = true,
): Icmpv6ParseError {
  const b = bytes;
  out.data = EMPTY;
  if (b.length < ICMPV6_HEADER_LENGTH) return Icmpv6ParseError.TooShort;
  out.type = b[0];
  out.code = b[1];
  out.checksum = (b[2] << 8) | b[3];
  out.category = icmpv6Category(b[0]);
  out.id = (b[4] << 8) | b[5];
  out.seq = (b[6] << 8) | b[7];
  out.rest = readU32(b, 4);
  if (verifyChecksum) {
    const acc = pseudoSum(addressSum, b.length);
    if (checksumFinish(checksumAdd(acc, b, 0, b.length)) !== 0) {
      return Icmpv6ParseError.BadChecksum;
    }
  }
  if (out.category === Icmpv6Category.Echo && out.code !== 0) return Icmpv6ParseError.BadCode;
  if (b.length > ICMPV6_HEADER_LENGTH) out.data = b.subarray(ICMPV6_HEADER_LENGTH);
  return Icmpv6ParseError.None;
}

/** Fills the checksum of the message at `into[0..total)`. */
function finish(into: Uint8Array, total: number, addressSum: number): void {
  into[2] = 0;
  into[3] = 0;
  const csum = checksumFinish(checksumAdd(pseudoSum(addressSum, total), into, 0, total));
  into[2] = csum >>> 8;
  into[3] = csum;
}

/**
 * Writes the Echo Reply to a parsed Echo Request into `into` from index 0: type 129, code 0,
 * the request's identifier, sequence number and data (RFC 4443 §4.2), checksum filled for
 * `addressSum` (the request's sum serves when the reply swaps its addresses; a request sent to
 * a multicast address is answered from a unicast one, whose sum the caller passes). `into` may
 * be the request's own buffer at the same offset.
 * @returns the number of bytes written, `8 + request.data.length`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { emitIcmpv6EchoReply, ICMPV6_ECHO_REPLY, newIcmpv6Message } from "./icmpv6.ts";
 * const req = newIcmpv6Message();
 * req.data = new Uint8Array([1, 2, 3]);
 * const out = new Uint8Array(16);
 * assert(emitIcmpv6EchoReply(req, out, 0) === 11 && out[0] === ICMPV6_ECHO_REPLY);
 * ```
 */
export function emitIcmpv6EchoReply(
  request: Icmpv6Message,
  into: Uint8Array,
  addressSum: number,
): number {
  into[0] = ICMPV6_ECHO_REPLY;
  into[1] = 0;
  into[4] = request.id >>> 8;
  into[5] = request.id;
  into[6] = request.seq >>> 8;
  into[7] = request.seq;
  const data = request.data;
  if (data.length > 0) into.set(data, ICMPV6_HEADER_LENGTH);
  const total = ICMPV6_HEADER_LENGTH + data.length;
  finish(into, total, addressSum);
  return total;
}

/**
 * Writes an ICMPv6 error message into `into` from index 0: `type` (1-4), `code`, the 32-bit
 * `param` (Packet Too Big: the MTU; Parameter Problem: the Pointer; otherwise 0, "unused"),
 * then as much of the invoking packet as fits without the whole error, with its 40-byte IPv6
 * header, exceeding `maxPacket` bytes (default and most 1280, RFC 4443 §2.4(c)). The checksum
 * is filled for `addressSum`: the sum of the error's own addresses (this host as source, the
 * invoking packet's source as destination, RFC 4443 §2.2).
 *
 * The caller decides whether an error may be sent at all (RFC 4443 §2.4(e), see
 * `ipv6ErrorAllowed`) and rate-limits it (§2.4(f)).
 * @returns the number of bytes written (at most `maxPacket - 40`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { emitIcmpv6Error, ICMPV6_PARAMETER_PROBLEM } from "./icmpv6.ts";
 * import { ICMPV6_PARAM_NEXT_HEADER } from "./ipv6.ts";
 * const invoking = new Uint8Array(2000); // quoted in part
 * const out = new Uint8Array(1240);
 * const n = emitIcmpv6Error(out, ICMPV6_PARAMETER_PROBLEM, ICMPV6_PARAM_NEXT_HEADER, 6, invoking, 0);
 * assert(n === 1240 && out[7] === 6);
 * ```
 */
export function emitIcmpv6Error(
  into: Uint8Array,
  type: number,
  code: number,
  param: number,
  invoking: Uint8Array,
  addressSum: number,
  maxPacket: number = ICMPV6_ERROR_MAX_PACKET,
): number {
  into[0] = type;
  into[1] = code;
  writeU32(into, 4, param);
  const room = Math.min(maxPacket, ICMPV6_ERROR_MAX_PACKET) - IPV6_HEADER_LENGTH -
    ICMPV6_HEADER_LENGTH;
  const quoted = Math.max(0, Math.min(invoking.length, room));
  if (quoted > 0) into.set(invoking.subarray(0, quoted), ICMPV6_HEADER_LENGTH);
  const total = ICMPV6_HEADER_LENGTH + quoted;
  finish(into, total, addressSum);
  return total;
}

/** Why {@linkcode parseIcmpv6Quote} could not find the connection an error is about. */
export enum Icmpv6QuoteError {
  None = 0,
  /** The message is not an error (type ≥ 128). */
  NotAnError = 1,
  /** Fewer than 40 bytes quoted: no whole IPv6 header. */
  TooShort = 2,
  /** The quoted header's version is not 6. */
  BadVersion = 3,
  /** The quoted extension headers run out before 8 bytes of the upper-layer header. */
  Truncated = 4,
  /** The quoted packet is a fragment other than the first: no upper-layer header in it. */
  NotFirstFragment = 5,
  /** The quoted chain holds ESP (encrypted: no ports to read) or is longer than the walk allows. */
  Unreadable = 6,
}

/** What an ICMPv6 error quotes. Reused: see {@linkcode newIcmpv6Quote}. */
export interface Icmpv6Quote {
  /** Source of the invoking packet: this host, if the error is genuine. */
  src: Ipv6Address;
  /** Destination of the invoking packet: the peer. */
  dst: Ipv6Address;
  /** Upper-layer protocol of the invoking packet. */
  protocol: number;
  /** Offset of the upper-layer header within the quote (the message's `data`). */
  transportOffset: number;
  /** The quoted upper-layer bytes (at least 8; a view of the message). */
  transport: Uint8Array;
  /** TCP/UDP source port (bytes 0-1 of `transport`). */
  srcPort: number;
  /** TCP/UDP destination port (bytes 2-3 of `transport`). */
  dstPort: number;
  /** TCP sequence number (bytes 4-7 of `transport`), for RFC 5927 §4.1 validation. */
  seq: number;
}

/** Creates an `Icmpv6Quote` to reuse across calls of {@linkcode parseIcmpv6Quote}. */
export function newIcmpv6Quote(): Icmpv6Quote {
  return {
    src: ipv6Address(),
    dst: ipv6Address(),
    protocol: 0,
    transportOffset: 0,
    transport: EMPTY,
    srcPort: 0,
    dstPort: 0,
    seq: 0,
  };
}

/**
 * Reads the invoking packet an ICMPv6 error (`msg`, from {@linkcode parseIcmpv6}) quotes: its
 * addresses, its upper-layer protocol, and the first 8 bytes of that header (TCP: ports and
 * sequence number), skipping quoted Hop-by-Hop, Destination Options, Routing, Fragment (a
 * first fragment only) and Authentication headers by their lengths without judging them. The
 * quote is usually cut short, so its Payload Length is not checked. Deciding whether the error
 * is believable (the addresses and ports name a connection, the sequence number is in its
 * window: RFC 5927 §4.1) is the caller's job.
 * @returns `Icmpv6QuoteError.None` (0) with `out` filled, else why not.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import {
 *   emitIcmpv6Error, ICMPV6_PACKET_TOO_BIG, Icmpv6QuoteError, newIcmpv6Message, newIcmpv6Quote,
 *   parseIcmpv6, parseIcmpv6Quote,
 * } from "./icmpv6.ts";
 * import { emitIpv6 } from "./ipv6.ts";
 * import { IPPROTO_TCP } from "./ipv4.ts";
 * import { parseIpv6Address } from "./ipv6_address.ts";
 * // The invoking packet: an IPv6 header and the start of a TCP header (ports 40000 -> 80).
 * const invoking = new Uint8Array(60);
 * emitIpv6(invoking, { src: parseIpv6Address("fd00::1")!, dst: parseIpv6Address("fd00::2")!, nextHeader: IPPROTO_TCP, hopLimit: 64, payloadLength: 1400 });
 * invoking.set([0x9c, 0x40, 0x00, 0x50, 0, 0, 0, 42], 40);
 * const err = new Uint8Array(68);
 * const n = emitIcmpv6Error(err, ICMPV6_PACKET_TOO_BIG, 0, 1280, invoking, 0);
 * const msg = newIcmpv6Message();
 * assert(parseIcmpv6(err.subarray(0, n), 0, msg) === 0 && msg.rest === 1280);
 * const q = newIcmpv6Quote();
 * assert(parseIcmpv6Quote(msg, q) === Icmpv6QuoteError.None);
 * assert(q.protocol === IPPROTO_TCP && q.srcPort === 40000 && q.dstPort === 80 && q.seq === 42);
 * ```
 */
export function parseIcmpv6Quote(msg: Icmpv6Message, out: Icmpv6Quote): Icmpv6QuoteError {
  out.transport = EMPTY;
  if (msg.category !== Icmpv6Category.Error) return Icmpv6QuoteError.NotAnError;
  const q = msg.data;
  if (q.length < IPV6_HEADER_LENGTH) return Icmpv6QuoteError.TooShort;
  if (q[0] >>> 4 !== 6) return Icmpv6QuoteError.BadVersion;
  readIpv6Address(q, 8, out.src);
  readIpv6Address(q, 24, out.dst);
  let next = q[6];
  let at = IPV6_HEADER_LENGTH;
  for (let headers = 0;; headers++) {
    let length: number;
    if (next === IPPROTO_HOPOPTS || next === IPPROTO_DSTOPTS || next === IPPROTO_ROUTING) {
      if (at + 2 > q.length) return Icmpv6QuoteError.Truncated;
      length = (q[at + 1] + 1) << 3; // RFC 8200 §4.3, §4.4, §4.6
    } else if (next === IPPROTO_FRAGMENT) {
      if (at + 8 > q.length) return Icmpv6QuoteError.Truncated;
      // RFC 8200 §4.5: only the first fragment (offset 0) carries the upper-layer header.
      if ((((q[at + 2] << 8) | q[at + 3]) & 0xfff8) !== 0) {
        return Icmpv6QuoteError.NotFirstFragment;
      }
      length = 8;
    } else if (next === IPPROTO_AH) {
      if (at + 2 > q.length) return Icmpv6QuoteError.Truncated;
      length = (q[at + 1] + 2) << 2; // RFC 4302 §2.2: Payload Len in 4-octet units, minus 2
    } else {
      break;
    }
    if (headers === IPV6_MAX_EXTENSION_HEADERS) return Icmpv6QuoteError.Unreadable;
    next = q[at];
    at += length;
  }
  // ESP: the rest is encrypted. No Next Header: nothing follows.
  if (next === IPPROTO_ESP || next === IPPROTO_NONE) return Icmpv6QuoteError.Unreadable;
  if (at + 8 > q.length) return Icmpv6QuoteError.Truncated;
  out.protocol = next;
  out.transportOffset = at;
  out.transport = q.subarray(at);
  out.srcPort = (q[at] << 8) | q[at + 1];
  out.dstPort = (q[at + 2] << 8) | q[at + 3];
  out.seq = readU32(q, at + 4);
  return Icmpv6QuoteError.None;
}
