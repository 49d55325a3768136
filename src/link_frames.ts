/**
 * Frames on in-memory links: what the Linux kernel does with the virtio-net frames a stack
 * writes to a TUN device opened with offloads (`src/wire/virtio.ts`), so that two stacks joined
 * by a memory link or the simulator exercise their checksum and segmentation offloads.
 *
 * A {@linkcode FrameShaper} checks every frame a stack writes (a complete checksum, or a partial
 * one that completes to a correct checksum) and turns it into the frames the far side reads, in
 * one of three roles of the kernel ({@linkcode FrameDelivery}): handing a locally made packet to a
 * TUN reader as it is, forwarding a GRO super-segment with its checksum marked checked, or
 * forwarding to a device without offloads, which cuts super-segments into MSS-sized packets with
 * complete checksums (Linux `tcp_gso_segment`, `skb_checksum_help`).
 * @module
 */

import { readU16, readU32, writeU16, writeU32 } from "./wire/bytes.ts";
import { checksumAdd, checksumFinish, checksumFold, pseudoHeaderSum } from "./wire/checksum.ts";
import { fillIpv4Checksum, IPPROTO_ICMP, IPPROTO_TCP } from "./wire/ipv4.ts";
import { CWR, FIN, PSH } from "./wire/tcp.ts";
import {
  completeVirtioChecksum,
  newVirtioNetHdr,
  parseVirtioNetHdr,
  TCP_CHECKSUM_OFFSET,
  VIRTIO_NET_HDR_F_DATA_VALID,
  VIRTIO_NET_HDR_F_NEEDS_CSUM,
  VIRTIO_NET_HDR_GSO_NONE,
  VIRTIO_NET_HDR_GSO_TCPV4,
  VIRTIO_NET_HDR_LENGTH,
  type VirtioNetHdr,
  VirtioParseError,
} from "./wire/virtio.ts";

/**
 * What a frame link does with a frame written to it, in the role of the kernel between the two
 * ends:
 * - `"partial"`: delivered as written. A super-segment stays one frame and a partial checksum
 *   stays partial (NEEDS_CSUM), as the kernel hands a TUN reader the TCP packets it made itself.
 * - `"valid"`: a super-segment stays one frame, marked DATA_VALID with its checksum field left
 *   as written (stale, as in a GRO packet the kernel forwards); other TCP packets get a complete
 *   checksum and DATA_VALID.
 * - `"cut"`: a super-segment is cut into `gso_size` packets and every partial checksum is
 *   completed, header flags cleared, as the kernel forwards to a device without offloads.
 */
export type FrameDelivery = "partial" | "valid" | "cut";

/** Every {@linkcode FrameDelivery}. */
export const FRAME_DELIVERIES: readonly FrameDelivery[] = ["partial", "valid", "cut"];

/** Counters of a {@linkcode FrameShaper}: the frames written to one direction of a link. */
export interface FrameStats {
  /** Frames written. */
  frames: number;
  /** TCP super-segments written (a GSO type in the header). */
  superSegments: number;
  /** Super-segments cut into MSS-sized packets (`"cut"` delivery). */
  cut: number;
  /** Frames whose virtio-net header does not fit their packet, or breaks a TSO rule: dropped. */
  badFrames: number;
  /**
   * Frames with a wrong checksum: the IPv4 header's, or the TCP or ICMP checksum once a partial
   * one is completed (delivered anyway: the receiver's verification is under test too).
   */
  badChecksums: number;
  /** Frames, or packets cut from one, larger than the MTU allows: dropped. */
  oversize: number;
  /** Why the last bad frame or checksum was counted, for test messages. */
  lastProblem: string;
}

/** The offloads a frame link with this delivery hands in (for `Link.frameOffloads`). */
export function offloadsFor(
  delivery: FrameDelivery,
): { csum: boolean; tso4: boolean; tso6: false } {
  return { csum: delivery !== "cut", tso4: delivery !== "cut", tso6: false };
}

