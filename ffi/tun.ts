/**
 * A TUN device as a packet `Link`: non-blocking read and write of raw IP packets, IPv4 and
 * IPv6 side by side (the version nibble of the first byte tells them apart), and a wait for
 * readability that runs `poll` off the JS thread on the device fd and a wake-up fd.
 *
 * `openTun` picks the Linux or macOS backend by `Deno.build.os`.
 *
 * Two ways to move packets, on every device:
 * - `read(buf)` / `write(packet)` (the `Link` interface): bare IP packets, always complete. On
 *   a Linux device opened with offloads these hide the virtio-net header: `read` completes
 *   partial checksums and cuts TCP super-segments into MSS-sized packets in software (one per
 *   call), `write` sends a zero header (a plain packet).
 * - `readFrame(buf)` / `writeFrame(frame)`: a 10-byte virtio-net header (`src/wire/virtio.ts`),
 *   then the IP packet, in one caller buffer, with no copy on a vnet device. A device without
 *   a vnet header reads into `buf` after 10 bytes of headroom and zeroes them; for writes it
 *   completes a requested checksum and cuts a super-segment in software.
 * Use one pair or the other on a device, not both.
 *
 * Every path carries both families: Linux `IFF_NO_PI` packets and vnet frames (GSO TCPV4 and
 * TCPV6) as they are; macOS utun frames by their `AF_INET`/`AF_INET6` header, which is set on
 * write from the packet's version and stripped on read.
 * @module
 */

import {
  closeQuietly,
  E,
  errnoName,
  eventfd,
  fcntl,
  hasEventfd,
  pipe,
  pointerOf,
  pollNow,
  pollWait,
  readFd,
  writeFd,
} from "./libc.ts";
import {
  clearPollRevents,
  getPollRevents,
  newPollfds,
  POLLERR,
  POLLHUP,
  POLLIN,
  POLLNVAL,
  setPollfd,
} from "./layout.ts";
import {
  companionAddress,
  companionAddress6,
  DEFAULT_TUN_IP6,
  EFD_CLOEXEC,
  EFD_NONBLOCK,
  NO_OFFLOADS,
  O_NONBLOCK,
  type OpenedTun,
  openLinuxTun,
  type TunIpv6Facts,
  type TunOffloads,
  type TunOpenOptions,
} from "./linux.ts";
import {
  completePartialChecksum,
  GsoSplitter,
  VNET_F_NEEDS_CSUM,
  VNET_GSO_NONE,
  VNET_HDR_SIZE,
} from "./vnet.ts";
import {
  DARWIN_AF_INET6,
  DARWIN_O_NONBLOCK,
  F_GETFL,
  F_SETFD,
  F_SETFL,
  FD_CLOEXEC,
  frameUtun,
  openDarwinTun,
  unframeUtun,
  UTUN_HEADER_SIZE,
  utunFamilyKnown,
} from "./darwin.ts";
import { AF_INET } from "./layout.ts";

export { companionAddress, companionAddress6, DEFAULT_TUN_IP6, NO_OFFLOADS };
export { SyscallError } from "./libc.ts";
export type { OpenedTun, TunIpv6Facts, TunOffloads, TunOpenOptions };

/**
 * How packets are framed on the fd: `"raw"` (Linux `IFF_NO_PI`: bare IP packets), `"vnet"`
 * (Linux `IFF_VNET_HDR`: a 10-byte virtio-net header before each packet) or `"utun"` (macOS: a
 * 4-byte address-family header before each packet).
 */
export type TunFraming = "raw" | "vnet" | "utun";

/**
 * A `readFrame` buffer of this size never truncates: the header plus the largest IPv6 packet
 * without jumbograms (40 + 65535 bytes), which also covers any IPv4 packet.
 */
export const MAX_FRAME_LENGTH = VNET_HDR_SIZE + 40 + 65535;

/** What a {@linkcode TunDevice} is built from: an open fd (ownership passes) and its facts. */
export interface TunDeviceInit extends Omit<OpenedTun, "vnetHdr" | "offloads"> {
  /** True when the fd carries a virtio-net header (Linux `IFF_VNET_HDR`); default false. */
  vnetHdr?: boolean;
  /** What the kernel agreed to send (with `vnetHdr`); default none. */
  offloads?: TunOffloads;
  /** Packet framing on `fd`; default `"vnet"` with `vnetHdr`, else `"raw"`. */
  framing?: TunFraming;
  /** Wake-up mechanism; default `"eventfd"` where the C library has it (Linux), else `"pipe"`. */
  wakeKind?: "eventfd" | "pipe";
}

