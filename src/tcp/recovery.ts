/**
 * Loss recovery: the decisions taken over the scoreboard when ACKs say that segments were
 * lost, and the tail loss probe.
 *
 * - RFC 5681 §3.2 and RFC 6675 §5: fast retransmit on the third duplicate ACK (or as soon as
 *   SACK shows the first segment lost, RFC 6675 §4 IsLost), then loss recovery until the
 *   recovery point is acknowledged; RFC 6675 §4 SetPipe gives the bytes in flight.
 * - RFC 6582 §3.2 (NewReno) when the peer does not do SACK: duplicate ACKs stand for SACKed
 *   segments, and a partial acknowledgment marks the next hole lost.
 * - RFC 6675 §5.1 and RFC 2018 §8: after a retransmission timeout everything outstanding is
 *   presumed lost.
 * - RFC 8985 §7 (tail loss probe): when to probe, and what to resend.
 *
 * The connection calls these at the points of RFC 9293 §3.10.7.4 where an ACK is processed
 * and a timer fires; it keeps the actions (retransmitting, telling the congestion
 * controller). The scoreboard (scoreboard.ts) holds what was sent and what the peer said of
 * it, RACK's detection of lost retransmissions (RFC 8985 §6.2) included.
 * @module
 */

import { seqDiff, seqGe, seqGt } from "./seq.ts";
import type { RttEstimator } from "./rtt.ts";
import { R_LOST, R_RETRANS, R_SACKED, type Scoreboard, type TxRecord } from "./scoreboard.ts";

/** Duplicate ACKs (or SACKed segments above a hole) that mean loss: RFC 5681 §3.2, RFC 6675 §2. */
export const DUP_THRESH = 3;
/** Floor of the tail loss probe timeout, as Linux. */
const PTO_MIN_MS = 10;
/** RFC 8985 §7.2 WCDelAckT: the worst case delayed ACK timer. */
const WORST_CASE_DELACK_MS = 200;

/** What `LossRecovery.onNewAck` found. */
export enum NewAck {
  /** Not in recovery: the congestion controller grows the window. */
  Normal = 0,
  /** Full acknowledgment: recovery ended (RFC 6582 §3.2 step 3, RFC 6675 §5). */
  Exited = 1,
  /** Partial acknowledgment: recovery goes on (RFC 6582 §3.2 step 4). */
  Partial = 2,
}

/** What recovery reads of the connection's send side (RFC 9293 §3.3.1 variables). */
export interface RecoverySender {
  /** SND.UNA. */
  readonly sndUna: number;
  /** SND.NXT. */
  readonly sndNxt: number;
  /** Effective payload bytes per segment. */
  readonly sndMss: number;
  /** SACK was negotiated (RFC 2018): SACK recovery, else NewReno. */
  readonly sackOk: boolean;
  /** The RTT estimator (SRTT for the probe timeout). */
  readonly rtt: RttEstimator;
  /** The retransmission timer's deadline; a probe is armed only before it. */
  readonly rtoAt: number;
}

/**
 * The loss recovery state of one connection: the duplicate ACK count, whether it is in
 * recovery and up to where, and the tail loss probe timer.
 *
 * @example
 * ```ts
 * import { LossRecovery } from "./recovery.ts";
 * import { RttEstimator } from "./rtt.ts";
 * import { Scoreboard } from "./scoreboard.ts";
 * const sb = new Scoreboard();
 * for (let i = 0; i < 5; i++) sb.push(1000 + i * 100, 100, 0, 0);
 * const snd = {
 *   sndUna: 1000, sndNxt: 1500, sndMss: 100, sackOk: true,
 *   rtt: new RttEstimator({}), rtoAt: 1000,
 * };
 * const rec = new LossRecovery(snd, sb, 1000);
 * sb.applySack([1100, 1400], 1000, 1500, 5); // three segments above the first arrived
 * console.log(rec.onDupAck(300)); // true: the first is lost, recovery begins
 * console.log(rec.pipe()); // 500 − 300 SACKed = 200 bytes in flight
 * ```
 */
