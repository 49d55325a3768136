/**
 * ICMP codec (RFC 792): parse a received message, answer an echo request, and build a
 * destination-unreachable message quoting the packet that caused it.
 *
 * All functions work on the ICMP part only (the IP payload); the caller writes the IP
 * header with `emitIpv4`.
 * @module
 */

import { internetChecksum } from "./checksum.ts";

/** ICMP type: echo reply (RFC 792). */
export const ICMP_ECHO_REPLY = 0;
/** ICMP type: destination unreachable (RFC 792). */
export const ICMP_DEST_UNREACHABLE = 3;
/** ICMP type: echo request (RFC 792). */
export const ICMP_ECHO_REQUEST = 8;

/** Destination unreachable code: protocol unreachable (RFC 792). */
export const ICMP_UNREACH_PROTOCOL = 2;
/** Destination unreachable code: port unreachable (RFC 792). */
export const ICMP_UNREACH_PORT = 3;
/** Destination unreachable code: fragmentation needed and DF set (RFC 792, RFC 1191). */
export const ICMP_UNREACH_FRAG_NEEDED = 4;

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
  out.rest = ((b[4] << 24) | (b[5] << 16) | (b[6] << 8) | b[7]) >>> 0;
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

/** ICMP type: time exceeded (RFC 792). */
export const ICMP_TIME_EXCEEDED = 11;
/** Time exceeded code: fragment reassembly time exceeded (RFC 792). */
export const ICMP_TIME_EXCEEDED_REASSEMBLY = 1;

/**
 * Writes a time exceeded message (type 11) with `code` into `into` from index 0, quoting the
 * original datagram's IP header plus the first 8 bytes of its payload (RFC 792), as
 * {@link emitIcmpDestUnreachable} does. Code 1 reports that a datagram's fragments did not
 * all arrive within the reassembly lifetime (RFC 1122 §3.3.2).
 * @returns the number of bytes written.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { emitIcmpTimeExceeded, ICMP_TIME_EXCEEDED_REASSEMBLY } from "./icmp.ts";
 * const quote = new Uint8Array(28);
 * quote[0] = 0x45; // IPv4, 20-byte header, then 8 bytes of payload
 * const buf = new Uint8Array(36);
 * assert(emitIcmpTimeExceeded(buf, ICMP_TIME_EXCEEDED_REASSEMBLY, quote) === 36);
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