/** Most frames one read call takes while skipping undeliverable ones (unknown utun, bad vnet). */
const MAX_SKIPPED_FRAMES = 8;
/** Largest utun frame: a 64 KiB IP packet plus the utun header. */
const MAX_FRAME = 65535 + UTUN_HEADER_SIZE;
/** Where a utun read lands in a `readFrame` buffer: its 4-byte header ends at the headroom. */
const UTUN_FRAME_AT = VNET_HDR_SIZE - UTUN_HEADER_SIZE;
/** Most reads that drain a wake-up pipe in one go. */
const MAX_DRAIN_READS = 64;

const RESOLVED: Promise<void> = Promise.resolve();

/**
 * An open TUN device. It satisfies the `Link` interface of `src/link.ts` structurally.
 *
 * Errors on the hot path are counted, never thrown: `read` returns 0 and `write` drops the
 * packet. Counters: `droppedWrites` (EAGAIN, ENOBUFS, oversized or after close),
 * `writeErrors` and `readErrors` (other errnos, also dropped; the last one in `lastError`),
 * `skippedFrames` (utun frames neither IPv4 nor IPv6), `vnetErrors` (frames whose virtio-net
 * header could not be honoured: dropped), `softwareSegmented` (super-segments cut here).
 */
export class TunDevice {
  /** The interface name, e.g. `"tun0"` or `"utun4"`. */
  readonly name: string;
  /** The interface MTU: the largest IP packet, in bytes. */
  readonly mtu: number;
  /** The address the stack owns (point-to-point peer of the interface), e.g. `"10.0.0.1"`. */
  readonly tunIp: string;
  /** The interface's own, kernel-owned address (companion of `tunIp`), e.g. `"10.0.0.2"`. */
  readonly localIp: string;
  /**
   * The IPv6 address the stack owns, e.g. `"fdac:1194:20dc::1"` (the kernel routes it into the
   * device), or undefined when the interface has no IPv6 configured (see `ipv6Problem`).
   */
  readonly tunIp6: string | undefined;
  /** The interface's own, kernel-owned IPv6 address, e.g. `"fdac:1194:20dc::2"`, or undefined. */
  readonly localIp6: string | undefined;
  /**
   * Why IPv6, wanted by default, is not configured (the device then carries IPv4 only);
   * undefined when it is, or when it was turned off with `tunIp6: false`.
   */
  readonly ipv6Problem: string | undefined;
  /** The device file descriptor (closed by `close()`). */
  readonly fd: number;
  /** Packet framing on `fd`. */
  readonly framing: TunFraming;
  /** True when `fd` carries a virtio-net header (`framing === "vnet"`). */
  readonly vnetHdr: boolean;
  /**
   * What the kernel agreed to send: partial checksums (`csum`), TCP super-segments (`tso4`,
   * `tso6`); all false without a vnet header. A stack reading frames must then honour
   * NEEDS_CSUM and GSO headers. Writing them needs only `vnetHdr` (and works, in software,
   * without it).
   */
  readonly offloads: TunOffloads;

  /**
   * The offloads, when packets on the fd carry a virtio-net header (the stack then reads and
   * writes frames); null otherwise.
   */
  get frameOffloads(): TunOffloads | null {
    return this.vnetHdr ? this.offloads : null;
  }

  /** Packets dropped by `write` because the device could not take them now. */
  droppedWrites = 0;
  /** Packets dropped by `write` for another errno (see `lastError`). */
  writeErrors = 0;
  /** `read` calls that failed with an errno other than EAGAIN/EINTR (see `lastError`). */
  readErrors = 0;
  /** Frames `read`/`readFrame` skipped because they were neither IPv4 nor IPv6 (utun only). */
  skippedFrames = 0;
  /** Frames dropped because their virtio-net header could not be honoured (read or write). */
  vnetErrors = 0;
  /** TCP super-segments cut into MSS-sized packets here (compat `read`, or `writeFrame`). */
  softwareSegmented = 0;
  /** Symbolic errno of the last counted read or write error, e.g. `"EIO"`. */
  lastError: string | undefined;

