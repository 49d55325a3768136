/**
 * A seeded, deterministic fault model for one direction of a link: random loss, duplication,
 * reordering, delay with jitter, and a bandwidth bottleneck with a drop-tail queue.
 *
 * The model only decides *when* (if ever) each packet arrives; moving bytes is the caller's job
 * (`FaultyLink`, `createMemoryLinkPair` in `link.ts`, the simulator in `tests/sim/network.ts`).
 * @module
 */

import { Prng } from "./prng.ts";

/** What can go wrong on one direction of a link. Every field is optional; `{}` is a perfect link. */
export interface FaultOptions {
  /** PRNG seed; the same seed and the same packets give the same fates. Default 1. */
  seed?: number;
  /** Probability (0..1) that a packet is lost. */
  loss?: number;
  /** Probability (0..1) that a delivered packet arrives twice. */
  duplicate?: number;
  /** Probability (0..1) that a packet is held back so that later packets overtake it. */
  reorder?: number;
  /** Extra delay of a held-back packet, in ms. Default `max(2 * delayMs, 5)`. */
  reorderDelayMs?: number;
  /** One-way propagation delay, in ms. Default 0. */
  delayMs?: number;
  /** Delay varies uniformly within ±`jitterMs` (never below 0, never reordering by itself). */
  jitterMs?: number;
  /** Bottleneck serialization rate in bytes per second; 0 or absent = unlimited. */
  bandwidthBps?: number;
  /** Drop-tail queue limit in bytes at the bottleneck (only with `bandwidthBps`); 0 = unlimited. */
  queueBytes?: number;
}

/** Counters kept by a `FaultModel`. */
export interface FaultStats {
  /** Packets offered to `schedule`. */
  sent: number;
  /** Packets lost at random (`loss`). */
  dropped: number;
  /** Packets delivered twice. */
  duplicated: number;
  /** Packets held back (`reorder`). */
  reordered: number;
  /** Packets dropped because the bottleneck queue was full (`queueBytes`). */
  queueDrops: number;
}

const PROBABILITY_KEYS = ["loss", "duplicate", "reorder"] as const;
const NON_NEGATIVE_KEYS = [
  "reorderDelayMs",
  "delayMs",
  "jitterMs",
  "bandwidthBps",
  "queueBytes",
] as const;

/**
 * Checks `opts` and returns a one-line description of the first problem, or undefined when valid.
 */
export function validateFaultOptions(opts: FaultOptions): string | undefined {
  for (const key of PROBABILITY_KEYS) {
    const v = opts[key];
    if (v !== undefined && !(Number.isFinite(v) && v >= 0 && v <= 1)) {
      return `${key} must be a probability between 0 and 1, got ${v}`;
    }
  }
  for (const key of NON_NEGATIVE_KEYS) {
    const v = opts[key];
    if (v !== undefined && !(Number.isFinite(v) && v >= 0)) {
      return `${key} must be a finite number >= 0, got ${v}`;
    }
  }
  if (opts.seed !== undefined && !Number.isSafeInteger(opts.seed)) {
    return `seed must be an integer, got ${opts.seed}`;
  }
  return undefined;
}

/**
 * Decides the fate of each packet on one direction of a link.
 *
 * Order of effects for one packet: the bottleneck queue (drop-tail when full, else the packet
 * leaves after every earlier packet has been serialized), random loss, propagation delay with
 * jitter, hold-back for reordering, duplication. Packets that are not held back arrive in the
 * order they were sent, whatever the jitter. A duplicate arrives right after its original and
 * takes no bottleneck capacity.
 *
 * @example
 * ```ts
 * import { FaultModel } from "./fault.ts";
 * const model = new FaultModel({ seed: 7, loss: 0.1, delayMs: 20 });
 * const out: number[] = [];
 * const n = model.schedule(1000, 1500, out); // at t=1000 ms, a 1500-byte packet
 * for (let i = 0; i < n; i++) console.log("arrives at", out[i]); // 1020 unless lost
 * ```
 */
export class FaultModel {
  /** Counters since construction. */
  readonly stats: FaultStats = { sent: 0, dropped: 0, duplicated: 0, reordered: 0, queueDrops: 0 };
  readonly #rng: Prng;
  readonly #loss: number;
  readonly #duplicate: number;
  readonly #reorder: number;
  readonly #reorderDelayMs: number;
  readonly #delayMs: number;
  readonly #jitterMs: number;
  /** Bytes per ms, or 0 for unlimited. */
  readonly #bytesPerMs: number;
  readonly #queueBytes: number;
  /** When the bottleneck finishes serializing everything accepted so far (absolute ms). */
  #linkFreeAt = -Infinity;
  /** Latest arrival given to a packet that was not held back: keeps those in order. */
  #lastInOrder = -Infinity;

  /**
   * Creates a model. `stream` picks an independent random sequence for the same seed, so the two
   * directions of a link given the same options do not lose the same packets.
   * @throws RangeError when an option is out of range.
   */
  constructor(opts: FaultOptions = {}, stream = 0) {
    const problem = validateFaultOptions(opts);
    if (problem !== undefined) throw new RangeError(`invalid fault options: ${problem}`);
    this.#rng = new Prng(opts.seed ?? 1, stream);
    this.#loss = opts.loss ?? 0;
    this.#duplicate = opts.duplicate ?? 0;
    this.#reorder = opts.reorder ?? 0;
    this.#delayMs = opts.delayMs ?? 0;
    this.#jitterMs = opts.jitterMs ?? 0;
    this.#reorderDelayMs = opts.reorderDelayMs ?? Math.max(2 * this.#delayMs, 5);
    this.#bytesPerMs = (opts.bandwidthBps ?? 0) / 1000;
    this.#queueBytes = opts.queueBytes || Infinity;
  }

