/**
 * IPv6 addresses (RFC 4291) as the stack holds them: four unsigned 32-bit words, most
 * significant first, in a small object that parsers fill in place.
 *
 * Why words and not a 16-byte `Uint8Array`: equality is four number comparisons, a hash is a
 * few multiplications ({@linkcode ipv6Hash}), reading one from a packet allocates nothing when
 * the target object is reused, and the words map onto the checksum's 32-bit sums. Objects that
 * outlive a packet (a connection's remote address, a map key) are copies
 * ({@linkcode cloneIpv6Address}); {@linkcode Ipv6AddressMap} keys a map by address without
 * building strings.
 *
 * Text: {@linkcode parseIpv6Address} accepts every form of RFC 4291 §2.2 (and no zone index);
 * {@linkcode formatIpv6Address} writes the canonical form of RFC 5952 §4 (lowercase, no leading
 * zeros, the longest run of two or more zero groups as "::", the first of equal runs) with the
 * dotted-quad tail of RFC 5952 §5 for IPv4-mapped and IPv4-compatible addresses, as glibc's
 * `inet_ntop` does. {@linkcode parseHostPort} and {@linkcode formatHostPort} handle the CLI's
 * `[addr]:port` (RFC 3986 §3.2.2, RFC 5952 §6).
 * @module
 */

import { readU32, writeU32 } from "./bytes.ts";
import { formatIpv4Address, parseIpv4Address } from "./ipv4.ts";

/**
 * An IPv6 address as four unsigned 32-bit words, `w0` holding bits 0-31 (the first four bytes
 * on the wire). Parsers fill such objects in place: copy one that must outlive a packet.
 */
export interface Ipv6Address {
  /** Bytes 0-3, unsigned. */
  w0: number;
  /** Bytes 4-7, unsigned. */
  w1: number;
  /** Bytes 8-11, unsigned. */
  w2: number;
  /** Bytes 12-15, unsigned. */
  w3: number;
}

/**
 * Creates an address from its four words (default `::`).
 *
 * @example
 * ```ts
 * import { formatIpv6Address, ipv6Address } from "./ipv6_address.ts";
 * console.log(formatIpv6Address(ipv6Address(0x20010db8, 0, 0, 1))); // 2001:db8::1
 * ```
 */
export function ipv6Address(w0 = 0, w1 = 0, w2 = 0, w3 = 0): Ipv6Address {
  return { w0: w0 >>> 0, w1: w1 >>> 0, w2: w2 >>> 0, w3: w3 >>> 0 };
}

/** The unspecified address `::` (RFC 4291 §2.5.2). Frozen. */
export const IPV6_UNSPECIFIED: Readonly<Ipv6Address> = Object.freeze(ipv6Address());
/** The loopback address `::1` (RFC 4291 §2.5.3). Frozen. */
export const IPV6_LOOPBACK: Readonly<Ipv6Address> = Object.freeze(ipv6Address(0, 0, 0, 1));

/**
 * Reads the 16 bytes at `bytes[offset..offset+16)` into `out` (no allocation) and returns it.
 * The caller checks the bounds.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ipv6Address, readIpv6Address } from "./ipv6_address.ts";
 * const bytes = new Uint8Array(16);
 * bytes[15] = 1;
 * const a = readIpv6Address(bytes, 0, ipv6Address());
 * assert(a.w3 === 1 && a.w0 === 0);
 * ```
 */
export function readIpv6Address(bytes: Uint8Array, offset: number, out: Ipv6Address): Ipv6Address {
  out.w0 = readU32(bytes, offset);
  out.w1 = readU32(bytes, offset + 4);
  out.w2 = readU32(bytes, offset + 8);
  out.w3 = readU32(bytes, offset + 12);
  return out;
}

/**
 * Writes `addr` as 16 bytes at `bytes[offset..offset+16)`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { IPV6_LOOPBACK, writeIpv6Address } from "./ipv6_address.ts";
 * const bytes = new Uint8Array(16);
 * writeIpv6Address(IPV6_LOOPBACK, bytes, 0);
 * assert(bytes[15] === 1);
 * ```
 */
