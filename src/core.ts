/**
 * The synchronous heart of a stack: demultiplexing, listeners (with the listen queue of
 * `src/tcp/listen_queue.ts`), TIME-WAIT records, timers, RST for closed ports, ICMP echo,
 * and the rate limits in front of every reply. It is handed packets and the time, and
 * writes packets to its link; it reads no clock and does no other I/O, so it runs the same
 * under a fake clock. `TcpStack` (`stack.ts`) drives it from a real link in real time.
 * @module
 */

import {
  emitIcmpEchoReply,
  ICMP_ECHO_REQUEST,
  type IcmpMessage,
  IcmpParseError,
  newIcmpMessage,
  parseIcmp,
} from "./wire/icmp.ts";
import {
  emitIpv4,
  formatIpv4Address,
  IPPROTO_ICMP,
  IPPROTO_TCP,
  IPV4_HEADER_LENGTH,
  type Ipv4EmitFields,
  Ipv4ParseError,
  isUnicastAddress,
  newIpv4Header,
  parseIpv4,
} from "./wire/ipv4.ts";
import { ACK, emitTcp, newTcpSegment, parseTcp, RST, SYN, TcpParseError } from "./wire/tcp.ts";
import type { TcpSegment } from "./wire/tcp.ts";
import {
  type ConnectionOptions,
  type ConnectionOutput,
  type ConnError,
  type ConnEvent,
  type ConnStats,
  type IcmpError,
  type KeepAliveOptions,
  resetFor,
  State,
  TcpConnection,
} from "./tcp/connection.ts";
import { IsnGenerator, TupleHasher } from "./tcp/isn.ts";
import { type Handshake, ListenQueue, PassiveListener } from "./tcp/listen_queue.ts";
import { TimeWaitAction, type TimeWaitRecord, TimeWaitTable } from "./tcp/time_wait.ts";
import { TokenBucket } from "./tcp/rate_limit.ts";
import { TupleMap } from "./tcp/tuple_map.ts";
import { seqDiff } from "./tcp/seq.ts";
import type { Link } from "./link.ts";
import type { TraceEvent } from "./tcp/trace.ts";
import {
  completeVirtioChecksum,
  emitVirtioNetHdr,
  newVirtioNetHdr,
  parseVirtioNetHdr,
  resetVirtioNetHdr,
  TCP_CHECKSUM_OFFSET,
  VIRTIO_NET_HDR_F_NEEDS_CSUM,
  VIRTIO_NET_HDR_GSO_NONE,
  VIRTIO_NET_HDR_GSO_TCPV4,
  VIRTIO_NET_HDR_LENGTH,
  virtioChecksumTrusted,
  VirtioParseError,
  virtioSegmentCount,
} from "./wire/virtio.ts";
import { TimerQueue } from "./timer_queue.ts";
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
}

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

/** Why packets were dropped, and other counters and gauges of a stack. */
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
  /** Segments from an address no peer can have: broadcast, multicast, 0/8, 127/8 (MUST-63). */
  badSourceAddress: number;
  /** Protocols other than TCP and ICMP. */
  otherProtocol: number;
  /** TCP header rejected (length, offset, options). */
  badTcp: number;
  /** TCP checksum mismatch. */
  badTcpChecksum: number;
  /** Frames whose virtio-net header did not fit their packet. */
  badVirtioHeader: number;
  /** TCP super-segments read (GSO: one frame for several segments). */
  superSegmentsIn: number;
  /** TCP super-segments written (TSO: the kernel cuts them). */
  superSegmentsOut: number;
  /** ICMP rejected or not an echo request. */
  icmpIgnored: number;
  /** Echo replies sent (RFC 1122 §3.2.2.6). */
  icmpEchoReplies: number;
  /** ICMP errors believed and handed to the connection they quote (RFC 5927). */
  icmpErrors: number;
  /** ICMP "fragmentation needed" that lowered a connection's MSS (RFC 1191). */
  pmtuUpdates: number;
  /** Echo requests left unanswered by the rate limit. */
  icmpRateLimited: number;
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

