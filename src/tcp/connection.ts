/**
 * The TCP connection state machine (RFC 9293), as data in and actions out.
 *
 * A `TcpConnection` is handed parsed segments and the current time (`handle`), timer
 * ticks (`onTimer`), and application calls (`send`, `read`, `closeWrite`, `close`,
 * `abort`). It writes what must happen into its `ConnectionOutput` port: segments to
 * transmit, bytes to deliver, and events. It reads no clock, does no I/O and holds no
 * randomness of its own, so the same inputs always give the same outputs.
 *
 * Reliability (RFC 6298 retransmission, RFC 6675 SACK loss recovery, RFC 6582 NewReno),
 * flow control (RFC 9293 §3.8.6 windows, persist timer, silly window avoidance),
 * options (RFC 7323 window scale and timestamps with PAWS, RFC 2018 SACK) and congestion
 * control (RFC 5681, RFC 6928, RFC 9438 CUBIC) all live here or in the modules beside it.
 * @module
 */

import {
  ACK,
  FIN,
  newTcpSegment,
  PSH,
  resetTcpOptions,
  RST,
  SYN,
  type TcpSegment,
  URG,
} from "../wire/tcp.ts";
import { seqAdd, seqDiff, seqGe, seqGt, seqI32, seqLe, seqLt, seqMax, tsClock } from "./seq.ts";
import { RttEstimator } from "./rtt.ts";
import { RecvBuffer } from "./recv_buffer.ts";
import { SendBuffer } from "./send_buffer.ts";
import type { CongestionControl } from "./congestion/types.ts";
import { createCongestionControl } from "./congestion/mod.ts";
import { type Handshake, windowShift } from "./listen_queue.ts";
import {
  type ConnectionOptions,
  type KeepAliveOptions,
  type ResolvedOptions,
  resolveKeepAlive,
  resolveOptions,
} from "./options.ts";
import { LossRecovery, NewAck } from "./recovery.ts";
import { ProbeAction, Probes } from "./probes.ts";
import { PathMtu } from "./path_mtu.ts";
import { flagLetters, type SegEvent, STATE_NAMES, type Tracer } from "./trace.ts";
import { R_EVER_RETRANS, Scoreboard, type TxRecord } from "./scoreboard.ts";

/** The eleven states of RFC 9293 §3.3.2. */
export enum State {
  Closed = 0,
  Listen = 1,
  SynSent = 2,
  SynReceived = 3,
  Established = 4,
  FinWait1 = 5,
  FinWait2 = 6,
  CloseWait = 7,
  Closing = 8,
  LastAck = 9,
  TimeWait = 10,
}

/** RFC names of the states, indexed by `State` (trace.ts holds them: traces carry them). */
export { STATE_NAMES };

/** Why a connection failed. */
export type ConnError =
  | "refused"
  | "reset"
  | "timeout"
  /** ICMP (or ICMPv6) destination unreachable for the network, during the handshake. */
  | "network-unreachable"
  /** ICMP (or ICMPv6) destination unreachable for the host, during the handshake. */
  | "host-unreachable";

/**
 * An ICMP or ICMPv6 error about one of our segments (RFC 1122 §4.2.3.9, RFC 4443 §3), as the
 * IP layer classifies it.
 */
export type IcmpError =
  | "network-unreachable"
  | "host-unreachable"
  | "protocol-unreachable"
  | "port-unreachable"
  | "prohibited"
  | "time-exceeded"
  | "parameter-problem"
  | "source-quench";

export type { ConnectionOptions, KeepAliveOptions, ResolvedOptions } from "./options.ts";

/** Events a connection reports to its owner. */
export type ConnEvent =
  /** The three-way handshake completed. */
  | "established"
  /** The peer's FIN arrived in order: no more data will be delivered. */
  | "remote-closed"
  /** Send buffer space was freed after `send` accepted less than offered. */
  | "send-space"
  /** Both directions finished normally (TIME-WAIT or CLOSED reached). Reported once. */
  | "finished"
  /** The connection failed; see the error argument. Reported once, instead of "finished". */
  | "error"
  /** Urgent data arrived that the application has not read (RFC 9293 §3.8.5). */
  | "urgent"
  /**
   * R1 retransmissions of one segment went unanswered (RFC 9293 §3.8.3): the peer or the
   * path may be failing. Reported once per episode; the connection goes on until R2.
   */
  | "stalled"
  /**
   * An ICMP soft error (unreachable, time exceeded, parameter problem) quoting data in flight
   * was believed (RFC 9293 §3.9.1.8 ERROR_REPORT, MUST-47): `softError` names it. The
   * connection goes on; it is the cause named if it later times out.
   */
  | "soft-error";

/** Where a connection writes its actions. */
export interface ConnectionOutput {
  /** Serialize and send this segment now. The object is reused after the call returns. */
  transmit(seg: TcpSegment): void;
  /** In-order bytes arrived: the application can `read` them now. */
  readable(): void;
  /** A state event; `error` is set for the "error" event. */
  event(ev: ConnEvent, error?: ConnError): void;
  /**
   * Asked when an ACK becomes due that may wait for the end of the current batch of
   * segments: true when the owner will call `flushAck` then (stretch ACKs), false (or
   * absent) to have the ACK sent at once as RFC 5681 §4.2 says.
   */
  deferAck?(): boolean;
  /**
   * Asked before a reply to an invalid segment (an ACK to an unacceptable segment, a
   * challenge ACK, an RST): true when the stack-wide budget allows one more (RFC 5961 §7).
   * Absent: no stack-wide limit.
   */
  replyBudget?(): boolean;
}

/** Identity of a connection: the 4-tuple (addresses as uint32) and the initial send sequence. */
export interface ConnectionId {
  localAddr: number;
  localPort: number;
  remoteAddr: number;
  remotePort: number;
  /** Initial send sequence number (RFC 6528, chosen by the caller). */
  iss: number;
  /** Offset added to the millisecond clock for TSval (RFC 7323 §5.4), chosen by the caller. */
  tsOffset?: number;
}

/** Counters and gauges of one connection. */
export interface ConnStats {
  /** RFC 9293 state name, e.g. "ESTABLISHED". */
  state: string;
  /** Application bytes acknowledged by the peer. */
  bytesSent: number;
  /** Application bytes delivered in order. */
  bytesReceived: number;
  /** Segments sent, pure ACKs and retransmissions included. */
  segmentsSent: number;
  /** Segments received for this connection. */
  segmentsReceived: number;
  /** Segments sent again (timeouts, fast and SACK retransmissions). */
  retransmissions: number;
  /** Payload bytes sent again. */
  retransmittedBytes: number;
  /** Fast retransmits on entering loss recovery (RFC 5681 §3.2, RFC 6675). */
  fastRetransmits: number;
  /** Retransmission timer expiries (RFC 6298). */
  timeouts: number;
  /** Duplicate ACKs received (RFC 5681 §2). */
  dupAcksReceived: number;
  /** Segments received beyond a gap and held for reassembly. */
  outOfOrderSegments: number;
  /** Zero-window probes sent by the persist timer. */
  zeroWindowProbes: number;
  /** Tail loss probes sent (RFC 8985 §7). */
  lossProbes: number;
  /** Smoothed RTT in ms, or -1 before the first sample. */
  srttMs: number;
  /** RTT variation in ms (RFC 6298). */
  rttvarMs: number;
  /** Current retransmission timeout in ms, backoff included. */
  rtoMs: number;
  /** Congestion window in bytes. */
  cwnd: number;
  /** Slow-start threshold in bytes. */
  ssthresh: number;
  /** Peer's window in bytes (scaled). */
  sndWnd: number;
  /** Our advertised window in bytes. */
  rcvWnd: number;
  /** Effective send MSS (payload bytes per segment). */
  mss: number;
  /**
   * The path MTU learned from ICMP "fragmentation needed" or Packet Too Big (RFC 1191, RFC
   * 8201), or 0 while none has lowered it.
   */
  pmtu: number;
  /** Times an ICMP message lowered the MSS (path MTU discovery). */
  pmtuDrops: number;
  /** Times repeated timeouts of full-size segments halved the MSS (black-hole detection). */
  blackHoleDrops: number;
  /** Congestion control algorithm: "cubic" or "newreno". */
  congestion: string;
}

/** A stretch ACK covers at most this many segments, or this many bytes (as Linux with GRO). */
const STRETCH_SEGMENTS = 16;
const STRETCH_BYTES = 65536;
/** `#emitting` while a retransmission goes out. */
const EMIT_RETRANSMIT = 1;
/** Data sent this soon before data arrives marks the exchange as interactive. */
const INTERACTIVE_MS = 200;
/** R1 of RFC 9293 §3.8.3 (SHLD-10: at least 3 retransmissions). */
const R1_RETRIES = 3;
const TS_24_DAYS = 24 * 24 * 3600 * 1000; // RFC 7323 §5.5
const MAX_WINDOW = 65535;
const NO_DEADLINE = Infinity;
/** Buffers empty this long are released (allocated again on first use). */
const BUFFER_IDLE_MS = 1000;

/** The state machine of one TCP connection. */
export class TcpConnection {
  // Identity
  readonly localAddr: number;
  readonly localPort: number;
  readonly remoteAddr: number;
  readonly remotePort: number;
  /** True when this side opened actively (connect). */
  readonly active: boolean;

  state: State = State.Closed;

  // Send sequence space, RFC 9293 §3.3.1. Numeric fields written per segment start as
  // numbers (set again in the constructor): a field that starts undefined holds a fresh heap
  // number for every sequence number past 2^31 stored in it.
  readonly iss: number;
  sndUna = 0;
  /** Next new sequence number to send (the highest sent + 1; never pulled back). */
  sndNxt = 0;
  sndWnd = 0;
  sndWl1 = 0;
  sndWl2 = 0;
  /** Largest window the peer has offered, for sender SWS avoidance (§3.8.6.2.1). */
  maxSndWnd = 0;
  /** Shift applied to the peer's window field (RFC 7323 §2.3). */
  sndWscale = 0;

  // Receive sequence space
  irs = 0;
  rcvNxt = 0;
  /** Right edge of the window we last advertised; never moves left (§3.8.6.2.2). */
  rcvAdvRight = 0;
  /** Our window scale shift. */
  rcvWscale = 0;

  // Negotiated options
  sackOk = false;
  tsOk = false;
  #wsOk = false;
  /** Our SYN has been acknowledged: the send buffer starts at SND.UNA. */
  #synAcked = false;
  tsRecent = 0;
  tsRecentAt = 0;
  lastAckSent = 0;
  /** Peer's MSS (536 when absent, RFC 9293 §3.7.1). */
  peerMss = 536;
  /** Effective payload bytes per segment. */
  sndMss = 0;

  /**
   * The options in force, defaults filled in. Shared (read-only) by connections made from the
   * same options object; the setters below give a connection its own copy first.
   */
  opts: ResolvedOptions;
  #ownOpts = false;

