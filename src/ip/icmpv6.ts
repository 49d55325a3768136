/**
 * ICMPv6 (RFC 4443): echo requests answered (§4.2, rate-limited, in fragments when larger than
 * the link, RFC 8200 §4.5), errors that quote one of our TCP segments decoded and handed to the
 * transport (§3; RFC 5461 for what they mean to TCP, RFC 5927 checks there), Packet Too Big as
 * path MTU discovery (RFC 8201, floor 1280), neighbour discovery and multicast listener
 * messages ignored on a point-to-point link, unknown informational messages discarded
 * (§2.4(b)). Errors we send: Parameter Problem for a packet we cannot process (RFC 8200 §4,
 * §4.5) and Time Exceeded for a datagram whose fragments expired (RFC 8200 §4.5), each quoting
 * as much as fits in 1280 bytes (§2.4(c)), never about a packet sent to a multicast group or
 * from no single node (§2.4(e)), rate-limited (§2.4(f)).
 * @module
 */

import {
  emitIcmpv6EchoReply,
  emitIcmpv6Error,
  ICMPV6_DEST_UNREACHABLE,
  ICMPV6_ECHO_REQUEST,
  ICMPV6_PACKET_TOO_BIG,
  ICMPV6_PARAMETER_PROBLEM,
  ICMPV6_TIME_EXCEEDED,
  ICMPV6_TIME_REASSEMBLY,
  Icmpv6Category,
  type Icmpv6Message,
  Icmpv6ParseError,
  Icmpv6QuoteError,
  newIcmpv6Message,
  newIcmpv6Quote,
  parseIcmpv6,
  parseIcmpv6Quote,
} from "../wire/icmpv6.ts";
import { IPPROTO_TCP } from "../wire/ipv4.ts";
import {
  IPPROTO_ICMPV6,
  IPV6_HEADER_LENGTH,
  IPV6_MIN_MTU,
  ipv6AddressSum,
  ipv6ErrorAllowed,
  type Ipv6Header,
} from "../wire/ipv6.ts";
import { type Ipv6Address, ipv6Address, ipv6Equals } from "../wire/ipv6_address.ts";
import type { IcmpError } from "../tcp/connection.ts";
import type { TokenBucket } from "../tcp/rate_limit.ts";
import type { IpCounters } from "./counters.ts";
import type { IpOutput } from "./output.ts";
import type { ExpiredDatagram } from "./reassembly.ts";
import { type IpTransport, type Ipv6PeerKeys, newQuotedTcpError } from "./transport.ts";

/** The counters ICMPv6 keeps. */
type Icmpv6Counters = Pick<
  IpCounters,
  | "icmpIgnored"
  | "icmpEchoReplies"
  | "icmpRateLimited"
  | "icmpErrorsSent"
  | "ndIgnored"
  | "paramProblemsSent"
>;

/**
 * ICMPv6 input and the ICMPv6 messages we send, for one stack with an IPv6 address.
 *
 * @example
 * ```ts
 * import { Icmpv6Handler } from "./icmpv6.ts";
 * import { IpOutput } from "./output.ts";
 * import { Ipv6PeerKeys } from "./transport.ts";
 * import { TokenBucket } from "../tcp/rate_limit.ts";
 * import { TupleHasher } from "../tcp/isn.ts";
 * import { newIpv6Header } from "../wire/ipv6.ts";
 * import { parseIpv6Address } from "../wire/ipv6_address.ts";
 * import { ViewCache } from "../wire/views.ts";
 * const counters = { packetsOut: 0, superSegmentsOut: 0, icmpIgnored: 0, icmpEchoReplies: 0,
 *   icmpRateLimited: 0, icmpErrorsSent: 0, ndIgnored: 0, paramProblemsSent: 0 };
 * const me = parseIpv6Address("fd00::1")!;
 * const out = new IpOutput({ link: { write() {} }, frames: false, addr: 0, addr6: me,
 *   mtu: 1500, ipId: 1, tap: undefined, counters, views: new ViewCache() });
 * const icmp6 = new Icmpv6Handler(me, 1500, counters, out, new TokenBucket(10, 10),
 *   { tcpInput() {}, icmpError() {} }, new Ipv6PeerKeys(new TupleHasher(new Uint8Array(16))));
 * const ip = newIpv6Header();
 * ip.src = parseIpv6Address("fd00::2")!;
 * ip.dst = me;
 * icmp6.input(new Uint8Array([128, 0, 0, 0, 0, 0, 0, 0]), ip, 0); // bad checksum: ignored
 * console.log(counters.icmpIgnored); // 1
 * ```
 */