  /** True when the model never drops, delays, reorders or duplicates anything. */
  get isPerfect(): boolean {
    return this.#loss === 0 && this.#duplicate === 0 && this.#reorder === 0 &&
      this.#delayMs === 0 && this.#jitterMs === 0 && this.#bytesPerMs === 0;
  }

  /**
   * Decides the fate of one packet of `length` bytes sent at `nowMs` (absolute ms, never
   * decreasing between calls). Writes 0, 1 or 2 absolute delivery times into `out` (lost, once,
   * duplicated) and returns how many. Allocation-free when `out` already has room for two.
   */
  schedule(nowMs: number, length: number, out: number[]): number {
    this.stats.sent++;
    let departure = nowMs;
    if (this.#bytesPerMs > 0) {
      // Drop-tail bottleneck: the backlog is what is still to be serialized at nowMs.
      const backlogBytes = this.#linkFreeAt > nowMs
        ? (this.#linkFreeAt - nowMs) * this.#bytesPerMs
        : 0;
      if (backlogBytes + length > this.#queueBytes) {
        this.stats.queueDrops++;
        return 0;
      }
      departure = Math.max(nowMs, this.#linkFreeAt) + length / this.#bytesPerMs;
      this.#linkFreeAt = departure;
    }
    if (this.#rng.chance(this.#loss)) {
      this.stats.dropped++;
      return 0;
    }
    let arrival = departure + this.#delayMs;
    if (this.#jitterMs > 0) {
      arrival = Math.max(departure, arrival + (this.#rng.next() * 2 - 1) * this.#jitterMs);
    }
    if (this.#rng.chance(this.#reorder)) {
      this.stats.reordered++;
      arrival += this.#reorderDelayMs;
    } else {
      arrival = Math.max(arrival, this.#lastInOrder);
      this.#lastInOrder = arrival;
    }
    out[0] = arrival;
    if (this.#rng.chance(this.#duplicate)) {
      this.stats.duplicated++;
      out[1] = arrival;
      return 2;
    }
    return 1;
  }
}

const SPEC_KEYS: Record<string, keyof FaultOptions> = {
  seed: "seed",
  loss: "loss",
  dup: "duplicate",
  duplicate: "duplicate",
  reorder: "reorder",
  reorderdelay: "reorderDelayMs",
  delay: "delayMs",
  jitter: "jitterMs",
  bw: "bandwidthBps",
  bandwidth: "bandwidthBps",
  queue: "queueBytes",
};

const SUFFIXES: Record<string, number> = { k: 1e3, m: 1e6, g: 1e9 };

function parseSpecNumber(key: keyof FaultOptions, text: string): number | undefined {
  const m = /^([+-]?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?)(%|[kmg])?$/i.exec(text);
  if (m === null) return undefined;
  let v = Number(m[1]);
  const suffix = m[2]?.toLowerCase();
  if (suffix === "%") {
    if (!(PROBABILITY_KEYS as readonly string[]).includes(key)) return undefined;
    v /= 100;
  } else if (suffix !== undefined) {
    if (key !== "bandwidthBps" && key !== "queueBytes") return undefined;
    v *= SUFFIXES[suffix];
  }
  return v;
}

/**
 * Parses a comma-separated fault spec such as
 * `"loss=0.02,reorder=0.05,dup=0.01,delay=20,jitter=2,seed=7,bw=1000000,queue=64000"`.
 *
 * Keys: `seed`, `loss`, `dup` (or `duplicate`), `reorder`, `reorderdelay`, `delay` and `jitter`
 * (ms), `bw` (or `bandwidth`, bytes/s) and `queue` (bytes). Probabilities also accept a percent
 * (`loss=2%`); `bw` and `queue` accept decimal `k`, `M`, `G` suffixes (`bw=1M`). An empty spec
 * means no faults.
 *
 * @throws Error with a one-line message naming the offending item.
 * @example
 * ```ts
 * import { parseFaultSpec } from "./fault.ts";
 * const opts = parseFaultSpec("loss=2%,delay=20,seed=7");
 * if (opts.loss !== 0.02 || opts.delayMs !== 20 || opts.seed !== 7) throw new Error("parse");
 * ```
 */
export function parseFaultSpec(spec: string): FaultOptions {
  const opts: FaultOptions = {};
  const trimmed = spec.trim();
  if (trimmed === "") return opts;
  for (const rawItem of trimmed.split(",")) {
    const item = rawItem.trim();
    const eq = item.indexOf("=");
    if (eq <= 0) {
      throw new Error(`invalid fault spec item "${item}": expected key=value`);
    }
    const name = item.slice(0, eq).trim().toLowerCase();
    const key = Object.hasOwn(SPEC_KEYS, name) ? SPEC_KEYS[name] : undefined;
    if (key === undefined) {
      throw new Error(
        `invalid fault spec: unknown key "${name}" (known: ${Object.keys(SPEC_KEYS).join(", ")})`,
      );
    }
    if (opts[key] !== undefined) {
      throw new Error(`invalid fault spec: "${name}" given twice`);
    }
    const value = parseSpecNumber(key, item.slice(eq + 1).trim());
    if (value === undefined) {
      throw new Error(`invalid fault spec item "${item}": value is not a number`);
    }
    opts[key] = value;
    const problem = validateFaultOptions({ [key]: value });
    if (problem !== undefined) {
      throw new Error(`invalid fault spec item "${item}": ${problem}`);
    }
  }
  return opts;
}
