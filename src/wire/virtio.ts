/**
 * The virtio-net header (`struct virtio_net_hdr`, Virtio 1.2 §5.1.6 "Device Operation", Linux
 * `include/uapi/linux/virtio_net.h`): the 10 bytes a Linux TUN device opened with
 * `IFF_VNET_HDR` puts before every packet it hands over, and expects before every packet it is
 * given. They carry the two offloads tcptun uses:
 *
 * - Checksum offload (`VIRTIO_NET_HDR_F_NEEDS_CSUM`): the transport checksum field holds only the
 *   pseudo-header sum; whoever completes it sums from `csumStart` to the end of the packet and
 *   stores the complement at `csumStart + csumOffset` (Virtio 1.2 §5.1.6.2).
 * - Segmentation offload (`gsoType` TCPV4/TCPV6 with `gsoSize`): the packet is one TCP
 *   "super-segment" larger than the MSS, cut into `gsoSize`-byte segments by whoever sends it on.
 *
 * Layout (TUN's vnet header is little-endian on every host tcptun supports, as Linux's
 * `tun_is_little_endian` makes it on little-endian CPUs): `flags` u8 @0, `gso_type` u8 @1,
 * `hdr_len` u16 @2, `gso_size` u16 @4, `csum_start` u16 @6, `csum_offset` u16 @8.
 *
 * - {@linkcode parseVirtioNetHdr} validates a received header against the packet behind it and
 *   fills a reused {@linkcode VirtioNetHdr}; it returns a {@linkcode VirtioParseError}, never
 *   throws. {@linkcode emitVirtioNetHdr} writes one.
 * - Inbound: {@linkcode virtioChecksumTrusted} (skip verification), {@linkcode virtioGsoSize}
 *   and {@linkcode virtioSegmentCount} (a super-segment and what it stands for),
 *   {@linkcode completeVirtioChecksum} (finish a partial checksum the way the kernel does).
 * - Outbound: {@linkcode prepareTcpOffload} turns an emitted IPv4/IPv6 TCP packet into one the
 *   kernel checksums (and, past the MSS, segments): partial checksum in the TCP header, header
 *   fields filled.
 * @module
 */

import { checksumAdd, checksumFinish } from "./checksum.ts";
import { IPPROTO_TCP } from "./ipv4.ts";

/** `sizeof(struct virtio_net_hdr)`: the bytes before each packet on an `IFF_VNET_HDR` TUN. */
export const VIRTIO_NET_HDR_LENGTH = 10;

/** `flags` bit: the checksum at `csumStart + csumOffset` is partial and must be completed. */
export const VIRTIO_NET_HDR_F_NEEDS_CSUM = 1;
/** `flags` bit (receive only): the sender already validated the packet's checksums. */
export const VIRTIO_NET_HDR_F_DATA_VALID = 2;
/** Every `flags` bit this codec knows (`VIRTIO_NET_HDR_F_RSC_INFO` = 4 needs a feature TUN lacks). */
const KNOWN_FLAGS = VIRTIO_NET_HDR_F_NEEDS_CSUM | VIRTIO_NET_HDR_F_DATA_VALID;

/** `gso_type`: not a GSO packet. */
export const VIRTIO_NET_HDR_GSO_NONE = 0;
/** `gso_type`: an IPv4 TCP super-segment (TSO). */
export const VIRTIO_NET_HDR_GSO_TCPV4 = 1;
/** `gso_type`: a UDP fragmentation-offload packet (UFO; tcptun does not negotiate it). */
export const VIRTIO_NET_HDR_GSO_UDP = 3;
/** `gso_type`: an IPv6 TCP super-segment (TSO). */
export const VIRTIO_NET_HDR_GSO_TCPV6 = 4;
/** `gso_type`: a UDP segmentation-offload packet (USO; tcptun does not negotiate it). */
export const VIRTIO_NET_HDR_GSO_UDP_L4 = 5;
/** `gso_type` bit: the super-segment carries ECN's CWR and needs `TUN_F_TSO_ECN` (not used). */
export const VIRTIO_NET_HDR_GSO_ECN = 0x80;

/** Offset of the checksum field in a TCP header (RFC 9293 §3.1), the `csumOffset` for TCP. */
export const TCP_CHECKSUM_OFFSET = 16;

