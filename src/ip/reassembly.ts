/**
 * IP fragment reassembly for IPv4 (RFC 791 §3.2, RFC 815) and IPv6 (RFC 8200 §4.5), bounded in
 * memory and pure: no clock, timer or randomness. Time comes in as `now` (milliseconds), the next
 * instant that needs attention goes out as {@link FragmentReassembler.nextDeadline}, and
 * incomplete datagrams expire in {@link FragmentReassembler.poll}.
 *
 * How it works. A datagram in progress keeps its fragments as copies, sorted by offset and never
 * overlapping (an overlap drops the datagram, RFC 5722), so the holes of RFC 815 need no list of
 * their own: the datagram is complete when its end is known (the fragment with More Fragments
 * clear arrived) and the bytes held add up to it. Completion copies the first fragment's header
 * and the fragments into one reused output buffer.
 *
 * Keys. A datagram is identified by (family, source, destination, identification) plus, for
 * IPv4 only, the protocol (RFC 791 §3.2); for IPv6 the Next Header of the Fragment header is not
 * part of the key and the offset-zero fragment's value is the one used (RFC 8200 §4.5). The
 * caller fills one reused {@link FragmentKey} per packet, which holds addresses as 32-bit words
 * (an IPv4 address is one word, an IPv6 address four, read straight from the packet), so no
 * string or object is built per fragment. Datagrams and sources are found through a keyed hash of
 * those words (HalfSipHash rounds, so a caller that passes a secret `hashKey` makes collisions
 * impossible to aim) with collision chains compared word by word.
 *
 * Bounds (each drop is counted in {@link ReassemblyCounters}):
 * - bytes held per source address and in total, charged with an estimate of the bookkeeping
 *   ({@link DATAGRAM_OVERHEAD} per datagram, {@link FRAGMENT_OVERHEAD} per fragment) so a flood
 *   of tiny fragments costs what it really costs;
 * - datagrams in progress, fragments per datagram, reassembled length (65535 for IPv4, 40 +
 *   65535 for IPv6 without jumbograms);
 * - a lifetime per datagram from its first-arriving fragment: 30 s for IPv4 (the Linux default;
 *   RFC 791 suggests a 15 s lower bound), 60 s for IPv6 (RFC 8200 §4.5).
 *
 * When a new fragment does not fit a memory bound, the oldest datagrams in progress are dropped
 * to make room (of the same source for the per-source bound, of anyone for the total bound and
 * the datagram count), never the one the fragment belongs to. Older Linux kernels evicted the
 * least recently created queues the same way; refusing new datagrams instead would let a flood
 * that fills the budget once block every reassembly for a whole timeout, while eviction makes an
 * attacker keep paying, and the per-source bound keeps one source from evicting many others.
 * @module
 */

import { readU32 } from "../wire/bytes.ts";

/** Bytes charged for each datagram in progress on top of its data (an estimate of its objects). */
export const DATAGRAM_OVERHEAD = 256;
/** Bytes charged for each fragment held on top of its payload. */
export const FRAGMENT_OVERHEAD = 64;
/** Smallest IPv4 header: the floor for the reassembled length before the first fragment is in. */
const IPV4_MIN_HEADER = 20;
/** The fixed IPv6 header, which the header passed for an IPv6 first fragment starts with. */
const IPV6_FIXED_HEADER = 40;
const EMPTY = new Uint8Array(0);

/** What {@link FragmentReassembler.insert} did with a fragment. */
export enum FragmentVerdict {
  /** Kept; its datagram is still incomplete. */
  Held = 0,
  /** Its datagram is complete: read {@link FragmentReassembler.completed}. */
  Complete = 1,
  /** An exact duplicate (same offset, length and bytes) of a fragment held: ignored. */
  Duplicate = 2,
  /**
   * It overlaps a fragment held (or repeats its range with other bytes): the whole datagram is
   * dropped, and so are its fragments still to come until its lifetime ends (RFC 5722 §4,
   * RFC 8200 §4.5).
   */
  Overlap = 3,
  /**
   * Its end contradicts the datagram's: a second last fragment with another end, data past the
   * known end, or a last fragment ending before data already held. The datagram is dropped
   * (like an overlap).
   */
  BadEnd = 4,
  /** Its datagram would have more fragments than the bound: the datagram is dropped. */
  TooManyFragments = 5,
  /**
   * Dropped: a fragment with More Fragments set whose length is not a multiple of 8 (RFC 791
   * §3.2; for IPv6 the caller should send ICMPv6 Parameter Problem code 0 pointing at the Payload
   * Length, RFC 8200 §4.5), an empty fragment, or an offset that is not a multiple of 8.
   */
  BadLength = 6,
  /**
   * Dropped: the reassembled datagram would exceed the maximum length (for IPv6 the caller
   * should send ICMPv6 Parameter Problem code 0 pointing at the Fragment Offset, RFC 8200 §4.5).
   * The datagram, if any, is kept.
   */
  TooBig = 7,
  /** Its datagram does not fit the per-source byte budget even alone: the datagram is dropped. */
  OverSourceBudget = 8,
  /** Its datagram does not fit the total byte budget even alone: the datagram is dropped. */
  OverTotalBudget = 9,
  /** Its datagram was already dropped (overlap, bad end, too many fragments): discarded. */
  Discarded = 10,
}

