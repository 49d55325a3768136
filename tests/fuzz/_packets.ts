/**
 * Packet tools for the input-path fuzzer: build IPv4+TCP packets with the wire codecs,
 * mutate them (bit flips, byte sets, truncations, length lies, option surgery), repair
 * their checksums, and a `Link` that records and validates what the stack writes.
 * @module
 */

import { readU32, writeU32 } from "../../src/wire/bytes.ts";
import {
  checksumAdd,
  checksumFinish,
  internetChecksum,
  pseudoHeaderSum,
} from "../../src/wire/checksum.ts";
import { IcmpParseError, newIcmpMessage, parseIcmp } from "../../src/wire/icmp.ts";
import {
  emitIpv4,
  IPPROTO_ICMP,
  IPPROTO_TCP,
  IPV4_FLAG_DF,
  IPV4_FLAG_MF,
  Ipv4ParseError,
  newIpv4Header,
  parseIpv4,
} from "../../src/wire/ipv4.ts";
import {
  emitTcp,
  FIN,
  newTcpSegment,
  parseTcp,
  SYN,
  TcpParseError,
  type TcpSegment,
} from "../../src/wire/tcp.ts";
import type { Link } from "../../src/link.ts";
import { FragmentKey, FragmentReassembler, FragmentVerdict } from "../../src/ip/reassembly.ts";
import type { Prng } from "../../src/prng.ts";

/** Encodes bytes as lowercase hex. */
export function hex(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += b.toString(16).padStart(2, "0");
  return s;
}

/** Decodes a hex string (no separators). */
export function unhex(text: string): Uint8Array {
  const out = new Uint8Array(text.length >>> 1);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.substr(2 * i, 2), 16);
  return out;
}

const scratch = new Uint8Array(65536);

/** An IPv4 packet (20-byte header, DF) carrying `seg` from `src` to `dst`; a fresh copy. */
export function buildTcpPacket(src: number, dst: number, seg: TcpSegment, id: number): Uint8Array {
  const n = emitTcp(seg, src, dst, scratch.subarray(20));
  emitIpv4(scratch, { src, dst, protocol: IPPROTO_TCP, ttl: 64, id, payloadLength: n });
  return scratch.slice(0, 20 + n);
}

/**
 * Recomputes the IPv4 header checksum (when the IHL fits the packet) and the TCP checksum
 * over what the header's lengths claim (when they fit), so that a mutant reaches the TCP
 * layer instead of dying at the first checksum. Lengths are left as they are, lies included.
 */
export function fixChecksums(p: Uint8Array): void {
  if (p.length < 20) return;
  const ihl = (p[0] & 0x0f) << 2;
  if (ihl < 20 || ihl > p.length) return;
  const total = (p[2] << 8) | p[3];
  if (p[9] === IPPROTO_TCP && total >= ihl + 18 && total <= p.length) {
    const src = readU32(p, 12);
    const dst = readU32(p, 16);
    const tcpLen = total - ihl;
    p[ihl + 16] = 0;
    p[ihl + 17] = 0;
    const acc = pseudoHeaderSum(src, dst, IPPROTO_TCP, tcpLen);
    const c = checksumFinish(checksumAdd(acc, p, ihl, total));
    p[ihl + 16] = c >>> 8;
    p[ihl + 17] = c;
  }
  p[10] = 0;
  p[11] = 0;
  const c = internetChecksum(p, 0, ihl);
  p[10] = c >>> 8;
  p[11] = c;
}

/** Rewrites the IPv4 total length field to the packet's length (after resizing). */
function setTotalLength(p: Uint8Array, n: number): void {
  if (p.length >= 4) {
    p[2] = n >>> 8;
    p[3] = n;
  }
}

function resize(p: Uint8Array, n: number, fill: number): Uint8Array {
  const out = new Uint8Array(n);
  out.set(p.subarray(0, Math.min(n, p.length)));
  if (n > p.length) out.fill(fill, p.length);
  return out;
}