export class Icmpv6Handler {
  readonly #addr6: Ipv6Address | null;
  readonly #mtu: number;
  readonly #c: Icmpv6Counters;
  readonly #out: IpOutput;
  readonly #bucket: TokenBucket;
  readonly #transport: IpTransport;
  readonly #peers: Ipv6PeerKeys;
  readonly #icmp6 = newIcmpv6Message();
  readonly #quote6 = newIcmpv6Quote();
  readonly #err = newQuotedTcpError();
  /** The source of an expired IPv6 datagram, as an address. */
  readonly #expiredSrc6 = ipv6Address();

  /**
   * For our address `addr6` (null: IPv6 off, and this is never called) on a link of `mtu`:
   * counts into `counters`, sends through `out`, replies within `bucket` (shared with ICMP),
   * hands errors to `transport`, keys peers with `peers`.
   */
  constructor(
    addr6: Ipv6Address | null,
    mtu: number,
    counters: Icmpv6Counters,
    out: IpOutput,
    bucket: TokenBucket,
    transport: IpTransport,
    peers: Ipv6PeerKeys,
  ) {
    this.#addr6 = addr6;
    this.#mtu = mtu;
    this.#c = counters;
    this.#out = out;
    this.#bucket = bucket;
    this.#transport = transport;
    this.#peers = peers;
  }

  /** An ICMPv6 message `body` in the packet whose header is `ip` (valid, and for us). */
  input(body: Uint8Array, ip: Ipv6Header, now: number): void {
    const c = this.#c;
    const m = this.#icmp6;
    const sum = ipv6AddressSum(ip.src, ip.dst);
    if (parseIcmpv6(body, sum, m) !== Icmpv6ParseError.None) {
      c.icmpIgnored++;
      return;
    }
    switch (m.category) {
      case Icmpv6Category.Echo:
        if (m.type === ICMPV6_ECHO_REQUEST) this.#echo(m, ip.src, sum, now);
        else c.icmpIgnored++;
        return;
      case Icmpv6Category.Error:
        this.#error(m, now);
        return;
      case Icmpv6Category.NeighborDiscovery:
      case Icmpv6Category.MulticastListener:
        c.ndIgnored++;
        return;
      default:
        c.icmpIgnored++; // RFC 4443 §2.4(b): unknown informational messages are discarded
    }
  }

