/**
 * The public stack: `openStack` opens a TUN device (or takes any `Link`) and `TcpStack`
 * drives a `StackCore` (`core.ts`) from it in real time with the device loop, and hands out
 * listeners and connections (`socket.ts`).
 * @module
 */

import { formatIpv4Address, isUnicastAddress, parseIpv4Address } from "./wire/ipv4.ts";
import {
  formatIpv6Address,
  type Ipv6Address,
  isIpv6UnicastAddress,
  parseIpv6Address,
} from "./wire/ipv6_address.ts";
import { IPV6_MIN_MTU } from "./wire/ipv6.ts";
import { VIRTIO_NET_HDR_LENGTH } from "./wire/virtio.ts";
import { State } from "./tcp/connection.ts";
import { setImmediate } from "node:timers";
import type { Link } from "./link.ts";
import { FaultyLink } from "./link.ts";
import type { FaultOptions } from "./fault.ts";
import { TcpConn, TcpListener } from "./socket.ts";
import {
  type ConnectionDefaults,
  StackCore,
  type StackCounters,
  type StackLimits,
  type TraceSink,
} from "./core.ts";
import type { KeepAliveOptions } from "./tcp/connection.ts";

export {
  type ConnectionDefaults,
  ConnHandle,
  type ConnHandler,
  CoreListener,
  type CoreOptions,
  StackCore,
  type StackCounters,
  type StackLimits,
  type TraceSink,
} from "./core.ts";

// ---------------------------------------------------------------------------------------
// The public stack

/** Options of `openStack`. */
export interface StackOptions {
  /** The address the stack owns (the far end of the point-to-point TUN link). Default 10.0.0.1. */
  tunIp?: string;
  /**
   * The IPv6 address the stack owns (RFC 8200), or `false` for IPv4 only.
   *
   * On a TUN device the default is `"fdac:1194:20dc::1"` (a unique local address), best
   * effort: when the system cannot configure IPv6 the stack opens IPv4-only and
   * `TcpStack.ipv6Problem` says why; an address given here must work or `openStack` throws.
   *
   * With `link`, IPv6 is off unless an address is given here (the peer is then `peerIp6`).
   */
  tunIp6?: string | false;
  /**
   * The TUN interface's own, kernel-side IPv6 address (the stack's peer). Default: the
   * companion of `tunIp6` (`fdac:1194:20dc::2`). Ignored with `link` (see `peerIp6`).
   */
  localIp6?: string;
  /** TUN interface name; default chosen by the kernel. */
  ifname?: string;
  /** MTU of the TUN interface. Default 1500. */
  mtu?: number;
  /** Use this link instead of opening a TUN device (tests, simulators). */
  link?: Link;
  /** The kernel-side address, when `link` is given. Default: the companion of `tunIp`. */
  peerIp?: string;
  /**
   * The peer's IPv6 address, when `link` is given with `tunIp6`. Default: the companion of
   * `tunIp6` (see `companionAddress6`).
   */
  peerIp6?: string;
  /** Congestion control for every connection. Default "cubic". */
  congestion?: "cubic" | "newreno";
  /** Maximum segment lifetime in ms; TIME-WAIT lasts twice this. Default 30000. */
  mslMs?: number;
  /** Disable Nagle's algorithm on every connection. */
  noDelay?: boolean;
  /** Other per-connection tunables (buffers, retries, keep-alive, RTO bounds). */
  connection?: ConnectionDefaults;
  /** Called with every IP packet read or written (pcap, segment logs). */
  tap?: (dir: "in" | "out", packet: Uint8Array, nowMs: number, segments: number) => void;
  /** Seeded faults between the device and the stack, per direction. */
  faults?: { inbound?: FaultOptions; outbound?: FaultOptions };
  /** Limits against floods: half-open table, SYN cookies, TIME-WAIT cap, reply rates. */
  limits?: StackLimits;
  /**
   * TUN offloads (Linux): read and write 64 KiB TCP super-segments and leave checksums to the
   * kernel. Default true where the kernel accepts them; false sends plain packets.
   */
  offload?: boolean;
  /**
   * Receives every connection's trace events (docs/trace.md): segments, state transitions
   * with their cause, RTT samples, congestion window, recovery, timeouts, probes, the close.
   * `TraceFile.sink` writes them as JSON lines. Absent: tracing off (one null test per trace
   * site on the hot path; `deno task bench --only trace` measures the rest).
   */
  trace?: TraceSink;
}