/** Why fragments and datagrams were dropped, and the gauges of a {@link FragmentReassembler}. */
export interface ReassemblyCounters {
  /** Fragments offered to `insert`. */
  fragments: number;
  /** Datagrams reassembled from several fragments. */
  reassembled: number;
  /** Atomic fragments (offset 0, no more fragments) passed through alone (RFC 6946 §4). */
  atomic: number;
  /** Exact duplicates ignored. */
  duplicates: number;
  /** Datagrams dropped because fragments overlapped (RFC 5722). */
  overlaps: number;
  /** Datagrams dropped because fragments disagreed on the end. */
  badEnd: number;
  /** Fragments dropped for their length or offset (not a multiple of 8, or empty). */
  badLength: number;
  /** Fragments dropped because the datagram would be longer than the maximum. */
  tooBig: number;
  /** Datagrams dropped for having too many fragments. */
  tooManyFragments: number;
  /** Datagrams dropped or evicted to keep a source within its byte budget. */
  overSourceBudget: number;
  /** Datagrams dropped or evicted to keep within the total byte budget. */
  overTotalBudget: number;
  /** Datagrams evicted to keep within the number of datagrams in progress. */
  overDatagramLimit: number;
  /** Incomplete datagrams dropped when their lifetime ended. */
  timeouts: number;
  /** Fragments discarded because their datagram had been dropped (RFC 5722 §4). */
  discarded: number;
  /** Gauge: bytes held, payload and headers plus the overhead estimates. */
  memoryBytes: number;
  /** Gauge: datagrams in progress (including dropped ones remembered until their deadline). */
  datagrams: number;
}

/** Bounds of a {@link FragmentReassembler}; every field has a default. */
export interface ReassemblyOptions {
  /** Most bytes held in total (default 4 MiB). */
  maxBytes?: number;
  /** Most bytes held for one source address (default 256 KiB). */
  maxBytesPerSource?: number;
  /** Most datagrams in progress (default 1024). */
  maxDatagrams?: number;
  /** Most fragments per datagram (default 64). */
  maxFragments?: number;
  /** Lifetime of an incomplete IPv4 datagram from its first-arriving fragment (default 30 s). */
  ipv4TimeoutMs?: number;
  /** Lifetime of an incomplete IPv6 datagram (default 60 s, RFC 8200 §4.5). */
  ipv6TimeoutMs?: number;
  /** Longest reassembled IPv4 datagram, header included (default 65535, RFC 791 §3.1). */
  ipv4MaxLength?: number;
  /**
   * Longest reassembled IPv6 packet, fixed header included (default 40 + 65535: the Payload
   * Length limit without jumbograms, RFC 8200 §4.5).
   */
  ipv6MaxLength?: number;
  /** Two 32-bit words keying the hash of addresses; pass random ones (default 0, 0). */
  hashKey?: readonly [number, number];
  /** Bits of the hash used to pick a chain (default 32; fewer force collisions, for tests). */
  hashBits?: number;
  /**
   * Where completed datagrams are written (default: allocated on first completion). Must hold
   * the larger of the two maximum lengths.
   */
  output?: Uint8Array;
}

/**
 * The identity of a fragment's datagram, filled by the caller once per packet and reused.
 * Addresses are held as big-endian 32-bit words: an IPv4 address in `src0`/`dst0`, an IPv6
 * address in `src0..src3`/`dst0..dst3`.
 *
 * @example
 * ```ts
 * import { FragmentKey } from "./reassembly.ts";
 * const v4 = new FragmentKey().setV4(0x0a000002, 0x0a000001, 0x1234, 6);
 * const packet = new Uint8Array(48); // an IPv6 header: source at 8, destination at 24
 * packet[23] = 2;
 * packet[39] = 1;
 * const v6 = new FragmentKey().setV6(packet, 8, packet, 24, 0xdeadbeef, 6);
 * console.log(v4.family, v6.family, v6.src3); // 4 6 2
 * ```
 */
export class FragmentKey {
  /** 4 or 6. */
  family: 4 | 6 = 4;
  /** Source address words, most significant first. */
  src0 = 0;
  /** Source address, second word (IPv6). */
  src1 = 0;
  /** Source address, third word (IPv6). */
  src2 = 0;
  /** Source address, last word (IPv6). */
  src3 = 0;
  /** Destination address words, most significant first. */
  dst0 = 0;
  /** Destination address, second word (IPv6). */
  dst1 = 0;
  /** Destination address, third word (IPv6). */
  dst2 = 0;
  /** Destination address, last word (IPv6). */
  dst3 = 0;
  /** Identification: 16 bits for IPv4, 32 for IPv6. */
  id = 0;
  /**
   * IPv4: the Protocol field, part of the key. IPv6: the Next Header of the Fragment header,
   * not part of the key; the offset-zero fragment's value is the reassembled packet's.
   */
  protocol = 0;

