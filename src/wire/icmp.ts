/**
 * ICMP codec (RFC 792): parse a received message, answer an echo request, build a
 * destination-unreachable message quoting the packet that caused it, and read the quote of a
 * received error message ({@linkcode parseIcmpError}) to find the connection it is about.
 *
 * All functions work on the ICMP part only (the IP payload); the caller writes the IP
 * header with `emitIpv4`.
 * @module
 */

import { readU32 } from "./bytes.ts";
import { internetChecksum } from "./checksum.ts";

/** ICMP type: echo reply (RFC 792). */
export const ICMP_ECHO_REPLY = 0;
/** ICMP type: destination unreachable (RFC 792). */
export const ICMP_DEST_UNREACHABLE = 3;
/** ICMP type: source quench (RFC 792; deprecated by RFC 6633, hosts ignore it). */
export const ICMP_SOURCE_QUENCH = 4;
/** ICMP type: echo request (RFC 792). */
export const ICMP_ECHO_REQUEST = 8;
/** ICMP type: time exceeded (RFC 792). */
export const ICMP_TIME_EXCEEDED = 11;
/** ICMP type: parameter problem (RFC 792). */
export const ICMP_PARAMETER_PROBLEM = 12;

/** Destination unreachable code: net unreachable (RFC 792). */
export const ICMP_UNREACH_NET = 0;
/** Destination unreachable code: host unreachable (RFC 792). */
export const ICMP_UNREACH_HOST = 1;
/** Destination unreachable code: protocol unreachable (RFC 792). */
export const ICMP_UNREACH_PROTOCOL = 2;
/** Destination unreachable code: port unreachable (RFC 792). */
export const ICMP_UNREACH_PORT = 3;
/** Destination unreachable code: fragmentation needed and DF set (RFC 792, RFC 1191). */
export const ICMP_UNREACH_FRAG_NEEDED = 4;
/** Destination unreachable code: source route failed (RFC 792). */
export const ICMP_UNREACH_SOURCE_ROUTE = 5;
/** Destination unreachable code: communication administratively prohibited (RFC 1812 §5.2.7.1). */
export const ICMP_UNREACH_ADMIN = 13;

/** Time exceeded code: time to live exceeded in transit (RFC 792). */
export const ICMP_TIME_TTL = 0;
/** Time exceeded code: fragment reassembly time exceeded (RFC 792). */
export const ICMP_TIME_REASSEMBLY = 1;

/** Parameter problem code: the pointer indicates the error (RFC 792). */
export const ICMP_PARAM_POINTER = 0;

/** Length of the ICMP header (type, code, checksum, 4 type-specific bytes). */
export const ICMP_HEADER_LENGTH = 8;

/** Why an ICMP message was rejected. */
export enum IcmpParseError {
  None = 0,
  /** Fewer than 8 bytes. */
  TooShort = 1,
  /** The checksum over the whole message does not verify. */
  BadChecksum = 2,
  /** A code that is not defined for the type (echo request/reply need code 0). */
  BadCode = 3,
}

/** A parsed ICMP message. Reused across packets: see {@link newIcmpMessage}. */
export interface IcmpMessage {
  /** Message type (`ICMP_ECHO_REQUEST`, ...). */
  type: number;
  /** Message code, meaning depends on the type. */
  code: number;
  /** Checksum as received. */
  checksum: number;
  /** Identifier (bytes 4-5), meaningful for echo messages. */
  id: number;
  /** Sequence number (bytes 6-7), meaningful for echo messages. */
  seq: number;
  /** The 4 type-specific header bytes as one unsigned 32-bit number. */
  rest: number;
  /** Everything after the 8-byte header (a view of the parsed bytes). */
  data: Uint8Array;
}

const EMPTY = new Uint8Array(0);

/** Creates an `IcmpMessage` to reuse across calls of {@link parseIcmp}. */
export function newIcmpMessage(): IcmpMessage {
  return { type: 0, code: 0, checksum: 0, id: 0, seq: 0, rest: 0, data: EMPTY };
}