  #wakeRead: number;
  #wakeWrite: number;
  #wakeIsEventfd: boolean;
  #wakeMsg: Uint8Array;
  #drainBuf = new Uint8Array(64);
  #pollfds: Uint8Array;
  #pollPtr: Deno.PointerValue;
  #frameIn: Uint8Array | undefined;
  #frameOut: Uint8Array | undefined;
  #readSplit: GsoSplitter | undefined;
  #writeSplit: GsoSplitter | undefined;
  #segmentOut: Uint8Array | undefined;
  #readViewOf: Uint8Array | undefined;
  #readView: Uint8Array = new Uint8Array(0);
  #writeViewOf: Uint8Array | undefined;
  #writeViewAt = 0;
  #writeView: Uint8Array = new Uint8Array(0);
  #pending: Promise<void> | undefined;
  #closed = false;
  #released = false;

  /**
   * Wraps an open, non-blocking device fd and creates its wake-up fd. Use {@linkcode openTun}
   * rather than calling this directly. On failure the fd is closed and the error rethrown.
   */
  constructor(init: TunDeviceInit) {
    this.name = init.name;
    this.mtu = init.mtu;
    this.tunIp = init.tunIp;
    this.localIp = init.localIp;
    this.tunIp6 = init.tunIp6;
    this.localIp6 = init.localIp6;
    this.ipv6Problem = init.ipv6Problem;
    this.fd = init.fd;
    this.framing = init.framing ?? (init.vnetHdr ? "vnet" : "raw");
    this.vnetHdr = this.framing === "vnet";
    this.offloads = { ...(this.vnetHdr ? init.offloads ?? NO_OFFLOADS : NO_OFFLOADS) };
    try {
      const kind = init.wakeKind ?? (hasEventfd() ? "eventfd" : "pipe");
      if (kind === "eventfd") {
        // eventfd(2): one fd, readable while its counter is non-zero; one read resets it.
        const efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        this.#wakeRead = efd;
        this.#wakeWrite = efd;
        this.#wakeIsEventfd = true;
        this.#wakeMsg = new Uint8Array([1, 0, 0, 0, 0, 0, 0, 0]); // u64 1, host order (LE)
      } else {
        const [r, w] = pipe();
        this.#wakeRead = r;
        this.#wakeWrite = w;
        this.#wakeIsEventfd = false;
        this.#wakeMsg = new Uint8Array([1]);
        try {
          const nonblock = Deno.build.os === "darwin" ? DARWIN_O_NONBLOCK : O_NONBLOCK;
          for (const fd of [r, w]) {
            fcntl(fd, F_SETFD, FD_CLOEXEC, "fcntl(F_SETFD)");
            fcntl(
              fd,
              F_SETFL,
              fcntl(fd, F_GETFL, 0, "fcntl(F_GETFL)") | nonblock,
              "fcntl(F_SETFL)",
            );
          }
        } catch (e) {
          closeQuietly(r);
          closeQuietly(w);
          throw e;
        }
      }
    } catch (e) {
      closeQuietly(init.fd);
      throw e;
    }
    this.#pollfds = newPollfds(2);
    setPollfd(this.#pollfds, 0, this.fd, POLLIN);
    setPollfd(this.#pollfds, 1, this.#wakeRead, POLLIN);
    this.#pollPtr = pointerOf(this.#pollfds);
    if (this.framing === "utun") {
      this.#frameIn = new Uint8Array(MAX_FRAME);
      this.#frameOut = new Uint8Array(MAX_FRAME);
    } else if (this.framing === "vnet") {
      this.#frameIn = new Uint8Array(MAX_FRAME_LENGTH);
      this.#frameOut = new Uint8Array(MAX_FRAME_LENGTH); // its header stays zero: plain packets
      this.#readSplit = new GsoSplitter();
    }
  }

  /** True once `close()` was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Reads one packet into `buf` without blocking (a longer packet is truncated).
   *
   * On a vnet device the header is consumed here: a partial checksum (NEEDS_CSUM) is completed,
   * and a TCP super-segment is cut into MSS-sized packets with complete checksums, returned one
   * per call (later calls return the rest before reading the fd again; `waitReadable` resolves
   * at once meanwhile). Frames it cannot honour (another GSO type, a malformed header) are
   * dropped and counted in `vnetErrors`. Each packet is copied once, from the device's frame
   * buffer into `buf`: `readFrame` avoids that copy.
   * @returns the packet length, or 0 when none is ready (or on a counted error, or closed).
   */
  read(buf: Uint8Array): number {
    if (this.#closed) return 0;
    if (this.framing === "raw") {
      const n = readFd(this.fd, buf, buf.byteLength);
      return n > 0 ? n : this.#readFailed(n);
    }
    if (this.framing === "vnet") return this.#readVnet(buf);
    const frame = this.#frameIn!;
    for (let i = 0; i < MAX_SKIPPED_FRAMES; i++) {
      const n = readFd(this.fd, frame, frame.byteLength);
      if (n <= 0) return this.#readFailed(n);
      const len = unframeUtun(frame, n, buf);
      if (len > 0) return len;
      this.skippedFrames++;
    }
    return 0;
  }

  #readVnet(buf: Uint8Array): number {
    const frame = this.#frameIn!;
    const split = this.#readSplit!;
    for (let i = 0; i < MAX_SKIPPED_FRAMES; i++) {
      if (split.remaining > 0) {
        const len = split.next(buf, 0);
        if (len > 0) return len;
        this.vnetErrors++; // `buf` cannot hold the segment
        continue;
      }
      const n = readFd(this.fd, frame, frame.byteLength);
      if (n <= 0) return this.#readFailed(n);
      const len = n - VNET_HDR_SIZE;
      if (len <= 0) {
        this.vnetErrors++;
        continue;
      }
      if (frame[1] === VNET_GSO_NONE) {
        if (
          (frame[0] & VNET_F_NEEDS_CSUM) !== 0 &&
          !completePartialChecksum(frame, VNET_HDR_SIZE, len)
        ) {
          this.vnetErrors++;
          continue;
        }
        const copied = Math.min(len, buf.byteLength);
        buf.set(frame.subarray(VNET_HDR_SIZE, VNET_HDR_SIZE + copied));
        return copied;
      }
      if (split.begin(frame, VNET_HDR_SIZE, len)) this.softwareSegmented++;
      else this.vnetErrors++;
    }
    return 0;
  }

  /**
   * Reads one frame into `buf` without blocking: a 10-byte virtio-net header at `buf[0..10)`
   * (parse it with `parseVirtioNetHdr` of `src/wire/virtio.ts`), then the IP packet. On a vnet
   * device this is one `read(2)` straight into `buf`, headers and super-segments as the kernel
   * sent them (size `buf` to {@linkcode MAX_FRAME_LENGTH} when `offloads.tso4`/`tso6`, or
   * super-segments are truncated). Other devices read the packet after the headroom and zero
   * the header (utun frames neither IPv4 nor IPv6 are skipped).
   * @returns the frame length (header included), or 0 when none is ready (or on a counted
   * error, or closed).
   * @example
   * ```ts ignore
   * import { MAX_FRAME_LENGTH, openTun } from "./tun.ts";
   * import { newVirtioNetHdr, parseVirtioNetHdr, VirtioParseError } from "../src/wire/virtio.ts";
   * const tun = openTun({ tunIp: "10.0.0.1", offload: true });
   * const buf = new Uint8Array(MAX_FRAME_LENGTH);
   * const hdr = newVirtioNetHdr();
   * const n = tun.readFrame(buf);
   * if (n > 0 && parseVirtioNetHdr(buf, n, hdr) === VirtioParseError.None) {
   *   const packet = buf.subarray(10, n); // one IP packet, maybe a super-segment
   * }
   * ```
   */
  readFrame(buf: Uint8Array): number {
    if (this.#closed || buf.byteLength <= VNET_HDR_SIZE) return 0;
    if (this.framing === "vnet") {
      const n = readFd(this.fd, buf, buf.byteLength);
      return n > 0 ? n : this.#readFailed(n);
    }
    const at = this.framing === "utun" ? UTUN_FRAME_AT : VNET_HDR_SIZE;
    const view = this.#readViewAt(buf, at);
    for (let i = 0; i < MAX_SKIPPED_FRAMES; i++) {
      const n = readFd(this.fd, view, view.byteLength);
      if (n <= 0) return this.#readFailed(n);
      if (at === UTUN_FRAME_AT && (n <= UTUN_HEADER_SIZE || !utunFamilyKnown(view))) {
        this.skippedFrames++;
        continue;
      }
      buf.fill(0, 0, VNET_HDR_SIZE);
      return at + n;
    }
    return 0;
  }

  /** `buf.subarray(at)`, from a one-entry cache (the caller reuses one receive buffer). */
  #readViewAt(buf: Uint8Array, at: number): Uint8Array {
    if (this.#readViewOf !== buf) {
      this.#readViewOf = buf;
      this.#readView = buf.subarray(at);
    }
    return this.#readView;
  }

  /** `frame.subarray(at)`, from a one-entry cache (the caller reuses one transmit buffer). */
  #writeViewFrom(frame: Uint8Array, at: number): Uint8Array {
    if (this.#writeViewOf !== frame || this.#writeViewAt !== at) {
      this.#writeViewOf = frame;
      this.#writeViewAt = at;
      this.#writeView = frame.subarray(at);
    }
    return this.#writeView;
  }

  #readFailed(n: number): number {
    if (n < 0) {
      const err = -n;
      if (err !== E.EAGAIN && err !== E.EINTR) {
        this.readErrors++;
        this.lastError = errnoName(err);
      }
    }
    return 0;
  }

