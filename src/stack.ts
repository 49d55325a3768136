/**
 * The stack: demultiplexing, listeners, timers, RST for closed ports, ICMP echo, and the
 * device loop that joins them to a `Link` (a TUN device or an in-memory link).
 *
 * `StackCore` is synchronous and clock-free: it is handed packets and the time, and writes
 * packets to its link. `TcpStack` drives a core from a real link in real time and offers
 * the public API (`listen`, `connect`, `close`).
 * @module
 */

import {
  emitIcmpEchoReply,
  ICMP_ECHO_REQUEST,
  IcmpParseError,
  newIcmpMessage,
  parseIcmp,
} from "./wire/icmp.ts";
import {
  emitIpv4,
  formatIpv4Address,
  IPPROTO_ICMP,
  IPPROTO_TCP,
  type Ipv4EmitFields,
  Ipv4ParseError,
  newIpv4Header,
  parseIpv4,
  parseIpv4Address,
} from "./wire/ipv4.ts";
import {
  ACK,
  emitTcp,
  newTcpSegment,
  parseTcp,
  RST,
  SYN,
  TcpParseError,
  type TcpSegment,
} from "./wire/tcp.ts";
import {
  type ConnectionOptions,
  type ConnError,
  type ConnEvent,
  type ConnStats,
  type KeepAliveOptions,
  resetFor,
  State,
  TcpConnection,
} from "./tcp/connection.ts";
import { IsnGenerator } from "./tcp/isn.ts";
import { seqGt } from "./tcp/seq.ts";
import { setImmediate } from "node:timers";
import type { Link } from "./link.ts";
import { FaultyLink } from "./link.ts";
import type { FaultOptions } from "./fault.ts";
import { TcpConn, TcpListener } from "./socket.ts";

/** Connection tunables a stack applies to every connection (see `ConnectionOptions`). */
export type ConnectionDefaults = Partial<Omit<ConnectionOptions, "mss">>;

/** Options of a `StackCore`. */
export interface CoreOptions {
  /** The IPv4 address this stack owns, as a uint32. */
  addr: number;
  /** Where packets go. */
  link: Link;
  /** The current time in ms (a fake clock in tests). */
  now: () => number;
  /** MTU of the link; the MSS we advertise is MTU − 40. Default `link.mtu`. */
  mtu?: number;
  /** Defaults for every connection. */
  connection?: ConnectionDefaults;
  /** 16 secret bytes for RFC 6528 ISNs. Default: from `crypto.getRandomValues`. */
  isnKey?: Uint8Array;
  /** A source of uint32 randomness (ephemeral ports, timestamp offsets). Default: crypto. */
  random?: () => number;
  /** Called with every IP packet read or written. */
  tap?: (dir: "in" | "out", packet: Uint8Array, nowMs: number) => void;
}

/** Why packets were dropped, and other counters of a stack. */
export interface StackCounters {
  /** IP packets read from the link. */
  packetsIn: number;
  /** IP packets written to the link. */
  packetsOut: number;
  /** Packets that are not IPv4 (IPv6 router solicitations on a fresh TUN, for example). */
  notIpv4: number;
  /** IPv4 header rejected (bad length or checksum). */
  badIp: number;
  /** IPv4 fragments (not reassembled). */
  fragments: number;
  /** Packets to an address that is not ours. */
  notForUs: number;
  /** Protocols other than TCP and ICMP. */
  otherProtocol: number;
  /** TCP header rejected (length, offset, options). */
  badTcp: number;
  /** TCP checksum mismatch. */
  badTcpChecksum: number;
  /** ICMP rejected or not an echo request. */
  icmpIgnored: number;
  /** Echo replies sent (RFC 1122 §3.2.2.6). */
  icmpEchoReplies: number;
  /** RSTs sent for segments that reached no connection. */
  resetsSent: number;
  /** SYNs dropped because a listener's backlog was full. */
  backlogDrops: number;
  /** Connections created (active and passive). */
  connectionsOpened: number;
  /** Connections removed after reaching CLOSED. */
  connectionsClosed: number;
}

