/**
 * macOS utun setup and framing.
 *
 * A utun interface is a kernel-control socket: `socket(PF_SYSTEM, SOCK_DGRAM,
 * SYSPROTO_CONTROL)`, `CTLIOCGINFO` to look up the id of `com.apple.net.utun_control`, then
 * `connect` to a `sockaddr_ctl` whose `sc_unit` is N+1 for `utunN` (0 lets the kernel pick).
 * `getsockopt(UTUN_OPT_IFNAME)` returns the name. Each packet crossing the socket carries a
 * 4-byte address-family header in network byte order (`AF_INET` = 2 or `AF_INET6` = 30):
 * prepended on write, stripped on read. IPv4 addresses are set with `SIOCAIFADDR`
 * (`struct ifaliasreq`), the MTU with `SIOCSIFMTU`, both on an `AF_INET` datagram socket; the
 * IPv6 address with `SIOCAIFADDR_IN6` (`struct in6_aliasreq`) on an `AF_INET6` socket, as a
 * point-to-point pair `localIp6` → `tunIp6` (prefix length 128), for which the kernel adds the
 * host route to `tunIp6` itself.
 *
 * This file cannot run on Linux; its encodings, layouts and framing are unit-tested there.
 * @module
 */

import {
  closeQuietly,
  connect,
  E,
  fcntl,
  getsockopt,
  ioctl,
  socket,
  SyscallError,
} from "./libc.ts";
import {
  AF_INET,
  AF_INET6,
  CTL_INFO_SIZE,
  getCtlId,
  getIfreqFlags,
  IFALIASREQ_SIZE,
  IFNAMSIZ,
  IFREQ_SIZE,
  IN6_ALIASREQ_SIZE,
  newCtlInfo,
  newIfaliasreq,
  newIfreq,
  newIn6Aliasreq,
  newSockaddrCtl,
  parseIpv4,
  parseIpv6,
  setIfreqFlags,
  setIfreqInt,
} from "./layout.ts";
import {
  applyIpv6,
  IPV6_HOST_PREFIX,
  NO_OFFLOADS,
  normalizeTunOptions,
  type OpenedTun,
  type TunOpenOptions,
} from "./linux.ts";

/** `IOC_OUT` (sys/ioccom.h): the kernel copies the argument out. */
export const DARWIN_IOC_OUT = 0x40000000;
/** `IOC_IN`: the kernel copies the argument in. */
export const DARWIN_IOC_IN = 0x80000000;
/** `IOC_INOUT`. */
export const DARWIN_IOC_INOUT = DARWIN_IOC_IN | DARWIN_IOC_OUT;
/** `IOCPARM_MASK`: parameters are at most 8191 bytes. */
export const DARWIN_IOCPARM_MASK = 0x1fff;

/**
 * `_IOC(inout, group, num, len)` of sys/ioccom.h:
 * `inout | (len & IOCPARM_MASK) << 16 | group << 8 | num`.
 * @example
 * ```ts
 * import { DARWIN_IOC_INOUT, darwinIoc } from "./darwin.ts";
 * console.assert(darwinIoc(DARWIN_IOC_INOUT, "N", 3, 100) === 0xc0644e03n); // CTLIOCGINFO
 * ```
 */
export function darwinIoc(inout: number, group: string, num: number, len: number): bigint {
  return BigInt(inout >>> 0) | (BigInt(len & DARWIN_IOCPARM_MASK) << 16n) |
    (BigInt(group.charCodeAt(0)) << 8n) | BigInt(num);
}