  /**
   * Sends one IP packet without blocking. A packet the device cannot take now (EAGAIN,
   * ENOBUFS) is dropped and counted in `droppedWrites`; other errors count in `writeErrors`.
   * Never throws.
   */
  write(packet: Uint8Array): void {
    if (this.#closed) {
      this.droppedWrites++;
      return;
    }
    let n: number;
    if (this.framing === "raw") {
      n = writeFd(this.fd, packet, packet.byteLength);
    } else if (this.framing === "vnet") {
      // A zero virtio-net header (kept zero in #frameOut) in front: a plain, complete packet.
      const frame = this.#frameOut!;
      const len = packet.byteLength;
      if (len === 0 || len + VNET_HDR_SIZE > frame.byteLength) {
        this.droppedWrites++;
        return;
      }
      frame.set(packet, VNET_HDR_SIZE);
      n = writeFd(this.fd, frame, len + VNET_HDR_SIZE);
    } else {
      const len = frameUtun(this.#frameOut!, packet);
      if (len === 0) {
        this.droppedWrites++;
        return;
      }
      n = writeFd(this.fd, this.#frameOut!, len);
    }
    this.#wrote(n);
  }

  /**
   * Sends one frame without blocking: `frame[0..10)` is a virtio-net header (write it with
   * `emitVirtioNetHdr`/`prepareTcpOffload` of `src/wire/virtio.ts`), `frame[10..length)` the IP
   * packet. On a vnet device this is one `write(2)` of the caller's buffer: the kernel completes
   * a NEEDS_CSUM checksum and cuts a GSO TCPV4/TCPV6 super-segment. Without a vnet header the
   * device does both in software (the checksum in place in `frame`; segments through a scratch
   * buffer, one `write(2)` each); utun overwrites `frame[6..10)` with its own header. A header
   * that cannot be honoured drops the frame (`vnetErrors`). Never throws.
   * @param length bytes of `frame` to send, header included; default all of it.
   * @example
   * ```ts ignore
   * import { openTun } from "./tun.ts";
   * import { emitVirtioNetHdr, newVirtioNetHdr } from "../src/wire/virtio.ts";
   * const tun = openTun({ tunIp: "10.0.0.1", offload: true });
   * const out = new Uint8Array(10 + 1500);
   * const packetLength = 28; // ... an IP packet emitted at out[10..)
   * emitVirtioNetHdr(out, newVirtioNetHdr()); // no offload: a plain packet
   * tun.writeFrame(out, 10 + packetLength);
   * ```
   */
  writeFrame(frame: Uint8Array, length: number = frame.byteLength): void {
    if (this.#closed) {
      this.droppedWrites++;
      return;
    }
    if (length <= VNET_HDR_SIZE || length > frame.byteLength) {
      this.vnetErrors++;
      return;
    }
    if (this.framing === "vnet") {
      this.#wrote(writeFd(this.fd, frame, length));
      return;
    }
    const utun = this.framing === "utun";
    if (frame[1] !== VNET_GSO_NONE) {
      const split = this.#writeSplit ??= new GsoSplitter();
      if (!split.begin(frame, VNET_HDR_SIZE, length - VNET_HDR_SIZE)) {
        this.vnetErrors++;
        return;
      }
      this.softwareSegmented++;
      const out = this.#segmentOut ??= new Uint8Array(MAX_FRAME_LENGTH);
      const at = utun ? UTUN_HEADER_SIZE : 0;
      for (let n = split.next(out, at); n !== 0; n = split.next(out, at)) {
        if (n < 0) {
          this.vnetErrors++;
          continue;
        }
        if (utun) setUtunHeader(out, 0);
        this.#wrote(writeFd(this.fd, out, at + n));
      }
      return;
    }
    if (
      (frame[0] & VNET_F_NEEDS_CSUM) !== 0 &&
      !completePartialChecksum(frame, VNET_HDR_SIZE, length - VNET_HDR_SIZE)
    ) {
      this.vnetErrors++;
      return;
    }
    const at = utun ? UTUN_FRAME_AT : VNET_HDR_SIZE;
    if (utun) setUtunHeader(frame, at);
    this.#wrote(writeFd(this.fd, this.#writeViewFrom(frame, at), length - at));
  }

  /** Counts the outcome of one write(2): dropped when the device is busy, else an error. */
  #wrote(n: number): void {
    if (n >= 0) return;
    const err = -n;
    if (err === E.EAGAIN || err === E.ENOBUFS || err === E.EINTR) {
      this.droppedWrites++;
    } else {
      this.writeErrors++;
      this.lastError = errnoName(err);
    }
  }

  /**
   * Resolves when a packet may be readable, when `timeoutMs` has passed, or when `wake()` or
   * `close()` was called; whichever is first. A negative timeout waits without limit; 0 only
   * checks. Spurious early resolution is possible: callers read until `read` returns 0.
   * Concurrent callers share the wait already in progress.
   */
  waitReadable(timeoutMs: number): Promise<void> {
    if (this.#closed) return RESOLVED;
    if (this.#readSplit !== undefined && this.#readSplit.remaining > 0) return RESOLVED;
    if (this.#pending !== undefined) return this.#pending;
    clearPollRevents(this.#pollfds, 0);
    clearPollRevents(this.#pollfds, 1);
    if (timeoutMs === 0) {
      pollNow(this.#pollfds, 2);
      this.#afterPoll();
      return RESOLVED;
    }
    this.#pending = this.#wait(timeoutMs);
    return this.#pending;
  }

  async #wait(timeoutMs: number): Promise<void> {
    try {
      // A negative result is "look again" (EINTR included); errno is not readable here.
      await pollWait(this.#pollPtr, 2, timeoutMs);
    } finally {
      this.#pending = undefined;
      if (this.#closed) this.#release(); // the poll no longer uses the fds: now close them
      else this.#afterPoll();
    }
  }

  /** Drains the wake-up fd when the poll saw it readable. */
  #afterPoll(): void {
    if ((getPollRevents(this.#pollfds, 1) & (POLLIN | POLLERR | POLLHUP | POLLNVAL)) === 0) {
      return;
    }
    if (this.#wakeIsEventfd) {
      readFd(this.#wakeRead, this.#drainBuf, 8); // one read resets the eventfd counter
      return;
    }
    const size = this.#drainBuf.byteLength;
    for (let i = 0; i < MAX_DRAIN_READS; i++) {
      if (readFd(this.#wakeRead, this.#drainBuf, size) < size) return;
    }
  }

  /** Makes a pending or the next `waitReadable` resolve at once. */
  wake(): void {
    if (this.#released) return;
    // EAGAIN means the wake-up fd is already readable: nothing more to do.
    writeFd(this.#wakeWrite, this.#wakeMsg, this.#wakeMsg.byteLength);
  }

  /**
   * Closes the device; the interface disappears. A pending `waitReadable` resolves (the wake-up
   * fd is signalled first; the fds are closed only after the poll thread has returned).
   * Further reads return 0, writes are dropped, waits resolve at once.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#pending !== undefined) this.wake();
    else this.#release();
  }

  /** Same as `close()`, for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }

  #release(): void {
    if (this.#released) return;
    this.#released = true;
    closeQuietly(this.fd);
    closeQuietly(this.#wakeRead);
    if (this.#wakeWrite !== this.#wakeRead) closeQuietly(this.#wakeWrite);
  }
}

/** Options of {@linkcode openTun}. */
export interface OpenTunOptions {
  /** The address the stack owns, e.g. `"10.0.0.1"`; the interface gets its companion. */
  tunIp: string;
  /**
   * The IPv6 address the stack owns; the interface gets `localIp6` (/128) and the kernel a
   * host route to this address through it. Default `"fdac:1194:20dc::1"`
   * ({@linkcode DEFAULT_TUN_IP6}, a unique local address), best effort: if IPv6 cannot be set
   * up (no IPv6 in the kernel, IPv6 disabled on the interface and /proc/sys not writable, MTU
   * below 1280, the pair already in use in the namespace, e.g. by another device opened with
   * the defaults) the device opens IPv4-only and `ipv6Problem` says why. Given explicitly, such
   * a failure throws. `false`: IPv4 only (on Linux IPv6 is then disabled on the interface, so
   * the kernel sends none into it).
   */
  tunIp6?: string | false;
  /** The interface's own IPv6 address; default the companion of `tunIp6` (`...::2`). */
  localIp6?: string;
  /** Interface name (Linux: at most 15 characters; macOS: `utun<N>`); default kernel-chosen. */
  ifname?: string;
  /** Interface MTU, 68-65535; default 1500. */
  mtu?: number;
  /**
   * Linux: attach with a virtio-net header and ask for checksum and TCP segmentation offloads
   * (see `vnetHdr` and `offloads` of the device for what was obtained); default false.
   * Ignored on macOS (utun has no such header).
   */
  offload?: boolean;
}

/**
 * Opens and configures a TUN device for the running OS (Linux `/dev/net/tun`, macOS utun):
 * the interface's own address is `companionAddress(tunIp)`, its point-to-point peer is `tunIp`
 * (/32), and it is up. IPv6 too, unless `tunIp6: false`: the interface gets `localIp6`
 * (default `fdac:1194:20dc::2`) /128 and the kernel a host route to `tunIp6` (default
 * `fdac:1194:20dc::1`) through it; the device reports what was set in `tunIp6`/`localIp6`, or
 * why not in `ipv6Problem`.
 * Needs root or CAP_NET_ADMIN, and `--allow-ffi` (Linux: root also to write the interface's
 * IPv6 sysctls under /proc/sys, see `prepareLinuxIpv6` in `linux.ts`).
 * @throws {SyscallError} from the failing call (`.code === "EPERM"` without privileges);
 * {@linkcode TypeError}/{@linkcode RangeError} for bad options; Error on other systems.
 * @example
 * ```ts ignore
 * import { openTun } from "./tun.ts";
 * const tun = openTun({ tunIp: "10.0.0.1", mtu: 1500 });
 * const buf = new Uint8Array(tun.mtu);
 * await tun.waitReadable(1000);
 * const n = tun.read(buf); // 0 when nothing is ready
 * const version = n > 0 ? buf[0] >> 4 : 0; // 4 or 6
 * console.log(tun.name, tun.localIp, tun.localIp6 ?? tun.ipv6Problem, n, version);
 * tun.close();
 * ```
 */
export function openTun(opts: OpenTunOptions): TunDevice {
  const os = Deno.build.os;
  if (os === "linux") return new TunDevice(openLinuxTun(opts));
  if (os === "darwin") return new TunDevice({ ...openDarwinTun(opts), framing: "utun" });
  throw new Error(`tcptun: TUN devices are supported on linux and darwin, not ${os}`);
}

/** Writes the 4-byte utun header for the IP packet at `frame[at + 4..)`. */
function setUtunHeader(frame: Uint8Array, at: number): void {
  frame[at] = 0;
  frame[at + 1] = 0;
  frame[at + 2] = 0;
  frame[at + 3] = (frame[at + UTUN_HEADER_SIZE] >> 4) === 6 ? DARWIN_AF_INET6 : AF_INET;
}