/** What a connection handle reports to its user (the socket layer, or a test). */
export interface ConnHandler {
  /** In-order bytes arrived: `ConnHandle.read` returns them. */
  readable(): void;
  /** A state event; `error` set for "error". */
  event(ev: ConnEvent, error?: ConnError): void;
}

/**
 * A connection as the application sees it inside the core: bytes in, bytes out. Each call
 * runs the state machine at the core's current time and flushes what it produces.
 */
export class ConnHandle {
  readonly conn: TcpConnection;
  readonly #core: StackCore;
  /** Receives data and events; replaceable (the socket layer attaches on accept). */
  handler: ConnHandler | null = null;
  /** Events reported before a handler was attached (data simply waits in the buffer). */
  #earlyEvents: [ConnEvent, ConnError | undefined][] = [];
  /** Set once the application has taken this connection from its listener. */
  accepted = false;
  listener: CoreListener | null = null;

  /** @internal */
  constructor(core: StackCore, conn: TcpConnection) {
    this.#core = core;
    this.conn = conn;
  }

  /** Attaches the receiver of data and events, replaying anything that came before. */
  attach(handler: ConnHandler): void {
    this.handler = handler;
    const events = this.#earlyEvents;
    this.#earlyEvents = [];
    if (this.conn.rcvQueued > 0) handler.readable();
    for (const [ev, err] of events) handler.event(ev, err);
  }

  /** @internal */
  dispatchReadable(): void {
    this.handler?.readable();
  }

  /** @internal */
  dispatchEvent(ev: ConnEvent, err?: ConnError): void {
    if (this.handler) this.handler.event(ev, err);
    else this.#earlyEvents.push([ev, err]);
  }

  /**
   * The application takes this connection from its listener's accept queue: it stops
   * counting against the backlog.
   */
  take(): void {
    if (this.accepted) return;
    this.accepted = true;
    if (this.listener) this.listener.pending--;
  }

