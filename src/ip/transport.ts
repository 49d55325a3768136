/**
 * The narrow interface between the IP layer and the transport above it (TCP, in `StackCore`):
 * the IP layer hands up a parsed, checksummed TCP segment with its source, and the ICMP or
 * ICMPv6 error that quotes one of our segments, decoded (RFC 1122 §3.2.2 MUST-54: an error
 * reaches the transport it names; RFC 5927 §4.1: the transport believes it only if the quoted
 * sequence number is in flight). Also the numbering of IPv6 peers the transport's tables use.
 * @module
 */

import type { IcmpError } from "../tcp/connection.ts";
import type { TupleHasher } from "../tcp/isn.ts";
import type { TcpSegment } from "../wire/tcp.ts";
import {
  copyIpv6Address,
  type Ipv6Address,
  ipv6Address,
  ipv6Equals,
} from "../wire/ipv6_address.ts";

/** What the IP layer hands the transport. */
export interface IpTransport {
  /**
   * A valid TCP segment from `src`: an IPv4 address, or the key (see {@link Ipv6PeerKeys}) of
   * IPv6 address `src6`, which is null for IPv4. `segments`: how many segments it stands for
   * (a super-segment from a frame link: several; else 1).
   */
  tcpInput(
    seg: TcpSegment,
    src: number,
    src6: Ipv6Address | null,
    segments: number,
    now: number,
  ): void;
  /** An ICMP or ICMPv6 error that quotes a segment we sent (the fields are reused: copy them). */
  icmpError(e: Readonly<QuotedTcpError>, now: number): void;
}

/**
 * An ICMP or ICMPv6 error as TCP sees it: the connection the quoted segment belongs to, its
 * sequence number, and what the error means. Filled in place, one per ICMP handler.
 */
export interface QuotedTcpError {
  /** The peer the quoted segment went to: an IPv4 address, or the key of `remote6`. */
  remote: number;
  /** That peer's IPv6 address, or null for IPv4. */
  remote6: Ipv6Address | null;
  /** The quoted segment's destination port. */
  remotePort: number;
  /** The quoted segment's source port. */
  localPort: number;
  /** The quoted segment's sequence number. */
  seq: number;
  /**
   * What the error means for TCP (RFC 1122 §4.2.3.9, RFC 4443 §3), or "packet-too-big": IPv4
   * "fragmentation needed" (RFC 1191) or ICMPv6 Packet Too Big (RFC 8201), with `mtu`.
   */
  kind: IcmpError | "packet-too-big";
  /** For "packet-too-big": the next-hop MTU. */
  mtu: number;
  /** For "packet-too-big": IP and TCP headers without options (40 over IPv4, 60 over IPv6). */
  headerBytes: number;
  /** For "packet-too-big": the least MTU believed (576 for IPv4, 1280 for IPv6). */
  floorMtu: number;
}

/** A blank {@link QuotedTcpError} to fill. */
export function newQuotedTcpError(): QuotedTcpError {
  return {
    remote: 0,
    remote6: null,
    remotePort: 0,
    localPort: 0,
    seq: 0,
    kind: "host-unreachable",
    mtu: 0,
    headerBytes: 0,
    floorMtu: 0,
  };
}

/**
 * The number standing for an IPv6 address wherever an IPv4 peer is its uint32 (maps of
 * 4-tuples, hashes): see `TupleHasher.addressKey6`. A lookup by key is always confirmed
 * against the whole address kept with what it finds. The last address keyed is remembered, so
 * a stream of packets from one peer keys it once.
 *
 * @example
 * ```ts
 * import { Ipv6PeerKeys } from "./transport.ts";
 * import { TupleHasher } from "../tcp/isn.ts";
 * import { parseIpv6Address } from "../wire/ipv6_address.ts";
 * const keys = new Ipv6PeerKeys(new TupleHasher(new Uint8Array(16)));
 * const a = parseIpv6Address("fd00::2")!;
 * console.log(keys.key(a) === keys.key(a)); // true
 * ```
 */
export class Ipv6PeerKeys {
  readonly #hasher: TupleHasher;
  readonly #last = ipv6Address();
  #lastKey = -1;

  /** Keys with `hasher` (whose secret key makes collisions impossible to aim). */
  constructor(hasher: TupleHasher) {
    this.#hasher = hasher;
  }

  /** The key of address `a`. */
  key(a: Readonly<Ipv6Address>): number {
    const last = this.#last;
    if (this.#lastKey >= 0 && ipv6Equals(last, a)) return this.#lastKey;
    copyIpv6Address(a, last);
    return this.#lastKey = this.#hasher.addressKey6(a.w0, a.w1, a.w2, a.w3);
  }
}