/**
 * Parses and validates an ICMP message: `bytes` is exactly the IP payload. Verifies the
 * checksum over the whole message (RFC 792) and that echo messages carry code 0. On
 * error `out.data` is empty. Never throws on bad input.
 * @returns `IcmpParseError.None` (0), or why the message was rejected.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { emitIcmpEchoReply, ICMP_ECHO_REPLY, IcmpParseError, newIcmpMessage, parseIcmp } from "./icmp.ts";
 * // An echo request: type 8, code 0, checksum, id 0x1234, seq 1, data "ab".
 * const req = new Uint8Array([8, 0, 0x84, 0x68, 0x12, 0x34, 0x00, 0x01, 0x61, 0x62]);
 * const msg = newIcmpMessage();
 * assert(parseIcmp(req, msg) === IcmpParseError.None);
 * const reply = new Uint8Array(64);
 * const n = emitIcmpEchoReply(msg, reply);
 * assert(n === 10 && reply[0] === ICMP_ECHO_REPLY);
 * ```
 */
export function parseIcmp(bytes: Uint8Array, out: IcmpMessage): IcmpParseError {
  const b = bytes;
  out.data = EMPTY;
  if (b.length < ICMP_HEADER_LENGTH) return IcmpParseError.TooShort;
  out.type = b[0];
  out.code = b[1];
  out.checksum = (b[2] << 8) | b[3];
  out.id = (b[4] << 8) | b[5];
  out.seq = (b[6] << 8) | b[7];
  out.rest = readU32(b, 4);
  // RFC 792: the checksum covers the ICMP message from the type field on.
  if (internetChecksum(b, 0, b.length) !== 0) return IcmpParseError.BadChecksum;
  // RFC 792 "Echo or Echo Reply Message": code is 0.
  if ((out.type === ICMP_ECHO_REQUEST || out.type === ICMP_ECHO_REPLY) && out.code !== 0) {
    return IcmpParseError.BadCode;
  }
  if (b.length > ICMP_HEADER_LENGTH) out.data = b.subarray(ICMP_HEADER_LENGTH);
  return IcmpParseError.None;
}

/**
 * Writes the echo reply to a parsed echo request `request` into `into` from index 0:
 * type 0, code 0, the same identifier, sequence number and data (RFC 792), checksum
 * filled. `into` must have room for `8 + request.data.length` bytes and must not be the
 * buffer `request.data` views unless it is the same bytes at the same offset.
 * @returns the number of bytes written.
 */
export function emitIcmpEchoReply(request: IcmpMessage, into: Uint8Array): number {
  into[0] = ICMP_ECHO_REPLY;
  into[1] = 0;
  into[2] = 0;
  into[3] = 0;
  into[4] = request.id >>> 8;
  into[5] = request.id;
  into[6] = request.seq >>> 8;
  into[7] = request.seq;
  const data = request.data;
  if (data.length > 0) into.set(data, ICMP_HEADER_LENGTH);
  const total = ICMP_HEADER_LENGTH + data.length;
  const csum = internetChecksum(into, 0, total);
  into[2] = csum >>> 8;
  into[3] = csum;
  return total;
}

/**
 * Writes a destination unreachable message (type 3) with `code` into `into` from
 * index 0. Per RFC 792 its data is the original datagram's IP header plus the first
 * 8 bytes of that datagram's payload (fewer if the original is shorter). For code 4
 * (fragmentation needed) `nextHopMtu` fills the low 16 bits of the second word (RFC 1191 §4).
 * `into` must have room for 8 + 60 + 8 bytes at most.
 * @returns the number of bytes written.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { emitIcmpDestUnreachable, ICMP_UNREACH_PORT } from "./icmp.ts";
 * const original = new Uint8Array(40);
 * original[0] = 0x45; // IPv4, 20-byte header
 * const buf = new Uint8Array(76);
 * assert(emitIcmpDestUnreachable(buf, ICMP_UNREACH_PORT, original) === 36);
 * ```
 */
export function emitIcmpDestUnreachable(
  into: Uint8Array,
  code: number,
  originalIpPacket: Uint8Array,
  nextHopMtu = 0,
): number {
  into[0] = ICMP_DEST_UNREACHABLE;
  into[1] = code;
  into[2] = 0;
  into[3] = 0;
  into[4] = 0;
  into[5] = 0;
  into[6] = nextHopMtu >>> 8;
  into[7] = nextHopMtu;
  const orig = originalIpPacket;
  const ihl = orig.length > 0 ? (orig[0] & 0x0f) << 2 : 0;
  // RFC 792: "Internet Header + 64 bits of Original Data Datagram".
  const quoted = Math.min(orig.length, ihl + 8);
  if (quoted > 0) into.set(orig.subarray(0, quoted), ICMP_HEADER_LENGTH);
  const total = ICMP_HEADER_LENGTH + quoted;
  const csum = internetChecksum(into, 0, total);
  into[2] = csum >>> 8;
  into[3] = csum;
  return total;
}