export class LossRecovery {
  /** Duplicate ACKs counted towards fast retransmit (RFC 5681 §2). */
  dupAcks = 0;
  /** In fast recovery (RFC 6582) or SACK loss recovery (RFC 6675 §5). */
  inRecovery = false;
  /** RFC 6582 "recover" / RFC 6675 RecoveryPoint. */
  recover = 0;
  /** Tail loss probe deadline (RFC 8985 §7.2), Infinity when off. */
  ptoAt = Infinity;
  /** Duplicate ACKs counted as SACKs when the peer does not do SACK (Reno emulation). */
  #renoSacked = 0;
  /** A probe went out and no new data was acknowledged since (one probe per episode). */
  #probeSent = false;
  readonly #snd: RecoverySender;
  readonly #sb: Scoreboard;

  /** Recovery over `sb` for the sender `snd`, whose initial sequence number is `iss`. */
  constructor(snd: RecoverySender, sb: Scoreboard, iss: number) {
    this.#snd = snd;
    this.#sb = sb;
    this.recover = iss;
  }

  /** Bytes estimated in the network (RFC 6675 §4 SetPipe): outstanding − SACKed − lost + retransmitted. */
  pipe(): number {
    const outstanding = seqDiff(this.#snd.sndNxt, this.#snd.sndUna);
    const sb = this.#sb;
    const p = outstanding - sb.sackedOut - sb.lostOut + sb.retransOut - this.#renoSacked;
    return Math.max(0, p);
  }

  /**
   * A duplicate ACK that counts towards fast retransmit (`newlySacked` bytes newly SACKed).
   * Returns true when recovery must begin (`enter`): on the third (RFC 5681 §3.2), or as
   * soon as SACK shows the first segment lost (RFC 6675 §5).
   */
  onDupAck(newlySacked: number): boolean {
    const snd = this.#snd;
    this.dupAcks++;
    if (!snd.sackOk) {
      // Reno: each duplicate ACK says one segment left the network.
      const outstanding = seqDiff(snd.sndNxt, snd.sndUna);
      this.#renoSacked = Math.min(this.#renoSacked + snd.sndMss, Math.max(0, outstanding - 1));
    }
    if (this.inRecovery) {
      if (snd.sackOk && newlySacked > 0) this.#sb.markLost(DUP_THRESH, snd.sndMss);
      return false;
    }
    const lostBySack = snd.sackOk && this.#sb.headIsLost(DUP_THRESH, snd.sndMss);
    // RFC 6582 §3.2 step 1: no new recovery before the previous recovery point is acked.
    return (this.dupAcks >= DUP_THRESH || lostBySack) && seqGe(snd.sndUna, this.recover);
  }

  /** New SACK information on an ACK that is neither new nor a duplicate (RFC 6675 §5). */
  onSack(): void {
    if (this.inRecovery) this.#sb.markLost(DUP_THRESH, this.#snd.sndMss);
  }

  /**
   * Recovery begins (RFC 6675 §5 step 4, RFC 6582 §3.2 step 2): the recovery point is
   * SND.NXT. Call `pipe` for the congestion controller next, then `markForRetransmit`.
   */
  enter(): void {
    this.inRecovery = true;
    this.recover = this.#snd.sndNxt;
  }

  /**
   * Marks the first segment lost (and, with SACK, every segment RFC 6675 IsLost says), and
   * returns it when it is to be sent again now: the fast retransmit, which goes out
   * regardless of the pipe (RFC 6675 §5 step 4.3). Null when nothing is to be resent.
   */
  markForRetransmit(): TxRecord | null {
    const sb = this.#sb;
    const head = sb.head();
    if (head && !(head.marks & R_SACKED) && !(head.marks & R_LOST)) sb.mark(head, R_LOST);
    if (this.#snd.sackOk) sb.markLost(DUP_THRESH, this.#snd.sndMss);
    if (head && (head.marks & R_LOST) && !(head.marks & R_RETRANS)) return head;
    return null;
  }

  /**
   * A cumulative ACK moved SND.UNA up by `acked` (the connection has moved it already).
   * Ends recovery on a full acknowledgment, marks the next hole lost on a partial one.
   */
  onNewAck(acked: number): NewAck {
    const snd = this.#snd;
    this.#probeSent = false; // the probe episode ends with new data acknowledged
    if (this.inRecovery) {
      if (seqGe(snd.sndUna, this.recover)) {
        // Full acknowledgment: recovery ends (RFC 6582 §3.2 step 3, RFC 6675 §5).
        this.inRecovery = false;
        this.#renoSacked = 0;
        this.dupAcks = 0;
        return NewAck.Exited;
      }
      // Partial acknowledgment (RFC 6582 §3.2 step 4): the next hole is lost too.
      if (!snd.sackOk) {
        this.#renoSacked = Math.max(0, this.#renoSacked - acked);
        const head = this.#sb.head();
        if (head && !(head.marks & (R_LOST | R_SACKED))) this.#sb.mark(head, R_LOST);
      } else {
        this.#sb.markLost(DUP_THRESH, snd.sndMss);
      }
      return NewAck.Partial;
    }
    this.dupAcks = 0;
    this.#renoSacked = 0;
    // Keep "recover" just behind SND.UNA: left far behind, it would read as ahead of
    // SND.UNA after 2^31 bytes and block the next fast retransmit (RFC 6582 §3.2 step 1).
    if (seqGt(snd.sndUna, this.recover)) this.recover = snd.sndUna;
    return NewAck.Normal;
  }

  /**
   * The retransmission timer expired (after the congestion controller took `pipe`):
   * everything outstanding is presumed lost (RFC 6675 §5.1), the SACKed segments too: "after
   * a retransmit timeout the data sender SHOULD turn off all of the SACKed bits, since the
   * timeout might indicate that the data receiver has reneged" (RFC 2018 §8). The next
   * ACK's SACK blocks mark again what the receiver still holds.
   */
  onTimeout(): void {
    this.#sb.markAllLost();
    this.#renoSacked = 0;
    this.dupAcks = 0;
    this.inRecovery = false;
    this.recover = this.#snd.sndNxt; // RFC 6582 §3.2 step 1 guard after a timeout
  }

  /**
   * RFC 8985 §7.2: after sending new data or taking an ACK, with data in flight, schedule
   * a tail loss probe two smoothed RTTs later (plus a delayed-ACK allowance when one
   * segment is in flight), unless the RTO comes first. Unlike the RFC, a probe is also
   * allowed during recovery once every segment marked lost has been retransmitted: a
   * receiver that delays its ACK after a hole is filled (seen with Linux) would otherwise
   * cost a whole RTO.
   */
  armProbe(now: number): void {
    const snd = this.#snd;
    const outstanding = seqDiff(snd.sndNxt, snd.sndUna);
    const srtt = snd.rtt.srtt;
    if (
      this.#probeSent || outstanding === 0 || srtt < 0 || this.#sb.lostOut > this.#sb.retransOut
    ) {
      this.ptoAt = Infinity;
      return;
    }
    let pto = Math.max(2 * srtt, PTO_MIN_MS);
    if (outstanding <= snd.sndMss) pto = Math.max(pto, 1.5 * srtt + WORST_CASE_DELACK_MS);
    const at = now + pto;
    this.ptoAt = at < snd.rtoAt ? at : Infinity;
  }

  /**
   * The probe timer fired (RFC 8985 §7.3): the segment to resend as the probe, or null when
   * none is due (nothing outstanding, or this episode's probe was sent). The RFC resends the
   * highest-sequence segment (or new data); tcptun resends the first unacknowledged,
   * un-SACKed one instead, because measured against Linux that is what draws an answer: a
   * duplicate below the receiver's last ACK is answered at once, while a duplicate of the
   * tail may wait out a 200 ms delayed ACK. If the head was lost the probe repairs it; if
   * only ACKs were lost the answer acknowledges everything; if the tail was lost each answer
   * moves SND.UNA up and arms the next probe.
   */
  probeTarget(): TxRecord | null {
    if (this.#snd.sndNxt === this.#snd.sndUna || this.#probeSent) return null;
    const first = this.#sb.firstUnsacked();
    if (!first) return null;
    this.#probeSent = true;
    return first;
  }
}