export function writeIpv6Address(
  addr: Readonly<Ipv6Address>,
  bytes: Uint8Array,
  offset: number,
): void {
  writeU32(bytes, offset, addr.w0);
  writeU32(bytes, offset + 4, addr.w1);
  writeU32(bytes, offset + 8, addr.w2);
  writeU32(bytes, offset + 12, addr.w3);
}

/**
 * Copies the words of `from` into `to` and returns `to`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { copyIpv6Address, ipv6Address, IPV6_LOOPBACK, ipv6Equals } from "./ipv6_address.ts";
 * assert(ipv6Equals(copyIpv6Address(IPV6_LOOPBACK, ipv6Address()), IPV6_LOOPBACK));
 * ```
 */
export function copyIpv6Address(from: Readonly<Ipv6Address>, to: Ipv6Address): Ipv6Address {
  to.w0 = from.w0;
  to.w1 = from.w1;
  to.w2 = from.w2;
  to.w3 = from.w3;
  return to;
}

/**
 * A fresh, unfrozen copy of `addr` (to keep past the packet it was read from).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { cloneIpv6Address, IPV6_LOOPBACK } from "./ipv6_address.ts";
 * const a = cloneIpv6Address(IPV6_LOOPBACK);
 * assert(a !== IPV6_LOOPBACK && a.w3 === 1);
 * ```
 */
export function cloneIpv6Address(addr: Readonly<Ipv6Address>): Ipv6Address {
  return { w0: addr.w0, w1: addr.w1, w2: addr.w2, w3: addr.w3 };
}

/**
 * Whether `a` and `b` are the same address.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ipv6Address, IPV6_LOOPBACK, ipv6Equals } from "./ipv6_address.ts";
 * assert(ipv6Equals(ipv6Address(0, 0, 0, 1), IPV6_LOOPBACK));
 * ```
 */
export function ipv6Equals(a: Readonly<Ipv6Address>, b: Readonly<Ipv6Address>): boolean {
  return a.w0 === b.w0 && a.w1 === b.w1 && a.w2 === b.w2 && a.w3 === b.w3;
}

/**
 * Whether the 16 bytes at `bytes[offset..)` hold `addr`, without reading them into an object
 * (e.g. to match the addresses an ICMP error quotes).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { IPV6_LOOPBACK, ipv6EqualsAt } from "./ipv6_address.ts";
 * const bytes = new Uint8Array(16);
 * bytes[15] = 1;
 * assert(ipv6EqualsAt(IPV6_LOOPBACK, bytes, 0));
 * ```
 */
export function ipv6EqualsAt(
  addr: Readonly<Ipv6Address>,
  bytes: Uint8Array,
  offset: number,
): boolean {
  return readU32(bytes, offset) === addr.w0 && readU32(bytes, offset + 4) === addr.w1 &&
    readU32(bytes, offset + 8) === addr.w2 && readU32(bytes, offset + 12) === addr.w3;
}

/**
 * A 32-bit hash of `addr` (murmur3's finalizer over the words): equal addresses hash equally;
 * addresses that differ in any bit almost never do. For hash tables, not for security (a peer
 * choosing addresses can aim for collisions; {@linkcode Ipv6AddressMap} degrades to a short
 * list scan, not worse).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ipv6Address, ipv6Hash } from "./ipv6_address.ts";
 * assert(ipv6Hash(ipv6Address(1, 2, 3, 4)) === ipv6Hash(ipv6Address(1, 2, 3, 4)));
 * ```
 */