/**
 * Per-connection options of `TcpStack.connect` and `TcpStack.listen` (the latter apply to
 * every connection the listener accepts). Unset ones take the stack's defaults.
 */
export interface ConnOptions {
  /** Disable Nagle's algorithm (RFC 9293 §3.7.4, MUST-17). */
  noDelay?: boolean;
  /** Keep-alive probes (RFC 9293 §3.8.4; off by default, MUST-25). */
  keepAlive?: KeepAliveOptions | null;
  /**
   * Give up when sent data stays unacknowledged this long, ms (RFC 9293 MUST-21, RFC 5482).
   * Default: after 15 retransmissions.
   */
  userTimeoutMs?: number;
  /** IP time to live of the connection's segments (MUST-49). Default 64. */
  ttl?: number;
  /** IP Differentiated Services byte of the connection's segments (MUST-48). Default 0. */
  tos?: number;
  /** Receive buffer in bytes: bounds the window the peer sees. Default 1 MiB. */
  recvBufferSize?: number;
  /** Send buffer in bytes: bounds unacknowledged plus unsent data. Default 1 MiB. */
  sendBufferSize?: number;
}

function connOptions(o: ConnOptions): ConnectionDefaults {
  const d: ConnectionDefaults = {};
  if (o.noDelay !== undefined) d.noDelay = o.noDelay;
  if (o.keepAlive !== undefined) d.keepAlive = o.keepAlive;
  if (o.userTimeoutMs !== undefined) {
    d.userTimeoutMs = checkNonNegative("userTimeoutMs", o.userTimeoutMs);
  }
  if (o.ttl !== undefined) d.ttl = checkByte("ttl", o.ttl, 1);
  if (o.tos !== undefined) d.tos = checkByte("tos", o.tos, 0);
  if (o.recvBufferSize !== undefined) {
    d.recvBufferSize = checkBuffer("recvBufferSize", o.recvBufferSize);
  }
  if (o.sendBufferSize !== undefined) {
    d.sendBufferSize = checkBuffer("sendBufferSize", o.sendBufferSize);
  }
  return d;
}

function checkByte(name: string, v: number, min: number): number {
  if (!Number.isInteger(v) || v < min || v > 255) {
    throw new RangeError(`${name} must be an integer from ${min} to 255, got ${v}`);
  }
  return v;
}

function checkNonNegative(name: string, v: number): number {
  if (!Number.isFinite(v) || v < 0) throw new RangeError(`${name} must be ≥ 0, got ${v}`);
  return v;
}

function checkBuffer(name: string, v: number): number {
  if (!Number.isInteger(v) || v < 1024 || v > 1 << 30) {
    throw new RangeError(`${name} must be an integer from 1024 to 2^30, got ${v}`);
  }
  return v;
}

/** The address a point-to-point TUN link gives the kernel: last octet +1, or −1 at .255. */
export function companionAddress(ip: number): number {
  return (ip & 0xff) === 0xff ? (ip - 1) >>> 0 : (ip + 1) >>> 0;
}

/**
 * The IPv6 address a point-to-point TUN link gives the kernel: the last byte plus one, or
 * minus one when it is 0xff (as `companionAddress` does for IPv4).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { companionAddress6 } from "./stack.ts";
 * import { formatIpv6Address, parseIpv6Address } from "./wire/ipv6_address.ts";
 * const peer = companionAddress6(parseIpv6Address("fdac:1194:20dc::1")!);
 * assert.equal(formatIpv6Address(peer), "fdac:1194:20dc::2");
 * ```
 */