/** A virtio-net header's fields. Reused across packets: see {@linkcode newVirtioNetHdr}. */
export interface VirtioNetHdr {
  /** Bitmask of `VIRTIO_NET_HDR_F_NEEDS_CSUM` and `VIRTIO_NET_HDR_F_DATA_VALID`. */
  flags: number;
  /** `VIRTIO_NET_HDR_GSO_*`, possibly or-ed with `VIRTIO_NET_HDR_GSO_ECN`. */
  gsoType: number;
  /**
   * Length of the headers (IP + TCP) of a GSO packet. A hint only: Linux reports the length
   * of the packet's linear part, which can exceed the headers.
   */
  hdrLen: number;
  /** With a GSO type: the payload bytes of each segment (the MSS). */
  gsoSize: number;
  /** With `NEEDS_CSUM`: where checksumming starts (the IP header length, for TCP). */
  csumStart: number;
  /** With `NEEDS_CSUM`: where the checksum goes, from `csumStart` (16 for TCP, 6 for UDP). */
  csumOffset: number;
}

/** Why a received virtio-net header was rejected (counted and dropped by the caller). */
export enum VirtioParseError {
  None = 0,
  /** Fewer than 10 bytes. */
  TooShort = 1,
  /** A `flags` bit other than NEEDS_CSUM and DATA_VALID. */
  UnknownFlags = 2,
  /** A `gso_type` Linux does not define. */
  UnknownGsoType = 3,
  /** UDP fragmentation or segmentation offload, which tcptun never negotiates. */
  UnsupportedGsoType = 4,
  /** The ECN bit on a GSO type (needs `TUN_F_TSO_ECN`, never negotiated). */
  GsoEcn = 5,
  /** A GSO type with `gso_size` 0 (Linux's `virtio_net_hdr_to_skb` refuses it too). */
  GsoWithoutSize = 6,
  /** A GSO type without NEEDS_CSUM or DATA_VALID: nothing says how to trust the checksums. */
  GsoWithoutChecksum = 7,
  /** A TCP GSO packet whose `csum_offset` is not the TCP checksum field (16). */
  GsoBadChecksumOffset = 8,
  /** NEEDS_CSUM with the checksum field (`csum_start + csum_offset`, 2 bytes) past the packet. */
  ChecksumOutOfRange = 9,
  /** `hdr_len` past the packet, or (GSO) short of the checksum field it must cover. */
  BadHdrLen = 10,
}

/** Creates a zeroed `VirtioNetHdr` to reuse across calls. */
export function newVirtioNetHdr(): VirtioNetHdr {
  return { flags: 0, gsoType: 0, hdrLen: 0, gsoSize: 0, csumStart: 0, csumOffset: 0 };
}

/** Zeroes every field of `h`: a plain packet, no offload. */
export function resetVirtioNetHdr(h: VirtioNetHdr): void {
  h.flags = 0;
  h.gsoType = 0;
  h.hdrLen = 0;
  h.gsoSize = 0;
  h.csumStart = 0;
  h.csumOffset = 0;
}

function readU16le(b: Uint8Array, i: number): number {
  return b[i] | (b[i + 1] << 8);
}

function writeU16le(b: Uint8Array, i: number, v: number): void {
  b[i] = v;
  b[i + 1] = v >>> 8;
}

/**
 * Reads and validates the virtio-net header at `frame[0..10)`, where `frame[0..length)` is one
 * read from the TUN device: the header, then the IP packet (`length - 10` bytes). The checks
 * follow Linux's own on packets it is given (`virtio_net_hdr_to_skb`): known flags and GSO
 * types, a non-zero `gso_size` with a GSO type, and a checksum field inside the packet.
 * On error `out` may be partly filled. Never throws on bad input.
 * @returns `VirtioParseError.None` (0) when the header is acceptable, else the reason.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import {
 *   emitVirtioNetHdr, newVirtioNetHdr, parseVirtioNetHdr, VIRTIO_NET_HDR_F_NEEDS_CSUM,
 *   VirtioParseError,
 * } from "./virtio.ts";
 * const frame = new Uint8Array(10 + 40);
 * const h = newVirtioNetHdr();
 * h.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
 * h.csumStart = 20;
 * h.csumOffset = 16;
 * emitVirtioNetHdr(frame, h);
 * const got = newVirtioNetHdr();
 * assert(parseVirtioNetHdr(frame, frame.length, got) === VirtioParseError.None);
 * assert(got.csumStart === 20 && got.csumOffset === 16);
 * ```
 */
