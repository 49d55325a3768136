/**
 * Linux TUN setup: open `/dev/net/tun`, attach an `IFF_TUN | IFF_NO_PI` interface with
 * `TUNSETIFF`, and configure it with ioctls on an `AF_INET` datagram socket (no `ip` command):
 * local address, point-to-point destination, /32 netmask, MTU, and the interface up.
 *
 * Offloads (`offload: true`): the device is attached with `IFF_VNET_HDR`, so every packet crossing
 * the fd carries a 10-byte `struct virtio_net_hdr` in front (`src/wire/virtio.ts`), its size
 * is pinned with `TUNSETVNETHDRSZ`, and `TUNSETOFFLOAD` lets the kernel hand over packets with
 * partial checksums (`TUN_F_CSUM`) and TCP super-segments (`TUN_F_TSO4`, `TUN_F_TSO6`); see
 * {@linkcode negotiateVnet} for what happens when the kernel refuses.
 *
 * Addressing: the stack owns `tunIp`. The interface's own, kernel-owned address is its
 * companion ({@linkcode companionAddress}), and its point-to-point peer is `tunIp`, so the
 * kernel routes packets for `tunIp` into the device and the stack answers from `tunIp`.
 *
 * IPv6 (RFC 8200) rides the same device: with `IFF_NO_PI` each packet is a bare IP packet whose
 * version nibble tells the families apart, and the vnet header's GSO TCPV6 covers IPv6
 * super-segments. The stack owns `tunIp6` (default {@linkcode DEFAULT_TUN_IP6}, a unique local
 * address); the interface gets `localIp6` (default its companion, `...::2`) with prefix length
 * 128 by
 * `SIOCSIFADDR` on an `AF_INET6` socket (`struct in6_ifreq`), and a host route to `tunIp6`
 * through the device by `SIOCADDRT` (`struct in6_rtmsg`), since `SIOCSIFDSTADDR` has no IPv6
 * form for a TUN. See {@linkcode prepareLinuxIpv6} for the per-interface sysctls written first
 * (`disable_ipv6`, `accept_dad`, `router_solicitations`).
 * @module
 */

import {
  closeQuietly,
  E,
  ioctl,
  ioctlValue,
  openFd,
  readFd,
  socket,
  SyscallError,
  writeFd,
} from "./libc.ts";
import {
  AF_INET,
  AF_INET6,
  formatIpv4,
  formatIpv6,
  getIfreqFlags,
  getIfreqInt,
  getIfreqName,
  IFREQ_UNION_OFFSET,
  newIfreq,
  newIn6Ifreq,
  newIn6Rtmsg,
  parseIpv4,
  parseIpv6,
  setIfreqFlags,
  setIfreqInt,
  validateIfname,
  writeSockaddrIn,
} from "./layout.ts";

/** `_IOC_WRITE`: userspace writes the argument (asm-generic/ioctl.h). */
export const IOC_WRITE = 1;
/** `_IOC_READ`: userspace reads the argument. */
export const IOC_READ = 2;

/**
 * `_IOC(dir, type, nr, size)` of asm-generic/ioctl.h: `dir << 30 | size << 16 | type << 8 | nr`.
 * @example
 * ```ts
 * import { IOC_WRITE, linuxIoc } from "./linux.ts";
 * console.assert(linuxIoc(IOC_WRITE, "T", 202, 4) === 0x400454can);
 * ```
 */
export function linuxIoc(dir: number, type: string, nr: number, size: number): bigint {
  return (BigInt(dir) << 30n) | (BigInt(size) << 16n) | (BigInt(type.charCodeAt(0)) << 8n) |
    BigInt(nr);
}

/** `TUNSETIFF = _IOW('T', 202, int)` (linux/if_tun.h). */
export const TUNSETIFF: bigint = linuxIoc(IOC_WRITE, "T", 202, 4);
/** `TUNSETOFFLOAD = _IOW('T', 208, unsigned int)`: the `TUN_F_*` offloads, passed by value. */
export const TUNSETOFFLOAD: bigint = linuxIoc(IOC_WRITE, "T", 208, 4);
/** `TUNGETVNETHDRSZ = _IOR('T', 215, int)`: the vnet header size, through an `int *`. */
export const TUNGETVNETHDRSZ: bigint = linuxIoc(IOC_READ, "T", 215, 4);
/** `TUNSETVNETHDRSZ = _IOW('T', 216, int)`: the vnet header size, through an `int *`. */
export const TUNSETVNETHDRSZ: bigint = linuxIoc(IOC_WRITE, "T", 216, 4);
/** `SIOCGIFFLAGS` (linux/sockios.h): get interface flags. */
export const SIOCGIFFLAGS = 0x8913n;
/** `SIOCSIFFLAGS`: set interface flags. */
export const SIOCSIFFLAGS = 0x8914n;
/** `SIOCSIFADDR`: set the interface's (local) address. */
export const SIOCSIFADDR = 0x8916n;
/** `SIOCSIFDSTADDR`: set the point-to-point destination address. */
export const SIOCSIFDSTADDR = 0x8918n;
/** `SIOCSIFNETMASK`: set the netmask. */
export const SIOCSIFNETMASK = 0x891cn;
/** `SIOCSIFMTU`: set the MTU. */
export const SIOCSIFMTU = 0x8922n;
/** `SIOCGIFINDEX`: get the interface index (`ifr_ifindex`, the `int` of the union). */
export const SIOCGIFINDEX = 0x8933n;
/** `SIOCDIFADDR`: delete an interface address (IPv6: `struct in6_ifreq`). */
export const SIOCDIFADDR = 0x8936n;
/** `SIOCADDRT`: add a route (IPv6: `struct in6_rtmsg` on an `AF_INET6` socket). */
export const SIOCADDRT = 0x890bn;

