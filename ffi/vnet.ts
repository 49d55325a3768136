/**
 * What a {@linkcode TunDevice} does on its own with the virtio-net header of a Linux TUN opened
 * with `IFF_VNET_HDR`, so that callers of plain `read()`/`write()` never see it, and so that a
 * frame with offloads can be written to a device that has none.
 *
 * Only the handful of fields needed here are read (flags @0, gso_type @1, gso_size @4,
 * csum_start @6, csum_offset @8, little-endian); the full, validating codec for the stack is
 * `src/wire/virtio.ts` (this folder imports nothing from `src/`).
 *
 * - {@linkcode completePartialChecksum}: finish a NEEDS_CSUM checksum as Linux's
 *   `skb_checksum_help` does.
 * - {@linkcode GsoSplitter}: cut a TCPv4/TCPv6 super-segment into MSS-sized packets as Linux's
 *   `tcp_gso_segment` does (RFC 9293 §3.1 header fields, RFC 791 / RFC 8200 lengths): each
 *   segment gets the headers, its slice of payload, its sequence number, IPv4 length,
 *   identification and header checksum (or the IPv6 payload length), FIN/PSH only on the last,
 *   CWR only on the first, and a complete TCP checksum.
 * @module
 */

/** `sizeof(struct virtio_net_hdr)`. */
export const VNET_HDR_SIZE = 10;
/** `VIRTIO_NET_HDR_F_NEEDS_CSUM`. */
export const VNET_F_NEEDS_CSUM = 1;
/** `VIRTIO_NET_HDR_GSO_NONE`. */
export const VNET_GSO_NONE = 0;
/** `VIRTIO_NET_HDR_GSO_TCPV4`. */
export const VNET_GSO_TCPV4 = 1;
/** `VIRTIO_NET_HDR_GSO_TCPV6`. */
export const VNET_GSO_TCPV6 = 4;

const IPPROTO_TCP = 6;
const TCP_FIN = 0x01;
const TCP_PSH = 0x08;
const TCP_CWR = 0x80;

function u16le(b: Uint8Array, i: number): number {
  return b[i] | (b[i + 1] << 8);
}

function u16be(b: Uint8Array, i: number): number {
  return (b[i] << 8) | b[i + 1];
}

function put16be(b: Uint8Array, i: number, v: number): void {
  b[i] = v >>> 8;
  b[i + 1] = v;
}

/** One's complement sum (RFC 1071) of `b[start..end)` as big-endian 16-bit words, plus `acc`. */
function sum16(acc: number, b: Uint8Array, start: number, end: number): number {
  let sum = acc;
  let i = start;
  const stop = end - 1;
  for (; i < stop; i += 2) sum += (b[i] << 8) | b[i + 1];
  if (i < end) sum += b[i] << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return sum;
}

/** True when the frame's header asks for nothing: no partial checksum, no segmentation. */
export function vnetIsPlain(frame: Uint8Array, offset = 0): boolean {
  return (frame[offset] & VNET_F_NEEDS_CSUM) === 0 && frame[offset + 1] === VNET_GSO_NONE;
}

/**
 * Completes the partial checksum of the packet at `b[start..start + length)` whose frame header
 * (at `b[start - 10]`) says NEEDS_CSUM, the way Linux does (`skb_checksum_help`): sums from
 * `csum_start` to the end, the partial value in the field included, and stores the complement
 * (0 as 0xffff) at `csum_start + csum_offset`.
 * @returns false when the checksum field lies outside the packet (nothing written).
 */
export function completePartialChecksum(b: Uint8Array, start: number, length: number): boolean {
  const csumStart = u16le(b, start - VNET_HDR_SIZE + 6);
  const at = csumStart + u16le(b, start - VNET_HDR_SIZE + 8);
  if (at + 2 > length) return false;
  const csum = (~sum16(0, b, start + csumStart, start + length) & 0xffff) || 0xffff;
  put16be(b, start + at, csum);
  return true;
}

/**
 * Cuts one TCP super-segment into MSS-sized packets, one per {@linkcode GsoSplitter.next} call,
 * reading from the source frame given to {@linkcode GsoSplitter.begin} (never modified). The
 * source must stay unchanged until the last segment is taken.
 */
export class GsoSplitter {
  #src: Uint8Array = new Uint8Array(0);
  #start = 0;
  #v6 = false;
  #ipHeaderLength = 0;
  #headerLength = 0;
  #payloadLength = 0;
  #mss = 0;
  #index = 0;
  #count = 0;

  /** Segments still to be taken. */
  get remaining(): number {
    return this.#count - this.#index;
  }

  /** Forgets the current super-segment. */
  clear(): void {
    this.#count = 0;
    this.#index = 0;
  }