  // Buffers
  readonly sendBuf: SendBuffer;
  /** In-order bytes not yet read and out-of-order bytes inside the window, in one ring. */
  readonly rcvBuf: RecvBuffer;
  /** The application reads nothing more: arriving data is acknowledged and dropped. */
  #discardInput = false;
  /** When the buffers are empty, the instant their memory is released (Infinity: not armed). */
  bufReleaseAt = NO_DEADLINE;

  // Close bookkeeping
  /** The application asked to close its sending side; a FIN follows the queued data. */
  finQueued = false;
  /** Sequence number of our FIN once sent, else -1. */
  finSeq = -1;
  /** The peer's FIN, when seen ahead of the data before it; else -1. */
  rcvFinSeq = -1;
  /** SND.UP: the byte after our urgent data (RFC 9293 §3.8.5), while `#sndUpValid`. */
  sndUp = 0;
  #sndUpValid = false;
  /** RCV.UP: the byte after the peer's urgent data (RFC 9293 §3.8.5, RFC 6093). */
  rcvUp = 0;
  #rcvUpValid = false;
  /** The window our SYN offered (unscaled, RFC 7323 §2.2). */
  #synWindow = 0;
  /** The peer's FIN was processed: the receive side is over. */
  remoteClosed = false;
  /** The application closed fully and will read nothing more. */
  orphan = false;
  #reported = false;

  // Retransmission
  readonly rtt: RttEstimator;
  readonly cc: CongestionControl;
  /** What was sent and not yet acknowledged, and what the peer said of it (RFC 6675). */
  readonly #sb = new Scoreboard();
  /** SACK and NewReno loss recovery, and the tail loss probe (recovery.ts). */
  readonly #rec: LossRecovery;
  #retries = 0;
  #cwndLimited = false;
  #lastSendAt = 0;
  /** When SND.UNA last advanced, or data went out with nothing in flight (user timeout). */
  #progressAt = 0;
  #r1Reported = false;

  // Timers (absolute deadlines in ms, Infinity when off)
  rtoAt = NO_DEADLINE;
  /** The persist and keep-alive timers (probes.ts). */
  readonly #probes: Probes = new Probes(this);
  delAckAt = NO_DEADLINE;
  timeWaitAt = NO_DEADLINE;
  finWait2At = NO_DEADLINE;

  // ACK generation
  #ackNow = false;
  #unackedSegs = 0;
  #unackedBytes = 0;
  /** An ACK is owed and the owner will ask for it at the end of its batch (`flushAck`). */
  #ackDeferred = false;
  /** Data carrying PSH arrived since our last ACK (Linux's ICSK_ACK_PUSHED). */
  #pushed = false;
  /** When we last sent data: a reply soon after data arrived marks interactive traffic. */
  #lastDataSentAt = -Infinity;
  #sendBlocked = false;
  #lastRecvAt = 0;
  /** Offset added to the millisecond clock for our TSval (RFC 7323 §5.4). */
  readonly tsOffset: number;

  // Output
  #out: ConnectionOutput;

  /** Where trace events go (see trace.ts), or null: tracing off. */
  tracer: Tracer | null = null;
  #tracedCwnd = -1;
  #tracedSsthresh = -1;
  /** What the segment being emitted is (for the trace). */
  #emitting = 0;
  /** The time of the last call that changed the state (for transitions without a clock). */
  #lastEventAt = 0;

  // Statistics
  bytesSent = 0;
  bytesReceived = 0;
  segmentsSent = 0;
  segmentsReceived = 0;
  retransmissions = 0;
  retransmittedBytes = 0;
  fastRetransmits = 0;
  timeouts = 0;
  dupAcksReceived = 0;
  outOfOrderSegments = 0;
  zeroWindowProbes = 0;
  lossProbes = 0;
  /** Segments dropped by PAWS (RFC 7323 §5). */
  pawsRejected = 0;
  /** Segments dropped for an ACK outside SND.UNA − MAX.SND.WND .. SND.NXT (RFC 5961 §5). */
  invalidAcks = 0;
  /** Challenge ACKs due (RFC 5961 §3.2, §4.2, §5.2), sent or suppressed. */
  challengeAcks = 0;
  /** Replies to invalid segments withheld by the rate limits (RFC 5961 §7). */
  repliesSuppressed = 0;
  /** Data segments dropped by the receive buffer (too many out-of-order ranges). */
  receiveDrops = 0;
  /** ICMP errors not believed: the quoted sequence number was not in flight (RFC 5927). */
  icmpRejected = 0;
  /** The last soft error an ICMP message reported (RFC 9293 §3.9.2.2), or null. */
  softError: IcmpError | null = null;
  /** Path MTU discovery and black-hole detection (path_mtu.ts). */
  readonly #pmtu: PathMtu = new PathMtu(this);
  #lastInvalidReplyAt = -Infinity;

  /**
   * Creates a connection. Call `open(now)` for an active open, or `acceptSyn(seg, now)`
   * for a passive one (the stack's listener calls it for a SYN in LISTEN).
   */
  constructor(
    id: ConnectionId,
    active: boolean,
    options: ConnectionOptions,
    out: ConnectionOutput,
  ) {
    this.localAddr = id.localAddr;
    this.localPort = id.localPort;
    this.remoteAddr = id.remoteAddr;
    this.remotePort = id.remotePort;
    this.iss = id.iss >>> 0;
    this.tsOffset = (id.tsOffset ?? 0) >>> 0;
    this.active = active;
    this.opts = resolveOptions(options);
    this.sndUna = this.iss;
    this.sndNxt = this.iss;
    this.#rec = new LossRecovery(this, this.#sb, this.iss);
    this.sndMss = Math.min(536, this.opts.mss);
    this.sendBuf = new SendBuffer(this.opts.sendBufferSize);
    this.rtt = new RttEstimator({
      initialRtoMs: this.opts.initialRtoMs,
      minRtoMs: this.opts.minRtoMs,
      maxRtoMs: this.opts.maxRtoMs,
    });
    this.cc = createCongestionControl(this.opts.congestion, this.sndMss);
    // RFC 7323 §2.3, as the listen queue's SYN,ACK offers it (adoptHandshake relies on that).
    const shift = this.opts.windowScaling ? windowShift(this.opts.recvBufferSize) : 0;
    this.rcvWscale = shift;
    // The ring holds the whole buffer plus room for the window's rounding up to a scale unit
    // (see #windowField): the advertised right edge never moves left, so it may creep past
    // the buffer by less than a unit per ACK while the application reads nothing.
    const slack = shift === 0 ? 0 : Math.max(1 << shift, this.opts.recvBufferSize >> 4);
    this.rcvBuf = new RecvBuffer(this.opts.recvBufferSize + slack);
    this.#out = out;
  }

  /** Duplicate ACKs counted towards fast retransmit (RFC 5681 §2). */
  get dupAcks(): number {
    return this.#rec.dupAcks;
  }

  /** In fast recovery (RFC 6582) or SACK loss recovery (RFC 6675 §5). */
  get inRecovery(): boolean {
    return this.#rec.inRecovery;
  }

  /** RFC 6582 "recover" / RFC 6675 RecoveryPoint. */
  get recover(): number {
    return this.#rec.recover;
  }

  /** Tail loss probe deadline (RFC 8985 §7.2), Infinity when off. */
  get ptoAt(): number {
    return this.#rec.ptoAt;
  }

  /** Persist timer deadline (RFC 9293 §3.8.6.1), Infinity when off. */
  get persistAt(): number {
    return this.#probes.persistAt;
  }

  /** Keep-alive timer deadline (RFC 9293 §3.8.4), Infinity when off. */
  get keepAliveAt(): number {
    return this.#probes.keepAliveAt;
  }

  /** The path MTU learnt from ICMP, or Infinity. */
  get pmtu(): number {
    return this.#pmtu.pmtu;
  }

  /** Times the path MTU lowered the MSS (RFC 1191, RFC 8201, black-hole detection). */
  get pmtuDrops(): number {
    return this.#pmtu.drops;
  }

  /** Of those, the ones black-hole detection made (no ICMP came). */
  get blackHoleDrops(): number {
    return this.#pmtu.blackHoleDrops;
  }

  /** When to try the MSS the handshake allowed again after a path MTU drop, or Infinity. */
  get mtuProbeAt(): number {
    return this.#pmtu.raiseAt;
  }

  // ---------------------------------------------------------------------------------------
  // Opening

  /** Active OPEN (RFC 9293 §3.10.1): send SYN and enter SYN-SENT. */
  open(now: number): void {
    this.#to(State.SynSent, "connect()", now);
    this.#sendSyn(now, false);
    this.rtoAt = now + this.rtt.rto;
  }

  /**
   * Passive open: a SYN arrived for a listener (RFC 9293 §3.10.7.2, LISTEN, fourth check).
   * Records the peer's options, sends SYN,ACK and enters SYN-RECEIVED.
   */
  acceptSyn(seg: TcpSegment, now: number): void {
    this.segmentsReceived++;
    this.#lastRecvAt = now;
    this.irs = seg.seq;
    this.rcvNxt = seqAdd(seg.seq, 1);
    this.rcvAdvRight = this.rcvNxt; // nothing advertised yet
    this.#negotiate(seg);
    this.#updateTsRecent(seg, now);
    // The SYN's window is never scaled (RFC 7323 §2.2).
    this.sndWnd = seg.window;
    this.maxSndWnd = this.sndWnd;
    this.sndWl1 = seg.seq;
    this.sndWl2 = this.iss;
    this.#to(State.SynReceived, "SYN received", now);
    this.#sendSyn(now, false);
    this.rtoAt = now + this.rtt.rto;
    // Data carried on the SYN is not accepted before the handshake completes; the
    // peer retransmits it (RFC 9293 §3.10.7.2 allows queueing, which we do not).
  }

  /**
   * Continues a passive open that the listen queue began (a half-open record or a SYN
   * cookie): the state that the peer's SYN and our SYN,ACK left (RFC 9293 §3.10.7.2,
   * SYN-RECEIVED), ready for the final ACK, which the caller hands to `handle`.
   */
  adoptHandshake(hs: Handshake, now: number): void {
    this.irs = hs.irs;
    this.rcvNxt = seqAdd(hs.irs, 1);
    this.#synWindow = hs.synWindow;
    this.rcvAdvRight = seqAdd(this.rcvNxt, hs.synWindow);
    this.lastAckSent = this.rcvNxt; // our SYN,ACK acknowledged the SYN
    this.#negotiateWith(hs.peerMss, hs.peerWscale, hs.sackOk, hs.tsOk);
    if (this.tsOk) {
      this.tsRecent = hs.tsRecent;
      this.tsRecentAt = now;
    }
    // The SYN's window is never scaled (RFC 7323 §2.2).
    this.sndWnd = hs.peerWindow;
    this.maxSndWnd = this.sndWnd;
    this.sndWl1 = hs.irs;
    this.sndWl2 = this.iss;
    this.#to(State.SynReceived, hs.retransmitted ? "SYN cookie" : "SYN received", now);
    const syn = this.#sb.push(this.iss, 1, SYN, hs.sentAt);
    if (hs.retransmitted) syn.marks |= R_EVER_RETRANS; // Karn's rule
    this.sndNxt = seqAdd(this.iss, 1);
    this.#lastRecvAt = now;
    this.rtoAt = now + this.rtt.rto;
  }

