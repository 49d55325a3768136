/**
 * The synchronous heart of a stack, and its TCP transport: demultiplexing by 4-tuple (RFC 9293
 * §3.10.7), listeners (with the listen queue of `src/tcp/listen_queue.ts`), TIME-WAIT records
 * (`src/tcp/time_wait.ts`, RFC 6191 reopening), every connection's deadline in one timer queue,
 * RST for closed ports (§3.10.7.1), active opens with RFC 6056 ephemeral ports, stretch ACKs
 * per batch, and the rate limits in front of every reply (RFC 5961 §7). Below it, the IP layer
 * of `src/ip/` (`IpLayer`: IPv4, IPv6, ICMP, ICMPv6, fragments, packet output) hands it parsed
 * TCP segments and the ICMP errors that quote them (`IpTransport`); connection handles are in
 * `conn_handle.ts`. It is handed packets and the time, and writes packets to its link; it reads
 * no clock and does no other I/O, so it runs the same under a fake clock. `TcpStack`
 * (`stack.ts`) drives it from a real link in real time.
 * @module
 */

import type { Link } from "./link.ts";
import { TimerQueue } from "./timer_queue.ts";
import { CONNECTION_OVERHEAD_BYTES, ConnHandle, CoreListener } from "./conn_handle.ts";
import type { IpCounters } from "./ip/counters.ts";
import { IpLayer } from "./ip/layer.ts";
import type { IpOutput } from "./ip/output.ts";
import type { ReassemblyOptions } from "./ip/reassembly.ts";
import type { IpTransport, QuotedTcpError } from "./ip/transport.ts";
import {
  type ConnectionOptions,
  type ConnError,
  type ConnEvent,
  resetFor,
  State,
  TcpConnection,
} from "./tcp/connection.ts";
import { IsnGenerator, TupleHasher } from "./tcp/isn.ts";
import { type Handshake, ListenQueue } from "./tcp/listen_queue.ts";
import { resolveOptions } from "./tcp/options.ts";
import { TokenBucket } from "./tcp/rate_limit.ts";
import { seqDiff } from "./tcp/seq.ts";
import { TimeWaitAction, type TimeWaitRecord, TimeWaitTable } from "./tcp/time_wait.ts";
import type { TraceEvent } from "./tcp/trace.ts";
import { TupleMap } from "./tcp/tuple_map.ts";
import { IPV4_HEADER_LENGTH, isUnicastAddress } from "./wire/ipv4.ts";
import { IPV6_MIN_MTU } from "./wire/ipv6.ts";
import {
  cloneIpv6Address,
  type Ipv6Address,
  ipv6Equals,
  isIpv6UnicastAddress,
} from "./wire/ipv6_address.ts";
import { ACK, newTcpSegment, RST, SYN, type TcpSegment } from "./wire/tcp.ts";
import { ViewCache } from "./wire/views.ts";

/** Connection tunables a stack applies to every connection (see `ConnectionOptions`). */
export type ConnectionDefaults = Partial<Omit<ConnectionOptions, "mss">>;

/** Limits of a stack against floods and hostile peers. All have safe defaults. */
export interface StackLimits {
  /** Most half-open connections per listener before SYN cookies answer. Default 256. */
  maxHalfOpen?: number;
  /** Answer SYNs with cookies when the half-open table is full. Default true. */
  synCookies?: boolean;
  /** SYN,ACK retransmissions of a half-open connection. Default 4. */
  synAckRetries?: number;
  /** Most connections held in TIME-WAIT. Default 16384. */
  maxTimeWait?: number;
  /** RSTs per second for segments that reach no connection. Default 1000. */
  rstRate?: number;
  /** ICMP echo replies per second. Default 1000. */
  icmpRate?: number;
  /** Replies to invalid segments per second across connections (RFC 5961 §7). Default 1000. */
  challengeAckRate?: number;
  /** SYN cookies per second. Default 20000. */
  cookieRate?: number;
  /**
   * Bounds of IP fragment reassembly (default: 4 MiB in all, 256 KiB per source, 1024
   * datagrams, 64 fragments each, 30 s lifetime for IPv4 and 60 s for IPv6).
   */
  reassembly?: Omit<ReassemblyOptions, "hashKey" | "output">;
}