  /**
   * Starts cutting the packet at `src[start..start + length)`, whose virtio-net header is at
   * `src[start - 10]` and says GSO TCPV4 or TCPV6 with a non-zero `gso_size`.
   * @returns false (and nothing pending) when the packet is not a TCP packet this can cut:
   * another GSO type, IP version or protocol, an IPv6 extension header, lengths that do not fit.
   */
  begin(src: Uint8Array, start: number, length: number): boolean {
    this.clear();
    const h = start - VNET_HDR_SIZE;
    const gsoType = src[h + 1];
    const mss = u16le(src, h + 4);
    if (mss === 0 || length < 40) return false;
    const version = src[start] >>> 4;
    let ipHeaderLength: number;
    let packetLength: number;
    if (gsoType === VNET_GSO_TCPV4 && version === 4) {
      ipHeaderLength = (src[start] & 0x0f) << 2;
      packetLength = u16be(src, start + 2);
      if (ipHeaderLength < 20 || src[start + 9] !== IPPROTO_TCP) return false;
    } else if (gsoType === VNET_GSO_TCPV6 && version === 6) {
      ipHeaderLength = 40; // RFC 8200 §3; extension headers are not cut here
      packetLength = 40 + u16be(src, start + 4);
      if (src[start + 6] !== IPPROTO_TCP) return false;
    } else {
      return false;
    }
    if (packetLength > length || ipHeaderLength + 20 > packetLength) return false;
    const tcpHeaderLength = (src[start + ipHeaderLength + 12] >>> 4) << 2;
    const headerLength = ipHeaderLength + tcpHeaderLength;
    if (tcpHeaderLength < 20 || headerLength > packetLength) return false;
    this.#src = src;
    this.#start = start;
    this.#v6 = version === 6;
    this.#ipHeaderLength = ipHeaderLength;
    this.#headerLength = headerLength;
    this.#payloadLength = packetLength - headerLength;
    this.#mss = mss;
    this.#count = Math.max(1, Math.ceil(this.#payloadLength / mss));
    return true;
  }

  /**
   * Writes the next segment into `out` at `offset` and moves on.
   * @returns its length, or -1 when `out` has no room for it (the segment is skipped), or 0
   * when none is left.
   */
  next(out: Uint8Array, offset = 0): number {
    if (this.#index >= this.#count) return 0;
    const i = this.#index++;
    const src = this.#src;
    const s = this.#start;
    const ipl = this.#ipHeaderLength;
    const hl = this.#headerLength;
    const from = i * this.#mss;
    const payload = Math.min(this.#mss, this.#payloadLength - from);
    const len = hl + payload;
    if (offset + len > out.byteLength) return -1;
    out.set(src.subarray(s, s + hl), offset);
    out.set(src.subarray(s + hl + from, s + hl + from + payload), offset + hl);
    const o = offset;
    if (this.#v6) {
      put16be(out, o + 4, len - 40); // RFC 8200 §3: payload length
    } else {
      // RFC 791 §3.1: total length and identification (one more per segment, as Linux does),
      // then the header checksum over the new header.
      put16be(out, o + 2, len);
      put16be(out, o + 4, (u16be(src, s + 4) + i) & 0xffff);
      put16be(out, o + 10, 0);
      put16be(out, o + 10, ~sum16(0, out, o, o + ipl) & 0xffff);
    }
    const t = o + ipl;
    // RFC 9293 §3.1: each segment's sequence number is that of its first payload byte.
    const seq = (((src[s + ipl + 4] << 24) | (src[s + ipl + 5] << 16) |
      (src[s + ipl + 6] << 8) | src[s + ipl + 7]) + from) >>> 0;
    out[t + 4] = seq >>> 24;
    out[t + 5] = seq >>> 16;
    out[t + 6] = seq >>> 8;
    out[t + 7] = seq;
    let flags = src[s + ipl + 13];
    if (i > 0) flags &= ~TCP_CWR; // RFC 3168 §6.1.2: CWR on the first segment only
    if (i < this.#count - 1) flags &= ~(TCP_FIN | TCP_PSH);
    out[t + 13] = flags;
    // RFC 9293 §3.1 (RFC 8200 §8.1 for IPv6): pseudo-header, then header and payload.
    const tcpLength = len - ipl;
    let acc = IPPROTO_TCP + tcpLength;
    acc = this.#v6 ? sum16(acc, out, o + 8, o + 40) : sum16(acc, out, o + 12, o + 20);
    put16be(out, t + 16, 0);
    put16be(out, t + 16, ~sum16(acc, out, t, o + len) & 0xffff);
    return len;
  }
}
