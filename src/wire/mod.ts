/**
 * Wire codecs: the Internet checksum, IPv4, TCP and ICMP headers and the virtio-net header of
 * offloading TUN devices, as parsers that fill reused objects and emitters that write into
 * caller-owned buffers.
 *
 * @example
 * ```ts
 * import { emitIpv4, emitTcp, IPPROTO_TCP, newTcpSegment, SYN, tcpHeaderLength } from "./mod.ts";
 * const seg = newTcpSegment();
 * seg.srcPort = 40000;
 * seg.dstPort = 80;
 * seg.flags = SYN;
 * seg.options.mss = 1460;
 * const packet = new Uint8Array(20 + tcpHeaderLength(seg.options));
 * const tcpLength = emitTcp(seg, 0x0a000002, 0x0a000001, packet.subarray(20));
 * emitIpv4(packet, { src: 0x0a000002, dst: 0x0a000001, protocol: IPPROTO_TCP, ttl: 64, id: 0, payloadLength: tcpLength });
 * ```
 * @module
 */

export { checksumAdd, checksumFinish, internetChecksum, pseudoHeaderSum } from "./checksum.ts";
export {
  emitIpv4,
  formatIpv4Address,
  IPPROTO_ICMP,
  IPPROTO_TCP,
  IPPROTO_UDP,
  IPV4_FLAG_DF,
  IPV4_FLAG_MF,
  IPV4_HEADER_LENGTH,
  Ipv4ParseError,
  newIpv4Header,
  parseIpv4,
  parseIpv4Address,
} from "./ipv4.ts";
export type { Ipv4EmitFields, Ipv4Header } from "./ipv4.ts";
export {
  ACK,
  CWR,
  ECE,
  emitTcp,
  FIN,
  newTcpOptions,
  newTcpSegment,
  parseTcp,
  PSH,
  resetTcpOptions,
  RST,
  SYN,
  TCP_HEADER_LENGTH,
  TCP_MAX_OPTIONS_LENGTH,
  tcpHeaderLength,
  TcpParseError,
  URG,
} from "./tcp.ts";
export type { TcpOptions, TcpSegment } from "./tcp.ts";
export {
  emitIcmpDestUnreachable,
  emitIcmpEchoReply,
  ICMP_DEST_UNREACHABLE,
  ICMP_ECHO_REPLY,
  ICMP_ECHO_REQUEST,
  ICMP_HEADER_LENGTH,
  ICMP_UNREACH_FRAG_NEEDED,
  ICMP_UNREACH_PORT,
  ICMP_UNREACH_PROTOCOL,
  IcmpParseError,
  newIcmpMessage,
  parseIcmp,
} from "./icmp.ts";
export type { IcmpMessage } from "./icmp.ts";
export {
  completeVirtioChecksum,
  emitVirtioNetHdr,
  newVirtioNetHdr,
  parseVirtioNetHdr,
  prepareTcpOffload,
  resetVirtioNetHdr,
  TCP_CHECKSUM_OFFSET,
  TcpOffloadError,
  VIRTIO_NET_HDR_F_DATA_VALID,
  VIRTIO_NET_HDR_F_NEEDS_CSUM,
  VIRTIO_NET_HDR_GSO_ECN,
  VIRTIO_NET_HDR_GSO_NONE,
  VIRTIO_NET_HDR_GSO_TCPV4,
  VIRTIO_NET_HDR_GSO_TCPV6,
  VIRTIO_NET_HDR_GSO_UDP,
  VIRTIO_NET_HDR_GSO_UDP_L4,
  VIRTIO_NET_HDR_LENGTH,
  virtioChecksumTrusted,
  virtioGsoSize,
  VirtioParseError,
  virtioSegmentCount,
} from "./virtio.ts";
export type { VirtioNetHdr } from "./virtio.ts";