export function ipv6Hash(addr: Readonly<Ipv6Address>): number {
  let h = 0x9e3779b9;
  h = Math.imul(h ^ addr.w0, 0xcc9e2d51);
  h = Math.imul((h << 13) | (h >>> 19), 5) + 0xe6546b64;
  h = Math.imul(h ^ addr.w1, 0xcc9e2d51);
  h = Math.imul((h << 13) | (h >>> 19), 5) + 0xe6546b64;
  h = Math.imul(h ^ addr.w2, 0xcc9e2d51);
  h = Math.imul((h << 13) | (h >>> 19), 5) + 0xe6546b64;
  h = Math.imul(h ^ addr.w3, 0xcc9e2d51);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Kinds of IPv6 address (RFC 4291 §2.4 and the special-purpose registry, RFC 6890). */
export enum Ipv6AddressKind {
  /** `::` (RFC 4291 §2.5.2): never a destination, never a peer. */
  Unspecified = 0,
  /** `::1` (RFC 4291 §2.5.3): never sent on a link. */
  Loopback = 1,
  /** `ff00::/8` (RFC 4291 §2.7). */
  Multicast = 2,
  /** `fe80::/10` (RFC 4291 §2.5.6). */
  LinkLocal = 3,
  /** `::ffff:0:0/96` (RFC 4291 §2.5.5.2): an IPv4 address, not meant for IPv6 wires. */
  Ipv4Mapped = 4,
  /** `fc00::/7` unique local (RFC 4193). */
  UniqueLocal = 5,
  /** Anything else: global unicast (including deprecated site-local `fec0::/10`, RFC 3879). */
  Global = 6,
}

/**
 * Classifies `addr`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { classifyIpv6Address, Ipv6AddressKind, parseIpv6Address } from "./ipv6_address.ts";
 * assert(classifyIpv6Address(parseIpv6Address("fe80::1")!) === Ipv6AddressKind.LinkLocal);
 * assert(classifyIpv6Address(parseIpv6Address("2001:db8::1")!) === Ipv6AddressKind.Global);
 * ```
 */
export function classifyIpv6Address(addr: Readonly<Ipv6Address>): Ipv6AddressKind {
  const w0 = addr.w0;
  if (w0 >>> 24 === 0xff) return Ipv6AddressKind.Multicast;
  if (w0 >>> 22 === 0x3fa) return Ipv6AddressKind.LinkLocal; // 1111 1110 10
  if (w0 >>> 25 === 0x7e) return Ipv6AddressKind.UniqueLocal; // 1111 110
  if (w0 === 0 && addr.w1 === 0) {
    if (addr.w2 === 0) {
      if (addr.w3 === 0) return Ipv6AddressKind.Unspecified;
      if (addr.w3 === 1) return Ipv6AddressKind.Loopback;
    } else if (addr.w2 === 0xffff) {
      return Ipv6AddressKind.Ipv4Mapped;
    }
  }
  return Ipv6AddressKind.Global;
}

/**
 * Whether `addr` is multicast (`ff00::/8`, RFC 4291 §2.7).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isIpv6Multicast, parseIpv6Address } from "./ipv6_address.ts";
 * assert(isIpv6Multicast(parseIpv6Address("ff02::1")!));
 * ```
 */
export function isIpv6Multicast(addr: Readonly<Ipv6Address>): boolean {
  return addr.w0 >>> 24 === 0xff;
}

/**
 * Whether `addr` can be a TCP peer over an IPv6 link: not unspecified, not multicast (RFC 9293
 * MUST-46, MUST-57, MUST-63: no connection to or from a broadcast or multicast address), not
 * loopback (RFC 4291 §2.5.3: never sent outside a node nor accepted from a link) and not
 * IPv4-mapped (RFC 4291 §2.5.5.2: an IPv4 peer, which talks IPv4). Link-local, unique local
 * and global unicast addresses qualify.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isIpv6UnicastAddress, parseIpv6Address } from "./ipv6_address.ts";
 * assert(isIpv6UnicastAddress(parseIpv6Address("fd00::2")!));
 * assert(!isIpv6UnicastAddress(parseIpv6Address("ff02::1")!));
 * assert(!isIpv6UnicastAddress(parseIpv6Address("::")!));
 * ```
 */
export function isIpv6UnicastAddress(addr: Readonly<Ipv6Address>): boolean {
  const kind = classifyIpv6Address(addr);
  return kind === Ipv6AddressKind.LinkLocal || kind === Ipv6AddressKind.UniqueLocal ||
    kind === Ipv6AddressKind.Global;
}

/**
 * The IPv4-mapped IPv6 address `::ffff:a.b.c.d` of an IPv4 address (RFC 4291 §2.5.5.2),
 * written into `out` (or a new object).
 *
 * @example
 * ```ts
 * import { formatIpv6Address, ipv4MappedAddress } from "./ipv6_address.ts";
 * console.log(formatIpv6Address(ipv4MappedAddress(0xc0000201))); // ::ffff:192.0.2.1
 * ```
 */
export function ipv4MappedAddress(ipv4: number, out: Ipv6Address = ipv6Address()): Ipv6Address {
  out.w0 = 0;
  out.w1 = 0;
  out.w2 = 0xffff;
  out.w3 = ipv4 >>> 0;
  return out;
}

/**
 * The IPv4 address inside an IPv4-mapped address, or `null` for any other address.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ipv4FromMapped, parseIpv6Address } from "./ipv6_address.ts";
 * assert(ipv4FromMapped(parseIpv6Address("::ffff:10.0.0.1")!) === 0x0a000001);
 * assert(ipv4FromMapped(parseIpv6Address("::1")!) === null);
 * ```
 */
export function ipv4FromMapped(addr: Readonly<Ipv6Address>): number | null {
  return addr.w0 === 0 && addr.w1 === 0 && addr.w2 === 0xffff ? addr.w3 : null;
}

/** The value of a hex digit's char code, or -1. */
function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const l = c | 0x20; // ASCII lowercase
  if (l >= 0x61 && l <= 0x66) return l - 0x61 + 10;
  return -1;
}