  /**
   * Queues bytes to send; returns how many the send buffer took. `urgent` marks them as
   * urgent data (RFC 9293 §3.8.5).
   */
  write(bytes: Uint8Array, urgent = false): number {
    const n = this.conn.send(bytes, this.#core.now(), urgent);
    this.#core.afterCall(this);
    return n;
  }

  /** Copies received bytes into `into` (freeing buffer space); returns how many. */
  read(into: Uint8Array): number {
    const n = this.conn.read(into, this.#core.now());
    if (n > 0) this.#core.afterCall(this);
    return n;
  }

  /** The application reads nothing more: held and future input is acknowledged and dropped. */
  discardInput(): void {
    this.conn.discardInput(this.#core.now());
    this.#core.afterCall(this);
  }

  /** Turns keep-alive on (with these settings) or off (`null`). */
  setKeepAlive(ka: KeepAliveOptions | null): void {
    this.conn.setKeepAlive(ka, this.#core.now());
    this.#core.afterCall(this);
  }

  /** Sends FIN after the queued data. */
  closeWrite(): void {
    this.conn.closeWrite(this.#core.now());
    this.#core.afterCall(this);
  }

  /** Full close: FIN, and nothing more is read. */
  close(): void {
    this.conn.close(this.#core.now());
    this.#core.afterCall(this);
  }

  /** Resets the connection. */
  abort(): void {
    this.conn.abort(this.#core.now());
    this.#core.afterCall(this);
  }

  /** Counters of the connection. */
  stats(): ConnStats {
    return this.conn.stats();
  }
}

/** A listening port inside the core (the LISTEN state, RFC 9293 §3.10.7.2). */
export class CoreListener {
  readonly port: number;
  readonly backlog: number;
  /**
   * Connections counted against the backlog: in SYN-RECEIVED, or established and not yet
   * taken by the application (`ConnHandle.take`), as Linux bounds its accept queue.
   */
  pending = 0;
  closed = false;
  /**
   * Called when a connection completes its handshake. It counts against the backlog until
   * the application calls `take()` on it.
   */
  onConnection: (h: ConnHandle) => void;

  /** @internal */
  constructor(port: number, backlog: number, onConnection: (h: ConnHandle) => void) {
    this.port = port;
    this.backlog = backlog;
    this.onConnection = onConnection;
  }
}

/** The synchronous heart of a stack. */
export class StackCore {
  readonly addr: number;
  readonly mtu: number;
  readonly link: Link;
  readonly now: () => number;
  readonly counters: StackCounters = {
    packetsIn: 0,
    packetsOut: 0,
    notIpv4: 0,
    badIp: 0,
    fragments: 0,
    notForUs: 0,
    otherProtocol: 0,
    badTcp: 0,
    badTcpChecksum: 0,
    icmpIgnored: 0,
    icmpEchoReplies: 0,
    resetsSent: 0,
    backlogDrops: 0,
    connectionsOpened: 0,
    connectionsClosed: 0,
  };
  /**
   * Called after an application call with that connection's next deadline, which may be
   * earlier than the one the device loop sleeps until.
   */
  onDeadlineChange: ((deadline: number) => void) | null = null;

  readonly #defaults: ConnectionDefaults;
  readonly #isn: IsnGenerator;
  readonly #random: () => number;
  readonly #tap: CoreOptions["tap"];
  /** remotePort<<16 | localPort → remoteAddr → handle. */
  readonly #conns = new Map<number, Map<number, ConnHandle>>();
  /** Connections not in TIME-WAIT: scanned for due timers on every wake-up. */
  readonly #active = new Set<ConnHandle>();
  /**
   * Connections in TIME-WAIT with their deadlines, in the order they entered it (or last
   * restarted it): every one waits the same 2·MSL, so the first is the next to expire and a
   * wake-up touches only the expired ones, however many a busy server holds.
   */
  readonly #timeWait = new Map<ConnHandle, number>();
  readonly #listeners = new Map<number, CoreListener>();
  readonly #ip = newIpv4Header();
  readonly #seg = newTcpSegment();
  readonly #rst = newTcpSegment();
  readonly #icmp = newIcmpMessage();
  readonly #outBuf: Uint8Array;
  readonly #ipFields: Ipv4EmitFields = {
    src: 0,
    dst: 0,
    protocol: IPPROTO_TCP,
    ttl: 64,
    id: 0,
    payloadLength: 0,
  };
  #ipId = 0;

  /** Creates a core; see `CoreOptions`. */
  constructor(opts: CoreOptions) {
    this.addr = opts.addr >>> 0;
    this.link = opts.link;
    this.now = opts.now;
    this.mtu = opts.mtu ?? opts.link.mtu;
    this.#defaults = opts.connection ?? {};
    this.#tap = opts.tap;
    this.#random = opts.random ?? (() => crypto.getRandomValues(new Uint32Array(1))[0]);
    this.#isn = new IsnGenerator(opts.isnKey ?? crypto.getRandomValues(new Uint8Array(16)));
    this.#outBuf = new Uint8Array(Math.max(this.mtu, 576) + 64);
    this.#ipId = this.#random() & 0xffff;
  }

  /** Number of connections the core holds (TIME-WAIT included). */
  get connectionCount(): number {
    return this.#active.size + this.#timeWait.size;
  }

  /** All connection handles. */
  *connections(): IterableIterator<ConnHandle> {
    yield* this.#active;
    yield* this.#timeWait.keys();
  }

  // -------------------------------------------------------------------------------------
  // Packets in

  /** Processes one IP packet read from the link. Never throws on bad input. */
  input(packet: Uint8Array, now: number): void {
    this.counters.packetsIn++;
    if (this.#tap) this.#tap("in", packet, now);
    const ip = this.#ip;
    const err = parseIpv4(packet, packet.length, ip);
    if (err !== Ipv4ParseError.None) {
      if (err === Ipv4ParseError.Fragment) this.counters.fragments++;
      else if (err === Ipv4ParseError.BadVersion) this.counters.notIpv4++;
      else this.counters.badIp++;
      return;
    }
    if (ip.dst !== this.addr) {
      this.counters.notForUs++;
      return;
    }
    const body = packet.subarray(ip.ihl, ip.totalLength);
    if (ip.protocol === IPPROTO_TCP) this.#inputTcp(body, ip.src, now);
    else if (ip.protocol === IPPROTO_ICMP) this.#inputIcmp(body, ip.src, now);
    else this.counters.otherProtocol++;
  }

  #inputIcmp(body: Uint8Array, src: number, now: number): void {
    const m = this.#icmp;
    if (parseIcmp(body, m) !== IcmpParseError.None || m.type !== ICMP_ECHO_REQUEST) {
      this.counters.icmpIgnored++;
      return;
    }
    // RFC 1122 §3.2.2.6: answer echo requests.
    const out = this.#outBuf;
    if (20 + body.length > out.length) {
      this.counters.icmpIgnored++;
      return;
    }
    const n = emitIcmpEchoReply(m, out.subarray(20));
    this.counters.icmpEchoReplies++;
    this.#sendIp(src, IPPROTO_ICMP, n, now);
  }

  #inputTcp(body: Uint8Array, src: number, now: number): void {
    const seg = this.#seg;
    const err = parseTcp(body, src, this.addr, seg);
    if (err !== TcpParseError.None) {
      if (err === TcpParseError.BadChecksum) this.counters.badTcpChecksum++;
      else this.counters.badTcp++;
      return;
    }
    let h = this.#lookup(src, seg.srcPort, seg.dstPort);
    if (h && h.conn.state === State.TimeWait && (seg.flags & (SYN | ACK | RST)) === SYN) {
      // RFC 9293 §3.10.7.4 note / RFC 6191: a new SYN with a higher sequence number may
      // reopen a connection in TIME-WAIT.
      if (seqGt(seg.seq, h.conn.rcvNxt) && this.#listeners.has(seg.dstPort)) {
        this.#remove(h);
        h = undefined;
      }
    }
    if (h) {
      h.conn.handle(seg, now);
      this.#settle(h);
      return;
    }
    const l = this.#listeners.get(seg.dstPort);
    if (l && !l.closed) {
      this.#listenInput(l, seg, src, now);
      return;
    }
    this.#reset(seg, src, now); // RFC 9293 §3.10.7.1: CLOSED
  }

  /** RFC 9293 §3.10.7.2: LISTEN. */
  #listenInput(l: CoreListener, seg: TcpSegment, src: number, now: number): void {
    const f = seg.flags;
    if (f & RST) return; // first check: ignore RST
    if (f & ACK) {
      this.#reset(seg, src, now); // second check: <SEQ=SEG.ACK><CTL=RST>
      return;
    }
    if (!(f & SYN)) return; // anything else: drop
    if (l.pending >= l.backlog) {
      this.counters.backlogDrops++; // as Linux: drop; the peer's SYN retransmission retries
      return;
    }
    const h = this.#newConnection(src, seg.srcPort, seg.dstPort, false, now);
    const conn = h.conn;
    this.#register(h);
    h.listener = l;
    l.pending++;
    conn.acceptSyn(seg, now);
    this.#settle(h);
  }

  #reset(seg: TcpSegment, src: number, now: number): void {
    const out = this.#rst;
    if (!resetFor(seg, out)) return;
    this.counters.resetsSent++;
    this.#transmitSegment(out, src, now);
  }

  // -------------------------------------------------------------------------------------
  // Timers

  /** Fires due timers of every connection. */
  poll(now: number): void {
    for (const h of this.#active) {
      if (h.conn.nextDeadline() <= now) {
        h.conn.onTimer(now);
        this.#settle(h);
      }
    }
    for (const [h, at] of this.#timeWait) {
      if (at > now) break;
      h.conn.onTimer(now);
      this.#settle(h);
    }
  }

  /** The earliest deadline of any connection (absolute ms), or Infinity. */
  nextDeadline(): number {
    let d = Infinity;
    for (const h of this.#active) {
      const x = h.conn.nextDeadline();
      if (x < d) d = x;
    }
    for (const at of this.#timeWait.values()) {
      if (at < d) d = at;
      break; // the first expires first
    }
    return d;
  }

  // -------------------------------------------------------------------------------------
  // Application side

  /** Opens a listener on `port`. Throws `Deno.errors.AddrInUse` when taken. */
  listen(port: number, backlog: number, onConnection: (h: ConnHandle) => void): CoreListener {
    if (this.#listeners.has(port)) throw new Deno.errors.AddrInUse(`port ${port} is in use`);
    const l = new CoreListener(port, backlog, onConnection);
    this.#listeners.set(port, l);
    return l;
  }

  /** Closes a listener; connections not yet accepted are reset. */
  unlisten(l: CoreListener): void {
    l.closed = true;
    if (this.#listeners.get(l.port) === l) this.#listeners.delete(l.port);
    for (const h of [...this.connections()]) {
      if (h.listener === l && !h.accepted) h.abort();
    }
  }

  /**
   * Active open to `remoteAddr:remotePort` (RFC 9293 §3.10.1). `localPort` 0 picks an
   * ephemeral port (RFC 6056: random within 49152–65535).
   */
  connect(
    remoteAddr: number,
    remotePort: number,
    localPort = 0,
    options: ConnectionDefaults = {},
  ): ConnHandle {
    const now = this.now();
    let port = localPort;
    if (port === 0) {
      const start = this.#random() % 16384;
      for (let i = 0; i < 16384; i++) {
        const p = 49152 + ((start + i) % 16384);
        if (!this.#lookup(remoteAddr, remotePort, p) && !this.#listeners.has(p)) {
          port = p;
          break;
        }
      }
      if (port === 0) throw new Deno.errors.AddrInUse("no ephemeral port is free");
    } else if (this.#lookup(remoteAddr, remotePort, port)) {
      throw new Deno.errors.AddrInUse(`port ${port} is in use for that peer`);
    }
    const h = this.#newConnection(remoteAddr, remotePort, port, true, now, options);
    this.#register(h);
    h.conn.open(now);
    this.afterCall(h); // the SYN's retransmission timer must reach the device loop
    return h;
  }

  /** @internal After an application call: drop closed connections, tell the driver. */
  afterCall(h: ConnHandle): void {
    this.#settle(h);
    this.onDeadlineChange?.(h.conn.nextDeadline());
  }

  // -------------------------------------------------------------------------------------

  #newConnection(
    remoteAddr: number,
    remotePort: number,
    localPort: number,
    active: boolean,
    now: number,
    extra: ConnectionDefaults = {},
  ): ConnHandle {
    const iss = this.#isn.next(this.addr, localPort, remoteAddr, remotePort, now);
    const options: ConnectionOptions = { ...this.#defaults, ...extra, mss: this.mtu - 40 };
    const out = {
      handle: null as ConnHandle | null,
      transmit: (seg: TcpSegment) => this.#transmitSegment(seg, remoteAddr, this.now()),
      readable: () => out.handle?.dispatchReadable(),
      event: (ev: ConnEvent, err?: ConnError) => this.#onEvent(out.handle!, ev, err),
    };
    const conn = new TcpConnection(
      {
        localAddr: this.addr,
        localPort,
        remoteAddr,
        remotePort,
        iss,
        tsOffset: this.#random(),
      },
      active,
      options,
      out,
    );
    const h = new ConnHandle(this, conn);
    out.handle = h;
    this.counters.connectionsOpened++;
    return h;
  }

  #onEvent(h: ConnHandle, ev: ConnEvent, err?: ConnError): void {
    if (ev === "established" && h.listener && !h.accepted) {
      const l = h.listener;
      if (l.closed) {
        h.abort();
        return;
      }
      l.onConnection(h);
    }
    h.dispatchEvent(ev, err);
  }

  #register(h: ConnHandle): void {
    const conn = h.conn;
    let byPorts = this.#conns.get(portsKey(conn.remotePort, conn.localPort));
    if (!byPorts) {
      byPorts = new Map();
      this.#conns.set(portsKey(conn.remotePort, conn.localPort), byPorts);
    }
    byPorts.set(conn.remoteAddr, h);
    this.#active.add(h);
  }

  #lookup(remoteAddr: number, remotePort: number, localPort: number): ConnHandle | undefined {
    return this.#conns.get(portsKey(remotePort, localPort))?.get(remoteAddr);
  }

  /** After a call into a connection: file it by state, and drop it once CLOSED. */
  #settle(h: ConnHandle): void {
    const c = h.conn;
    if (c.state === State.Closed) {
      this.#remove(h);
    } else if (c.state === State.TimeWait) {
      const at = this.#timeWait.get(h);
      if (at === c.timeWaitAt) return;
      // Entering TIME-WAIT, or a retransmitted FIN restarted it: to the back of the line.
      this.#active.delete(h);
      this.#timeWait.delete(h);
      this.#timeWait.set(h, c.timeWaitAt);
    }
  }

  #remove(h: ConnHandle): void {
    const c = h.conn;
    const key = portsKey(c.remotePort, c.localPort);
    const byPorts = this.#conns.get(key);
    if (byPorts?.get(c.remoteAddr) === h) {
      byPorts.delete(c.remoteAddr);
      if (byPorts.size === 0) this.#conns.delete(key);
    }
    const held = this.#active.delete(h) || this.#timeWait.delete(h);
    if (held) this.counters.connectionsClosed++;
    h.take(); // no longer counted against a backlog
  }