/** TCP header offset and data offset of `p`, or null when the IPv4 header is unusable. */
function tcpBounds(p: Uint8Array): { start: number; hdrEnd: number } | null {
  if (p.length < 20) return null;
  const ihl = (p[0] & 0x0f) << 2;
  if (ihl < 20 || ihl + 20 > p.length) return null;
  const off = (p[ihl + 12] >>> 4) << 2;
  return { start: ihl, hdrEnd: Math.min(p.length, ihl + Math.max(20, off)) };
}

/** Interesting values for 8-, 16- and 32-bit fields. */
const EDGE8 = [0, 1, 2, 3, 4, 5, 8, 10, 0x0f, 0x10, 0x40, 0x7f, 0x80, 0xfe, 0xff];
const EDGE32 = [0, 1, 0x7fffffff, 0x80000000, 0x80000001, 0xffffffff, 0xfffffffe];

/** Builds the bytes of one random, often malformed, TCP option. */
function randomOption(r: Prng, near: number): number[] {
  switch (r.int(0, 12)) {
    case 0:
      return [0]; // EOL
    case 1:
      return [1]; // NOP
    case 2:
      return [2, r.chance(0.8) ? 4 : r.int(0, 256), r.int(0, 256), r.int(0, 256)]; // MSS
    case 3:
      return [3, r.chance(0.8) ? 3 : r.int(0, 256), EDGE8[r.int(0, EDGE8.length)]]; // WS
    case 4:
      return [4, r.chance(0.8) ? 2 : r.int(0, 256)]; // SACK-permitted
    case 5:
    case 6: {
      // SACK: 1..4 blocks near `near`, sometimes with a lying length or inverted edges.
      const n = r.int(1, 5);
      const len = r.chance(0.85) ? 2 + 8 * n : r.int(0, 40);
      const out = [5, len];
      for (let k = 0; k < n; k++) {
        const l = r.chance(0.7) ? (near + r.int(-70000, 70000)) >>> 0 : r.nextU32();
        const rt = r.chance(0.8) ? (l + r.int(1, 20000)) >>> 0 : r.nextU32();
        out.push(l >>> 24, (l >>> 16) & 255, (l >>> 8) & 255, l & 255);
        out.push(rt >>> 24, (rt >>> 16) & 255, (rt >>> 8) & 255, rt & 255);
      }
      return out;
    }
    case 7:
    case 8: {
      // Timestamps, sometimes with a bad length.
      const len = r.chance(0.85) ? 10 : r.int(0, 20);
      const a = r.nextU32();
      const b = r.nextU32();
      return [
        8,
        len,
        a >>> 24,
        (a >>> 16) & 255,
        (a >>> 8) & 255,
        a & 255,
        b >>> 24,
        (b >>> 16) & 255,
        (b >>> 8) & 255,
        b & 255,
      ];
    }
    case 9:
      return [r.int(0, 256), r.int(0, 256)]; // unknown kind, any length
    case 10:
      return [r.int(9, 256), 2]; // unknown kind, empty
    default: {
      const n = r.int(1, 12);
      const out: number[] = [];
      for (let i = 0; i < n; i++) out.push(r.int(0, 256));
      return out;
    }
  }
}

/**
 * Rebuilds the options area of `p` from random options (keeping or lying about the data
 * offset); returns a new packet with the IPv4 total length following the new size.
 */
function rewriteOptions(p: Uint8Array, r: Prng, near: number): Uint8Array {
  const b = tcpBounds(p);
  if (!b) return p;
  const opts: number[] = [];
  const count = r.int(1, 6);
  for (let i = 0; i < count; i++) opts.push(...randomOption(r, near));
  if (r.chance(0.7)) { while (opts.length % 4 !== 0) opts.push(r.chance(0.5) ? 0 : 1); }
  const optLen = Math.min(opts.length, 40);
  const payload = p.subarray(b.hdrEnd);
  const out = new Uint8Array(b.start + 20 + optLen + payload.length);
  out.set(p.subarray(0, b.start + 20));
  out.set(opts.slice(0, optLen), b.start + 20);
  out.set(payload, b.start + 20 + optLen);
  const words = r.chance(0.8) ? (20 + optLen + 3) >> 2 : r.int(0, 16);
  out[b.start + 12] = (words << 4) | (out[b.start + 12] & 0x0f);
  setTotalLength(out, out.length);
  return out;
}

