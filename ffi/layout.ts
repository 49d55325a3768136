/**
 * C struct layouts used by the TUN setup code: `struct ifreq`, `struct sockaddr_in`,
 * `struct sockaddr_in6`, `struct pollfd`; for Linux IPv6 `struct in6_ifreq` and
 * `struct in6_rtmsg`; for macOS `struct ctl_info`, `struct sockaddr_ctl`, `struct ifaliasreq`
 * and `struct in6_aliasreq`. Each struct is a plain `Uint8Array`; these functions write and
 * read its fields at the offsets the C headers give (for the 64-bit targets, the only ones
 * supported).
 *
 * Every supported target (Linux x86-64/arm64, macOS x86-64/arm64) is little-endian, so
 * "host byte order" fields are written little-endian; IP addresses and ports are in
 * network byte order (big-endian) as the C structs require.
 *
 * Buffers that a foreign call may keep using after the JS call returns (the `pollfd` array
 * handed to the nonblocking `poll`) must be allocated with an explicit `ArrayBuffer`:
 * V8 keeps small typed arrays created from a length inside the movable JS heap.
 * @module
 */

/** The operating systems whose struct layouts this module knows. */
export type Os = "linux" | "darwin";

/** `IFNAMSIZ`: size of an interface name field, including the terminating NUL. */
export const IFNAMSIZ = 16;

/** Offset of the union (`ifr_addr`, `ifr_flags`, `ifr_mtu`, ...) inside `struct ifreq`. */
export const IFREQ_UNION_OFFSET = 16;

/**
 * `sizeof(struct ifreq)`: 40 on 64-bit Linux (the union holds a 24-byte `struct ifmap`),
 * 32 on macOS (the union's largest members are 16 bytes).
 */
export const IFREQ_SIZE: Readonly<Record<Os, number>> = { linux: 40, darwin: 32 };

/** `sizeof(struct sockaddr_in)` on both systems. */
export const SOCKADDR_IN_SIZE = 16;

/** `sizeof(struct pollfd)`: `int fd; short events; short revents;`. */
export const POLLFD_SIZE = 8;

/** `sizeof(struct ctl_info)` (macOS): `u_int32_t ctl_id; char ctl_name[96];`. */
export const CTL_INFO_SIZE = 100;

/** `MAX_KCTL_NAME` (macOS): size of `ctl_info.ctl_name`. */
export const MAX_KCTL_NAME = 96;

/** `sizeof(struct sockaddr_ctl)` (macOS). */
export const SOCKADDR_CTL_SIZE = 32;

/**
 * `sizeof(struct ifaliasreq)` (macOS): name[16], then three `struct sockaddr` (16 bytes each):
 * `ifra_addr`, `ifra_broadaddr` (the destination on a point-to-point link), `ifra_mask`.
 */
export const IFALIASREQ_SIZE = 64;

/** Offsets of the `struct ifaliasreq` fields (macOS). */
export const IFALIASREQ_OFFSETS = { name: 0, addr: 16, dstaddr: 32, mask: 48 } as const;

/** `AF_INET` on both systems. */
export const AF_INET = 2;

/** `AF_INET6`: 10 on Linux (linux/socket.h), 30 on macOS (sys/socket.h). */
export const AF_INET6: Readonly<Record<Os, number>> = { linux: 10, darwin: 30 };

/** `sizeof(struct in6_addr)`. */
export const IN6_ADDR_SIZE = 16;

/**
 * `sizeof(struct sockaddr_in6)` on both systems: family (Linux u16; macOS `sin6_len` u8 then
 * `sin6_family` u8) at 0, `sin6_port` at 2, `sin6_flowinfo` at 4, `sin6_addr` at 8,
 * `sin6_scope_id` at 24.
 */
export const SOCKADDR_IN6_SIZE = 28;

/**
 * `sizeof(struct in6_ifreq)` (Linux, linux/ipv6.h): `struct in6_addr ifr6_addr; __u32
 * ifr6_prefixlen; int ifr6_ifindex;`. The argument of `SIOCSIFADDR`/`SIOCDIFADDR` on an
 * `AF_INET6` socket.
 */
export const IN6_IFREQ_SIZE = 24;