  // -------------------------------------------------------------------------------------
  // Packets out

  #transmitSegment(seg: TcpSegment, dst: number, now: number): void {
    const out = this.#outBuf;
    const n = emitTcp(seg, this.addr, dst, out.subarray(20));
    this.#sendIp(dst, IPPROTO_TCP, n, now);
  }

  #sendIp(dst: number, protocol: number, payloadLength: number, now: number): void {
    const f = this.#ipFields;
    f.src = this.addr;
    f.dst = dst;
    f.protocol = protocol;
    f.id = this.#ipId = (this.#ipId + 1) & 0xffff;
    f.payloadLength = payloadLength;
    emitIpv4(this.#outBuf, f);
    const packet = this.#outBuf.subarray(0, 20 + payloadLength);
    this.counters.packetsOut++;
    if (this.#tap) this.#tap("out", packet, now);
    this.link.write(packet);
  }
}

function portsKey(remotePort: number, localPort: number): number {
  return ((remotePort << 16) | localPort) >>> 0;
}

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
  tap?: (dir: "in" | "out", packet: Uint8Array, nowMs: number) => void;
  /** Seeded faults between the device and the stack, per direction. */
  faults?: { inbound?: FaultOptions; outbound?: FaultOptions };
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
    const dev = openTun({ tunIp: tunIpText, ifname: opts.ifname, mtu });
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
    });
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
    const buf = new Uint8Array(65536);
    const core = this.core;
    const link = this.#link;
    try {
      while (!this.#closing) {
        let count = 0;
        let now = core.now();
        for (; count < READ_BATCH; count++) {
          const n = link.read(buf);
          if (n <= 0) break;
          core.input(buf.subarray(0, n), now);
          if ((count & 31) === 31) now = core.now();
        }
        now = core.now();
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
   * Listens on `port`; iterate the result for connections.
   * @example
   * ```ts ignore
   * const listener = stack.listen({ port: 4444 });
   * const conn = await listener.accept();
   * ```
   */
  listen(opts: { port: number; backlog?: number }): TcpListener {
    checkPort(opts.port, false);
    const l = new TcpListener(this, opts.port, opts.backlog ?? 128);
    this.#listeners.add(l);
    return l;
  }

  /**
   * Connects to `hostname:port` (default host: the kernel-side address).
   * Rejects with `Deno.errors.ConnectionRefused` or `Deno.errors.TimedOut`.
   */
  async connect(
    opts: { hostname?: string; port: number; localPort?: number; noDelay?: boolean },
  ): Promise<TcpConn> {
    checkPort(opts.port, false);
    const host = opts.hostname ?? this.peerIp;
    const addr = parseIpv4Address(host);
    if (addr === null) throw new TypeError(`invalid IPv4 address: ${host}`);
    if (this.#closing) throw new Deno.errors.BadResource("stack is closed");
    const extra: ConnectionDefaults = {};
    if (opts.noDelay !== undefined) extra.noDelay = opts.noDelay;
    const h = this.core.connect(addr, opts.port, opts.localPort ?? 0, extra);
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
