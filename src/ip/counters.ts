/**
 * The counters of the IP layer (`src/ip/`): packets in and out, what was dropped and why at
 * the IP, ICMP and TCP-header level, offloads, ICMP replies and errors, fragment reassembly.
 * They are part of a stack's `StackCounters`.
 * @module
 */

import type { ReassemblyCounters } from "./reassembly.ts";

/** Why packets were dropped below TCP, and what the IP layer sent and received. */
export interface IpCounters {
  /** IP packets read from the link. */
  packetsIn: number;
  /** IP packets written to the link. */
  packetsOut: number;
  /** Packets of no IP version the stack speaks (IPv6 too when IPv6 is off). */
  notIpv4: number;
  /** IPv6 packets read (RFC 8200). */
  ipv6PacketsIn: number;
  /** IPv6 header rejected (bad length, multicast source, jumbogram). */
  badIpv6: number;
  /**
   * IPv6 packets dropped while walking their extension headers (RFC 8200 §4): truncated or
   * unrecognized headers and options, a routing header to forward, IPsec, too long a chain.
   */
  ipv6ExtensionDrops: number;
  /** ICMPv6 neighbour discovery, router advertisements and multicast listener messages, ignored. */
  ndIgnored: number;
  /** ICMPv6 Parameter Problem messages sent (RFC 8200 §4, RFC 4443 §3.4), rate-limited. */
  paramProblemsSent: number;
  /** IPv4 header rejected (bad length or checksum). */
  badIp: number;
  /** IPv4 fragments received (reassembled per RFC 791/815; see `reassembly`). */
  fragments: number;
  /** Packets to an address that is not ours. */
  notForUs: number;
  /** Segments from an address no peer can have: broadcast, multicast, 0/8, 127/8 (MUST-63). */
  badSourceAddress: number;
  /** Protocols other than TCP and ICMP. */
  otherProtocol: number;
  /** TCP header rejected (length, offset, options). */
  badTcp: number;
  /** TCP checksum mismatch. */
  badTcpChecksum: number;
  /** Frames whose virtio-net header did not fit their packet. */
  badVirtioHeader: number;
  /** TCP super-segments read (GSO: one frame for several segments). */
  superSegmentsIn: number;
  /** TCP super-segments written (TSO: the kernel cuts them). */
  superSegmentsOut: number;
  /** ICMP rejected or not an echo request. */
  icmpIgnored: number;
  /** Echo replies sent (RFC 1122 §3.2.2.6). */
  icmpEchoReplies: number;
  /** ICMP errors believed and handed to the connection they quote (RFC 5927). */
  icmpErrors: number;
  /** ICMP "fragmentation needed" that lowered a connection's MSS (RFC 1191). */
  pmtuUpdates: number;
  /** Echo requests left unanswered by the rate limit. */
  icmpRateLimited: number;
  /**
   * ICMP and ICMPv6 errors sent: Time Exceeded for a datagram whose fragments expired (RFC
   * 792, RFC 8200 §4.5), Parameter Problem for an IPv6 packet we cannot process (RFC 4443).
   */
  icmpErrorsSent: number;
  /**
   * Fragment reassembly: datagrams reassembled and, for each reason, fragments and datagrams
   * dropped (overlap, bad end or length, too big, budgets, timeout), with its memory gauge.
   */
  reassembly: Readonly<ReassemblyCounters>;
}
