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
  emitIcmpTimeExceeded,
  ICMP_ECHO_REQUEST,
  ICMP_TIME_REASSEMBLY,
  type IcmpMessage,
  IcmpParseError,
  newIcmpMessage,
  parseIcmp,
} from "./wire/icmp.ts";
import {
  IPPROTO_ICMP,
  IPPROTO_TCP,
  IPV4_FLAG_MF,
  IPV4_HEADER_LENGTH,
  Ipv4ParseError,
  isUnicastAddress,
  newIpv4Header,
  parseIpv4,
} from "./wire/ipv4.ts";
import {
  ACK,
  newTcpSegment,
  parseTcp,
  parseTcpWithAddressSum,
  RST,
  SYN,
  TcpParseError,
} from "./wire/tcp.ts";
import type { TcpSegment } from "./wire/tcp.ts";
import {
  type ConnectionOptions,
  type ConnError,
  type ConnEvent,
  type IcmpError,
  resetFor,
  State,
  TcpConnection,
} from "./tcp/connection.ts";
import { IsnGenerator, TupleHasher } from "./tcp/isn.ts";
import { type Handshake, ListenQueue } from "./tcp/listen_queue.ts";
import { TimeWaitAction, type TimeWaitRecord, TimeWaitTable } from "./tcp/time_wait.ts";
import { TokenBucket } from "./tcp/rate_limit.ts";
import { TupleMap } from "./tcp/tuple_map.ts";
import { seqDiff } from "./tcp/seq.ts";
import type { Link } from "./link.ts";
import type { TraceEvent } from "./tcp/trace.ts";
import {
  completeVirtioChecksum,
  newVirtioNetHdr,
  parseVirtioNetHdr,
  VIRTIO_NET_HDR_LENGTH,
  virtioChecksumTrusted,
  VirtioParseError,
  virtioSegmentCount,
} from "./wire/virtio.ts";
import { TimerQueue } from "./timer_queue.ts";
import { internetChecksum } from "./wire/checksum.ts";
import {
  IPPROTO_ICMPV6,
  IPV6_HEADER_LENGTH,
  IPV6_MIN_MTU,
  ipv6AddressSum,
  ipv6ErrorAllowed,
  Ipv6ExtError,
  Ipv6ParseError,
  newIpv6Extensions,
  newIpv6Header,
  parseIpv6,
  walkIpv6Extensions,
} from "./wire/ipv6.ts";
import {
  cloneIpv6Address,
  copyIpv6Address,
  type Ipv6Address,
  ipv6Address,
  ipv6Equals,
  isIpv6UnicastAddress,
} from "./wire/ipv6_address.ts";
import {
  emitIcmpv6EchoReply,
  emitIcmpv6Error,
  ICMPV6_DEST_UNREACHABLE,
  ICMPV6_ECHO_REQUEST,
  ICMPV6_PACKET_TOO_BIG,
  ICMPV6_PARAMETER_PROBLEM,
  ICMPV6_TIME_EXCEEDED,
  ICMPV6_TIME_REASSEMBLY,
  Icmpv6Category,
  type Icmpv6Message,
  Icmpv6ParseError,
  Icmpv6QuoteError,
  newIcmpv6Message,
  newIcmpv6Quote,
  parseIcmpv6,
  parseIcmpv6Quote,
} from "./wire/icmpv6.ts";
import {
  type ExpiredDatagram,
  FragmentKey,
  FragmentReassembler,
  FragmentVerdict,
  type ReassemblyCounters,
  type ReassemblyOptions,
} from "./ip/reassembly.ts";
import { ViewCache } from "./wire/views.ts";
import { IpOutput } from "./ip/output.ts";
import { CONNECTION_OVERHEAD_BYTES, ConnHandle, CoreListener } from "./conn_handle.ts";

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

