/**
 * The sender's scoreboard (RFC 6675 §3): one record per segment sent and not yet
 * cumulatively acknowledged, each marked SACKed, lost or retransmitted, with the byte counts
 * that give the pipe (RFC 6675 §4 SetPipe), the loss rules of RFC 6675 §4 (IsLost) and RACK's
 * detection of lost retransmissions (RFC 8985 §6.2). A TSO super-segment is one record per
 * MSS-sized segment, so that all of this works at MSS granularity.
 *
 * The connection owns the recovery decisions (when to enter recovery, what to resend); the
 * scoreboard only knows what was sent and what the peer said about it.
 * @module
 */

import { FIN, SYN } from "../wire/tcp.ts";
import { seqAdd, seqDiff, seqGe, seqGt, seqLe, seqLt } from "./seq.ts";

/** Record marks (RFC 6675 §3). */
export const R_SACKED = 1;
export const R_LOST = 2;
/** Retransmitted since it was last marked lost. */
export const R_RETRANS = 4;
/** Ever retransmitted: no RTT sample from it (Karn's algorithm). */
export const R_EVER_RETRANS = 8;

/** One sent segment awaiting acknowledgment. */
export interface TxRecord {
  seq: number;
  /** Sequence space consumed, SYN and FIN included. */
  len: number;
  /** SYN and/or FIN bits that this segment carries. */
  ctl: number;
  sentAt: number;
  marks: number;
}

/** What a cumulative ACK took off the scoreboard (`Scoreboard.ack`); reused. */
export interface AckResult {
  /** RTT of the newest fully acknowledged segment never retransmitted, or -1 (Karn). */
  karnSample: number;
  /** The SYN was acknowledged by this ACK. */
  synAcked: boolean;
  /** The FIN was acknowledged by this ACK. */
  finAcked: boolean;
}

/** What one record costs, counted in `memoryBytes` (a small V8 object). */
const TX_RECORD_BYTES = 48;

/**
 * The records of the segments in flight.
 *
 * @example
 * ```ts
 * import { R_SACKED, Scoreboard } from "./scoreboard.ts";
 * const sb = new Scoreboard();
 * for (let i = 0; i < 4; i++) sb.push(1000 + i * 100, 100, 0, 0);
 * sb.applySack([1100, 1400], 1000, 1400, 5); // the receiver holds all but the first
 * sb.markLost(3, 100); // three SACKed segments above it: the first is lost (RFC 6675 §4)
 * console.log(sb.sackedOut, sb.lostOut, sb.head()!.marks & R_SACKED); // 300 100 0
 * ```
 */
export class Scoreboard {
  // The records in flight are #tx[#head..#end). The array only grows: acknowledged records
  // leave by moving #head, and the live ones move down to index 0 in place now and then, so
  // that sending and acknowledging allocate nothing (slots past #end are stale, never read).
  #tx: TxRecord[] = [];
  #head = 0;
  #end = 0;
  #pool: TxRecord[] = [];
  /** Bytes in records marked SACKed, lost, or retransmitted after being lost. */
  sackedOut = 0;
  lostOut = 0;
  retransOut = 0;
  /** RACK.xmit_ts: the latest send time of a delivered segment (RFC 8985). */
  rackXmitTs = -Infinity;
  /** The smallest RTT seen, for RACK's reordering window. */
  minRtt = Infinity;
  readonly #ack: AckResult = { karnSample: -1, synAcked: false, finAcked: false };

  /** Whether nothing is in flight. */
  get isEmpty(): boolean {
    return this.#head === this.#end;
  }

