/**
 * ICMP for IPv4 (RFC 792): echo requests answered (RFC 1122 §3.2.2.6, rate-limited, in
 * fragments when larger than the link), errors that quote one of our TCP segments decoded and
 * handed to the transport (RFC 1122 §3.2.2 and §4.2.3.9; RFC 5927 checks there), "fragmentation
 * needed" as path MTU discovery (RFC 1191 §4, with the plateau table of §7 for routers that send
 * no MTU), and Time Exceeded for a datagram whose fragments expired (RFC 792; RFC 1122 §3.3.2).
 * @module
 */

import { readU16 } from "../wire/bytes.ts";
import {
  emitIcmpEchoReply,
  emitIcmpTimeExceeded,
  ICMP_DEST_UNREACHABLE,
  ICMP_ECHO_REQUEST,
  ICMP_PARAMETER_PROBLEM,
  ICMP_SOURCE_QUENCH,
  ICMP_TIME_EXCEEDED,
  ICMP_TIME_REASSEMBLY,
  ICMP_UNREACH_FRAG_NEEDED,
  type IcmpMessage,
  IcmpParseError,
  IcmpQuoteError,
  newIcmpMessage,
  newIcmpQuote,
  parseIcmp,
  parseIcmpError,
} from "../wire/icmp.ts";
import { IPPROTO_ICMP, IPPROTO_TCP, IPV4_HEADER_LENGTH } from "../wire/ipv4.ts";
import type { IcmpError } from "../tcp/connection.ts";
import type { TokenBucket } from "../tcp/rate_limit.ts";
import type { IpCounters } from "./counters.ts";
import type { IpOutput } from "./output.ts";
import type { ExpiredDatagram } from "./reassembly.ts";
import { type IpTransport, newQuotedTcpError } from "./transport.ts";

/** The smallest IPv4 MTU every host must handle (RFC 791, RFC 1122 §3.3.3): PMTU floor. */
export const IPV4_MIN_MTU = 576;

/**
 * ICMP input and the ICMP messages we send, for one stack.
 *
 * @example
 * ```ts
 * import { Icmpv4Handler } from "./icmpv4.ts";
 * import { IpOutput } from "./output.ts";
 * import { TokenBucket } from "../tcp/rate_limit.ts";
 * import { ViewCache } from "../wire/views.ts";
 * const counters = { packetsOut: 0, superSegmentsOut: 0, icmpIgnored: 0, icmpEchoReplies: 0,
 *   icmpRateLimited: 0, icmpErrorsSent: 0 };
 * const sent: Uint8Array[] = [];
 * const out = new IpOutput({ link: { write: (p) => sent.push(p.slice()) }, frames: false,
 *   addr: 0x0a000001, addr6: null, mtu: 1500, ipId: 1, tap: undefined, counters,
 *   views: new ViewCache() });
 * const icmp = new Icmpv4Handler(0x0a000001, 1500, counters, out, new TokenBucket(10, 10), {
 *   tcpInput() {},
 *   icmpError() {},
 * });
 * icmp.input(new Uint8Array([8, 0, 0xf7, 0xff, 0, 0, 0, 0]), 0x0a000002, 0); // echo request
 * console.log(counters.icmpEchoReplies, sent.length); // 1 1
 * ```
 */
export class Icmpv4Handler {
  readonly #addr: number;
  readonly #mtu: number;
  readonly #c: Pick<
    IpCounters,
    "icmpIgnored" | "icmpEchoReplies" | "icmpRateLimited" | "icmpErrorsSent"
  >;
  readonly #out: IpOutput;
  readonly #bucket: TokenBucket;
  readonly #transport: IpTransport;
  readonly #icmp = newIcmpMessage();
  readonly #quoted = newIcmpQuote();
  readonly #err = newQuotedTcpError();
  /** The quote of an ICMP error we send: an IP header (up to 60 bytes) and 8 bytes of payload. */
  readonly #quote = new Uint8Array(68);

  /**
   * For our address `addr` on a link of `mtu`: counts into `counters`, sends through `out`,
   * replies within `bucket` (shared with ICMPv6), hands errors to `transport`.
   */
  constructor(
    addr: number,
    mtu: number,
    counters: Pick<
      IpCounters,
      "icmpIgnored" | "icmpEchoReplies" | "icmpRateLimited" | "icmpErrorsSent"
    >,
    out: IpOutput,
    bucket: TokenBucket,
    transport: IpTransport,
  ) {
    this.#addr = addr;
    this.#mtu = mtu;
    this.#c = counters;
    this.#out = out;
    this.#bucket = bucket;
    this.#transport = transport;
  }

