/**
 * The public stack: `openStack` opens a TUN device (or takes any `Link`) and `TcpStack`
 * drives a `StackCore` (`core.ts`) from it in real time with the device loop, and hands out
 * listeners and connections (`socket.ts`).
 * @module
 */

import { formatIpv4Address, isUnicastAddress, parseIpv4Address } from "./wire/ipv4.ts";
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
  /** TUN interface name; default chosen by the kernel. */
  ifname?: string;
  /** MTU of the TUN interface. Default 1500. */
  mtu?: number;
  /** Use this link instead of opening a TUN device (tests, simulators). */
  link?: Link;
  /** The kernel-side address, when `link` is given. Default: the companion of `tunIp`. */
  peerIp?: string;
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
   * `TraceFile.sink` writes them as JSON lines. Absent: tracing off, at no cost.
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
 * Opens a TCP/IP stack on a new TUN device (or on `opts.link`) and starts its device loop.
 *
 * @example
 * ```ts ignore
 * import { openStack } from "./stack.ts";
 * const stack = await openStack({ tunIp: "10.0.0.1" });
 * for await (const conn of stack.listen({ port: 4444 })) {
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
  if (opts.link) {
    link = opts.link;
    const p = opts.peerIp ? parseIpv4Address(opts.peerIp) : companionAddress(tunIp);
    if (p === null) throw new TypeError(`invalid IPv4 address: ${opts.peerIp}`);
    peer = p;
  } else {
    const { openTun } = await import("../ffi/tun.ts");
    // Offloads (Linux: IFF_VNET_HDR with checksum and TCP segmentation offload) are on by
    // default; a kernel that refuses them gets plain packets.
    const dev = openTun({
      tunIp: tunIpText,
      ifname: opts.ifname,
      mtu,
      offload: opts.offload ?? true,
    });
    link = dev;
    ifname = dev.name;
    peer = companionAddress(tunIp);
  }
  if (opts.faults) link = new FaultyLink(link, opts.faults);
  const connection: ConnectionDefaults = { ...opts.connection };
  if (opts.congestion) connection.congestion = opts.congestion;
  if (opts.mslMs !== undefined) connection.mslMs = opts.mslMs;
  if (opts.noDelay !== undefined) connection.noDelay = opts.noDelay;
  const stack = new TcpStack(link, {
    addr: tunIp,
    peer,
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
  /** The TUN interface name ("" for other links). */
  readonly ifname: string;
  /** MTU of the link; the MSS offered is MTU − 40. */
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
    this.ifname = o.ifname;
    this.mtu = o.mtu;
    const t0 = performance.now();
    this.core = new StackCore({
      addr: o.addr,
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
    const buf = new Uint8Array(frames ? 10 + 40 + 65535 : 65536);
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
   * Listens on `port`; iterate the result for connections. `backlog` bounds the connections
   * that completed their handshake and wait for `accept` (default 128); half-open ones are
   * held apart, and SYN cookies answer when there are too many. The other options apply
   * to every accepted connection.
   * @example
   * ```ts ignore
   * const listener = stack.listen({ port: 4444, noDelay: true });
   * const conn = await listener.accept();
   * ```
   */
  listen(opts: { port: number; backlog?: number } & ConnOptions): TcpListener {
    checkPort(opts.port, false);
    const backlog = opts.backlog ?? 128;
    if (!Number.isInteger(backlog) || backlog < 1 || backlog > 65535) {
      throw new RangeError(`backlog must be an integer from 1 to 65535, got ${backlog}`);
    }
    const l = new TcpListener(this, opts.port, backlog, connOptions(opts));
    this.#listeners.add(l);
    return l;
  }

  /**
   * Connects to `hostname:port` (default host: the kernel-side address). Rejects with
   * `Deno.errors.ConnectionRefused` or `Deno.errors.TimedOut`, or at once with a
   * `TypeError` for an address no connection can go to (broadcast, multicast, loopback).
   * @example
   * ```ts ignore
   * const conn = await stack.connect({ port: 80, keepAlive: { idleMs: 60_000 } });
   * ```
   */
  async connect(
    opts: { hostname?: string; port: number; localPort?: number } & ConnOptions,
  ): Promise<TcpConn> {
    checkPort(opts.port, false);
    const host = opts.hostname ?? this.peerIp;
    const addr = parseIpv4Address(host);
    if (addr === null) throw new TypeError(`invalid IPv4 address: ${host}`);
    if (!isUnicastAddress(addr)) {
      // RFC 9293 MUST-46: an OPEN to a broadcast or multicast address is an error.
      throw new TypeError(`not a unicast address: ${host}`);
    }
    if (this.#closing) throw new Deno.errors.BadResource("stack is closed");
    if (opts.localPort !== undefined) checkPort(opts.localPort, true);
    const h = this.core.connect(addr, opts.port, opts.localPort ?? 0, connOptions(opts));
    const conn = new TcpConn(this, h);
    this.#conns.add(conn);
    await conn._established;
    return conn;
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
