/**
 * The probes a connection sends when nothing else would: zero-window probes under the
 * persist timer (RFC 9293 §3.8.6.1, MUST-34; RFC 1122 §4.2.2.17) and keep-alives (RFC 9293
 * §3.8.4, MUST-24, MUST-25, SHLD-5; RFC 1122 §4.2.3.6).
 *
 * `Probes` owns the two timers, their backoff and their counts of unanswered probes, and
 * decides when a probe is due and when the peer is given up on; the connection sends the
 * probe (or the data the window allows) and fails the connection.
 * @module
 */

import { seqAdd, seqDiff } from "./seq.ts";
import type { RttEstimator } from "./rtt.ts";
import type { ResolvedOptions } from "./options.ts";

/** What is due when the persist or the keep-alive timer fires. */
export enum ProbeAction {
  /** Nothing (the timer was re-armed or stopped as needed). */
  None = 0,
  /** Send a probe: one old sequence number, no data. */
  Probe = 1,
  /** The window opened: send what fits, although it is small (the SWS override). */
  SendData = 2,
  /** Too many probes went unanswered: the connection times out. */
  GiveUp = 3,
}

/** Unanswered zero-window probes double the interval up to this many times. */
const MAX_PERSIST_BACKOFF = 16;

/** What the probes read of the connection (RFC 9293 §3.3.1 send variables and options). */
export interface ProbeSender {
  /** SND.UNA. */
  readonly sndUna: number;
  /** SND.NXT. */
  readonly sndNxt: number;
  /** SND.WND. */
  readonly sndWnd: number;
  /** The RTT estimator: the persist interval starts at the RTO. */
  readonly rtt: RttEstimator;
  /** The retransmission timer's deadline: the persist timer runs only without it. */
  readonly rtoAt: number;
  /** The options in force (keep-alive settings, RTO bounds, R2). */
  readonly opts: ResolvedOptions;
}

/**
 * The persist and keep-alive timers of one connection.
 *
 * @example
 * ```ts
 * import { ProbeAction, Probes } from "./probes.ts";
 * import { resolveOptions } from "./options.ts";
 * import { RttEstimator } from "./rtt.ts";
 * const snd = {
 *   sndUna: 100, sndNxt: 100, sndWnd: 0, rtoAt: Infinity,
 *   rtt: new RttEstimator({}), opts: resolveOptions({ mss: 1460 }),
 * };
 * const p = new Probes(snd);
 * p.armPersist(0, true); // data waits behind a zero window
 * console.log(p.persistAt, p.persistDue(p.persistAt, 10) === ProbeAction.Probe); // 1000 true
 * ```
 */
export class Probes {
  /** Persist timer deadline (RFC 9293 §3.8.6.1), Infinity when off. */
  persistAt = Infinity;
  /** Keep-alive timer deadline (RFC 9293 §3.8.4), Infinity when off. */
  keepAliveAt = Infinity;
  #persistBackoff = 0;
  /** Zero-window probes sent since the peer last proved alive. */
  #unansweredProbes = 0;
  /** Keep-alives sent since the timer was last armed. */
  #keepAliveProbes = 0;
  readonly #snd: ProbeSender;

  /** The probes of the connection `snd`. */
  constructor(snd: ProbeSender) {
    this.#snd = snd;
  }

  /** An acceptable segment arrived: the zero-window probes were answered. */
  peerAlive(): void {
    this.#unansweredProbes = 0;
  }

  /**
   * After output: the persist timer runs while data waits, the window is closed and nothing
   * is in flight (§3.8.6.1); it stops, its backoff reset, once something is in flight.
   */
  armPersist(now: number, dataWaiting: boolean): void {
    const snd = this.#snd;
    if (
      snd.sndNxt === snd.sndUna && dataWaiting && this.persistAt === Infinity &&
      snd.rtoAt === Infinity
    ) {
      this.persistAt = now + this.#persistInterval();
    } else if (snd.sndNxt !== snd.sndUna) {
      this.persistAt = Infinity;
      this.#persistBackoff = 0;
    }
  }

  /**
   * The persist timer fired with `unsent` bytes waiting. A window that opened is used at
   * once (`SendData`); a closed one is probed (`Probe`: one old sequence number, no data, as
   * Linux; the peer answers with its current window). Probes back off exponentially and
   * never give up while they are answered (§3.8.6.1); unanswered, they count as
   * retransmissions do (`GiveUp` after R2).
   */
  persistDue(now: number, unsent: number): ProbeAction {
    const snd = this.#snd;
    if (unsent === 0 || snd.sndNxt !== snd.sndUna) {
      this.#persistBackoff = 0;
      return ProbeAction.None;
    }
    const usableWnd = seqDiff(seqAdd(snd.sndUna, snd.sndWnd), snd.sndNxt);
    if (usableWnd > 0) {
      this.#persistBackoff = 0;
      return ProbeAction.SendData;
    }
    if (this.#unansweredProbes >= snd.opts.maxRetries) return ProbeAction.GiveUp;
    this.#unansweredProbes++;
    this.#persistBackoff = Math.min(this.#persistBackoff + 1, MAX_PERSIST_BACKOFF);
    this.persistAt = now + this.#persistInterval();
    return ProbeAction.Probe;
  }

  #persistInterval(): number {
    const o = this.#snd.opts;
    const base = Math.max(this.#snd.rtt.rto, o.minRtoMs);
    return Math.min(base * 2 ** this.#persistBackoff, o.maxRtoMs);
  }

  /** Arms the keep-alive timer for a full idle period, when keep-alive is on. */
  armKeepAlive(now: number): void {
    const ka = this.#snd.opts.keepAlive;
    if (!ka) return;
    this.#keepAliveProbes = 0;
    this.keepAliveAt = now + ka.idleMs;
  }

  /**
   * The keep-alive timer fired; the peer was last heard from at `lastRecvAt`. A probe is due
   * when the connection has been idle for the idle time (§3.8.4: SEG.SEQ = SND.NXT − 1, no
   * data), then every interval; after `count` unanswered, the peer is given up on.
   */
  keepAliveDue(now: number, lastRecvAt: number): ProbeAction {
    const snd = this.#snd;
    const ka = snd.opts.keepAlive;
    if (!ka) return ProbeAction.None;
    if (snd.sndNxt !== snd.sndUna) {
      this.keepAliveAt = now + ka.idleMs; // the retransmission timer watches the peer
      return ProbeAction.None;
    }
    if (now - lastRecvAt < ka.idleMs) {
      this.keepAliveAt = lastRecvAt + ka.idleMs;
      return ProbeAction.None;
    }
    if (this.#keepAliveProbes >= ka.count) return ProbeAction.GiveUp;
    this.#keepAliveProbes++;
    this.keepAliveAt = now + ka.intervalMs;
    return ProbeAction.Probe;
  }

  /** Stops both timers (the connection left the states that probe). */
  stop(): void {
    this.persistAt = Infinity;
    this.keepAliveAt = Infinity;
  }
}