/** Why packets were dropped, and other counters and gauges of a stack. */
export interface StackCounters {
  /** IP packets read from the link. */
  packetsIn: number;
  /** IP packets written to the link. */
  packetsOut: number;
  /** Packets of no IP version the stack speaks (IPv6 too when IPv6 is off). */
  notIpv4: number;
  /** IPv6 packets read (RFC 8200). */
  ipv6PacketsIn: number;
  /** IPv6 header rejected (bad length, multicast source, jumbogram). */
  badIpv6: number;
  /**
   * IPv6 packets dropped while walking their extension headers (RFC 8200 §4): truncated or
   * unrecognized headers and options, a routing header to forward, IPsec, too long a chain.
   */
  ipv6ExtensionDrops: number;
  /** ICMPv6 neighbour discovery, router advertisements and multicast listener messages, ignored. */
  ndIgnored: number;
  /** ICMPv6 Parameter Problem messages sent (RFC 8200 §4, RFC 4443 §3.4), rate-limited. */
  paramProblemsSent: number;
  /** IPv4 header rejected (bad length or checksum). */
  badIp: number;
  /** IPv4 fragments received (reassembled per RFC 791/815; see `reassembly`). */
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
  /**
   * ICMP and ICMPv6 errors sent: Time Exceeded for a datagram whose fragments expired (RFC
   * 792, RFC 8200 §4.5), Parameter Problem for an IPv6 packet we cannot process (RFC 4443).
   */
  icmpErrorsSent: number;
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
  /**
   * Fragment reassembly: datagrams reassembled and, for each reason, fragments and datagrams
   * dropped (overlap, bad end or length, too big, budgets, timeout), with its memory gauge.
   */
  reassembly: Readonly<ReassemblyCounters>;
}

export {
  CONNECTION_OVERHEAD_BYTES,
  ConnHandle,
  type ConnHandler,
  CoreListener,
} from "./conn_handle.ts";

