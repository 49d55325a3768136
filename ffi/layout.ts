/**
 * C struct layouts used by the TUN setup code: `struct ifreq`, `struct sockaddr_in`,
 * `struct pollfd`, and for macOS `struct ctl_info`, `struct sockaddr_ctl` and
 * `struct ifaliasreq`. Each struct is a plain `Uint8Array`; these functions write and read
 * its fields at the offsets the C headers give.
 *
 * Every supported target (Linux x86-64/arm64, macOS x86-64/arm64) is little-endian, so
 * "host byte order" fields are written little-endian; IPv4 addresses and ports are in
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