  /** Fills the key of an IPv4 fragment (RFC 791 §3.2: source, destination, protocol, id). */
  setV4(src: number, dst: number, id: number, protocol: number): this {
    this.family = 4;
    this.src0 = src >>> 0;
    this.src1 = this.src2 = this.src3 = 0;
    this.dst0 = dst >>> 0;
    this.dst1 = this.dst2 = this.dst3 = 0;
    this.id = id & 0xffff;
    this.protocol = protocol & 0xff;
    return this;
  }

  /**
   * Fills the key of an IPv6 fragment (RFC 8200 §4.5: source, destination, identification)
   * from 16-byte addresses at `src[srcOffset]` and `dst[dstOffset]`.
   */
  setV6(
    src: Uint8Array,
    srcOffset: number,
    dst: Uint8Array,
    dstOffset: number,
    id: number,
    nextHeader: number,
  ): this {
    this.family = 6;
    this.src0 = readU32(src, srcOffset);
    this.src1 = readU32(src, srcOffset + 4);
    this.src2 = readU32(src, srcOffset + 8);
    this.src3 = readU32(src, srcOffset + 12);
    this.dst0 = readU32(dst, dstOffset);
    this.dst1 = readU32(dst, dstOffset + 4);
    this.dst2 = readU32(dst, dstOffset + 8);
    this.dst3 = readU32(dst, dstOffset + 12);
    this.id = id >>> 0;
    this.protocol = nextHeader & 0xff;
    return this;
  }
}

/** A datagram just reassembled; the fields are overwritten by the next completion. */
export interface ReassembledDatagram {
  /** 4 or 6. */
  family: 4 | 6;
  /**
   * The first fragment's header followed by the whole payload, in the reassembler's output
   * buffer: valid until the next call of `insert`. The caller patches the header fields that
   * described the fragment (IPv4: total length, flags and offset, checksum; IPv6: Payload Length
   * and the Next Header that named the Fragment header, RFC 8200 §4.5).
   */
  bytes: Uint8Array;
  /** Length of the header at the start of `bytes`. */
  headerLength: number;
  /** Length of the payload after it. */
  payloadLength: number;
  /** The protocol (IPv4) or the offset-zero fragment's Next Header (IPv6). */
  protocol: number;
  /** The `headerMark` passed with the first fragment. */
  headerMark: number;
}

/** A datagram whose lifetime ended incomplete, as shown to the `poll` callback. */
export interface ExpiredDatagram {
  /** Its key (a reused object). */
  key: FragmentKey;
  /**
   * Whether the offset-zero fragment arrived: only then should the caller send ICMP Time
   * Exceeded code 1, "fragment reassembly time exceeded" (RFC 792, RFC 8200 §4.5).
   */
  firstFragmentReceived: boolean;
  /** The header passed with the first fragment (empty if it did not arrive). */
  header: Uint8Array;
  /** The `headerMark` passed with the first fragment. */
  headerMark: number;
  /** The offset-zero fragment's payload, for the ICMP quote (empty if it did not arrive). */
  firstPayload: Uint8Array;
}

/** A source address and what its datagrams hold. */
class Source {
  /** Next source in the same hash chain. */
  chain: Source | null = null;
  bytes = 0;
  /** Its datagrams in creation order, through `Datagram.olderInSource`/`newerInSource`. */
  oldest: Datagram | null = null;
  newest: Datagram | null = null;

  constructor(
    readonly hash: number,
    readonly family: 4 | 6,
    readonly src0: number,
    readonly src1: number,
    readonly src2: number,
    readonly src3: number,
  ) {}
}

/** A datagram in progress. */
class Datagram {
  /** Next datagram in the same hash chain. */
  chain: Datagram | null = null;
  /** Neighbours in its family's creation order (which is deadline order). */
  older: Datagram | null = null;
  newer: Datagram | null = null;
  /** Neighbours in its source's creation order. */
  olderInSource: Datagram | null = null;
  newerInSource: Datagram | null = null;
  /** Fragment offsets, ascending, and their payloads: never overlapping. */
  readonly offsets: number[] = [];
  readonly chunks: Uint8Array[] = [];
  /** Payload bytes held. */
  received = 0;
  /** Highest end of any fragment held. */
  maxEnd = 0;
  /** The end given by the last fragment (More Fragments clear), or -1 until it arrives. */
  totalEnd = -1;
  /** The first fragment's header, or null until the offset-zero fragment arrives. */
  header: Uint8Array | null = null;
  headerMark = 0;
  /** The protocol: from the key (IPv4) or the offset-zero fragment (IPv6). */
  protocol: number;
  /** Bytes charged for it. */
  memory = DATAGRAM_OVERHEAD;
  /** Dropped for inconsistency: remembered (data freed) so later fragments are discarded. */
  dead = false;
  readonly family: 4 | 6;
  readonly src0: number;
  readonly src1: number;
  readonly src2: number;
  readonly src3: number;
  readonly dst0: number;
  readonly dst1: number;
  readonly dst2: number;
  readonly dst3: number;
  readonly id: number;