/** Why {@linkcode parseIcmpError} could not read an ICMP error's quote. */
export enum IcmpQuoteError {
  None = 0,
  /** Not destination unreachable, source quench, time exceeded or parameter problem. */
  NotAnError = 1,
  /** The quote holds less than an IPv4 header and 8 bytes of what followed it (RFC 792). */
  TooShort = 2,
  /** The quoted header's version is not 4. */
  BadVersion = 3,
  /** The quoted header's IHL is below 5 words. */
  BadHeaderLength = 4,
  /** The quoted packet is a fragment other than the first: no transport header in it. */
  NotFirstFragment = 5,
}

/** What an ICMPv4 error says and quotes. Reused: see {@linkcode newIcmpQuote}. */
export interface IcmpQuote {
  /** The error's type (`ICMP_DEST_UNREACHABLE`, `ICMP_SOURCE_QUENCH`, `ICMP_TIME_EXCEEDED`, `ICMP_PARAMETER_PROBLEM`). */
  type: number;
  /** The error's code. */
  code: number;
  /**
   * Fragmentation needed (type 3 code 4): the next-hop MTU (RFC 1191 §4), 0 when the router
   * predates RFC 1191 (the caller then guesses, RFC 1191 §5). 0 for every other error.
   */
  mtu: number;
  /** Parameter problem: the Pointer, the offending octet's offset in the quoted header (RFC 792). */
  pointer: number;
  /** The quoted header's protocol (`IPPROTO_TCP`, ...). */
  protocol: number;
  /** The quoted header's source: this host, if the error is genuine. */
  src: number;
  /** The quoted header's destination: the peer. */
  dst: number;
  /** The quoted header's length in bytes (IHL × 4), where the transport bytes start. */
  headerLength: number;
  /** The quoted transport bytes (at least 8; a view of the message). */
  transport: Uint8Array;
  /** TCP/UDP source port (bytes 0-1 of `transport`). */
  srcPort: number;
  /** TCP/UDP destination port (bytes 2-3 of `transport`). */
  dstPort: number;
  /** TCP sequence number (bytes 4-7 of `transport`), for RFC 5927 §4.1 validation. */
  seq: number;
}

/** Creates an `IcmpQuote` to reuse across calls of {@linkcode parseIcmpError}. */
export function newIcmpQuote(): IcmpQuote {
  return {
    type: 0,
    code: 0,
    mtu: 0,
    pointer: 0,
    protocol: 0,
    src: 0,
    dst: 0,
    headerLength: 0,
    transport: EMPTY,
    srcPort: 0,
    dstPort: 0,
    seq: 0,
  };
}

/**
 * Whether `type` is an ICMPv4 error message that quotes a datagram (RFC 792: destination
 * unreachable, source quench, time exceeded, parameter problem).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isIcmpError } from "./icmp.ts";
 * assert(isIcmpError(3) && !isIcmpError(8));
 * ```
 */
export function isIcmpError(type: number): boolean {
  return type === ICMP_DEST_UNREACHABLE || type === ICMP_SOURCE_QUENCH ||
    type === ICMP_TIME_EXCEEDED || type === ICMP_PARAMETER_PROBLEM;
}

/**
 * Reads an ICMPv4 error message (`msg`, already accepted by {@linkcode parseIcmp}): its
 * type-specific field (next-hop MTU of "fragmentation needed", RFC 1191 §4; the parameter
 * problem Pointer, RFC 792) and the datagram it quotes: "the internet header plus the first 64
 * bits of the original datagram's data" (RFC 792; routers may quote more, RFC 1812 §4.3.2.3).
 * Options in the quoted header are skipped by its IHL; its checksum and total length are not
 * checked (a router may have changed them). Judging whether the error is believable (the
 * addresses and ports name a connection, the sequence number is in its window: RFC 5927 §4.1)
 * is the caller's job. Source quench is parsed too so that the caller can count it and ignore it
 * (RFC 6633 §3: hosts MUST silently discard it).
 * @returns `IcmpQuoteError.None` (0) with `out` filled, else why not.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import {
 *   emitIcmpDestUnreachable, ICMP_UNREACH_FRAG_NEEDED, IcmpQuoteError, newIcmpMessage,
 *   newIcmpQuote, parseIcmp, parseIcmpError,
 * } from "./icmp.ts";
 * import { emitIpv4, IPPROTO_TCP } from "./ipv4.ts";
 * // The invoking datagram: an IPv4 header and the start of a TCP header (ports 40000 -> 80).
 * const original = new Uint8Array(28);
 * emitIpv4(original, { src: 0x0a000002, dst: 0x0a000001, protocol: IPPROTO_TCP, ttl: 64, id: 1, payloadLength: 1480 });
 * original.set([0x9c, 0x40, 0x00, 0x50, 0, 0, 0, 42], 20);
 * const err = new Uint8Array(36);
 * emitIcmpDestUnreachable(err, ICMP_UNREACH_FRAG_NEEDED, original, 1400);
 * const msg = newIcmpMessage();
 * assert(parseIcmp(err, msg) === 0);
 * const q = newIcmpQuote();
 * assert(parseIcmpError(msg, q) === IcmpQuoteError.None);
 * assert(q.mtu === 1400 && q.dst === 0x0a000001 && q.dstPort === 80 && q.seq === 42);
 * ```
 */