/** What a connection handle reports to its user (the socket layer, or a test). */
export interface ConnHandler {
  /** In-order bytes arrived: `ConnHandle.read` returns them. */
  onReadable(): void;
  /** A state event; `error` set for "error". */
  onEvent(ev: ConnEvent, error?: ConnError): void;
}

/**
 * What a connection's objects cost beyond its buffers (the state machine, its handle, its
 * socket and streams), counted in `memoryBytes`. Measured with a heap snapshot of 10,000
 * idle connections (see `bench/`).
 */
export const CONNECTION_OVERHEAD_BYTES = 2048;

/**
 * A connection as the application sees it inside the core: bytes in, bytes out. Each call
 * runs the state machine at the core's current time and flushes what it produces.
 */
export class ConnHandle implements ConnectionOutput {
  /** The state machine; set once, right after the handle is made. */
  conn!: TcpConnection;
  readonly #core: StackCore;
  /** Receives data and events; replaceable (the socket layer attaches on accept). */
  handler: ConnHandler | null = null;
  /** Events reported before a handler was attached (data simply waits in the buffer). */
  #earlyEvents: [ConnEvent, ConnError | undefined][] | null = null;
  /** Set once the application has taken this connection from its listener's accept queue. */
  accepted = false;
  /** @internal Its deadline in the core's timer queue (see timer_queue.ts). */
  timerAt = Infinity;
  /** @internal Its place in the core's timer queue. */
  timerIndex = -1;
  listener: CoreListener | null = null;

  /** @internal */
  constructor(core: StackCore) {
    this.#core = core;
  }

  // The connection's output port (ConnectionOutput): methods, not closures, so that a
  // connection costs no function objects.

  /** @internal */
  transmit(seg: TcpSegment): void {
    this.#core._transmit(this, seg);
  }

  /** @internal */
  readable(): void {
    this.handler?.onReadable();
  }

  /** @internal */
  event(ev: ConnEvent, err?: ConnError): void {
    this.#core._onEvent(this, ev, err);
  }

  /** @internal */
  replyBudget(): boolean {
    return this.#core._replyBudget();
  }

  /** @internal */
  deferAck(): boolean {
    return this.#core._deferAck(this);
  }

  /** @internal Queued for the end-of-batch ACK flush. */
  ackQueued = false;

  /** Attaches the receiver of data and events, replaying anything that came before. */
  attach(handler: ConnHandler): void {
    this.handler = handler;
    const events = this.#earlyEvents;
    this.#earlyEvents = null;
    if (this.conn.rcvQueued > 0) handler.onReadable();
    if (events) { for (const [ev, err] of events) handler.onEvent(ev, err); }
  }

