/**
 * The IP layer of a stack, between the link and TCP: frames from a frame link (the virtio-net
 * header of virtio 1.2 §5.1.6: partial or already checked checksums, GSO super-segments), the
 * version dispatch to IPv4 (`./ipv4_input.ts`, RFC 791) and IPv6 (`./ipv6_input.ts`, RFC 8200),
 * fragment reassembly with its timeouts (`./reassembly.ts`; RFC 792 and RFC 8200 §4.5 Time
 * Exceeded when an incomplete datagram expires), ICMP and ICMPv6 (`./icmpv4.ts`,
 * `./icmpv6.ts`) and packet output (`./output.ts`). It hands TCP segments and the ICMP errors
 * that quote them to an {@link IpTransport}. Pure: time comes in as `now`.
 * @module
 */

import type { TupleHasher } from "../tcp/isn.ts";
import type { TokenBucket } from "../tcp/rate_limit.ts";
import { IPPROTO_TCP } from "../wire/ipv4.ts";
import type { Ipv6Address } from "../wire/ipv6_address.ts";
import {
  completeVirtioChecksum,
  newVirtioNetHdr,
  parseVirtioNetHdr,
  VIRTIO_NET_HDR_LENGTH,
  virtioChecksumTrusted,
  VirtioParseError,
  virtioSegmentCount,
} from "../wire/virtio.ts";
import type { ViewCache } from "../wire/views.ts";
import type { IpCounters } from "./counters.ts";
import { Icmpv4Handler } from "./icmpv4.ts";
import { Icmpv6Handler } from "./icmpv6.ts";
import { Ipv4Input } from "./ipv4_input.ts";
import { Ipv6Input } from "./ipv6_input.ts";
import { IpOutput, type PacketSink, type PacketTap } from "./output.ts";
import {
  type ExpiredDatagram,
  FragmentKey,
  FragmentReassembler,
  type ReassemblyOptions,
} from "./reassembly.ts";
import { type IpTransport, Ipv6PeerKeys } from "./transport.ts";

/** What an {@link IpLayer} is made with. */
export interface IpLayerOptions {
  /** Our IPv4 address (uint32). */
  addr: number;
  /** Our IPv6 address, or null: IPv6 packets are then counted (`notIpv4`) and dropped. */
  addr6: Ipv6Address | null;
  /** The link's MTU. */
  mtu: number;
  /** Where packets go. */
  link: PacketSink;
  /** The link carries virtio-net headers: frames in and out, offloads allowed. */
  frames: boolean;
  /** The first IPv4 Identification (random, drawn by the caller). */
  ipId: number;
  /** Sees every packet read or written, or undefined. */
  tap: PacketTap | undefined;
  /** Counted into (the stack's counters; `reassembly` is set here). */
  counters: IpCounters;
  /** Reused views of the input and output buffers. */
  views: ViewCache;
  /** Where TCP segments and the ICMP errors about them go. */
  transport: IpTransport;
  /** The rate limit of every ICMP and ICMPv6 message we send (echo replies and errors). */
  icmpBucket: TokenBucket;
  /** Keys IPv6 peers into numbers (the transport's hasher: see `TupleHasher.addressKey6`). */
  peerKeys: TupleHasher;
  /** Bounds of fragment reassembly, with its secret hash key. */
  reassembly: ReassemblyOptions;
}