export function parseVirtioNetHdr(
  frame: Uint8Array,
  length: number,
  out: VirtioNetHdr,
): VirtioParseError {
  if (length > frame.length) length = frame.length;
  if (length < VIRTIO_NET_HDR_LENGTH) return VirtioParseError.TooShort;
  const packetLength = length - VIRTIO_NET_HDR_LENGTH;
  out.flags = frame[0];
  out.gsoType = frame[1];
  out.hdrLen = readU16le(frame, 2);
  out.gsoSize = readU16le(frame, 4);
  out.csumStart = readU16le(frame, 6);
  out.csumOffset = readU16le(frame, 8);
  if ((out.flags & ~KNOWN_FLAGS) !== 0) return VirtioParseError.UnknownFlags;
  const gso = out.gsoType & ~VIRTIO_NET_HDR_GSO_ECN;
  const needsCsum = (out.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) !== 0;
  if (out.gsoType !== VIRTIO_NET_HDR_GSO_NONE) {
    if (gso === VIRTIO_NET_HDR_GSO_UDP || gso === VIRTIO_NET_HDR_GSO_UDP_L4) {
      return VirtioParseError.UnsupportedGsoType;
    }
    if (gso !== VIRTIO_NET_HDR_GSO_TCPV4 && gso !== VIRTIO_NET_HDR_GSO_TCPV6) {
      return VirtioParseError.UnknownGsoType;
    }
    if ((out.gsoType & VIRTIO_NET_HDR_GSO_ECN) !== 0) return VirtioParseError.GsoEcn;
    if (out.gsoSize === 0) return VirtioParseError.GsoWithoutSize;
    if ((out.flags & KNOWN_FLAGS) === 0) return VirtioParseError.GsoWithoutChecksum;
    // Linux (virtio_net_hdr_to_skb): a partial TCP GSO checksum sits in the TCP checksum field.
    if (needsCsum && out.csumOffset !== TCP_CHECKSUM_OFFSET) {
      return VirtioParseError.GsoBadChecksumOffset;
    }
  }
  if (needsCsum && out.csumStart + out.csumOffset + 2 > packetLength) {
    return VirtioParseError.ChecksumOutOfRange;
  }
  if (out.hdrLen > packetLength) return VirtioParseError.BadHdrLen;
  if (
    gso !== VIRTIO_NET_HDR_GSO_NONE && needsCsum && out.hdrLen !== 0 &&
    out.hdrLen < out.csumStart + out.csumOffset + 2
  ) return VirtioParseError.BadHdrLen;
  return VirtioParseError.None;
}

/**
 * Writes `h` as a 10-byte virtio-net header at `into[offset..offset + 10)`.
 * @returns the header length, 10.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { emitVirtioNetHdr, newVirtioNetHdr } from "./virtio.ts";
 * const frame = new Uint8Array(10 + 20);
 * assert(emitVirtioNetHdr(frame, newVirtioNetHdr()) === 10); // a plain packet: all zero
 * ```
 */
export function emitVirtioNetHdr(into: Uint8Array, h: VirtioNetHdr, offset = 0): number {
  into[offset] = h.flags;
  into[offset + 1] = h.gsoType;
  writeU16le(into, offset + 2, h.hdrLen);
  writeU16le(into, offset + 4, h.gsoSize);
  writeU16le(into, offset + 6, h.csumStart);
  writeU16le(into, offset + 8, h.csumOffset);
  return VIRTIO_NET_HDR_LENGTH;
}

/**
 * True when the packet's transport checksum must not be verified: NEEDS_CSUM (the field holds
 * only the pseudo-header sum; the kernel made the packet itself and never checksummed it) or
 * DATA_VALID (the kernel already verified it). Call only after a successful parse.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { newVirtioNetHdr, VIRTIO_NET_HDR_F_DATA_VALID, virtioChecksumTrusted } from "./virtio.ts";
 * const h = newVirtioNetHdr();
 * assert(!virtioChecksumTrusted(h));
 * h.flags = VIRTIO_NET_HDR_F_DATA_VALID;
 * assert(virtioChecksumTrusted(h));
 * ```
 */
export function virtioChecksumTrusted(h: VirtioNetHdr): boolean {
  return (h.flags & KNOWN_FLAGS) !== 0;
}

/**
 * For a TCP super-segment (GSO TCPV4 or TCPV6), the MSS it is to be cut at: the packet is one
 * TCP segment whose payload may exceed the MSS, standing for several. 0 for any other packet.
 * Call only after a successful parse.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { newVirtioNetHdr, VIRTIO_NET_HDR_GSO_TCPV4, virtioGsoSize } from "./virtio.ts";
 * const h = newVirtioNetHdr();
 * assert(virtioGsoSize(h) === 0);
 * h.gsoType = VIRTIO_NET_HDR_GSO_TCPV4;
 * h.gsoSize = 1448;
 * assert(virtioGsoSize(h) === 1448);
 * ```
 */