/** Names of the mutation operators, for coverage counts. */
export const MUTATIONS = [
  "bitflip",
  "byteset",
  "truncate",
  "extend",
  "ipTotalLength",
  "ipIhl",
  "tcpDataOffset",
  "options",
  "optionByte",
  "flags",
  "seqAck",
  "window",
  "ports",
  "ipHeader",
  "splice",
] as const;

/**
 * Applies 1..3 random mutations to a copy of `p`. `near` is a sequence number of the
 * targeted connection, so numeric mutations land close to live state. Returns the mutant
 * and records which operators ran in `used` (indexes into `MUTATIONS`).
 */
export function mutate(p: Uint8Array, r: Prng, near: number, used: number[]): Uint8Array {
  let q: Uint8Array = p.slice();
  const rounds = r.chance(0.7) ? 1 : r.int(2, 4);
  for (let k = 0; k < rounds; k++) {
    const op = r.int(0, MUTATIONS.length);
    used[op]++;
    const b = tcpBounds(q);
    switch (MUTATIONS[op]) {
      case "bitflip": {
        const n = r.int(1, 4);
        for (let i = 0; i < n && q.length > 0; i++) {
          // Mostly in the headers, where bits mean something.
          const lim = b && r.chance(0.8) ? b.hdrEnd : q.length;
          const at = r.int(0, lim);
          q[at] ^= 1 << r.int(0, 8);
        }
        break;
      }
      case "byteset":
        if (q.length > 0) {
          const lim = b && r.chance(0.8) ? b.hdrEnd : q.length;
          q[r.int(0, lim)] = r.chance(0.5) ? EDGE8[r.int(0, EDGE8.length)] : r.int(0, 256);
        }
        break;
      case "truncate": {
        const n = r.chance(0.5)
          ? r.int(0, Math.max(1, q.length))
          : Math.max(0, q.length - r.int(1, 5));
        q = q.slice(0, n);
        if (r.chance(0.5)) setTotalLength(q, n);
        break;
      }
      case "extend": {
        const n = q.length + r.int(1, r.chance(0.9) ? 64 : 1500);
        q = resize(q, n, r.chance(0.5) ? 0 : r.int(0, 256));
        if (r.chance(0.5)) setTotalLength(q, Math.min(n, 65535));
        break;
      }
      case "ipTotalLength":
        if (q.length >= 4) {
          const v = r.chance(0.5) ? q.length + r.int(-8, 9) : r.int(0, 65536);
          setTotalLength(q, Math.max(0, Math.min(65535, v)));
        }
        break;
      case "ipIhl":
        if (q.length >= 1) q[0] = (q[0] & 0xf0) | r.int(0, 16);
        break;
      case "tcpDataOffset":
        if (b) q[b.start + 12] = (r.int(0, 16) << 4) | (q[b.start + 12] & 0x0f);
        break;
      case "options":
        q = rewriteOptions(q, r, near);
        break;
      case "optionByte":
        if (b && b.hdrEnd > b.start + 20) {
          const at = r.int(b.start + 20, b.hdrEnd);
          q[at] = r.chance(0.5) ? EDGE8[r.int(0, EDGE8.length)] : r.int(0, 256);
        }
        break;
      case "flags":
        if (b) {
          q[b.start + 13] = r.chance(0.5) ? r.int(0, 256) : q[b.start + 13] ^ (1 << r.int(0, 8));
        }
        break;
      case "seqAck":
        if (b) {
          const at = b.start + (r.chance(0.5) ? 4 : 8);
          const old = readU32(q, at);
          const pick = r.int(0, 4);
          const v = pick === 0
            ? EDGE32[r.int(0, EDGE32.length)]
            : pick === 1
            ? (old + r.int(-3, 4)) >>> 0
            : pick === 2
            ? (near + r.int(-70000, 70000)) >>> 0
            : (old ^ 0x80000000) >>> 0;
          writeU32(q, at, v);
        }
        break;
      case "window":
        if (b) {
          const w = r.chance(0.5) ? [0, 1, 2, 0xffff, 0x8000][r.int(0, 5)] : r.int(0, 65536);
          q[b.start + 14] = w >>> 8;
          q[b.start + 15] = w;
        }
        break;
      case "ports":
        if (b) {
          const at = b.start + (r.chance(0.5) ? 0 : 2);
          const v = r.chance(0.5)
            ? (((q[at] << 8) | q[at + 1]) + r.int(-2, 3)) & 0xffff
            : r.int(0, 65536);
          q[at] = v >>> 8;
          q[at + 1] = v;
        }
        break;
      case "ipHeader":
        if (q.length >= 20) {
          // Version, fragment bits, protocol, addresses.
          const what = r.int(0, 4);
          if (what === 0) q[0] = (r.int(0, 16) << 4) | (q[0] & 0x0f);
          else if (what === 1) q[6] = r.int(0, 256);
          else if (what === 2) {
            q[9] = r.chance(0.5) ? [0, 1, 6, 17, 255][r.int(0, 5)] : r.int(0, 256);
          } else q[r.int(12, 20)] ^= 1 << r.int(0, 8);
        }
        break;
      case "splice":
        // Random bytes over a random stretch.
        if (q.length > 0) {
          const at = r.int(0, q.length);
          const n = Math.min(q.length - at, r.int(1, 16));
          for (let i = 0; i < n; i++) q[at + i] = r.int(0, 256);
        }
        break;
    }
  }
  return q;
}