/** Longest text form: "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255". */
const MAX_TEXT_LENGTH = 45;

/**
 * Parses the 16-bit groups of `text[start..end)` ("h16(:h16)*", possibly ending in a dotted
 * quad when `allowIpv4`) into `groups` from index `at`.
 * @returns the number of groups written, or -1 when malformed.
 */
function parseGroups(
  text: string,
  start: number,
  end: number,
  groups: number[],
  at: number,
  allowIpv4: boolean,
): number {
  if (start === end) return 0;
  let n = 0;
  let i = start;
  while (true) {
    // One group: 1-4 hex digits, up to the next ':' or the end.
    let j = i;
    let value = 0;
    while (j < end && text.charCodeAt(j) !== 0x3a) {
      const c = text.charCodeAt(j);
      if (c === 0x2e) {
        // RFC 4291 §2.2 (3): the last 32 bits may be a dotted quad, only at the very end.
        if (!allowIpv4) return -1;
        const v4 = parseIpv4Address(text.slice(i, end));
        if (v4 === null || at + n + 2 > 8) return -1;
        groups[at + n] = v4 >>> 16;
        groups[at + n + 1] = v4 & 0xffff;
        return n + 2;
      }
      const d = hexValue(c);
      if (d < 0 || j - i === 4) return -1; // RFC 4291 §2.2 (1): one to four hex digits
      value = value * 16 + d;
      j++;
    }
    if (j === i || at + n >= 8) return -1; // an empty group (":" at the start or end, or "::")
    groups[at + n++] = value;
    if (j === end) return n;
    i = j + 1;
    if (i === end) return -1; // a trailing single ':'
  }
}

/**
 * Parses an IPv6 address in any text form of RFC 4291 §2.2: eight groups of one to four hex
 * digits (either case), "::" once for one or more zero groups, and an optional dotted-quad tail
 * for the last 32 bits (strict: four decimal octets, no leading zeros). No surrounding
 * whitespace, brackets or zone index ("%eth0", RFC 4007 §11): tcptun has no scoped zones.
 * @param out filled in place when given (nothing written on failure).
 * @returns the address, or `null` when `text` is not one.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseIpv6Address } from "./ipv6_address.ts";
 * assert.deepEqual(parseIpv6Address("2001:DB8::1"), { w0: 0x20010db8, w1: 0, w2: 0, w3: 1 });
 * assert.equal(parseIpv6Address("::ffff:192.0.2.1")?.w3, 0xc0000201);
 * assert.equal(parseIpv6Address("1::2::3"), null);
 * ```
 */
