/**
 * Wire codecs: the Internet checksum, IPv4 and IPv6 (with its extension headers and
 * addresses), TCP, ICMP and ICMPv6 headers and the virtio-net header of offloading TUN devices,
 * as parsers that fill reused objects and emitters that write into caller-owned buffers, and
 * the big-endian field reads and writes they share.
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

export { readU16, readU32, writeU16, writeU32 } from "./bytes.ts";
export {
  checksumAdd,
  checksumFinish,
  internetChecksum,
  ipv4AddressSum,
  pseudoHeaderSum,
} from "./checksum.ts";
export {
  emitIpv4,
  fillIpv4Checksum,
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
  emitTcpWithAddressSum,
  FIN,
  newTcpOptions,
  newTcpSegment,
  parseTcp,
  parseTcpWithAddressSum,
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
  ICMP_PARAM_POINTER,
  ICMP_PARAMETER_PROBLEM,
  ICMP_SOURCE_QUENCH,
  ICMP_TIME_EXCEEDED,
  ICMP_TIME_REASSEMBLY,
  ICMP_TIME_TTL,
  ICMP_UNREACH_ADMIN,
  ICMP_UNREACH_FRAG_NEEDED,
  ICMP_UNREACH_HOST,
  ICMP_UNREACH_NET,
  ICMP_UNREACH_PORT,
  ICMP_UNREACH_PROTOCOL,
  ICMP_UNREACH_SOURCE_ROUTE,
  IcmpParseError,
  IcmpQuoteError,
  isIcmpError,
  newIcmpMessage,
  newIcmpQuote,
  parseIcmp,
  parseIcmpError,
} from "./icmp.ts";
export type { IcmpMessage, IcmpQuote } from "./icmp.ts";
export {
  classifyIpv6Address,
  cloneIpv6Address,
  copyIpv6Address,
  formatHostPort,
  formatIpv6Address,
  HostPortError,
  ipv4FromMapped,
  ipv4MappedAddress,
  IPV6_LOOPBACK,
  IPV6_UNSPECIFIED,
  ipv6Address,
  Ipv6AddressKind,
  Ipv6AddressMap,
  ipv6Equals,
  ipv6EqualsAt,
  ipv6Hash,
  isIpv6Multicast,
  isIpv6UnicastAddress,
  newHostPort,
  parseHostPort,
  parseIpv6Address,
  readIpv6Address,
  writeIpv6Address,
} from "./ipv6_address.ts";
export type { HostPort, Ipv6Address } from "./ipv6_address.ts";
export {
  emitIpv6,
  ICMPV6_PARAM_CHAIN_TOO_LONG,
  ICMPV6_PARAM_HEADER_FIELD,
  ICMPV6_PARAM_INCOMPLETE_CHAIN,
  ICMPV6_PARAM_NEXT_HEADER,
  ICMPV6_PARAM_OPTION,
  ICMPV6_PARAM_TOO_MANY_HEADERS,
  IPPROTO_AH,
  IPPROTO_DSTOPTS,
  IPPROTO_ESP,
  IPPROTO_FRAGMENT,
  IPPROTO_HOPOPTS,
  IPPROTO_ICMPV6,
  IPPROTO_NONE,
  IPPROTO_ROUTING,
  IPV6_HEADER_LENGTH,
  IPV6_MAX_EXTENSION_BYTES,
  IPV6_MAX_EXTENSION_HEADERS,
  IPV6_MIN_MTU,
  ipv6AddressSum,
  ipv6ErrorAllowed,
  Ipv6ExtError,
  ipv6PacketAddressSum,
  Ipv6ParseError,
  ipv6PseudoHeaderSum,
  newIpv6Extensions,
  newIpv6Header,
  parseIpv6,
  walkIpv6Extensions,
} from "./ipv6.ts";
export type { Ipv6EmitFields, Ipv6Extensions, Ipv6Header } from "./ipv6.ts";
export {
  emitIcmpv6EchoReply,
  emitIcmpv6Error,
  ICMPV6_DEST_UNREACHABLE,
  ICMPV6_ECHO_REPLY,
  ICMPV6_ECHO_REQUEST,
  ICMPV6_ERROR_MAX_PACKET,
  ICMPV6_HEADER_LENGTH,
  ICMPV6_MLD_DONE,
  ICMPV6_MLD_QUERY,
  ICMPV6_MLD_REPORT,
  ICMPV6_MLDV2_REPORT,
  ICMPV6_NEIGHBOR_ADVERTISEMENT,
  ICMPV6_NEIGHBOR_SOLICITATION,
  ICMPV6_PACKET_TOO_BIG,
  ICMPV6_PARAMETER_PROBLEM,
  ICMPV6_REDIRECT,
  ICMPV6_ROUTER_ADVERTISEMENT,
  ICMPV6_ROUTER_SOLICITATION,
  ICMPV6_TIME_EXCEEDED,
  ICMPV6_TIME_HOP_LIMIT,
  ICMPV6_TIME_REASSEMBLY,
  ICMPV6_UNREACH_ADDRESS,
  ICMPV6_UNREACH_ADMIN,
  ICMPV6_UNREACH_BEYOND_SCOPE,
  ICMPV6_UNREACH_NO_ROUTE,
  ICMPV6_UNREACH_POLICY,
  ICMPV6_UNREACH_PORT,
  ICMPV6_UNREACH_REJECT_ROUTE,
  Icmpv6Category,
  icmpv6Category,
  Icmpv6ParseError,
  Icmpv6QuoteError,
  newIcmpv6Message,
  newIcmpv6Quote,
  parseIcmpv6,
  parseIcmpv6Quote,
} from "./icmpv6.ts";
export type { Icmpv6Message, Icmpv6Quote } from "./icmpv6.ts";
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