/** A random packet of random bytes, sometimes with a plausible IPv4 header in front. */
export function randomPacket(r: Prng, src: number, dst: number): Uint8Array {
  const n = r.int(0, r.chance(0.9) ? 120 : 1600);
  const p = new Uint8Array(n);
  for (let i = 0; i < n; i++) p[i] = r.int(0, 256);
  if (n >= 20 && r.chance(0.7)) {
    emitIpv4(p, {
      src,
      dst,
      protocol: r.chance(0.8) ? IPPROTO_TCP : r.int(0, 256),
      ttl: 64,
      id: 0,
      payloadLength: n - 20,
    });
  }
  return p;
}

/** What the stack last told the peer on one 4-tuple, learned from the packets it wrote. */
export interface View {
  /** The stack's ISS (from its SYN or SYN,ACK), or -1 before one was seen. */
  iss: number;
  /** Highest sequence number the stack has sent + 1 (its SND.MAX). */
  sndMax: number;
  /** The ACK field of the stack's last segment with ACK set (its RCV.NXT), or -1. */
  ack: number;
  /** The window field of that segment (unscaled). */
  window: number;
  /** TSval of the stack's last segment with timestamps, or -1. */
  tsVal: number;
  /** Sequence number of the stack's FIN, or -1. */
  finSeq: number;
  /** Window scale the stack offered in its SYN (-1: none). */
  wscale: number;
  /** The stack sent RST on this tuple. */
  reset: boolean;
  /** Segments seen. */
  segments: number;
}

/** A fresh, empty view. */
export function newView(): View {
  return {
    iss: -1,
    sndMax: -1,
    ack: -1,
    window: 0,
    tsVal: -1,
    finSeq: -1,
    wscale: -1,
    reset: false,
    segments: 0,
  };
}

/** Key of a 4-tuple as seen from the stack: remote address, remote port, local port. */
export function tupleKey(remoteAddr: number, remotePort: number, localPort: number): string {
  return `${remoteAddr}:${remotePort}:${localPort}`;
}

function seqAfter(a: number, b: number): boolean {
  return ((a - b) | 0) > 0;
}

/**
 * A `Link` that validates every packet the stack writes (well-formed IPv4 from the stack's
 * address, within the MTU, TCP or ICMP with a correct checksum) and updates the `View` of
 * every tuple registered in `views`. Keeps nothing else, so memory stays flat.
 */
export class RecordingLink implements Link {
  readonly mtu: number;
  readonly #addr: number;
  /** Views of the tuples the fuzzer scripts, by `tupleKey`. */
  readonly views = new Map<string, View>();
  /** Packets written since the last `take()`. */
  written = 0;
  /** Packets written in total. */
  total = 0;
  /** Problems with written packets (malformed output), until read and cleared. */
  errors: string[] = [];
  readonly #ip = newIpv4Header();
  readonly #seg = newTcpSegment();
  readonly #icmp = newIcmpMessage();
  /** Reassembles the fragments the stack writes (large echo replies) to check them whole. */
  readonly #frag = new FragmentReassembler();
  readonly #fragKey = new FragmentKey();

