/**
 * TIME-WAIT as a small record (RFC 9293 §3.10.7.4 TIME-WAIT, §3.10.8; RFC 6191 for reuse):
 * the 4-tuple, the two sequence numbers, the timestamp state and the deadline, a few dozen
 * bytes instead of a connection with its buffers. A table holds them in the order they
 * expire (every record waits the same 2·MSL) and is capped: past the cap a closing
 * connection skips TIME-WAIT, as Linux does beyond `tcp_max_tw_buckets`.
 * @module
 */

import { ACK, FIN, resetTcpOptions, RST, SYN, type TcpSegment } from "../wire/tcp.ts";
import { seqGt, seqLt, tsClock } from "./seq.ts";
import { TupleMap } from "./tuple_map.ts";
import type { Ipv6Address } from "../wire/ipv6_address.ts";

/** A connection in TIME-WAIT. */
export interface TimeWaitRecord {
  localPort: number;
  /** The peer's IPv4 address, or the key standing for its IPv6 address `remote6`. */
  remoteAddr: number;
  /** The peer's IPv6 address; null (or absent) over IPv4. */
  remote6?: Ipv6Address | null;
  remotePort: number;
  /** SND.NXT: our FIN is acknowledged, so every later segment of ours carries it. */
  sndNxt: number;
  /** RCV.NXT: one past the peer's FIN. */
  rcvNxt: number;
  /** The window field our ACKs carry. */
  window: number;
  /** Timestamps are in use (RFC 7323). */
  tsOk: boolean;
  /** TS.Recent, for PAWS and for our TSecr. */
  tsRecent: number;
  /** Offset of our TSval clock. */
  tsOffset: number;
  /** IP TTL and TOS of the connection's segments, for the ACKs the record sends. */
  ttl: number;
  tos: number;
  /** When the record ends (2·MSL after the last FIN), ms. */
  deadline: number;
  /** When we last answered a segment (replies are rate-limited). */
  lastReplyAt: number;
}

/** What the caller does with a segment that reached a TIME-WAIT record. */
export enum TimeWaitAction {
  /** Nothing. */
  Drop = 0,
  /** Transmit the segment written into `out`. */
  Reply = 1,
  /** Forget the record (an acceptable RST). */
  Close = 2,
  /** Forget the record and handle the segment as a new SYN for the listener (RFC 6191). */
  Reopen = 3,
}

/** The least time between two replies from one record, ms (as Linux's invalid-ACK limit). */
const REPLY_INTERVAL_MS = 500;

/**
 * The TIME-WAIT records of a stack.
 *
 * @example
 * ```ts
 * import { TimeWaitTable } from "./time_wait.ts";
 * const t = new TimeWaitTable(1000, 60_000);
 * t.add({
 *   localPort: 80, remoteAddr: 0x0a000002, remotePort: 40000, sndNxt: 100, rcvNxt: 200,
 *   window: 1000, tsOk: false, tsRecent: 0, tsOffset: 0, ttl: 64, tos: 0, deadline: 0,
 *   lastReplyAt: -Infinity,
 * }, 0);
 * console.log(t.size, t.nextDeadline()); // 1 60000
 * ```
 */
export class TimeWaitTable {
  /** Most records held. */
  readonly max: number;
  /** How long a record lives: 2·MSL. */
  readonly lifetimeMs: number;
  /** Closing connections that skipped TIME-WAIT because the table was full. */
  overflows = 0;
  readonly #table = new TupleMap<TimeWaitRecord>();
  /** Records by deadline: insertion order, since every record lives as long. */
  readonly #order = new Set<TimeWaitRecord>();

  /** `max` records at most, each living `lifetimeMs`. */
  constructor(max: number, lifetimeMs: number) {
    this.max = max;
    this.lifetimeMs = lifetimeMs;
  }

  /** Records held. */
  get size(): number {
    return this.#table.size;
  }

  /** Bytes the records cost (an estimate of a small V8 object each). */
  get memoryBytes(): number {
    return this.#table.size * TIME_WAIT_BYTES;
  }

  /** The record for a 4-tuple, or undefined. */
  get(remoteAddr: number, remotePort: number, localPort: number): TimeWaitRecord | undefined {
    return this.#table.get(remoteAddr, remotePort, localPort);
  }