export function parseIpv6Address(text: string, out?: Ipv6Address): Ipv6Address | null {
  const len = text.length;
  if (len < 2 || len > MAX_TEXT_LENGTH) return null;
  const groups = [0, 0, 0, 0, 0, 0, 0, 0];
  const gap = text.indexOf("::");
  if (gap >= 0) {
    // RFC 4291 §2.2 (2): "::" can appear only once.
    if (text.indexOf("::", gap + 1) >= 0) return null;
    const head = parseGroups(text, 0, gap, groups, 0, false);
    if (head < 0) return null;
    const tailGroups = [0, 0, 0, 0, 0, 0, 0, 0];
    const tail = parseGroups(text, gap + 2, len, tailGroups, 0, true);
    // "::" stands for at least one group of zeros.
    if (tail < 0 || head + tail > 7) return null;
    for (let k = 0; k < tail; k++) groups[8 - tail + k] = tailGroups[k];
  } else if (parseGroups(text, 0, len, groups, 0, true) !== 8) {
    return null;
  }
  const addr = out ?? ipv6Address();
  addr.w0 = ((groups[0] << 16) | groups[1]) >>> 0;
  addr.w1 = ((groups[2] << 16) | groups[3]) >>> 0;
  addr.w2 = ((groups[4] << 16) | groups[5]) >>> 0;
  addr.w3 = ((groups[6] << 16) | groups[7]) >>> 0;
  return addr;
}

/**
 * Formats `addr` canonically (RFC 5952 §4): lowercase hex without leading zeros; the longest
 * run of two or more zero groups replaced by "::" (the first one when runs tie; a lone zero
 * group stays "0"). IPv4-mapped addresses end in a dotted quad (`::ffff:192.0.2.1`, RFC 5952
 * §5), and so do IPv4-compatible ones (`::192.0.2.1`, RFC 4291 §2.5.5.1, deprecated) other
 * than `::` and `::1`-style addresses whose seventh group is zero, as glibc's `inet_ntop` does.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatIpv6Address, parseIpv6Address } from "./ipv6_address.ts";
 * assert.equal(formatIpv6Address(parseIpv6Address("2001:0db8:0:0:1:0:0:1")!), "2001:db8::1:0:0:1");
 * assert.equal(formatIpv6Address(parseIpv6Address("2001:db8:0:1:1:1:1:1")!), "2001:db8:0:1:1:1:1:1");
 * ```
 */
