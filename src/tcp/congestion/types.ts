/**
 * The congestion controller interface shared by NewReno and CUBIC, and the pieces of
 * RFC 5681 / RFC 6928 / RFC 3465 both use.
 * @module
 */

/** The names of the available congestion controllers. */
export type CongestionControlName = "newreno" | "cubic";

/** ssthresh before the first congestion event: "arbitrarily high" (RFC 5681 §3.1). */
export const INITIAL_SSTHRESH = 0x7fff_ffff;

/**
 * A congestion controller: owns `cwnd` and `ssthresh` (in bytes) and changes them on the
 * events the connection reports. Loss recovery itself (which segment to retransmit, the
 * pipe estimate of RFC 6675) belongs to the connection.
 */
export interface CongestionControl {
  /** Which algorithm this is. */
  readonly name: CongestionControlName;
  /** Congestion window in bytes (the connection may read it; only the controller writes). */
  cwnd: number;
  /** Slow start threshold in bytes, initially {@linkcode INITIAL_SSTHRESH}. */
  ssthresh: number;
  /**
   * Cumulative ACK of `acked` new bytes outside loss recovery (RFC 5681 §3.1: slow start
   * with appropriate byte counting L = 2*SMSS (RFC 3465), congestion avoidance otherwise).
   * `flightSize` is bytes outstanding before this ACK; the window grows only when the
   * connection was cwnd-limited (`cwndLimited`). `srttMs` is -1 if unknown.
   */
  onAck(
    acked: number,
    flightSize: number,
    cwndLimited: boolean,
    nowMs: number,
    srttMs: number,
  ): void;
  /**
   * Loss detected by duplicate ACKs or SACK (fast retransmit): set ssthresh (NewReno:
   * RFC 5681 eq. 4; CUBIC: RFC 9438 §4.6 with fast convergence §4.7) and cwnd = ssthresh
   * (the connection runs RFC 6675-style pipe-limited recovery, so no window inflation).
   */
  onCongestionEvent(flightSize: number, nowMs: number): void;
  /**
   * Retransmission timeout: ssthresh as for a congestion event (RFC 5681 eq. 4, CUBIC
   * §4.8) and cwnd = the loss window, 1*SMSS. A timeout repeated with no new data
   * acknowledged in between keeps ssthresh (RFC 5681 §3.1).
   */
  onTimeout(flightSize: number, nowMs: number): void;
  /**
   * Restart after the connection was idle for more than an RTO (RFC 5681 §4.1):
   * cwnd = min(cwnd, IW).
   */
  onIdleRestart(nowMs: number): void;
  /** The sender MSS changed (after the handshake); the initial window is recomputed if
   * nothing has been acknowledged or lost yet. */
  setMss(mss: number): void;
}

/**
 * The initial window in bytes (RFC 6928 §2): min(10*MSS, max(2*MSS, 14600)).
 *
 * @example
 * ```ts
 * import { initialWindow } from "./types.ts";
 * console.log(initialWindow(1460)); // 14600
 * ```
 */
export function initialWindow(mss: number): number {
  return Math.min(10 * mss, Math.max(2 * mss, 14600));
}

/**
 * Slow start with appropriate byte counting (RFC 3465): grows `cwnd` by the bytes newly
 * acknowledged, not beyond `ssthresh`. Returns the new cwnd; the caller hands any bytes left
 * once ssthresh is reached to congestion avoidance.
 *
 * RFC 3465 §2.2 limits the growth per ACK to L = 2·SMSS against ACK division and bursts. But a
 * receiver behind GRO or LRO, as Linux is on a TUN device with offloads, and a stretch-ACKing
 * one like tcptun, acknowledge 16 or more segments at once: with L = 2 slow start would grow
 * by that stretch factor more slowly than intended (measured: cwnd 600 KB instead of 2.6 MB
 * after a 20 MiB transfer). Like Linux (`tcp_slow_start`), every byte acknowledged counts; a
 * burst stays bounded by the window itself. `mss` is kept for the callers' symmetry.
 */
export function slowStartCwnd(cwnd: number, ssthresh: number, acked: number, _mss: number): number {
  return Math.min(cwnd + acked, Math.max(cwnd, ssthresh));
}

/**
 * Runs slow start on `cc` for `acked` new bytes when cwnd is below ssthresh, and returns
 * the bytes left for congestion avoidance: all of them above ssthresh, none while slow
 * start goes on, the remainder when this ACK reaches ssthresh.
 */
export function slowStart(
  cc: { cwnd: number; ssthresh: number },
  acked: number,
  mss: number,
): number {
  if (cc.cwnd >= cc.ssthresh) return acked;
  const grown = slowStartCwnd(cc.cwnd, cc.ssthresh, acked, mss);
  const used = grown - cc.cwnd;
  cc.cwnd = grown;
  if (used >= acked || cc.cwnd < cc.ssthresh) return 0;
  return acked - used;
}