  /** Adds a record whose 2·MSL starts at `now`; false (counted) when the table is full. */
  add(rec: TimeWaitRecord, now: number): boolean {
    if (this.#table.size >= this.max) {
      this.overflows++;
      return false;
    }
    const old = this.#table.get(rec.remoteAddr, rec.remotePort, rec.localPort);
    if (old) this.delete(old);
    rec.deadline = now + this.lifetimeMs;
    this.#table.set(rec.remoteAddr, rec.remotePort, rec.localPort, rec);
    this.#order.add(rec);
    return true;
  }

  /** Removes a record. */
  delete(rec: TimeWaitRecord): void {
    this.#table.delete(rec.remoteAddr, rec.remotePort, rec.localPort, rec);
    this.#order.delete(rec);
  }

  /** Removes the records whose 2·MSL is over (RFC 9293 §3.10.8); returns how many. */
  expire(now: number): number {
    let n = 0;
    for (const rec of this.#order) {
      if (rec.deadline > now) break;
      this.delete(rec);
      n++;
    }
    return n;
  }

  /** The earliest deadline, or Infinity. */
  nextDeadline(): number {
    for (const rec of this.#order) return rec.deadline;
    return Infinity;
  }

  /**
   * A segment for a TIME-WAIT record (RFC 9293 §3.10.7.4 in TIME-WAIT, RFC 5961, RFC 7323
   * §5 PAWS). `canReopen`: a listener exists for a new SYN (RFC 6191). Writes any reply
   * into `out` (an ACK; the caller transmits it) and returns what to do.
   */
  handle(
    rec: TimeWaitRecord,
    seg: TcpSegment,
    now: number,
    canReopen: boolean,
    out: TcpSegment,
  ): TimeWaitAction {
    const f = seg.flags;
    const o = seg.options;
    const ts = rec.tsOk && o.hasTimestamps;
    if (f & RST) {
      // RFC 5961 §3.2: only an RST at exactly RCV.NXT ends it (RFC 9293: enter CLOSED).
      if (seg.seq === rec.rcvNxt) return TimeWaitAction.Close;
      return this.#reply(rec, now, out);
    }
    if ((f & (SYN | ACK)) === SYN) {
      // RFC 6191 / RFC 9293 §3.10.7.4 note: a new SYN may reopen the 4-tuple when its
      // sequence number (or timestamp) shows it is newer than the old connection.
      const newer = ts ? seqGt(o.tsVal, rec.tsRecent) : seqGt(seg.seq, rec.rcvNxt);
      if (canReopen && newer) return TimeWaitAction.Reopen;
      return this.#reply(rec, now, out); // RFC 5961 §4.2: challenge ACK
    }
    // PAWS (RFC 7323 §5.3): an old timestamp is answered, never taken.
    if (ts && seqLt(o.tsVal, rec.tsRecent)) return this.#reply(rec, now, out);
    if (f & FIN) {
      // The peer's FIN again: our ACK was lost. Acknowledge it and restart 2·MSL.
      this.#order.delete(rec);
      rec.deadline = now + this.lifetimeMs;
      this.#order.add(rec);
      if (ts) rec.tsRecent = o.tsVal;
      return this.#reply(rec, now, out);
    }
    // Anything else is an old duplicate or an ACK: the window is closed, so data is answered
    // (rate-limited) and a bare ACK at RCV.NXT needs nothing.
    if (seg.payload.length === 0 && seg.seq === rec.rcvNxt) return TimeWaitAction.Drop;
    return this.#reply(rec, now, out);
  }

  #reply(rec: TimeWaitRecord, now: number, out: TcpSegment): TimeWaitAction {
    if (now - rec.lastReplyAt < REPLY_INTERVAL_MS) return TimeWaitAction.Drop;
    rec.lastReplyAt = now;
    const o = out.options;
    resetTcpOptions(o);
    out.srcPort = rec.localPort;
    out.dstPort = rec.remotePort;
    out.seq = rec.sndNxt;
    out.ack = rec.rcvNxt;
    out.flags = ACK;
    out.window = rec.window;
    out.urgent = 0;
    out.payload = EMPTY;
    if (rec.tsOk) {
      o.hasTimestamps = true;
      o.tsVal = tsClock(rec.tsOffset, now);
      o.tsEcr = rec.tsRecent;
    }
    return TimeWaitAction.Reply;
  }
}

const EMPTY = new Uint8Array(0);
/** What one TIME-WAIT record costs, counted in `memoryBytes`. */
const TIME_WAIT_BYTES = 160;