/** Options of a `StackCore`. */
export interface CoreOptions {
  /** The IPv4 address this stack owns, as a uint32. */
  addr: number;
  /**
   * The IPv6 address this stack owns (RFC 8200), beside the IPv4 one on the same link.
   * Absent: IPv6 is off, and IPv6 packets are counted (`notIpv4`) and dropped.
   */
  addr6?: Ipv6Address;
  /** Where packets go. */
  link: Link;
  /** The current time in ms (a fake clock in tests). */
  now: () => number;
  /** MTU of the link; the MSS we advertise is MTU − 40. Default `link.mtu`. */
  mtu?: number;
  /** Defaults for every connection. */
  connection?: ConnectionDefaults;
  /** Flood and memory limits. */
  limits?: StackLimits;
  /** 16 secret bytes for ISNs, SYN cookies and timestamp offsets. Default: crypto. */
  isnKey?: Uint8Array;
  /** A source of uint32 randomness (ephemeral ports, IP IDs). Default: crypto. */
  random?: () => number;
  /**
   * Called with every IP packet read or written. `segments` is how many TCP segments a
   * super-segment stands for (1 for any other packet).
   */
  tap?: (dir: "in" | "out", packet: Uint8Array, nowMs: number, segments: number) => void;
  /**
   * Called with every trace event of every connection (see `src/tcp/trace.ts` and
   * docs/trace.md): `conn` numbers connections from 1 in the order they were made. Absent:
   * tracing off, and it costs nothing.
   */
  trace?: TraceSink;
}

/** Where trace events go: the connection's number, the event, and the time (ms). */
export type TraceSink = (conn: number, event: TraceEvent, nowMs: number) => void;

/**
 * Why packets were dropped, and other counters and gauges of a stack: those of the IP layer
 * (`IpCounters`), then those of TCP above it.
 */
export interface StackCounters extends IpCounters {
  /** RSTs sent for segments that reached no connection. */
  resetsSent: number;
  /** RSTs withheld by the rate limit. */
  resetsRateLimited: number;
  /** Replies to invalid segments withheld by the stack-wide limit (RFC 5961 §7). */
  challengeAcksRateLimited: number;
  /** SYNs dropped: the accept queue was full, or cookies were off or rate-limited. */
  backlogDrops: number;
  /** SYNs that made a half-open record. */
  synReceived: number;
  /** SYN,ACKs retransmitted for half-open connections. */
  synAckRetransmits: number;
  /** Half-open connections dropped when their SYN,ACKs went unanswered. */
  halfOpenExpired: number;
  /** SYN cookies sent. */
  synCookiesSent: number;
  /** Connections made from a valid SYN cookie. */
  synCookiesAccepted: number;
  /** ACKs with a cookie that did not verify. */
  synCookiesRejected: number;
  /** Connections that skipped TIME-WAIT because the table was full. */
  timeWaitOverflows: number;
  /** Connections created (active, and passive once the handshake completed). */
  connectionsOpened: number;
  /** Connections gone (after CLOSED, or at the end of TIME-WAIT). */
  connectionsClosed: number;
  /** Gauge: connections held (TIME-WAIT excluded). */
  connections: number;
  /** Gauge: half-open connections (records). */
  halfOpen: number;
  /** Gauge: TIME-WAIT records. */
  timeWait: number;
  /**
   * Gauge: bytes the stack holds for its connections: buffers, transmission records, an
   * estimate of each connection's own objects, half-open and TIME-WAIT records.
   */
  memoryBytes: number;
}

export {
  CONNECTION_OVERHEAD_BYTES,
  ConnHandle,
  type ConnHandler,
  CoreListener,
} from "./conn_handle.ts";