  constructor(
    readonly hash: number,
    key: FragmentKey,
    readonly source: Source,
    readonly created: number,
    readonly deadline: number,
  ) {
    this.family = key.family;
    this.src0 = key.src0;
    this.src1 = key.src1;
    this.src2 = key.src2;
    this.src3 = key.src3;
    this.dst0 = key.dst0;
    this.dst1 = key.dst1;
    this.dst2 = key.dst2;
    this.dst3 = key.dst3;
    this.id = key.id;
    this.protocol = key.protocol;
  }
}

/** One family's datagrams in creation order. */
class AgeList {
  oldest: Datagram | null = null;
  newest: Datagram | null = null;
}

/**
 * HalfSipHash rounds (SipRound on 32-bit words, as in Linux's hsiphash) over a few words: a
 * keyed hash, so that without the key an attacker cannot aim fragments at one chain.
 */
class KeyedHash {
  #v0 = 0;
  #v1 = 0;
  #v2 = 0;
  #v3 = 0;
  #n = 0;

  constructor(readonly k0: number, readonly k1: number) {}

  begin(): void {
    this.#v0 = this.k0 | 0;
    this.#v1 = this.k1 | 0;
    this.#v2 = 0x6c796765 ^ this.k0;
    this.#v3 = 0x74656462 ^ this.k1;
    this.#n = 0;
  }

  add(m: number): void {
    this.#v3 ^= m;
    this.#round();
    this.#v0 ^= m;
    this.#n++;
  }

  finish(): number {
    const b = (this.#n * 4) << 24;
    this.#v3 ^= b;
    this.#round();
    this.#v0 ^= b;
    this.#v2 ^= 0xff;
    this.#round();
    this.#round();
    this.#round();
    return (this.#v1 ^ this.#v3) >>> 0;
  }

  #round(): void {
    let v0 = this.#v0, v1 = this.#v1, v2 = this.#v2, v3 = this.#v3;
    v0 = (v0 + v1) | 0;
    v1 = (v1 << 5) | (v1 >>> 27);
    v1 ^= v0;
    v0 = (v0 << 16) | (v0 >>> 16);
    v2 = (v2 + v3) | 0;
    v3 = (v3 << 8) | (v3 >>> 24);
    v3 ^= v2;
    v0 = (v0 + v3) | 0;
    v3 = (v3 << 7) | (v3 >>> 25);
    v3 ^= v0;
    v2 = (v2 + v1) | 0;
    v1 = (v1 << 13) | (v1 >>> 19);
    v1 ^= v2;
    v2 = (v2 << 16) | (v2 >>> 16);
    this.#v0 = v0;
    this.#v1 = v1;
    this.#v2 = v2;
    this.#v3 = v3;
  }
}

/**
 * Reassembles IPv4 and IPv6 fragments into datagrams, within bounds.
 *
 * Per fragment the caller fills a reused {@link FragmentKey} and calls {@link insert} with the
 * fragment's offset in bytes, its More Fragments flag and payload (copied, so the packet buffer
 * can be reused), and, for the offset-zero fragment, the header to rebuild the datagram with (for
 * IPv4 the IP header, for IPv6 the fixed header and the unfragmentable extension headers). On
 * {@link FragmentVerdict.Complete}, {@link completed} holds header and payload as one
 * contiguous buffer, to be handed to TCP or ICMP as if it had arrived whole. The caller calls
 * {@link poll} by {@link nextDeadline}. `now` must not decrease between calls.
 *
 * Atomic fragments (offset 0, More Fragments clear) are complete on arrival and never touch a
 * datagram in progress with the same key (RFC 6946 §4).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { FragmentKey, FragmentReassembler, FragmentVerdict } from "./reassembly.ts";
 * const r = new FragmentReassembler();
 * const key = new FragmentKey().setV4(0x0a000002, 0x0a000001, 7, 17);
 * const header = new Uint8Array(20); // the IPv4 header of the first fragment
 * const data = Uint8Array.from({ length: 24 }, (_, i) => i);
 * // The second half arrives first; the first brings the header.
 * assert.equal(r.insert(key, 16, false, data.subarray(16), 0), FragmentVerdict.Held);
 * assert.equal(r.insert(key, 0, true, data.subarray(0, 16), 5, header), FragmentVerdict.Complete);
 * const d = r.completed;
 * assert.equal(d.headerLength, 20);
 * assert.deepEqual(d.bytes.subarray(d.headerLength), data);
 * // A datagram that never completes is dropped when its lifetime ends.
 * r.insert(key, 8, true, data.subarray(8, 16), 100);
 * assert.equal(r.nextDeadline(), 30_100);
 * assert.equal(r.poll(30_100), 1);
 * assert.equal(r.counters.timeouts, 1);
 * ```
 */
export class FragmentReassembler {
  /** Most bytes held in total. */
  readonly maxBytes: number;
  /** Most bytes held per source address. */
  readonly maxBytesPerSource: number;
  /** Most datagrams in progress. */
  readonly maxDatagrams: number;
  /** Most fragments per datagram. */
  readonly maxFragments: number;
  /** Lifetime of an incomplete IPv4 datagram (ms). */
  readonly ipv4TimeoutMs: number;
  /** Lifetime of an incomplete IPv6 datagram (ms). */
  readonly ipv6TimeoutMs: number;
  /** Longest reassembled IPv4 datagram, header included. */
  readonly ipv4MaxLength: number;
  /** Longest reassembled IPv6 packet, fixed header included. */
  readonly ipv6MaxLength: number;

