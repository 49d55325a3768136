/**
 * IPv6 input (RFC 8200): the fixed header validated (§3), packets not for our address and
 * sources no peer can have dropped (RFC 4291, RFC 9293 MUST-63; neighbour discovery to
 * multicast groups ignored on a point-to-point link), extension headers walked (§4: an
 * unrecognized header or option whose action bits ask for it draws a Parameter Problem),
 * fragments reassembled (§4.5, with the bounds of `./reassembly.ts`; too long a datagram draws
 * Parameter Problem code 0), then the TCP segment parsed against the IPv6 pseudo-header
 * (§8.1) and handed to the transport, or the ICMPv6 message to `./icmpv6.ts`. An unrecognized
 * Next Header draws Parameter Problem code 1 (§4), UDP excepted.
 * @module
 */

import { IPPROTO_TCP, IPPROTO_UDP } from "../wire/ipv4.ts";
import {
  IPPROTO_ICMPV6,
  IPV6_HEADER_LENGTH,
  ipv6AddressSum,
  Ipv6ExtError,
  Ipv6ParseError,
  newIpv6Extensions,
  newIpv6Header,
  parseIpv6,
  walkIpv6Extensions,
} from "../wire/ipv6.ts";
import { ICMPV6_PARAMETER_PROBLEM } from "../wire/icmpv6.ts";
import { type Ipv6Address, ipv6Equals, isIpv6UnicastAddress } from "../wire/ipv6_address.ts";
import { newTcpSegment, parseTcpWithAddressSum, TcpParseError } from "../wire/tcp.ts";
import type { IpCounters } from "./counters.ts";
import type { Icmpv6Handler } from "./icmpv6.ts";
import { type FragmentKey, type FragmentReassembler, FragmentVerdict } from "./reassembly.ts";
import type { IpTransport, Ipv6PeerKeys } from "./transport.ts";

/** The counters IPv6 input keeps. */
type Ipv6InputCounters = Pick<
  IpCounters,
  | "ipv6PacketsIn"
  | "badIpv6"
  | "notForUs"
  | "ndIgnored"
  | "badSourceAddress"
  | "ipv6ExtensionDrops"
  | "fragments"
  | "otherProtocol"
  | "badTcp"
  | "badTcpChecksum"
>;

/**
 * IPv6 packets in, for one address.
 *
 * @example
 * ```ts
 * import { Ipv6Input } from "./ipv6_input.ts";
 * import { FragmentKey, FragmentReassembler } from "./reassembly.ts";
 * import { Ipv6PeerKeys } from "./transport.ts";
 * import type { Icmpv6Handler } from "./icmpv6.ts";
 * import { TupleHasher } from "../tcp/isn.ts";
 * import { parseIpv6Address } from "../wire/ipv6_address.ts";
 * const c = { ipv6PacketsIn: 0, badIpv6: 0, notForUs: 0, ndIgnored: 0, badSourceAddress: 0,
 *   ipv6ExtensionDrops: 0, fragments: 0, otherProtocol: 0, badTcp: 0, badTcpChecksum: 0 };
 * const v6 = new Ipv6Input(parseIpv6Address("fd00::1")!, c, new FragmentReassembler(),
 *   new FragmentKey(), {} as Icmpv6Handler, { tcpInput() {}, icmpError() {} },
 *   new Ipv6PeerKeys(new TupleHasher(new Uint8Array(16))));
 * v6.input(new Uint8Array(40), false, 1, 0); // version 0
 * console.log(c.badIpv6); // 1
 * ```
 */
export class Ipv6Input {
  readonly #addr6: Ipv6Address;
  readonly #c: Ipv6InputCounters;
  readonly #frag: FragmentReassembler;
  readonly #fragKey: FragmentKey;
  readonly #icmp6: Icmpv6Handler;
  readonly #transport: IpTransport;
  readonly #peers: Ipv6PeerKeys;
  readonly #ip6 = newIpv6Header();
  readonly #ext6 = newIpv6Extensions();
  readonly #seg = newTcpSegment();

  /**
   * For our address `addr6`: counts into `counters`, reassembles with `frag` (filling the one
   * reused `fragKey`), hands ICMPv6 to `icmp6` and TCP to `transport`, keys peers with `peers`.
   */
  constructor(
    addr6: Ipv6Address,
    counters: Ipv6InputCounters,
    frag: FragmentReassembler,
    fragKey: FragmentKey,
    icmp6: Icmpv6Handler,
    transport: IpTransport,
    peers: Ipv6PeerKeys,
  ) {
    this.#addr6 = addr6;
    this.#c = counters;
    this.#frag = frag;
    this.#fragKey = fragKey;
    this.#icmp6 = icmp6;
    this.#transport = transport;
    this.#peers = peers;
  }

