/**
 * Round-trip time estimation and the retransmission timeout (RFC 6298).
 *
 * Karn's rule (RFC 6298 §3, Karn & Partridge 1987) is the caller's job: RTT samples must
 * not be taken from segments that were retransmitted, because their ACK is ambiguous.
 * The connection only calls {@linkcode RttEstimator.sample} for an ACK that covers a
 * segment sent exactly once (or uses a timestamp echo, RFC 7323 §4, which has no
 * ambiguity). The backed-off RTO is kept until a new valid sample arrives (§5.7).
 *
 * RFC 6298 §5.7 also asks that an RTO below 3 s be re-initialized to 3 s when data
 * transmission begins after a SYN retransmission; this estimator leaves that to the caller
 * (the first valid sample replaces the initial RTO anyway).
 * @module
 */

/** Options for {@linkcode RttEstimator}; all values in milliseconds. */
export interface RttOptions {
  /** RTO before any sample (RFC 6298 §2.1): 1000. */
  initialRtoMs?: number;
  /** Lower bound of the RTO: 200, as Linux (RFC 6298 §2.4 says 1 s, as a SHOULD). */
  minRtoMs?: number;
  /** Upper bound of the RTO (RFC 6298 §2.5 allows a maximum of at least 60 s): 120000. */
  maxRtoMs?: number;
  /** Clock granularity G (RFC 6298 §2): 1. */
  granularityMs?: number;
}

/** RFC 6298 §2.3: alpha = 1/8. */
const ALPHA = 1 / 8;
/** RFC 6298 §2.3: beta = 1/4. */
const BETA = 1 / 4;
/** RFC 6298 §2: K = 4. */
const K = 4;

/**
 * Smoothed RTT, RTT variance and retransmission timeout with exponential backoff.
 *
 * @example
 * ```ts
 * import { RttEstimator } from "./rtt.ts";
 * const rtt = new RttEstimator();
 * rtt.sample(100); // SRTT = 100, RTTVAR = 50, RTO = 100 + 4 * 50 = 300
 * rtt.backoff(); // the retransmission timer expired: RTO = 600
 * console.log(rtt.srtt, rtt.rttvar, rtt.rto); // 100 50 600
 * ```
 */
export class RttEstimator {
  /** Smoothed round-trip time SRTT in ms; -1 before the first sample. */
  srtt = -1;
  /** Round-trip time variation RTTVAR in ms; 0 before the first sample. */
  rttvar = 0;
  /** How many times the RTO has been doubled since the last sample or reset. */
  backoffCount = 0;

  readonly #minRto: number;
  readonly #maxRto: number;
  readonly #granularity: number;
  /** RTO before backoff, ms (a number from the start: it is written on every sample). */
  #baseRto = 0;

  /** Creates an estimator with no samples yet; see {@linkcode RttOptions} for defaults. */
  constructor(opts: RttOptions = {}) {
    this.#minRto = opts.minRtoMs ?? 200;
    this.#maxRto = opts.maxRtoMs ?? 120_000;
    this.#granularity = opts.granularityMs ?? 1;
    // RFC 6298 §2.1: until a measurement is made, RTO is 1 second.
    this.#baseRto = this.#clamp(opts.initialRtoMs ?? 1000);
  }

  /** The current retransmission timeout in ms, including backoff, at most the maximum. */
  get rto(): number {
    if (this.backoffCount === 0) return this.#baseRto;
    // RFC 6298 §5.5: each expiry doubles the RTO; §2.5: a maximum value may be placed on it.
    return Math.min(this.#maxRto, this.#baseRto * 2 ** Math.min(this.backoffCount, 64));
  }

  /**
   * Feeds one RTT measurement `rttMs` (from a segment not retransmitted: Karn's rule).
   * Non-finite or negative values are ignored. Resets the backoff (RFC 6298 §5.7).
   */
  sample(rttMs: number): void {
    if (!(rttMs >= 0) || rttMs === Infinity) return;
    if (this.srtt < 0) {
      // RFC 6298 §2.2: the first measurement R sets SRTT = R, RTTVAR = R/2.
      this.srtt = rttMs;
      this.rttvar = rttMs / 2;
    } else {
      // RFC 6298 §2.3: RTTVAR first (it uses the old SRTT), then SRTT.
      this.rttvar = (1 - BETA) * this.rttvar + BETA * Math.abs(this.srtt - rttMs);
      this.srtt = (1 - ALPHA) * this.srtt + ALPHA * rttMs;
    }
    // RFC 6298 §2.2/§2.3: RTO = SRTT + max(G, K*RTTVAR); §2.4/§2.5: clamp to [min, max].
    this.#baseRto = this.#clamp(this.srtt + Math.max(this.#granularity, K * this.rttvar));
    this.backoffCount = 0;
  }

  /** The retransmission timer expired: double the RTO (RFC 6298 §5.5), up to the maximum. */
  backoff(): void {
    this.backoffCount++;
  }

  /**
   * RFC 6298 §5.7: when the SYN's timer expired and no RTT sample was taken, the RTO is
   * re-initialized to 3 seconds (or `ms`) as data transmission begins.
   */
  restartAfterSynTimeout(ms = 3000): void {
    if (this.srtt >= 0) return;
    this.#baseRto = this.#clamp(Math.max(this.#baseRto, ms));
    this.backoffCount = 0;
  }

  /** Forgets the backoff, returning the RTO to the value computed from the estimates. */
  resetBackoff(): void {
    this.backoffCount = 0;
  }

  #clamp(rto: number): number {
    return Math.min(this.#maxRto, Math.max(this.#minRto, rto));
  }
}