export function virtioGsoSize(h: VirtioNetHdr): number {
  const gso = h.gsoType & ~VIRTIO_NET_HDR_GSO_ECN;
  return gso === VIRTIO_NET_HDR_GSO_TCPV4 || gso === VIRTIO_NET_HDR_GSO_TCPV6 ? h.gsoSize : 0;
}

/**
 * How many packets a segment with `payloadLength` TCP payload bytes stands for: the segments
 * the kernel would cut it into (`ceil(payloadLength / gsoSize)`, at least 1), or 1 when it is
 * not a super-segment.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { newVirtioNetHdr, VIRTIO_NET_HDR_GSO_TCPV4, virtioSegmentCount } from "./virtio.ts";
 * const h = newVirtioNetHdr();
 * h.gsoType = VIRTIO_NET_HDR_GSO_TCPV4;
 * h.gsoSize = 1000;
 * assert(virtioSegmentCount(h, 2500) === 3);
 * ```
 */
export function virtioSegmentCount(h: VirtioNetHdr, payloadLength: number): number {
  const mss = virtioGsoSize(h);
  if (mss === 0 || payloadLength <= mss) return 1;
  return Math.ceil(payloadLength / mss);
}

/**
 * Completes a NEEDS_CSUM packet's checksum as Linux does (`skb_checksum_help`): the one's
 * complement sum from `csumStart` to the end of the packet, starting with the partial value
 * already in the checksum field, complemented and stored at `csumStart + csumOffset` (0 is
 * stored as 0xffff, as UDP requires; for TCP both mean the same). Does nothing without
 * NEEDS_CSUM. `packet[0..packetLength)` is the IP packet, without the virtio-net header;
 * `h` must have passed {@linkcode parseVirtioNetHdr} for it.
 * @returns the checksum stored, or -1 when there was nothing to do.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { completeVirtioChecksum, newVirtioNetHdr } from "./virtio.ts";
 * assert(completeVirtioChecksum(new Uint8Array(40), 40, newVirtioNetHdr()) === -1);
 * ```
 */
export function completeVirtioChecksum(
  packet: Uint8Array,
  packetLength: number,
  h: VirtioNetHdr,
): number {
  if ((h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) === 0) return -1;
  const at = h.csumStart + h.csumOffset;
  const csum = checksumFinish(checksumAdd(0, packet, h.csumStart, packetLength)) || 0xffff;
  packet[at] = csum >>> 8;
  packet[at + 1] = csum;
  return csum;
}

/**
 * Sum (folded, not complemented) of the TCP pseudo-header of the IP packet at `packet[0..)`:
 * IPv4 (RFC 9293 §3.1: addresses, zero, protocol, TCP length) or IPv6 (RFC 8200 §8.1:
 * addresses, 32-bit upper-layer length, zeros, next header).
 */
function tcpPseudoHeaderSum(packet: Uint8Array, version: number, tcpLength: number): number {
  if (version === 4) return checksumAdd(IPPROTO_TCP + tcpLength, packet, 12, 20);
  return checksumAdd(IPPROTO_TCP + (tcpLength >>> 16) + (tcpLength & 0xffff), packet, 8, 40);
}

/** Why {@linkcode prepareTcpOffload} refused a packet. */
export enum TcpOffloadError {
  None = 0,
  /** Not IPv4 or IPv6, or the IP header length does not fit the packet. */
  BadIpHeader = 1,
  /** The TCP header is shorter than 20 bytes, or its data offset runs past the packet. */
  BadTcpHeader = 2,
  /** The MSS is not 1 to 65535. */
  BadMss = 3,
}

