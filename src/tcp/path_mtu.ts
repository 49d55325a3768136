/**
 * Path MTU discovery for one connection: the MSS it may use on the path, lowered by ICMP
 * "fragmentation needed" (RFC 1191 §4, §6.3) and ICMPv6 Packet Too Big (RFC 8201 §4), or by
 * black-hole detection when no ICMP comes (in the spirit of RFC 4821 and RFC 8899), and
 * raised again after a while (RFC 1191 §6.3).
 *
 * `PathMtu` computes the MSS to use and keeps the path MTU, its counters and the raise
 * timer; the connection applies a new MSS (the congestion controller, the scoreboard's
 * re-segmentation, RFC 1191 §6.5's immediate retransmission).
 * @module
 */

import type { ResolvedOptions } from "./options.ts";

/** How long a lowered path MTU is kept before the full size is tried again (RFC 1191 §6.3). */
const PMTU_RAISE_MS = 10 * 60_000;
/** The smallest MSS ever used, whatever the path says. */
const MIN_MSS = 64;

/** What path MTU discovery reads of the connection. */
export interface PathMtuSender {
  /** Effective payload bytes per segment now. */
  readonly sndMss: number;
  /** The peer's MSS option (RFC 9293 §3.7.1). */
  readonly peerMss: number;
  /** Timestamps in use: 12 bytes of options per segment (RFC 7323). */
  readonly tsOk: boolean;
  /** The options in force (our MSS, the floor of `pmtuFloorMss`). */
  readonly opts: ResolvedOptions;
}

/**
 * The path MTU state of one connection.
 *
 * @example
 * ```ts
 * import { PathMtu } from "./path_mtu.ts";
 * import { resolveOptions } from "./options.ts";
 * const snd = { sndMss: 1460, peerMss: 1460, tsOk: false, opts: resolveOptions({ mss: 1460 }) };
 * const p = new PathMtu(snd);
 * console.log(p.fromIcmp(1400, 40, 576), p.pmtu); // 1360 1400
 * ```
 */
export class PathMtu {
  /** The path MTU learnt from ICMP, or Infinity. */
  pmtu = Infinity;
  /** Times the path MTU lowered the MSS (RFC 1191, RFC 8201, black-hole detection). */
  drops = 0;
  /** Of those, the ones black-hole detection made (no ICMP came). */
  blackHoleDrops = 0;
  /** When to try the MSS the handshake allowed again after a drop, or Infinity. */
  raiseAt = Infinity;
  /** What made the last drop (for the trace). */
  cause: "icmp" | "blackhole" = "icmp";
  readonly #snd: PathMtuSender;

  /** Path MTU discovery for the connection `snd`. */
  constructor(snd: PathMtuSender) {
    this.#snd = snd;
  }

  /**
   * ICMP says the path carries `mtu` bytes (RFC 1191 §4, RFC 8201 §4), never taken below
   * `floorMtu` (a forged tiny MTU cannot make segments absurdly small); `headerBytes`: IP and
   * TCP headers without options. Returns the MSS to lower to, or 0 to keep the current one.
   */
  fromIcmp(mtu: number, headerBytes: number, floorMtu: number): number {
    const pmtu = Math.max(mtu, floorMtu);
    this.pmtu = Math.min(this.pmtu, pmtu);
    this.cause = "icmp";
    return this.#lowerTo(pmtu - headerBytes);
  }

  /**
   * Black-hole detection, after the second timeout of the first segment (`dataLen` payload
   * bytes): if it was full-sized, segments shrink to half (not below the floor of
   * `pmtuFloorMss`). Returns the MSS to lower to, or 0 to keep the current one.
   */
  blackHole(dataLen: number): number {
    const snd = this.#snd;
    const ts = snd.tsOk ? 12 : 0;
    const floor = snd.opts.pmtuFloorMss - ts;
    if (dataLen < snd.sndMss || snd.sndMss <= floor) return 0;
    this.blackHoleDrops++;
    this.cause = "blackhole";
    return this.#lowerTo(Math.max(floor + ts, (snd.sndMss >> 1) + ts));
  }

  /** The effective MSS for a path MSS of `mss` (options excluded) when below the current one, else 0. */
  #lowerTo(mss: number): number {
    const snd = this.#snd;
    const eff = Math.max(MIN_MSS, Math.min(mss, snd.peerMss) - (snd.tsOk ? 12 : 0));
    return eff < snd.sndMss ? eff : 0;
  }

  /**
   * The MSS was lowered at `now`: counted, and the larger size is tried again after a while
   * (RFC 1191 §6.3, RFC 8201 §4: 10 minutes).
   */
  lowered(now: number): void {
    this.drops++;
    this.raiseAt = now + PMTU_RAISE_MS;
  }

  /**
   * The raise timer fired: the path may carry larger segments again (RFC 1191 §6.3). Returns
   * the MSS the handshake allowed when it is larger than the current one, else 0; if it is
   * still too large, ICMP or black-hole detection will lower it once more.
   */
  raise(): number {
    this.raiseAt = Infinity;
    this.pmtu = Infinity;
    const full = this.negotiatedMss();
    return full > this.#snd.sndMss ? full : 0;
  }

  /** The MSS the handshake allowed, before any path MTU reduction. */
  negotiatedMss(): number {
    const snd = this.#snd;
    return Math.max(MIN_MSS, Math.min(snd.peerMss, snd.opts.mss) - (snd.tsOk ? 12 : 0));
  }
}