/** `RTF_UP` (linux/route.h): the route is usable. */
export const RTF_UP = 0x0001;
/** `RTF_HOST`: a host route (prefix length 128). */
export const RTF_HOST = 0x0004;
/** `RTN_UNICAST` (linux/rtnetlink.h): a plain unicast route, the `rtmsg_type` used here. */
export const RTN_UNICAST = 1;
/** Prefix length of the IPv6 address and route configured on the interface. */
export const IPV6_HOST_PREFIX = 128;
/** The smallest link MTU IPv6 allows (RFC 8200 §5); Linux keeps no IPv6 below it. */
export const IPV6_MIN_MTU = 1280;
/**
 * The IPv6 address the stack owns unless told otherwise: a unique local address (RFC 4193) in
 * `fdac:1194:20dc::/48`, whose Global ID was drawn at random as RFC 4193 §3.2 asks, so that it
 * does not collide with the `fd00::/64` networks that VMs and containers commonly use (a host
 * route to `fd00::1` could take over such a host's IPv6 gateway).
 */
export const DEFAULT_TUN_IP6 = "fdac:1194:20dc::1";
/** Where Linux keeps the per-interface IPv6 settings (`net.ipv6.conf.<ifname>.<key>`). */
export const IPV6_CONF_DIR = "/proc/sys/net/ipv6/conf";
/** The namespace's IPv6 addresses, one a line: address, ifindex, prefix, scope, flags, name. */
export const PROC_IF_INET6 = "/proc/net/if_inet6";
/** The namespace's IPv6 routes, one a line: dst, dst_len, src, src_len, next hop, ..., name. */
export const PROC_IPV6_ROUTE = "/proc/net/ipv6_route";

/** `IFF_TUN` (linux/if_tun.h): layer-3 device, IP packets. */
export const IFF_TUN = 0x0001;
/** `IFF_NO_PI`: no 4-byte packet-information header before each packet. */
export const IFF_NO_PI = 0x1000;
/** `IFF_VNET_HDR`: a `struct virtio_net_hdr` before each packet, both directions. */
export const IFF_VNET_HDR = 0x4000;

/** `TUN_F_CSUM`: the kernel may send packets whose checksum is partial (NEEDS_CSUM). */
export const TUN_F_CSUM = 0x01;
/** `TUN_F_TSO4`: the kernel may send IPv4 TCP super-segments (needs `TUN_F_CSUM`). */
export const TUN_F_TSO4 = 0x02;
/** `TUN_F_TSO6`: the kernel may send IPv6 TCP super-segments (needs `TUN_F_CSUM`). */
export const TUN_F_TSO6 = 0x04;
/** The offloads {@linkcode openLinuxTun} asks for. */
export const TUN_OFFLOADS_WANTED = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6;
/** `sizeof(struct virtio_net_hdr)`: the vnet header size tcptun sets. */
export const VNET_HDR_LEN = 10;

/** `IFF_UP` (linux/if.h). */
export const IFF_UP = 0x1;
/** `IFF_POINTOPOINT`. */
export const IFF_POINTOPOINT = 0x10;
/** `IFF_RUNNING` (set by the kernel from the carrier; harmless to request). */
export const IFF_RUNNING = 0x40;
/** `IFF_NOARP`. */
export const IFF_NOARP = 0x80;

/** `O_RDONLY` (Linux). */
export const O_RDONLY = 0;
/** `O_WRONLY` (Linux). */
export const O_WRONLY = 0o1;
/** `O_RDWR` (Linux). */
export const O_RDWR = 0o2;
/** `O_NONBLOCK` (Linux). */
export const O_NONBLOCK = 0o4000;
/** `O_CLOEXEC` (Linux). */
export const O_CLOEXEC = 0o2000000;
/** `EFD_NONBLOCK` (= O_NONBLOCK). */
export const EFD_NONBLOCK = O_NONBLOCK;
/** `EFD_CLOEXEC` (= O_CLOEXEC). */
export const EFD_CLOEXEC = O_CLOEXEC;
/** `AF_UNIX`. */
export const AF_UNIX = 1;
/** `SOCK_DGRAM` (Linux). */
export const SOCK_DGRAM = 2;
/** `SOCK_NONBLOCK` (Linux, or-ed into the socket type). */
export const SOCK_NONBLOCK = O_NONBLOCK;
/** `SOCK_CLOEXEC` (Linux, or-ed into the socket type). */
export const SOCK_CLOEXEC = O_CLOEXEC;

/** Path of the TUN clone device. */
export const TUN_CLONE_DEVICE = "/dev/net/tun";

/** Smallest MTU IPv4 allows (RFC 791: every host must take 68-octet datagrams). */
export const MIN_MTU = 68;
/** Largest MTU an IPv4 packet can use (16-bit total length). */
export const MAX_MTU = 65535;

