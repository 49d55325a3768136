/**
 * Initial sequence number generation (RFC 6528, also RFC 9293 §3.4.1).
 *
 * `ISN = M + F(localip, localport, remoteip, remoteport, secretkey)` where `M` is a timer
 * that ticks every 4 microseconds and `F` is a keyed pseudorandom function of the
 * connection's 4-tuple. Here `F` is SipHash-2-4 (Aumasson & Bernstein, 2012), keyed with
 * 16 secret bytes that the caller supplies (the stack draws them from
 * `crypto.getRandomValues` at start-up; nothing in `src/tcp/` reads randomness itself).
 * @module
 */

// SipHash-2-4 on 64-bit words held as pairs of unsigned 32-bit halves. State layout in
// `S`: [v0hi, v0lo, v1hi, v1lo, v2hi, v2lo, v3hi, v3lo].

/** One SipRound over the state `s` (SipHash paper §2, "SipRound"). */
function sipRound(s: Uint32Array): void {
  let v0h = s[0], v0l = s[1], v1h = s[2], v1l = s[3];
  let v2h = s[4], v2l = s[5], v3h = s[6], v3l = s[7];
  let t: number, h: number;
  // v0 += v1; v1 <<<= 13; v1 ^= v0; v0 <<<= 32
  t = v0l + v1l;
  v0h = (v0h + v1h + (t > 0xffff_ffff ? 1 : 0)) >>> 0;
  v0l = t >>> 0;
  h = (v1h << 13) | (v1l >>> 19);
  v1l = ((v1l << 13) | (v1h >>> 19)) ^ v0l;
  v1h = h ^ v0h;
  t = v0h;
  v0h = v0l;
  v0l = t;
  // v2 += v3; v3 <<<= 16; v3 ^= v2
  t = v2l + v3l;
  v2h = (v2h + v3h + (t > 0xffff_ffff ? 1 : 0)) >>> 0;
  v2l = t >>> 0;
  h = (v3h << 16) | (v3l >>> 16);
  v3l = ((v3l << 16) | (v3h >>> 16)) ^ v2l;
  v3h = h ^ v2h;
  // v0 += v3; v3 <<<= 21; v3 ^= v0
  t = v0l + (v3l >>> 0);
  v0h = (v0h + (v3h >>> 0) + (t > 0xffff_ffff ? 1 : 0)) >>> 0;
  v0l = t >>> 0;
  h = (v3h << 21) | (v3l >>> 11);
  v3l = ((v3l << 21) | (v3h >>> 11)) ^ v0l;
  v3h = h ^ v0h;
  // v2 += v1; v1 <<<= 17; v1 ^= v2; v2 <<<= 32
  t = v2l + (v1l >>> 0);
  v2h = (v2h + (v1h >>> 0) + (t > 0xffff_ffff ? 1 : 0)) >>> 0;
  v2l = t >>> 0;
  h = (v1h << 17) | (v1l >>> 15);
  v1l = ((v1l << 17) | (v1h >>> 15)) ^ v2l;
  v1h = h ^ v2h;
  s[0] = v0h, s[1] = v0l, s[2] = v1h, s[3] = v1l;
  s[4] = v2l, s[5] = v2h, s[6] = v3h, s[7] = v3l; // v2 <<<= 32 is the swap of its halves
}

/** Reads a little-endian 32-bit word, treating bytes past `end` as zero. */
function le32(b: Uint8Array, at: number, end: number): number {
  let w = 0;
  for (let i = 3; i >= 0; i--) w = (w << 8) | (at + i < end ? b[at + i] : 0);
  return w >>> 0;
}

/** One message word `m` = (mh, ml) absorbed with `c` = 2 compression rounds. */
function compress(s: Uint32Array, mh: number, ml: number): void {
  s[6] ^= mh, s[7] ^= ml; // v3 ^= m
  sipRound(s);
  sipRound(s);
  s[0] ^= mh, s[1] ^= ml; // v0 ^= m
}

/**
 * SipHash-2-4 of `message` under a 16-byte `key`, written into `out` as
 * `[high 32 bits, low 32 bits]` of the 64-bit result. `state` is scratch (8 words).
 */
function sipHash24Into(
  key: Uint8Array,
  message: Uint8Array,
  state: Uint32Array,
  out: Uint32Array,
): void {
  const k0h = le32(key, 4, 16), k0l = le32(key, 0, 16);
  const k1h = le32(key, 12, 16), k1l = le32(key, 8, 16);
  // Initialization constants "somepseudorandomlygeneratedbytes".
  state[0] = k0h ^ 0x736f6d65, state[1] = k0l ^ 0x70736575;
  state[2] = k1h ^ 0x646f7261, state[3] = k1l ^ 0x6e646f6d;
  state[4] = k0h ^ 0x6c796765, state[5] = k0l ^ 0x6e657261;
  state[6] = k1h ^ 0x74656462, state[7] = k1l ^ 0x79746573;
  const len = message.length;
  const whole = len - (len % 8);
  for (let i = 0; i < whole; i += 8) {
    compress(state, le32(message, i + 4, len), le32(message, i, len));
  }
  // Last word: the remaining bytes, zero padded, with len mod 256 in the top byte.
  const lastL = le32(message, whole, len);
  const lastH = (le32(message, whole + 4, len) | ((len & 0xff) << 24)) >>> 0;
  compress(state, lastH, lastL);
  state[5] ^= 0xff; // v2 ^= 0xff
  for (let i = 0; i < 4; i++) sipRound(state); // d = 4 finalization rounds
  out[0] = (state[0] ^ state[2] ^ state[4] ^ state[6]) >>> 0;
  out[1] = (state[1] ^ state[3] ^ state[5] ^ state[7]) >>> 0;
}