  readonly #c: ReassemblyCounters = {
    fragments: 0,
    reassembled: 0,
    atomic: 0,
    duplicates: 0,
    overlaps: 0,
    badEnd: 0,
    badLength: 0,
    tooBig: 0,
    tooManyFragments: 0,
    overSourceBudget: 0,
    overTotalBudget: 0,
    overDatagramLimit: 0,
    timeouts: 0,
    discarded: 0,
    memoryBytes: 0,
    datagrams: 0,
  };
  readonly #datagrams = new Map<number, Datagram>();
  readonly #sources = new Map<number, Source>();
  readonly #v4 = new AgeList();
  readonly #v6 = new AgeList();
  readonly #hash: KeyedHash;
  readonly #hashMask: number;
  #output: Uint8Array | null;
  readonly #completed: ReassembledDatagram = {
    family: 4,
    bytes: EMPTY,
    headerLength: 0,
    payloadLength: 0,
    protocol: 0,
    headerMark: 0,
  };
  readonly #expired: ExpiredDatagram = {
    key: new FragmentKey(),
    firstFragmentReceived: false,
    header: EMPTY,
    headerMark: 0,
    firstPayload: EMPTY,
  };

  /** A reassembler with the given bounds (see {@link ReassemblyOptions} for the defaults). */
  constructor(options: ReassemblyOptions = {}) {
    this.maxBytes = options.maxBytes ?? 4 << 20;
    this.maxBytesPerSource = options.maxBytesPerSource ?? 256 << 10;
    this.maxDatagrams = options.maxDatagrams ?? 1024;
    this.maxFragments = options.maxFragments ?? 64;
    this.ipv4TimeoutMs = options.ipv4TimeoutMs ?? 30_000;
    this.ipv6TimeoutMs = options.ipv6TimeoutMs ?? 60_000;
    this.ipv4MaxLength = options.ipv4MaxLength ?? 65535;
    this.ipv6MaxLength = options.ipv6MaxLength ?? IPV6_FIXED_HEADER + 65535;
    const [k0, k1] = options.hashKey ?? [0, 0];
    this.#hash = new KeyedHash(k0 | 0, k1 | 0);
    const bits = options.hashBits ?? 32;
    if (!(bits >= 1 && bits <= 32)) throw new RangeError(`hashBits ${bits} is not in 1..32`);
    this.#hashMask = bits === 32 ? 0xffffffff : (1 << bits) - 1;
    for (
      const [name, v] of [
        ["maxBytes", this.maxBytes],
        ["maxBytesPerSource", this.maxBytesPerSource],
        ["maxDatagrams", this.maxDatagrams],
        ["maxFragments", this.maxFragments],
        ["ipv4TimeoutMs", this.ipv4TimeoutMs],
        ["ipv6TimeoutMs", this.ipv6TimeoutMs],
      ] as const
    ) {
      if (!(v >= 1)) throw new RangeError(`${name} ${v} is not positive`);
    }
    this.#output = options.output ?? null;
    const need = Math.max(this.ipv4MaxLength, this.ipv6MaxLength);
    if (this.#output && this.#output.length < need) {
      throw new RangeError(`output holds ${this.#output.length} bytes, not ${need}`);
    }
  }

  /** Counters and gauges (a live object: read, do not write). */
  get counters(): Readonly<ReassemblyCounters> {
    return this.#c;
  }

  /** The datagram of the last {@link FragmentVerdict.Complete} (a reused object). */
  get completed(): Readonly<ReassembledDatagram> {
    return this.#completed;
  }

  /** Bytes held for the source address of `key` (0 if none). */
  sourceBytes(key: FragmentKey): number {
    return this.#findSource(this.#sourceHash(key), key)?.bytes ?? 0;
  }

  /**
   * Takes one fragment of the datagram `key` names.
   * @param offset Fragment offset in bytes (the header field times 8).
   * @param more The More Fragments flag.
   * @param payload The fragment's data (after the IPv4 header, or after the IPv6 Fragment
   *   header); copied.
   * @param now The current time (ms).
   * @param header For the offset-zero fragment: the header to rebuild the datagram with (IPv4:
   *   the IP header; IPv6: the fixed header and the unfragmentable part); copied. Ignored for
   *   other fragments.
   * @param headerMark For the offset-zero fragment: a number kept with the header and handed
   *   back with the datagram, e.g. the offset of the Next Header byte to patch in an IPv6
   *   header.
   * @returns what became of the fragment; on `Complete`, see {@link completed}.
   */
  insert(
    key: FragmentKey,
    offset: number,
    more: boolean,
    payload: Uint8Array,
    now: number,
    header?: Uint8Array,
    headerMark = 0,
  ): FragmentVerdict {
    const c = this.#c;
    c.fragments++;
    const len = payload.length;
    const end = offset + len;
    const v6 = key.family === 6;
    const maxLength = v6 ? this.ipv6MaxLength : this.ipv4MaxLength;
    const minHeader = v6 ? IPV6_FIXED_HEADER : IPV4_MIN_HEADER;
    const first = offset === 0;
    const hdr = first && header ? header : EMPTY;

    if (first && !more) {
      // RFC 6946 §4: an atomic fragment is processed in isolation from any other fragments.
      if (Math.max(hdr.length, minHeader) + len > maxLength) return this.#tooBig();
      c.atomic++;
      return this.#emit(key.family, hdr, headerMark, key.protocol, null, payload);
    }
    // RFC 791 §3.2 / RFC 8200 §4.5: offsets count 8-octet units, and every fragment but the last
    // carries a multiple of 8 octets. An empty fragment carries nothing but risk.
    if (len === 0 || (more && (len & 7) !== 0) || offset < 0 || (offset & 7) !== 0) {
      c.badLength++;
      return FragmentVerdict.BadLength;
    }

    const hash = this.#datagramHash(key);
    let d = this.#findDatagram(hash, key);
    if (d?.dead) {
      // RFC 5722 §4: the datagram and its fragments not yet received are silently discarded.
      c.discarded++;
      return FragmentVerdict.Discarded;
    }
    // RFC 8200 §4.5: a fragment that would make the reassembled Payload Length exceed 65535
    // octets is discarded; RFC 791 §3.1: likewise past the 16-bit Total Length.
    const headerLength = first ? hdr.length : d?.header?.length ?? 0;
    if (Math.max(headerLength, minHeader) + Math.max(end, d ? d.maxEnd : 0) > maxLength) {
      return this.#tooBig();
    }

    let at = 0;
    if (d) {
      // The end of the datagram is set by the fragment with More Fragments clear; everything
      // must agree with it (Linux drops the queue on any disagreement, as here).
      const known = d.totalEnd >= 0;
      if (more ? known && end > d.totalEnd : known ? end !== d.totalEnd : end < d.maxEnd) {
        c.badEnd++;
        this.#kill(d);
        return FragmentVerdict.BadEnd;
      }
      const offsets = d.offsets;
      const chunks = d.chunks;
      at = lowerBound(offsets, offset);
      if (at < offsets.length && offsets[at] === offset && chunks[at].length === len) {
        // RFC 8200 §4.5: exact duplicates may be dropped while the datagram is kept. Same range
        // with other bytes is an overlap: which copy would win is the ambiguity RFC 5722 closes.
        if (!sameBytes(chunks[at], payload)) return this.#overlap(d);
        c.duplicates++;
        if (!more && d.totalEnd < 0) {
          d.totalEnd = end;
          if (d.received === end) return this.#complete(d);
        }
        return FragmentVerdict.Duplicate;
      }
      // RFC 5722 §4 (RFC 8200 §4.5): any overlap drops the datagram, for IPv4 as well.
      if (
        (at > 0 && offsets[at - 1] + chunks[at - 1].length > offset) ||
        (at < offsets.length && offsets[at] < end)
      ) {
        return this.#overlap(d);
      }
      if (offsets.length >= this.maxFragments) {
        c.tooManyFragments++;
        this.#kill(d);
        return FragmentVerdict.TooManyFragments;
      }
    }

    // Memory: make room by dropping the oldest datagrams, never `d` itself.
    const fragmentCost = len + FRAGMENT_OVERHEAD + hdr.length;
    const cost = fragmentCost + (d ? 0 : DATAGRAM_OVERHEAD);
    if (!d) {
      for (let victim; c.datagrams >= this.maxDatagrams && (victim = this.#oldestExcept(null));) {
        if (!victim.dead) c.overDatagramLimit++;
        this.#remove(victim);
      }
    }
    const sourceHash = d ? d.source.hash : this.#sourceHash(key);
    let source = d ? d.source : this.#findSource(sourceHash, key);
    while (source && source.bytes + cost > this.maxBytesPerSource) {
      const victim = source.oldest === d ? d!.newerInSource : source.oldest;
      if (!victim) break;
      if (!victim.dead) c.overSourceBudget++;
      this.#remove(victim);
      if (!d) source = this.#findSource(sourceHash, key);
    }
    if ((source ? source.bytes : 0) + cost > this.maxBytesPerSource) {
      c.overSourceBudget++;
      if (d) this.#remove(d);
      return FragmentVerdict.OverSourceBudget;
    }
    while (c.memoryBytes + cost > this.maxBytes) {
      const victim = this.#oldestExcept(d);
      if (!victim) break;
      if (!victim.dead) c.overTotalBudget++;
      this.#remove(victim);
    }
    if (c.memoryBytes + cost > this.maxBytes) {
      c.overTotalBudget++;
      if (d) this.#remove(d);
      return FragmentVerdict.OverTotalBudget;
    }

    if (!d) d = this.#create(hash, key, sourceHash, now);
    d.offsets.splice(at, 0, offset);
    d.chunks.splice(at, 0, payload.slice());
    d.received += len;
    if (end > d.maxEnd) d.maxEnd = end;
    if (!more) d.totalEnd = end;
    if (first) {
      d.header = hdr.length > 0 ? hdr.slice() : EMPTY;
      d.headerMark = headerMark;
      d.protocol = key.protocol;
    }
    this.#charge(d, fragmentCost);
    // RFC 815: no holes remain when the end is known and the non-overlapping fragments, all
    // within it, add up to it.
    if (d.totalEnd >= 0 && d.received === d.totalEnd) return this.#complete(d);
    return FragmentVerdict.Held;
  }

  /**
   * The earliest instant at which {@link poll} has work (a datagram's lifetime ends), or
   * `Infinity` when nothing is held.
   */
  nextDeadline(): number {
    const a = this.#v4.oldest;
    const b = this.#v6.oldest;
    return Math.min(a ? a.deadline : Infinity, b ? b.deadline : Infinity);
  }

  /**
   * Drops every datagram whose lifetime has ended by `now` (RFC 791 §3.2, RFC 8200 §4.5).
   * `onExpire` sees each incomplete one (not those already dropped for inconsistency), to send
   * ICMP Time Exceeded when its first fragment arrived; the views it gets are valid during the
   * call only, and it must not call back into the reassembler.
   * @returns the number of incomplete datagrams dropped.
   */
  poll(now: number, onExpire?: (datagram: Readonly<ExpiredDatagram>) => void): number {
    let n = 0;
    for (const list of [this.#v4, this.#v6]) {
      for (let d = list.oldest; d && d.deadline <= now; d = list.oldest) {
        this.#remove(d);
        if (d.dead) continue;
        n++;
        this.#c.timeouts++;
        if (onExpire) {
          const e = this.#expired;
          const k = e.key;
          k.family = d.family;
          k.src0 = d.src0;
          k.src1 = d.src1;
          k.src2 = d.src2;
          k.src3 = d.src3;
          k.dst0 = d.dst0;
          k.dst1 = d.dst1;
          k.dst2 = d.dst2;
          k.dst3 = d.dst3;
          k.id = d.id;
          k.protocol = d.protocol;
          e.firstFragmentReceived = d.header !== null;
          e.header = d.header ?? EMPTY;
          e.headerMark = d.headerMark;
          e.firstPayload = d.header !== null ? d.chunks[0] : EMPTY;
          onExpire(e);
        }
      }
    }
    return n;
  }

  /** Drops everything held (shutdown); counts nothing. */
  clear(): void {
    for (const list of [this.#v4, this.#v6]) {
      for (let d = list.oldest; d; d = list.oldest) this.#remove(d);
    }
  }

  #tooBig(): FragmentVerdict {
    this.#c.tooBig++;
    return FragmentVerdict.TooBig;
  }

  #overlap(d: Datagram): FragmentVerdict {
    this.#c.overlaps++;
    this.#kill(d);
    return FragmentVerdict.Overlap;
  }

  /** Copies header and payload (given whole, or as `d`'s fragments) into the output buffer. */
  #emit(
    family: 4 | 6,
    header: Uint8Array,
    headerMark: number,
    protocol: number,
    d: Datagram | null,
    payload: Uint8Array,
  ): FragmentVerdict {
    const out = this.#output ??= new Uint8Array(Math.max(this.ipv4MaxLength, this.ipv6MaxLength));
    out.set(header, 0);
    let at = header.length;
    if (d) {
      for (const chunk of d.chunks) {
        out.set(chunk, at);
        at += chunk.length;
      }
    } else {
      out.set(payload, at);
      at += payload.length;
    }
    const r = this.#completed;
    r.family = family;
    r.bytes = out.subarray(0, at);
    r.headerLength = header.length;
    r.payloadLength = at - header.length;
    r.protocol = protocol;
    r.headerMark = headerMark;
    return FragmentVerdict.Complete;
  }

  #complete(d: Datagram): FragmentVerdict {
    this.#remove(d);
    this.#c.reassembled++;
    return this.#emit(d.family, d.header!, d.headerMark, d.protocol, d, EMPTY);
  }

  /** Frees a datagram's data but remembers it until its deadline, to discard what follows. */
  #kill(d: Datagram): void {
    d.dead = true;
    d.offsets.length = 0;
    d.chunks.length = 0;
    d.header = null;
    this.#charge(d, DATAGRAM_OVERHEAD - d.memory);
  }

  #charge(d: Datagram, bytes: number): void {
    d.memory += bytes;
    d.source.bytes += bytes;
    this.#c.memoryBytes += bytes;
  }

  #create(hash: number, key: FragmentKey, sourceHash: number, now: number): Datagram {
    const slot = hash & this.#hashMask;
    let source = this.#findSource(sourceHash, key);
    if (!source) {
      const sslot = sourceHash & this.#hashMask;
      source = new Source(sourceHash, key.family, key.src0, key.src1, key.src2, key.src3);
      source.chain = this.#sources.get(sslot) ?? null;
      this.#sources.set(sslot, source);
    }
    const timeout = key.family === 6 ? this.ipv6TimeoutMs : this.ipv4TimeoutMs;
    const d = new Datagram(hash, key, source, now, now + timeout);
    d.chain = this.#datagrams.get(slot) ?? null;
    this.#datagrams.set(slot, d);
    const list = key.family === 6 ? this.#v6 : this.#v4;
    d.older = list.newest;
    if (list.newest) list.newest.newer = d;
    else list.oldest = d;
    list.newest = d;
    d.olderInSource = source.newest;
    if (source.newest) source.newest.newerInSource = d;
    else source.oldest = d;
    source.newest = d;
    this.#c.datagrams++;
    // The datagram's own overhead; its first fragment is charged by the caller.
    d.memory = 0;
    this.#charge(d, DATAGRAM_OVERHEAD);
    return d;
  }

  /** Unlinks a datagram from every index and releases its bytes. */
  #remove(d: Datagram): void {
    const slot = d.hash & this.#hashMask;
    let p = this.#datagrams.get(slot)!;
    if (p === d) {
      if (d.chain) this.#datagrams.set(slot, d.chain);
      else this.#datagrams.delete(slot);
    } else {
      while (p.chain !== d) p = p.chain!;
      p.chain = d.chain;
    }
    const list = d.family === 6 ? this.#v6 : this.#v4;
    if (d.older) d.older.newer = d.newer;
    else list.oldest = d.newer;
    if (d.newer) d.newer.older = d.older;
    else list.newest = d.older;
    const s = d.source;
    if (d.olderInSource) d.olderInSource.newerInSource = d.newerInSource;
    else s.oldest = d.newerInSource;
    if (d.newerInSource) d.newerInSource.olderInSource = d.olderInSource;
    else s.newest = d.olderInSource;
    this.#charge(d, -d.memory);
    this.#c.datagrams--;
    if (s.oldest === null) {
      const sslot = s.hash & this.#hashMask;
      let q = this.#sources.get(sslot)!;
      if (q === s) {
        if (s.chain) this.#sources.set(sslot, s.chain);
        else this.#sources.delete(sslot);
      } else {
        while (q.chain !== s) q = q.chain!;
        q.chain = s.chain;
      }
    }
  }

  /** The oldest datagram of either family other than `except`. */
  #oldestExcept(except: Datagram | null): Datagram | null {
    let a = this.#v4.oldest;
    if (a && a === except) a = a.newer;
    let b = this.#v6.oldest;
    if (b && b === except) b = b.newer;
    if (!a) return b;
    if (!b) return a;
    return b.created < a.created ? b : a;
  }

  #sourceHash(key: FragmentKey): number {
    const h = this.#hash;
    h.begin();
    h.add(key.family);
    h.add(key.src0);
    if (key.family === 6) {
      h.add(key.src1);
      h.add(key.src2);
      h.add(key.src3);
    }
    return h.finish();
  }

  #datagramHash(key: FragmentKey): number {
    const h = this.#hash;
    h.begin();
    h.add(key.id);
    h.add(key.src0);
    h.add(key.dst0);
    if (key.family === 6) {
      h.add(key.src1);
      h.add(key.src2);
      h.add(key.src3);
      h.add(key.dst1);
      h.add(key.dst2);
      h.add(key.dst3);
    } else {
      // RFC 791 §3.2: the protocol is part of an IPv4 datagram's identity, not of an IPv6 one.
      h.add(0x40000 | key.protocol);
    }
    return h.finish();
  }

  #findDatagram(hash: number, k: FragmentKey): Datagram | null {
    for (let d = this.#datagrams.get(hash & this.#hashMask) ?? null; d; d = d.chain) {
      if (
        d.hash === hash && d.id === k.id && d.family === k.family &&
        d.src0 === k.src0 && d.src1 === k.src1 && d.src2 === k.src2 && d.src3 === k.src3 &&
        d.dst0 === k.dst0 && d.dst1 === k.dst1 && d.dst2 === k.dst2 && d.dst3 === k.dst3 &&
        (k.family === 6 || d.protocol === k.protocol)
      ) {
        return d;
      }
    }
    return null;
  }

  #findSource(hash: number, k: FragmentKey): Source | null {
    for (let s = this.#sources.get(hash & this.#hashMask) ?? null; s; s = s.chain) {
      if (
        s.hash === hash && s.family === k.family && s.src0 === k.src0 && s.src1 === k.src1 &&
        s.src2 === k.src2 && s.src3 === k.src3
      ) {
        return s;
      }
    }
    return null;
  }
}

/** The first index whose value is at least `x` in an ascending array. */
function lowerBound(a: readonly number[], x: number): number {
  let lo = 0, hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