export function parseIcmpError(msg: IcmpMessage, out: IcmpQuote): IcmpQuoteError {
  out.transport = EMPTY;
  out.type = msg.type;
  out.code = msg.code;
  out.mtu = 0;
  out.pointer = 0;
  if (!isIcmpError(msg.type)) return IcmpQuoteError.NotAnError;
  if (msg.type === ICMP_DEST_UNREACHABLE && msg.code === ICMP_UNREACH_FRAG_NEEDED) {
    // RFC 1191 §4: the low-order 16 bits of the second word hold the next-hop MTU.
    out.mtu = msg.rest & 0xffff;
  } else if (msg.type === ICMP_PARAMETER_PROBLEM) {
    // RFC 792: the Pointer is the first octet of the second word.
    out.pointer = msg.rest >>> 24;
  }
  const q = msg.data;
  if (q.length < 28) return IcmpQuoteError.TooShort;
  if (q[0] >>> 4 !== 4) return IcmpQuoteError.BadVersion;
  const ihl = (q[0] & 0x0f) << 2;
  if (ihl < 20) return IcmpQuoteError.BadHeaderLength;
  if (q.length < ihl + 8) return IcmpQuoteError.TooShort;
  // RFC 791 §3.2: only the fragment at offset 0 holds the transport header.
  if ((((q[6] << 8) | q[7]) & 0x1fff) !== 0) return IcmpQuoteError.NotFirstFragment;
  out.protocol = q[9];
  out.src = readU32(q, 12);
  out.dst = readU32(q, 16);
  out.headerLength = ihl;
  out.transport = q.subarray(ihl);
  out.srcPort = (q[ihl] << 8) | q[ihl + 1];
  out.dstPort = (q[ihl + 2] << 8) | q[ihl + 3];
  out.seq = readU32(q, ihl + 4);
  return IcmpQuoteError.None;
}

/**
 * Writes a time exceeded message (type 11) with `code` into `into` from index 0, quoting the
 * original datagram's IP header plus the first 8 bytes of its payload (RFC 792), as
 * {@link emitIcmpDestUnreachable} does. Code 1 ({@link ICMP_TIME_REASSEMBLY}) reports that a
 * datagram's fragments did not all arrive within the reassembly lifetime (RFC 1122 §3.3.2).
 * @returns the number of bytes written.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { emitIcmpTimeExceeded, ICMP_TIME_REASSEMBLY } from "./icmp.ts";
 * const quote = new Uint8Array(28);
 * quote[0] = 0x45; // IPv4, 20-byte header, then 8 bytes of payload
 * const buf = new Uint8Array(36);
 * assert(emitIcmpTimeExceeded(buf, ICMP_TIME_REASSEMBLY, quote) === 36);
 * assert(buf[0] === 11 && buf[1] === 1);
 * ```
 */
export function emitIcmpTimeExceeded(
  into: Uint8Array,
  code: number,
  originalIpPacket: Uint8Array,
): number {
  const n = emitIcmpDestUnreachable(into, code, originalIpPacket);
  // Same layout as destination unreachable with an unused second word: retype, re-sum.
  into[0] = ICMP_TIME_EXCEEDED;
  into[2] = 0;
  into[3] = 0;
  const csum = internetChecksum(into, 0, n);
  into[2] = csum >>> 8;
  into[3] = csum;
  return n;
}