/**
 * Why the transport checksum of the IPv4 packet `p` (its IP header already checked) does not
 * verify, or "" when it does: TCP over the RFC 9293 §3.1 pseudo-header, ICMP over its message
 * (RFC 792). Other protocols are not checked.
 */
function transportChecksumProblem(p: Uint8Array, ihl: number, total: number): string {
  const protocol = p[9];
  if (protocol === IPPROTO_TCP) {
    const acc = pseudoHeaderSum(readU32(p, 12), readU32(p, 16), IPPROTO_TCP, total - ihl);
    return checksumFinish(checksumAdd(acc, p, ihl, total)) === 0 ? "" : "TCP checksum";
  }
  if (protocol === IPPROTO_ICMP) {
    return checksumFinish(checksumAdd(0, p, ihl, total)) === 0 ? "" : "ICMP checksum";
  }
  return "";
}

/**
 * Why the frame `frame[0..length)` as a stack wrote it has a wrong checksum, or "" when every
 * checksum in it is right: the IPv4 header checksum, and the TCP (or ICMP) checksum, which is
 * either complete or, with NEEDS_CSUM, a partial one that completes (as Linux's
 * `skb_checksum_help` would, on a copy) to a correct checksum. A partial checksum must also sit
 * where Linux expects it for TCP (`csum_start` at the TCP header, `csum_offset` 16).
 * `h` is the frame's parsed header.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { frameChecksumProblem } from "./link_frames.ts";
 * import { emitIpv4, IPPROTO_TCP } from "./wire/ipv4.ts";
 * import { ACK, emitTcp, newTcpSegment } from "./wire/tcp.ts";
 * import { newVirtioNetHdr, prepareTcpOffload } from "./wire/virtio.ts";
 * const frame = new Uint8Array(10 + 40 + 100);
 * const seg = newTcpSegment();
 * seg.flags = ACK;
 * seg.payload = new Uint8Array(100).fill(7);
 * const n = emitTcp(seg, 0x0a000001, 0x0a000002, frame.subarray(30));
 * emitIpv4(frame.subarray(10), {
 *   src: 0x0a000001, dst: 0x0a000002, protocol: IPPROTO_TCP, ttl: 64, id: 1, payloadLength: n,
 * });
 * assert.equal(frameChecksumProblem(frame, frame.length, newVirtioNetHdr()), ""); // complete
 * const h = newVirtioNetHdr();
 * prepareTcpOffload(frame.subarray(10), 20 + n, 20, 1460, h); // a partial checksum
 * assert.equal(frameChecksumProblem(frame, frame.length, h), "");
 * frame[60] ^= 1; // a payload bit flips: a partial sum covers no payload, still right
 * assert.equal(frameChecksumProblem(frame, frame.length, h), "");
 * frame[46] ^= 1; // the partial sum itself is wrong
 * assert.notEqual(frameChecksumProblem(frame, frame.length, h), "");
 * ```
 */
export function frameChecksumProblem(
  frame: Uint8Array,
  length: number,
  h: VirtioNetHdr,
): string {
  const p = frame.subarray(VIRTIO_NET_HDR_LENGTH, length);
  if (p.length < 20 || p[0] >>> 4 !== 4) return "not an IPv4 packet";
  const ihl = (p[0] & 0x0f) << 2;
  const total = readU16(p, 2);
  if (ihl < 20 || total < ihl || total > p.length) return "IPv4 lengths";
  if (checksumFinish(checksumAdd(0, p, 0, ihl)) !== 0) return "IPv4 header checksum";
  if ((h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) === 0) {
    const why = transportChecksumProblem(p, ihl, total);
    return why === "" ? "" : `complete ${why}`;
  }
  if (p[9] === IPPROTO_TCP && (h.csumStart !== ihl || h.csumOffset !== TCP_CHECKSUM_OFFSET)) {
    return `partial TCP checksum at csum_start ${h.csumStart} csum_offset ${h.csumOffset}`;
  }
  const copy = p.slice(0, total);
  completeVirtioChecksum(copy, total, h);
  const why = transportChecksumProblem(copy, ihl, total);
  return why === "" ? "" : `partial ${why} does not complete`;
}