  /**
   * An IPv6 packet: the fixed header, then the extension headers walked per RFC 8200 §4 (an
   * unrecognized one or an option whose action bits say so draws a rate-limited Parameter
   * Problem), fragments reassembled with the IPv4 bounds, then TCP or ICMPv6. `trust`: its TCP
   * checksum needs no check; `segments`: how many TCP segments it stands for.
   */
  input(packet: Uint8Array, trust: boolean, segments: number, now: number): void {
    const c = this.#c;
    const a6 = this.#addr6;
    const ip = this.#ip6;
    c.ipv6PacketsIn++;
    if (parseIpv6(packet, packet.length, ip) !== Ipv6ParseError.None) {
      c.badIpv6++;
      return;
    }
    if (!ipv6Equals(ip.dst, a6)) {
      // Neighbour discovery and router messages go to multicast groups: on a point-to-point
      // TUN link they mean nothing to us, and are ignored without harm.
      if (ip.dst.w0 >>> 24 === 0xff && ip.nextHeader === IPPROTO_ICMPV6) c.ndIgnored++;
      else c.notForUs++;
      return;
    }
    if (!isIpv6UnicastAddress(ip.src) || ipv6Equals(ip.src, a6)) {
      c.badSourceAddress++; // RFC 9293 MUST-63, RFC 4291: never answered
      return;
    }
    const ext = this.#ext6;
    if (walkIpv6Extensions(packet, ip, ext) !== Ipv6ExtError.None) {
      c.ipv6ExtensionDrops++;
      if (ext.icmpCode >= 0) {
        this.#icmp6.errorOut(
          packet,
          ip,
          ICMPV6_PARAMETER_PROBLEM,
          ext.icmpCode,
          ext.icmpPointer,
          now,
        );
      }
      return;
    }
    if (ext.fragment) {
      c.fragments++;
      this.#fragment(packet, now);
      return;
    }
    this.#datagram(packet, trust, segments, now);
  }

  /**
   * An IPv6 fragment (RFC 8200 §4.5): reassembled with the same bounds as IPv4's. The header
   * kept is the first fragment's fixed header and unfragmentable part; once whole, its
   * Payload Length and the Next Header that named the Fragment header are patched, and the
   * packet is walked again as if it had arrived in one piece (its checksum verified then).
   */
  #fragment(packet: Uint8Array, now: number): void {
    const ext = this.#ext6;
    const key = this.#fragKey.setV6(packet, 8, packet, 24, ext.fragmentId, ext.fragmentNextHeader);
    const first = ext.fragmentOffset === 0;
    const v = this.#frag.insert(
      key,
      ext.fragmentOffset,
      ext.moreFragments,
      packet.subarray(ext.fragmentHeaderOffset + 8, ext.end),
      now,
      first ? packet.subarray(0, ext.fragmentHeaderOffset) : undefined,
      ext.fragmentLinkOffset,
    );
    if (v === FragmentVerdict.TooBig) {
      // RFC 8200 §4.5: Parameter Problem code 0 pointing at the Fragment Offset field.
      const pointer = ext.fragmentHeaderOffset + 2;
      this.#icmp6.errorOut(packet, this.#ip6, ICMPV6_PARAMETER_PROBLEM, 0, pointer, now);
      return;
    }
    if (v !== FragmentVerdict.Complete) return;
    const d = this.#frag.completed;
    const b = d.bytes;
    const total = d.headerLength + d.payloadLength;
    b[4] = (total - IPV6_HEADER_LENGTH) >>> 8;
    b[5] = total - IPV6_HEADER_LENGTH;
    b[d.headerMark] = d.protocol;
    const ip = this.#ip6;
    const whole = b.subarray(0, total);
    if (
      parseIpv6(whole, total, ip) !== Ipv6ParseError.None ||
      walkIpv6Extensions(whole, ip, ext) !== Ipv6ExtError.None || ext.fragment
    ) {
      this.#c.ipv6ExtensionDrops++; // a reassembled packet whose chain is bad, or fragmented again
      return;
    }
    this.#datagram(whole, false, 1, now);
  }

  /** A whole IPv6 packet for us, parsed into `#ip6` and walked into `#ext6`. */
  #datagram(packet: Uint8Array, trust: boolean, segments: number, now: number): void {
    const ext = this.#ext6;
    if (ext.protocol === IPPROTO_TCP) {
      // The TCP segment in `packet[offset..end)`, parsed in place (no view per packet).
      const ip = this.#ip6;
      const seg = this.#seg;
      const sum = ipv6AddressSum(ip.src, ip.dst);
      const err = parseTcpWithAddressSum(packet, sum, seg, !trust, ext.offset, ext.end);
      if (err !== TcpParseError.None) {
        if (err === TcpParseError.BadChecksum) this.#c.badTcpChecksum++;
        else this.#c.badTcp++;
        return;
      }
      this.#transport.tcpInput(seg, this.#peers.key(ip.src), ip.src, segments, now);
    } else if (ext.protocol === IPPROTO_ICMPV6) {
      this.#icmp6.input(packet.subarray(ext.offset, ext.end), this.#ip6, now);
    } else {
      this.#c.otherProtocol++;
      // RFC 8200 §4: an unrecognized Next Header draws Parameter Problem code 1. UDP is known
      // (and a closed UDP port is no parameter problem): it is dropped in silence.
      if (ext.protocol !== IPPROTO_UDP) {
        const pointer = ext.nextHeaderOffset;
        this.#icmp6.errorOut(packet, this.#ip6, ICMPV6_PARAMETER_PROBLEM, 1, pointer, now);
      }
    }
  }
}
