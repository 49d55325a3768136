/**
 * Builds IPv4/TCP and IPv6/TCP packets for CLI tests with the wire codecs. Used only by tests.
 * @module
 */

import { emitIpv4, IPPROTO_TCP, parseIpv4Address } from "../wire/ipv4.ts";
import { emitIpv6, ipv6AddressSum } from "../wire/ipv6.ts";
import { parseIpv6Address } from "../wire/ipv6_address.ts";
import {
  emitTcp,
  emitTcpWithAddressSum,
  newTcpSegment,
  tcpHeaderLength,
  type TcpSegment,
} from "../wire/tcp.ts";

/** Fields of a test segment; unset ones are zero / absent. */
export interface TestSegment {
  src: string;
  dst: string;
  srcPort: number;
  dstPort: number;
  flags: number;
  seq?: number;
  ack?: number;
  window?: number;
  payload?: string;
  options?: Partial<TcpSegment["options"]>;
}

/**
 * A whole IP packet carrying the segment, checksums filled: IPv6 (no extension headers)
 * when the addresses are IPv6 text, else IPv4.
 */
export function tcpPacket(t: TestSegment): Uint8Array {
  const seg = newTcpSegment();
  seg.srcPort = t.srcPort;
  seg.dstPort = t.dstPort;
  seg.flags = t.flags;
  seg.seq = t.seq ?? 0;
  seg.ack = t.ack ?? 0;
  seg.window = t.window ?? 0;
  seg.payload = new TextEncoder().encode(t.payload ?? "");
  Object.assign(seg.options, t.options ?? {});
  const tcpLength = tcpHeaderLength(seg.options) + seg.payload.length;
  if (t.src.includes(":")) {
    const src6 = parseIpv6Address(t.src)!;
    const dst6 = parseIpv6Address(t.dst)!;
    const packet = new Uint8Array(40 + tcpLength);
    emitIpv6(packet, {
      src: src6,
      dst: dst6,
      nextHeader: IPPROTO_TCP,
      hopLimit: 64,
      payloadLength: tcpLength,
    });
    // RFC 8200 §8.1: the TCP checksum covers the IPv6 pseudo-header.
    emitTcpWithAddressSum(seg, ipv6AddressSum(src6, dst6), packet.subarray(40));
    return packet;
  }
  const src = parseIpv4Address(t.src)!;
  const dst = parseIpv4Address(t.dst)!;
  const packet = new Uint8Array(20 + tcpLength);
  emitIpv4(packet, { src, dst, protocol: IPPROTO_TCP, ttl: 64, id: 1, payloadLength: tcpLength });
  emitTcp(seg, src, dst, packet.subarray(20));
  return packet;
}
