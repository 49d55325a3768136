/**
 * Standard TCP congestion control (RFC 5681) with appropriate byte counting (RFC 3465)
 * and the RFC 6928 initial window. Fast recovery is RFC 6675-style (driven by the
 * connection's pipe estimate), so this controller never inflates cwnd.
 * @module
 */

import { type CongestionControl, INITIAL_SSTHRESH, initialWindow, slowStart } from "./types.ts";

/**
 * The NewReno congestion controller.
 *
 * @example
 * ```ts
 * import { NewReno } from "./newreno.ts";
 * const cc = new NewReno(1000);
 * cc.onAck(1000, 10_000, true, 0, -1); // slow start: cwnd 10000 -> 11000
 * cc.onCongestionEvent(11_000, 5); // ssthresh = cwnd = 5500
 * console.log(cc.cwnd, cc.ssthresh); // 5500 5500
 * ```
 */
export class NewReno implements CongestionControl {
  /** Always `"newreno"`. */
  readonly name = "newreno" as const;
  /** Congestion window, bytes. */
  cwnd: number;
  /** Slow start threshold, bytes. */
  ssthresh = INITIAL_SSTHRESH;

  #mss: number;
  /** Bytes acknowledged in congestion avoidance not yet turned into window (RFC 3465 §2.1). */
  #bytesAcked = 0;
  /** Whether anything has been acknowledged or lost yet (IW is fixed from then on). */
  #started = false;
  /** A retransmission timeout happened and no new data has been acknowledged since. */
  #inTimeout = false;

  /** Creates a controller for sender MSS `mss` with cwnd = IW. */
  constructor(mss: number) {
    this.#mss = mss;
    this.cwnd = initialWindow(mss);
  }

  /** See {@linkcode CongestionControl.onAck}. */
  onAck(
    acked: number,
    _flightSize: number,
    cwndLimited: boolean,
    _nowMs: number,
    _srttMs: number,
  ): void {
    this.#started = true;
    this.#inTimeout = false;
    if (acked <= 0 || !cwndLimited) return;
    const mss = this.#mss;
    // RFC 5681 §3.1 slow start, RFC 3465 §2.2 byte counting with L = 2*SMSS; bytes left
    // once ssthresh is reached count towards congestion avoidance.
    acked = slowStart(this, acked, mss);
    if (acked === 0) return;
    // RFC 5681 §3.1 congestion avoidance, counted in bytes (RFC 3465 §2.1): one SMSS
    // per cwnd bytes acknowledged, i.e. about one SMSS per RTT.
    this.#bytesAcked += acked;
    if (this.#bytesAcked >= this.cwnd) {
      this.#bytesAcked -= this.cwnd;
      this.cwnd += mss;
    }
  }

  /** See {@linkcode CongestionControl.onCongestionEvent}. */
  onCongestionEvent(flightSize: number, _nowMs: number): void {
    this.#started = true;
    // RFC 5681 §3.2 eq. 4: ssthresh = max(FlightSize / 2, 2*SMSS).
    this.ssthresh = Math.max(Math.floor(flightSize / 2), 2 * this.#mss);
    // RFC 6675 §5 step (4.2)/RFC 5681 §3.2 step 6: cwnd = ssthresh on leaving recovery;
    // with pipe-limited recovery it is set at once.
    this.cwnd = this.ssthresh;
    this.#bytesAcked = 0;
  }

  /** See {@linkcode CongestionControl.onTimeout}. */
  onTimeout(flightSize: number, _nowMs: number): void {
    this.#started = true;
    // RFC 5681 §3.1: when the segment was already retransmitted by the timer (no ACK of
    // new data since the last timeout), ssthresh is held constant.
    if (!this.#inTimeout) this.ssthresh = Math.max(Math.floor(flightSize / 2), 2 * this.#mss);
    this.#inTimeout = true;
    // RFC 5681 §3.1: cwnd = loss window LW = 1 full-sized segment.
    this.cwnd = this.#mss;
    this.#bytesAcked = 0;
  }

  /** See {@linkcode CongestionControl.onIdleRestart}. */
  onIdleRestart(_nowMs: number): void {
    // RFC 5681 §4.1: restart window RW = min(IW, cwnd).
    this.cwnd = Math.min(this.cwnd, initialWindow(this.#mss));
    this.#bytesAcked = 0;
  }

  /** See {@linkcode CongestionControl.setMss}. */
  setMss(mss: number): void {
    if (!(mss > 0)) return;
    this.#mss = mss;
    if (!this.#started) this.cwnd = initialWindow(mss);
  }
}
