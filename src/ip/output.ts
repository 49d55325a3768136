/**
 * Packet output: the IPv4 header (RFC 791 §3.1) and the IPv6 header (RFC 8200 §3, flow label 0
 * per RFC 6437 §3) in front of a TCP segment or an ICMP message, source fragmentation of the
 * rare datagram larger than the link (RFC 791 §3.2, RFC 8200 §4.5: only echo replies need it,
 * TCP sizes its segments to the path), and on a frame link the virtio-net header (virtio 1.2
 * §5.1.6) that leaves the TCP checksum to the kernel and asks it to cut a super-segment into
 * MSS-sized segments (TSO). Every packet goes through the tap, then to the link.
 *
 * One output buffer is reused for every packet: callers write the transport payload straight
 * into {@link IpOutput.payload4} or {@link IpOutput.payload6} and name its length. Nothing here
 * reads a clock: `now` only stamps the tap.
 * @module
 */

import { writeU32 } from "../wire/bytes.ts";
import {
  emitIpv4,
  fillIpv4Checksum,
  IPPROTO_TCP,
  IPV4_FLAG_MF,
  IPV4_HEADER_LENGTH,
  type Ipv4EmitFields,
} from "../wire/ipv4.ts";
import {
  emitIpv6,
  IPPROTO_FRAGMENT,
  IPV6_HEADER_LENGTH,
  ipv6AddressSum,
  type Ipv6EmitFields,
} from "../wire/ipv6.ts";
import { type Ipv6Address, ipv6Address } from "../wire/ipv6_address.ts";
import { emitTcp, emitTcpWithAddressSum, type TcpSegment } from "../wire/tcp.ts";
import {
  completeVirtioChecksum,
  emitVirtioNetHdr,
  newVirtioNetHdr,
  resetVirtioNetHdr,
  TCP_CHECKSUM_OFFSET,
  VIRTIO_NET_HDR_F_NEEDS_CSUM,
  VIRTIO_NET_HDR_GSO_NONE,
  VIRTIO_NET_HDR_GSO_TCPV4,
  VIRTIO_NET_HDR_GSO_TCPV6,
  VIRTIO_NET_HDR_LENGTH,
} from "../wire/virtio.ts";
import type { ViewCache } from "../wire/views.ts";
import type { IpCounters } from "./counters.ts";

/** Where packets go: a `Link` (`src/link.ts`) is one. */
export interface PacketSink {
  /** Writes one IP packet. */
  write(packet: Uint8Array): void;
  /** Writes `frame[0..length)`: a virtio-net header, then an IP packet (frame links only). */
  writeFrame?(frame: Uint8Array, length: number): void;
}

/**
 * Called with every IP packet read or written. `segments` is how many TCP segments a
 * super-segment stands for (1 for any other packet).
 */
export type PacketTap = (
  dir: "in" | "out",
  packet: Uint8Array,
  nowMs: number,
  segments: number,
) => void;

/** What an {@link IpOutput} is made with. */
export interface IpOutputOptions {
  /** Where packets go. */
  link: PacketSink;
  /** The link takes frames (virtio-net header first) and offloads checksums and TSO. */
  frames: boolean;
  /** Our IPv4 address (uint32), the source of every IPv4 packet. */
  addr: number;
  /** Our IPv6 address, the source of every IPv6 packet, or null when IPv6 is off. */
  addr6: Ipv6Address | null;
  /** The link's MTU: larger echo replies go in fragments. */
  mtu: number;
  /** The first IPv4 Identification (random, drawn by the caller; RFC 6864). */
  ipId: number;
  /** Sees every packet written, or undefined. */
  tap: PacketTap | undefined;
  /** Counted into. */
  counters: Pick<IpCounters, "packetsOut" | "superSegmentsOut">;
  /** Reused views of the output buffer. */
  views: ViewCache;
}

/**
 * Frames and writes IP packets from one reused buffer.
 *
 * @example
 * ```ts
 * import { IpOutput } from "./output.ts";
 * import { ViewCache } from "../wire/views.ts";
 * const sent: Uint8Array[] = [];
 * const out = new IpOutput({
 *   link: { write: (p) => sent.push(p.slice()) },
 *   frames: false,
 *   addr: 0x0a000001,
 *   addr6: null,
 *   mtu: 1500,
 *   ipId: 1,
 *   tap: undefined,
 *   counters: { packetsOut: 0, superSegmentsOut: 0 },
 *   views: new ViewCache(),
 * });
 * out.payload4.set([8, 0, 0, 0, 0, 0, 0, 0]); // any 8-byte ICMP message
 * out.sendIp(0x0a000002, 1, 8, 64, 0, 0);
 * console.log(sent[0].length); // 28
 * ```
 */