export function companionAddress6(ip: Readonly<Ipv6Address>): Ipv6Address {
  const w3 = (ip.w3 & 0xff) === 0xff ? (ip.w3 - 1) >>> 0 : (ip.w3 + 1) >>> 0;
  return { w0: ip.w0, w1: ip.w1, w2: ip.w2, w3 };
}

/**
 * Parses the host of `TcpStack.connect`: an IPv4 address in dotted-quad form (a uint32), or an
 * IPv6 address in any RFC 4291 §2.2 form, bare or in brackets as in a URL (RFC 3986 §3.2.2).
 * Host names are not resolved. Whether the address can be a peer is not judged here.
 * @returns the address, or null when `text` is none of these.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseHostAddress } from "./stack.ts";
 * assert.equal(parseHostAddress("10.0.0.2"), 0x0a000002);
 * assert.deepEqual(parseHostAddress("[fd00::2]"), { w0: 0xfd000000, w1: 0, w2: 0, w3: 2 });
 * assert.equal(parseHostAddress("example.com"), null);
 * ```
 */
export function parseHostAddress(text: string): number | Ipv6Address | null {
  if (text.length > 2 && text.startsWith("[") && text.endsWith("]")) {
    return parseIpv6Address(text.slice(1, -1));
  }
  if (text.includes(":")) return parseIpv6Address(text);
  return parseIpv4Address(text);
}

/** An IPv6 address a stack can own or talk to, or a TypeError naming the option. */
function unicastIpv6(what: string, text: string): Ipv6Address {
  const a = parseIpv6Address(text);
  if (a === null) throw new TypeError(`invalid IPv6 address for ${what}: ${text}`);
  if (!isIpv6UnicastAddress(a)) {
    throw new TypeError(`${what} must be a unicast IPv6 address: ${text}`);
  }
  return a;
}

/**
 * Opens a TCP/IP stack on a new TUN device (or on `opts.link`) and starts its device loop.
 * On a TUN device it speaks IPv4 and, unless `tunIp6: false` or the system cannot set it up
 * (`ipv6Problem`), IPv6.
 *
 * @example
 * ```ts ignore
 * import { openStack } from "./stack.ts";
 * const stack = await openStack({ tunIp: "10.0.0.1" });
 * console.log(stack.tunIp6 ?? `IPv4 only: ${stack.ipv6Problem}`); // fdac:1194:20dc::1
 * for await (const conn of stack.listen({ port: 4444 })) { // both families
 *   conn.readable.pipeTo(conn.writable); // echo
 * }
 * ```
 */
export async function openStack(opts: StackOptions = {}): Promise<TcpStack> {
  const tunIpText = opts.tunIp ?? "10.0.0.1";
  const tunIp = parseIpv4Address(tunIpText);
  if (tunIp === null) throw new TypeError(`invalid IPv4 address: ${tunIpText}`);
  const mtu = opts.mtu ?? 1500;
  if (!Number.isInteger(mtu) || mtu < 576 || mtu > 65535) {
    throw new RangeError(`MTU must be an integer from 576 to 65535, got ${mtu}`);
  }
  let link: Link;
  let ifname = "";
  let peer: number;
  let addr6: Ipv6Address | undefined;
  let peer6: Ipv6Address | undefined;
  let ipv6Problem: string | undefined;
  if (opts.link) {
    link = opts.link;
    const p = opts.peerIp ? parseIpv4Address(opts.peerIp) : companionAddress(tunIp);
    if (p === null) throw new TypeError(`invalid IPv4 address: ${opts.peerIp}`);
    peer = p;
    // IPv6 on a link only when asked for: a test's link may carry IPv4 alone.
    if (typeof opts.tunIp6 === "string") {
      addr6 = unicastIpv6("tunIp6", opts.tunIp6);
      peer6 = opts.peerIp6 !== undefined
        ? unicastIpv6("peerIp6", opts.peerIp6)
        : companionAddress6(addr6);
      // RFC 8200 §5: every link that carries IPv6 has an MTU of 1280 or more.
      if (Math.min(mtu, link.mtu) < IPV6_MIN_MTU) {
        throw new RangeError(`IPv6 needs an MTU of at least ${IPV6_MIN_MTU}, got ${mtu}`);
      }
    }
  } else {
    const { openTun } = await import("../ffi/tun.ts");
    // Offloads (Linux: IFF_VNET_HDR with checksum and TCP segmentation offload) are on by
    // default; a kernel that refuses them gets plain packets.
    const dev = openTun({
      tunIp: tunIpText,
      tunIp6: opts.tunIp6,
      localIp6: opts.localIp6,
      ifname: opts.ifname,
      mtu,
      offload: opts.offload ?? true,
    });
    link = dev;
    ifname = dev.name;
    peer = companionAddress(tunIp);
    // The device says what it configured: the stack owns exactly that.
    if (dev.tunIp6 !== undefined && dev.localIp6 !== undefined) {
      addr6 = parseIpv6Address(dev.tunIp6) ?? undefined;
      peer6 = parseIpv6Address(dev.localIp6) ?? undefined;
    }
    ipv6Problem = dev.ipv6Problem;
  }
  if (opts.faults) link = new FaultyLink(link, opts.faults);
  const connection: ConnectionDefaults = { ...opts.connection };
  if (opts.congestion) connection.congestion = opts.congestion;
  if (opts.mslMs !== undefined) connection.mslMs = opts.mslMs;
  if (opts.noDelay !== undefined) connection.noDelay = opts.noDelay;
  const stack = new TcpStack(link, {
    addr: tunIp,
    peer,
    addr6,
    peer6,
    ipv6Problem,
    ifname,
    mtu: opts.link ? Math.min(mtu, link.mtu) : mtu,
    connection,
    tap: opts.tap,
    limits: opts.limits,
    trace: opts.trace,
  });
  return stack;
}

