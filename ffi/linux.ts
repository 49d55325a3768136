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
 * @module
 */

import { closeQuietly, E, ioctl, ioctlValue, openFd, socket, SyscallError } from "./libc.ts";
import {
  AF_INET,
  formatIpv4,
  getIfreqFlags,
  getIfreqName,
  IFREQ_UNION_OFFSET,
  newIfreq,
  parseIpv4,
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

/** What {@linkcode openTun} needs to open a device. */
export interface TunOpenOptions {
  /** The address the stack owns (the interface's point-to-point peer), e.g. `"10.0.0.1"`. */
  tunIp: string;
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

/** A configured TUN interface and its file descriptor (owned by the caller). */
export interface OpenedTun {
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

/**
 * Validates {@linkcode TunOpenOptions} and fills in defaults.
 * @throws {TypeError} for a bad address; {@linkcode RangeError} for a bad name or MTU.
 */
export function normalizeTunOptions(opts: TunOpenOptions): Required<TunOpenOptions> & {
  localIp: string;
} {
  parseIpv4(opts.tunIp);
  const localIp = companionAddress(opts.tunIp);
  const mtu = opts.mtu ?? 1500;
  if (!Number.isInteger(mtu) || mtu < MIN_MTU || mtu > MAX_MTU) {
    throw new RangeError(`mtu must be an integer from ${MIN_MTU} to ${MAX_MTU}: ${mtu}`);
  }
  if (opts.ifname !== undefined) validateIfname(opts.ifname);
  return {
    tunIp: opts.tunIp,
    ifname: opts.ifname ?? "",
    mtu,
    offload: opts.offload ?? false,
    localIp,
  };
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
 * @throws {SyscallError} e.g. `ioctl(TUNSETIFF): EPERM (Operation not permitted); run as root
 * or with CAP_NET_ADMIN` with `.code === "EPERM"`.
 * @example
 * ```ts ignore
 * import { openLinuxTun } from "./linux.ts";
 * const tun = openLinuxTun({ tunIp: "10.0.0.1", offload: true }); // needs CAP_NET_ADMIN
 * console.log(tun.name, tun.localIp, tun.vnetHdr, tun.offloads); // "tun0" "10.0.0.2" true {...}
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
  try {
    configureLinuxInterface(tun.name, o.localIp, o.tunIp, o.mtu);
  } catch (e) {
    closeQuietly(tun.fd);
    throw e;
  }
  return {
    fd: tun.fd,
    name: tun.name,
    mtu: o.mtu,
    tunIp: o.tunIp,
    localIp: o.localIp,
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