/**
 * Packets in from the link, up to the transport; packets out through {@link IpLayer.output}.
 *
 * @example
 * ```ts
 * import { IpLayer } from "./layer.ts";
 * import { TokenBucket } from "../tcp/rate_limit.ts";
 * import { TupleHasher } from "../tcp/isn.ts";
 * import { ViewCache } from "../wire/views.ts";
 * import type { IpCounters } from "./counters.ts";
 * const counters = { packetsIn: 0, notIpv4: 0 } as IpCounters;
 * const ip = new IpLayer({
 *   addr: 0x0a000001, addr6: null, mtu: 1500, link: { write() {} }, frames: false, ipId: 1,
 *   tap: undefined, counters, views: new ViewCache(), transport: { tcpInput() {}, icmpError() {} },
 *   icmpBucket: new TokenBucket(10, 10), peerKeys: new TupleHasher(new Uint8Array(16)),
 *   reassembly: {},
 * });
 * ip.input(new Uint8Array([0x60, 0, 0, 0]), 0); // IPv6, which is off
 * console.log(counters.packetsIn, counters.notIpv4); // 1 1
 * ```
 */
export class IpLayer {
  /** Packet output: IP headers, fragments, virtio-net headers, the tap, the link. */
  readonly output: IpOutput;
  readonly #c: IpCounters;
  readonly #tap: PacketTap | undefined;
  readonly #views: ViewCache;
  readonly #vnetIn = newVirtioNetHdr();
  readonly #v4: Ipv4Input;
  /** IPv6 input, or null when IPv6 is off. */
  readonly #v6: Ipv6Input | null;
  readonly #icmp: Icmpv4Handler;
  readonly #icmp6: Icmpv6Handler;
  readonly #icmpBucket: TokenBucket;
  /** IP fragment reassembly (RFC 791 §3.2, RFC 815, RFC 8200 §4.5). */
  readonly #frag: FragmentReassembler;
  /** `now` of the poll that expires datagrams, for its callback. */
  #pollNow = 0;

  /** Makes the layer; see {@link IpLayerOptions}. */
  constructor(o: IpLayerOptions) {
    const c = o.counters;
    this.#c = c;
    this.#tap = o.tap;
    this.#views = o.views;
    this.#icmpBucket = o.icmpBucket;
    this.output = new IpOutput({
      link: o.link,
      frames: o.frames,
      addr: o.addr,
      addr6: o.addr6,
      mtu: o.mtu,
      ipId: o.ipId,
      tap: o.tap,
      counters: c,
      views: o.views,
    });
    this.#frag = new FragmentReassembler(o.reassembly);
    c.reassembly = this.#frag.counters;
    const fragKey = new FragmentKey();
    const peers = new Ipv6PeerKeys(o.peerKeys);
    this.#icmp = new Icmpv4Handler(o.addr, o.mtu, c, this.output, o.icmpBucket, o.transport);
    this.#icmp6 = new Icmpv6Handler(
      o.addr6,
      o.mtu,
      c,
      this.output,
      o.icmpBucket,
      o.transport,
      peers,
    );
    this.#v4 = new Ipv4Input(o.addr, c, this.#frag, fragKey, this.#icmp, o.transport);
    this.#v6 = o.addr6 === null
      ? null
      : new Ipv6Input(o.addr6, c, this.#frag, fragKey, this.#icmp6, o.transport, peers);
  }