/** Cap on packets read per wake-up before timers and the event loop get a turn. */
const READ_BATCH = 256;

/** A running TCP/IP stack: a `StackCore` driven by a device loop in real time. */
export class TcpStack {
  /** The address the stack owns, e.g. "10.0.0.1". */
  readonly tunIp: string;
  /** The kernel-side address of the link, e.g. "10.0.0.2". */
  readonly peerIp: string;
  /** The IPv6 address the stack owns, e.g. "fdac:1194:20dc::1"; undefined when IPv6 is off. */
  readonly tunIp6: string | undefined;
  /** The kernel-side IPv6 address, e.g. "fdac:1194:20dc::2"; undefined when IPv6 is off. */
  readonly peerIp6: string | undefined;
  /**
   * Why IPv6, wanted by default on a TUN device, could not be set up (the stack then speaks
   * IPv4 only); undefined when it was, or when it was not wanted.
   */
  readonly ipv6Problem: string | undefined;
  /** The TUN interface name ("" for other links). */
  readonly ifname: string;
  /** MTU of the link; the MSS offered is MTU − 40 over IPv4 and MTU − 60 over IPv6. */
  readonly mtu: number;
  /** @internal The synchronous core (demultiplexing, connections, timers). */
  readonly core: StackCore;
  readonly #link: Link;
  #closing = false;
  #armed = Infinity;
  readonly #loop: Promise<void>;
  readonly #listeners = new Set<TcpListener>();
  readonly #conns = new Set<TcpConn>();
  #loopError: unknown = null;

  /** @internal Use `openStack`. */
  constructor(
    link: Link,
    o: {
      addr: number;
      peer: number;
      addr6?: Ipv6Address;
      peer6?: Ipv6Address;
      ipv6Problem?: string;
      ifname: string;
      mtu: number;
      connection: ConnectionDefaults;
      tap?: StackOptions["tap"];
      limits?: StackLimits;
      trace?: TraceSink;
    },
  ) {
    this.#link = link;
    this.tunIp = formatIpv4Address(o.addr);
    this.peerIp = formatIpv4Address(o.peer);
    this.tunIp6 = o.addr6 ? formatIpv6Address(o.addr6) : undefined;
    this.peerIp6 = o.addr6 && o.peer6 ? formatIpv6Address(o.peer6) : undefined;
    this.ipv6Problem = o.ipv6Problem;
    this.ifname = o.ifname;
    this.mtu = o.mtu;
    const t0 = performance.now();
    this.core = new StackCore({
      addr: o.addr,
      addr6: o.addr6,
      link,
      now: () => performance.now() - t0,
      mtu: o.mtu,
      connection: o.connection,
      tap: o.tap,
      limits: o.limits,
      trace: o.trace,
    });
    this.core.batchedAcks = true;
    this.core.onDeadlineChange = (deadline) => {
      if (deadline < this.#armed) {
        this.#armed = -Infinity;
        this.#link.wake();
      }
    };
    this.#loop = this.#run();
  }