/** `CTLIOCGINFO = _IOWR('N', 3, struct ctl_info)` (sys/kern_control.h). */
export const CTLIOCGINFO: bigint = darwinIoc(DARWIN_IOC_INOUT, "N", 3, CTL_INFO_SIZE);
/** `SIOCAIFADDR = _IOW('i', 26, struct ifaliasreq)` (sys/sockio.h). */
export const SIOCAIFADDR: bigint = darwinIoc(DARWIN_IOC_IN, "i", 26, IFALIASREQ_SIZE);
/** `SIOCAIFADDR_IN6 = _IOW('i', 26, struct in6_aliasreq)` (netinet6/in6_var.h), 64-bit. */
export const SIOCAIFADDR_IN6: bigint = darwinIoc(DARWIN_IOC_IN, "i", 26, IN6_ALIASREQ_SIZE);
/** `SIOCSIFMTU = _IOW('i', 52, struct ifreq)`. */
export const DARWIN_SIOCSIFMTU: bigint = darwinIoc(DARWIN_IOC_IN, "i", 52, IFREQ_SIZE.darwin);
/** `SIOCSIFFLAGS = _IOW('i', 16, struct ifreq)`. */
export const DARWIN_SIOCSIFFLAGS: bigint = darwinIoc(DARWIN_IOC_IN, "i", 16, IFREQ_SIZE.darwin);
/** `SIOCGIFFLAGS = _IOWR('i', 17, struct ifreq)`. */
export const DARWIN_SIOCGIFFLAGS: bigint = darwinIoc(
  DARWIN_IOC_INOUT,
  "i",
  17,
  IFREQ_SIZE.darwin,
);

/** `PF_SYSTEM` (= AF_SYSTEM). */
export const PF_SYSTEM = 32;
/** `SYSPROTO_CONTROL`: the kernel-control protocol of PF_SYSTEM; also the getsockopt level. */
export const SYSPROTO_CONTROL = 2;
/** `UTUN_OPT_IFNAME` (net/if_utun.h): getsockopt name of the interface. */
export const UTUN_OPT_IFNAME = 2;
/** The utun kernel-control name. */
export const UTUN_CONTROL_NAME = "com.apple.net.utun_control";
/** `SOCK_DGRAM` (macOS). */
export const DARWIN_SOCK_DGRAM = 2;
/** `AF_INET6` on macOS (30; Linux uses 10). */
export const DARWIN_AF_INET6: number = AF_INET6.darwin;
/** `IN6_IFF_NODAD` (netinet6/in6_var.h): no Duplicate Address Detection for this address. */
export const IN6_IFF_NODAD = 0x0020;
/** `ND6_INFINITE_LIFETIME` (netinet6/nd6.h): a lifetime that never ends. */
export const ND6_INFINITE_LIFETIME = 0xffffffff;
/** `O_NONBLOCK` on macOS. */
export const DARWIN_O_NONBLOCK = 0x4;
/** `F_GETFL`. */
export const F_GETFL = 3;
/** `F_SETFL`. */
export const F_SETFL = 4;
/** `F_SETFD`. */
export const F_SETFD = 2;
/** `FD_CLOEXEC`. */
export const FD_CLOEXEC = 1;
/** `IFF_UP`. */
export const DARWIN_IFF_UP = 0x1;

/** Size of the address-family header before each utun packet. */
export const UTUN_HEADER_SIZE = 4;

/**
 * Writes `packet` into `frame` after a 4-byte big-endian address-family header (`AF_INET` for
 * an IPv4 packet, `AF_INET6` (30) for version 6).
 * @returns the frame length, or 0 when `packet` is empty or does not fit in `frame`.
 * @example
 * ```ts
 * import { frameUtun } from "./darwin.ts";
 * const frame = new Uint8Array(64);
 * const n = frameUtun(frame, new Uint8Array([0x45, 0, 0, 20]));
 * console.assert(n === 8 && frame[3] === 2);
 * ```
 */
export function frameUtun(frame: Uint8Array, packet: Uint8Array): number {
  const len = packet.byteLength;
  if (len === 0 || len + UTUN_HEADER_SIZE > frame.byteLength) return 0;
  frame[0] = 0;
  frame[1] = 0;
  frame[2] = 0;
  frame[3] = (packet[0] >> 4) === 6 ? DARWIN_AF_INET6 : AF_INET;
  frame.set(packet, UTUN_HEADER_SIZE);
  return len + UTUN_HEADER_SIZE;
}