/**
 * Cuts the IPv4 TCP super-segment `packet` (its frame header `h` says GSO TCPV4 with
 * `gsoSize`) into `gsoSize`-byte segments as Linux's `tcp_gso_segment` and `skb_checksum_help`
 * do: each gets the IP and TCP headers, its slice of the payload, the sequence number of its
 * first byte (RFC 9293 §3.1), an IPv4 total length, an identification one more per segment and
 * a fresh header checksum (RFC 791 §3.1); FIN and PSH stay on the last segment only, CWR on the
 * first only (RFC 3168 §6.1.2). A partial checksum (NEEDS_CSUM) is adjusted for each
 * segment's length, as Linux adjusts it, and completed; any other is recomputed.
 * @returns the segments (fresh arrays, IP packets without a frame header), or an empty array
 * when the packet is not a TCP segment that can be cut.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { cutSuperSegment } from "./link_frames.ts";
 * import { emitIpv4, IPPROTO_TCP } from "./wire/ipv4.ts";
 * import { ACK, emitTcp, newTcpSegment } from "./wire/tcp.ts";
 * import { newVirtioNetHdr, prepareTcpOffload } from "./wire/virtio.ts";
 * const seg = newTcpSegment();
 * seg.flags = ACK;
 * seg.payload = new Uint8Array(2500);
 * const packet = new Uint8Array(40 + 2500);
 * const n = emitTcp(seg, 0x0a000001, 0x0a000002, packet.subarray(20));
 * emitIpv4(packet, {
 *   src: 0x0a000001, dst: 0x0a000002, protocol: IPPROTO_TCP, ttl: 64, id: 1, payloadLength: n,
 * });
 * const h = newVirtioNetHdr();
 * prepareTcpOffload(packet, packet.length, 20, 1000, h);
 * assert.deepEqual(cutSuperSegment(packet, h).map((p) => p.length), [1040, 1040, 540]);
 * ```
 */
export function cutSuperSegment(packet: Uint8Array, h: VirtioNetHdr): Uint8Array[] {
  const mss = h.gsoSize;
  if (mss === 0 || packet.length < 40 || packet[0] >>> 4 !== 4) return [];
  if (packet[9] !== IPPROTO_TCP) return [];
  const ihl = (packet[0] & 0x0f) << 2;
  const total = readU16(packet, 2);
  if (ihl < 20 || total > packet.length || ihl + 20 > total) return [];
  const headerLength = ihl + ((packet[ihl + 12] >>> 4) << 2);
  if (headerLength < ihl + 20 || headerLength > total) return [];
  const payload = total - headerLength;
  const count = Math.max(1, Math.ceil(payload / mss));
  const partial = (h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) !== 0;
  const oldTcpLength = total - ihl;
  const seq0 = readU32(packet, ihl + 4);
  const id0 = readU16(packet, 4);
  const flags0 = packet[ihl + 13];
  const complete = newVirtioNetHdr();
  complete.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
  complete.csumStart = ihl;
  complete.csumOffset = TCP_CHECKSUM_OFFSET;
  const out: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    const from = i * mss;
    const size = Math.min(mss, payload - from);
    const len = headerLength + size;
    const s = new Uint8Array(len);
    s.set(packet.subarray(0, headerLength));
    s.set(packet.subarray(headerLength + from, headerLength + from + size), headerLength);
    writeU16(s, 2, len);
    writeU16(s, 4, (id0 + i) & 0xffff);
    fillIpv4Checksum(s, ihl);
    writeU32(s, ihl + 4, seq0 + from); // the low 32 bits: sequence space wraps
    let flags = flags0;
    if (i > 0) flags &= ~CWR;
    if (i < count - 1) flags &= ~(FIN | PSH);
    s[ihl + 13] = flags;
    const tcpLength = len - ihl;
    // The partial sum covers the pseudo-header with the whole TCP length: swap in this
    // segment's length (one's complement subtraction is adding the complement).
    const seed = partial
      ? checksumFold(
        readU16(packet, ihl + TCP_CHECKSUM_OFFSET) + (~oldTcpLength & 0xffff) + tcpLength,
      )
      : checksumFold(pseudoHeaderSum(readU32(s, 12), readU32(s, 16), IPPROTO_TCP, tcpLength));
    writeU16(s, ihl + TCP_CHECKSUM_OFFSET, seed);
    completeVirtioChecksum(s, len, complete);
    out.push(s);
  }
  return out;
}