  /** Drop counters and other statistics of the stack. */
  get counters(): StackCounters {
    return this.core.counters;
  }

  /** The device loop (ARCHITECTURE.md "The device loop"). */
  async #run(): Promise<void> {
    const core = this.core;
    const link = this.#link;
    // A frame link hands in a virtio-net header and up to a 64 KiB super-segment per read.
    const frames = !!link.frameOffloads && typeof link.readFrame === "function";
    // Room for a virtio-net header, an IPv6 header and the largest payload it can announce.
    const buf = new Uint8Array(frames ? VIRTIO_NET_HDR_LENGTH + 40 + 65535 : 65536);
    try {
      while (!this.#closing) {
        let count = 0;
        let now = core.now();
        for (; count < READ_BATCH; count++) {
          if (frames) {
            const n = link.readFrame!(buf);
            if (n <= 0) break;
            core.inputFrame(buf, n, now);
          } else {
            const n = link.read(buf);
            if (n <= 0) break;
            core.input(buf, now, n);
          }
          if ((count & 31) === 31) now = core.now();
        }
        now = core.now();
        if (count > 0) core.flushAcks(now);
        core.poll(now);
        const deadline = core.nextDeadline();
        this.#armed = deadline;
        let timeout: number;
        if (count >= READ_BATCH) timeout = 0;
        else if (deadline === Infinity) timeout = -1;
        else timeout = Math.max(0, Math.ceil(deadline - core.now()));
        if (timeout === 0) {
          // Let readers, writers and other I/O run before the next batch. setImmediate is a
          // macrotask like setTimeout(0) but without its millisecond clamp (2 ms measured).
          await new Promise<void>((r) => setImmediate(r));
        } else {
          await link.waitReadable(timeout);
        }
      }
    } catch (e) {
      this.#loopError = e;
      for (const c of this.#conns) c._fail(e);
    }
  }

