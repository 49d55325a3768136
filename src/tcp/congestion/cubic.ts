/**
 * CUBIC congestion control (RFC 9438).
 *
 * Windows inside the cubic function are in segments (SMSS units) as the RFC writes them;
 * `cwnd` and `ssthresh` are exposed in bytes like every controller. Time `t` is in seconds,
 * from the `nowMs` values the connection passes in.
 * @module
 */

import { type CongestionControl, INITIAL_SSTHRESH, initialWindow, slowStart } from "./types.ts";

/** RFC 9438 §5.1: C = 0.4 (segments per second cubed). */
export const CUBIC_C = 0.4;
/** RFC 9438 §4.6: multiplicative decrease factor beta_cubic = 0.7. */
export const CUBIC_BETA = 0.7;
/** RFC 9438 §4.3: alpha_cubic = 3 * (1 - beta) / (1 + beta), the Reno-friendly slope. */
const ALPHA_CUBIC = (3 * (1 - CUBIC_BETA)) / (1 + CUBIC_BETA);

/**
 * K, the time in seconds the cubic function takes to grow from `cwndEpoch` back to `wMax`
 * (RFC 9438 §4.2 eq. 2): cbrt((W_max - cwnd_epoch) / C); 0 if cwnd_epoch ≥ W_max.
 *
 * @example
 * ```ts
 * import { cubicK } from "./cubic.ts";
 * // After a loss at W_max = 100 segments, cwnd_epoch = 70: K = cbrt(30 / 0.4) ≈ 4.217 s.
 * console.log(cubicK(100, 70).toFixed(3)); // "4.217"
 * ```
 */
export function cubicK(wMax: number, cwndEpoch: number): number {
  return wMax > cwndEpoch ? Math.cbrt((wMax - cwndEpoch) / CUBIC_C) : 0;
}

/** W_cubic(t) = C * (t - K)^3 + W_max in segments, `t` and `k` in seconds (RFC 9438 eq. 1). */
export function wCubic(t: number, k: number, wMax: number): number {
  const d = t - k;
  return CUBIC_C * d * d * d + wMax;
}

/**
 * The CUBIC congestion controller: standard slow start, then window growth along the
 * cubic function of the time since the last congestion event, never slower than Reno.
 *
 * @example
 * ```ts
 * import { Cubic } from "./cubic.ts";
 * const cc = new Cubic(1000);
 * cc.cwnd = 100_000; // pretend slow start reached 100 segments
 * cc.onCongestionEvent(100_000, 0);
 * console.log(cc.ssthresh, cc.wMax); // 70000 100
 * ```
 */
export class Cubic implements CongestionControl {
  /** Always `"cubic"`. */
  readonly name = "cubic" as const;
  /** Congestion window, bytes. */
  cwnd: number;
  /** Slow start threshold, bytes. */
  ssthresh = INITIAL_SSTHRESH;

  #mss: number;
  #started = false;
  #inTimeout = false;
  /** RFC 9438 §4.8: the first congestion avoidance stage after an RTO uses K = 0 and
   * W_max = cwnd at its start. */
  #afterTimeout = false;
  /** W_max, segments: the window just before the last reduction (after §4.7). 0 = none. */
  #wMax = 0;
  /** cwnd_prior, segments: cwnd before the last reduction (RFC 9438 §4.3, §4.6). */
  #cwndPrior = 0;
  /** Start of the current congestion avoidance epoch, ms; -1 when none is running. */
  #epochStart = -1;
  /** K for the current epoch, seconds. */
  #k = 0;
  /** W_est, segments: the Reno-friendly estimate (RFC 9438 §4.3). */
  #wEst = 0;
  /** Fractional bytes of window growth not yet added to cwnd. */
  #frac = 0;

  /** Creates a controller for sender MSS `mss` with cwnd = IW. */
  constructor(mss: number) {
    this.#mss = mss;
    this.cwnd = initialWindow(mss);
  }

  /** W_max in segments (0 before the first congestion event). */
  get wMax(): number {
    return this.#wMax;
  }

  /** K in seconds for the current congestion avoidance epoch (0 if none has started). */
  get k(): number {
    return this.#k;
  }

  /** When the current congestion avoidance epoch started (ms), or -1. */
  get epochStart(): number {
    return this.#epochStart;
  }

  /** W_est in segments, the Reno-friendly estimate of the current epoch. */
  get wEst(): number {
    return this.#wEst;
  }