/**
 * The kernel-owned address that pairs with the stack's `tunIp` on the point-to-point link:
 * the last octet plus one, or minus one when the last octet is 255.
 * @throws {TypeError} when `ip` is not a dotted-quad IPv4 address.
 * @example
 * ```ts
 * import { companionAddress } from "./linux.ts";
 * console.assert(companionAddress("10.0.0.1") === "10.0.0.2");
 * console.assert(companionAddress("10.0.0.255") === "10.0.0.254");
 * ```
 */
export function companionAddress(ip: string): string {
  const n = parseIpv4(ip);
  const last = n & 0xff;
  return formatIpv4(last === 255 ? n - 1 : n + 1);
}

/**
 * The kernel-owned IPv6 address that pairs with the stack's `tunIp6`: the last byte plus one,
 * or minus one when it is 0xff. The result is in canonical form (RFC 5952).
 * @throws {TypeError} when `ip` is not an IPv6 address.
 * @example
 * ```ts
 * import { companionAddress6, DEFAULT_TUN_IP6 } from "./linux.ts";
 * console.assert(companionAddress6(DEFAULT_TUN_IP6) === "fdac:1194:20dc::2");
 * console.assert(companionAddress6("fd00::1") === "fd00::2");
 * console.assert(companionAddress6("fd00::ff") === "fd00::fe");
 * ```
 */
export function companionAddress6(ip: string): string {
  const a = parseIpv6(ip);
  a[15] = a[15] === 0xff ? 0xfe : a[15] + 1;
  return formatIpv6(a);
}

/**
 * Parses an IPv6 address for the TUN link and returns its canonical text (RFC 5952).
 * @throws {TypeError} when it is not an IPv6 address, or one that cannot be a unicast address
 * of this link: unspecified `::`, loopback `::1`, multicast `ff00::/8`, IPv4-mapped
 * `::ffff:0:0/96` (RFC 4291 §2.5.2, §2.5.3, §2.7, §2.5.5.2).
 */
export function tunAddress6(ip: string, what: string): string {
  const a = parseIpv6(ip);
  const zeros = (from: number, to: number) => a.subarray(from, to).every((b) => b === 0);
  const reason = zeros(0, 16)
    ? "the unspecified address"
    : zeros(0, 15) && a[15] === 1
    ? "the loopback address"
    : a[0] === 0xff
    ? "a multicast address"
    : zeros(0, 10) && a[10] === 0xff && a[11] === 0xff
    ? "an IPv4-mapped address"
    : undefined;
  if (reason !== undefined) {
    throw new TypeError(`${what} must be a unicast IPv6 address, not ${reason}: ${ip}`);
  }
  return formatIpv6(a);
}

/** What {@linkcode openTun} needs to open a device. */
export interface TunOpenOptions {
  /** The address the stack owns (the interface's point-to-point peer), e.g. `"10.0.0.1"`. */
  tunIp: string;
  /**
   * The IPv6 address the stack owns, e.g. `"fd00:1::1"`: the interface gets `localIp6` (prefix
   * length 128) and a host route to this address through the device. Default
   * {@linkcode DEFAULT_TUN_IP6}, best effort: when IPv6 cannot be configured (no IPv6 in the
   * kernel, IPv6 disabled on the interface and not writable, an MTU below 1280, the addresses
   * already in use in the namespace, e.g. by another device opened with the defaults) the
   * device opens IPv4-only and `ipv6Problem` says why. Given explicitly, such a failure throws.
   * `false`: IPv4 only; Linux then disables IPv6 on the interface (where /proc/sys is
   * writable) so that the kernel sends nothing of its own into the device.
   */
  tunIp6?: string | false;
  /** The interface's own, kernel-owned IPv6 address; default `companionAddress6(tunIp6)`. */
  localIp6?: string;
  /** Interface name, at most 15 characters; default: chosen by the kernel (`tun0`, ...). */
  ifname?: string;
  /** Interface MTU, 68-65535; default 1500. */
  mtu?: number;
  /**
   * Attach with `IFF_VNET_HDR` and negotiate checksum and segmentation offloads; default
   * false. What was obtained is reported in {@linkcode OpenedTun} (`vnetHdr`, `offloads`).
   */
  offload?: boolean;
}

/**
 * What the kernel agreed to send to the device (`TUNSETOFFLOAD`). All false without a vnet
 * header. Independent of these, a device with `vnetHdr` accepts written packets that ask the
 * kernel to checksum them and to cut TCP super-segments (the kernel's `tun_get_user`).
 */
export interface TunOffloads {
  /** Packets may arrive with a partial checksum (NEEDS_CSUM): do not verify those. */
  csum: boolean;
  /** IPv4 TCP super-segments (GSO TCPV4) may arrive, up to 64 KiB. */
  tso4: boolean;
  /** IPv6 TCP super-segments (GSO TCPV6) may arrive, up to 64 KiB. */
  tso6: boolean;
}

/** No offloads: what a device without a vnet header reports. */
export const NO_OFFLOADS: Readonly<TunOffloads> = Object.freeze({
  csum: false,
  tso4: false,
  tso6: false,
});

/** What was done about IPv6 on an opened interface (part of {@linkcode OpenedTun}). */
export interface TunIpv6Facts {
  /** The stack's IPv6 address (canonical text, e.g. `"fdac:1194:20dc::1"`), when configured. */
  tunIp6?: string;
  /** The interface's own IPv6 address (e.g. `"fdac:1194:20dc::2"`), when IPv6 is configured. */
  localIp6?: string;
  /**
   * Why IPv6, wanted by default, is not configured (e.g. `"ioctl(SIOCSIFADDR AF_INET6): EACCES
   * (Permission denied); IPv6 is disabled on tun0 ..."`); undefined when it is, or when it was
   * turned off with `tunIp6: false`.
   */
  ipv6Problem?: string;
}