  /**
   * Processes one frame read from a frame link (`Link.readFrame`): a virtio-net header, then
   * an IP packet, maybe a TCP super-segment or with a partial checksum. Never throws on bad
   * input: a header that does not fit its packet is counted and dropped.
   */
  inputFrame(frame: Uint8Array, length: number, now: number): void {
    const hdr = this.#vnetIn;
    const err = parseVirtioNetHdr(frame, length, hdr);
    if (err !== VirtioParseError.None) {
      this.#c.packetsIn++;
      this.#c.badVirtioHeader++;
      return;
    }
    // Checksum offload: a partial (NEEDS_CSUM) or already checked (DATA_VALID) checksum is
    // not verified again (it is no checksum yet, or the kernel checked it).
    const trust = virtioChecksumTrusted(hdr);
    const segments = virtioSegmentCount(
      hdr,
      tcpPayloadLength(frame, VIRTIO_NET_HDR_LENGTH, length),
    );
    if (segments > 1) this.#c.superSegmentsIn++;
    // The packet after the header, as a view the next frame in the same buffer reuses.
    const packet = this.#views.get(frame, VIRTIO_NET_HDR_LENGTH, frame.length);
    const packetLength = length - VIRTIO_NET_HDR_LENGTH;
    // The capture shows a complete checksum where the kernel left a partial one (in place:
    // the checksum is not verified any more).
    if (this.#tap) completeVirtioChecksum(packet, packetLength, hdr);
    this.#input(packet, packetLength, trust, segments, now);
  }

  /**
   * Processes one IP packet read from the link: `packet[0..length)` (by default all of it; a
   * driver passes its one receive buffer and the length read). Never throws on bad input.
   */
  input(packet: Uint8Array, now: number, length: number = packet.length): void {
    this.#input(packet, length, false, 1, now);
  }

  /** `trust`: the TCP checksum needs no check; `segments`: the TCP segments it stands for. */
  #input(
    packet: Uint8Array,
    length: number,
    trust: boolean,
    segments: number,
    now: number,
  ): void {
    const c = this.#c;
    c.packetsIn++;
    if (this.#tap) this.#tap("in", packet.subarray(0, length), now, segments);
    if (length > 0 && packet[0] >>> 4 === 6) {
      if (this.#v6 === null) {
        c.notIpv4++;
        return;
      }
      // The packet as a view the next one of the same length in the same buffer reuses.
      const p = length === packet.length ? packet : this.#views.get(packet, 0, length);
      this.#v6.input(p, trust, segments, now);
      return;
    }
    this.#v4.input(packet, length, trust, segments, now);
  }

  /** Expires incomplete datagrams whose lifetime ended (see `#onFragmentsExpired`). */
  poll(now: number): void {
    if (this.#frag.nextDeadline() <= now) {
      this.#pollNow = now;
      this.#frag.poll(now, this.#onFragmentsExpired);
    }
  }

  /** The earliest instant an incomplete datagram expires (absolute ms), or Infinity. */
  nextDeadline(): number {
    return this.#frag.nextDeadline();
  }

  /**
   * An incomplete datagram's lifetime ended: if its first fragment arrived, its source hears
   * ICMP Time Exceeded, "fragment reassembly time exceeded" (RFC 792; RFC 1122 §3.3.2 SHOULD;
   * RFC 8200 §4.5), rate-limited like every ICMP reply. Made once: no closure per poll.
   */
  readonly #onFragmentsExpired = (d: Readonly<ExpiredDatagram>): void => {
    if (!d.firstFragmentReceived || !this.#icmpBucket.take(this.#pollNow)) return;
    if (d.key.family === 6) this.#icmp6.reassemblyTimeExceeded(d, this.#pollNow);
    else this.#icmp.reassemblyTimeExceeded(d, this.#pollNow);
  };
}

/**
 * The TCP payload length of the IP packet at `p[start..end)`, read from its headers (IPv4 or
 * IPv6 without extension headers); 0 when it is no such TCP packet. A super-segment stands for
 * as many segments as its payload, not its headers, fills MSS-sized pieces.
 */
function tcpPayloadLength(p: Uint8Array, start: number, end: number): number {
  const v = p[start] >>> 4;
  let ipLen: number;
  let ipHeader: number;
  if (v === 4 && end - start >= 20 && p[start + 9] === IPPROTO_TCP) {
    ipHeader = (p[start] & 0x0f) << 2;
    ipLen = Math.min(end - start, (p[start + 2] << 8) | p[start + 3]);
  } else if (v === 6 && end - start >= 40 && p[start + 6] === IPPROTO_TCP) {
    ipHeader = 40;
    ipLen = Math.min(end - start, 40 + ((p[start + 4] << 8) | p[start + 5]));
  } else {
    return 0;
  }
  if (ipLen < ipHeader + 20) return 0;
  const tcpHeader = (p[start + ipHeader + 12] >>> 4) << 2;
  return Math.max(0, ipLen - ipHeader - tcpHeader);
}