/**
 * True when the 4-byte utun header at `frame[at..at + 4)` names a family tcptun carries:
 * `AF_INET` (2) or `AF_INET6` (30), big-endian.
 */
export function utunFamilyKnown(frame: Uint8Array, at = 0): boolean {
  const family = frame[at + 3];
  return frame[at] === 0 && frame[at + 1] === 0 && frame[at + 2] === 0 &&
    (family === AF_INET || family === DARWIN_AF_INET6);
}

/**
 * Strips the 4-byte header of a frame of `n` bytes read from utun and copies the IPv4 or IPv6
 * packet into `out` (truncated to `out.length`), without allocating.
 * @returns the packet length copied, or 0 when the frame is of another family or holds no
 * packet (the caller skips it).
 * @example
 * ```ts
 * import { unframeUtun } from "./darwin.ts";
 * const frame = new Uint8Array([0, 0, 0, 30, 0x60, 0, 0, 0]); // AF_INET6, an IPv6 packet
 * const out = new Uint8Array(16);
 * console.assert(unframeUtun(frame, frame.length, out) === 4 && out[0] === 0x60);
 * ```
 */
export function unframeUtun(frame: Uint8Array, n: number, out: Uint8Array): number {
  if (n <= UTUN_HEADER_SIZE || n > frame.byteLength) return 0;
  if (!utunFamilyKnown(frame)) return 0;
  const len = Math.min(n - UTUN_HEADER_SIZE, out.byteLength);
  for (let i = 0; i < len; i++) out[i] = frame[i + UTUN_HEADER_SIZE];
  return len;
}

/**
 * The `sc_unit` for an interface name: N+1 for `utunN`, 0 (kernel picks) when absent.
 * @throws {RangeError} for a name that is not `utun<N>`.
 */
export function utunUnit(ifname: string | undefined): number {
  if (ifname === undefined || ifname === "") return 0;
  const m = /^utun([0-9]{1,6})$/.exec(ifname);
  if (m === null) {
    throw new RangeError(`macOS interface names must be utun<N>: ${JSON.stringify(ifname)}`);
  }
  return Number(m[1]) + 1;
}

const decoder = new TextDecoder();

/**
 * Opens and configures a utun interface. The interface goes away when `fd` is closed.
 * IPv4 first ({@linkcode configureDarwinInterface}, which brings it up), then IPv6
 * ({@linkcode configureDarwinIpv6}) unless `tunIp6: false`; a failure of the default IPv6 is
 * reported in `ipv6Problem`, of an explicit one thrown.
 * @throws {SyscallError} naming the failing call; permission failures carry `.code "EPERM"`.
 * @example
 * ```ts ignore
 * import { openDarwinTun } from "./darwin.ts";
 * const tun = openDarwinTun({ tunIp: "10.0.0.1" }); // as root
 * console.log(tun.name, tun.tunIp6, tun.localIp6); // "utun4" "fdac:1194:20dc::1" "...::2"
 * ```
 */
export function openDarwinTun(opts: TunOpenOptions): OpenedTun {
  const o = normalizeTunOptions(opts);
  const unit = utunUnit(opts.ifname);
  let fd: number;
  try {
    fd = socket(PF_SYSTEM, DARWIN_SOCK_DGRAM, SYSPROTO_CONTROL);
  } catch (e) {
    throw explainPermission(e);
  }
  try {
    fcntl(fd, F_SETFD, FD_CLOEXEC, "fcntl(F_SETFD)");
    const flags = fcntl(fd, F_GETFL, 0, "fcntl(F_GETFL)");
    fcntl(fd, F_SETFL, flags | DARWIN_O_NONBLOCK, "fcntl(F_SETFL)");

    const info = newCtlInfo(UTUN_CONTROL_NAME);
    ioctl(fd, CTLIOCGINFO, info, "CTLIOCGINFO");
    try {
      connect(fd, newSockaddrCtl(getCtlId(info), unit), "connect(utun)");
    } catch (e) {
      throw explainPermission(e);
    }

    const nameBuf = new Uint8Array(IFNAMSIZ);
    const len = getsockopt(
      fd,
      SYSPROTO_CONTROL,
      UTUN_OPT_IFNAME,
      nameBuf,
      "getsockopt(UTUN_OPT_IFNAME)",
    );
    let end = 0;
    while (end < Math.min(len, IFNAMSIZ) && nameBuf[end] !== 0) end++;
    const name = decoder.decode(nameBuf.subarray(0, end));

    configureDarwinInterface(name, o.localIp, o.tunIp, o.mtu);
    const ipv6 = applyIpv6(o, () => configureDarwinIpv6(name, o.localIp6!, o.tunIp6!));
    // utun has no virtio-net header: `offload` is ignored and no offload is reported.
    return {
      fd,
      name,
      mtu: o.mtu,
      tunIp: o.tunIp,
      localIp: o.localIp,
      ...ipv6,
      vnetHdr: false,
      offloads: { ...NO_OFFLOADS },
    };
  } catch (e) {
    closeQuietly(fd);
    throw e;
  }
}