  // ---------------------------------------------------------------------------------------
  // ICMP errors and the path MTU (RFC 1122 §4.2.3.9, RFC 5927, RFC 1191, RFC 8201)

  /**
   * An ICMP error quoting one of our segments, with sequence number `quotedSeq`. RFC 5927
   * §4.1: it is believed only when that number lies in SND.UNA..SND.NXT (a blind attacker
   * cannot know it). In SYN-SENT an unreachable destination is a hard error: the open fails
   * at once, as most stacks do (RFC 5461 §4); afterwards every error is soft (RFC 9293
   * MUST-56): remembered and given as the cause if the connection later times out. Source
   * quench is ignored (RFC 6633, MUST-55). Returns whether the error was believed.
   */
  icmpError(kind: IcmpError, quotedSeq: number, now: number): boolean {
    if (this.state === State.Closed || this.state === State.TimeWait) return false;
    if (seqLt(quotedSeq, this.sndUna) || !seqLt(quotedSeq, this.sndNxt)) {
      this.icmpRejected++;
      return false;
    }
    if (kind === "source-quench") return true;
    this.softError = kind;
    if (this.state === State.SynSent) {
      switch (kind) {
        case "network-unreachable":
          this.#fail("network-unreachable", now);
          return true;
        case "host-unreachable":
        case "prohibited":
          this.#fail("host-unreachable", now);
          return true;
        case "protocol-unreachable":
        case "port-unreachable":
          this.#fail("refused", now);
          return true;
      }
    }
    this.#out.event("soft-error");
    return true;
  }

  /**
   * The path MTU toward the peer is `mtu` (ICMP "fragmentation needed" RFC 1191 §4, or
   * ICMPv6 Packet Too Big RFC 8201), for a segment with sequence number `quotedSeq` (RFC
   * 5927 §4.1 check). Below the current one, the MSS drops to fit, never under the floor
   * `floorMtu` minus headers (a forged tiny MTU cannot make segments absurdly small), and
   * what is in flight is sent again at the new size. `headerBytes`: IP and TCP headers
   * without options (40 for IPv4, 60 for IPv6). Returns whether the message was believed
   * (the MSS may have been lowered already by an earlier one: compare `sndMss`).
   */
  pathMtu(
    mtu: number,
    quotedSeq: number,
    headerBytes: number,
    floorMtu: number,
    now: number,
  ): boolean {
    if (!this.#synchronized() && this.state !== State.SynSent && this.state !== State.SynReceived) {
      return false;
    }
    if (seqLt(quotedSeq, this.sndUna) || !seqLt(quotedSeq, this.sndNxt)) {
      this.icmpRejected++;
      return false;
    }
    const mss = this.#pmtu.fromIcmp(mtu, headerBytes, floorMtu);
    if (mss > 0) this.#lowerMss(mss, now);
    return true;
  }