/**
 * SipHash-2-4 of `message` under a 16-byte `key`, as a 64-bit unsigned `bigint`.
 *
 * @example
 * ```ts
 * import { sipHash24 } from "./isn.ts";
 * const key = Uint8Array.from({ length: 16 }, (_, i) => i);
 * const msg = Uint8Array.from({ length: 15 }, (_, i) => i);
 * console.log(sipHash24(key, msg).toString(16)); // "a129ca6149be45e5"
 * ```
 */
export function sipHash24(key: Uint8Array, message: Uint8Array): bigint {
  if (key.length !== 16) throw new RangeError("SipHash key must be 16 bytes");
  const out = new Uint32Array(2);
  sipHash24Into(key, message, new Uint32Array(8), out);
  return (BigInt(out[0]) << 32n) | BigInt(out[1]);
}

/**
 * Generates initial sequence numbers as RFC 6528 §3 specifies.
 *
 * @example
 * ```ts
 * import { IsnGenerator } from "./isn.ts";
 * const key = crypto.getRandomValues(new Uint8Array(16));
 * const isn = new IsnGenerator(key);
 * const iss = isn.next(0x0a000001, 8080, 0x0a000002, 40000, 12_345.6);
 * console.log(iss >>> 0 === iss); // true
 * ```
 */
export class IsnGenerator {
  readonly #hash: TupleHasher;

  /** `key`: 16 secret random bytes (copied), fixed for the generator's life. */
  constructor(key: Uint8Array) {
    if (key.length !== 16) throw new RangeError("ISN key must be 16 bytes");
    this.#hash = new TupleHasher(key);
  }

  /**
   * The ISN for a connection with this 4-tuple (addresses as 32-bit numbers, ports as
   * 16-bit numbers) at time `nowMs` (milliseconds, any fixed origin).
   */
  next(
    localAddr: number,
    localPort: number,
    remoteAddr: number,
    remotePort: number,
    nowMs: number,
  ): number {
    // RFC 6528 §3: F is a keyed pseudorandom function of the 4-tuple; use its low 32 bits.
    const f = this.#hash.hash(localAddr, localPort, remoteAddr, remotePort);
    // RFC 6528 §3 / RFC 9293 §3.4.1: M is a timer incremented every 4 microseconds.
    const m = Math.floor(nowMs * 250) % 4294967296;
    return (m + f) >>> 0;
  }
}

/**
 * A keyed hash of a connection's 4-tuple and up to two more 32-bit words: SipHash-2-4,
 * low 32 bits. It gives ISNs (RFC 6528), SYN cookies and per-connection timestamp offsets
 * (RFC 7323 §5.4), each under its own key.
 *
 * @example
 * ```ts
 * import { TupleHasher } from "./isn.ts";
 * const h = new TupleHasher(new Uint8Array(16).fill(9));
 * const a = h.hash(0x0a000001, 80, 0x0a000002, 40000);
 * console.log(a === h.hash(0x0a000001, 80, 0x0a000002, 40000)); // true
 * ```
 */
export class TupleHasher {
  readonly #key: Uint8Array;
  readonly #msg = new Uint8Array(20);
  /** Views of the message for its three lengths, made once (a hash allocates nothing). */
  readonly #msg12 = this.#msg.subarray(0, 12);
  readonly #msg16 = this.#msg.subarray(0, 16);
  readonly #view = new DataView(this.#msg.buffer);
  readonly #state = new Uint32Array(8);
  readonly #out = new Uint32Array(2);

  /** `key`: 16 secret bytes (copied). */
  constructor(key: Uint8Array) {
    if (key.length !== 16) throw new RangeError("hash key must be 16 bytes");
    this.#key = key.slice();
  }

  /**
   * A number that stands for an IPv6 address where an IPv4 one is a uint32 (the remote address
   * of a 4-tuple): 2^32 plus 52 bits of the keyed hash of its four words, so never an IPv4
   * address, exact in a double, and — the key being secret — with no collision a peer could aim
   * at. Its low 32 bits feed the other hashes (ISNs, cookies) as the address does for IPv4.
   */
  addressKey6(w0: number, w1: number, w2: number, w3: number): number {
    const v = this.#view;
    v.setUint32(0, w0 >>> 0);
    v.setUint32(4, w1 >>> 0);
    v.setUint32(8, w2 >>> 0);
    v.setUint32(12, w3 >>> 0);
    sipHash24Into(this.#key, this.#msg16, this.#state, this.#out);
    return 4294967296 * (1 + (this.#out[0] & 0xfffff)) + this.#out[1];
  }

  /** The hash of the 4-tuple with `a` and `b` (32-bit words; 0 when unused). */
  hash(
    localAddr: number,
    localPort: number,
    remoteAddr: number,
    remotePort: number,
    a = 0,
    b = 0,
  ): number {
    const v = this.#view;
    v.setUint32(0, localAddr >>> 0);
    v.setUint16(4, localPort & 0xffff);
    v.setUint32(6, remoteAddr >>> 0);
    v.setUint16(10, remotePort & 0xffff);
    v.setUint32(12, a >>> 0);
    v.setUint32(16, b >>> 0);
    // Without the extra words the message is the 12-byte tuple, as RFC 6528 ISNs have it.
    const len = a === 0 && b === 0 ? 12 : 20;
    sipHash24Into(this.#key, len === 12 ? this.#msg12 : this.#msg, this.#state, this.#out);
    return this.#out[1];
  }
}