/**
 * Gives utun interface `name` the point-to-point addresses `localIp` → `peerIp` (/32), sets
 * its MTU and brings it up, via ioctls on an AF_INET datagram socket.
 * @throws {SyscallError} naming the failing ioctl.
 */
export function configureDarwinInterface(
  name: string,
  localIp: string,
  peerIp: string,
  mtu: number,
): void {
  const sock = socket(AF_INET, DARWIN_SOCK_DGRAM, 0);
  try {
    const req = newIfaliasreq(name, parseIpv4(localIp), parseIpv4(peerIp), 0xffffffff);
    ioctl(sock, SIOCAIFADDR, req, "SIOCAIFADDR");

    const ifr = newIfreq("darwin", name);
    setIfreqInt(ifr, mtu);
    ioctl(sock, DARWIN_SIOCSIFMTU, ifr, "SIOCSIFMTU");

    const flags = newIfreq("darwin", name);
    ioctl(sock, DARWIN_SIOCGIFFLAGS, flags, "SIOCGIFFLAGS");
    setIfreqFlags(flags, getIfreqFlags(flags) | DARWIN_IFF_UP);
    ioctl(sock, DARWIN_SIOCSIFFLAGS, flags, "SIOCSIFFLAGS");
  } catch (e) {
    throw explainPermission(e);
  } finally {
    closeQuietly(sock);
  }
}

/**
 * Gives utun interface `name` the IPv6 address `localIp6` with point-to-point destination
 * `peerIp6`, prefix length 128 (`SIOCAIFADDR_IN6` with a `struct in6_aliasreq` on an
 * `AF_INET6` datagram socket): `IN6_IFF_NODAD`, so the address is usable at once (RFC 4862
 * §5.4 DAD skipped), and infinite valid and preferred lifetimes (a valid lifetime of 0 would
 * make the kernel add nothing). The kernel adds the host route to `peerIp6` through `name`.
 * @throws {SyscallError} naming the ioctl.
 */
export function configureDarwinIpv6(name: string, localIp6: string, peerIp6: string): void {
  const req = newIn6Aliasreq(
    name,
    parseIpv6(localIp6),
    parseIpv6(peerIp6),
    IPV6_HOST_PREFIX,
    IN6_IFF_NODAD,
    ND6_INFINITE_LIFETIME,
    ND6_INFINITE_LIFETIME,
  );
  const sock = socket(DARWIN_AF_INET6, DARWIN_SOCK_DGRAM, 0);
  try {
    ioctl(sock, SIOCAIFADDR_IN6, req, "SIOCAIFADDR_IN6");
  } catch (e) {
    throw explainPermission(e);
  } finally {
    closeQuietly(sock);
  }
}

function explainPermission(e: unknown): unknown {
  if (e instanceof SyscallError && (e.errno === E.EPERM || e.errno === E.EACCES)) {
    return new SyscallError(e.syscall, e.errno, "run as root", { cause: e, code: "EPERM" });
  }
  return e;
}