  /**
   * Lowers the MSS to `mss` (path_mtu.ts chose it); what was sent larger is cut into segments
   * of the new size, marked lost and sent again (RFC 1191 §6.5: retransmit at once; as
   * Linux's tcp_simple_retransmit, without taking it as congestion).
   */
  #lowerMss(mss: number, now: number): void {
    this.sndMss = mss;
    this.cc.setMss(mss);
    this.#pmtu.lowered(now);
    if (this.tracer) this.tracer({ ev: "mss", mss, cause: this.#pmtu.cause }, now);
    if (this.#sb.resegment(mss) > 0 && this.#synchronized()) this.#output(now);
  }

  // ---------------------------------------------------------------------------------------
  // Application calls

  /**
   * SEND (RFC 9293 §3.10.2): queues as much of `data` as the send buffer takes and sends
   * what the windows allow. Returns the number of bytes accepted.
   */
  send(data: Uint8Array, now: number, urgent = false): number {
    if (!this.canSend) return 0;
    const n = this.sendBuf.append(data);
    if (n < data.length) this.#sendBlocked = true;
    if (urgent && n > 0) {
      // RFC 9293 §3.8.5, MUST-62: SND.UP is the sequence number after the urgent data.
      this.sndUp = seqAdd(this.#dataStartSeq(), this.sendBuf.length);
      this.#sndUpValid = true;
    }
    this.bufReleaseAt = NO_DEADLINE;
    if (this.state !== State.SynSent && this.state !== State.SynReceived) this.#output(now);
    return n;
  }

  /**
   * Turns keep-alive probes on (with these settings) or off (`null`) for this connection
   * (RFC 9293 §3.8.4, MUST-24; off by default, MUST-25).
   */
  setKeepAlive(ka: KeepAliveOptions | null, now: number): void {
    this.#writableOpts().keepAlive = resolveKeepAlive(ka);
    this.#probes.keepAliveAt = NO_DEADLINE;
    this.#armKeepAlive(now);
  }

  /** Turns Nagle's algorithm off (`true`) or on (RFC 9293 §3.7.4, MUST-17). */
  setNoDelay(noDelay: boolean, now: number): void {
    this.#writableOpts().noDelay = noDelay;
    if (noDelay && this.#synchronized()) this.#output(now);
  }

  /** Sets the IP TTL and TOS of later segments (MUST-48, MUST-49, SHLD-21). */
  setIpOptions(ttl: number, tos: number): void {
    const o = this.#writableOpts();
    o.ttl = ttl;
    o.tos = tos;
  }

  #writableOpts(): ResolvedOptions {
    if (!this.#ownOpts) {
      this.opts = { ...this.opts };
      this.#ownOpts = true;
    }
    return this.opts;
  }

  /** Whether the application may still queue data. */
  get canSend(): boolean {
    const s = this.state;
    return !this.finQueued && (s === State.SynSent || s === State.SynReceived ||
      s === State.Established || s === State.CloseWait);
  }

  /** Free space in the send buffer. */
  get sendSpace(): number {
    return this.canSend ? this.sendBuf.free : 0;
  }

  /** In-order bytes received and not yet read (RCV.USER of RFC 9293 §3.8.6.2.2). */
  get rcvQueued(): number {
    return this.rcvBuf.unread;
  }

  /**
   * RECEIVE (RFC 9293 §3.10.3): copies up to `into.length` in-order bytes into `into` and
   * returns how many. Reading frees buffer space, and the window reopens when that matters.
   */
  read(into: Uint8Array, now: number): number {
    const n = this.rcvBuf.read(into);
    if (n > 0) this.#afterRead(now);
    return n;
  }

  /**
   * The application will read nothing more (it cancelled its reading): what is held and what
   * arrives later is acknowledged and dropped, so the peer is never stalled by a full window.
   */
  discardInput(now: number): void {
    this.#discardInput = true;
    if (this.rcvBuf.skip(this.rcvBuf.unread) > 0) this.#afterRead(now);
  }

  /**
   * The end of a batch of segments read from the device: the ACK deferred by the stretch-ACK
   * rule goes out now, unless something sent since carried it.
   */
  flushAck(now: number): void {
    if (!this.#ackDeferred) return;
    this.#ackDeferred = false;
    if (this.#synchronized() && this.state !== State.TimeWait) this.#sendAck(now);
  }

  #afterRead(now: number): void {
    this.#armBufferRelease(now);
    // Pushed data the application has read is acknowledged at once, unless the exchange is
    // interactive and our reply will carry the ACK (Linux's quick ACK on ICSK_ACK_PUSHED,
    // outside ping-pong mode).
    if (
      this.#pushed && this.delAckAt !== NO_DEADLINE && this.#synchronized() &&
      now - this.#lastDataSentAt > INTERACTIVE_MS
    ) {
      this.#sendAck(now);
      return;
    }
    if (!this.#synchronized() || this.remoteClosed) return;
    const current = seqDiff(this.rcvAdvRight, this.rcvNxt);
    const avail = this.#rcvSpace();
    // Receiver SWS avoidance (RFC 9293 §3.8.6.2.2): move the right edge only by
    // min(RCV.BUFF/2, Eff.snd.MSS) or more, and send an update only when it matters to a
    // sender that may be stalled.
    const step = this.#swsStep();
    if (avail - current >= step && (current < 2 * this.opts.mss || avail >= 2 * current)) {
      this.#sendAck(now);
    }
  }

  /**
   * CLOSE of the sending side (RFC 9293 §3.10.4): a FIN follows the queued data.
   * The receiving side stays open.
   */
  closeWrite(now: number): void {
    if (this.finQueued) return;
    switch (this.state) {
      case State.SynSent:
      case State.SynReceived:
        this.finQueued = true; // sent once established
        return;
      case State.Established:
        this.finQueued = true;
        this.#to(State.FinWait1, "close", now);
        break;
      case State.CloseWait:
        this.finQueued = true;
        this.#to(State.LastAck, "close", now);
        break;
      default:
        return;
    }
    this.#output(now);
  }

  /**
   * Full close: the application will neither send nor read any more. Queued data and a
   * FIN still go out; data arriving afterwards is acknowledged and dropped.
   */
  close(now: number): void {
    // RFC 1122 §4.2.2.13: closing with received data unread sends RST, to show it was lost.
    if (this.rcvBuf.unread > 0 || this.rcvBuf.hasOutOfOrder) {
      this.abort(now);
      return;
    }
    this.orphan = true;
    if (this.state === State.SynSent) {
      this.#enterClosed(now, "close() while opening");
      return;
    }
    this.closeWrite(now);
    if (this.state === State.FinWait2) this.finWait2At = now + this.opts.finWait2TimeoutMs;
  }

  /** ABORT (RFC 9293 §3.10.5): RST to the peer when synchronized, then CLOSED. */
  abort(now: number): void {
    switch (this.state) {
      case State.SynReceived:
      case State.Established:
      case State.FinWait1:
      case State.FinWait2:
      case State.CloseWait:
        this.#emit(this.sndNxt, RST, null, now);
        break;
    }
    this.#enterClosed(now, "abort()");
  }

  // ---------------------------------------------------------------------------------------
  // Timers

  /** The earliest instant this connection needs `onTimer`, or Infinity. */
  nextDeadline(): number {
    return Math.min(
      this.rtoAt,
      this.#rec.ptoAt,
      this.#probes.persistAt,
      this.delAckAt,
      this.timeWaitAt,
      this.#probes.keepAliveAt,
      this.finWait2At,
      this.bufReleaseAt,
      this.#pmtu.raiseAt,
    );
  }

  /** Fires every timer due at `now`. */
  onTimer(now: number): void {
    if (this.timeWaitAt <= now) {
      // RFC 9293 §3.10.8: the 2·MSL timer ends TIME-WAIT.
      this.timeWaitAt = NO_DEADLINE;
      this.#enterClosed(now, "2·MSL elapsed");
      return;
    }
    if (this.finWait2At <= now) {
      this.finWait2At = NO_DEADLINE;
      if (this.state === State.FinWait2) {
        this.#enterClosed(now, "FIN-WAIT-2 timeout");
        return;
      }
    }
    if (this.#rec.ptoAt <= now) {
      this.#rec.ptoAt = NO_DEADLINE;
      this.#onProbeTimeout(now);
    }
    if (this.rtoAt <= now) {
      this.rtoAt = NO_DEADLINE;
      this.#onRetransmitTimeout(now);
      if (this.state === State.Closed) return;
    }
    if (this.#probes.persistAt <= now) {
      this.#probes.persistAt = NO_DEADLINE;
      this.#onPersist(now);
    }
    if (this.#probes.keepAliveAt <= now) {
      this.#probes.keepAliveAt = NO_DEADLINE;
      this.#onKeepAlive(now);
      if (this.state === State.Closed) return;
    }
    if (this.delAckAt <= now) {
      this.delAckAt = NO_DEADLINE;
      if (this.#synchronized()) this.#sendAck(now);
    }
    if (this.bufReleaseAt <= now) {
      this.bufReleaseAt = NO_DEADLINE;
      this.releaseBuffers();
    }
    if (this.#pmtu.raiseAt <= now) {
      // The path may carry larger segments again (RFC 1191 §6.3): try the full size.
      const full = this.#pmtu.raise();
      if (full > 0) {
        this.sndMss = full;
        this.cc.setMss(full);
        if (this.tracer) this.tracer({ ev: "mss", mss: full, cause: "raise" }, now);
      }
    }
  }

  /**
   * Releases the memory of empty buffers (an idle connection then holds no buffer). Returns
   * the bytes freed. They are allocated again on first use.
   */
  releaseBuffers(): number {
    return this.rcvBuf.release() + this.sendBuf.release() + this.#sb.release();
  }

  /** Bytes of buffer memory this connection holds now (rings and transmission records). */
  get memoryBytes(): number {
    return this.rcvBuf.allocated + this.sendBuf.allocated + this.#sb.memoryBytes;
  }

  /** Arms the release of the buffers once both are empty (and stay so for a while). */
  #armBufferRelease(now: number): void {
    if (this.rcvBuf.unread > 0 || this.rcvBuf.hasOutOfOrder || this.sendBuf.length > 0) {
      this.bufReleaseAt = NO_DEADLINE;
    } else if (this.bufReleaseAt === NO_DEADLINE && this.memoryBytes > 0) {
      this.bufReleaseAt = now + BUFFER_IDLE_MS;
    }
  }

  // ---------------------------------------------------------------------------------------
  // Segment arrival (RFC 9293 §3.10.7)

  /** SEGMENT ARRIVES for this connection. `seg.payload` is only read during the call. */
  handle(seg: TcpSegment, now: number): void {
    this.segmentsReceived++;
    if (this.tracer) this.#traceSeg("in", seg, now);
    switch (this.state) {
      case State.Closed:
      case State.Listen:
        return; // the stack answers these
      case State.SynSent:
        this.#handleSynSent(seg, now);
        return;
    }
    this.#handleSynchronized(seg, now);
    if ((this.state as State) !== State.Closed) this.#afterInput(now);
  }

  /**
   * The peer proved it is there: an acceptable segment arrived. Only then do the keep-alive,
   * zero-window probe and dead-peer counters restart; junk sent to the 4-tuple proves nothing.
   */
  #peerAlive(now: number): void {
    this.#lastRecvAt = now;
    this.#probes.peerAlive();
    this.#armKeepAlive(now);
  }

  /** RFC 9293 §3.10.7.3: SYN-SENT. */
  #handleSynSent(seg: TcpSegment, now: number): void {
    const f = seg.flags;
    let ackOk = false;
    if (f & ACK) {
      // First check: ACK must acknowledge our SYN.
      if (seqLe(seg.ack, this.iss) || seqGt(seg.ack, this.sndNxt)) {
        if (!(f & RST) && this.#replyAllowed(now, false)) this.#emit(seg.ack, RST, null, now);
        return;
      }
      ackOk = true;
    }
    if (f & RST) {
      // Second check: an RST with an acceptable ACK refuses the connection (RFC 5961 §3.2
      // leaves SYN-SENT as RFC 793 has it: the ACK check is the proof).
      if (ackOk) this.#fail("refused", now);
      return;
    }
    if (!(f & SYN)) return; // fifth check: neither SYN nor RST
    // Fourth check: SYN.
    this.#peerAlive(now);
    this.irs = seg.seq;
    this.rcvNxt = seqAdd(seg.seq, 1);
    // Our SYN offered an unscaled window (RFC 7323 §2.2): data on the SYN,ACK may fill it.
    this.rcvAdvRight = seqAdd(this.rcvNxt, this.#synWindow);
    this.#negotiate(seg);
    this.#updateTsRecent(seg, now);
    if (ackOk) {
      // Our SYN is acknowledged: ESTABLISHED.
      const synRecord = this.#sb.head();
      if (synRecord && this.tsOk && seg.options.hasTimestamps && seg.options.tsEcr !== 0) {
        this.#rttSampleFromTs(seg.options.tsEcr, now);
      } else if (synRecord && !(synRecord.marks & R_EVER_RETRANS)) {
        this.#sampleRtt(now - synRecord.sentAt, now); // Karn's rule: unretransmitted SYNs only
      }
      this.#ackUpTo(seg.ack, now);
      // The window of a SYN,ACK is never scaled (RFC 7323 §2.2).
      this.#setSndWnd(seg.window, seg.seq, seg.ack);
      this.rtoAt = NO_DEADLINE;
      this.#retries = 0;
      this.rtt.resetBackoff();
      this.#becomeEstablished(now);
      // Data or FIN on the SYN,ACK continue at the sixth check (RFC 9293 §3.10.7.3).
      if (seg.payload.length > 0 || (f & FIN)) {
        this.#processText(seqAdd(seg.seq, 1), seg.payload, (f & FIN) !== 0, now);
      }
      this.#ackNow = true;
      this.#afterInput(now);
    } else {
      // Simultaneous open: SYN without ACK → SYN-RECEIVED, send SYN,ACK (same ISS).
      this.sndWnd = seg.window;
      this.maxSndWnd = this.sndWnd;
      this.sndWl1 = seg.seq;
      this.#to(State.SynReceived, "SYN received (simultaneous open)", now);
      this.#sendSyn(now, true);
      this.rtoAt = now + this.rtt.rto;
    }
  }

  /**
   * RFC 9293 §3.10.7.4: every synchronized state, plus SYN-RECEIVED. With RFC 5961 (blind
   * RST, SYN and data injection) and RFC 7323 §5 (PAWS): a segment that fails a check gets
   * at most a rate-limited ACK, and nothing else is read from it.
   */
  #handleSynchronized(seg: TcpSegment, now: number): void {
    const f = seg.flags;
    const o = seg.options;
    let payload = seg.payload;
    const seq = seg.seq;
    let fin = (f & FIN) !== 0;

    if (this.state === State.SynReceived && (f & SYN) && seg.seq === this.irs) {
      if (!(f & ACK)) {
        // A retransmitted SYN: our SYN,ACK was lost; send it again (rate-limited: a
        // retransmitted SYN is cheap to forge).
        if (this.#replyAllowed(now, false)) this.#sendSyn(now, true);
        return;
      }
      // Simultaneous open (RFC 9293 §3.5 figure 7; the RFC 5961 §4.2 exception): the
      // peer's SYN,ACK acknowledges our SYN and completes the handshake.
      if (seg.ack === this.sndNxt) {
        this.#peerAlive(now);
        this.#updateTsRecent(seg, now);
        this.#ackUpTo(seg.ack, now);
        this.#setSndWnd(seg.window, seg.seq, seg.ack);
        this.rtoAt = NO_DEADLINE;
        this.#retries = 0;
        this.rtt.resetBackoff();
        this.#becomeEstablished(now);
        this.#ackNow = true;
        return;
      }
    }

    // RFC 7323 §5.3 R1: PAWS, before the acceptability test (RSTs excepted, §5.2).
    if (this.tsOk && o.hasTimestamps && !(f & RST)) {
      if (seqLt(o.tsVal, this.tsRecent) && now - this.tsRecentAt <= TS_24_DAYS) {
        this.pawsRejected++;
        this.#ackUnacceptable(payload.length > 0, now);
        return;
      }
    }

    const rcvWnd = Math.max(0, seqDiff(this.rcvAdvRight, this.rcvNxt));
    // RST (RFC 9293 §3.10.7.4 first and second checks, with RFC 5961 §3.2): only an RST at
    // exactly RCV.NXT resets; one elsewhere in the window draws a (rate-limited) challenge
    // ACK; anything else is dropped. An RST is processed even when the window is zero and
    // whatever data it carries (MUST-66).
    if (f & RST) {
      if (seq !== this.rcvNxt) {
        if (seqGt(seq, this.rcvNxt) && seqLt(seq, seqAdd(this.rcvNxt, Math.max(rcvWnd, 1)))) {
          this.#challengeAck(now);
        }
        return;
      }
      if (this.state === State.SynReceived && !this.active) {
        this.#enterClosed(now, "RST received"); // back to LISTEN: the listener never saw this connection
        return;
      }
      if (this.state === State.SynReceived) {
        this.#fail("refused", now);
        return;
      }
      if (
        this.state === State.Closing || this.state === State.LastAck ||
        this.state === State.TimeWait
      ) {
        this.#enterClosed(now, "RST received");
        return;
      }
      this.#fail("reset", now);
      return;
    }

    // First check: sequence number (§3.10.7.4 table).
    const segLen = payload.length + ((f & SYN) ? 1 : 0) + (fin ? 1 : 0);
    let acceptable: boolean;
    if (segLen === 0) {
      acceptable = rcvWnd === 0
        ? seq === this.rcvNxt
        : seqLe(this.rcvNxt, seq) && seqLt(seq, seqAdd(this.rcvNxt, rcvWnd));
    } else if (rcvWnd === 0) {
      acceptable = false;
    } else {
      const last = seqAdd(seq, segLen - 1);
      const end = seqAdd(this.rcvNxt, rcvWnd);
      acceptable = (seqLe(this.rcvNxt, seq) && seqLt(seq, end)) ||
        (seqLe(this.rcvNxt, last) && seqLt(last, end));
    }
    if (!acceptable) {
      // "If the RCV.WND is zero, no segments will be acceptable, but special allowance should
      // be made to accept valid ACKs": a segment that an open window would have taken (the
      // peer sent it before our window closed, or it probes the window) still carries a
      // current ACK. Its text is dropped; the ACK checks below still apply.
      if (
        rcvWnd === 0 && (f & (ACK | SYN)) === ACK && seqGe(seq, this.rcvNxt) &&
        seqLt(seq, seqAdd(this.rcvNxt, this.opts.recvBufferSize))
      ) {
        payload = payload.subarray(0, 0);
        fin = false;
        this.#ackNow = true;
      } else {
        // TIME-WAIT: a retransmitted FIN restarts the 2·MSL timer (§3.10.7.4, eighth check).
        if (this.state === State.TimeWait && fin) this.timeWaitAt = now + 2 * this.opts.mslMs;
        this.#ackUnacceptable(payload.length > 0, now);
        return;
      }
    }

    // Fourth check: SYN in a synchronized state → challenge ACK (RFC 5961 §4.2).
    if (f & SYN) {
      this.#challengeAck(now);
      return;
    }

    // Fifth check: ACK.
    if (!(f & ACK)) return;
    const ack = seg.ack;
    if (this.state === State.SynReceived) {
      if (seqGt(ack, this.sndUna) && seqLe(ack, this.sndNxt)) {
        this.#peerAlive(now);
        this.#updateTsRecent(seg, now);
        this.#setSndWnd(seg.window << this.sndWscale, seq, ack);
        this.#becomeEstablished(now);
      } else {
        // <SEQ=SEG.ACK><CTL=RST>, rate-limited: the ACK may be forged.
        if (this.#replyAllowed(now, false)) this.#emit(ack, RST, null, now);
        return;
      }
    }
    // RFC 5961 §5.2: the ACK is acceptable only in SND.UNA − MAX.SND.WND ≤ SEG.ACK ≤ SND.NXT.
    // Outside, a (rate-limited) ACK answers and the segment is dropped: nothing of it is read.
    if (
      seqGt(ack, this.sndNxt) || seqLt(ack, seqAdd(this.sndUna, -Math.max(this.maxSndWnd, 1)))
    ) {
      this.invalidAcks++;
      this.#challengeAck(now);
      return;
    }
    // The segment passed every check: only now is its timestamp taken (RFC 7323 §4.3).
    this.#peerAlive(now);
    this.#updateTsRecent(seg, now);
    if (this.state === State.TimeWait) {
      // Only a retransmitted FIN can arrive: acknowledge it and restart 2·MSL.
      if (fin) {
        this.timeWaitAt = now + 2 * this.opts.mslMs;
        this.#sendAck(now);
      }
      return;
    }
    if (!this.#processAck(seg, now)) return;

    // Sixth check: URG (RFC 9293 §3.10.7.4; RFC 6093: the pointer marks the byte after the
    // urgent data).
    if ((f & URG) && seg.urgent > 0) this.#processUrgent(seqAdd(seq, seg.urgent));
    // Seventh check: segment text; eighth: FIN.
    if (payload.length > 0 || fin) {
      this.#processText(seqI32(seq), payload, fin, now, (f & PSH) !== 0);
    }
  }

  /**
   * The answer to an unacceptable segment (failed PAWS, outside the window, or an invalid
   * ACK): an ACK with our current numbers, rate-limited per connection (as Linux's
   * `tcp_invalid_ratelimit`, RFC 5961 §7) so that forged segments cannot draw a reply each,
   * nor two desynchronized peers ACK each other in a loop. A segment with data is more
   * likely the peer's retransmission of data whose ACK was lost, so it is answered more
   * readily than an empty one.
   */
  #ackUnacceptable(hasData: boolean, now: number): void {
    if (this.#replyAllowed(now, hasData)) this.#sendAck(now);
    else this.repliesSuppressed++;
  }

  /** RFC 5961 §3.2, §4.2, §5.2: a challenge ACK, rate-limited like other invalid replies. */
  #challengeAck(now: number): void {
    this.challengeAcks++;
    if (this.#replyAllowed(now, false)) this.#sendAck(now);
    else this.repliesSuppressed++;
  }

  /**
   * Whether a reply to an invalid segment may go out now: one per `invalidReplyIntervalMs`
   * for segments without data, one per a tenth of that for segments with data, and then only
   * if the stack-wide budget (the `replyBudget` hook) allows it.
   */
  #replyAllowed(now: number, hasData: boolean): boolean {
    const interval = this.opts.invalidReplyIntervalMs / (hasData ? 10 : 1);
    if (now - this.#lastInvalidReplyAt < interval) return false;
    if (this.#out.replyBudget && !this.#out.replyBudget()) return false;
    this.#lastInvalidReplyAt = now;
    return true;
  }

  /** The ACK field of an acceptable segment (fifth check). False: drop the segment. */
  #processAck(seg: TcpSegment, now: number): boolean {
    const ack = seg.ack;
    const wnd = seg.window << this.sndWscale;
    const o = seg.options;
    let newlySacked = 0;
    if (this.sackOk && o.sackBlocks.length > 0) {
      newlySacked = this.#sb.applySack(o.sackBlocks, this.sndUna, this.sndNxt, now);
    }
    const advanced = seqGt(ack, this.sndUna);

    if (advanced) {
      this.#onNewAck(seg, now);
    } else if (
      ack === this.sndUna && seqGt(this.sndNxt, this.sndUna) && seg.payload.length === 0 &&
      !(seg.flags & (SYN | FIN))
    ) {
      this.dupAcksReceived++;
      // It counts towards fast retransmit: with SACK, when it carries new SACK
      // information, whatever its window (RFC 6675 §2: receivers such as Linux grow the
      // window on every ACK); without SACK, when the window is unchanged (RFC 5681 §2).
      if (this.sackOk ? newlySacked > 0 : wnd === this.sndWnd) {
        // Fast retransmit on the third (RFC 5681 §3.2, RFC 6675 §5).
        if (this.#rec.onDupAck(newlySacked)) this.#enterRecovery(now);
      }
    } else if (newlySacked > 0) {
      this.#rec.onSack();
    }
    if (newlySacked > 0 || advanced) this.#sb.detectLostRetransmissions();

    // Window update (§3.10.7.4): if SND.UNA =< SEG.ACK =< SND.NXT, and SND.WL1 < SEG.SEQ, or
    // SND.WL1 = SEG.SEQ and SND.WL2 =< SEG.ACK. (SND.UNA is already SEG.ACK when it advanced.)
    if (
      seqLe(this.sndUna, ack) &&
      (seqLt(this.sndWl1, seg.seq) || (this.sndWl1 === seg.seq && seqLe(this.sndWl2, ack)))
    ) {
      this.#setSndWnd(wnd, seqI32(seg.seq), seqI32(ack));
    }

    // State changes that depend on our FIN being acknowledged.
    const finAcked = this.finSeq >= 0 && seqGt(this.sndUna, this.finSeq);
    switch (this.state) {
      case State.FinWait1:
        if (finAcked) {
          this.#to(State.FinWait2, "our FIN acknowledged", now);
          if (this.orphan) this.finWait2At = now + this.opts.finWait2TimeoutMs;
        }
        break;
      case State.Closing:
        if (finAcked) this.#enterTimeWait(now);
        return false;
      case State.LastAck:
        if (finAcked) {
          this.#enterClosed(now, "our FIN acknowledged");
          return false;
        }
        break;
    }
    return true;
  }

  /** A cumulative ACK covering new data. */
  #onNewAck(seg: TcpSegment, now: number): void {
    const ack = seg.ack;
    const flightBefore = this.#rec.pipe();
    const acked = seqDiff(ack, this.sndUna);
    const o = seg.options;

    // The records it covers leave the scoreboard. RTT measurement: from the timestamp echo
    // (RFC 7323 §4) or, without timestamps, from the newest acknowledged segment never
    // retransmitted (Karn's rule, RFC 6298 §3).
    const res = this.#sb.ack(seqI32(ack), now);
    let dataAcked = acked;
    if (res.synAcked) {
      dataAcked--;
      this.#synAcked = true;
    }
    if (res.finAcked) dataAcked--;
    if (this.tsOk && o.hasTimestamps && o.tsEcr !== 0) this.#rttSampleFromTs(seqI32(o.tsEcr), now);
    else if (res.karnSample >= 0) this.#sampleRtt(res.karnSample, now);

    this.sndUna = ack;
    this.#progressAt = now;
    this.#r1Reported = false;
    if (dataAcked > 0) {
      this.sendBuf.consume(dataAcked);
      this.bytesSent += dataAcked;
    }
    // RFC 6298 §5.3 restart, §5.2 stop when all is acknowledged. The backoff ends with the
    // next valid RTT sample (taken above, which resets it), not with any ACK: an ACK of
    // retransmitted data gives no sample without timestamps (Karn's algorithm, MUST-18).
    this.#retries = 0;
    this.rtoAt = this.sndNxt === this.sndUna ? NO_DEADLINE : now + this.rtt.rto;

    // Loss recovery ends with a full acknowledgment, goes on with a partial one (RFC 6582
    // §3.2, RFC 6675 §5); outside it, the congestion window grows (RFC 5681 §3.1).
    const r = this.#rec.onNewAck(acked);
    if (r === NewAck.Normal) {
      this.cc.onAck(Math.max(dataAcked, 0), flightBefore, this.#cwndLimited, now, this.rtt.srtt);
      if (this.tracer) this.#traceCc(now);
    } else if (r === NewAck.Exited && this.tracer) {
      this.tracer({
        ev: "recovery",
        phase: "exit",
        kind: this.sackOk ? "sack" : "newreno",
        recover: this.#rec.recover,
      }, now);
    }
    if (this.#sendBlocked && this.sendBuf.free > 0 && this.canSend) {
      this.#sendBlocked = false;
      this.#out.event("send-space");
    }
  }

  /** Loss recovery begins: fast retransmit (RFC 5681 §3.2, RFC 6675 §5, RFC 6582 §3.2). */
  #enterRecovery(now: number): void {
    this.#rec.enter();
    if (this.tracer) {
      const kind = this.sackOk ? "sack" : "newreno";
      this.tracer({ ev: "recovery", phase: "enter", kind, recover: this.sndNxt }, now);
    }
    this.cc.onCongestionEvent(this.#rec.pipe(), now);
    if (this.tracer) this.#traceCc(now);
    const head = this.#rec.markForRetransmit();
    if (head) {
      this.#retransmit(head, now);
      this.fastRetransmits++;
    }
  }

  /** Traces the congestion state when it changed since last traced. */
  #traceCc(now: number): void {
    const cwnd = this.cc.cwnd, ssthresh = this.cc.ssthresh;
    if (cwnd === this.#tracedCwnd && ssthresh === this.#tracedSsthresh) return;
    this.#tracedCwnd = cwnd;
    this.#tracedSsthresh = ssthresh;
    this.tracer!({ ev: "cc", cwnd, ssthresh, inflight: this.#rec.pipe() }, now);
  }

  /** Traces a segment, sent (`out`, `s` our own) or received (`in`). */
  #traceSeg(dir: "in" | "out", s: TcpSegment, now: number): void {
    const len = s.payload.length;
    const scale = (s.flags & SYN) ? 0 : dir === "out" ? this.rcvWscale : this.sndWscale;
    const e: SegEvent = {
      ev: "seg",
      dir,
      seq: s.seq,
      ack: s.ack,
      len,
      flags: flagLetters(s.flags),
      win: s.window << scale,
    };
    if (s.options.sackBlocks.length > 0) e.sack = [...s.options.sackBlocks];
    if (dir === "out" && this.#emitting === EMIT_RETRANSMIT) e.rtx = true;
    if (len > this.sndMss && dir === "out") e.segs = Math.ceil(len / this.sndMss);
    this.tracer!(e, now);
  }

  #sampleRtt(ms: number, now: number): void {
    this.#sb.noteRtt(ms);
    this.rtt.sample(ms);
    const r = this.rtt;
    if (this.tracer) {
      this.tracer({ ev: "rtt", sample: ms, srtt: r.srtt, rttvar: r.rttvar, rto: r.rto }, now);
    }
  }

  /** SND.WND, SND.WL1, SND.WL2 (`seq` and `ack` may come as int32s, see seqI32). */
  #setSndWnd(wnd: number, seq: number, ack: number): void {
    this.sndWnd = wnd;
    this.sndWl1 = seq >>> 0;
    this.sndWl2 = ack >>> 0;
    if (wnd > this.maxSndWnd) this.maxSndWnd = wnd;
  }

  /** Seventh and eighth checks: segment text and FIN (RFC 9293 §3.10.7.4). */
  #processText(
    seq: number,
    payload: Uint8Array,
    fin: boolean,
    now: number,
    push = false,
  ): void {
    // Text is taken in ESTABLISHED, FIN-WAIT-1 and FIN-WAIT-2 only; in CLOSE-WAIT, CLOSING
    // and LAST-ACK the peer already sent its FIN.
    const s0 = this.state;
    if (
      this.remoteClosed ||
      (s0 !== State.Established && s0 !== State.FinWait1 && s0 !== State.FinWait2)
    ) return;
    let data = payload;
    let s = seq >>> 0; // (it may come as an int32, see seqI32)
    let finSeq = fin ? seqAdd(seq, payload.length) : -1;
    // Trim what was already received.
    if (seqLt(s, this.rcvNxt)) {
      const cut = Math.min(seqDiff(this.rcvNxt, s), data.length);
      data = data.subarray(cut);
      s = seqAdd(s, cut);
    }
    // Trim what lies beyond the advertised window (and with it any FIN).
    const room = seqDiff(this.rcvAdvRight, s);
    if (data.length > room) {
      data = data.subarray(0, Math.max(0, room));
      finSeq = -1;
    }
    if (data.length > 0 && this.orphan) {
      // New data after the application closed: nobody will read it. RFC 1122 §4.2.2.13:
      // send RST to show that it was lost (as Linux does).
      this.#emit(this.sndNxt, RST, null, now);
      this.#enterClosed(now, "data after close(): RST sent");
      return;
    }
    // A FIN seen ahead of the data before it is remembered until the data fills in; data
    // beyond it proves it stale (a FIN is the end of the stream), so it is forgotten.
    if (finSeq >= 0) {
      // ...and a FIN below data already held is no end at all.
      if (!seqGt(seqAdd(this.rcvNxt, this.rcvBuf.heldBeyond), finSeq)) this.rcvFinSeq = finSeq;
    } else if (
      this.rcvFinSeq >= 0 && data.length > 0 && seqGt(seqAdd(s, data.length), this.rcvFinSeq)
    ) {
      this.rcvFinSeq = -1;
    }

    if (data.length > 0) {
      const hadHoles = this.rcvBuf.hasOutOfOrder;
      const advanced = this.rcvBuf.write(seqDiff(s, this.rcvNxt), data);
      if (advanced > 0) {
        this.rcvNxt = seqAdd(this.rcvNxt, advanced);
        this.bytesReceived += advanced;
        if (this.#discardInput) this.rcvBuf.skip(advanced);
        else this.#out.readable();
        // When to ACK (RFC 9293 §3.8.6.3, RFC 5681 §4.2): at once when a gap fills; for a
        // lone segment, after the delayed-ACK timeout (a reply may carry the ACK); for two
        // segments or more, once per batch of segments read from the device (a stretch ACK,
        // as Linux sends behind GRO: MUST-58 aggregate, MUST-59 process all queued first),
        // but at most every 16 segments or 64 KiB. A super-segment counts as its segments.
        this.#unackedSegs += advanced > this.opts.mss ? Math.ceil(advanced / this.opts.mss) : 1;
        this.#unackedBytes += advanced;
        if (push) this.#pushed = true;
        if (
          hadHoles || this.#unackedSegs >= STRETCH_SEGMENTS ||
          this.#unackedBytes >= STRETCH_BYTES
        ) {
          this.#ackNow = true;
        } else if (this.#unackedSegs >= 2) {
          if (!this.#ackDeferred) {
            if (this.#out.deferAck?.()) this.#ackDeferred = true;
            else this.#ackNow = true;
          }
        } else if (this.delAckAt === NO_DEADLINE) {
          this.delAckAt = now + this.opts.delayedAckMs;
        }
      } else {
        // Out of order (§3.10.7.4: held for later) or dropped: an immediate duplicate ACK
        // (RFC 5681 §4.2) tells the sender where the gap is.
        if (advanced === 0) this.outOfOrderSegments++;
        else this.receiveDrops++;
        this.#ackNow = true;
      }
    } else if (payload.length > 0) {
      this.#ackNow = true; // duplicate data: ACK at once so the sender learns
    }

    if (this.rcvFinSeq >= 0 && this.rcvFinSeq === this.rcvNxt) this.#processFin(now);
  }

  /**
   * The urgent pointer of an acceptable segment (RFC 9293 §3.8.5, §3.10.7.4 sixth check):
   * RCV.UP = max(RCV.UP, SEG.UP), and the application hears of urgent data it has not read.
   * RFC 6093: the pointer is the sequence number of the byte after the urgent data, and the
   * data stays in the stream ("inline").
   */
  #processUrgent(up: number): void {
    const s = this.state;
    if (s !== State.Established && s !== State.FinWait1 && s !== State.FinWait2) return;
    // Only a pointer within what the window allows is taken.
    if (seqGt(up, this.rcvAdvRight)) return;
    if (this.#rcvUpValid && !seqGt(up, this.rcvUp)) return;
    this.rcvUp = up;
    this.#rcvUpValid = true;
    if (this.urgentPending > 0) this.#out.event("urgent");
  }

  /**
   * Urgent bytes the application has not read yet (RFC 9293 MUST-33: it can learn how much
   * urgent data remains): from the next byte it reads up to RCV.UP.
   */
  get urgentPending(): number {
    if (!this.#rcvUpValid) return 0;
    const readSeq = seqAdd(this.rcvNxt, -this.rcvBuf.unread);
    const n = seqDiff(this.rcvUp, readSeq);
    return n > 0 ? n : 0;
  }

  /** Eighth check: FIN (RFC 9293 §3.10.7.4). */
  #processFin(now: number): void {
    this.rcvNxt = seqAdd(this.rcvNxt, 1);
    this.rcvFinSeq = -1;
    this.remoteClosed = true;
    this.rcvBuf.dropOutOfOrder();
    this.#ackNow = true;
    this.#out.event("remote-closed");
    switch (this.state) {
      case State.SynReceived:
      case State.Established:
        this.#to(State.CloseWait, "FIN received", now);
        break;
      case State.FinWait1:
        if (this.finSeq >= 0 && seqGt(this.sndUna, this.finSeq)) this.#enterTimeWait(now);
        else this.#to(State.Closing, "FIN received", now);
        break;
      case State.FinWait2:
        this.#enterTimeWait(now);
        break;
    }
  }

  /** A state transition, traced with its cause. */
  #to(s: State, cause: string, now: number): void {
    const from = this.state;
    this.state = s;
    this.#lastEventAt = now;
    if (this.tracer && from !== s) {
      this.tracer({ ev: "state", from: STATE_NAMES[from], to: STATE_NAMES[s], cause }, now);
    }
  }

  #becomeEstablished(now: number): void {
    this.#to(
      State.Established,
      this.state === State.SynSent ? "SYN,ACK received" : "ACK of our SYN",
      now,
    );
    if (this.timeouts > 0) this.rtt.restartAfterSynTimeout(); // RFC 6298 §5.7
    this.#lastSendAt = now;
    this.cc.setMss(this.sndMss);
    this.#out.event("established");
    if (this.finQueued) this.#to(State.FinWait1, "close", now);
    this.#armKeepAlive(now);
  }

  #enterTimeWait(now: number): void {
    this.#to(State.TimeWait, "both FINs acknowledged", now);
    this.#stopTimers();
    this.timeWaitAt = now + 2 * this.opts.mslMs;
    this.#report("finished", undefined, now);
  }

  #enterClosed(now = this.#lastEventAt, cause = "closed"): void {
    this.#to(State.Closed, cause, now);
    this.#stopTimers();
    // In-order bytes stay readable after the end, as from a kernel socket; the rest goes.
    this.rcvBuf.dropOutOfOrder();
    this.sendBuf.clear();
    this.#report("finished", undefined, now);
  }

  #stopTimers(): void {
    this.rtoAt = NO_DEADLINE;
    this.#rec.ptoAt = NO_DEADLINE;
    this.#probes.stop();
    this.delAckAt = NO_DEADLINE;
    this.timeWaitAt = NO_DEADLINE;
    this.finWait2At = NO_DEADLINE;
  }

  #fail(error: ConnError, now: number): void {
    this.#report("error", error, now);
    this.#enterClosed(now, error);
  }

  #report(ev: "finished" | "error", error?: ConnError, now = this.#lastEventAt): void {
    if (this.#reported) return;
    this.#reported = true;
    if (this.tracer) this.tracer({ ev: "close", reason: error ?? "finished" }, now);
    this.#out.event(ev, error);
  }

  /** After a segment was processed: send what is now allowed, then any ACK owed. */
  #afterInput(now: number): void {
    if (this.state === State.Closed || this.state === State.TimeWait) {
      if (this.#ackNow && this.state === State.TimeWait) this.#sendAck(now);
      this.#ackNow = false;
      return;
    }
    this.#output(now);
    if (this.#ackNow) this.#sendAck(now);
    this.#armBufferRelease(now);
  }

  // ---------------------------------------------------------------------------------------
  // Output

  /** Sends retransmissions and new data as the windows allow (RFC 6675 §5, RFC 9293 §3.8.6). */
  #output(now: number): void {
    if (!this.#synchronized() || this.state === State.TimeWait) return;
    // RFC 5681 §4.1: restart from the initial window after an idle period longer than RTO.
    if (this.sndNxt === this.sndUna && now - this.#lastSendAt > this.rtt.rto) {
      this.cc.onIdleRestart(now);
      if (this.tracer) this.#traceCc(now);
    }
    const dataEnd = seqAdd(this.#dataStartSeq(), this.sendBuf.length);
    for (let guard = 0; guard < 100_000; guard++) {
      const pipe = this.#rec.pipe();
      const cwnd = this.cc.cwnd;
      // 1. Retransmit segments marked lost (RFC 6675 NextSeg rule 1).
      if (this.#sb.lostOut > this.#sb.retransOut) {
        const r = this.#sb.firstLostUnsent();
        if (r) {
          if (pipe + Math.min(r.len, this.sndMss) > cwnd) {
            this.#cwndLimited = true;
            break;
          }
          this.#retransmit(r, now);
          continue;
        }
      }
      // 2. New data (NextSeg rule 2).
      const unsent = this.#unsentBytes(dataEnd);
      const wndRight = seqAdd(this.sndUna, this.sndWnd);
      const usableWnd = seqDiff(wndRight, this.sndNxt);
      const usableCwnd = cwnd - pipe;
      if (unsent > 0) {
        let len = Math.min(unsent, this.#maxSegmentBytes(), usableWnd, usableCwnd);
        // A super-segment holds whole MSS-sized segments, and a partial one only at the end
        // of the data (as the segments it stands for would).
        if (len > this.sndMss && len < unsent) len -= len % this.sndMss;
        if (len <= 0) {
          if (usableCwnd <= 0) this.#cwndLimited = true;
          break;
        }
        if (len < this.sndMss && len < unsent) {
          // Sender SWS avoidance (§3.8.6.2.1): a partial segment only if it is at least
          // half the largest window the peer offered.
          if (len < (this.maxSndWnd >> 1) || usableCwnd < this.sndMss && len === usableCwnd) {
            if (usableCwnd < this.sndMss) this.#cwndLimited = true;
            break;
          }
        }
        if (len === unsent && len < this.sndMss && !this.opts.noDelay) {
          // Nagle (RFC 9293 §3.7.4): hold a small segment while data is unacknowledged,
          // unless a FIN would follow it.
          if (this.sndNxt !== this.sndUna && !this.finQueued) break;
        }
        const last = len === unsent;
        const withFin = last && this.finQueued && this.finSeq < 0;
        this.#sendNew(len, withFin, now);
        continue;
      }
      // 3. A FIN after all data (it takes no window; RFC 9293 §3.10.4).
      if (this.finQueued && this.finSeq < 0) {
        this.#sendNew(0, true, now);
      }
      this.#cwndLimited = false;
      break;
    }
    // Persist timer (§3.8.6.1): data waits, the window is closed and nothing is in flight.
    this.#probes.armPersist(now, this.#unsentBytes(dataEnd) > 0);
    // RFC 8985 §7.2: a tail loss probe after new data or an ACK, with data in flight.
    this.#rec.armProbe(now);
  }

  /**
   * The tail loss probe timer fired (RFC 8985 §7.3): one segment goes out again (which one:
   * see `LossRecovery.probeTarget`), and the RTO restarts.
   */
  #onProbeTimeout(now: number): void {
    if (!this.#synchronized()) return;
    const first = this.#rec.probeTarget();
    if (!first) return;
    this.lossProbes++;
    if (this.tracer) this.tracer({ ev: "probe", kind: "tlp" }, now);
    this.#retransmit(first, now);
    this.rtoAt = now + this.rtt.rto; // §7.3: restart the RTO after the probe
  }

  #unsentBytes(dataEnd: number): number {
    if (this.finSeq >= 0) return 0; // the FIN follows the last byte
    return Math.max(0, seqDiff(dataEnd, this.sndNxt));
  }

  /** The sequence number of the first byte in the send buffer. */
  #dataStartSeq(): number {
    // Before the SYN is acknowledged, data begins one after ISS. (A flag, not a comparison
    // of SND.UNA with ISS: that comparison flips after 2^31 bytes, RFC 9293 §3.4.)
    return this.#synAcked ? this.sndUna : seqAdd(this.iss, 1);
  }

  /** The most payload one new segment may carry: the MSS, or more with TSO. */
  #maxSegmentBytes(): number {
    const tso = this.opts.tsoMaxBytes;
    if (tso <= this.sndMss) return this.sndMss;
    return tso - (tso % this.sndMss);
  }

  #sendNew(len: number, withFin: boolean, now: number): void {
    const seq = this.sndNxt;
    const payload = len > 0 ? this.sendBuf.view(seqDiff(seq, this.#dataStartSeq()), len) : null;
    let flags = ACK;
    if (len > 0 && this.#unsentBytes(seqAdd(this.#dataStartSeq(), this.sendBuf.length)) === len) {
      flags |= PSH;
    }
    if (withFin) flags |= FIN;
    const segLen = len + (withFin ? 1 : 0);
    if (this.sndNxt === this.sndUna) this.#progressAt = now; // the clock of the user timeout
    if (len > 0) this.#lastDataSentAt = now;
    this.#emit(seqI32(seq), flags, payload, now);
    // One record per MSS-sized segment, even when they left as one super-segment (TSO).
    const mss = this.sndMss;
    let at = seq;
    for (let left = len; left > mss; left -= mss) {
      this.#sb.push(at, mss, 0, now);
      at = seqAdd(at, mss);
    }
    this.#sb.push(at, seqDiff(seqAdd(seq, segLen), at), withFin ? FIN : 0, now);
    this.sndNxt = seqAdd(seq, segLen);
    if (withFin) this.finSeq = seqAdd(seq, len);
    this.#lastSendAt = now;
    if (this.rtoAt === NO_DEADLINE) this.rtoAt = now + this.rtt.rto; // RFC 6298 §5.1
  }

  #retransmit(r: TxRecord, now: number): void {
    const dataLen = r.len - ((r.ctl & SYN) ? 1 : 0) - ((r.ctl & FIN) ? 1 : 0);
    this.#emitting = EMIT_RETRANSMIT;
    if (r.ctl & SYN) {
      this.#sendSyn(now, true);
    } else {
      const payload = dataLen > 0
        ? this.sendBuf.view(seqDiff(r.seq, this.#dataStartSeq()), dataLen)
        : null;
      this.#emit(seqI32(r.seq), ACK | ((r.ctl & FIN) ? FIN : 0), payload, now);
    }
    this.#emitting = 0;
    this.#sb.retransmitted(r, now);
    this.retransmissions++;
    this.retransmittedBytes += dataLen;
    this.#lastSendAt = now;
    if (this.rtoAt === NO_DEADLINE) this.rtoAt = now + this.rtt.rto;
  }

  /** RFC 6298 §5.4–5.7 (and RFC 5681 §3.1 eq. 4 through the controller). */
  #onRetransmitTimeout(now: number): void {
    const head = this.#sb.head();
    if (!head) return;
    this.timeouts++;
    const synPhase = this.state === State.SynSent || this.state === State.SynReceived;
    // A peer that keeps answering with a zero window is alive: the retransmission is then a
    // window probe, and RFC 9293 §3.8.6.1 (MUST-34) keeps the connection open for as long as
    // the probes are answered (as Linux, which gives up only when nothing came back for
    // twice the largest RTO).
    const zeroWindowProbe = !synPhase && this.sndWnd === 0 &&
      now - this.#lastRecvAt <= 2 * this.opts.maxRtoMs;
    if (!zeroWindowProbe) this.#retries++;
    const ut = this.opts.userTimeoutMs;
    if (synPhase) {
      // R2 for a SYN (RFC 9293 §3.8.3, MUST-23: at least three minutes by default).
      if (this.#retries > this.opts.synRetries) {
        this.#fail("timeout", now);
        return;
      }
    } else if (ut > 0 ? now - this.#progressAt >= ut : this.#retries > this.opts.maxRetries) {
      // R2 (MUST-20): the user timeout (MUST-21; RFC 5482 semantics) or the retry count.
      this.#fail("timeout", now);
      return;
    }
    if (this.#retries >= 2 && this.#synchronized()) {
      // Black-hole detection: large segments vanish and no ICMP says why (path_mtu.ts).
      const mss = this.#pmtu.blackHole(head.len - ((head.ctl & FIN) ? 1 : 0));
      if (mss > 0) this.#lowerMss(mss, now);
    }
    if (this.#retries === R1_RETRIES && !this.#r1Reported) {
      // R1 (MUST-20, SHLD-9): tell the application that the path or the peer is failing.
      this.#r1Reported = true;
      this.#out.event("stalled");
    }
    if (!synPhase) {
      this.cc.onTimeout(this.#rec.pipe(), now);
      if (this.tracer) this.#traceCc(now);
      // Everything outstanding is presumed lost (RFC 6675 §5.1, RFC 2018 §8).
      this.#rec.onTimeout();
    }
    this.rtt.backoff(); // §5.5
    if (this.tracer) this.tracer({ ev: "rto", rto: this.rtt.rto, retries: this.#retries }, now);
    this.#retransmit(head, now); // §5.4
    this.rtoAt = now + this.rtt.rto; // §5.6
    if (!synPhase) this.#output(now);
  }

  /** Persist timer fired: probe the zero window (RFC 9293 §3.8.6.1). */
  #onPersist(now: number): void {
    if (!this.#synchronized()) return;
    const unsent = this.#unsentBytes(seqAdd(this.#dataStartSeq(), this.sendBuf.length));
    switch (this.#probes.persistDue(now, unsent)) {
      case ProbeAction.SendData: {
        // The SWS override: send what fits although it is small.
        const usableWnd = seqDiff(seqAdd(this.sndUna, this.sndWnd), this.sndNxt);
        const len = Math.min(usableWnd, unsent, this.sndMss);
        this.#sendNew(len, len === unsent && this.finQueued && this.finSeq < 0, now);
        return;
      }
      case ProbeAction.Probe:
        this.zeroWindowProbes++;
        if (this.tracer) this.tracer({ ev: "probe", kind: "zwp" }, now);
        this.#emit(seqAdd(this.sndUna, -1), ACK, null, now);
        return;
      case ProbeAction.GiveUp:
        this.#fail("timeout", now);
        return;
    }
  }

  #armKeepAlive(now: number): void {
    if (this.state === State.Established || this.state === State.CloseWait) {
      this.#probes.armKeepAlive(now);
    }
  }

  /** Keep-alive (RFC 9293 §3.8.4): a probe with SEG.SEQ = SND.NXT − 1 and no data. */
  #onKeepAlive(now: number): void {
    if (this.state !== State.Established && this.state !== State.CloseWait) return;
    switch (this.#probes.keepAliveDue(now, this.#lastRecvAt)) {
      case ProbeAction.Probe:
        if (this.tracer) this.tracer({ ev: "probe", kind: "keepalive" }, now);
        this.#emit(seqAdd(this.sndNxt, -1), ACK, null, now);
        return;
      case ProbeAction.GiveUp:
        this.#fail("timeout", now);
        return;
    }
  }

  /** Sends a pure ACK now (and cancels any delayed ACK). */
  #sendAck(now: number): void {
    this.#emit(seqI32(this.sndNxt), ACK, null, now);
  }

  /** Sends SYN (active open) or SYN,ACK (passive or simultaneous open). */
  #sendSyn(now: number, retransmission: boolean): void {
    const withAck = this.state === State.SynReceived;
    const flags = withAck ? SYN | ACK : SYN;
    this.#emit(this.iss, flags, null, now);
    // The first SYN creates the record that retransmissions (see #retransmit) reuse.
    if (!retransmission && this.#sb.isEmpty) {
      this.#sb.push(this.iss, 1, SYN, now);
      this.sndNxt = seqAdd(this.iss, 1);
    }
  }

  /** Records what the peer offered in its SYN (RFC 9293 §3.7.1, RFC 7323, RFC 2018). */
  #negotiate(seg: TcpSegment): void {
    const o = seg.options;
    this.#negotiateWith(o.mss, o.wscale, o.sackPermitted, o.hasTimestamps);
  }

  /** The peer's SYN options (mss and wscale -1 when absent) against ours. */
  #negotiateWith(mssOpt: number, wscale: number, sackPermitted: boolean, ts: boolean): void {
    this.peerMss = mssOpt > 0 ? mssOpt : 536;
    this.#wsOk = this.opts.windowScaling && wscale >= 0;
    if (this.#wsOk) {
      this.sndWscale = Math.min(wscale, 14);
    } else {
      this.sndWscale = 0;
      this.rcvWscale = 0;
    }
    this.sackOk = this.opts.sack && sackPermitted;
    this.tsOk = this.opts.timestamps && ts;
    this.sndMss = this.#pmtu.negotiatedMss(); // RFC 9293 §3.7.1, less the options (RFC 7323)
    this.cc.setMss(this.sndMss);
  }