/** A frame: a zeroed virtio-net header, then a copy of `packet`. */
function plainFrame(packet: Uint8Array): Uint8Array {
  const f = new Uint8Array(VIRTIO_NET_HDR_LENGTH + packet.length);
  f.set(packet, VIRTIO_NET_HDR_LENGTH);
  return f;
}

/**
 * The packets a plain `read` of a frame link hands out for one delivered frame, as a Linux TUN
 * device read without offloads would: a super-segment cut into MSS-sized packets, a partial
 * checksum completed, otherwise the packet itself (fresh arrays, no frame header). A frame
 * whose header does not fit its packet gives nothing.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { packetsOfFrame } from "./link_frames.ts";
 * const frame = new Uint8Array(10 + 20); // a zero header: a plain packet
 * frame[10] = 0x45;
 * assert.equal(packetsOfFrame(frame, frame.length)[0].length, 20);
 * ```
 */
export function packetsOfFrame(frame: Uint8Array, length: number): Uint8Array[] {
  const h = newVirtioNetHdr();
  if (parseVirtioNetHdr(frame, length, h) !== VirtioParseError.None) return [];
  const p = frame.subarray(VIRTIO_NET_HDR_LENGTH, length);
  if (h.gsoType !== VIRTIO_NET_HDR_GSO_NONE) return cutSuperSegment(p, h);
  const copy = p.slice();
  completeVirtioChecksum(copy, copy.length, h);
  return [copy];
}

/**
 * Checks the frames a stack writes to one direction of a frame link and makes the frames the
 * far side reads, as set by a {@linkcode FrameDelivery}. Counts what it sees in `stats`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { FrameShaper } from "./link_frames.ts";
 * import { emitIpv4, IPPROTO_TCP } from "./wire/ipv4.ts";
 * import { ACK, emitTcp, newTcpSegment } from "./wire/tcp.ts";
 * import { emitVirtioNetHdr, newVirtioNetHdr, prepareTcpOffload } from "./wire/virtio.ts";
 * const seg = newTcpSegment();
 * seg.flags = ACK;
 * seg.payload = new Uint8Array(3000);
 * const frame = new Uint8Array(10 + 40 + 3000);
 * const n = emitTcp(seg, 0x0a000001, 0x0a000002, frame.subarray(30));
 * emitIpv4(frame.subarray(10), {
 *   src: 0x0a000001, dst: 0x0a000002, protocol: IPPROTO_TCP, ttl: 64, id: 1, payloadLength: n,
 * });
 * const h = newVirtioNetHdr();
 * prepareTcpOffload(frame.subarray(10), 20 + n, 20, 1460, h);
 * emitVirtioNetHdr(frame, h);
 * assert.equal(new FrameShaper("partial", 1500).shape(frame, frame.length).length, 1);
 * const cutter = new FrameShaper("cut", 1500);
 * assert.equal(cutter.shape(frame, frame.length).length, 3); // 1460 + 1460 + 80 bytes
 * assert.equal(cutter.stats.badChecksums, 0);
 * ```
 */
export class FrameShaper {
  /** How frames are delivered. */
  readonly delivery: FrameDelivery;
  /** The largest IP packet the link carries (each segment of a super-segment, with `"cut"`). */
  readonly mtu: number;
  /** Counters since construction. */
  readonly stats: FrameStats = {
    frames: 0,
    superSegments: 0,
    cut: 0,
    badFrames: 0,
    badChecksums: 0,
    oversize: 0,
    lastProblem: "",
  };
  readonly #h = newVirtioNetHdr();