  /** An ICMP message `body` from `src`, whose IP header was valid and for us. */
  input(body: Uint8Array, src: number, now: number): void {
    const m = this.#icmp;
    if (parseIcmp(body, m) !== IcmpParseError.None) {
      this.#c.icmpIgnored++;
      return;
    }
    if (m.type !== ICMP_ECHO_REQUEST) {
      this.#error(m, now);
      return;
    }
    // RFC 1122 §3.2.2.6: answer echo requests (rate-limited: a reply is a reflection).
    if (!this.#bucket.take(now)) {
      this.#c.icmpRateLimited++;
      return;
    }
    this.#c.icmpEchoReplies++;
    const out = this.#out;
    if (IPV4_HEADER_LENGTH + body.length <= this.#mtu) {
      const n = emitIcmpEchoReply(m, out.payload4);
      out.sendIp(src, IPPROTO_ICMP, n, 64, 0, now);
      return;
    }
    // RFC 1122 §3.2.2.6: the reply MUST carry all the request's data; a request that came in
    // fragments is answered in fragments (RFC 791 §3.2). No amplification: the reply is as
    // large as the request.
    const big = out.bigBuffer;
    const n = emitIcmpEchoReply(m, big);
    out.sendFragments(src, IPPROTO_ICMP, big.subarray(0, n), now);
  }

  /**
   * An ICMP error (RFC 792, RFC 1122 §4.2.3.9): it quotes the IP header and the first 8 bytes
   * of one of our segments. The connection it names gets it (RFC 1122 §3.2.2, MUST-54), and
   * believes it only if the quoted sequence number is in flight (RFC 5927 §4.1).
   */
  #error(m: IcmpMessage, now: number): void {
    const q = this.#quoted;
    if (
      parseIcmpError(m, q) !== IcmpQuoteError.None || q.protocol !== IPPROTO_TCP ||
      q.src !== this.#addr // not a segment of ours
    ) {
      this.#c.icmpIgnored++;
      return;
    }
    const e = this.#err;
    e.remote = q.dst;
    e.remote6 = null;
    e.localPort = q.srcPort;
    e.remotePort = q.dstPort;
    e.seq = q.seq;
    if (q.type === ICMP_DEST_UNREACHABLE && q.code === ICMP_UNREACH_FRAG_NEEDED) {
      // RFC 1191 §4: the next-hop MTU; an old router sends 0, and then the next plateau below
      // the quoted packet's Total Length is assumed (RFC 1191 §5).
      e.kind = "packet-too-big";
      e.mtu = q.mtu || plateauBelow(readU16(m.data, 2));
      e.headerBytes = 40;
      e.floorMtu = IPV4_MIN_MTU;
    } else {
      e.kind = icmpErrorKind(q.type, q.code);
    }
    this.#transport.icmpError(e, now);
  }

  /**
   * An incomplete datagram whose first fragment arrived expired: its source hears ICMP Time
   * Exceeded, "fragment reassembly time exceeded" (RFC 792; RFC 1122 §3.3.2 SHOULD), quoting
   * the first fragment's header and 8 bytes. The caller has taken the rate limit's token.
   */
  reassemblyTimeExceeded(d: Readonly<ExpiredDatagram>, now: number): void {
    const quote = this.#quote;
    const ihl = d.header.length;
    quote.set(d.header, 0);
    const extra = Math.min(8, d.firstPayload.length);
    quote.set(d.firstPayload.subarray(0, extra), ihl);
    const n = emitIcmpTimeExceeded(
      this.#out.payload4,
      ICMP_TIME_REASSEMBLY,
      quote.subarray(0, ihl + extra),
    );
    this.#c.icmpErrorsSent++;
    this.#out.sendIp(d.key.src0, IPPROTO_ICMP, n, 64, 0, now);
  }
}

/** RFC 1191 §7 table of common MTU plateaus, largest first. */
const MTU_PLATEAUS = [65535, 32000, 17914, 8166, 4352, 2002, 1492, 1006, 508, 296, 68];

/** The largest plateau below `size` (RFC 1191 §5), for a router that sent no MTU. */
function plateauBelow(size: number): number {
  for (const p of MTU_PLATEAUS) if (p < size) return p;
  return 68;
}

/**
 * What an ICMP error (a type `parseIcmpError` accepts) other than "fragmentation needed"
 * means for TCP (RFC 1122 §4.2.3.9, RFC 792).
 */
function icmpErrorKind(type: number, code: number): IcmpError {
  if (type === ICMP_SOURCE_QUENCH) return "source-quench";
  if (type === ICMP_TIME_EXCEEDED) return "time-exceeded";
  if (type === ICMP_PARAMETER_PROBLEM) return "parameter-problem";
  switch (code) { // destination unreachable (RFC 792, RFC 1122 §3.2.2.1, RFC 1812 §5.2.7.1)
    case 0: // net unreachable
    case 6: // destination network unknown
    case 11: // network unreachable for type of service
      return "network-unreachable";
    case 2:
      return "protocol-unreachable";
    case 3:
      return "port-unreachable";
    case 9: // network administratively prohibited
    case 10: // host administratively prohibited
    case 13: // communication administratively prohibited
      return "prohibited";
    default: // 1 host unreachable, 5 source route failed, 7 host unknown, ...
      return "host-unreachable";
  }
}