/** A configured TUN interface and its file descriptor (owned by the caller). */
export interface OpenedTun extends TunIpv6Facts {
  /** The TUN file descriptor, non-blocking, close-on-exec. */
  fd: number;
  /** The interface name the kernel gave. */
  name: string;
  /** The interface MTU. */
  mtu: number;
  /** The stack's address (point-to-point peer of the interface). */
  tunIp: string;
  /** The interface's own, kernel-owned address (companion of `tunIp`). */
  localIp: string;
  /** True when every packet on `fd` has a 10-byte virtio-net header in front. */
  vnetHdr: boolean;
  /** The offloads the kernel agreed to (all false without `vnetHdr`). */
  offloads: TunOffloads;
}

/** {@linkcode TunOpenOptions} checked and completed by {@linkcode normalizeTunOptions}. */
export interface NormalizedTunOptions {
  /** The stack's IPv4 address. */
  tunIp: string;
  /** The interface's IPv4 address. */
  localIp: string;
  /** The interface name, "" for the kernel's choice. */
  ifname: string;
  /** The MTU. */
  mtu: number;
  /** Whether to ask for offloads. */
  offload: boolean;
  /** The stack's IPv6 address, canonical; undefined when IPv6 is not to be configured. */
  tunIp6: string | undefined;
  /** The interface's IPv6 address, canonical; undefined when IPv6 is not to be configured. */
  localIp6: string | undefined;
  /** True when IPv6 was asked for explicitly: failing to configure it then throws. */
  ipv6Required: boolean;
  /** Why the default IPv6 is left out before trying (an MTU below 1280), else undefined. */
  ipv6Problem: string | undefined;
}

/**
 * Validates {@linkcode TunOpenOptions} and fills in defaults.
 * @throws {TypeError} for a bad address; {@linkcode RangeError} for a bad name or MTU, for
 * equal `tunIp6` and `localIp6`, or an MTU below 1280 with an explicit `tunIp6`.
 */
export function normalizeTunOptions(opts: TunOpenOptions): NormalizedTunOptions {
  parseIpv4(opts.tunIp);
  const localIp = companionAddress(opts.tunIp);
  const mtu = opts.mtu ?? 1500;
  if (!Number.isInteger(mtu) || mtu < MIN_MTU || mtu > MAX_MTU) {
    throw new RangeError(`mtu must be an integer from ${MIN_MTU} to ${MAX_MTU}: ${mtu}`);
  }
  if (opts.ifname !== undefined) validateIfname(opts.ifname);
  let tunIp6: string | undefined;
  let localIp6: string | undefined;
  let ipv6Problem: string | undefined;
  const ipv6Required = typeof opts.tunIp6 === "string" || opts.localIp6 !== undefined;
  if (opts.tunIp6 === false) {
    if (opts.localIp6 !== undefined) {
      throw new TypeError("localIp6 is given but tunIp6 is false (IPv6 off)");
    }
  } else {
    tunIp6 = tunAddress6(opts.tunIp6 ?? DEFAULT_TUN_IP6, "tunIp6");
    localIp6 = opts.localIp6 === undefined
      ? tunAddress6(companionAddress6(tunIp6), "localIp6")
      : tunAddress6(opts.localIp6, "localIp6");
    if (localIp6 === tunIp6) {
      throw new RangeError(`tunIp6 and localIp6 must differ: both are ${tunIp6}`);
    }
    if (mtu < IPV6_MIN_MTU) {
      ipv6Problem = `mtu ${mtu} is below IPv6's minimum link MTU of ${IPV6_MIN_MTU} (RFC 8200 §5)`;
      if (ipv6Required) throw new RangeError(ipv6Problem);
      tunIp6 = undefined;
      localIp6 = undefined;
    }
  }
  return {
    tunIp: opts.tunIp,
    localIp,
    ifname: opts.ifname ?? "",
    mtu,
    offload: opts.offload ?? false,
    tunIp6,
    localIp6,
    ipv6Required,
    ipv6Problem,
  };
}

/**
 * Runs `configure` (the IPv6 set-up of one system) when `o` wants IPv6, and says what was done.
 * A {@linkcode SyscallError} is rethrown when IPv6 was asked for explicitly
 * (`o.ipv6Required`), and otherwise reported in `ipv6Problem`, the device staying IPv4-only.
 */
export function applyIpv6(o: NormalizedTunOptions, configure: () => void): TunIpv6Facts {
  if (o.tunIp6 === undefined || o.localIp6 === undefined) {
    return o.ipv6Problem === undefined ? {} : { ipv6Problem: o.ipv6Problem };
  }
  try {
    configure();
  } catch (e) {
    if (o.ipv6Required || !(e instanceof SyscallError)) throw e;
    return { ipv6Problem: e.message };
  }
  return { tunIp6: o.tunIp6, localIp6: o.localIp6 };
}

const PERMISSION_HINT = "run as root or with CAP_NET_ADMIN";