export function formatIpv6Address(addr: Readonly<Ipv6Address>): string {
  const w = [
    addr.w0 >>> 16,
    addr.w0 & 0xffff,
    addr.w1 >>> 16,
    addr.w1 & 0xffff,
    addr.w2 >>> 16,
    addr.w2 & 0xffff,
    addr.w3 >>> 16,
    addr.w3 & 0xffff,
  ];
  // RFC 5952 §4.2.3: the longest run of zero groups; the first among equals.
  let bestStart = -1;
  let bestLength = 0;
  for (let i = 0; i < 8;) {
    if (w[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && w[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  // RFC 5952 §4.2.2: "::" never shortens a single zero group.
  if (bestLength < 2) bestStart = -1;
  // RFC 5952 §5: IPv4-mapped (::ffff:a.b.c.d) and IPv4-compatible (::a.b.c.d) tails.
  if (bestStart === 0 && (bestLength === 6 || (bestLength === 5 && w[5] === 0xffff))) {
    return (bestLength === 5 ? "::ffff:" : "::") + formatIpv4Address(addr.w3);
  }
  let s = "";
  for (let i = 0; i < 8; i++) {
    if (i === bestStart) {
      s += "::";
      i += bestLength - 1;
      continue;
    }
    if (s.length > 0 && !s.endsWith(":")) s += ":";
    s += w[i].toString(16);
  }
  return s;
}

/** Why {@linkcode parseHostPort} refused its input. */
export enum HostPortError {
  None = 0,
  /** The text is empty. */
  Empty = 1,
  /** The port is not a decimal number 1..65535. */
  BadPort = 2,
  /** A port is required but the text names only a host. */
  MissingPort = 3,
  /** The host looks like IPv4 (no ':' in it) but is not a dotted quad. */
  BadIpv4 = 4,
  /** The host is bracketed or has colons, but is not an IPv6 address. */
  BadIpv6 = 5,
  /** An IPv6 address with a port outside brackets ("::1:80" is ambiguous; write "[::1]:80"). */
  UnbracketedIpv6 = 6,
  /** A "[" without its "]", or text between "]" and ":". */
  BadBrackets = 7,
}

/** The result of {@linkcode parseHostPort}. Reusable: see {@linkcode newHostPort}. */
export interface HostPort {
  /** 0: no host given (a port only), 4: `ipv4` is set, 6: `ipv6` is set. */
  family: 0 | 4 | 6;
  /** The IPv4 address when `family` is 4. */
  ipv4: number;
  /** The IPv6 address when `family` is 6 (filled in place). */
  ipv6: Ipv6Address;
  /** The port, 1..65535, or -1 when none was given (only with `portRequired` false). */
  port: number;
}

/** Creates an empty {@linkcode HostPort}. */
export function newHostPort(): HostPort {
  return { family: 0, ipv4: 0, ipv6: ipv6Address(), port: -1 };
}

function parsePortText(text: string): number {
  if (text.length === 0 || text.length > 5) return -1;
  let v = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return -1;
    v = v * 10 + (c - 0x30);
  }
  return v >= 1 && v <= 65535 ? v : -1;
}

/**
 * Parses a CLI target: `PORT`, `IPV4:PORT`, `[IPV6]:PORT` (RFC 3986 §3.2.2 IP-literal, RFC
 * 5952 §6), and, when `portRequired` is false, also `IPV4`, `IPV6` and `[IPV6]` alone. An IPv6
 * address followed by a port must be bracketed. Addresses are not judged here (see
 * {@linkcode isIpv6UnicastAddress}).
 * @returns `HostPortError.None` (0) with `out` filled, or the reason.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatIpv6Address, HostPortError, newHostPort, parseHostPort } from "./ipv6_address.ts";
 * const hp = newHostPort();
 * assert.equal(parseHostPort("[fd00::1]:8080", hp), HostPortError.None);
 * assert.deepEqual([hp.family, formatIpv6Address(hp.ipv6), hp.port], [6, "fd00::1", 8080]);
 * assert.equal(parseHostPort("10.0.0.1:80", hp), HostPortError.None);
 * assert.deepEqual([hp.family, hp.ipv4, hp.port], [4, 0x0a000001, 80]);
 * assert.equal(parseHostPort("fd00::1:80", hp), HostPortError.UnbracketedIpv6);
 * ```
 */
export function parseHostPort(text: string, out: HostPort, portRequired = true): HostPortError {
  out.family = 0;
  out.port = -1;
  if (text.length === 0) return HostPortError.Empty;
  let host: string;
  let portText: string | null;
  if (text.charCodeAt(0) === 0x5b) {
    // "[" IPv6 "]" [":" port]
    const close = text.indexOf("]");
    if (close < 0) return HostPortError.BadBrackets;
    host = text.slice(1, close);
    const rest = text.slice(close + 1);
    if (rest === "") portText = null;
    else if (rest.charCodeAt(0) === 0x3a) portText = rest.slice(1);
    else return HostPortError.BadBrackets;
    if (parseIpv6Address(host, out.ipv6) === null) return HostPortError.BadIpv6;
    out.family = 6;
  } else {
    if (text.indexOf("]") >= 0) return HostPortError.BadBrackets;
    const first = text.indexOf(":");
    const last = text.lastIndexOf(":");
    if (first < 0) {
      // A port alone, or an IPv4 address alone.
      if (text.indexOf(".") < 0) {
        host = "";
        portText = text;
      } else {
        host = text;
        portText = null;
      }
    } else if (first === last) {
      host = text.slice(0, first);
      portText = text.slice(first + 1);
      if (host === "") return HostPortError.BadIpv4; // ":80" names no host
    } else {
      // Two or more colons: an unbracketed IPv6 address, with no room for a port.
      if (parseIpv6Address(text, out.ipv6) === null) return HostPortError.BadIpv6;
      if (portRequired) return HostPortError.UnbracketedIpv6;
      out.family = 6;
      return HostPortError.None;
    }
    if (host !== "") {
      const v4 = parseIpv4Address(host);
      if (v4 === null) return HostPortError.BadIpv4;
      out.ipv4 = v4;
      out.family = 4;
    }
  }
  if (portText === null) {
    if (portRequired) {
      out.family = 0;
      return HostPortError.MissingPort;
    }
    return HostPortError.None;
  }
  const port = parsePortText(portText);
  if (port < 0) {
    out.family = 0;
    return HostPortError.BadPort;
  }
  out.port = port;
  return HostPortError.None;
}

/**
 * Formats an endpoint: `a.b.c.d:port` for an IPv4 address (a number), `[addr]:port` for an
 * IPv6 one (RFC 5952 §6).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatHostPort, IPV6_LOOPBACK } from "./ipv6_address.ts";
 * assert.equal(formatHostPort(IPV6_LOOPBACK, 80), "[::1]:80");
 * assert.equal(formatHostPort(0x0a000001, 80), "10.0.0.1:80");
 * ```
 */
export function formatHostPort(address: number | Readonly<Ipv6Address>, port: number): string {
  return typeof address === "number"
    ? `${formatIpv4Address(address)}:${port}`
    : `[${formatIpv6Address(address)}]:${port}`;
}

/**
 * A map keyed by IPv6 address: buckets by {@linkcode ipv6Hash}, so lookups with an address
 * read from a packet allocate nothing; `set` stores a copy of the key. (The stack's
 * `TupleMap` keys IPv4 peers by number; this is the IPv6 counterpart of its outer map.)
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Ipv6AddressMap, parseIpv6Address } from "./ipv6_address.ts";
 * const m = new Ipv6AddressMap<string>();
 * m.set(parseIpv6Address("fd00::2")!, "peer");
 * assert(m.get(parseIpv6Address("fd00::2")!) === "peer" && m.size === 1);
 * ```
 */
export class Ipv6AddressMap<V> {
  readonly #buckets = new Map<number, { key: Ipv6Address; value: V }[]>();
  #size = 0;

  /** Number of entries. */
  get size(): number {
    return this.#size;
  }

  /** The value stored for `key`, or undefined. */
  get(key: Readonly<Ipv6Address>): V | undefined {
    const bucket = this.#buckets.get(ipv6Hash(key));
    if (bucket === undefined) return undefined;
    for (let i = 0; i < bucket.length; i++) {
      if (ipv6Equals(bucket[i].key, key)) return bucket[i].value;
    }
    return undefined;
  }

  /** Whether `key` has an entry. */
  has(key: Readonly<Ipv6Address>): boolean {
    const bucket = this.#buckets.get(ipv6Hash(key));
    if (bucket === undefined) return false;
    for (let i = 0; i < bucket.length; i++) if (ipv6Equals(bucket[i].key, key)) return true;
    return false;
  }

  /** Stores `value` for (a copy of) `key`. */
  set(key: Readonly<Ipv6Address>, value: V): void {
    const h = ipv6Hash(key);
    let bucket = this.#buckets.get(h);
    if (bucket === undefined) {
      bucket = [];
      this.#buckets.set(h, bucket);
    }
    for (let i = 0; i < bucket.length; i++) {
      if (ipv6Equals(bucket[i].key, key)) {
        bucket[i].value = value;
        return;
      }
    }
    bucket.push({ key: cloneIpv6Address(key), value });
    this.#size++;
  }

  /** Removes the entry for `key`; whether there was one. */
  delete(key: Readonly<Ipv6Address>): boolean {
    const h = ipv6Hash(key);
    const bucket = this.#buckets.get(h);
    if (bucket === undefined) return false;
    for (let i = 0; i < bucket.length; i++) {
      if (ipv6Equals(bucket[i].key, key)) {
        bucket[i] = bucket[bucket.length - 1];
        bucket.pop();
        if (bucket.length === 0) this.#buckets.delete(h);
        this.#size--;
        return true;
      }
    }
    return false;
  }

  /** Every value. */
  *values(): IterableIterator<V> {
    for (const bucket of this.#buckets.values()) for (const e of bucket) yield e.value;
  }

  /** Every key (copies owned by the map: do not modify) with its value. */
  *entries(): IterableIterator<[Readonly<Ipv6Address>, V]> {
    for (const bucket of this.#buckets.values()) for (const e of bucket) yield [e.key, e.value];
  }
}