/** Offsets of the `struct in6_ifreq` fields (Linux). */
export const IN6_IFREQ_OFFSETS = { addr: 0, prefixlen: 16, ifindex: 20 } as const;

/**
 * `sizeof(struct in6_rtmsg)` on 64-bit Linux (linux/ipv6_route.h): three `in6_addr`, then
 * `__u32 rtmsg_type; __u16 rtmsg_dst_len; __u16 rtmsg_src_len; __u32 rtmsg_metric;` 4 bytes of
 * padding, `unsigned long rtmsg_info;` (8 bytes), `__u32 rtmsg_flags; int rtmsg_ifindex;`. The
 * argument of `SIOCADDRT`/`SIOCDELRT` on an `AF_INET6` socket.
 */
export const IN6_RTMSG_SIZE = 80;

/** Offsets of the `struct in6_rtmsg` fields (64-bit Linux). */
export const IN6_RTMSG_OFFSETS = {
  dst: 0,
  src: 16,
  gateway: 32,
  type: 48,
  dstLen: 52,
  srcLen: 54,
  metric: 56,
  info: 64,
  flags: 72,
  ifindex: 76,
} as const;

/**
 * `sizeof(struct in6_aliasreq)` on 64-bit macOS (netinet6/in6_var.h): `ifra_name[16]`, three
 * `struct sockaddr_in6` (`ifra_addr`, `ifra_dstaddr`, `ifra_prefixmask`), `int ifra_flags`,
 * then `struct in6_addrlifetime` (`time_t ia6t_expire, ia6t_preferred; u_int32_t ia6t_vltime,
 * ia6t_pltime;`), 8-byte aligned. The argument of `SIOCAIFADDR_IN6`.
 */
export const IN6_ALIASREQ_SIZE = 128;

/** Offsets of the `struct in6_aliasreq` fields (64-bit macOS). */
export const IN6_ALIASREQ_OFFSETS = {
  name: 0,
  addr: 16,
  dstaddr: 44,
  prefixmask: 72,
  flags: 100,
  expire: 104,
  preferred: 112,
  vltime: 120,
  pltime: 124,
} as const;

/** `AF_SYSTEM` (macOS): the family of `sockaddr_ctl`. */
export const AF_SYSTEM = 32;

/** `AF_SYS_CONTROL` (macOS): the `ss_sysaddr` of a kernel-control address. */
export const AF_SYS_CONTROL = 2;

/** `POLLIN`: data may be read without blocking. */
export const POLLIN = 0x1;
/** `POLLERR`: an error condition (output only). */
export const POLLERR = 0x8;
/** `POLLHUP`: hung up (output only). */
export const POLLHUP = 0x10;
/** `POLLNVAL`: the fd is not open (output only). */
export const POLLNVAL = 0x20;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Parses a dotted-quad IPv4 address into a 32-bit unsigned number.
 * @throws {TypeError} when `ip` is not four decimal octets 0-255.
 * @example
 * ```ts
 * import { parseIpv4 } from "./layout.ts";
 * console.assert(parseIpv4("10.0.0.1") === 0x0a000001);
 * ```
 */
export function parseIpv4(ip: string): number {
  const parts = ip.split(".");
  if (parts.length !== 4) throw new TypeError(`invalid IPv4 address: ${JSON.stringify(ip)}`);
  let n = 0;
  for (const part of parts) {
    if (!/^[0-9]{1,3}$/.test(part)) {
      throw new TypeError(`invalid IPv4 address: ${JSON.stringify(ip)}`);
    }
    const octet = Number(part);
    if (octet > 255) throw new TypeError(`invalid IPv4 address: ${JSON.stringify(ip)}`);
    n = n * 256 + octet;
  }
  return n;
}

