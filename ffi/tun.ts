/**
 * A TUN device as a packet `Link`: non-blocking read and write of raw IPv4 packets, and a
 * wait for readability that runs `poll` off the JS thread on the device fd and a wake-up fd.
 *
 * `openTun` picks the Linux or macOS backend by `Deno.build.os`.
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
  EFD_CLOEXEC,
  EFD_NONBLOCK,
  O_NONBLOCK,
  type OpenedTun,
  openLinuxTun,
  type TunOpenOptions,
} from "./linux.ts";
import {
  DARWIN_O_NONBLOCK,
  F_GETFL,
  F_SETFD,
  F_SETFL,
  FD_CLOEXEC,
  frameUtun,
  openDarwinTun,
  unframeUtun,
  UTUN_HEADER_SIZE,
} from "./darwin.ts";

export { companionAddress };
export { SyscallError } from "./libc.ts";
export type { OpenedTun, TunOpenOptions };

/**
 * How packets are framed on the fd: `"raw"` (Linux `IFF_NO_PI`: bare IP packets) or `"utun"`
 * (macOS: a 4-byte address-family header before each packet).
 */
export type TunFraming = "raw" | "utun";

/** What a {@linkcode TunDevice} is built from: an open fd (ownership passes) and its facts. */
export interface TunDeviceInit extends OpenedTun {
  /** Packet framing on `fd`; default `"raw"`. */
  framing?: TunFraming;
  /** Wake-up mechanism; default `"eventfd"` where the C library has it (Linux), else `"pipe"`. */
  wakeKind?: "eventfd" | "pipe";
}

/** Most frames read per `read()` call while skipping non-IPv4 utun frames. */
const MAX_SKIPPED_FRAMES = 8;
/** Largest frame: a 64 KiB IP packet plus the utun header. */
const MAX_FRAME = 65535 + UTUN_HEADER_SIZE;
/** Most reads that drain a wake-up pipe in one go. */
const MAX_DRAIN_READS = 64;

const RESOLVED: Promise<void> = Promise.resolve();

/**
 * An open TUN device. It satisfies the `Link` interface of `src/link.ts` structurally.
 *
 * Errors on the hot path are counted, never thrown: `read` returns 0 and `write` drops the
 * packet. Counters: `droppedWrites` (EAGAIN, ENOBUFS, oversized or after close),
 * `writeErrors` and `readErrors` (other errnos, also dropped; the last one in `lastError`),
 * `skippedFrames` (utun frames that were not IPv4).
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
  /** The device file descriptor (closed by `close()`). */
  readonly fd: number;
  /** Packet framing on `fd`. */
  readonly framing: TunFraming;

  /** Packets dropped by `write` because the device could not take them now. */
  droppedWrites = 0;
  /** Packets dropped by `write` for another errno (see `lastError`). */
  writeErrors = 0;
  /** `read` calls that failed with an errno other than EAGAIN/EINTR (see `lastError`). */
  readErrors = 0;
  /** Frames `read` skipped because they were not IPv4 (utun only). */
  skippedFrames = 0;
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
    this.fd = init.fd;
    this.framing = init.framing ?? "raw";
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
    }
  }

  /** True once `close()` was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Reads one packet into `buf` without blocking (a longer packet is truncated).
   * @returns the packet length, or 0 when none is ready (or on a counted error, or closed).
   */
  read(buf: Uint8Array): number {
    if (this.#closed) return 0;
    if (this.#frameIn === undefined) {
      const n = readFd(this.fd, buf, buf.byteLength);
      return n > 0 ? n : this.#readFailed(n);
    }
    const frame = this.#frameIn;
    for (let i = 0; i < MAX_SKIPPED_FRAMES; i++) {
      const n = readFd(this.fd, frame, frame.byteLength);
      if (n <= 0) return this.#readFailed(n);
      const len = unframeUtun(frame, n, buf);
      if (len > 0) return len;
      this.skippedFrames++;
    }
    return 0;
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
    if (this.#frameOut === undefined) {
      n = writeFd(this.fd, packet, packet.byteLength);
    } else {
      const len = frameUtun(this.#frameOut, packet);
      if (len === 0) {
        this.droppedWrites++;
        return;
      }
      n = writeFd(this.fd, this.#frameOut, len);
    }
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
  /** Interface name (Linux: at most 15 characters; macOS: `utun<N>`); default kernel-chosen. */
  ifname?: string;
  /** Interface MTU, 68-65535; default 1500. */
  mtu?: number;
}

/**
 * Opens and configures a TUN device for the running OS (Linux `/dev/net/tun`, macOS utun):
 * the interface's own address is `companionAddress(tunIp)`, its point-to-point peer is `tunIp`
 * (/32), and it is up. Needs root or CAP_NET_ADMIN, and `--allow-ffi`.
 * @throws {SyscallError} from the failing call (`.code === "EPERM"` without privileges);
 * {@linkcode TypeError}/{@linkcode RangeError} for bad options; Error on other systems.
 * @example
 * ```ts ignore
 * import { openTun } from "./tun.ts";
 * const tun = openTun({ tunIp: "10.0.0.1", mtu: 1500 });
 * const buf = new Uint8Array(tun.mtu);
 * await tun.waitReadable(1000);
 * const n = tun.read(buf); // 0 when nothing is ready
 * console.log(tun.name, tun.localIp, n);
 * tun.close();
 * ```
 */
export function openTun(opts: OpenTunOptions): TunDevice {
  const os = Deno.build.os;
  if (os === "linux") return new TunDevice({ ...openLinuxTun(opts), framing: "raw" });
  if (os === "darwin") return new TunDevice({ ...openDarwinTun(opts), framing: "utun" });
  throw new Error(`tcptun: TUN devices are supported on linux and darwin, not ${os}`);
}
