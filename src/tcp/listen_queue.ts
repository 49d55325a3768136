/**
 * The passive side of the handshake (RFC 9293 §3.10.7.2, LISTEN): half-open connections as
 * small records in a bounded table of their own, SYN cookies when that table is full, and
 * the per-listener accept queue of connections that completed the handshake.
 *
 * A SYN costs a record of a few dozen bytes and a SYN,ACK, never a connection with buffers:
 * a full `TcpConnection` is made only when the final ACK arrives (`completeHandshake`). The
 * SYN,ACK is retransmitted a bounded number of times. When a listener's half-open table is
 * full, SYN cookies (see `syn_cookie.ts`) answer without keeping anything, so a flood of
 * forged SYNs can neither fill memory nor lock legitimate clients out (RFC 4987 §3.6).
 *
 * Pure like the rest of `src/tcp/`: the time and the secrets are passed in, and what must be
 * sent is written into a segment the caller transmits.
 * @module
 */

import { ACK, resetTcpOptions, RST, SYN, type TcpSegment } from "../wire/tcp.ts";
import { seqAdd, seqGt, seqLt, tsClock } from "./seq.ts";
import type { IsnGenerator, TupleHasher } from "./isn.ts";
import { TupleMap } from "./tuple_map.ts";
import { cloneIpv6Address, type Ipv6Address } from "../wire/ipv6_address.ts";
import { TimeHeap } from "./time_heap.ts";
import { TokenBucket } from "./rate_limit.ts";
import {
  checkCookie,
  type CookieOptions,
  cookieTsOptions,
  cookieTsVal,
  makeCookie,
} from "./syn_cookie.ts";

/** What the final ACK hands to the connection that continues the handshake. */
export interface Handshake {
  localPort: number;
  /** The peer's IPv4 address, or the key standing for its IPv6 address `remote6`. */
  remoteAddr: number;
  /** The peer's IPv6 address (a copy); null over IPv4. */
  remote6: Ipv6Address | null;
  remotePort: number;
  /** Our initial sequence number. */
  iss: number;
  /** The peer's initial sequence number. */
  irs: number;
  /** The peer's MSS option (536 when absent). */
  peerMss: number;
  /** The peer's window scale option, or -1. */
  peerWscale: number;
  /** Both sides agreed on SACK. */
  sackOk: boolean;
  /** Both sides agreed on timestamps. */
  tsOk: boolean;
  /** The peer's TSval to echo (TS.Recent). */
  tsRecent: number;
  /** The window field of the peer's SYN (never scaled). */
  peerWindow: number;
  /** The window field of our SYN,ACK (never scaled). */
  synWindow: number;
  /** Offset added to our millisecond clock for TSval (RFC 7323 §5.4). */
  tsOffset: number;
  /** When the last SYN,ACK went out, ms (an RTT sample when not retransmitted). */
  sentAt: number;
  /** The SYN,ACK was sent more than once (Karn's rule). */
  retransmitted: boolean;
}

/** A half-open connection: what a SYN leaves behind. */
interface HalfOpen extends Handshake {
  listener: PassiveListener<unknown>;
  retries: number;
  deadline: number;
}

/** What our SYN,ACK offers: the listener's connection settings. */
export interface SynAckSettings {
  /** The MSS we advertise. */
  mss: number;
  /** The receive buffer, which sets our window and its scale. */
  recvBufferSize: number;
  /** Offer window scaling (RFC 7323). */
  windowScaling: boolean;
  /** Offer SACK (RFC 2018). */
  sack: boolean;
  /** Offer timestamps (RFC 7323). */
  timestamps: boolean;
}

/** A listening port: its bounds, its counts, and the accept queue of established `T`s. */
export class PassiveListener<T> {
  readonly port: number;
  /** Most established connections waiting for `accept` (the accept queue). */
  readonly backlog: number;
  /** Most half-open records; past it, SYN cookies answer. */
  readonly maxHalfOpen: number;
  /** Answer with SYN cookies when the half-open table is full (else drop the SYN). */
  readonly synCookies: boolean;
  /** Settings our SYN,ACK offers. */
  readonly settings: SynAckSettings;
  /** Established connections not yet taken by the application, oldest first. */
  readonly acceptQueue: T[] = [];
  /** Half-open records held for this listener. */
  halfOpen = 0;
  /** When the last cookie was sent: cookies are only honoured shortly after (as Linux). */
  lastCookieAt = -Infinity;
  closed = false;