/**
 * Prepares an IP packet holding one TCP segment, header and payload already emitted, so that
 * the kernel computes its checksum and, when the payload exceeds `mss`, cuts it into
 * `mss`-byte segments (TSO); then write `out` with {@linkcode emitVirtioNetHdr} in front of it.
 *
 * - The TCP checksum field gets the folded, not complemented, pseudo-header sum over the whole
 *   TCP length (what Linux's `tcp_v4_send_check` leaves for a device that checksums; the
 *   kernel's segmentation adjusts it per segment). Every other byte is left as emitted.
 * - `out`: NEEDS_CSUM, `csumStart` = `ipHeaderLength`, `csumOffset` = 16; with a payload larger
 *   than `mss`, `gsoType` TCPV4 or TCPV6 (from the IP version) and `gsoSize` = `mss`, else
 *   `gsoType` NONE and `gsoSize` 0; `hdrLen` = IP + TCP header length either way.
 *
 * `packet[0..packetLength)` is the IP packet (IPv4 total length or IPv6 payload length already
 * covering it all); `ipHeaderLength` is where TCP starts (IPv6: after any extension headers).
 * The IPv4 header checksum must already be valid: the kernel copies the header into each
 * segment and fixes length, identification and checksum itself.
 * @returns `TcpOffloadError.None` (0), or why the packet cannot be offloaded (nothing written).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ACK, emitIpv4, emitTcp, IPPROTO_TCP, newTcpSegment } from "./mod.ts";
 * import {
 *   emitVirtioNetHdr, newVirtioNetHdr, prepareTcpOffload, TcpOffloadError,
 *   VIRTIO_NET_HDR_GSO_TCPV4,
 * } from "./virtio.ts";
 * const seg = newTcpSegment();
 * seg.srcPort = 80;
 * seg.dstPort = 40000;
 * seg.flags = ACK;
 * seg.payload = new Uint8Array(4000); // three 1460-byte segments once cut
 * const frame = new Uint8Array(10 + 20 + 20 + 4000);
 * const tcpLength = emitTcp(seg, 0x0a000001, 0x0a000002, frame.subarray(30));
 * emitIpv4(frame.subarray(10), {
 *   src: 0x0a000001, dst: 0x0a000002, protocol: IPPROTO_TCP, ttl: 64, id: 1, payloadLength: tcpLength,
 * });
 * const h = newVirtioNetHdr();
 * assert(prepareTcpOffload(frame.subarray(10), 20 + tcpLength, 20, 1460, h) === TcpOffloadError.None);
 * assert(h.gsoType === VIRTIO_NET_HDR_GSO_TCPV4 && h.gsoSize === 1460 && h.hdrLen === 40);
 * emitVirtioNetHdr(frame, h); // frame is now ready for TunDevice.writeFrame
 * ```
 */
export function prepareTcpOffload(
  packet: Uint8Array,
  packetLength: number,
  ipHeaderLength: number,
  mss: number,
  out: VirtioNetHdr,
): TcpOffloadError {
  if (packetLength > packet.length) packetLength = packet.length;
  if (!Number.isInteger(mss) || mss < 1 || mss > 0xffff) return TcpOffloadError.BadMss;
  const version = packetLength > 0 ? packet[0] >>> 4 : 0;
  if (version === 4) {
    // RFC 791 §3.1: IHL counts 32-bit words; TCP starts right after the header.
    if (ipHeaderLength !== (packet[0] & 0x0f) << 2 || ipHeaderLength < 20) {
      return TcpOffloadError.BadIpHeader;
    }
  } else if (version !== 6 || ipHeaderLength < 40) {
    return TcpOffloadError.BadIpHeader;
  }
  if (ipHeaderLength > packetLength) return TcpOffloadError.BadIpHeader;
  if (ipHeaderLength + 20 > packetLength) return TcpOffloadError.BadTcpHeader;
  const tcpLength = packetLength - ipHeaderLength;
  const tcpHeaderLength = (packet[ipHeaderLength + 12] >>> 4) << 2;
  if (tcpHeaderLength < 20 || tcpHeaderLength > tcpLength) return TcpOffloadError.BadTcpHeader;
  const partial = tcpPseudoHeaderSum(packet, version, tcpLength);
  packet[ipHeaderLength + TCP_CHECKSUM_OFFSET] = partial >>> 8;
  packet[ipHeaderLength + TCP_CHECKSUM_OFFSET + 1] = partial;
  const gso = tcpLength - tcpHeaderLength > mss;
  out.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
  out.gsoType = !gso
    ? VIRTIO_NET_HDR_GSO_NONE
    : version === 4
    ? VIRTIO_NET_HDR_GSO_TCPV4
    : VIRTIO_NET_HDR_GSO_TCPV6;
  out.gsoSize = gso ? mss : 0;
  out.hdrLen = ipHeaderLength + tcpHeaderLength;
  out.csumStart = ipHeaderLength;
  out.csumOffset = TCP_CHECKSUM_OFFSET;
  return TcpOffloadError.None;
}
