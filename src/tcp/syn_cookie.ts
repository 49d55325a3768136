/**
 * SYN cookies: a listener whose half-open table is full answers a SYN without keeping any
 * state, and rebuilds the connection from the final ACK (D. J. Bernstein's design; RFC 4987
 * §3.6 describes it; the encoding follows Linux's).
 *
 * The initial sequence number of the SYN,ACK carries the proof and the peer's MSS:
 *
 * ```
 *  31      27 26  24 23                                  0
 * +----------+------+-------------------------------------+
 * | count%32 | mss  |  hash(key, 4-tuple, IRS, count, mss) |
 * +----------+------+-------------------------------------+
 * ```
 *
 * `count` is the time in 64-second ticks; a cookie is honoured for two ticks (64–128 s).
 * The peer's other SYN options cannot fit there: when it offered timestamps, our TSval
 * carries them in its low 6 bits (window scale in 4 bits, 15 for none; SACK-permitted in
 * one), and the peer echoes it back in TSecr. Without timestamps, window scaling and SACK
 * are not offered on the SYN,ACK, so nothing is lost by forgetting them.
 * @module
 */

import type { TupleHasher } from "./isn.ts";
import { seqAdd, seqGt } from "./seq.ts";

/** MSS values a cookie can name (3 bits), as Linux's table: the common path MTUs. */
export const COOKIE_MSS = [536, 1200, 1360, 1400, 1440, 1452, 1460, 8960] as const;
/** Length of one cookie tick, ms. */
export const COOKIE_TICK_MS = 64_000;
/** Bits of TSval that carry the options. */
export const TS_OPT_BITS = 6;
const TS_OPT_MASK = (1 << TS_OPT_BITS) - 1;
const WS_NONE = 0xf;

/** What a cookie remembers of the peer's SYN. */
export interface CookieOptions {
  /** The peer's MSS, rounded down to a `COOKIE_MSS` entry. */
  mss: number;
  /** The peer's window scale, or -1 (known only with timestamps). */
  wscale: number;
  /** SACK permitted by the peer (known only with timestamps). */
  sackOk: boolean;
}

/** The 3-bit index of the largest table MSS not above `mss`. */
export function cookieMssIndex(mss: number): number {
  let i = 0;
  while (i + 1 < COOKIE_MSS.length && COOKIE_MSS[i + 1] <= mss) i++;
  return i;
}

/**
 * The ISS of a cookie SYN,ACK for a SYN from `remoteAddr:remotePort` to
 * `localAddr:localPort` with sequence number `irs` and MSS `peerMss`.
 *
 * @example
 * ```ts
 * import { TupleHasher } from "./isn.ts";
 * import { makeCookie, checkCookie } from "./syn_cookie.ts";
 * const h = new TupleHasher(new Uint8Array(16).fill(1));
 * const iss = makeCookie(h, 0x0a000001, 80, 0x0a000002, 40000, 1000, 1460, 5000);
 * // The final ACK: SEG.SEQ = IRS + 1, SEG.ACK = ISS + 1.
 * console.log(checkCookie(h, 0x0a000001, 80, 0x0a000002, 40000, 1001, iss + 1, 9000)); // 1460
 * ```
 */
export function makeCookie(
  h: TupleHasher,
  localAddr: number,
  localPort: number,
  remoteAddr: number,
  remotePort: number,
  irs: number,
  peerMss: number,
  nowMs: number,
): number {
  const count = Math.floor(nowMs / COOKIE_TICK_MS);
  const idx = cookieMssIndex(peerMss);
  const mac = h.hash(localAddr, localPort, remoteAddr, remotePort, irs, count * 8 + idx);
  return (((count & 31) << 27) | (idx << 24) | (mac & 0xffffff)) >>> 0;
}

/**
 * Checks the final ACK of a cookie handshake (SEG.SEQ = IRS + 1, SEG.ACK = ISS + 1): returns
 * the MSS the cookie remembers, or 0 when the cookie is forged or older than two ticks.
 */
export function checkCookie(
  h: TupleHasher,
  localAddr: number,
  localPort: number,
  remoteAddr: number,
  remotePort: number,
  segSeq: number,
  segAck: number,
  nowMs: number,
): number {
  const cookie = seqAdd(segAck, -1);
  const irs = seqAdd(segSeq, -1);
  const now = Math.floor(nowMs / COOKIE_TICK_MS);
  const c = cookie >>> 27;
  const idx = (cookie >>> 24) & 7;
  for (let age = 0; age <= 1; age++) {
    const count = now - age;
    if (count < 0 || (count & 31) !== c) continue;
    const mac = h.hash(localAddr, localPort, remoteAddr, remotePort, irs, count * 8 + idx);
    if ((mac & 0xffffff) === (cookie & 0xffffff)) return COOKIE_MSS[idx];
  }
  return 0;
}

/**
 * Our TSval for a cookie SYN,ACK: the clock with the peer's window scale and SACK-permitted
 * in the low bits, never ahead of the clock (later segments must not look older, RFC 7323
 * §5.3).
 */
export function cookieTsVal(tsNow: number, wscale: number, sackOk: boolean): number {
  const opts = ((wscale < 0 ? WS_NONE : Math.min(wscale, 14)) << 1) | (sackOk ? 1 : 0);
  let ts = ((tsNow & ~TS_OPT_MASK) | opts) >>> 0;
  if (seqGt(ts, tsNow)) ts = seqAdd(ts, -(TS_OPT_MASK + 1));
  return ts;
}

/** Reads back the options `cookieTsVal` put in the TSecr of the final ACK. */
export function cookieTsOptions(tsEcr: number, out: CookieOptions): void {
  const opts = tsEcr & TS_OPT_MASK;
  const ws = opts >>> 1;
  out.wscale = ws === WS_NONE ? -1 : ws;
  out.sackOk = (opts & 1) === 1;
}