  /** A listener on `port`; see the field documentation. */
  constructor(
    port: number,
    backlog: number,
    maxHalfOpen: number,
    synCookies: boolean,
    settings: SynAckSettings,
  ) {
    this.port = port;
    this.backlog = backlog;
    this.maxHalfOpen = maxHalfOpen;
    this.synCookies = synCookies;
    this.settings = settings;
  }

  /** Whether the accept queue is full. */
  get acceptQueueFull(): boolean {
    return this.acceptQueue.length >= this.backlog;
  }
}

/** Counters of the passive side. */
export interface ListenCounters {
  /** SYNs that made a half-open record. */
  synReceived: number;
  /** SYN,ACKs retransmitted by the half-open timers. */
  synAckRetransmits: number;
  /** Half-open records dropped after their last SYN,ACK went unanswered. */
  halfOpenExpired: number;
  /** SYN cookies sent (the half-open table was full). */
  cookiesSent: number;
  /** Handshakes completed from a valid cookie. */
  cookiesAccepted: number;
  /** ACKs whose cookie did not verify (forged or too old). */
  cookiesRejected: number;
  /** SYNs dropped: full accept queue, or no cookie allowed by the rate limit. */
  synDropped: number;
}

/** Tunables of a `ListenQueue`. */
export interface ListenQueueOptions {
  /** Our address (a uint32). */
  localAddr: number;
  /** ISNs for half-open records (RFC 6528). */
  isn: IsnGenerator;
  /** Keyed hash for cookies. */
  cookieHash: TupleHasher;
  /** Keyed hash for per-connection timestamp offsets (RFC 7323 §5.4). */
  tsHash: TupleHasher;
  /** SYN,ACK retransmissions before a half-open record is dropped. Default 4 (31 s). */
  synAckRetries?: number;
  /** First SYN,ACK retransmission timeout, ms (RFC 6298 §2.1). Default 1000. */
  initialRtoMs?: number;
  /** Cookie SYN,ACKs allowed per second across listeners. Default 20000. */
  cookieRate?: number;
}

interface Timer {
  time: number;
  seq: number;
  rec: HalfOpen;
}

/** Largest unscaled window (RFC 7323 §2.2: a SYN's window is never scaled). */
const MAX_WINDOW = 65535;

/**
 * The half-open table of a stack, with its timers and SYN cookies.
 *
 * @example
 * ```ts
 * import { IsnGenerator, TupleHasher } from "./isn.ts";
 * import { ListenQueue, PassiveListener } from "./listen_queue.ts";
 * import { newTcpSegment, SYN } from "../wire/tcp.ts";
 * const key = new Uint8Array(16);
 * const q = new ListenQueue({
 *   localAddr: 0x0a000001,
 *   isn: new IsnGenerator(key),
 *   cookieHash: new TupleHasher(key),
 *   tsHash: new TupleHasher(key),
 * });
 * const l = new PassiveListener<string>(80, 8, 16, true, {
 *   mss: 1460, recvBufferSize: 65536, windowScaling: true, sack: true, timestamps: true,
 * });
 * const syn = newTcpSegment();
 * syn.srcPort = 40000, syn.dstPort = 80, syn.flags = SYN, syn.seq = 7;
 * const out = newTcpSegment();
 * console.log(q.onSyn(l, syn, 0x0a000002, 0, out), out.ack); // true 8
 * ```
 */
export class ListenQueue {
  readonly counters: ListenCounters = {
    synReceived: 0,
    synAckRetransmits: 0,
    halfOpenExpired: 0,
    cookiesSent: 0,
    cookiesAccepted: 0,
    cookiesRejected: 0,
    synDropped: 0,
  };
  readonly #localAddr: number;
  readonly #isn: IsnGenerator;
  readonly #cookieHash: TupleHasher;
  readonly #tsHash: TupleHasher;
  readonly #synAckRetries: number;
  readonly #initialRtoMs: number;
  readonly #cookieBucket: TokenBucket;
  readonly #table = new TupleMap<HalfOpen>();
  readonly #timers = new TimeHeap<Timer>();
  #timerSeq = 0;
  readonly #cookieOpts: CookieOptions = { mss: 0, wscale: -1, sackOk: false };