/** Rethrows EPERM/EACCES as a permission error (code "EPERM") with a hint; others unchanged. */
function explainPermission(e: unknown): unknown {
  if (e instanceof SyscallError && (e.errno === E.EPERM || e.errno === E.EACCES)) {
    return new SyscallError(e.syscall, e.errno, PERMISSION_HINT, { cause: e, code: "EPERM" });
  }
  return e;
}

/**
 * Sets up the vnet header of a TUN fd attached with `IFF_VNET_HDR`: its size to 10
 * (`TUNSETVNETHDRSZ`), then the offloads in `wanted` (`TUNSETOFFLOAD`).
 *
 * Fallbacks: when `TUNSETOFFLOAD` refuses `wanted`, `TUN_F_CSUM` alone is tried, then nothing
 * (the kernel then sends only complete packets, still behind a vnet header, and still takes
 * offloaded writes). When `TUNSETVNETHDRSZ` itself is refused, the header size is unknown:
 * the result is undefined and {@linkcode openLinuxTun} reopens the device without
 * `IFF_VNET_HDR`.
 * @returns the offloads in force, or undefined when the vnet header cannot be used.
 * @example
 * ```ts ignore
 * import { negotiateVnet, TUN_OFFLOADS_WANTED } from "./linux.ts";
 * const offloads = negotiateVnet(tunFd, TUN_OFFLOADS_WANTED); // {csum, tso4, tso6} or undefined
 * ```
 */
export function negotiateVnet(fd: number, wanted: number): TunOffloads | undefined {
  const size = new Uint8Array(new Int32Array([VNET_HDR_LEN]).buffer);
  try {
    ioctl(fd, TUNSETVNETHDRSZ, size, "TUNSETVNETHDRSZ");
  } catch (e) {
    if (e instanceof SyscallError) return undefined;
    throw e;
  }
  for (const flags of [wanted, wanted & TUN_F_CSUM]) {
    if (flags === 0) continue;
    try {
      ioctlValue(fd, TUNSETOFFLOAD, flags, "TUNSETOFFLOAD");
      return {
        csum: (flags & TUN_F_CSUM) !== 0,
        tso4: (flags & TUN_F_TSO4) !== 0,
        tso6: (flags & TUN_F_TSO6) !== 0,
      };
    } catch (e) {
      if (!(e instanceof SyscallError)) throw e;
    }
  }
  return { ...NO_OFFLOADS };
}

/** `/proc/sys/net/ipv6/conf/<ifname>/<key>`: one per-interface IPv6 setting. */
export function ipv6ConfPath(ifname: string, key: string): string {
  validateIfname(ifname);
  if (!/^[a-z0-9_]+$/.test(key)) throw new RangeError(`invalid sysctl key: ${key}`);
  return `${IPV6_CONF_DIR}/${ifname}/${key}`;
}

/**
 * Reads a per-interface IPv6 sysctl (`net.ipv6.conf.<ifname>.<key>`) through the C library,
 * so that no Deno read permission is needed beyond `--allow-ffi`.
 * @returns the value without its trailing newline, or undefined when it cannot be read (no
 * IPv6 on the interface or in the kernel, no /proc).
 */
export function readIpv6Conf(ifname: string, key: string): string | undefined {
  let fd: number;
  try {
    fd = openFd(ipv6ConfPath(ifname, key), O_RDONLY | O_CLOEXEC);
  } catch (e) {
    if (e instanceof SyscallError) return undefined;
    throw e;
  }
  try {
    const buf = new Uint8Array(64);
    const n = readFd(fd, buf, buf.byteLength);
    return n < 0 ? undefined : new TextDecoder().decode(buf.subarray(0, n)).trim();
  } finally {
    closeQuietly(fd);
  }
}

/**
 * Writes a per-interface IPv6 sysctl (`net.ipv6.conf.<ifname>.<key> = value`) through the C
 * library. Needs write access to /proc/sys/net (root in the namespace's user namespace;
 * CAP_NET_ADMIN alone is not enough, and some containers mount /proc/sys read-only).
 * @throws {SyscallError} `open(/proc/sys/...)` or `write(/proc/sys/...)` with the errno.
 */
export function writeIpv6Conf(ifname: string, key: string, value: string): void {
  const path = ipv6ConfPath(ifname, key);
  const fd = openFd(path, O_WRONLY | O_CLOEXEC);
  try {
    const bytes = new TextEncoder().encode(value + "\n");
    const n = writeFd(fd, bytes, bytes.byteLength);
    if (n < 0) throw new SyscallError(`write(${path})`, -n);
  } finally {
    closeQuietly(fd);
  }
}

/** {@linkcode writeIpv6Conf}, ignoring failures; true when written. */
function tryWriteIpv6Conf(ifname: string, key: string, value: string): boolean {
  try {
    writeIpv6Conf(ifname, key, value);
    return true;
  } catch (e) {
    if (e instanceof SyscallError) return false;
    throw e;
  }
}