  constructor(addr: number, mtu: number) {
    this.#addr = addr;
    this.mtu = mtu;
  }

  read(): number {
    return 0;
  }

  write(p: Uint8Array): void {
    this.written++;
    this.total++;
    const ip = this.#ip;
    const e = parseIpv4(p, p.length, ip);
    if (e !== Ipv4ParseError.None && e !== Ipv4ParseError.Fragment) {
      this.errors.push(`stack wrote a bad IPv4 packet (error ${e}): ${hex(p)}`);
      return;
    }
    if (p.length > this.mtu) this.errors.push(`stack wrote ${p.length} bytes > MTU ${this.mtu}`);
    if (ip.src !== this.#addr) this.errors.push(`stack wrote from a foreign address: ${hex(p)}`);
    if (ip.totalLength !== p.length) this.errors.push(`stack wrote trailing bytes: ${hex(p)}`);
    let body = p.subarray(ip.ihl, ip.totalLength);
    if (e === Ipv4ParseError.Fragment) {
      // Only an echo reply larger than the MTU goes out in fragments; they must reassemble.
      if (ip.protocol !== IPPROTO_ICMP || (ip.flags & IPV4_FLAG_DF)) {
        this.errors.push(`stack wrote a fragment that is not ICMP, or with DF: ${hex(p)}`);
        return;
      }
      const key = this.#fragKey.setV4(ip.src, ip.dst, ip.id, ip.protocol);
      const more = (ip.flags & IPV4_FLAG_MF) !== 0;
      const header = ip.fragOffset === 0 ? p.subarray(0, ip.ihl) : undefined;
      const v = this.#frag.insert(key, ip.fragOffset * 8, more, body, 0, header);
      if (v !== FragmentVerdict.Held && v !== FragmentVerdict.Complete) {
        this.errors.push(
          `stack wrote a fragment that does not reassemble (verdict ${v}): ${hex(p)}`,
        );
        return;
      }
      if (v === FragmentVerdict.Held) return;
      const d = this.#frag.completed;
      body = d.bytes.subarray(d.headerLength, d.headerLength + d.payloadLength);
    }
    if (ip.protocol === IPPROTO_ICMP) {
      if (parseIcmp(body, this.#icmp) !== IcmpParseError.None) {
        this.errors.push(`stack wrote a bad ICMP message: ${hex(p)}`);
      }
      return;
    }
    if (ip.protocol !== IPPROTO_TCP) {
      this.errors.push(`stack wrote protocol ${ip.protocol}: ${hex(p)}`);
      return;
    }
    const s = this.#seg;
    const te = parseTcp(body, ip.src, ip.dst, s);
    if (te !== TcpParseError.None) {
      this.errors.push(`stack wrote a bad TCP segment (error ${te}): ${hex(p)}`);
      return;
    }
    const v = this.views.get(tupleKey(ip.dst, s.dstPort, s.srcPort));
    if (!v) return;
    v.segments++;
    if (s.flags & 0x04) {
      v.reset = true;
      return;
    }
    if (s.flags & SYN) {
      v.iss = s.seq;
      v.wscale = s.options.wscale;
    }
    const end = (s.seq + s.payload.length + (s.flags & SYN ? 1 : 0) + (s.flags & FIN ? 1 : 0)) >>>
      0;
    if (v.sndMax === -1 || seqAfter(end, v.sndMax)) v.sndMax = end;
    if (s.flags & FIN) v.finSeq = (s.seq + s.payload.length) >>> 0;
    if (s.flags & 0x10) {
      v.ack = s.ack;
      v.window = s.window;
    }
    if (s.options.hasTimestamps) v.tsVal = s.options.tsVal;
  }

  /** Returns and resets the count of packets written since the last call. */
  take(): number {
    const n = this.written;
    this.written = 0;
    return n;
  }

  waitReadable(): Promise<void> {
    return Promise.resolve();
  }

  wake(): void {}

  close(): void {}
}