  /**
   * Listens on `port`; iterate the result for connections. `family` 4 or 6 accepts only
   * that IP version; absent, both (IPv6 when the stack has it; the other family's SYNs are
   * answered with RST, as for a closed port). `backlog` bounds the connections that
   * completed their handshake and wait for `accept` (default 128); half-open ones are held
   * apart, and SYN cookies answer when there are too many. The other options apply to every
   * accepted connection.
   * @throws {TypeError} for `family: 6` on a stack without IPv6.
   * @example
   * ```ts ignore
   * const listener = stack.listen({ port: 4444, noDelay: true });
   * console.log(listener.addrs.map((a) => a.hostname)); // ["10.0.0.1", "fdac:1194:20dc::1"]
   * const conn = await listener.accept();
   * console.log(conn.remoteAddr.hostname); // "10.0.0.2" or "fdac:1194:20dc::2"
   * ```
   */
  listen(opts: { port: number; backlog?: number; family?: 4 | 6 } & ConnOptions): TcpListener {
    checkPort(opts.port, false);
    const backlog = opts.backlog ?? 128;
    if (!Number.isInteger(backlog) || backlog < 1 || backlog > 65535) {
      throw new RangeError(`backlog must be an integer from 1 to 65535, got ${backlog}`);
    }
    const family = opts.family ?? 0;
    if (family !== 0 && family !== 4 && family !== 6) {
      throw new RangeError(`family must be 4 or 6, got ${family}`);
    }
    if (family === 6 && this.tunIp6 === undefined) throw new TypeError(this.#ipv6Off());
    const l = new TcpListener(this, opts.port, backlog, connOptions(opts), family);
    this.#listeners.add(l);
    return l;
  }

  /**
   * Connects to `hostname:port`. `hostname` is an IPv4 or an IPv6 address (bare or in
   * brackets: `"fd00::2"`, `"[fd00::2]"`); default: the kernel-side IPv4 address. Rejects
   * with `Deno.errors.ConnectionRefused` or `Deno.errors.TimedOut`, or at once with a
   * `TypeError` for an address no connection can go to (broadcast, multicast, loopback,
   * IPv4-mapped, or IPv6 on a stack without it).
   * @example
   * ```ts ignore
   * const conn = await stack.connect({ port: 80, keepAlive: { idleMs: 60_000 } });
   * const conn6 = await stack.connect({ hostname: stack.peerIp6, port: 80 });
   * ```
   */
  async connect(
    opts: { hostname?: string; port: number; localPort?: number } & ConnOptions,
  ): Promise<TcpConn> {
    checkPort(opts.port, false);
    const host = opts.hostname ?? this.peerIp;
    const addr = parseHostAddress(host);
    if (addr === null) throw new TypeError(`invalid IP address: ${host}`);
    // RFC 9293 MUST-46: an OPEN to a broadcast or multicast address is an error.
    if (typeof addr === "number" ? !isUnicastAddress(addr) : !isIpv6UnicastAddress(addr)) {
      throw new TypeError(`not a unicast address: ${host}`);
    }
    if (typeof addr !== "number" && this.tunIp6 === undefined) {
      throw new TypeError(`cannot connect to ${host}: ${this.#ipv6Off()}`);
    }
    if (this.#closing) throw new Deno.errors.BadResource("stack is closed");
    if (opts.localPort !== undefined) checkPort(opts.localPort, true);
    const h = this.core.connect(addr, opts.port, opts.localPort ?? 0, connOptions(opts));
    const conn = new TcpConn(this, h);
    this.#conns.add(conn);
    await conn._established;
    return conn;
  }

  #ipv6Off(): string {
    return this.ipv6Problem === undefined
      ? "IPv6 is off on this stack"
      : `IPv6 is off on this stack (${this.ipv6Problem})`;
  }

  /** @internal */
  _track(c: TcpConn): void {
    this.#conns.add(c);
  }

  /** @internal */
  _untrack(c: TcpConn): void {
    this.#conns.delete(c);
  }

  /** @internal */
  _unlisten(l: TcpListener): void {
    this.#listeners.delete(l);
  }

  /**
   * Closes every listener, sends FIN on every connection, waits up to `graceMs` for the
   * teardowns, resets what is left, stops the loop and closes the device.
   */
  async close(graceMs = 2000): Promise<void> {
    if (this.#closing) return await this.#loop;
    for (const l of [...this.#listeners]) l.close();
    // FIN on every connection (a graceful close even with unread data, which a full
    // close() would answer with RST), then a bounded wait for the peers' FINs.
    for (const h of [...this.core.connections()]) {
      const s = h.conn.state;
      if (s === State.SynSent) h.abort(); // nothing to close gracefully yet
      else if (s !== State.TimeWait) h.closeWrite();
    }
    const until = performance.now() + graceMs;
    while (performance.now() < until && this.#busy()) {
      await new Promise((r) => setTimeout(r, 10));
    }
    for (const h of [...this.core.connections()]) {
      if (h.conn.state !== State.TimeWait) h.abort();
    }
    this.#closing = true;
    this.#link.wake();
    await this.#loop;
    for (const c of this.#conns) c._fail(new Deno.errors.BadResource("stack closed"));
    this.#link.close();
    if (this.#loopError) throw this.#loopError;
  }

  #busy(): boolean {
    for (const h of this.core.connections()) {
      const s = h.conn.state;
      if (s !== State.TimeWait && s !== State.Closed) return true;
    }
    return false;
  }
}

function checkPort(port: number, allowZero: boolean): void {
  if (!Number.isInteger(port) || port < (allowZero ? 0 : 1) || port > 65535) {
    throw new RangeError(`port must be an integer from 1 to 65535, got ${port}`);
  }
}