/** The synchronous heart of a stack. */
export class StackCore {
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
  readonly #ip6 = newIpv6Header();
  readonly #ext6 = newIpv6Extensions();
  readonly #icmp6 = newIcmpv6Message();
  readonly #quote6 = newIcmpv6Quote();
  /** Keys IPv6 peers into numbers (see `TupleHasher.addressKey6`). */
  readonly #peerKeys: TupleHasher;
  /** The last IPv6 source keyed, and its key: a stream of packets keys its peer once. */
  readonly #lastPeer6 = ipv6Address();
  #lastPeer6Key = -1;
  /** IP fragment reassembly (RFC 791 §3.2, RFC 815), and the key filled per fragment. */
  readonly #frag: FragmentReassembler;
  readonly #fragKey = new FragmentKey();
  /** The quote of an ICMP error: an IP header (up to 60 bytes) and 8 bytes of its payload. */
  readonly #quote = new Uint8Array(68);
  /** The source of an expired IPv6 datagram, as an address. */
  readonly #expiredSrc6 = ipv6Address();
  /** `now` of the poll that expires datagrams, for its callback. */
  #pollNow = 0;
  readonly #seg = newTcpSegment();
  readonly #reply = newTcpSegment();
  readonly #icmp = newIcmpMessage();
  /** Views of the buffers packets are read from and written out of, made once each. */
  readonly #views = new ViewCache(16);
  /** The link carries virtio-net headers: frames in and out, offloads allowed. */
  readonly #frames: boolean;
  readonly #vnetIn = newVirtioNetHdr();
  /** Packet output: IP headers, fragments, virtio-net headers, the tap, the link. */
  readonly #out: IpOutput;
  /** While a frame is processed: its checksum needs no check; the segments it stands for. */
  #trustChecksum = false;
  #inSegments = 1;

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
      2 * (this.#defaults.mslMs ?? 30_000),
    );
    const lm = this.#limits;
    this.#rstBucket = new TokenBucket(lm.rstRate, Math.max(1, lm.rstRate / 10));
    this.#icmpBucket = new TokenBucket(lm.icmpRate, Math.max(1, lm.icmpRate / 10));
    this.#replyBucket = new TokenBucket(lm.challengeAckRate, Math.max(1, lm.challengeAckRate / 5));
    this.#frames = !!opts.link.frameOffloads && typeof opts.link.writeFrame === "function";
    this.#peerKeys = new TupleHasher(derive(4));
    this.#out = new IpOutput({
      link: opts.link,
      frames: this.#frames,
      addr: this.addr,
      addr6: this.addr6,
      mtu: this.mtu,
      ipId: this.#random() & 0xffff,
      tap: this.#tap,
      counters: this.#c,
      views: this.#views,
    });
    const hashKey = derive(3);
    this.#frag = new FragmentReassembler({
      ...this.#limits.reassembly,
      hashKey: [
        (hashKey[0] | (hashKey[1] << 8) | (hashKey[2] << 16) | (hashKey[3] << 24)) >>> 0,
        (hashKey[4] | (hashKey[5] << 8) | (hashKey[6] << 16) | (hashKey[7] << 24)) >>> 0,
      ],
    });
    this.#c.reassembly = this.#frag.counters;
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
    mem += this.#frag.counters.memoryBytes;
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
    this.#inSegments = virtioSegmentCount(
      hdr,
      tcpPayloadLength(frame, VIRTIO_NET_HDR_LENGTH, length),
    );
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
    if (length > 0 && packet[0] >>> 4 === 6) {
      this.#input6(length === packet.length ? packet : packet.subarray(0, length), now);
      return;
    }
    const ip = this.#ip;
    const err = parseIpv4(packet, length, ip);
    if (err !== Ipv4ParseError.None && err !== Ipv4ParseError.Fragment) {
      if (err === Ipv4ParseError.BadVersion) c.notIpv4++;
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
    if (err === Ipv4ParseError.Fragment) {
      c.fragments++;
      this.#inputFragment(packet, now);
      return;
    }
    this.#inputDatagram(packet, now);
  }

  /**
   * An IPv4 fragment for us (RFC 791 §3.2): held until its datagram is whole (RFC 815), within
   * the bounds of `StackLimits.reassembly`; the whole datagram then goes on as if it had
   * arrived in one piece. Its checksum is verified then, whatever the frame header said.
   */
  #inputFragment(packet: Uint8Array, now: number): void {
    const ip = this.#ip;
    const key = this.#fragKey.setV4(ip.src, ip.dst, ip.id, ip.protocol);
    const offset = ip.fragOffset * 8;
    const more = (ip.flags & IPV4_FLAG_MF) !== 0;
    const payload = packet.subarray(ip.ihl, ip.totalLength);
    const header = offset === 0 ? packet.subarray(0, ip.ihl) : undefined;
    if (this.#frag.insert(key, offset, more, payload, now, header) !== FragmentVerdict.Complete) {
      return;
    }
    const d = this.#frag.completed;
    const b = d.bytes;
    const total = d.headerLength + d.payloadLength;
    // The header of the first fragment now describes the whole datagram.
    b[2] = total >>> 8;
    b[3] = total;
    b[6] = 0;
    b[7] = 0;
    b[10] = 0;
    b[11] = 0;
    const sum = internetChecksum(b, 0, d.headerLength);
    b[10] = sum >>> 8;
    b[11] = sum;
    if (parseIpv4(b, total, ip) !== Ipv4ParseError.None) {
      this.#c.badIp++; // cannot happen: the header was valid and is now unfragmented
      return;
    }
    const trust = this.#trustChecksum;
    const segments = this.#inSegments;
    this.#trustChecksum = false;
    this.#inSegments = 1;
    this.#inputDatagram(b.subarray(0, total), now);
    this.#trustChecksum = trust;
    this.#inSegments = segments;
  }

  /** A whole IPv4 datagram for us, its header parsed into `#ip`. */
  // -------------------------------------------------------------------------------------
  // IPv6 in (RFC 8200)

  /**
   * An IPv6 packet: the fixed header, then the extension headers walked per RFC 8200 §4 (an
   * unrecognized one or an option whose action bits say so draws a rate-limited Parameter
   * Problem), fragments reassembled with the IPv4 bounds, then TCP or ICMPv6.
   */
  #input6(packet: Uint8Array, now: number): void {
    const c = this.#c;
    const a6 = this.addr6;
    if (a6 === null) {
      c.notIpv4++;
      return;
    }
    c.ipv6PacketsIn++;
    const ip = this.#ip6;
    if (parseIpv6(packet, packet.length, ip) !== Ipv6ParseError.None) {
      c.badIpv6++;
      return;
    }
    if (!ipv6Equals(ip.dst, a6)) {
      // Neighbour discovery and router messages go to multicast groups: on a point-to-point
      // TUN link they mean nothing to us, and are ignored without harm.
      if (ip.dst.w0 >>> 24 === 0xff && ip.nextHeader === IPPROTO_ICMPV6) c.ndIgnored++;
      else c.notForUs++;
      return;
    }
    if (!isIpv6UnicastAddress(ip.src) || ipv6Equals(ip.src, a6)) {
      c.badSourceAddress++; // RFC 9293 MUST-63, RFC 4291: never answered
      return;
    }
    const ext = this.#ext6;
    if (walkIpv6Extensions(packet, ip, ext) !== Ipv6ExtError.None) {
      c.ipv6ExtensionDrops++;
      if (ext.icmpCode >= 0) {
        this.#icmp6ErrorOut(packet, ICMPV6_PARAMETER_PROBLEM, ext.icmpCode, ext.icmpPointer, now);
      }
      return;
    }
    if (ext.fragment) {
      c.fragments++;
      this.#inputFragment6(packet, now);
      return;
    }
    this.#inputDatagram6(packet, now);
  }

  /**
   * An IPv6 fragment (RFC 8200 §4.5): reassembled with the same bounds as IPv4's. The header
   * kept is the first fragment's fixed header and unfragmentable part; once whole, its
   * Payload Length and the Next Header that named the Fragment header are patched, and the
   * packet is walked again as if it had arrived in one piece.
   */
  #inputFragment6(packet: Uint8Array, now: number): void {
    const ext = this.#ext6;
    const key = this.#fragKey.setV6(packet, 8, packet, 24, ext.fragmentId, ext.fragmentNextHeader);
    const first = ext.fragmentOffset === 0;
    const v = this.#frag.insert(
      key,
      ext.fragmentOffset,
      ext.moreFragments,
      packet.subarray(ext.fragmentHeaderOffset + 8, ext.end),
      now,
      first ? packet.subarray(0, ext.fragmentHeaderOffset) : undefined,
      ext.fragmentLinkOffset,
    );
    if (v === FragmentVerdict.TooBig) {
      // RFC 8200 §4.5: Parameter Problem code 0 pointing at the Fragment Offset field.
      this.#icmp6ErrorOut(packet, ICMPV6_PARAMETER_PROBLEM, 0, ext.fragmentHeaderOffset + 2, now);
      return;
    }
    if (v !== FragmentVerdict.Complete) return;
    const d = this.#frag.completed;
    const b = d.bytes;
    const total = d.headerLength + d.payloadLength;
    b[4] = (total - IPV6_HEADER_LENGTH) >>> 8;
    b[5] = total - IPV6_HEADER_LENGTH;
    b[d.headerMark] = d.protocol;
    const ip = this.#ip6;
    const whole = b.subarray(0, total);
    if (
      parseIpv6(whole, total, ip) !== Ipv6ParseError.None ||
      walkIpv6Extensions(whole, ip, ext) !== Ipv6ExtError.None || ext.fragment
    ) {
      this.#c.ipv6ExtensionDrops++; // a reassembled packet whose chain is bad, or fragmented again
      return;
    }
    const trust = this.#trustChecksum;
    const segments = this.#inSegments;
    this.#trustChecksum = false;
    this.#inSegments = 1;
    this.#inputDatagram6(whole, now);
    this.#trustChecksum = trust;
    this.#inSegments = segments;
  }

  /** A whole IPv6 packet for us, parsed into `#ip6` and walked into `#ext6`. */
  #inputDatagram6(packet: Uint8Array, now: number): void {
    const ext = this.#ext6;
    const body = packet.subarray(ext.offset, ext.end);
    if (ext.protocol === IPPROTO_TCP) {
      const ip = this.#ip6;
      const seg = this.#seg;
      const sum = ipv6AddressSum(ip.src, ip.dst);
      const err = parseTcpWithAddressSum(body, sum, seg, !this.#trustChecksum);
      if (err !== TcpParseError.None) {
        if (err === TcpParseError.BadChecksum) this.#c.badTcpChecksum++;
        else this.#c.badTcp++;
        return;
      }
      this.#demux(seg, this.#peerKey6(ip.src), ip.src, now);
    } else if (ext.protocol === IPPROTO_ICMPV6) {
      this.#inputIcmp6(body, now);
    } else {
      this.#c.otherProtocol++;
      // RFC 8200 §4: an unrecognized Next Header draws Parameter Problem code 1. UDP is known
      // (and a closed UDP port is no parameter problem): it is dropped in silence.
      if (ext.protocol !== 17) {
        this.#icmp6ErrorOut(packet, ICMPV6_PARAMETER_PROBLEM, 1, ext.nextHeaderOffset, now);
      }
    }
  }

  #inputIcmp6(body: Uint8Array, now: number): void {
    const c = this.#c;
    const ip = this.#ip6;
    const m = this.#icmp6;
    const sum = ipv6AddressSum(ip.src, ip.dst);
    if (parseIcmpv6(body, sum, m) !== Icmpv6ParseError.None) {
      c.icmpIgnored++;
      return;
    }
    switch (m.category) {
      case Icmpv6Category.Echo:
        if (m.type === ICMPV6_ECHO_REQUEST) this.#echo6(m, sum, now);
        else c.icmpIgnored++;
        return;
      case Icmpv6Category.Error:
        this.#icmp6Error(m, now);
        return;
      case Icmpv6Category.NeighborDiscovery:
      case Icmpv6Category.MulticastListener:
        c.ndIgnored++;
        return;
      default:
        c.icmpIgnored++; // RFC 4443 §2.4(b): unknown informational messages are discarded
    }
  }

  /** RFC 4443 §4.2: an echo reply carries the request's identifier, sequence and data. */
  #echo6(m: Icmpv6Message, sum: number, now: number): void {
    if (!this.#icmpBucket.take(now)) {
      this.#c.icmpRateLimited++;
      return;
    }
    this.#c.icmpEchoReplies++;
    const dst = this.#ip6.src;
    if (IPV6_HEADER_LENGTH + 8 + m.data.length <= this.mtu) {
      const n = emitIcmpv6EchoReply(m, this.#out.payload6, sum);
      this.#out.sendIp6(dst, IPPROTO_ICMPV6, n, 64, 0, now);
      return;
    }
    // Larger than the link: the whole reply in fragments (RFC 8200 §4.5 source fragmentation).
    const big = this.#out.bigBuffer;
    const n = emitIcmpv6EchoReply(m, big, sum);
    this.#out.sendFragments6(dst, IPPROTO_ICMPV6, big.subarray(0, n), now);
  }

  /**
   * An ICMPv6 error (RFC 4443 §3) quoting one of our TCP segments reaches its connection, which
   * believes it only if the quoted sequence number is in flight (RFC 5927 §4.1). Packet Too Big
   * lowers the path MTU (RFC 8201), never below IPv6's 1280.
   */
  #icmp6Error(m: Icmpv6Message, now: number): void {
    const c = this.#c;
    const q = this.#quote6;
    if (
      parseIcmpv6Quote(m, q) !== Icmpv6QuoteError.None || q.protocol !== IPPROTO_TCP ||
      !ipv6Equals(q.src, this.addr6!)
    ) {
      c.icmpIgnored++;
      return;
    }
    const h = this.#conns.get(this.#peerKey6(q.dst), q.dstPort, q.srcPort);
    if (!h || h.remote6 === null || !ipv6Equals(h.remote6, q.dst)) {
      c.icmpIgnored++;
      return;
    }
    let believed: boolean;
    if (m.type === ICMPV6_PACKET_TOO_BIG) {
      const before = h.conn.sndMss;
      believed = h.conn.pathMtu(m.rest, q.seq, 60, IPV6_MIN_MTU, now);
      if (h.conn.sndMss !== before) c.pmtuUpdates++;
    } else {
      const kind = icmp6ErrorKind(m.type, m.code);
      believed = kind !== null && h.conn.icmpError(kind, q.seq, now);
    }
    if (believed) c.icmpErrors++;
    else c.icmpIgnored++;
    this.#settle(h);
  }

  /**
   * Sends an ICMPv6 error about the packet being processed (`#ip6`) to its source, quoting as
   * much of it as fits in 1280 bytes (RFC 4443 §2.4(c)), rate-limited (RFC 4443 §2.4(f)).
   */
  #icmp6ErrorOut(packet: Uint8Array, type: number, code: number, param: number, now: number): void {
    const ip = this.#ip6;
    if (!ipv6ErrorAllowed(ip.src, ip.dst, false)) return;
    if (!this.#icmpBucket.take(now)) {
      this.#c.icmpRateLimited++;
      return;
    }
    const sum = ipv6AddressSum(this.addr6!, ip.src);
    const n = emitIcmpv6Error(this.#out.payload6, type, code, param, packet, sum, this.mtu);
    this.#c.icmpErrorsSent++;
    if (type === ICMPV6_PARAMETER_PROBLEM) this.#c.paramProblemsSent++;
    this.#out.sendIp6(ip.src, IPPROTO_ICMPV6, n, 64, 0, now);
  }

  /**
   * The number standing for IPv6 address `a` wherever an IPv4 peer is its uint32 (maps of
   * 4-tuples, hashes): see `TupleHasher.addressKey6`. A lookup by key is always confirmed
   * against the whole address kept with what it finds.
   */
  #peerKey6(a: Ipv6Address): number {
    const last = this.#lastPeer6;
    if (this.#lastPeer6Key >= 0 && ipv6Equals(last, a)) return this.#lastPeer6Key;
    copyIpv6Address(a, last);
    return this.#lastPeer6Key = this.#peerKeys.addressKey6(a.w0, a.w1, a.w2, a.w3);
  }

  #inputDatagram(packet: Uint8Array, now: number): void {
    const ip = this.#ip;
    const c = this.#c;
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
    if (!this.#icmpBucket.take(now)) {
      this.#c.icmpRateLimited++;
      return;
    }
    this.#c.icmpEchoReplies++;
    if (IPV4_HEADER_LENGTH + body.length <= this.mtu) {
      const n = emitIcmpEchoReply(m, this.#out.payload4);
      this.#out.sendIp(src, IPPROTO_ICMP, n, 64, 0, now);
      return;
    }
    // RFC 1122 §3.2.2.6: the reply MUST carry all the request's data; a request that came in
    // fragments is answered in fragments (RFC 791 §3.2). No amplification: the reply is as
    // large as the request.
    const big = this.#out.bigBuffer;
    const n = emitIcmpEchoReply(m, big);
    this.#out.sendFragments(src, IPPROTO_ICMP, big.subarray(0, n), now);
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
      const before = h.conn.sndMss;
      believed = h.conn.pathMtu(mtu, seq, 40, IPV4_MIN_MTU, now);
      if (h.conn.sndMss !== before) c.pmtuUpdates++;
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
    this.#demux(seg, src, null, now);
  }

  /**
   * A valid TCP segment from `src` (an IPv4 address, or the key of IPv6 address `src6`) to a
   * connection, a TIME-WAIT record, a listener, or CLOSED (RFC 9293 §3.10.7).
   */
  #demux(seg: TcpSegment, src: number, src6: Ipv6Address | null, now: number): void {
    const h = this.#conns.get(src, seg.srcPort, seg.dstPort);
    if (h && (src6 === null || ipv6Equals(h.remote6!, src6))) {
      h.conn.handle(seg, now);
      h.conn.segmentsReceived += this.#inSegments - 1; // a super-segment counts as its parts
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
      this.#listenInput(l, seg, src, src6, now);
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
      hs.remote6,
    );
    h.listener = l;
    h.conn.adoptHandshake(hs, now);
    this.#register(h);
    h.conn.handle(seg, now);
    h.conn.segmentsReceived += this.#inSegments - 1; // the final ACK may ride a super-segment
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
    if (this.#frag.nextDeadline() <= now) {
      this.#pollNow = now;
      this.#frag.poll(now, this.#onFragmentsExpired);
    }
  }

  /**
   * An incomplete datagram's lifetime ended: if its first fragment arrived, its source hears
   * ICMP Time Exceeded, "fragment reassembly time exceeded" (RFC 792; RFC 1122 §3.3.2 SHOULD),
   * rate-limited like every ICMP reply.
   */
  readonly #onFragmentsExpired = (d: Readonly<ExpiredDatagram>): void => {
    if (!d.firstFragmentReceived || !this.#icmpBucket.take(this.#pollNow)) return;
    if (d.key.family === 6) {
      // RFC 8200 §4.5: Time Exceeded code 1 to the source of the first fragment, quoting it.
      const k = d.key;
      const dst = this.#expiredSrc6;
      dst.w0 = k.src0;
      dst.w1 = k.src1;
      dst.w2 = k.src2;
      dst.w3 = k.src3;
      const quote = this.#out.bigBuffer;
      quote.set(d.header, 0);
      const extra = Math.min(d.firstPayload.length, IPV6_MIN_MTU);
      quote.set(d.firstPayload.subarray(0, extra), d.header.length);
      const n = emitIcmpv6Error(
        this.#out.payload6,
        ICMPV6_TIME_EXCEEDED,
        ICMPV6_TIME_REASSEMBLY,
        0,
        quote.subarray(0, d.header.length + extra),
        ipv6AddressSum(this.addr6!, dst),
        this.mtu,
      );
      this.#c.icmpErrorsSent++;
      this.#out.sendIp6(dst, IPPROTO_ICMPV6, n, 64, 0, this.#pollNow);
      return;
    }
    const quote = this.#quote;
    const ihl = d.header.length;
    quote.set(d.header, 0);
    const extra = Math.min(8, d.firstPayload.length);
    quote.set(d.firstPayload.subarray(0, extra), ihl);
    const n = emitIcmpTimeExceeded(
      this.#out.payload4,
      ICMP_TIME_REASSEMBLY,
      quote.subarray(0, ihl + extra),
    );
    this.#c.icmpErrorsSent++;
    this.#out.sendIp(d.key.src0, IPPROTO_ICMP, n, 64, 0, this.#pollNow);
  };

  /** The earliest deadline of anything the core holds (absolute ms), or Infinity. */
  nextDeadline(): number {
    return Math.min(
      this.#timers.next(),
      this.#listenQueue.nextDeadline(),
      this.#timeWait.nextDeadline(),
      this.#frag.nextDeadline(),
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

/**
 * The TCP payload length of the IP packet at `p[start..end)`, read from its headers (IPv4 or
 * IPv6 without extension headers); 0 when it is no such TCP packet. A super-segment stands for
 * as many segments as its payload, not its headers, fills MSS-sized pieces.
 */
function tcpPayloadLength(p: Uint8Array, start: number, end: number): number {
  const v = p[start] >>> 4;
  let ipLen: number;
  let ipHeader: number;
  if (v === 4 && end - start >= 20 && p[start + 9] === IPPROTO_TCP) {
    ipHeader = (p[start] & 0x0f) << 2;
    ipLen = Math.min(end - start, (p[start + 2] << 8) | p[start + 3]);
  } else if (v === 6 && end - start >= 40 && p[start + 6] === IPPROTO_TCP) {
    ipHeader = 40;
    ipLen = Math.min(end - start, 40 + ((p[start + 4] << 8) | p[start + 5]));
  } else {
    return 0;
  }
  if (ipLen < ipHeader + 20) return 0;
  const tcpHeader = (p[start + ipHeader + 12] >>> 4) << 2;
  return Math.max(0, ipLen - ipHeader - tcpHeader);
}

/** `host:port`, with the host bracketed when it is an IPv6 address (RFC 3986 §3.2.2). */
function hostPort(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * What an ICMPv6 error other than Packet Too Big means for TCP (RFC 4443 §3, RFC 5461), or
 * null for one TCP does not act on.
 */
function icmp6ErrorKind(type: number, code: number): IcmpError | null {
  switch (type) {
    case ICMPV6_DEST_UNREACHABLE:
      switch (code) {
        case 0: // no route to destination
          return "network-unreachable";
        case 1: // administratively prohibited
        case 5: // source address failed ingress/egress policy
        case 6: // reject route to destination
          return "prohibited";
        case 4:
          return "port-unreachable";
        default: // 2 beyond scope of source address, 3 address unreachable, others
          return "host-unreachable";
      }
      // (every code returns above)
      // falls through
    case ICMPV6_TIME_EXCEEDED:
      return "time-exceeded";
    case ICMPV6_PARAMETER_PROBLEM:
      return "parameter-problem";
    default:
      return null;
  }
}
