/**
 * A small seeded pseudo-random number generator: xoshiro128** (Blackman and Vigna), its state
 * filled from the seed by a splitmix32-style mixer.
 *
 * Deterministic across runs and platforms: the same seed gives the same sequence. Not for
 * cryptography (use `crypto.getRandomValues` for ISN keys and the like).
 * @module
 */

const TWO_POW_32 = 0x1_0000_0000;
const TWO_POW_53 = 2 ** 53;
const GOLDEN_GAMMA = 0x9e3779b9;

/** One step of a splitmix32-style generator over `state`; returns [newState, output]. */
function splitmix32(state: number): [number, number] {
  const next = (state + GOLDEN_GAMMA) | 0;
  let z = next;
  z = Math.imul(z ^ (z >>> 16), 0x21f0aaad);
  z = Math.imul(z ^ (z >>> 15), 0x735a2d97);
  z ^= z >>> 15;
  return [next, z >>> 0];
}

/**
 * Seeded generator of 32-bit integers and floats in [0, 1).
 *
 * @example
 * ```ts
 * import { Prng } from "./prng.ts";
 * const rng = new Prng(42);
 * const roll = rng.int(1, 7); // 1..6
 * if (roll < 1 || roll > 6) throw new Error("out of range");
 * ```
 */
export class Prng {
  #s0 = 0;
  #s1 = 0;
  #s2 = 0;
  #s3 = 0;

  /**
   * Creates a generator from `seed` (any safe integer, negative allowed).
   * `stream` selects an independent sequence for the same seed (e.g. one per direction of a link).
   * @throws RangeError when `seed` or `stream` is not a safe integer.
   */
  constructor(seed: number, stream = 0) {
    if (!Number.isSafeInteger(seed)) throw new RangeError(`Prng seed must be a safe integer`);
    if (!Number.isSafeInteger(stream)) throw new RangeError(`Prng stream must be a safe integer`);
    // Fold the high bits in so seeds above 2^32 are not aliased to their low 32 bits.
    const hi = Math.floor(seed / TWO_POW_32) | 0;
    let state = (seed | 0) ^ Math.imul(hi, 0x85ebca6b) ^ Math.imul(stream | 0, 0xc2b2ae35);
    const words = [0, 0, 0, 0];
    for (let i = 0; i < 4; i++) [state, words[i]] = splitmix32(state);
    [this.#s0, this.#s1, this.#s2, this.#s3] = words;
    // xoshiro must not start from the all-zero state.
    if ((this.#s0 | this.#s1 | this.#s2 | this.#s3) === 0) this.#s0 = 1;
  }

  /**
   * Creates a generator with the given raw xoshiro128** state (not all zero); for test vectors.
   * @throws RangeError when all four words are zero.
   */
  static fromState(s0: number, s1: number, s2: number, s3: number): Prng {
    if (((s0 | s1 | s2 | s3) >>> 0) === 0) throw new RangeError("Prng state must not be all zero");
    const p = new Prng(0);
    p.#s0 = s0 >>> 0;
    p.#s1 = s1 >>> 0;
    p.#s2 = s2 >>> 0;
    p.#s3 = s3 >>> 0;
    return p;
  }

  /** Next uniformly distributed unsigned 32-bit integer. */
  nextU32(): number {
    const s1 = this.#s1;
    const t = Math.imul(s1, 5);
    const result = Math.imul((t << 7) | (t >>> 25), 9) >>> 0;
    const shifted = s1 << 9;
    this.#s2 ^= this.#s0;
    this.#s3 ^= s1;
    this.#s1 = s1 ^ this.#s2;
    this.#s0 ^= this.#s3;
    this.#s2 ^= shifted;
    this.#s3 = (this.#s3 << 11) | (this.#s3 >>> 21);
    return result;
  }

  /** Next float uniformly distributed in [0, 1), with 53 random bits. */
  next(): number {
    const hi = this.nextU32() >>> 5; // 27 bits
    const lo = this.nextU32() >>> 6; // 26 bits
    return (hi * 0x4000000 + lo) / TWO_POW_53;
  }

  /**
   * Next integer uniformly distributed in [`lo`, `hiExclusive`).
   * @throws RangeError when the bounds are not safe integers or the range is empty.
   */
  int(lo: number, hiExclusive: number): number {
    if (!Number.isSafeInteger(lo) || !Number.isSafeInteger(hiExclusive) || hiExclusive <= lo) {
      throw new RangeError(`Prng.int: empty or invalid range [${lo}, ${hiExclusive})`);
    }
    return lo + Math.floor(this.next() * (hiExclusive - lo));
  }

  /** True with probability `p` (0 never draws true, 1 always does). */
  chance(p: number): boolean {
    return p > 0 && (p >= 1 || this.next() < p);
  }

  /** A new generator seeded from this one; its sequence is independent of what follows here. */
  fork(): Prng {
    return new Prng(this.nextU32() | 0, this.nextU32() | 0);
  }
}