/** Formats a 32-bit unsigned number as a dotted-quad IPv4 address. */
export function formatIpv4(n: number): string {
  return `${(n >>> 24) & 255}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

/** Parses 1 to 4 hex digits of an IPv6 group, or -1. */
function hexGroup(text: string): number {
  return /^[0-9a-fA-F]{1,4}$/.test(text) ? parseInt(text, 16) : -1;
}

/**
 * Parses an IPv6 address in any text form of RFC 4291 §2.2: eight groups of 1-4 hex digits,
 * `::` for one or more zero groups (once), and a dotted-quad IPv4 tail (`::ffff:10.0.0.1`).
 * Zone identifiers (`%eth0`) and prefix lengths are not accepted.
 * @returns the 16 address bytes, network order.
 * @throws {TypeError} when `ip` is not an IPv6 address.
 * @example
 * ```ts
 * import { parseIpv6 } from "./layout.ts";
 * const a = parseIpv6("fd00::1");
 * console.assert(a[0] === 0xfd && a[15] === 1);
 * ```
 */
export function parseIpv6(ip: string): Uint8Array {
  const bad = () => new TypeError(`invalid IPv6 address: ${JSON.stringify(ip)}`);
  const halves = ip.split("::");
  if (halves.length > 2) throw bad();
  const groups: number[][] = [];
  for (let h = 0; h < halves.length; h++) {
    const half = halves[h];
    const words: number[] = [];
    if (half !== "") {
      const parts = half.split(":");
      for (let i = 0; i < parts.length; i++) {
        const part = parts[i];
        const last = i === parts.length - 1 && h === halves.length - 1;
        if (last && part.includes(".")) {
          let v4: number;
          try {
            v4 = parseIpv4(part);
          } catch {
            throw bad();
          }
          words.push(v4 >>> 16, v4 & 0xffff);
          continue;
        }
        const g = hexGroup(part);
        if (g < 0) throw bad();
        words.push(g);
      }
    }
    groups.push(words);
  }
  let words: number[];
  if (groups.length === 1) {
    words = groups[0];
    if (words.length !== 8) throw bad();
  } else {
    const missing = 8 - groups[0].length - groups[1].length;
    if (missing < 1) throw bad();
    words = [...groups[0], ...new Array<number>(missing).fill(0), ...groups[1]];
  }
  const out = new Uint8Array(IN6_ADDR_SIZE);
  for (let i = 0; i < 8; i++) {
    out[2 * i] = words[i] >>> 8;
    out[2 * i + 1] = words[i] & 0xff;
  }
  return out;
}

/**
 * Formats 16 address bytes in the canonical text form of RFC 5952 §4: lower-case hex without
 * leading zeros, the longest run of two or more zero groups (the first of equals) as `::`, and
 * IPv4-mapped addresses as `::ffff:a.b.c.d` (§5).
 * @example
 * ```ts
 * import { formatIpv6, parseIpv6 } from "./layout.ts";
 * console.assert(formatIpv6(parseIpv6("FD00:0:0:0:0:0:0:0001")) === "fd00::1");
 * ```
 */
export function formatIpv6(addr: Uint8Array): string {
  if (addr.byteLength !== IN6_ADDR_SIZE) throw new RangeError("an IPv6 address is 16 bytes");
  const words: number[] = [];
  for (let i = 0; i < 8; i++) words.push((addr[2 * i] << 8) | addr[2 * i + 1]);
  if (words.slice(0, 5).every((w) => w === 0) && words[5] === 0xffff) {
    return `::ffff:${addr[12]}.${addr[13]}.${addr[14]}.${addr[15]}`;
  }
  let bestAt = -1;
  let bestLength = 1; // RFC 5952 §4.2.2: a single zero group is not shortened
  for (let i = 0; i < 8;) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLength) {
      bestAt = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = (ws: number[]) => ws.map((w) => w.toString(16)).join(":");
  if (bestAt < 0) return hex(words);
  return `${hex(words.slice(0, bestAt))}::${hex(words.slice(bestAt + bestLength))}`;
}

/**
 * The IPv6 netmask for a prefix length of 0-128 (`/128` is all ones).
 * @throws {RangeError} for another length.
 */
export function ipv6PrefixMask(prefixLength: number): Uint8Array {
  if (!Number.isInteger(prefixLength) || prefixLength < 0 || prefixLength > 128) {
    throw new RangeError(`IPv6 prefix length must be 0 to 128: ${prefixLength}`);
  }
  const mask = new Uint8Array(IN6_ADDR_SIZE);
  for (let bit = 0; bit < prefixLength; bit++) mask[bit >>> 3] |= 0x80 >>> (bit & 7);
  return mask;
}

function assertIn6Addr(addr: Uint8Array): void {
  if (addr.byteLength !== IN6_ADDR_SIZE) throw new RangeError("an IPv6 address is 16 bytes");
}

/**
 * Checks an interface name: 1 to 15 bytes of printable ASCII without `/`, `:` or spaces
 * (the kernel's `dev_valid_name` rules; `%d` is allowed and lets Linux pick the number).
 * @throws {RangeError} when the name is not acceptable.
 */
export function validateIfname(name: string): void {
  if (name.length === 0 || name.length > IFNAMSIZ - 1) {
    throw new RangeError(
      `interface name must be 1 to ${IFNAMSIZ - 1} characters: ${JSON.stringify(name)}`,
    );
  }
  if (!/^[\x21-\x7e]+$/.test(name) || /[/:]/.test(name) || name === "." || name === "..") {
    throw new RangeError(`invalid interface name: ${JSON.stringify(name)}`);
  }
}

/** Writes a NUL-padded C string of at most `size - 1` bytes at `offset`. */
function writeCString(buf: Uint8Array, offset: number, size: number, s: string): void {
  const bytes = encoder.encode(s);
  if (bytes.length > size - 1) throw new RangeError(`string too long for ${size}-byte field`);
  buf.fill(0, offset, offset + size);
  buf.set(bytes, offset);
}

/** Reads a NUL-terminated C string from a field of `size` bytes at `offset`. */
function readCString(buf: Uint8Array, offset: number, size: number): string {
  let end = offset;
  const limit = offset + size;
  while (end < limit && buf[end] !== 0) end++;
  return decoder.decode(buf.subarray(offset, end));
}

function view(buf: Uint8Array): DataView {
  return new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
}

/**
 * Allocates a zeroed `struct ifreq` for `os`, with `ifr_name` set when `name` is given.
 * @example
 * ```ts
 * import { getIfreqName, newIfreq } from "./layout.ts";
 * const ifr = newIfreq("linux", "tun0");
 * console.assert(ifr.length === 40 && getIfreqName(ifr) === "tun0");
 * ```
 */
export function newIfreq(os: Os, name?: string): Uint8Array {
  const ifr = new Uint8Array(IFREQ_SIZE[os]);
  if (name !== undefined) setIfreqName(ifr, name);
  return ifr;
}

/** Sets `ifr_name` (validated with {@linkcode validateIfname}). */
export function setIfreqName(ifr: Uint8Array, name: string): void {
  validateIfname(name);
  writeCString(ifr, 0, IFNAMSIZ, name);
}

/** Reads `ifr_name`. */
export function getIfreqName(ifr: Uint8Array): string {
  return readCString(ifr, 0, IFNAMSIZ);
}

/** Sets the `short` member of the union (`ifr_flags`), as an unsigned 16-bit value. */
export function setIfreqFlags(ifr: Uint8Array, flags: number): void {
  view(ifr).setUint16(IFREQ_UNION_OFFSET, flags & 0xffff, true);
}

/** Reads the `short` member of the union (`ifr_flags`), as an unsigned 16-bit value. */
export function getIfreqFlags(ifr: Uint8Array): number {
  return view(ifr).getUint16(IFREQ_UNION_OFFSET, true);
}

/** Sets the `int` member of the union (`ifr_mtu`). */
export function setIfreqInt(ifr: Uint8Array, value: number): void {
  view(ifr).setInt32(IFREQ_UNION_OFFSET, value, true);
}

/** Reads the `int` member of the union (`ifr_mtu`). */
export function getIfreqInt(ifr: Uint8Array): number {
  return view(ifr).getInt32(IFREQ_UNION_OFFSET, true);
}

/**
 * Writes a `struct sockaddr_in` of 16 bytes at `offset`.
 * Linux: `sa_family_t sin_family` (u16, host order) at 0. macOS: `u_int8_t sin_len` (16) at 0
 * and `sa_family_t sin_family` (u8) at 1. Both: `sin_port` (u16, network order) at 2,
 * `sin_addr` (network order) at 4, 8 zero bytes at 8.
 */
export function writeSockaddrIn(
  os: Os,
  buf: Uint8Array,
  offset: number,
  addr: number,
  port = 0,
): void {
  const dv = view(buf);
  buf.fill(0, offset, offset + SOCKADDR_IN_SIZE);
  if (os === "linux") {
    dv.setUint16(offset, AF_INET, true);
  } else {
    dv.setUint8(offset, SOCKADDR_IN_SIZE);
    dv.setUint8(offset + 1, AF_INET);
  }
  dv.setUint16(offset + 2, port, false);
  dv.setUint32(offset + 4, addr >>> 0, false);
}

/** The fields of a `struct sockaddr_in` that matter. */
export interface SockaddrIn {
  /** `sin_family`. */
  family: number;
  /** `sin_port`, host order. */
  port: number;
  /** `sin_addr`, as a 32-bit unsigned number. */
  addr: number;
}

/** Reads a `struct sockaddr_in` at `offset` (see {@linkcode writeSockaddrIn}). */
export function readSockaddrIn(os: Os, buf: Uint8Array, offset: number): SockaddrIn {
  const dv = view(buf);
  return {
    family: os === "linux" ? dv.getUint16(offset, true) : dv.getUint8(offset + 1),
    port: dv.getUint16(offset + 2, false),
    addr: dv.getUint32(offset + 4, false),
  };
}

/**
 * Writes a `struct sockaddr_in6` of 28 bytes at `offset`.
 * Linux: `sa_family_t sin6_family` (u16, host order) = 10 at 0. macOS: `u_int8_t sin6_len`
 * (28) at 0 and `sa_family_t sin6_family` (u8) = 30 at 1. Both: `sin6_port` (u16, network
 * order) at 2, `sin6_flowinfo` (0) at 4, `sin6_addr` at 8, `sin6_scope_id` (u32, host order)
 * at 24.
 */
export function writeSockaddrIn6(
  os: Os,
  buf: Uint8Array,
  offset: number,
  addr: Uint8Array,
  port = 0,
  scopeId = 0,
): void {
  assertIn6Addr(addr);
  const dv = view(buf);
  buf.fill(0, offset, offset + SOCKADDR_IN6_SIZE);
  if (os === "linux") {
    dv.setUint16(offset, AF_INET6.linux, true);
  } else {
    dv.setUint8(offset, SOCKADDR_IN6_SIZE);
    dv.setUint8(offset + 1, AF_INET6.darwin);
  }
  dv.setUint16(offset + 2, port, false);
  buf.set(addr, offset + 8);
  dv.setUint32(offset + 24, scopeId >>> 0, true);
}

/** The fields of a `struct sockaddr_in6` that matter. */
export interface SockaddrIn6 {
  /** `sin6_family`. */
  family: number;
  /** `sin6_port`, host order. */
  port: number;
  /** `sin6_addr`: a copy of the 16 address bytes. */
  addr: Uint8Array;
  /** `sin6_scope_id`. */
  scopeId: number;
}

/** Reads a `struct sockaddr_in6` at `offset` (see {@linkcode writeSockaddrIn6}). */
export function readSockaddrIn6(os: Os, buf: Uint8Array, offset: number): SockaddrIn6 {
  const dv = view(buf);
  return {
    family: os === "linux" ? dv.getUint16(offset, true) : dv.getUint8(offset + 1),
    port: dv.getUint16(offset + 2, false),
    addr: buf.slice(offset + 8, offset + 8 + IN6_ADDR_SIZE),
    scopeId: dv.getUint32(offset + 24, true),
  };
}

/**
 * Builds a `struct in6_ifreq` (Linux) for `SIOCSIFADDR`/`SIOCDIFADDR` on an `AF_INET6` socket:
 * the address at 0, the prefix length (u32) at 16, the interface index (`SIOCGIFINDEX`) at 20.
 * @example
 * ```ts
 * import { newIn6Ifreq, parseIpv6 } from "./layout.ts";
 * const req = newIn6Ifreq(parseIpv6("fd00::2"), 128, 7);
 * console.assert(req.length === 24 && req[16] === 128 && req[20] === 7);
 * ```
 */
export function newIn6Ifreq(addr: Uint8Array, prefixLength: number, ifindex: number): Uint8Array {
  assertIn6Addr(addr);
  ipv6PrefixMask(prefixLength); // validates the length
  const req = new Uint8Array(IN6_IFREQ_SIZE);
  const dv = view(req);
  req.set(addr, IN6_IFREQ_OFFSETS.addr);
  dv.setUint32(IN6_IFREQ_OFFSETS.prefixlen, prefixLength, true);
  dv.setInt32(IN6_IFREQ_OFFSETS.ifindex, ifindex, true);
  return req;
}

/** The fields of a `struct in6_rtmsg` (Linux) for {@linkcode newIn6Rtmsg}. */
export interface In6RtmsgFields {
  /** `rtmsg_dst`: the destination prefix. */
  dst: Uint8Array;
  /** `rtmsg_dst_len`: its length in bits, 0-128. */
  dstLen: number;
  /** `rtmsg_gateway`; default `::` (a directly connected destination). */
  gateway?: Uint8Array;
  /** `rtmsg_type`: the route type (`RTN_UNICAST` = 1, ...); default 0 (the kernel's unicast). */
  type?: number;
  /** `rtmsg_metric`; default 0 (the kernel uses 1024, `IP6_RT_PRIO_USER`). */
  metric?: number;
  /** `rtmsg_flags`: `RTF_UP`, `RTF_HOST`, ... */
  flags: number;
  /** `rtmsg_ifindex`: the outgoing interface. */
  ifindex: number;
}

/**
 * Builds a `struct in6_rtmsg` (64-bit Linux) for `SIOCADDRT`/`SIOCDELRT` on an `AF_INET6`
 * socket. No source prefix (`rtmsg_src` `::`/0) and no expiry (`rtmsg_info` 0).
 * @example
 * ```ts
 * import { IN6_RTMSG_OFFSETS, newIn6Rtmsg, parseIpv6 } from "./layout.ts";
 * const rt = newIn6Rtmsg({ dst: parseIpv6("fd00::1"), dstLen: 128, flags: 0x5, ifindex: 7 });
 * console.assert(rt.length === 80 && rt[IN6_RTMSG_OFFSETS.dstLen] === 128);
 * ```
 */
export function newIn6Rtmsg(fields: In6RtmsgFields): Uint8Array {
  assertIn6Addr(fields.dst);
  ipv6PrefixMask(fields.dstLen); // validates the length
  const rt = new Uint8Array(IN6_RTMSG_SIZE);
  const dv = view(rt);
  rt.set(fields.dst, IN6_RTMSG_OFFSETS.dst);
  if (fields.gateway !== undefined) {
    assertIn6Addr(fields.gateway);
    rt.set(fields.gateway, IN6_RTMSG_OFFSETS.gateway);
  }
  dv.setUint32(IN6_RTMSG_OFFSETS.type, fields.type ?? 0, true);
  dv.setUint16(IN6_RTMSG_OFFSETS.dstLen, fields.dstLen, true);
  dv.setUint16(IN6_RTMSG_OFFSETS.srcLen, 0, true);
  dv.setUint32(IN6_RTMSG_OFFSETS.metric, fields.metric ?? 0, true);
  dv.setBigUint64(IN6_RTMSG_OFFSETS.info, 0n, true);
  dv.setUint32(IN6_RTMSG_OFFSETS.flags, fields.flags >>> 0, true);
  dv.setInt32(IN6_RTMSG_OFFSETS.ifindex, fields.ifindex, true);
  return rt;
}

/**
 * Allocates an array of `count` `struct pollfd` outside the movable JS heap (safe to hand to
 * the nonblocking `poll`, which reads it from another thread after the call returns).
 */
export function newPollfds(count: number): Uint8Array {
  return new Uint8Array(new ArrayBuffer(count * POLLFD_SIZE));
}

/** Sets entry `index` of a `pollfd` array: `fd` at 0 (i32), `events` at 4, `revents` = 0 at 6. */
export function setPollfd(pollfds: Uint8Array, index: number, fd: number, events: number): void {
  const dv = view(pollfds);
  const at = index * POLLFD_SIZE;
  dv.setInt32(at, fd, true);
  dv.setInt16(at + 4, events, true);
  dv.setInt16(at + 6, 0, true);
}

/** Reads `revents` of entry `index` of a `pollfd` array. */
export function getPollRevents(pollfds: Uint8Array, index: number): number {
  const at = index * POLLFD_SIZE + 6;
  return pollfds[at] | (pollfds[at + 1] << 8);
}

/** Clears `revents` of entry `index` of a `pollfd` array (no allocation). */
export function clearPollRevents(pollfds: Uint8Array, index: number): void {
  const at = index * POLLFD_SIZE + 6;
  pollfds[at] = 0;
  pollfds[at + 1] = 0;
}

/** Allocates a `struct ctl_info` (macOS) with `ctl_name` set and `ctl_id` 0, for `CTLIOCGINFO`. */
export function newCtlInfo(name: string): Uint8Array {
  const info = new Uint8Array(CTL_INFO_SIZE);
  writeCString(info, 4, MAX_KCTL_NAME, name);
  return info;
}

/** Reads `ctl_id` (u32, host order) from a `struct ctl_info`. */
export function getCtlId(info: Uint8Array): number {
  return view(info).getUint32(0, true);
}

/**
 * Builds a `struct sockaddr_ctl` (macOS): `sc_len` u8 = 32 at 0, `sc_family` u8 = AF_SYSTEM at 1,
 * `ss_sysaddr` u16 = AF_SYS_CONTROL at 2, `sc_id` u32 at 4, `sc_unit` u32 at 8,
 * `sc_reserved[5]` at 12.
 */
export function newSockaddrCtl(ctlId: number, unit: number): Uint8Array {
  const sa = new Uint8Array(SOCKADDR_CTL_SIZE);
  const dv = view(sa);
  dv.setUint8(0, SOCKADDR_CTL_SIZE);
  dv.setUint8(1, AF_SYSTEM);
  dv.setUint16(2, AF_SYS_CONTROL, true);
  dv.setUint32(4, ctlId >>> 0, true);
  dv.setUint32(8, unit >>> 0, true);
  return sa;
}

/**
 * Builds a `struct ifaliasreq` (macOS) for `SIOCAIFADDR` on a point-to-point interface:
 * local address, destination address and netmask, each a `sockaddr_in` with `sin_len` set.
 */
export function newIfaliasreq(
  name: string,
  addr: number,
  dstaddr: number,
  mask: number,
): Uint8Array {
  const req = new Uint8Array(IFALIASREQ_SIZE);
  validateIfname(name);
  writeCString(req, IFALIASREQ_OFFSETS.name, IFNAMSIZ, name);
  writeSockaddrIn("darwin", req, IFALIASREQ_OFFSETS.addr, addr);
  writeSockaddrIn("darwin", req, IFALIASREQ_OFFSETS.dstaddr, dstaddr);
  writeSockaddrIn("darwin", req, IFALIASREQ_OFFSETS.mask, mask);
  return req;
}

/**
 * Builds a `struct in6_aliasreq` (64-bit macOS) for `SIOCAIFADDR_IN6`: the interface's own
 * address, its point-to-point destination (the kernel then needs `prefixLength` 128 and adds
 * the host route itself), the prefix mask, `ifra_flags` (e.g. `IN6_IFF_NODAD`), and the valid
 * and preferred lifetimes in seconds (`0xffffffff`, `ND6_INFINITE_LIFETIME`, for ever; a valid
 * lifetime of 0 makes the kernel add nothing). Each `sockaddr_in6` has `sin6_len` set.
 */
export function newIn6Aliasreq(
  name: string,
  addr: Uint8Array,
  dstaddr: Uint8Array,
  prefixLength: number,
  flags: number,
  validLifetime: number,
  preferredLifetime: number,
): Uint8Array {
  validateIfname(name);
  const req = new Uint8Array(IN6_ALIASREQ_SIZE);
  const dv = view(req);
  const o = IN6_ALIASREQ_OFFSETS;
  writeCString(req, o.name, IFNAMSIZ, name);
  writeSockaddrIn6("darwin", req, o.addr, addr);
  writeSockaddrIn6("darwin", req, o.dstaddr, dstaddr);
  writeSockaddrIn6("darwin", req, o.prefixmask, ipv6PrefixMask(prefixLength));
  dv.setInt32(o.flags, flags, true);
  dv.setBigUint64(o.expire, 0n, true);
  dv.setBigUint64(o.preferred, 0n, true);
  dv.setUint32(o.vltime, validLifetime >>> 0, true);
  dv.setUint32(o.pltime, preferredLifetime >>> 0, true);
  return req;
}