export class IpOutput {
  /** The transport payload of an IPv4 packet: write it here, then `sendIp`. */
  readonly payload4: Uint8Array;
  /** The transport payload of an IPv6 packet (after a 40-byte header): then `sendIp6`. */
  readonly payload6: Uint8Array;
  readonly #link: PacketSink;
  readonly #frames: boolean;
  readonly #addr: number;
  readonly #addr6: Ipv6Address | null;
  readonly #mtu: number;
  readonly #tap: PacketTap | undefined;
  readonly #c: Pick<IpCounters, "packetsOut" | "superSegmentsOut">;
  readonly #views: ViewCache;
  /** The one output buffer: room for a virtio-net header, then the IP packet. */
  readonly #outFrame: Uint8Array;
  /** The IP packet in `#outFrame`. */
  readonly #ipOut: Uint8Array;
  readonly #vnetOut = newVirtioNetHdr();
  /** The segments the packet being sent stands for (a super-segment: several). */
  #outSegments = 1;
  readonly #ipFields: Ipv4EmitFields = {
    src: 0,
    dst: 0,
    protocol: IPPROTO_TCP,
    ttl: 64,
    id: 0,
    payloadLength: 0,
    tos: 0,
  };
  #ipId: number;
  readonly #ip6Fields: Ipv6EmitFields = {
    src: ipv6Address(),
    dst: ipv6Address(),
    nextHeader: 0,
    hopLimit: 64,
    payloadLength: 0,
    trafficClass: 0,
  };
  /** Identification of the last IPv6 packet we fragmented. */
  #fragId6 = 0;
  /** Room for an ICMP echo reply larger than the MTU (allocated on first use). */
  #bigOut: Uint8Array | null = null;

  /** Makes the output path; see {@link IpOutputOptions}. */
  constructor(o: IpOutputOptions) {
    this.#link = o.link;
    this.#frames = o.frames;
    this.#addr = o.addr;
    this.#addr6 = o.addr6;
    this.#mtu = o.mtu;
    this.#tap = o.tap;
    this.#c = o.counters;
    this.#views = o.views;
    this.#ipId = o.ipId;
    // A super-segment can be as large as an IP packet can (64 KiB).
    const room = this.#frames ? 65535 : Math.max(this.#mtu, 576) + 64;
    this.#outFrame = new Uint8Array(VIRTIO_NET_HDR_LENGTH + room);
    this.#ipOut = this.#outFrame.subarray(VIRTIO_NET_HDR_LENGTH);
    this.payload4 = this.#outFrame.subarray(VIRTIO_NET_HDR_LENGTH + IPV4_HEADER_LENGTH);
    this.payload6 = this.#outFrame.subarray(VIRTIO_NET_HDR_LENGTH + IPV6_HEADER_LENGTH);
    if (this.#addr6) this.#ip6Fields.src = this.#addr6;
  }

  /**
   * A 64 KiB scratch buffer, made on first use: for a message larger than the link (an echo
   * reply to be fragmented, the quote of an ICMPv6 error).
   */
  get bigBuffer(): Uint8Array {
    return this.#bigOut ??= new Uint8Array(65535);
  }

  /**
   * Emits a TCP segment. On a frame link its checksum is left to the kernel (NEEDS_CSUM) and
   * a payload above `mss` goes as one super-segment the kernel cuts into `mss`-byte segments
   * (TSO): the state machine accounts for it as those segments.
   */
  transmitSegment(
    seg: TcpSegment,
    dst: number,
    dst6: Ipv6Address | null,
    ttl: number,
    tos: number,
    now: number,
    mss = 0,
  ): void {
    const frames = this.#frames;
    const ipHeader = dst6 === null ? IPV4_HEADER_LENGTH : IPV6_HEADER_LENGTH;
    const n = dst6 === null
      ? emitTcp(seg, this.#addr, dst, this.payload4, frames)
      : emitTcpWithAddressSum(seg, ipv6AddressSum(this.#addr6!, dst6), this.payload6, frames);
    if (frames) {
      const h = this.#vnetOut;
      h.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
      h.csumStart = ipHeader;
      h.csumOffset = TCP_CHECKSUM_OFFSET;
      h.hdrLen = ipHeader + n - seg.payload.length;
      if (mss > 0 && seg.payload.length > mss) {
        h.gsoType = dst6 === null ? VIRTIO_NET_HDR_GSO_TCPV4 : VIRTIO_NET_HDR_GSO_TCPV6;
        h.gsoSize = mss;
        this.#outSegments = Math.ceil(seg.payload.length / mss);
        this.#c.superSegmentsOut++;
      } else {
        h.gsoType = VIRTIO_NET_HDR_GSO_NONE;
        h.gsoSize = 0;
        this.#outSegments = 1;
      }
    }
    if (dst6 === null) this.sendIp(dst, IPPROTO_TCP, n, ttl, tos, now);
    else this.sendIp6(dst6, IPPROTO_TCP, n, ttl, tos, now);
  }

  /**
   * Sends the IPv4 packet whose payload is in `payload4` (RFC 791 §3.1: DF set, a fresh
   * Identification). `fragment`: the flags-and-offset field when this is a fragment, which
   * shares the Identification its caller drew for the first one.
   */
  sendIp(
    dst: number,
    protocol: number,
    payloadLength: number,
    ttl: number,
    tos: number,
    now: number,
    fragment = -1,
  ): void {
    const f = this.#ipFields;
    f.src = this.#addr;
    f.dst = dst;
    f.protocol = protocol;
    f.ttl = ttl;
    f.tos = tos;
    // A fragment shares the identification its first fragment's caller drew.
    f.id = fragment >= 0 ? this.#ipId : (this.#ipId = (this.#ipId + 1) & 0xffff);
    f.payloadLength = payloadLength;
    const ipLength = IPV4_HEADER_LENGTH + payloadLength;
    const b = this.#ipOut;
    emitIpv4(b, f);
    if (fragment >= 0) {
      // Flags (DF clear, MF as given) and offset, then the header checksum again.
      b[6] = fragment >>> 8;
      b[7] = fragment;
      fillIpv4Checksum(b, IPV4_HEADER_LENGTH);
    }
    this.#writeOut(ipLength, protocol === IPPROTO_TCP, now);
  }

  /**
   * Sends `data` as the payload of one IPv4 datagram cut into fragments that fit the MTU
   * (RFC 791 §3.2: every fragment but the last carries a multiple of 8 bytes, all share the
   * identification, More Fragments is set on all but the last). Only ICMP replies need this:
   * TCP sizes its segments to the path and sets DF.
   */
  sendFragments(dst: number, protocol: number, data: Uint8Array, now: number): void {
    const step = (this.#mtu - IPV4_HEADER_LENGTH) & ~7;
    this.#ipId = (this.#ipId + 1) & 0xffff;
    for (let off = 0; off < data.length; off += step) {
      const len = Math.min(step, data.length - off);
      this.payload4.set(data.subarray(off, off + len));
      const more = off + len < data.length ? IPV4_FLAG_MF << 13 : 0;
      this.sendIp(dst, protocol, len, 64, 0, now, more | (off >>> 3));
    }
  }

  /**
   * Sends the IPv6 packet whose payload is in `payload6` (RFC 8200 §3; flow label 0, RFC 6437
   * §3). `fragment`: the Fragment header's offset-and-M field, with `#fragId6`, when this is a
   * fragment (then the payload, after an 8-byte Fragment header, is in `payload6` at 8).
   */
  sendIp6(
    dst: Readonly<Ipv6Address>,
    nextHeader: number,
    payloadLength: number,
    hopLimit: number,
    trafficClass: number,
    now: number,
    fragment = -1,
  ): void {
    const f = this.#ip6Fields;
    f.dst = dst;
    f.hopLimit = hopLimit;
    f.trafficClass = trafficClass;
    const b = this.#ipOut;
    if (fragment >= 0) {
      // RFC 8200 §4.5: Next Header, reserved, offset and M, identification.
      f.nextHeader = IPPROTO_FRAGMENT;
      f.payloadLength = 8 + payloadLength;
      const t = this.payload6;
      t[0] = nextHeader;
      t[1] = 0;
      t[2] = fragment >>> 8;
      t[3] = fragment;
      writeU32(t, 4, this.#fragId6);
    } else {
      f.nextHeader = nextHeader;
      f.payloadLength = payloadLength;
    }
    emitIpv6(b, f);
    const tcp = nextHeader === IPPROTO_TCP && fragment < 0;
    if (!tcp) this.#outSegments = 1;
    this.#writeOut(IPV6_HEADER_LENGTH + f.payloadLength, tcp, now);
  }

  /**
   * Sends `data` as one IPv6 packet's payload in fragments that fit the MTU (RFC 8200 §4.5:
   * every fragment but the last carries a multiple of 8 bytes, all share the identification).
   * Only echo replies larger than the link need it.
   */
  sendFragments6(dst: Ipv6Address, nextHeader: number, data: Uint8Array, now: number): void {
    const step = (this.#mtu - IPV6_HEADER_LENGTH - 8) & ~7;
    this.#fragId6 = (this.#fragId6 + 1) >>> 0;
    for (let off = 0; off < data.length; off += step) {
      const len = Math.min(step, data.length - off);
      this.payload6.set(data.subarray(off, off + len), 8);
      const more = off + len < data.length ? 1 : 0;
      this.sendIp6(dst, nextHeader, len, 64, 0, now, off | more);
    }
  }

  /**
   * Writes the IP packet of `ipLength` bytes at `#ipOut` to the link (behind the virtio-net
   * header of `#vnetOut` on a frame link; reset unless `tcp`), through the tap.
   */
  #writeOut(ipLength: number, tcp: boolean, now: number): void {
    this.#c.packetsOut++;
    const segments = this.#outSegments;
    this.#outSegments = 1;
    if (this.#tap) {
      let packet = this.#ipOut.subarray(0, ipLength);
      if (this.#frames && tcp) {
        // The capture shows a complete checksum where the kernel will compute one.
        packet = packet.slice();
        completeVirtioChecksum(packet, ipLength, this.#vnetOut);
      }
      this.#tap("out", packet, now, segments);
    }
    if (this.#frames) {
      if (!tcp) resetVirtioNetHdr(this.#vnetOut);
      emitVirtioNetHdr(this.#outFrame, this.#vnetOut);
      this.#link.writeFrame!(this.#outFrame, VIRTIO_NET_HDR_LENGTH + ipLength);
    } else {
      this.#link.write(this.#views.get(this.#ipOut, 0, ipLength));
    }
  }
}