/**
 * Sets the per-interface IPv6 sysctls of a fresh, still down interface `name` (best effort:
 * a setting that cannot be written is left as it is).
 *
 * With `enable`:
 * - `disable_ipv6 = 0` when it is 1 (a namespace whose `default`/`all` setting disables IPv6
 *   hands that to every new interface; without IPv6 the kernel refuses the address with
 *   EACCES, which {@linkcode configureLinuxIpv6} explains).
 * - `accept_dad = 0`: no Duplicate Address Detection (RFC 4862 §5.4), which would keep the
 *   address "tentative", unusable, for a second or more. A TUN already has `IFF_NOARP`, for
 *   which Linux skips DAD (`addrconf_dad_begin`), and the ioctl path cannot pass
 *   `IFA_F_NODAD` (only netlink can): this makes sure of it.
 * - `router_solicitations = 0`: the kernel sends no Router Solicitations (RFC 4861 §6.3.7) into
 *   the device once its link-local address is up; nothing on this link is a router.
 *
 * Without `enable` (`tunIp6: false`): `disable_ipv6 = 1`, so the kernel gives the interface no
 * IPv6 address at all, not even link-local, and sends nothing of its own into the device.
 */
export function prepareLinuxIpv6(name: string, enable: boolean): void {
  if (!enable) {
    tryWriteIpv6Conf(name, "disable_ipv6", "1");
    return;
  }
  if (readIpv6Conf(name, "disable_ipv6") === "1") tryWriteIpv6Conf(name, "disable_ipv6", "0");
  tryWriteIpv6Conf(name, "accept_dad", "0");
  tryWriteIpv6Conf(name, "router_solicitations", "0");
}

/** Adds hints to the usual failures of the IPv6 ioctls on interface `name`. */
function explainIpv6(e: unknown, name: string): unknown {
  if (!(e instanceof SyscallError)) return e;
  if (e.errno === E.EAFNOSUPPORT) {
    return new SyscallError(e.syscall, e.errno, "the kernel has no IPv6", { cause: e });
  }
  if (e.errno === E.EACCES) {
    return new SyscallError(
      e.syscall,
      e.errno,
      `IPv6 is disabled on ${name}: net.ipv6.conf.${name}.disable_ipv6 is 1 and could not be ` +
        `set to 0 (that needs write access to ${IPV6_CONF_DIR})`,
      { cause: e },
    );
  }
  return explainPermission(e);
}

/**
 * Gives the up interface `name` the IPv6 address `localIp6` with prefix length 128
 * (`SIOCSIFADDR` with a `struct in6_ifreq` on an `AF_INET6` socket; the interface index comes
 * from `SIOCGIFINDEX`), and a host route to the stack's `peerIp6` through it (`SIOCADDRT` with
 * a `struct in6_rtmsg`: `RTF_UP | RTF_HOST`, destination length 128, metric 0 so the kernel
 * uses 1024). The kernel then sends packets for `peerIp6` into the device from `localIp6`. If
 * the route fails, the address is removed again. Call {@linkcode prepareLinuxIpv6} first.
 * @throws {SyscallError} naming the failing call, with a hint for EAFNOSUPPORT (no IPv6) and
 * EACCES (IPv6 disabled on the interface).
 * @example
 * ```ts ignore
 * import { configureLinuxIpv6 } from "./linux.ts";
 * configureLinuxIpv6("tun0", "fdac:1194:20dc::2", "fdac:1194:20dc::1"); // as root
 * ```
 */
