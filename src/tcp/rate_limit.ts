/**
 * A token bucket: the rate limit in front of every reply a remote peer can draw (RSTs for
 * closed ports, challenge ACKs, ICMP echo replies, SYN cookies). RFC 5961 §7 asks for such a
 * limit on challenge ACKs; RFC 4443 §2.4(f) describes the same bucket for ICMP errors.
 * Time is passed in, so it stays pure and testable.
 * @module
 */

/**
 * Allows `ratePerSec` events per second on average, and bursts of up to `burst`.
 *
 * @example
 * ```ts
 * import { TokenBucket } from "./rate_limit.ts";
 * const b = new TokenBucket(10, 2); // 10 per second, bursts of 2
 * console.log(b.take(0), b.take(0), b.take(0)); // true true false
 * console.log(b.take(100)); // true: 100 ms earned one token
 * ```
 */
export class TokenBucket {
  readonly ratePerSec: number;
  readonly burst: number;
  #tokens: number;
  #at = -Infinity;
  /** Events refused so far. */
  refused = 0;

  /** `ratePerSec`: the long-run rate; `burst`: the most events allowed at once. */
  constructor(ratePerSec: number, burst: number) {
    this.ratePerSec = ratePerSec;
    this.burst = burst;
    this.#tokens = burst;
  }

  /** Takes one token at time `nowMs` if there is one; false (and counted) otherwise. */
  take(nowMs: number): boolean {
    if (nowMs > this.#at) {
      if (this.#at !== -Infinity) {
        this.#tokens = Math.min(
          this.burst,
          this.#tokens + (nowMs - this.#at) * this.ratePerSec / 1000,
        );
      }
      this.#at = nowMs;
    }
    if (this.#tokens >= 1) {
      this.#tokens -= 1;
      return true;
    }
    this.refused++;
    return false;
  }
}