  /** See {@linkcode CongestionControl.onAck}. */
  onAck(
    acked: number,
    _flightSize: number,
    cwndLimited: boolean,
    nowMs: number,
    srttMs: number,
  ): void {
    this.#started = true;
    this.#inTimeout = false;
    // RFC 9438 §5.8: no growth while the sender is application-limited.
    if (acked <= 0 || !cwndLimited) return;
    const mss = this.#mss;
    // RFC 9438 §4.10: standard slow start (RFC 5681 §3.1, RFC 3465 byte counting).
    acked = slowStart(this, acked, mss);
    if (acked === 0) return;
    let cwnd = this.cwnd / mss; // segments
    if (this.#epochStart < 0) {
      // RFC 9438 §4.2: the epoch starts with the first ACK of congestion avoidance.
      this.#epochStart = nowMs;
      if (this.#afterTimeout || this.#wMax === 0) {
        // RFC 9438 §4.8: after an RTO, K = 0 and W_max = cwnd at the start of CA.
        this.#wMax = cwnd;
        this.#cwndPrior = cwnd;
        this.#afterTimeout = false;
      }
      this.#k = cubicK(this.#wMax, cwnd);
      // RFC 9438 §4.3: W_est = cwnd_epoch at the start of the epoch.
      this.#wEst = cwnd;
      this.#frac = 0;
    }
    const segs = acked / mss;
    // RFC 9438 §4.3: W_est grows by alpha_cubic per RTT; alpha becomes 1 once W_est has
    // reached cwnd_prior.
    const alpha = this.#wEst >= this.#cwndPrior ? 1 : ALPHA_CUBIC;
    this.#wEst += (alpha * segs) / cwnd;
    const t = (nowMs - this.#epochStart) / 1000;
    if (wCubic(t, this.#k, this.#wMax) < this.#wEst) {
      // RFC 9438 §4.3: Reno-friendly region: cwnd = W_est.
      const est = Math.floor(this.#wEst * mss);
      if (est > this.cwnd) this.cwnd = est;
      return;
    }
    // RFC 9438 §4.4/§4.5 (concave and convex regions): target = W_cubic(t + RTT),
    // clamped to [cwnd, 1.5 * cwnd] (§4.2), and cwnd grows by (target - cwnd) / cwnd per
    // SMSS acknowledged.
    const rtt = srttMs > 0 ? srttMs / 1000 : 0;
    let target = wCubic(t + rtt, this.#k, this.#wMax);
    if (target < cwnd) target = cwnd;
    else if (target > 1.5 * cwnd) target = 1.5 * cwnd;
    this.#frac += ((target - cwnd) / cwnd) * segs * mss;
    const whole = Math.floor(this.#frac);
    this.#frac -= whole;
    cwnd = this.cwnd + whole;
    this.cwnd = cwnd;
  }

  /** See {@linkcode CongestionControl.onCongestionEvent}. */
  onCongestionEvent(_flightSize: number, _nowMs: number): void {
    this.#started = true;
    this.#reduce();
    // RFC 9438 §4.6: cwnd = max(ssthresh, 2) segments on a loss.
    this.cwnd = this.ssthresh;
  }

  /** See {@linkcode CongestionControl.onTimeout}. */
  onTimeout(_flightSize: number, _nowMs: number): void {
    this.#started = true;
    // RFC 5681 §3.1: a repeated timeout without progress keeps ssthresh.
    if (!this.#inTimeout) this.#reduce();
    this.#inTimeout = true;
    this.#afterTimeout = true;
    // RFC 9438 §4.8: follow Reno on a timeout: cwnd = 1 SMSS (RFC 5681 §3.1).
    this.cwnd = this.#mss;
  }

  /** See {@linkcode CongestionControl.onIdleRestart}. */
  onIdleRestart(_nowMs: number): void {
    // RFC 5681 §4.1: RW = min(IW, cwnd). The cubic epoch restarts with the next ACK in
    // congestion avoidance so idle time does not count as growth time.
    this.cwnd = Math.min(this.cwnd, initialWindow(this.#mss));
    this.#epochStart = -1;
  }

  /** See {@linkcode CongestionControl.setMss}. */
  setMss(mss: number): void {
    if (!(mss > 0)) return;
    this.#mss = mss;
    if (!this.#started) this.cwnd = initialWindow(mss);
  }

  /** RFC 9438 §4.6 multiplicative decrease with §4.7 fast convergence; ends the epoch. */
  #reduce(): void {
    const mss = this.#mss;
    const cwnd = this.cwnd / mss;
    // RFC 9438 §4.7: fast convergence: a flow whose W_max shrinks releases bandwidth.
    this.#wMax = cwnd < this.#wMax ? (cwnd * (1 + CUBIC_BETA)) / 2 : cwnd;
    this.#cwndPrior = cwnd;
    // RFC 9438 §4.6: ssthresh = cwnd * beta_cubic, at least 2 segments. cwnd (not
    // FlightSize) is used: the window only grows while cwnd-limited, so the two agree.
    this.ssthresh = Math.max(Math.floor(this.cwnd * CUBIC_BETA), 2 * mss);
    this.#epochStart = -1;
    this.#afterTimeout = false;
    this.#frac = 0;
  }
}