  /** RFC 7323 §4.3: TS.Recent follows the segment that the last ACK we sent covers. */
  #updateTsRecent(seg: TcpSegment, now: number): void {
    const o = seg.options;
    if (!o.hasTimestamps) return;
    if (
      this.state === State.SynSent || this.state === State.Listen || this.state === State.Closed
    ) {
      this.tsRecent = o.tsVal;
      this.tsRecentAt = now;
      return;
    }
    if (!this.tsOk) return;
    if (seqGe(o.tsVal, this.tsRecent) && seqLe(seg.seq, this.lastAckSent)) {
      this.tsRecent = o.tsVal;
      this.tsRecentAt = now;
    }
  }

  /** An RTT sample from a timestamp echo (`tsEcr` may come as an int32, see seqI32). */
  #rttSampleFromTs(tsEcr: number, now: number): void {
    const rtt = seqDiff(tsClock(this.tsOffset, now), tsEcr);
    if (rtt >= 0 && rtt < this.opts.maxRtoMs * 4) this.#sampleRtt(rtt, now);
  }

  #synchronized(): boolean {
    return this.state >= State.Established;
  }

  /** Free receive space: the buffer less what the application has not read yet. */
  #rcvSpace(): number {
    return Math.max(0, this.opts.recvBufferSize - this.rcvBuf.unread);
  }

  /**
   * Receiver SWS avoidance (RFC 9293 §3.8.6.2.2): the window reopens only by
   * min(Fr·RCV.BUFF, Eff.snd.MSS) or more, with Fr = 1/2.
   */
  #swsStep(): number {
    return Math.min(this.opts.recvBufferSize >> 1, this.opts.mss);
  }

  /**
   * The window field for an outgoing segment (RFC 9293 §3.8.6.2.2, RFC 7323 §2.3). The
   * right edge never moves left (MUST-39's "shrinking the window" is avoided, as Linux does):
   * the window only grows by a worthwhile step, and a scaled window is always rounded *up*
   * to a whole scale unit. While nothing is read, that rounding can move the edge past the
   * buffer by less than a unit per ACK; the ring's slack holds it (see the constructor).
   */
  #windowField(syn: boolean): number {
    const current = Math.max(0, seqDiff(this.rcvAdvRight, this.rcvNxt));
    let wnd = this.#rcvSpace();
    if (wnd < current + this.#swsStep()) wnd = current;
    if (syn) {
      const field = Math.min(wnd, MAX_WINDOW); // SYN windows are unscaled (RFC 7323 §2.2)
      this.#synWindow = field;
      this.rcvAdvRight = seqMax(this.rcvAdvRight, seqAdd(this.rcvNxt, field));
      return field;
    }
    const ws = this.rcvWscale;
    let field = (wnd + (1 << ws) - 1) >>> ws;
    if (field > MAX_WINDOW) field = MAX_WINDOW;
    this.rcvAdvRight = seqMax(this.rcvAdvRight, seqAdd(this.rcvNxt, field << ws));
    return field;
  }

  /**
   * Fills the reusable segment and hands it to the output port. `seq` may come as an int32
   * (`seqI32`); with ACK set the segment acknowledges RCV.NXT.
   */
  #emit(seq: number, flags: number, payload: Uint8Array | null, now: number): void {
    // One scratch segment serves every connection: the output port is called synchronously
    // and must not keep it (see ConnectionOutput.transmit).
    const s = SCRATCH;
    s.srcPort = this.localPort;
    s.dstPort = this.remotePort;
    const o = s.options;
    const syn = (flags & SYN) !== 0;
    s.seq = seq >>> 0;
    s.ack = (flags & ACK) ? this.rcvNxt : 0;
    s.urgent = 0;
    if (this.#sndUpValid && !(flags & (SYN | RST))) {
      // The URG flag and pointer go on every segment while urgent data is outstanding
      // (RFC 9293 §3.8.5); beyond 64 KiB the field says 65535, as Linux does (RFC 6093 §4).
      if (seqGt(this.sndUp, this.sndUna)) {
        const d = seqDiff(this.sndUp, seq);
        if (d > 0) {
          flags |= URG;
          s.urgent = Math.min(d, 0xffff);
        }
      } else {
        this.#sndUpValid = false;
      }
    }
    s.flags = flags;
    resetTcpOptions(o);
    if (flags & RST) {
      s.window = 0;
    } else {
      s.window = this.#windowField(syn);
    }
    if (syn) {
      // RFC 9293 §3.7.1 MSS; RFC 7323 window scale and timestamps; RFC 2018 SACK-permitted.
      // A SYN,ACK carries only what the peer's SYN offered.
      const passive = this.state === State.SynReceived;
      o.mss = this.opts.mss;
      if (this.opts.windowScaling && (!passive || this.#wsOk)) {
        o.wscale = this.rcvWscale;
      }
      if (this.opts.sack && (!passive || this.sackOk)) o.sackPermitted = true;
      if (this.opts.timestamps && (!passive || this.tsOk)) {
        o.hasTimestamps = true;
        o.tsVal = tsClock(this.tsOffset, now);
        o.tsEcr = passive ? this.tsRecent : 0;
      }
    } else if (this.tsOk && !(flags & RST)) {
      o.hasTimestamps = true;
      o.tsVal = tsClock(this.tsOffset, now);
      o.tsEcr = this.tsRecent;
    }
    if (this.sackOk && !syn && !(flags & RST) && this.rcvBuf.hasOutOfOrder) {
      // RFC 2018 §4: up to 3 blocks beside timestamps (4 without), first the newest.
      const room = this.opts.mss - (payload ? payload.length : 0) - (this.tsOk ? 12 : 0);
      const max = Math.min(this.tsOk ? 3 : 4, Math.floor((room - 4) / 8));
      if (max > 0) this.rcvBuf.sackBlocks(max, o.sackBlocks, this.rcvNxt);
    }
    s.payload = payload ?? EMPTY;
    if (payload !== null && payload.length > this.sndMss) {
      // A super-segment counts as the segments it becomes (TSO).
      this.segmentsSent += Math.ceil(payload.length / this.sndMss) - 1;
    }
    if (flags & ACK) {
      this.lastAckSent = s.ack;
      this.#ackNow = false;
      this.#unackedSegs = 0;
      this.#unackedBytes = 0;
      this.#ackDeferred = false;
      this.#pushed = false;
      this.delAckAt = NO_DEADLINE;
    }
    this.segmentsSent++;
    if (this.tracer) this.#traceSeg("out", s, now);
    this.#out.transmit(s);
  }

  /** A snapshot of the connection's counters. */
  stats(): ConnStats {
    return {
      state: STATE_NAMES[this.state],
      bytesSent: this.bytesSent,
      bytesReceived: this.bytesReceived,
      segmentsSent: this.segmentsSent,
      segmentsReceived: this.segmentsReceived,
      retransmissions: this.retransmissions,
      retransmittedBytes: this.retransmittedBytes,
      fastRetransmits: this.fastRetransmits,
      timeouts: this.timeouts,
      dupAcksReceived: this.dupAcksReceived,
      outOfOrderSegments: this.outOfOrderSegments,
      zeroWindowProbes: this.zeroWindowProbes,
      lossProbes: this.lossProbes,
      srttMs: this.rtt.srtt,
      rttvarMs: this.rtt.rttvar,
      rtoMs: this.rtt.rto,
      cwnd: this.cc.cwnd,
      ssthresh: this.cc.ssthresh,
      sndWnd: this.sndWnd,
      rcvWnd: Math.max(0, seqDiff(this.rcvAdvRight, this.rcvNxt)),
      mss: this.sndMss,
      pmtu: Number.isFinite(this.pmtu) ? this.pmtu : 0,
      pmtuDrops: this.pmtuDrops,
      blackHoleDrops: this.blackHoleDrops,
      congestion: this.cc.name,
    };
  }

  #ackUpTo(ack: number, now: number): void {
    // Used on SYN,ACK: the SYN record is acknowledged.
    const head = this.#sb.head();
    if (head && (head.ctl & SYN) && seqGe(ack, seqAdd(head.seq, 1))) this.#sb.ack(ack, now);
    this.#synAcked = true;
    this.sndUna = ack;
  }
}

const EMPTY = new Uint8Array(0);
const SCRATCH: TcpSegment = newTcpSegment();

/**
 * The reply to a segment that reached no connection (RFC 9293 §3.10.7.1, CLOSED state;
 * also used for an ACK arriving in LISTEN, §3.10.7.2). Writes the RST into `out` and
 * returns true, or returns false when no reply is due (the segment itself is a RST).
 */
export function resetFor(seg: TcpSegment, out: TcpSegment): boolean {
  if (seg.flags & RST) return false;
  resetTcpOptions(out.options);
  out.srcPort = seg.dstPort;
  out.dstPort = seg.srcPort;
  out.window = 0;
  out.urgent = 0;
  out.payload = EMPTY;
  if (seg.flags & ACK) {
    out.seq = seg.ack;
    out.ack = 0;
    out.flags = RST;
  } else {
    const len = seg.payload.length + ((seg.flags & SYN) ? 1 : 0) + ((seg.flags & FIN) ? 1 : 0);
    out.seq = 0;
    out.ack = seqAdd(seg.seq, len);
    out.flags = RST | ACK;
  }
  return true;
}