export function configureLinuxIpv6(name: string, localIp6: string, peerIp6: string): void {
  const local = parseIpv6(localIp6);
  const peer = parseIpv6(peerIp6);
  let sock: number;
  try {
    sock = socket(AF_INET6.linux, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  } catch (e) {
    throw explainIpv6(e, name);
  }
  try {
    const ifr = newIfreq("linux", name);
    ioctl(sock, SIOCGIFINDEX, ifr, "SIOCGIFINDEX");
    const ifindex = getIfreqInt(ifr);
    const addr = newIn6Ifreq(local, IPV6_HOST_PREFIX, ifindex);
    ioctl(sock, SIOCSIFADDR, addr, "SIOCSIFADDR AF_INET6");
    try {
      const route = newIn6Rtmsg({
        dst: peer,
        dstLen: IPV6_HOST_PREFIX,
        type: RTN_UNICAST,
        flags: RTF_UP | RTF_HOST,
        ifindex,
      });
      ioctl(sock, SIOCADDRT, route, "SIOCADDRT AF_INET6");
    } catch (e) {
      try {
        ioctl(sock, SIOCDIFADDR, addr, "SIOCDIFADDR AF_INET6");
      } catch {
        // the address stays; the route's error is the one to report
      }
      throw e;
    }
  } catch (e) {
    throw explainIpv6(e, name);
  } finally {
    closeQuietly(sock);
  }
}

/**
 * Reads a whole /proc file through the C library (at most `maxBytes`), or undefined when it
 * cannot be opened or read.
 */
function readProcText(path: string, maxBytes = 1 << 22): string | undefined {
  let fd: number;
  try {
    fd = openFd(path, O_RDONLY | O_CLOEXEC);
  } catch (e) {
    if (e instanceof SyscallError) return undefined;
    throw e;
  }
  try {
    const chunks: Uint8Array[] = [];
    let total = 0;
    for (let i = 0; i < 4096 && total < maxBytes; i++) {
      const chunk = new Uint8Array(65536);
      const n = readFd(fd, chunk, chunk.byteLength);
      if (n < 0) return undefined;
      if (n === 0) break;
      chunks.push(chunk.subarray(0, n));
      total += n;
    }
    const all = new Uint8Array(total);
    let at = 0;
    for (const c of chunks) {
      all.set(c, at);
      at += c.byteLength;
    }
    return new TextDecoder().decode(all);
  } finally {
    closeQuietly(fd);
  }
}

/** 32 hex digits (as in /proc/net) to 16 bytes, or undefined. */
function hexAddress(text: string): Uint8Array | undefined {
  if (!/^[0-9a-f]{32}$/.test(text)) return undefined;
  const a = new Uint8Array(16);
  for (let i = 0; i < 16; i++) a[i] = parseInt(text.slice(2 * i, 2 * i + 2), 16);
  return a;
}

/** True when the first `length` bits of `a` and `b` are equal. */
function samePrefix(a: Uint8Array, b: Uint8Array, length: number): boolean {
  for (let bit = 0; bit < length; bit += 8) {
    const bits = Math.min(8, length - bit);
    const mask = (0xff00 >>> bits) & 0xff;
    if (((a[bit >>> 3] ^ b[bit >>> 3]) & mask) !== 0) return false;
  }
  return true;
}

/**
 * Looks for what would make the IPv6 pair of interface `name` misroute, in the texts of
 * /proc/net/if_inet6 (`addresses`) and /proc/net/ipv6_route (`routes`) of its namespace,
 * ignoring `name`'s own entries: `localIp6` or `tunIp6` already an address of another
 * interface, or either inside a route the namespace already has (other than the default route
 * `::/0`, link-local `fe80::/10` and multicast `ff00::/8`). The host route to `tunIp6` would
 * win over such a route and take its traffic: a `fd00::/64` network whose gateway is
 * `fd00::1`, say, or a second device opened with the same defaults.
 * @returns a description of the first conflict, or undefined.
 * @example
 * ```ts
 * import { findIpv6Conflict } from "./linux.ts";
 * const zeros = "0".repeat(32);
 * const routes = `fd000000000000000000000000000000 40 ${zeros} 00 ${zeros} ` +
 *   "00000100 00000001 00000000 00000001 eth0\n";
 * console.assert(
 *   findIpv6Conflict("tun0", "fd00::2", "fd00::1", "", routes) ===
 *     "fd00::2 is already routed here (fd00::/64 dev eth0)",
 * );
 * ```
 */
export function findIpv6Conflict(
  name: string,
  localIp6: string,
  tunIp6: string,
  addresses: string,
  routes: string,
): string | undefined {
  const mine = [parseIpv6(localIp6), parseIpv6(tunIp6)];
  const texts = [localIp6, tunIp6];
  for (const line of addresses.split("\n")) {
    const f = line.trim().split(/\s+/);
    const addr = hexAddress(f[0] ?? "");
    if (addr === undefined || f.length < 6 || f[5] === name) continue;
    for (let i = 0; i < 2; i++) {
      if (samePrefix(addr, mine[i], 128)) return `${texts[i]} is already an address of ${f[5]}`;
    }
  }
  for (const line of routes.split("\n")) {
    const f = line.trim().split(/\s+/);
    const dst = hexAddress(f[0] ?? "");
    const length = parseInt(f[1] ?? "", 16);
    if (dst === undefined || f.length < 10 || f[9] === name || !(length > 0 && length <= 128)) {
      continue;
    }
    if (dst[0] === 0xff || (dst[0] === 0xfe && (dst[1] & 0xc0) === 0x80)) continue;
    for (let i = 0; i < 2; i++) {
      if (samePrefix(dst, mine[i], length)) {
        return `${texts[i]} is already routed here (${formatIpv6(dst)}/${length} dev ${f[9]})`;
      }
    }
  }
  return undefined;
}

/**
 * {@linkcode findIpv6Conflict} on this namespace's /proc/net files (read through the C
 * library; no check when they cannot be read).
 * @throws {SyscallError} `IPv6 address check: EADDRINUSE (...); <conflict>; give this device
 * its own tunIp6/localIp6` when there is a conflict.
 */
export function checkLinuxIpv6Free(name: string, localIp6: string, tunIp6: string): void {
  const addresses = readProcText(PROC_IF_INET6);
  const routes = readProcText(PROC_IPV6_ROUTE);
  if (addresses === undefined || routes === undefined) return;
  const conflict = findIpv6Conflict(name, localIp6, tunIp6, addresses, routes);
  if (conflict !== undefined) {
    throw new SyscallError(
      "IPv6 address check",
      E.EADDRINUSE,
      `${conflict}; give this device its own tunIp6/localIp6`,
    );
  }
}

/** Opens `/dev/net/tun` non-blocking and close-on-exec, with a hint for the usual failures. */
function openCloneDevice(): number {
  try {
    return openFd(TUN_CLONE_DEVICE, O_RDWR | O_NONBLOCK | O_CLOEXEC);
  } catch (e) {
    if (e instanceof SyscallError && (e.errno === E.ENOENT || e.errno === E.ENODEV)) {
      throw new SyscallError(e.syscall, e.errno, "is the tun module loaded (modprobe tun)?", {
        cause: e,
      });
    }
    throw explainPermission(e);
  }
}

/**
 * Attaches a fresh TUN fd to interface `ifname` ("" lets the kernel choose) with `flags`.
 * @returns the fd and the name the kernel gave; the fd is closed on failure.
 */
function attachTun(ifname: string, flags: number): { fd: number; name: string } {
  const fd = openCloneDevice();
  try {
    const ifr = newIfreq("linux", ifname === "" ? undefined : ifname);
    setIfreqFlags(ifr, flags);
    try {
      ioctl(fd, TUNSETIFF, ifr, "TUNSETIFF");
    } catch (e) {
      throw explainPermission(e);
    }
    return { fd, name: getIfreqName(ifr) }; // the kernel writes back the chosen name
  } catch (e) {
    closeQuietly(fd);
    throw e;
  }
}

/**
 * Opens and configures a Linux TUN interface. The interface goes away when `fd` is closed.
 *
 * With `offload: true` the device is attached with `IFF_VNET_HDR` and the offloads negotiated
 * by {@linkcode negotiateVnet}; if the kernel refuses `IFF_VNET_HDR` (EINVAL) or its header
 * size, the device is closed and attached again without it (`vnetHdr: false`), before any
 * address is configured.
 *
 * Order: attach; the IPv6 sysctls ({@linkcode prepareLinuxIpv6}, while the interface is down,
 * so they hold from the start); IPv4 addresses, MTU and up ({@linkcode configureLinuxInterface});
 * then, unless `tunIp6: false`, a check that the IPv6 pair is free in the namespace
 * ({@linkcode checkLinuxIpv6Free}) and the IPv6 address and route ({@linkcode configureLinuxIpv6},
 * which need the interface up). What was set is reported in `tunIp6`/`localIp6`, or
 * `ipv6Problem`.
 * @throws {SyscallError} e.g. `ioctl(TUNSETIFF): EPERM (Operation not permitted); run as root
 * or with CAP_NET_ADMIN` with `.code === "EPERM"`.
 * @example
 * ```ts ignore
 * import { openLinuxTun } from "./linux.ts";
 * const tun = openLinuxTun({ tunIp: "10.0.0.1", offload: true }); // needs CAP_NET_ADMIN
 * console.log(tun.name, tun.localIp, tun.vnetHdr, tun.offloads); // "tun0" "10.0.0.2" true {...}
 * console.log(tun.tunIp6, tun.localIp6); // "fdac:1194:20dc::1" "fdac:1194:20dc::2"
 * ```
 */
export function openLinuxTun(opts: TunOpenOptions): OpenedTun {
  const o = normalizeTunOptions(opts);
  const plain = IFF_TUN | IFF_NO_PI;
  let tun: { fd: number; name: string } | undefined;
  let offloads: TunOffloads | undefined;
  if (o.offload) {
    try {
      tun = attachTun(o.ifname, plain | IFF_VNET_HDR);
    } catch (e) {
      if (!(e instanceof SyscallError && e.errno === E.EINVAL)) throw e;
    }
    if (tun !== undefined) {
      offloads = negotiateVnet(tun.fd, TUN_OFFLOADS_WANTED);
      if (offloads === undefined) {
        closeQuietly(tun.fd); // the interface goes away with it: its name is free again
        tun = undefined;
      }
    }
  }
  tun ??= attachTun(o.ifname, plain);
  const name = tun.name;
  let ipv6: TunIpv6Facts;
  try {
    prepareLinuxIpv6(name, o.tunIp6 !== undefined);
    configureLinuxInterface(name, o.localIp, o.tunIp, o.mtu);
    ipv6 = applyIpv6(o, () => {
      checkLinuxIpv6Free(name, o.localIp6!, o.tunIp6!);
      configureLinuxIpv6(name, o.localIp6!, o.tunIp6!);
    });
  } catch (e) {
    closeQuietly(tun.fd);
    throw e;
  }
  return {
    fd: tun.fd,
    name,
    mtu: o.mtu,
    tunIp: o.tunIp,
    localIp: o.localIp,
    ...ipv6,
    vnetHdr: offloads !== undefined,
    offloads: offloads ?? { ...NO_OFFLOADS },
  };
}

/**
 * Configures interface `name` as a point-to-point IPv4 link from `localIp` to `peerIp`
 * (/32), sets its MTU and brings it up, via ioctls on an AF_INET datagram socket.
 * @throws {SyscallError} naming the failing ioctl.
 */
export function configureLinuxInterface(
  name: string,
  localIp: string,
  peerIp: string,
  mtu: number,
): void {
  const sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  try {
    const ifr = newIfreq("linux", name);
    writeSockaddrIn("linux", ifr, IFREQ_UNION_OFFSET, parseIpv4(localIp));
    ioctl(sock, SIOCSIFADDR, ifr, "SIOCSIFADDR");

    writeSockaddrIn("linux", ifr, IFREQ_UNION_OFFSET, parseIpv4(peerIp));
    ioctl(sock, SIOCSIFDSTADDR, ifr, "SIOCSIFDSTADDR");

    writeSockaddrIn("linux", ifr, IFREQ_UNION_OFFSET, 0xffffffff);
    ioctl(sock, SIOCSIFNETMASK, ifr, "SIOCSIFNETMASK");

    ifr.fill(0, IFREQ_UNION_OFFSET);
    setIfreqInt(ifr, mtu);
    ioctl(sock, SIOCSIFMTU, ifr, "SIOCSIFMTU");

    ifr.fill(0, IFREQ_UNION_OFFSET);
    ioctl(sock, SIOCGIFFLAGS, ifr, "SIOCGIFFLAGS");
    setIfreqFlags(ifr, getIfreqFlags(ifr) | IFF_UP | IFF_RUNNING | IFF_POINTOPOINT | IFF_NOARP);
    ioctl(sock, SIOCSIFFLAGS, ifr, "SIOCSIFFLAGS");
  } catch (e) {
    throw explainPermission(e);
  } finally {
    closeQuietly(sock);
  }
}