/** The synchronous heart of a stack. */
export class StackCore implements IpTransport {
  readonly addr: number;
  /** The IPv6 address, or null when IPv6 is off. */
  readonly addr6: Ipv6Address | null;
  readonly mtu: number;
  readonly link: Link;
  readonly now: () => number;
  readonly #c: StackCounters = {
    packetsIn: 0,
    packetsOut: 0,
    notIpv4: 0,
    ipv6PacketsIn: 0,
    badIpv6: 0,
    ipv6ExtensionDrops: 0,
    ndIgnored: 0,
    paramProblemsSent: 0,
    badIp: 0,
    fragments: 0,
    notForUs: 0,
    badSourceAddress: 0,
    otherProtocol: 0,
    badTcp: 0,
    badTcpChecksum: 0,
    badVirtioHeader: 0,
    superSegmentsIn: 0,
    superSegmentsOut: 0,
    icmpIgnored: 0,
    icmpEchoReplies: 0,
    icmpErrors: 0,
    pmtuUpdates: 0,
    icmpRateLimited: 0,
    icmpErrorsSent: 0,
    resetsSent: 0,
    resetsRateLimited: 0,
    challengeAcksRateLimited: 0,
    backlogDrops: 0,
    synReceived: 0,
    synAckRetransmits: 0,
    halfOpenExpired: 0,
    synCookiesSent: 0,
    synCookiesAccepted: 0,
    synCookiesRejected: 0,
    timeWaitOverflows: 0,
    connectionsOpened: 0,
    connectionsClosed: 0,
    connections: 0,
    halfOpen: 0,
    timeWait: 0,
    memoryBytes: 0,
    reassembly: null!,
  };
  /**
   * Called after an application call with that connection's next deadline, which may be
   * earlier than the one the device loop sleeps until.
   */
  onDeadlineChange: ((deadline: number) => void) | null = null;

  readonly #defaults: ConnectionDefaults;
  readonly #limits: Required<StackLimits>;
  readonly #isn: IsnGenerator;
  readonly #listenQueue: ListenQueue;
  readonly #random: () => number;
  readonly #tap: CoreOptions["tap"];
  readonly #trace: TraceSink | undefined;
  #traceIds = 0;
  readonly #conns = new TupleMap<ConnHandle>();
  /** Connections not in TIME-WAIT (their deadlines are in `#timers`). */
  readonly #active = new Set<ConnHandle>();
  /** Every connection's next deadline. */
  readonly #timers = new TimerQueue<ConnHandle>();
  readonly #timeWait: TimeWaitTable;
  readonly #optionCache = new Map<string, ConnectionOptions>();
  readonly #listeners = new Map<number, CoreListener>();
  readonly #rstBucket: TokenBucket;
  readonly #icmpBucket: TokenBucket;
  readonly #replyBucket: TokenBucket;
  /** Keys IPv6 peers into numbers (see `TupleHasher.addressKey6`). */
  readonly #peerKeys: TupleHasher;
  readonly #reply = newTcpSegment();
  /** Views of the buffers packets are read from and written out of, made once each. */
  readonly #views = new ViewCache(16);
  /** The link carries virtio-net headers: frames in and out, offloads allowed. */
  readonly #frames: boolean;
  /** The IP layer below: packets in, ICMP, fragments, packets out (`src/ip/`). */
  readonly #ip: IpLayer;
  /** Packet output (`#ip.output`). */
  readonly #out: IpOutput;

  /** Creates a core; see `CoreOptions`. */
  constructor(opts: CoreOptions) {
    this.addr = opts.addr >>> 0;
    this.addr6 = opts.addr6 ? cloneIpv6Address(opts.addr6) : null;
    this.link = opts.link;
    this.now = opts.now;
    this.mtu = opts.mtu ?? opts.link.mtu;
    this.#defaults = opts.connection ?? {};
    const lim = opts.limits ?? {};
    this.#limits = {
      maxHalfOpen: lim.maxHalfOpen ?? 256,
      synCookies: lim.synCookies ?? true,
      synAckRetries: lim.synAckRetries ?? 4,
      maxTimeWait: lim.maxTimeWait ?? 16384,
      rstRate: lim.rstRate ?? 1000,
      icmpRate: lim.icmpRate ?? 1000,
      challengeAckRate: lim.challengeAckRate ?? 1000,
      cookieRate: lim.cookieRate ?? 20_000,
      reassembly: lim.reassembly ?? {},
    };
    this.#tap = opts.tap;
    this.#trace = opts.trace;
    this.#random = opts.random ?? (() => crypto.getRandomValues(new Uint32Array(1))[0]);
    const key = opts.isnKey ?? crypto.getRandomValues(new Uint8Array(16));
    this.#isn = new IsnGenerator(key);
    // Separate keys for cookies and timestamp offsets, derived from the one secret.
    const derive = (tag: number) => key.map((b, i) => b ^ ((tag * 0x9e + i * 0x3b) & 0xff));
    this.#listenQueue = new ListenQueue({
      localAddr: this.addr,
      isn: this.#isn,
      cookieHash: new TupleHasher(derive(1)),
      tsHash: new TupleHasher(derive(2)),
      synAckRetries: this.#limits.synAckRetries,
      initialRtoMs: this.#defaults.initialRtoMs,
      cookieRate: this.#limits.cookieRate,
    });
    this.#timeWait = new TimeWaitTable(
      this.#limits.maxTimeWait,
      // The stack's MSL, resolved as every connection resolves it (options.ts).
      2 * resolveOptions({ ...this.#defaults, mss: this.mtu - 40 }).mslMs,
    );
    const lm = this.#limits;
    this.#rstBucket = new TokenBucket(lm.rstRate, Math.max(1, lm.rstRate / 10));
    this.#icmpBucket = new TokenBucket(lm.icmpRate, Math.max(1, lm.icmpRate / 10));
    this.#replyBucket = new TokenBucket(lm.challengeAckRate, Math.max(1, lm.challengeAckRate / 5));
    this.#frames = !!opts.link.frameOffloads && typeof opts.link.writeFrame === "function";
    this.#peerKeys = new TupleHasher(derive(4));
    const hashKey = derive(3);
    this.#ip = new IpLayer({
      addr: this.addr,
      addr6: this.addr6,
      mtu: this.mtu,
      link: opts.link,
      frames: this.#frames,
      ipId: this.#random() & 0xffff,
      tap: this.#tap,
      counters: this.#c,
      views: this.#views,
      transport: this,
      icmpBucket: this.#icmpBucket,
      peerKeys: this.#peerKeys,
      reassembly: {
        ...this.#limits.reassembly,
        hashKey: [
          (hashKey[0] | (hashKey[1] << 8) | (hashKey[2] << 16) | (hashKey[3] << 24)) >>> 0,
          (hashKey[4] | (hashKey[5] << 8) | (hashKey[6] << 16) | (hashKey[7] << 24)) >>> 0,
        ],
      },
    });
    this.#out = this.#ip.output;
  }

  /** Counters and gauges (the gauges are computed on each read). */
  get counters(): StackCounters {
    const c = this.#c;
    c.connections = this.#active.size;
    c.halfOpen = this.#listenQueue.size;
    c.timeWait = this.#timeWait.size;
    const lq = this.#listenQueue.counters;
    c.synReceived = lq.synReceived;
    c.synAckRetransmits = lq.synAckRetransmits;
    c.halfOpenExpired = lq.halfOpenExpired;
    c.synCookiesSent = lq.cookiesSent;
    c.synCookiesAccepted = lq.cookiesAccepted;
    c.synCookiesRejected = lq.cookiesRejected;
    c.timeWaitOverflows = this.#timeWait.overflows;
    let mem = this.#listenQueue.memoryBytes + this.#timeWait.memoryBytes;
    for (const h of this.#active) mem += CONNECTION_OVERHEAD_BYTES + h.conn.memoryBytes;
    mem += c.reassembly.memoryBytes;
    c.memoryBytes = mem;
    return c;
  }

  /** Number of connections the core holds, TIME-WAIT records included. */
  get connectionCount(): number {
    return this.#active.size + this.#timeWait.size;
  }

  /** All connection handles (connections in TIME-WAIT are records, not handles). */
  connections(): IterableIterator<ConnHandle> {
    return this.#active.values();
  }

  // -------------------------------------------------------------------------------------
  // Packets in

  /**
   * Processes one frame read from a frame link (`Link.readFrame`): a virtio-net header, then
   * an IP packet, maybe a TCP super-segment or with a partial checksum. Never throws on bad
   * input: a header that does not fit its packet is counted and dropped.
   */
  inputFrame(frame: Uint8Array, length: number, now: number): void {
    this.#ip.inputFrame(frame, length, now);
  }

  /**
   * Processes one IP packet read from the link: `packet[0..length)` (by default all of it; a
   * driver passes its one receive buffer and the length read). Never throws on bad input.
   */
  input(packet: Uint8Array, now: number, length: number = packet.length): void {
    this.#ip.input(packet, now, length);
  }

  /**
   * @internal `IpTransport`: an ICMP or ICMPv6 error quoting one of our segments reaches its
   * connection (RFC 1122 §3.2.2, MUST-54), which believes it only if the quoted sequence number
   * is in flight (RFC 5927 §4.1); "packet too big" lowers its path MTU (RFC 1191, RFC 8201).
   */
  icmpError(e: Readonly<QuotedTcpError>, now: number): void {
    const c = this.#c;
    const h = this.#conns.get(e.remote, e.remotePort, e.localPort);
    if (!h || (e.remote6 !== null && (h.remote6 === null || !ipv6Equals(h.remote6, e.remote6)))) {
      c.icmpIgnored++;
      return;
    }
    let believed: boolean;
    if (e.kind === "packet-too-big") {
      const before = h.conn.sndMss;
      believed = h.conn.pathMtu(e.mtu, e.seq, e.headerBytes, e.floorMtu, now);
      if (h.conn.sndMss !== before) c.pmtuUpdates++;
    } else {
      believed = h.conn.icmpError(e.kind, e.seq, now);
    }
    if (believed) c.icmpErrors++;
    else c.icmpIgnored++;
    this.#settle(h);
  }

  /**
   * @internal `IpTransport`: a valid TCP segment from `src` (an IPv4 address, or the key of
   * IPv6 address `src6`), standing for `segments` segments, to a connection, a TIME-WAIT
   * record, a listener, or CLOSED (RFC 9293 §3.10.7).
   */
  tcpInput(
    seg: TcpSegment,
    src: number,
    src6: Ipv6Address | null,
    segments: number,
    now: number,
  ): void {
    const h = this.#conns.get(src, seg.srcPort, seg.dstPort);
    if (h && (src6 === null || ipv6Equals(h.remote6!, src6))) {
      h.conn.handle(seg, now);
      h.conn.segmentsReceived += segments - 1; // a super-segment counts as its parts
      this.#settle(h);
      return;
    }
    if (h) return; // an IPv6 key taken by another address: no state is shared, nothing answered
    const family = src6 === null ? 4 : 6;
    let l = this.#listeners.get(seg.dstPort);
    if (l && l.family !== 0 && l.family !== family) l = undefined;
    const tw = this.#timeWait.get(src, seg.srcPort, seg.dstPort);
    if (tw && (src6 === null || ipv6Equals(tw.remote6!, src6))) {
      const out = this.#reply;
      const canReopen = l !== undefined && !l.closed && !l.acceptQueueFull;
      switch (this.#timeWait.handle(tw, seg, now, canReopen, out)) {
        case TimeWaitAction.Reply:
          if (this.#replyBucket.take(now)) {
            this.#out.transmitSegment(out, src, src6, tw.ttl, tw.tos, now);
          } else {
            this.#c.challengeAcksRateLimited++;
          }
          return;
        case TimeWaitAction.Close:
          this.#timeWait.delete(tw);
          this.#c.connectionsClosed++;
          return;
        case TimeWaitAction.Reopen:
          this.#timeWait.delete(tw);
          this.#c.connectionsClosed++;
          break; // on to the listener, as a new SYN (RFC 6191)
        default:
          return;
      }
    } else if (tw) {
      return; // as above: a key collision
    }
    if (l && !l.closed) {
      this.#listenInput(l, seg, src, src6, segments, now);
      return;
    }
    this.#reset(seg, src, src6, now); // RFC 9293 §3.10.7.1: CLOSED
  }

  /** RFC 9293 §3.10.7.2: LISTEN, through the listen queue. */
  #listenInput(
    l: CoreListener,
    seg: TcpSegment,
    src: number,
    src6: Ipv6Address | null,
    segments: number,
    now: number,
  ): void {
    const f = seg.flags;
    if ((f & (SYN | ACK | RST)) === SYN) {
      const out = this.#reply;
      if (this.#listenQueue.onSyn(l, seg, src, now, out, src6)) {
        this.#out.transmitSegment(out, src, src6, l.ttl, l.tos, now);
      } else {
        this.#c.backlogDrops++;
      }
      return;
    }
    if (f & SYN) {
      // SYN,ACK (or SYN,RST) to a listener: an ACK in LISTEN is answered with RST.
      if (!(f & RST)) this.#reset(seg, src, src6, now);
      return;
    }
    const r = this.#listenQueue.onAck(l, seg, src, now, src6);
    if (r === "drop") return;
    if (r === "reset") {
      this.#reset(seg, src, src6, now); // second check of LISTEN: <SEQ=SEG.ACK><CTL=RST>
      return;
    }
    this.#completeHandshake(l, r, seg, segments, now);
  }

  /** The final ACK of a passive open: the connection is made now, and takes the segment. */
  #completeHandshake(
    l: CoreListener,
    hs: Handshake,
    seg: TcpSegment,
    segments: number,
    now: number,
  ): void {
    const h = this.#newConnection(
      hs.remoteAddr,
      hs.remotePort,
      hs.localPort,
      false,
      l.options,
      hs.iss,
      now,
      hs.remote6,
    );
    h.listener = l;
    h.conn.adoptHandshake(hs, now);
    this.#register(h);
    h.conn.handle(seg, now);
    h.conn.segmentsReceived += segments - 1; // the final ACK may ride a super-segment
    this.#settle(h);
  }

  #reset(seg: TcpSegment, src: number, src6: Ipv6Address | null, now: number): void {
    const out = this.#reply;
    if (!resetFor(seg, out)) return;
    if (!this.#rstBucket.take(now)) {
      this.#c.resetsRateLimited++;
      return;
    }
    this.#c.resetsSent++;
    this.#out.transmitSegment(out, src, src6, 64, 0, now);
  }

  // -------------------------------------------------------------------------------------
  // Timers

  /**
   * Fires due timers: connections (from the timer queue: only the due ones are touched),
   * half-open SYN,ACKs, the end of TIME-WAIT.
   */
  poll(now: number): void {
    const timers = this.#timers;
    // Each due connection runs once per poll; one whose timer is due again (it should not
    // be) waits for the next poll instead of spinning here.
    for (let n = timers.size; n > 0 && timers.next() <= now; n--) {
      const h = timers.peek()!;
      h.conn.onTimer(now);
      this.#settle(h);
      if (h.timerIndex >= 0 && h.timerAt <= now) timers.update(h, now + 1);
    }
    if (this.#listenQueue.nextDeadline() <= now) {
      this.#listenQueue.poll(now, this.#reply, (dst, seg, l, dst6) => {
        const cl = l as CoreListener;
        this.#out.transmitSegment(seg, dst, dst6, cl.ttl, cl.tos, now);
      });
    }
    this.#c.connectionsClosed += this.#timeWait.expire(now);
    this.#ip.poll(now); // fragments whose datagram expired
  }

  /** The earliest deadline of anything the core holds (absolute ms), or Infinity. */
  nextDeadline(): number {
    return Math.min(
      this.#timers.next(),
      this.#listenQueue.nextDeadline(),
      this.#timeWait.nextDeadline(),
      this.#ip.nextDeadline(),
    );
  }

  // -------------------------------------------------------------------------------------
  // Application side

  /**
   * Opens a listener on `port` with an accept queue of `backlog` connections. Throws
   * `Deno.errors.AddrInUse` when taken.
   */
  listen(
    port: number,
    backlog: number,
    onConnection: (h: ConnHandle) => void,
    options: ConnectionDefaults = {},
    family: 0 | 4 | 6 = 0,
  ): CoreListener {
    if (this.#listeners.has(port)) throw new Deno.errors.AddrInUse(`port ${port} is in use`);
    if (family === 6 && this.addr6 === null) {
      throw new TypeError("IPv6 is off: the stack has no IPv6 address");
    }
    // What its SYN,ACKs offer: the options of the connections to be, with the defaults the
    // connections themselves will resolve to (`resolveOptions`), not a second copy of them.
    const o = resolveOptions({ ...this.#defaults, ...options, mss: this.mtu - 40 });
    const l = new CoreListener(
      port,
      backlog,
      this.#limits.maxHalfOpen,
      this.#limits.synCookies,
      {
        mss: o.mss,
        recvBufferSize: o.recvBufferSize,
        windowScaling: o.windowScaling,
        sack: o.sack,
        timestamps: o.timestamps,
      },
      onConnection,
      options,
      o.ttl,
      o.tos,
      family,
    );
    this.#listeners.set(port, l);
    return l;
  }

  /** Closes a listener; connections not yet accepted are reset, half-open ones forgotten. */
  unlisten(l: CoreListener): void {
    l.closed = true;
    if (this.#listeners.get(l.port) === l) this.#listeners.delete(l.port);
    this.#listenQueue.closeListener(l);
    for (const h of [...l.acceptQueue]) h.abort();
    l.acceptQueue.length = 0;
  }

  /** Takes the oldest connection from `l`'s accept queue, or null. */
  accept(l: CoreListener): ConnHandle | null {
    const h = l.acceptQueue[0];
    if (!h) return null;
    h.take();
    return h;
  }

  /**
   * Active open to `remoteAddr:remotePort` (RFC 9293 §3.10.1). `localPort` 0 picks an
   * ephemeral port (RFC 6056: random within 49152–65535). Throws a `TypeError` for an
   * address no connection can go to (MUST-46).
   */
  connect(
    remote: number | Readonly<Ipv6Address>,
    remotePort: number,
    localPort = 0,
    options: ConnectionDefaults = {},
  ): ConnHandle {
    let remoteAddr: number;
    let remote6: Ipv6Address | null = null;
    if (typeof remote === "number") {
      remoteAddr = remote;
      if (!isUnicastAddress(remoteAddr) || remoteAddr === this.addr) {
        throw new TypeError("cannot connect to a broadcast, multicast, loopback or own address");
      }
    } else {
      if (this.addr6 === null) throw new TypeError("IPv6 is off: the stack has no IPv6 address");
      if (!isIpv6UnicastAddress(remote) || ipv6Equals(remote, this.addr6)) {
        throw new TypeError("cannot connect to an unspecified, multicast, loopback or own address");
      }
      remote6 = cloneIpv6Address(remote);
      remoteAddr = this.#peerKeys.addressKey6(remote.w0, remote.w1, remote.w2, remote.w3);
    }
    const now = this.now();
    let port = localPort;
    if (port === 0) {
      const start = this.#random() % 16384;
      for (let i = 0; i < 16384; i++) {
        const p = 49152 + ((start + i) % 16384);
        if (!this.#tupleInUse(remoteAddr, remotePort, p) && !this.#listeners.has(p)) {
          port = p;
          break;
        }
      }
      if (port === 0) throw new Deno.errors.AddrInUse("no ephemeral port is free");
    } else if (this.#tupleInUse(remoteAddr, remotePort, port)) {
      throw new Deno.errors.AddrInUse(`port ${port} is in use for that peer`);
    }
    const iss = this.#isn.next(this.addr, port, remoteAddr, remotePort, now);
    const h = this.#newConnection(remoteAddr, remotePort, port, true, options, iss, now, remote6);
    this.#register(h);
    h.conn.open(now);
    this.afterCall(h); // the SYN's retransmission timer must reach the device loop
    return h;
  }

  /** @internal After an application call: file the connection, tell the driver. */
  afterCall(h: ConnHandle): void {
    this.#settle(h);
    this.onDeadlineChange?.(h.conn.nextDeadline());
  }

  // -------------------------------------------------------------------------------------

  #tupleInUse(remoteAddr: number, remotePort: number, localPort: number): boolean {
    return this.#conns.get(remoteAddr, remotePort, localPort) !== undefined ||
      this.#timeWait.get(remoteAddr, remotePort, localPort) !== undefined ||
      this.#listenQueue.has(remoteAddr, remotePort, localPort);
  }

  #newConnection(
    remoteAddr: number,
    remotePort: number,
    localPort: number,
    active: boolean,
    extra: ConnectionDefaults,
    iss: number,
    now: number,
    remote6: Ipv6Address | null = null,
  ): ConnHandle {
    const h = new ConnHandle(this);
    h.remote6 = remote6;
    h.conn = new TcpConnection(
      {
        localAddr: this.addr,
        localPort,
        remoteAddr,
        remotePort,
        iss,
        tsOffset: this.#listenQueue.tsOffset(localPort, remoteAddr, remotePort),
      },
      active,
      this.#optionsFor(extra, remote6 !== null),
      h,
    );
    this.#c.connectionsOpened++;
    if (this.#trace) {
      const id = ++this.#traceIds;
      const sink = this.#trace;
      const conn = h.conn;
      conn.tracer = (e, t) => sink(id, e, t);
      sink(id, {
        ev: "open",
        local: hostPort(h.localHostname, localPort),
        remote: hostPort(h.remoteHostname, remotePort),
        active,
        mss: conn.opts.mss,
      }, now);
    }
    return h;
  }

  /**
   * The options object for connections with these extra settings: one per distinct set, so
   * that connections made alike share their resolved options (see TcpConnection.opts).
   */
  #optionsFor(extra: ConnectionDefaults, ipv6: boolean): ConnectionOptions {
    const key = (ipv6 ? "6" : "4") + JSON.stringify(extra);
    let o = this.#optionCache.get(key);
    if (!o) {
      // MSS: the MTU less the IP and TCP headers, 40 bytes over IPv4 and 60 over IPv6 (RFC
      // 9293 §3.7.1, RFC 8200 §8.3); PMTU discovery never goes below IPv6's 1280 (RFC 8201).
      o = { ...this.#defaults, ...extra, mss: this.mtu - (ipv6 ? 60 : 40) };
      if (ipv6) o.pmtuFloorMss = IPV6_MIN_MTU - 60;
      // TSO: super-segments up to what one IPv4 packet holds (RFC 791: 65535 bytes), less the
      // largest IP and TCP headers.
      if (this.#frames) o.tsoMaxBytes = 65535 - IPV4_HEADER_LENGTH - 60;
      if (this.#optionCache.size < 64) this.#optionCache.set(key, o);
    }
    return o;
  }

  /** @internal A connection's segment goes out with its TTL and TOS. */
  _transmit(h: ConnHandle, seg: TcpSegment): void {
    const c = h.conn;
    // The time only stamps the capture: no clock read (nor a boxed number) per segment without one.
    const now = this.#tap ? this.now() : 0;
    this.#out.transmitSegment(seg, c.remoteAddr, h.remote6, c.opts.ttl, c.opts.tos, now, c.sndMss);
  }

  /**
   * Stretch ACKs: a driver that reads packets in batches sets this and calls `flushAcks` at
   * the end of each batch; connections then owe one ACK per batch instead of one per two
   * segments. Off (a driver without batches): every second segment is ACKed at once.
   */
  batchedAcks = false;
  /** Connections owing an ACK: `#ackQueue[0..#ackCount)` (the array is kept, not emptied). */
  readonly #ackQueue: (ConnHandle | null)[] = [];
  #ackCount = 0;

  /** @internal */
  _deferAck(h: ConnHandle): boolean {
    if (!this.batchedAcks) return false;
    if (!h.ackQueued) {
      h.ackQueued = true;
      this.#ackQueue[this.#ackCount++] = h;
    }
    return true;
  }

  /** The end of a batch of packets: the ACKs connections deferred go out now. */
  flushAcks(now: number): void {
    const q = this.#ackQueue;
    for (let i = 0; i < this.#ackCount; i++) {
      const h = q[i]!;
      q[i] = null;
      h.ackQueued = false;
      h.conn.flushAck(now);
      this.#settle(h);
    }
    // Not `q.length = 0`: that frees the array's storage, which the next batch allocates again.
    this.#ackCount = 0;
  }

  /** @internal The stack-wide budget for replies to invalid segments (RFC 5961 §7). */
  _replyBudget(): boolean {
    if (this.#replyBucket.take(this.now())) return true;
    this.#c.challengeAcksRateLimited++;
    return false;
  }

  /** @internal */
  _onEvent(h: ConnHandle, ev: ConnEvent, err?: ConnError): void {
    if (ev === "established" && h.listener && !h.accepted) {
      const l = h.listener;
      if (l.closed) {
        h.abort();
        return;
      }
      l.acceptQueue.push(h);
      l.onConnection(h);
    }
    h.dispatchEvent(ev, err);
  }

  #register(h: ConnHandle): void {
    const c = h.conn;
    this.#conns.set(c.remoteAddr, c.remotePort, c.localPort, h);
    this.#active.add(h);
  }

  /** After a call into a connection: drop it once CLOSED; TIME-WAIT becomes a record. */
  #settle(h: ConnHandle): void {
    // A handle already gone (closed, or made a TIME-WAIT record) stays gone: the application
    // may still read leftover data through it.
    if (!this.#active.has(h)) return;
    const c = h.conn;
    if (c.state !== State.Closed && c.state !== State.TimeWait) {
      // Most segments leave the deadline as it was: then no number is handed on (boxed).
      const at = c.nextDeadline();
      if (at !== h.timerAt || h.timerIndex < 0) this.#timers.update(h, at);
      return;
    }
    if (c.state === State.Closed) {
      this.#remove(h);
    } else if (c.state === State.TimeWait) {
      this.#remove(h, true);
      const rec: TimeWaitRecord = {
        localPort: c.localPort,
        remoteAddr: c.remoteAddr,
        remote6: h.remote6,
        remotePort: c.remotePort,
        sndNxt: c.sndNxt,
        rcvNxt: c.rcvNxt,
        window: Math.min(0xffff, Math.max(0, seqDiff(c.rcvAdvRight, c.rcvNxt)) >>> c.rcvWscale),
        tsOk: c.tsOk,
        tsRecent: c.tsRecent,
        tsOffset: c.tsOffset,
        ttl: c.opts.ttl,
        tos: c.opts.tos,
        deadline: 0,
        lastReplyAt: -Infinity,
      };
      // The 2·MSL started when the connection entered TIME-WAIT (now, or at its last FIN).
      if (!this.#timeWait.add(rec, this.now())) this.#c.connectionsClosed++;
    }
  }

  #remove(h: ConnHandle, toTimeWait = false): void {
    const c = h.conn;
    this.#conns.delete(c.remoteAddr, c.remotePort, c.localPort, h);
    const held = this.#active.delete(h);
    this.#timers.remove(h);
    if (held && !toTimeWait) this.#c.connectionsClosed++;
    if (h.listener && !h.accepted) {
      // It died before the application took it: out of the accept queue.
      const q = h.listener.acceptQueue;
      const i = q.indexOf(h);
      if (i >= 0) q.splice(i, 1);
    }
  }
}

/** `host:port`, with the host bracketed when it is an IPv6 address (RFC 3986 §3.2.2). */
function hostPort(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}
