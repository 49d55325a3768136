/**
 * Builds IPv4/TCP packets for CLI tests with the wire codecs. Used only by tests.
 * @module
 */

import { emitIpv4, IPPROTO_TCP, parseIpv4Address } from "../wire/ipv4.ts";
import { emitTcp, newTcpSegment, tcpHeaderLength, type TcpSegment } from "../wire/tcp.ts";

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

/** A whole IPv4 packet carrying the segment, checksums filled. */
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
  const src = parseIpv4Address(t.src)!;
  const dst = parseIpv4Address(t.dst)!;
  const tcpLength = tcpHeaderLength(seg.options) + seg.payload.length;
  const packet = new Uint8Array(20 + tcpLength);
  emitIpv4(packet, { src, dst, protocol: IPPROTO_TCP, ttl: 64, id: 1, payloadLength: tcpLength });
  emitTcp(seg, src, dst, packet.subarray(20));
  return packet;
}