  /** Bytes of memory the records cost. */
  get memoryBytes(): number {
    return (this.#end + this.#pool.length) * TX_RECORD_BYTES;
  }

  /** The first record (at SND.UNA), or null. */
  head(): TxRecord | null {
    return this.#head < this.#end ? this.#tx[this.#head] : null;
  }

  /** Records a segment just sent: `len` units of sequence space from `seq`. */
  push(seq: number, len: number, ctl: number, now: number): TxRecord {
    let r = this.#pool.pop();
    if (r) {
      r.seq = seq;
      r.len = len;
      r.ctl = ctl;
      r.sentAt = now;
      r.marks = 0;
    } else {
      r = { seq, len, ctl, sentAt: now, marks: 0 };
    }
    if (this.#end < this.#tx.length) this.#tx[this.#end] = r;
    else this.#tx.push(r);
    this.#end++;
    return r;
  }

  /** The first record marked lost and not retransmitted since (RFC 6675 NextSeg rule 1). */
  firstLostUnsent(): TxRecord | null {
    for (let i = this.#head; i < this.#end; i++) {
      const r = this.#tx[i];
      if ((r.marks & (R_LOST | R_RETRANS | R_SACKED)) === R_LOST) return r;
    }
    return null;
  }

  /** The first record not SACKed (what a loss probe resends), or null. */
  firstUnsacked(): TxRecord | null {
    for (let i = this.#head; i < this.#end; i++) {
      if (!(this.#tx[i].marks & R_SACKED)) return this.#tx[i];
    }
    return null;
  }

  /**
   * A cumulative ACK up to `ack`: removes the records it covers (trimming one it covers in
   * part), noting the RACK delivery time of each (RFC 8985 §6.2) and the RTT of the newest
   * never retransmitted (Karn's algorithm). The result is reused by the next call. `ack` may
   * come as an int32 (see seqI32).
   */
  ack(ack: number, now: number): AckResult {
    ack = ack >>> 0;
    const res = this.#ack;
    res.karnSample = -1;
    res.synAcked = false;
    res.finAcked = false;
    let idx = this.#head;
    const tx = this.#tx;
    const end = this.#end;
    while (idx < end) {
      const r = tx[idx];
      if (seqLe(seqAdd(r.seq, r.len), ack)) {
        if (!(r.marks & R_EVER_RETRANS)) res.karnSample = now - r.sentAt;
        this.#rackDelivered(r, now);
        if (r.ctl & SYN) res.synAcked = true;
        if (r.ctl & FIN) res.finAcked = true;
        this.unmark(r);
        this.#pool.push(r);
        idx++;
      } else {
        if (seqLt(r.seq, ack)) {
          // Partially acknowledged segment: keep the rest.
          this.unmark(r);
          if (r.ctl & SYN) {
            res.synAcked = true;
            r.ctl &= ~SYN;
          }
          r.len -= seqDiff(ack, r.seq);
          r.seq = ack;
          r.marks &= R_EVER_RETRANS;
        }
        break;
      }
    }
    this.#head = idx;
    if (idx === end) {
      this.#head = this.#end = 0;
    } else if (idx > 64 && idx * 2 > end) {
      // More than half the slots are acknowledged: the live records move down (in place).
      for (let i = idx; i < end; i++) tx[i - idx] = tx[i];
      this.#head = 0;
      this.#end = end - idx;
    }
    return res;
  }

  /**
   * Applies SACK blocks `[left0, right0, ...]` (RFC 2018 §5), ignoring D-SACKs (RFC 2883) and
   * blocks outside SND.UNA..SND.NXT. Returns the bytes newly SACKed.
   */
  applySack(blocks: number[], sndUna: number, sndNxt: number, now: number): number {
    let newly = 0;
    for (let b = 0; b + 1 < blocks.length; b += 2) {
      const left = blocks[b];
      const right = blocks[b + 1];
      if (seqLe(right, sndUna) || seqGt(right, sndNxt) || seqGe(left, right)) continue;
      for (let i = this.#head; i < this.#end; i++) {
        const r = this.#tx[i];
        if (seqGe(r.seq, right)) break;
        if (r.marks & R_SACKED) continue;
        if (seqGe(r.seq, left) && seqLe(seqAdd(r.seq, r.len), right)) {
          this.#rackDelivered(r, now);
          this.mark(r, R_SACKED);
          newly += r.len;
        }
      }
    }
    return newly;
  }

  /** An RTT sample, for RACK's reordering window. */
  noteRtt(ms: number): void {
    if (ms < this.minRtt) this.minRtt = ms;
  }

  /**
   * RACK (RFC 8985 §6.2 step 2): remembers the latest transmission time among segments
   * just acknowledged or SACKed, skipping a retransmitted one whose ACK came too soon to
   * be for the retransmission.
   */
  #rackDelivered(r: TxRecord, now: number): void {
    if ((r.marks & R_EVER_RETRANS) && now - r.sentAt < this.minRtt) return;
    if (r.sentAt > this.rackXmitTs) this.rackXmitTs = r.sentAt;
  }

  /**
   * Lost retransmissions (RFC 8985 §6.2 step 5, applied to retransmitted segments): a
   * retransmission is lost when a segment sent more than a reordering window after it
   * has already been delivered. Without this, only the RTO would find it.
   */
  detectLostRetransmissions(): void {
    if (this.retransOut === 0) return;
    const reoWnd = this.minRtt === Infinity ? 0 : this.minRtt / 4;
    for (let i = this.#head; i < this.#end; i++) {
      const r = this.#tx[i];
      if (
        (r.marks & (R_RETRANS | R_SACKED)) === R_RETRANS && this.rackXmitTs - r.sentAt > reoWnd
      ) {
        this.mark(r, R_LOST);
      }
    }
  }

  /** RFC 6675 §4 IsLost for the first unacknowledged segment. */
  headIsLost(dupThresh: number, mss: number): boolean {
    const head = this.head();
    if (!head || (head.marks & R_SACKED)) return false;
    let count = 0;
    let bytes = 0;
    for (let i = this.#head + 1; i < this.#end; i++) {
      const r = this.#tx[i];
      if (r.marks & R_SACKED) {
        count++;
        bytes += r.len;
      }
    }
    return count >= dupThresh || bytes > (dupThresh - 1) * mss;
  }

  /**
   * RFC 6675 §4 IsLost over the scoreboard: every un-SACKed segment with DupThresh SACKed
   * segments (or more than (DupThresh−1)·SMSS SACKed bytes) above it is lost.
   */
  markLost(dupThresh: number, mss: number): void {
    let count = 0;
    let bytes = 0;
    for (let i = this.#end - 1; i >= this.#head; i--) {
      const r = this.#tx[i];
      if (r.marks & R_SACKED) {
        count++;
        bytes += r.len;
      } else if (
        !(r.marks & R_LOST) && (count >= dupThresh || bytes > (dupThresh - 1) * mss)
      ) {
        this.mark(r, R_LOST);
      }
    }
  }

  /**
   * After a retransmission timeout everything outstanding is presumed lost, the SACKed
   * segments too (RFC 6675 §5.1; RFC 2018 §8: the receiver may have reneged).
   */
  markAllLost(): void {
    for (let i = this.#head; i < this.#end; i++) {
      const r = this.#tx[i];
      this.unmark(r);
      r.marks = (r.marks & R_EVER_RETRANS) | R_LOST;
      this.lostOut += r.len;
    }
  }

  /**
   * The path MTU dropped: every record carrying more than `mss` data bytes was too big to
   * pass. It is cut into records of at most `mss` bytes, all marked lost, so that they are
   * sent again at the new size (RFC 1191 §6.5; as Linux's tcp_simple_retransmit). SACKed
   * records are left alone (they arrived). Returns how many records were cut.
   */
  resegment(mss: number): number {
    let cut = 0;
    const tx = this.#tx;
    tx.length = this.#end; // (a rare path: the stale slots go, the array may shrink)
    for (let i = this.#head; i < tx.length; i++) {
      const r = tx[i];
      if (r.marks & R_SACKED) continue;
      const fin = (r.ctl & FIN) !== 0;
      const data = r.len - (fin ? 1 : 0) - ((r.ctl & SYN) ? 1 : 0);
      if (data <= mss || (r.ctl & SYN)) continue;
      cut++;
      this.unmark(r);
      const ever = r.marks & R_EVER_RETRANS;
      // The first piece stays in `r`; the rest are new records after it.
      const pieces: TxRecord[] = [];
      let seq = seqAdd(r.seq, mss);
      for (let left = data - mss; left > 0; left -= mss) {
        const len = Math.min(left, mss);
        const last = left <= mss;
        const p = this.#pool.pop() ?? { seq: 0, len: 0, ctl: 0, sentAt: 0, marks: 0 };
        p.seq = seq;
        p.len = len + (last && fin ? 1 : 0);
        p.ctl = last && fin ? FIN : 0;
        p.sentAt = r.sentAt;
        p.marks = ever | R_LOST;
        this.lostOut += p.len;
        pieces.push(p);
        seq = seqAdd(seq, len);
      }
      r.len = mss;
      r.ctl = 0;
      r.marks = ever | R_LOST;
      this.lostOut += r.len;
      tx.splice(i + 1, 0, ...pieces);
      i += pieces.length;
    }
    this.#end = tx.length;
    return cut;
  }

  /** Marks a record SACKed or lost, keeping the byte counts in step. */
  mark(r: TxRecord, m: number): void {
    if (m === R_SACKED) {
      if (r.marks & R_SACKED) return;
      if (r.marks & R_LOST) this.lostOut -= r.len;
      if (r.marks & R_RETRANS) this.retransOut -= r.len;
      r.marks = (r.marks & R_EVER_RETRANS) | R_SACKED;
      this.sackedOut += r.len;
    } else if (m === R_LOST) {
      if (r.marks & R_RETRANS) this.retransOut -= r.len; // the retransmission was lost too
      if (!(r.marks & R_LOST)) this.lostOut += r.len;
      r.marks = (r.marks & R_EVER_RETRANS) | R_LOST;
    }
  }

  /** A record leaves the counts (acknowledged, or about to be re-marked). */
  unmark(r: TxRecord): void {
    if (r.marks & R_SACKED) this.sackedOut -= r.len;
    if (r.marks & R_LOST) this.lostOut -= r.len;
    if (r.marks & R_RETRANS) this.retransOut -= r.len;
  }

  /** A record was sent again at `now`. */
  retransmitted(r: TxRecord, now: number): void {
    if ((r.marks & (R_LOST | R_RETRANS)) === R_LOST) {
      this.retransOut += r.len;
      r.marks |= R_RETRANS;
    }
    r.marks |= R_EVER_RETRANS;
    r.sentAt = now;
  }

  /** Frees the record arrays when nothing is in flight; returns the bytes freed. */
  release(): number {
    if (!this.isEmpty) return 0;
    const n = this.memoryBytes;
    this.#tx = [];
    this.#head = 0;
    this.#end = 0;
    this.#pool = [];
    return n;
  }
}