  /** A queue; see `ListenQueueOptions`. */
  constructor(o: ListenQueueOptions) {
    this.#localAddr = o.localAddr >>> 0;
    this.#isn = o.isn;
    this.#cookieHash = o.cookieHash;
    this.#tsHash = o.tsHash;
    this.#synAckRetries = o.synAckRetries ?? 4;
    this.#initialRtoMs = o.initialRtoMs ?? 1000;
    const rate = o.cookieRate ?? 20_000;
    this.#cookieBucket = new TokenBucket(rate, Math.max(1, rate / 10));
  }

  /** Half-open records held. */
  get size(): number {
    return this.#table.size;
  }

  /** Bytes the half-open records cost (an estimate of a small V8 object each). */
  get memoryBytes(): number {
    return this.#table.size * HALF_OPEN_BYTES;
  }

  /** The per-connection timestamp offset for this 4-tuple (RFC 7323 §5.4). */
  tsOffset(localPort: number, remoteAddr: number, remotePort: number): number {
    return this.#tsHash.hash(this.#localAddr, localPort, remoteAddr, remotePort);
  }

  /** Whether a half-open record exists for this 4-tuple. */
  has(remoteAddr: number, remotePort: number, localPort: number): boolean {
    return this.#table.get(remoteAddr, remotePort, localPort) !== undefined;
  }