  /** RFC 4443 §4.2: an echo reply carries the request's identifier, sequence and data. */
  #echo(m: Icmpv6Message, dst: Ipv6Address, sum: number, now: number): void {
    if (!this.#bucket.take(now)) {
      this.#c.icmpRateLimited++;
      return;
    }
    this.#c.icmpEchoReplies++;
    const out = this.#out;
    if (IPV6_HEADER_LENGTH + 8 + m.data.length <= this.#mtu) {
      const n = emitIcmpv6EchoReply(m, out.payload6, sum);
      out.sendIp6(dst, IPPROTO_ICMPV6, n, 64, 0, now);
      return;
    }
    // Larger than the link: the whole reply in fragments (RFC 8200 §4.5 source fragmentation).
    const big = out.bigBuffer;
    const n = emitIcmpv6EchoReply(m, big, sum);
    out.sendFragments6(dst, IPPROTO_ICMPV6, big.subarray(0, n), now);
  }

  /**
   * An ICMPv6 error (RFC 4443 §3) quoting one of our TCP segments reaches its connection, which
   * believes it only if the quoted sequence number is in flight (RFC 5927 §4.1). Packet Too Big
   * lowers the path MTU (RFC 8201), never below IPv6's 1280.
   */
  #error(m: Icmpv6Message, now: number): void {
    const q = this.#quote6;
    if (
      parseIcmpv6Quote(m, q) !== Icmpv6QuoteError.None || q.protocol !== IPPROTO_TCP ||
      !ipv6Equals(q.src, this.#addr6!)
    ) {
      this.#c.icmpIgnored++;
      return;
    }
    const e = this.#err;
    if (m.type === ICMPV6_PACKET_TOO_BIG) {
      e.kind = "packet-too-big";
      e.mtu = m.rest;
      e.headerBytes = 60;
      e.floorMtu = IPV6_MIN_MTU;
    } else {
      const kind = icmp6ErrorKind(m.type, m.code);
      if (kind === null) {
        this.#c.icmpIgnored++; // nothing TCP acts on
        return;
      }
      e.kind = kind;
    }
    e.remote = this.#peers.key(q.dst);
    e.remote6 = q.dst;
    e.remotePort = q.dstPort;
    e.localPort = q.srcPort;
    e.seq = q.seq;
    this.#transport.icmpError(e, now);
  }

  /**
   * Sends an ICMPv6 error about `packet` (whose header is `ip`) to its source, quoting as much
   * of it as fits in 1280 bytes (RFC 4443 §2.4(c)), rate-limited (RFC 4443 §2.4(f)).
   */
  errorOut(
    packet: Uint8Array,
    ip: Ipv6Header,
    type: number,
    code: number,
    param: number,
    now: number,
  ): void {
    if (!ipv6ErrorAllowed(ip.src, ip.dst, false)) return;
    if (!this.#bucket.take(now)) {
      this.#c.icmpRateLimited++;
      return;
    }
    const sum = ipv6AddressSum(this.#addr6!, ip.src);
    const n = emitIcmpv6Error(this.#out.payload6, type, code, param, packet, sum, this.#mtu);
    this.#c.icmpErrorsSent++;
    if (type === ICMPV6_PARAMETER_PROBLEM) this.#c.paramProblemsSent++;
    this.#out.sendIp6(ip.src, IPPROTO_ICMPV6, n, 64, 0, now);
  }

  /**
   * An incomplete datagram whose first fragment arrived expired: RFC 8200 §4.5, Time Exceeded
   * code 1 to the source of the first fragment, quoting it. The caller has taken the rate
   * limit's token.
   */
  reassemblyTimeExceeded(d: Readonly<ExpiredDatagram>, now: number): void {
    const k = d.key;
    const dst = this.#expiredSrc6;
    dst.w0 = k.src0;
    dst.w1 = k.src1;
    dst.w2 = k.src2;
    dst.w3 = k.src3;
    const out = this.#out;
    const quote = out.bigBuffer;
    quote.set(d.header, 0);
    const extra = Math.min(d.firstPayload.length, IPV6_MIN_MTU);
    quote.set(d.firstPayload.subarray(0, extra), d.header.length);
    const n = emitIcmpv6Error(
      out.payload6,
      ICMPV6_TIME_EXCEEDED,
      ICMPV6_TIME_REASSEMBLY,
      0,
      quote.subarray(0, d.header.length + extra),
      ipv6AddressSum(this.#addr6!, dst),
      this.#mtu,
    );
    this.#c.icmpErrorsSent++;
    out.sendIp6(dst, IPPROTO_ICMPV6, n, 64, 0, now);
  }
}

/**
 * What an ICMPv6 error other than Packet Too Big means for TCP (RFC 4443 §3, RFC 5461), or
 * null for one TCP does not act on.
 */
function icmp6ErrorKind(type: number, code: number): IcmpError | null {
  if (type === ICMPV6_TIME_EXCEEDED) return "time-exceeded";
  if (type === ICMPV6_PARAMETER_PROBLEM) return "parameter-problem";
  if (type !== ICMPV6_DEST_UNREACHABLE) return null;
  switch (code) {
    case 0: // no route to destination
      return "network-unreachable";
    case 1: // administratively prohibited
    case 5: // source address failed ingress/egress policy
    case 6: // reject route to destination
      return "prohibited";
    case 4:
      return "port-unreachable";
    default: // 2 beyond scope of source address, 3 address unreachable, others
      return "host-unreachable";
  }
}