  /** @internal */
  dispatchEvent(ev: ConnEvent, err?: ConnError): void {
    if (this.handler) this.handler.onEvent(ev, err);
    else (this.#earlyEvents ??= []).push([ev, err]);
  }

  /** The application takes this connection from its listener's accept queue. */
  take(): void {
    if (this.accepted) return;
    this.accepted = true;
    const q = this.listener?.acceptQueue;
    if (q) {
      const i = q.indexOf(this);
      if (i >= 0) q.splice(i, 1);
    }
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

  /** Turns Nagle's algorithm off (`true`) or on. */
  setNoDelay(noDelay: boolean): void {
    this.conn.setNoDelay(noDelay, this.#core.now());
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
export class CoreListener extends PassiveListener<ConnHandle> {
  /** Called when a connection completes its handshake and joins the accept queue. */
  onConnection: (h: ConnHandle) => void;
  /** Options of every connection it accepts (beyond the stack's defaults). */
  readonly options: ConnectionDefaults;
  /** TTL and TOS of its SYN,ACKs (those of the connections to be). */
  readonly ttl: number;
  readonly tos: number;

  /** @internal */
  constructor(
    port: number,
    backlog: number,
    maxHalfOpen: number,
    synCookies: boolean,
    settings: ConstructorParameters<typeof PassiveListener>[4],
    onConnection: (h: ConnHandle) => void,
    options: ConnectionDefaults,
    ttl: number,
    tos: number,
  ) {
    super(port, backlog, maxHalfOpen, synCookies, settings);
    this.onConnection = onConnection;
    this.options = options;
    this.ttl = ttl;
    this.tos = tos;
  }
}

/** The synchronous heart of a stack. */
export class StackCore {
  readonly addr: number;
  readonly mtu: number;
  readonly link: Link;
  readonly now: () => number;
  readonly #c: StackCounters = {
    packetsIn: 0,
    packetsOut: 0,
    notIpv4: 0,
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
  /** Connections not in TIME-WAIT: scanned for due timers on every wake-up. */
  readonly #active = new Set<ConnHandle>();
  /** Every connection's next deadline. */
  readonly #timers = new TimerQueue<ConnHandle>();
  readonly #timeWait: TimeWaitTable;
  readonly #optionCache = new Map<string, ConnectionOptions>();
  readonly #listeners = new Map<number, CoreListener>();
  readonly #rstBucket: TokenBucket;
  readonly #icmpBucket: TokenBucket;
  readonly #replyBucket: TokenBucket;
  readonly #ip = newIpv4Header();
  readonly #seg = newTcpSegment();
  readonly #reply = newTcpSegment();
  readonly #icmp = newIcmpMessage();
  /** Views of the buffers packets are read from and written out of, made once each. */
  readonly #views = new ViewCache(16);
  /** The one output buffer: room for a virtio-net header, then the IP packet. */
  readonly #outFrame: Uint8Array;
  /** The IP packet in `#outFrame`, and its transport payload. */
  readonly #ipOut: Uint8Array;
  readonly #tcpOut: Uint8Array;
  /** The link carries virtio-net headers: frames in and out, offloads allowed. */
  readonly #frames: boolean;
  readonly #vnetIn = newVirtioNetHdr();
  readonly #vnetOut = newVirtioNetHdr();
  /** While a frame is processed: its checksum needs no check; the segments it stands for. */
  #trustChecksum = false;
  #inSegments = 1;
  /** The segments the packet being sent stands for (a super-segment: several). */
  #outSegments = 1;
  readonly #ipFields: Ipv4EmitFields = {
    src: 0,
    dst: 0,
    protocol: IPPROTO_TCP,
    ttl: 64,
    id: 0,
    payloadLength: 0,
    tos: 0,
  };
  #ipId = 0;

  /** Creates a core; see `CoreOptions`. */
  constructor(opts: CoreOptions) {
    this.addr = opts.addr >>> 0;
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
      2 * (this.#defaults.mslMs ?? 30_000),
    );
    const lm = this.#limits;
    this.#rstBucket = new TokenBucket(lm.rstRate, Math.max(1, lm.rstRate / 10));
    this.#icmpBucket = new TokenBucket(lm.icmpRate, Math.max(1, lm.icmpRate / 10));
    this.#replyBucket = new TokenBucket(lm.challengeAckRate, Math.max(1, lm.challengeAckRate / 5));
    this.#frames = !!opts.link.frameOffloads && typeof opts.link.writeFrame === "function";
    // A super-segment can be as large as an IP packet can (64 KiB).
    const room = this.#frames ? 65535 : Math.max(this.mtu, 576) + 64;
    this.#outFrame = new Uint8Array(VIRTIO_NET_HDR_LENGTH + room);
    this.#ipOut = this.#outFrame.subarray(VIRTIO_NET_HDR_LENGTH);
    this.#tcpOut = this.#outFrame.subarray(VIRTIO_NET_HDR_LENGTH + IPV4_HEADER_LENGTH);
    this.#ipId = this.#random() & 0xffff;
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
    const hdr = this.#vnetIn;
    const err = parseVirtioNetHdr(frame, length, hdr);
    if (err !== VirtioParseError.None) {
      this.#c.packetsIn++;
      this.#c.badVirtioHeader++;
      return;
    }
    // Checksum offload: a partial (NEEDS_CSUM) or already checked (DATA_VALID) checksum is
    // not verified again (it is no checksum yet, or the kernel checked it).
    this.#trustChecksum = virtioChecksumTrusted(hdr);
    this.#inSegments = virtioSegmentCount(hdr, length - VIRTIO_NET_HDR_LENGTH);
    if (this.#inSegments > 1) this.#c.superSegmentsIn++;
    // The packet after the header, as a view the next frame in the same buffer reuses.
    const packet = this.#views.get(frame, VIRTIO_NET_HDR_LENGTH, frame.length);
    const packetLength = length - VIRTIO_NET_HDR_LENGTH;
    // The capture shows a complete checksum where the kernel left a partial one (in place:
    // the checksum is not verified any more).
    if (this.#tap) completeVirtioChecksum(packet, packetLength, hdr);
    this.input(packet, now, packetLength);
    this.#trustChecksum = false;
    this.#inSegments = 1;
  }

  /**
   * Processes one IP packet read from the link: `packet[0..length)` (by default all of it; a
   * driver passes its one receive buffer and the length read). Never throws on bad input.
   */
  input(packet: Uint8Array, now: number, length: number = packet.length): void {
    const c = this.#c;
    c.packetsIn++;
    if (this.#tap) this.#tap("in", packet.subarray(0, length), now, this.#inSegments);
    const ip = this.#ip;
    const err = parseIpv4(packet, length, ip);
    if (err !== Ipv4ParseError.None) {
      if (err === Ipv4ParseError.Fragment) c.fragments++;
      else if (err === Ipv4ParseError.BadVersion) c.notIpv4++;
      else c.badIp++;
      return;
    }
    if (ip.dst !== this.addr) {
      c.notForUs++; // broadcast and multicast destinations included (MUST-57)
      return;
    }
    if (!isUnicastAddress(ip.src) || ip.src === this.addr) {
      c.badSourceAddress++; // RFC 1122 §3.2.1.3, MUST-63: never answered
      return;
    }
    if (ip.protocol === IPPROTO_TCP) {
      this.#inputTcp(packet, ip.ihl, ip.totalLength, ip.src, now);
    } else if (ip.protocol === IPPROTO_ICMP) {
      this.#inputIcmp(packet.subarray(ip.ihl, ip.totalLength), ip.src, now);
    } else {
      c.otherProtocol++;
    }
  }

  #inputIcmp(body: Uint8Array, src: number, now: number): void {
    const m = this.#icmp;
    if (parseIcmp(body, m) !== IcmpParseError.None) {
      this.#c.icmpIgnored++;
      return;
    }
    if (m.type !== ICMP_ECHO_REQUEST) {
      this.#icmpError(m, now);
      return;
    }
    // RFC 1122 §3.2.2.6: answer echo requests (rate-limited: a reply is a reflection).
    if (20 + body.length > this.mtu) {
      this.#c.icmpIgnored++;
      return;
    }
    if (!this.#icmpBucket.take(now)) {
      this.#c.icmpRateLimited++;
      return;
    }
    const n = emitIcmpEchoReply(m, this.#tcpOut);
    this.#c.icmpEchoReplies++;
    this.#sendIp(src, IPPROTO_ICMP, n, 64, 0, now);
  }

  /**
   * An ICMP error (RFC 792, RFC 1122 §4.2.3.9): it quotes the IP header and the first 8 bytes
   * of one of our segments. The connection it names gets it (RFC 1122 §3.2.2, MUST-54), and
   * believes it only if the quoted sequence number is in flight (RFC 5927 §4.1).
   */
  #icmpError(m: IcmpMessage, now: number): void {
    const c = this.#c;
    const kind = icmpErrorKind(m.type, m.code);
    const q = m.data;
    if (kind === null || q.length < 28 || q[0] >>> 4 !== 4) {
      c.icmpIgnored++;
      return;
    }
    const ihl = (q[0] & 0x0f) << 2;
    if (ihl < 20 || q.length < ihl + 8 || q[9] !== IPPROTO_TCP) {
      c.icmpIgnored++;
      return;
    }
    const qsrc = ((q[12] << 24) | (q[13] << 16) | (q[14] << 8) | q[15]) >>> 0;
    const qdst = ((q[16] << 24) | (q[17] << 16) | (q[18] << 8) | q[19]) >>> 0;
    const localPort = (q[ihl] << 8) | q[ihl + 1];
    const remotePort = (q[ihl + 2] << 8) | q[ihl + 3];
    const seq = ((q[ihl + 4] << 24) | (q[ihl + 5] << 16) | (q[ihl + 6] << 8) | q[ihl + 7]) >>> 0;
    const h = qsrc === this.addr ? this.#conns.get(qdst, remotePort, localPort) : undefined;
    if (!h) {
      c.icmpIgnored++;
      return;
    }
    let believed: boolean;
    if (kind === "fragmentation-needed") {
      // RFC 1191 §4: the next-hop MTU is in the low 16 bits; an old router sends 0, and
      // then the next plateau below the quoted packet's size is assumed (RFC 1191 §5).
      const quotedLength = (q[2] << 8) | q[3];
      const mtu = (m.rest & 0xffff) || plateauBelow(quotedLength);
      believed = h.conn.pathMtu(mtu, seq, 40, IPV4_MIN_MTU, now);
      if (believed) c.pmtuUpdates++;
    } else {
      believed = h.conn.icmpError(kind, seq, now);
    }
    if (believed) c.icmpErrors++;
    else c.icmpIgnored++;
    this.#settle(h);
  }

  /** The TCP segment in `packet[start..end)`. */
  #inputTcp(packet: Uint8Array, start: number, end: number, src: number, now: number): void {
    const seg = this.#seg;
    const err = parseTcp(packet, src, this.addr, seg, !this.#trustChecksum, start, end);
    if (err !== TcpParseError.None) {
      if (err === TcpParseError.BadChecksum) this.#c.badTcpChecksum++;
      else this.#c.badTcp++;
      return;
    }
    const h = this.#conns.get(src, seg.srcPort, seg.dstPort);
    if (h) {
      h.conn.handle(seg, now);
      h.conn.segmentsReceived += this.#inSegments - 1; // a super-segment counts as its parts
      this.#settle(h);
      return;
    }
    const l = this.#listeners.get(seg.dstPort);
    const tw = this.#timeWait.get(src, seg.srcPort, seg.dstPort);
    if (tw) {
      const out = this.#reply;
      const canReopen = l !== undefined && !l.closed && !l.acceptQueueFull;
      switch (this.#timeWait.handle(tw, seg, now, canReopen, out)) {
        case TimeWaitAction.Reply:
          if (this.#replyBucket.take(now)) this.#transmitSegment(out, src, tw.ttl, tw.tos, now);
          else this.#c.challengeAcksRateLimited++;
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
    }
    if (l && !l.closed) {
      this.#listenInput(l, seg, src, now);
      return;
    }
    this.#reset(seg, src, now); // RFC 9293 §3.10.7.1: CLOSED
  }

  /** RFC 9293 §3.10.7.2: LISTEN, through the listen queue. */
  #listenInput(l: CoreListener, seg: TcpSegment, src: number, now: number): void {
    const f = seg.flags;
    if ((f & (SYN | ACK | RST)) === SYN) {
      const out = this.#reply;
      if (this.#listenQueue.onSyn(l, seg, src, now, out)) {
        this.#transmitSegment(out, src, l.ttl, l.tos, now);
      } else {
        this.#c.backlogDrops++;
      }
      return;
    }
    if (f & SYN) {
      // SYN,ACK (or SYN,RST) to a listener: an ACK in LISTEN is answered with RST.
      if (!(f & RST)) this.#reset(seg, src, now);
      return;
    }
    const r = this.#listenQueue.onAck(l, seg, src, now);
    if (r === "drop") return;
    if (r === "reset") {
      this.#reset(seg, src, now); // second check of LISTEN: <SEQ=SEG.ACK><CTL=RST>
      return;
    }
    this.#completeHandshake(l, r, seg, now);
  }

  /** The final ACK of a passive open: the connection is made now, and takes the segment. */
  #completeHandshake(l: CoreListener, hs: Handshake, seg: TcpSegment, now: number): void {
    const h = this.#newConnection(
      hs.remoteAddr,
      hs.remotePort,
      hs.localPort,
      false,
      l.options,
      hs.iss,
      now,
    );
    h.listener = l;
    h.conn.adoptHandshake(hs, now);
    this.#register(h);
    h.conn.handle(seg, now);
    this.#settle(h);
  }

  #reset(seg: TcpSegment, src: number, now: number): void {
    const out = this.#reply;
    if (!resetFor(seg, out)) return;
    if (!this.#rstBucket.take(now)) {
      this.#c.resetsRateLimited++;
      return;
    }
    this.#c.resetsSent++;
    this.#transmitSegment(out, src, 64, 0, now);
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
      this.#listenQueue.poll(now, this.#reply, (dst, seg, l) => {
        const cl = l as CoreListener;
        this.#transmitSegment(seg, dst, cl.ttl, cl.tos, now);
      });
    }
    this.#c.connectionsClosed += this.#timeWait.expire(now);
  }

  /** The earliest deadline of anything the core holds (absolute ms), or Infinity. */
  nextDeadline(): number {
    return Math.min(
      this.#timers.next(),
      this.#listenQueue.nextDeadline(),
      this.#timeWait.nextDeadline(),
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
  ): CoreListener {
    if (this.#listeners.has(port)) throw new Deno.errors.AddrInUse(`port ${port} is in use`);
    const o = { ...this.#defaults, ...options };
    const l = new CoreListener(
      port,
      backlog,
      this.#limits.maxHalfOpen,
      this.#limits.synCookies,
      {
        mss: this.mtu - 40,
        recvBufferSize: o.recvBufferSize ?? 1024 * 1024,
        windowScaling: o.windowScaling ?? true,
        sack: o.sack ?? true,
        timestamps: o.timestamps ?? true,
      },
      onConnection,
      options,
      o.ttl ?? 64,
      o.tos ?? 0,
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
    remoteAddr: number,
    remotePort: number,
    localPort = 0,
    options: ConnectionDefaults = {},
  ): ConnHandle {
    if (!isUnicastAddress(remoteAddr) || remoteAddr === this.addr) {
      throw new TypeError("cannot connect to a broadcast, multicast, loopback or own address");
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
    const h = this.#newConnection(remoteAddr, remotePort, port, true, options, iss, now);
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
  ): ConnHandle {
    const h = new ConnHandle(this);
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
      this.#optionsFor(extra),
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
        local: `${formatIpv4Address(this.addr)}:${localPort}`,
        remote: `${formatIpv4Address(remoteAddr)}:${remotePort}`,
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
  #optionsFor(extra: ConnectionDefaults): ConnectionOptions {
    const key = JSON.stringify(extra);
    let o = this.#optionCache.get(key);
    if (!o) {
      o = { ...this.#defaults, ...extra, mss: this.mtu - 40 };
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
    this.#transmitSegment(seg, c.remoteAddr, c.opts.ttl, c.opts.tos, now, c.sndMss);
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

  // -------------------------------------------------------------------------------------
  // Packets out

  /**
   * Emits a TCP segment. On a frame link its checksum is left to the kernel (NEEDS_CSUM) and
   * a payload above `mss` goes as one super-segment the kernel cuts into `mss`-byte segments
   * (TSO): the state machine accounts for it as those segments.
   */
  #transmitSegment(
    seg: TcpSegment,
    dst: number,
    ttl: number,
    tos: number,
    now: number,
    mss = 0,
  ): void {
    const frames = this.#frames;
    const n = emitTcp(seg, this.addr, dst, this.#tcpOut, frames);
    if (frames) {
      const h = this.#vnetOut;
      h.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
      h.csumStart = IPV4_HEADER_LENGTH;
      h.csumOffset = TCP_CHECKSUM_OFFSET;
      h.hdrLen = IPV4_HEADER_LENGTH + n - seg.payload.length;
      if (mss > 0 && seg.payload.length > mss) {
        h.gsoType = VIRTIO_NET_HDR_GSO_TCPV4;
        h.gsoSize = mss;
        this.#outSegments = Math.ceil(seg.payload.length / mss);
        this.#c.superSegmentsOut++;
      } else {
        h.gsoType = VIRTIO_NET_HDR_GSO_NONE;
        h.gsoSize = 0;
        this.#outSegments = 1;
      }
    }
    this.#sendIp(dst, IPPROTO_TCP, n, ttl, tos, now);
  }

  #sendIp(
    dst: number,
    protocol: number,
    payloadLength: number,
    ttl: number,
    tos: number,
    now: number,
  ): void {
    const f = this.#ipFields;
    f.src = this.addr;
    f.dst = dst;
    f.protocol = protocol;
    f.ttl = ttl;
    f.tos = tos;
    f.id = this.#ipId = (this.#ipId + 1) & 0xffff;
    f.payloadLength = payloadLength;
    const ipLength = IPV4_HEADER_LENGTH + payloadLength;
    emitIpv4(this.#ipOut, f);
    const c = this.#c;
    c.packetsOut++;
    const segments = this.#outSegments;
    this.#outSegments = 1;
    if (this.#tap) {
      let packet = this.#ipOut.subarray(0, ipLength);
      if (this.#frames && protocol === IPPROTO_TCP) {
        // The capture shows a complete checksum where the kernel will compute one.
        packet = packet.slice();
        completeVirtioChecksum(packet, ipLength, this.#vnetOut);
      }
      this.#tap("out", packet, now, segments);
    }
    if (this.#frames) {
      if (protocol !== IPPROTO_TCP) resetVirtioNetHdr(this.#vnetOut);
      emitVirtioNetHdr(this.#outFrame, this.#vnetOut);
      this.link.writeFrame!(this.#outFrame, VIRTIO_NET_HDR_LENGTH + ipLength);
    } else {
      this.link.write(this.#views.get(this.#ipOut, 0, ipLength));
    }
  }
}

/** The smallest IPv4 MTU every host must handle (RFC 791, RFC 1122 §3.3.3): PMTU floor. */
const IPV4_MIN_MTU = 576;

/** RFC 1191 §7 table of common MTU plateaus, largest first. */
const MTU_PLATEAUS = [65535, 32000, 17914, 8166, 4352, 2002, 1492, 1006, 508, 296, 68];

/** The largest plateau below `size` (RFC 1191 §5), for a router that sent no MTU. */
function plateauBelow(size: number): number {
  for (const p of MTU_PLATEAUS) if (p < size) return p;
  return 68;
}

/**
 * What an ICMP error means for TCP (RFC 1122 §4.2.3.9, RFC 792), or null for a message TCP
 * does not act on.
 */
function icmpErrorKind(type: number, code: number): IcmpError | "fragmentation-needed" | null {
  switch (type) {
    case 3: // destination unreachable
      switch (code) {
        case 0:
        case 6:
        case 11:
          return "network-unreachable";
        case 2:
          return "protocol-unreachable";
        case 3:
          return "port-unreachable";
        case 4:
          return "fragmentation-needed";
        case 9:
        case 10:
        case 13:
          return "prohibited";
        default:
          return "host-unreachable";
      }
      // (every code returns above)
      // falls through
    case 4:
      return "source-quench";
    case 11:
      return "time-exceeded";
    case 12:
      return "parameter-problem";
    default:
      return null;
  }
}