  /**
   * A SYN for listener `l` (RFC 9293 §3.10.7.2, fourth check) from `src`. Writes the SYN,ACK
   * into `out` and returns true when one is due; false when the SYN is dropped (the accept
   * queue is full, or the cookie rate limit is reached).
   */
  onSyn(
    l: PassiveListener<unknown>,
    seg: TcpSegment,
    src: number,
    now: number,
    out: TcpSegment,
    src6: Ipv6Address | null = null,
  ): boolean {
    if (l.acceptQueueFull) {
      // As Linux: with no room to accept, the SYN is dropped; the peer retries.
      this.counters.synDropped++;
      return false;
    }
    const existing = this.#table.get(src, seg.srcPort, l.port);
    if (existing && !sameAddress6(existing.remote6, src6)) {
      // Another IPv6 address with the same key (the keys are 52-bit keyed hashes, so this is
      // chance, never aim): nothing is shared with it, and this SYN waits for a retry.
      this.counters.synDropped++;
      return false;
    }
    if (existing) {
      if (existing.irs === seg.seq) {
        // A retransmitted SYN: our SYN,ACK was lost. Resend it, counted as a retry so that
        // a peer (or a forger) cannot keep a record alive for ever.
        if (existing.retries >= this.#synAckRetries) return false;
        existing.retries++;
        existing.retransmitted = true;
        existing.sentAt = now;
        this.counters.synAckRetransmits++;
        this.#fillSynAck(existing, l.settings, tsClock(existing.tsOffset, now), out);
        return true;
      }
      this.#drop(existing); // a new SYN: the peer started over
    }
    const o = seg.options;
    const s = l.settings;
    const peerWscale = s.windowScaling && o.wscale >= 0 ? o.wscale : -1;
    const sackOk = s.sack && o.sackPermitted;
    const tsOk = s.timestamps && o.hasTimestamps;
    // RFC 9293 §3.7.1 (MUST-15): without the option, 536 over IPv4; 1220 over IPv6 (RFC 8200 §8.3).
    const peerMss = o.mss > 0 ? o.mss : src6 ? 1220 : 536;
    const tsOffset = this.tsOffset(l.port, src, seg.srcPort);
    const tsNow = tsClock(tsOffset, now);
    // With the half-open table full, a SYN cookie answers and nothing is kept (RFC 4987 §3.6).
    const cookie = l.halfOpen >= l.maxHalfOpen;
    if (cookie && (!l.synCookies || !this.#cookieBucket.take(now))) {
      this.counters.synDropped++;
      return false;
    }
    // Without timestamps, the options that a cookie cannot carry (window scale, SACK) are
    // not offered.
    const cookieLimits = cookie && !tsOk;
    const rec: HalfOpen = {
      listener: l,
      localPort: l.port,
      remoteAddr: src,
      remote6: src6 !== null && !cookie ? cloneIpv6Address(src6) : src6,
      remotePort: seg.srcPort,
      iss: cookie
        ? makeCookie(
          this.#cookieHash,
          this.#localAddr,
          l.port,
          src,
          seg.srcPort,
          seg.seq,
          peerMss,
          now,
        )
        : this.#isn.next(this.#localAddr, l.port, src, seg.srcPort, now),
      irs: seg.seq,
      peerMss,
      peerWscale: cookieLimits ? -1 : peerWscale,
      sackOk: sackOk && !cookieLimits,
      tsOk,
      tsRecent: tsOk ? o.tsVal : 0,
      peerWindow: seg.window,
      synWindow: Math.min(s.recvBufferSize, MAX_WINDOW),
      tsOffset,
      sentAt: now,
      retransmitted: false,
      retries: 0,
      deadline: now + this.#initialRtoMs,
    };
    if (cookie) {
      // The record is not kept: the ISS (and the TSval's low bits) carry what the ACK needs.
      const tsVal = tsOk ? cookieTsVal(tsNow, rec.peerWscale, rec.sackOk) : 0;
      this.#fillSynAck(rec, s, tsVal, out);
      l.lastCookieAt = now;
      this.counters.cookiesSent++;
      return true;
    }
    this.#table.set(src, seg.srcPort, l.port, rec);
    l.halfOpen++;
    this.#timers.push({ time: rec.deadline, seq: this.#timerSeq++, rec });
    this.counters.synReceived++;
    this.#fillSynAck(rec, s, tsNow, out);
    return true;
  }

  /**
   * A segment without SYN for listener `l`'s port and a 4-tuple without a connection: the
   * final ACK of a handshake (from a half-open record or a cookie), an RST for a half-open
   * record, or a stray. Returns the handshake to continue when the segment completes one
   * (the caller makes the connection and hands it the segment), "drop" when the segment is
   * to be ignored, or "reset" when the caller should answer with RST (RFC 9293 §3.10.7.2
   * second check: an ACK in LISTEN).
   */
  onAck(
    l: PassiveListener<unknown>,
    seg: TcpSegment,
    src: number,
    now: number,
    src6: Ipv6Address | null = null,
  ): Handshake | "drop" | "reset" {
    const f = seg.flags;
    const rec = this.#table.get(src, seg.srcPort, l.port);
    if (rec && !sameAddress6(rec.remote6, src6)) return "drop"; // a key collision
    if (rec) {
      if (f & RST) {
        // RFC 9293 §3.10.7.4 with RFC 5961 §3.2, in SYN-RECEIVED: an RST at RCV.NXT
        // returns to LISTEN; anything else is ignored (no challenge ACK for a record).
        if (seg.seq === seqAdd(rec.irs, 1)) this.#drop(rec);
        return "drop";
      }
      if (!(f & ACK)) return "drop";
      // The ACK must acknowledge our SYN exactly (SND.UNA < SEG.ACK =< SND.NXT).
      if (seg.ack !== seqAdd(rec.iss, 1)) return "reset";
      // And the segment must be acceptable: it starts within our SYN,ACK's window.
      const rcvNxt = seqAdd(rec.irs, 1);
      if (seqLt(seg.seq, rcvNxt) || seqGt(seg.seq, seqAdd(rcvNxt, rec.synWindow))) {
        return "drop";
      }
      if (l.acceptQueueFull) return "drop"; // as Linux: the peer retransmits; we retry then
      this.#drop(rec);
      return rec;
    }
    if (f & RST) return "drop";
    if (!(f & ACK)) return "drop";
    // A cookie is honoured only shortly after cookies were sent, as Linux does: at other
    // times nobody can have one, and trying cookies would only help a guesser.
    if (now - l.lastCookieAt > 2 * 64_000) return "reset";
    const mss = checkCookie(
      this.#cookieHash,
      this.#localAddr,
      l.port,
      src,
      seg.srcPort,
      seg.seq,
      seg.ack,
      now,
    );
    if (mss === 0) {
      this.counters.cookiesRejected++;
      return "reset";
    }
    if (l.acceptQueueFull) return "drop";
    const o = seg.options;
    const tsOk = l.settings.timestamps && o.hasTimestamps;
    const co = this.#cookieOpts;
    co.wscale = -1;
    co.sackOk = false;
    if (tsOk) cookieTsOptions(o.tsEcr, co);
    this.counters.cookiesAccepted++;
    return {
      localPort: l.port,
      remoteAddr: src,
      remote6: src6 ? cloneIpv6Address(src6) : null,
      remotePort: seg.srcPort,
      iss: seqAdd(seg.ack, -1),
      irs: seqAdd(seg.seq, -1),
      peerMss: mss,
      peerWscale: l.settings.windowScaling ? co.wscale : -1,
      sackOk: l.settings.sack && co.sackOk,
      tsOk,
      tsRecent: tsOk ? o.tsVal : 0,
      peerWindow: seg.window, // unscaled until the connection applies the scale
      synWindow: Math.min(l.settings.recvBufferSize, MAX_WINDOW),
      tsOffset: this.tsOffset(l.port, src, seg.srcPort),
      sentAt: now,
      retransmitted: true, // no RTT sample: we do not know when the SYN,ACK left
    };
  }

  /**
   * Fires due SYN,ACK retransmissions: calls `send` with each one (the segment is reused)
   * and drops records whose retries are spent.
   */
  poll(
    now: number,
    out: TcpSegment,
    send: (
      dst: number,
      seg: TcpSegment,
      l: PassiveListener<unknown>,
      dst6: Ipv6Address | null,
    ) => void,
  ): void {
    const timers = this.#timers;
    for (let top = timers.peek(); top && top.time <= now; top = timers.peek()) {
      timers.pop();
      const rec = top.rec;
      if (
        rec.deadline !== top.time ||
        this.#table.get(rec.remoteAddr, rec.remotePort, rec.localPort) !== rec
      ) {
        continue; // stale timer
      }
      if (rec.retries >= this.#synAckRetries) {
        this.counters.halfOpenExpired++;
        this.#drop(rec);
        continue;
      }
      rec.retries++;
      rec.retransmitted = true;
      rec.sentAt = now;
      // RFC 6298 §5.5: back off exponentially.
      rec.deadline = now + this.#initialRtoMs * 2 ** rec.retries;
      timers.push({ time: rec.deadline, seq: this.#timerSeq++, rec });
      this.counters.synAckRetransmits++;
      this.#fillSynAck(rec, rec.listener.settings, tsClock(rec.tsOffset, now), out);
      send(rec.remoteAddr, out, rec.listener, rec.remote6);
    }
  }

  /** The next SYN,ACK retransmission or expiry, or Infinity. */
  nextDeadline(): number {
    // Stale entries make this early at worst; `poll` skips them.
    return this.#timers.peek()?.time ?? Infinity;
  }

  /** Forgets every half-open record of a listener that closed. */
  closeListener(l: PassiveListener<unknown>): void {
    for (const rec of [...this.#table.values()]) if (rec.listener === l) this.#drop(rec);
  }

  #drop(rec: HalfOpen): void {
    if (this.#table.delete(rec.remoteAddr, rec.remotePort, rec.localPort, rec)) {
      rec.listener.halfOpen--;
    }
    if (this.#table.size === 0) this.#timers.clear();
  }

  /** Writes the SYN,ACK for `h` into `out` (RFC 9293 §3.10.7.2; options per RFC 7323/2018). */
  #fillSynAck(h: Handshake, s: SynAckSettings, tsVal: number, out: TcpSegment): void {
    const o = out.options;
    resetTcpOptions(o);
    out.srcPort = h.localPort;
    out.dstPort = h.remotePort;
    out.seq = h.iss;
    out.ack = seqAdd(h.irs, 1);
    out.flags = SYN | ACK;
    out.window = h.synWindow;
    out.urgent = 0;
    out.payload = EMPTY;
    // `s.mss` is the IPv4 figure (MTU − 40); the IPv6 header is 20 bytes longer (RFC 8200 §8.3).
    o.mss = h.remote6 ? s.mss - 20 : s.mss;
    // A SYN,ACK carries only what the peer's SYN offered.
    if (h.peerWscale >= 0) o.wscale = windowShift(s.recvBufferSize);
    if (h.sackOk) o.sackPermitted = true;
    if (h.tsOk) {
      o.hasTimestamps = true;
      o.tsVal = tsVal;
      o.tsEcr = h.tsRecent;
    }
  }
}

/** RFC 7323 §2.3: the smallest shift that lets `bufferSize` fit the 16-bit window field. */
export function windowShift(bufferSize: number): number {
  let shift = 0;
  while (shift < 14 && (bufferSize >> shift) > MAX_WINDOW) shift++;
  return shift;
}

const EMPTY = new Uint8Array(0);
/** What one half-open record costs, counted in `memoryBytes`. */
const HALF_OPEN_BYTES = 200;

/** Whether two optional IPv6 addresses are the same (both absent: the same IPv4 peer). */
function sameAddress6(a: Ipv6Address | null, b: Ipv6Address | null): boolean {
  if (a === null || b === null) return a === b;
  return a.w0 === b.w0 && a.w1 === b.w1 && a.w2 === b.w2 && a.w3 === b.w3;
}
