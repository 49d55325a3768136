/**
 * IPv4 input (RFC 791, RFC 1122 §3.2.1): the header validated (length, checksum), packets not
 * for our address and sources no peer can have dropped (RFC 1122 §3.2.1.3, RFC 9293 MUST-57 and
 * MUST-63), fragments reassembled (RFC 791 §3.2, RFC 815, bounded by `./reassembly.ts`), then
 * the datagram's TCP segment parsed against the pseudo-header (RFC 9293 §3.1) and handed to the
 * transport, or its ICMP message to `./icmpv4.ts`.
 * @module
 */

import { writeU16 } from "../wire/bytes.ts";
import {
  fillIpv4Checksum,
  IPPROTO_ICMP,
  IPPROTO_TCP,
  IPV4_FLAG_MF,
  Ipv4ParseError,
  isUnicastAddress,
  newIpv4Header,
  parseIpv4,
} from "../wire/ipv4.ts";
import { newTcpSegment, parseTcp, TcpParseError } from "../wire/tcp.ts";
import type { IpCounters } from "./counters.ts";
import type { Icmpv4Handler } from "./icmpv4.ts";
import { type FragmentKey, type FragmentReassembler, FragmentVerdict } from "./reassembly.ts";
import type { IpTransport } from "./transport.ts";

/** The counters IPv4 input keeps. */
type Ipv4InputCounters = Pick<
  IpCounters,
  | "notIpv4"
  | "badIp"
  | "notForUs"
  | "badSourceAddress"
  | "fragments"
  | "otherProtocol"
  | "badTcp"
  | "badTcpChecksum"
>;

/**
 * IPv4 packets in, for one address.
 *
 * @example
 * ```ts
 * import { Ipv4Input } from "./ipv4_input.ts";
 * import { FragmentKey, FragmentReassembler } from "./reassembly.ts";
 * import type { Icmpv4Handler } from "./icmpv4.ts";
 * const c = { notIpv4: 0, badIp: 0, notForUs: 0, badSourceAddress: 0, fragments: 0,
 *   otherProtocol: 0, badTcp: 0, badTcpChecksum: 0 };
 * const icmp = { input() {} } as unknown as Icmpv4Handler;
 * const v4 = new Ipv4Input(0x0a000001, c, new FragmentReassembler(), new FragmentKey(), icmp,
 *   { tcpInput() {}, icmpError() {} });
 * v4.input(new Uint8Array(20), 20, false, 1, 0); // version 0: not IPv4
 * console.log(c.notIpv4); // 1
 * ```
 */
export class Ipv4Input {
  readonly #addr: number;
  readonly #c: Ipv4InputCounters;
  readonly #frag: FragmentReassembler;
  readonly #fragKey: FragmentKey;
  readonly #icmp: Icmpv4Handler;
  readonly #transport: IpTransport;
  readonly #ip = newIpv4Header();
  readonly #seg = newTcpSegment();

  /**
   * For our address `addr`: counts into `counters`, reassembles with `frag` (filling the one
   * reused `fragKey`), hands ICMP to `icmp` and TCP to `transport`.
   */
  constructor(
    addr: number,
    counters: Ipv4InputCounters,
    frag: FragmentReassembler,
    fragKey: FragmentKey,
    icmp: Icmpv4Handler,
    transport: IpTransport,
  ) {
    this.#addr = addr;
    this.#c = counters;
    this.#frag = frag;
    this.#fragKey = fragKey;
    this.#icmp = icmp;
    this.#transport = transport;
  }

  /**
   * The IPv4 packet `packet[0..length)`. `trust`: its TCP checksum needs no check (a frame
   * link checked it or left it partial); `segments`: how many TCP segments it stands for.
   */
  input(packet: Uint8Array, length: number, trust: boolean, segments: number, now: number): void {
    const c = this.#c;
    const ip = this.#ip;
    const err = parseIpv4(packet, length, ip);
    if (err !== Ipv4ParseError.None && err !== Ipv4ParseError.Fragment) {
      if (err === Ipv4ParseError.BadVersion) c.notIpv4++;
      else c.badIp++;
      return;
    }
    if (ip.dst !== this.#addr) {
      c.notForUs++; // broadcast and multicast destinations included (MUST-57)
      return;
    }
    if (!isUnicastAddress(ip.src) || ip.src === this.#addr) {
      c.badSourceAddress++; // RFC 1122 §3.2.1.3, MUST-63: never answered
      return;
    }
    if (err === Ipv4ParseError.Fragment) {
      c.fragments++;
      this.#fragment(packet, now);
      return;
    }
    this.#datagram(packet, trust, segments, now);
  }

  /**
   * An IPv4 fragment for us (RFC 791 §3.2): held until its datagram is whole (RFC 815), within
   * the bounds of `StackLimits.reassembly`; the whole datagram then goes on as if it had
   * arrived in one piece. Its checksum is verified then, whatever the frame header said.
   */
  #fragment(packet: Uint8Array, now: number): void {
    const ip = this.#ip;
    const key = this.#fragKey.setV4(ip.src, ip.dst, ip.id, ip.protocol);
    const offset = ip.fragOffset * 8;
    const more = (ip.flags & IPV4_FLAG_MF) !== 0;
    const payload = packet.subarray(ip.ihl, ip.totalLength);
    const header = offset === 0 ? packet.subarray(0, ip.ihl) : undefined;
    if (this.#frag.insert(key, offset, more, payload, now, header) !== FragmentVerdict.Complete) {
      return;
    }
    const d = this.#frag.completed;
    const b = d.bytes;
    const total = d.headerLength + d.payloadLength;
    // The header of the first fragment now describes the whole datagram.
    writeU16(b, 2, total);
    writeU16(b, 6, 0); // flags and fragment offset
    fillIpv4Checksum(b, d.headerLength);
    if (parseIpv4(b, total, ip) !== Ipv4ParseError.None) {
      this.#c.badIp++; // cannot happen: the header was valid and is now unfragmented
      return;
    }
    this.#datagram(b.subarray(0, total), false, 1, now);
  }

  /** A whole IPv4 datagram for us, its header parsed into `#ip`. */
  #datagram(packet: Uint8Array, trust: boolean, segments: number, now: number): void {
    const ip = this.#ip;
    if (ip.protocol === IPPROTO_TCP) {
      // The TCP segment in `packet[ihl..totalLength)`.
      const seg = this.#seg;
      const err = parseTcp(packet, ip.src, this.#addr, seg, !trust, ip.ihl, ip.totalLength);
      if (err !== TcpParseError.None) {
        if (err === TcpParseError.BadChecksum) this.#c.badTcpChecksum++;
        else this.#c.badTcp++;
        return;
      }
      this.#transport.tcpInput(seg, ip.src, null, segments, now);
    } else if (ip.protocol === IPPROTO_ICMP) {
      this.#icmp.input(packet.subarray(ip.ihl, ip.totalLength), ip.src, now);
    } else {
      this.#c.otherProtocol++;
    }
  }
}