  /** A shaper for one direction of a link with this MTU. */
  constructor(delivery: FrameDelivery, mtu: number) {
    if (!FRAME_DELIVERIES.includes(delivery)) {
      throw new RangeError(`invalid frame delivery ${delivery}`);
    }
    this.delivery = delivery;
    this.mtu = mtu;
  }

  /**
   * Checks the frame `frame[0..length)` (a virtio-net header, then an IPv4 packet) and returns
   * the frames to deliver for it: fresh arrays, header included; none when it is dropped.
   */
  shape(frame: Uint8Array, length: number): Uint8Array[] {
    const st = this.stats;
    const h = this.#h;
    st.frames++;
    const err = parseVirtioNetHdr(frame, length, h);
    if (err !== VirtioParseError.None) {
      return this.#bad(`virtio-net header: ${VirtioParseError[err]}`);
    }
    const p = frame.subarray(VIRTIO_NET_HDR_LENGTH, length);
    const gso = h.gsoType !== VIRTIO_NET_HDR_GSO_NONE;
    const ihl = p.length >= 20 ? (p[0] & 0x0f) << 2 : 0;
    let headerLength = 0;
    if (gso) {
      st.superSegments++;
      // Linux's TSO: an IPv4 TCP super-segment, checksum left to the kernel (NEEDS_CSUM).
      if (h.gsoType !== VIRTIO_NET_HDR_GSO_TCPV4 || p[0] >>> 4 !== 4 || p[9] !== IPPROTO_TCP) {
        return this.#bad(`GSO type ${h.gsoType} on a packet that is not IPv4 TCP`);
      }
      if ((h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) === 0) return this.#bad("GSO without NEEDS_CSUM");
      headerLength = ihl + ((p[ihl + 12] >>> 4) << 2);
    }
    const problem = frameChecksumProblem(frame, length, h);
    if (problem !== "") {
      st.badChecksums++;
      st.lastProblem = problem;
    }
    if (gso && this.delivery === "cut") {
      const parts = cutSuperSegment(p, h);
      if (parts.length === 0) return this.#bad("a super-segment that cannot be cut");
      st.cut++;
      const out: Uint8Array[] = [];
      for (const s of parts) {
        if (s.length > this.mtu) st.oversize++;
        else out.push(plainFrame(s));
      }
      return out;
    }
    // One packet on the wire (or segments of gso_size each, for a whole super-segment).
    if ((gso ? headerLength + h.gsoSize : p.length) > this.mtu) {
      st.oversize++;
      return [];
    }
    const f = frame.slice(0, length);
    const needsCsum = (h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) !== 0;
    if (this.delivery === "cut" || (this.delivery === "valid" && !gso && p[9] === IPPROTO_TCP)) {
      // Forwarded as a plain packet: the kernel completed a partial checksum.
      if (needsCsum) completeVirtioChecksum(f.subarray(VIRTIO_NET_HDR_LENGTH), p.length, h);
      f.fill(0, 0, VIRTIO_NET_HDR_LENGTH);
      if (this.delivery === "valid") f[0] = VIRTIO_NET_HDR_F_DATA_VALID;
    } else if (this.delivery === "valid" && gso) {
      // A GRO packet: checked, its checksum field stale; the GSO fields stay.
      f[0] = VIRTIO_NET_HDR_F_DATA_VALID;
      f.fill(0, 6, VIRTIO_NET_HDR_LENGTH);
    }
    return [f];
  }

  /**
   * The frame for a packet written with plain `write` (no offload asked): checked and
   * delivered like a frame with a zeroed header.
   */
  shapePacket(packet: Uint8Array): Uint8Array[] {
    const f = plainFrame(packet);
    return this.shape(f, f.length);
  }

  #bad(why: string): Uint8Array[] {
    this.stats.badFrames++;
    this.stats.lastProblem = why;
    return [];
  }
}
