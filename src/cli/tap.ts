/**
 * The packet tap the CLI installs on the stack (`StackOptions.tap`): a tcpdump-like line per
 * segment at debug level, and every packet into a pcap file.
 * @module
 */

import {
  formatIpv4Address,
  IPPROTO_ICMP,
  IPPROTO_TCP,
  Ipv4ParseError,
  newIpv4Header,
  parseIpv4,
} from "../wire/ipv4.ts";
import {
  IPPROTO_ICMPV6,
  Ipv6ExtError,
  Ipv6ParseError,
  newIpv6Extensions,
  newIpv6Header,
  parseIpv6,
  walkIpv6Extensions,
} from "../wire/ipv6.ts";
import { formatIpv6Address } from "../wire/ipv6_address.ts";
import {
  ACK,
  CWR,
  ECE,
  FIN,
  newTcpSegment,
  parseTcp,
  parseTcpWithAddressSum,
  PSH,
  RST,
  SYN,
  TcpParseError,
  type TcpSegment,
  URG,
} from "../wire/tcp.ts";
import { ANSI, type Logger } from "./log.ts";
import type { PcapWriter } from "../pcap.ts";
import type { TraceFile } from "../trace_file.ts";
import type { TraceSink } from "../core.ts";

/** Direction of a packet as the stack sees it: `in` read from the device, `out` written to it. */
export type TapDirection = "in" | "out";
/** The `tap` hook of `openStack`: called for every IP packet read or written. */
export type Tap = (
  dir: TapDirection,
  packet: Uint8Array,
  nowMs: number,
  segments?: number,
) => void;

/** Options for `formatPacket`. */
export interface FormatOptions {
  /** Colour the direction arrow with ANSI sequences. */
  color?: boolean;
  /** Add timestamp values and SACK block edges. */
  verbose?: boolean;
}

// tcpdump's flag letters; ACK is ".".
const FLAG_LETTERS: ReadonlyArray<readonly [number, string]> = [
  [SYN, "S"],
  [FIN, "F"],
  [RST, "R"],
  [PSH, "P"],
  [ACK, "."],
  [URG, "U"],
  [ECE, "E"],
  [CWR, "W"],
];

/** Formats a TCP flag bitmask the way tcpdump does: `S.` for SYN+ACK, `none` for no flags. */
export function formatTcpFlags(flags: number): string {
  let s = "";
  for (const [bit, letter] of FLAG_LETTERS) if ((flags & bit) !== 0) s += letter;
  return s === "" ? "none" : s;
}

function formatOptions(seg: TcpSegment, verbose: boolean): string {
  const o = seg.options;
  const parts: string[] = [];
  if (o.mss >= 0) parts.push(`mss${o.mss}`);
  if (o.sackPermitted) parts.push("sack");
  if (o.hasTimestamps) parts.push(verbose ? `ts${o.tsVal}/${o.tsEcr}` : "ts");
  if (o.wscale >= 0) parts.push(`ws${o.wscale}`);
  if (o.sackBlocks.length > 0) {
    if (verbose) {
      const edges: string[] = [];
      for (let i = 0; i + 1 < o.sackBlocks.length; i += 2) {
        edges.push(`${o.sackBlocks[i]}-${o.sackBlocks[i + 1]}`);
      }
      parts.push(`sack{${edges.join(",")}}`);
    } else {
      parts.push(`sack${o.sackBlocks.length >>> 1}`);
    }
  }
  return parts.length === 0 ? "" : ` opts=${parts.join(",")}`;
}

// Reused across calls: formatting runs per packet at debug level.
const ip = newIpv4Header();
const ip6 = newIpv6Header();
const ext6 = newIpv6Extensions();
const seg = newTcpSegment();

/** The line for a parsed TCP segment (in `seg`) between two endpoints' text. */
function tcpLine(
  arrow: string,
  src: string,
  dst: string,
  opts: FormatOptions,
  segments: number,
  bad: string,
): string {
  const ack = (seg.flags & ACK) !== 0 ? ` ack=${seg.ack}` : "";
  return `${arrow} ${src}:${seg.srcPort} > ${dst}:${seg.dstPort} [${formatTcpFlags(seg.flags)}]` +
    ` seq=${seg.seq}${ack} win=${seg.window} len=${seg.payload.length}` +
    // A TSO/GSO super-segment: the MSS-sized segments it stands for on the wire.
    (segments > 1 ? ` tso=${segments}` : "") +
    formatOptions(seg, opts.verbose === true) + bad;
}

/**
 * Describes one IPv6 packet (RFC 8200): addresses in brackets (RFC 5952 §6), then the upper
 * layer found past any extension headers.
 */
function formatIpv6Packet(
  arrow: string,
  packet: Uint8Array,
  opts: FormatOptions,
  segments: number,
): string {
  const ipErr = parseIpv6(packet, packet.length, ip6);
  if (ipErr !== Ipv6ParseError.None) {
    return `${arrow} malformed IPv6 packet (${Ipv6ParseError[ipErr]}), ${packet.length} bytes`;
  }
  const src = `[${formatIpv6Address(ip6.src)}]`;
  const dst = `[${formatIpv6Address(ip6.dst)}]`;
  const extErr = walkIpv6Extensions(packet, ip6, ext6);
  if (extErr !== Ipv6ExtError.None) {
    return `${arrow} ${src} > ${dst} ip6 (${Ipv6ExtError[extErr]}) len=${ip6.payloadLength}`;
  }
  const body = packet.subarray(ext6.offset, ext6.end);
  if (ext6.fragment) {
    return `${arrow} ${src} > ${dst} ip6 fragment id=${ext6.fragmentId} ` +
      `off=${ext6.fragmentOffset}${ext6.moreFragments ? "+" : ""} len=${body.length}`;
  }
  if (ext6.protocol === IPPROTO_TCP) {
    // As for IPv4: the checksum is the stack's business, not the log's.
    const tcpErr = parseTcpWithAddressSum(body, 0, seg, false);
    if (tcpErr !== TcpParseError.None) {
      return `${arrow} ${src} > ${dst} malformed TCP (${
        TcpParseError[tcpErr]
      }), ${body.length} bytes`;
    }
    return tcpLine(arrow, src, dst, opts, segments, "");
  }
  if (ext6.protocol === IPPROTO_ICMPV6 && body.length >= 2) {
    return `${arrow} ${src} > ${dst} icmp6 type=${body[0]} code=${body[1]} len=${body.length}`;
  }
  return `${arrow} ${src} > ${dst} proto=${ext6.protocol} len=${body.length}`;
}

/**
 * Describes one IP packet on one line, tcpdump-like:
 * `→ 10.0.0.1:4444 > 10.0.0.2:51234 [S.] seq=123 ack=456 win=65535 len=0 opts=mss1460,sack,ts,ws7`,
 * and for IPv6 `→ [fdac:1194:20dc::1]:4444 > [fdac:1194:20dc::2]:51234 [S.] ...`.
 * `→` is a packet sent, `←` one received. Never throws: malformed packets are described as such.
 */
export function formatPacket(
  dir: TapDirection,
  packet: Uint8Array,
  opts: FormatOptions = {},
  segments = 1,
): string {
  const arrowText = dir === "out" ? "→" : "←";
  const arrow = opts.color
    ? (dir === "out" ? ANSI.green : ANSI.cyan) + arrowText + ANSI.reset
    : arrowText;
  if (packet.length > 0 && packet[0] >>> 4 === 6) {
    return formatIpv6Packet(arrow, packet, opts, segments);
  }
  const ipErr = parseIpv4(packet, packet.length, ip);
  if (ipErr !== Ipv4ParseError.None && ipErr !== Ipv4ParseError.BadChecksum) {
    return `${arrow} malformed IPv4 packet (${Ipv4ParseError[ipErr]}), ${packet.length} bytes`;
  }
  const src = formatIpv4Address(ip.src);
  const dst = formatIpv4Address(ip.dst);
  const bad = ipErr === Ipv4ParseError.BadChecksum ? " (bad IP checksum)" : "";
  const body = packet.subarray(ip.ihl, ip.totalLength);
  if (ip.protocol === IPPROTO_TCP) {
    // The stack verifies checksums itself; the log shows even segments it will drop.
    const tcpErr = parseTcp(body, ip.src, ip.dst, seg, false);
    if (tcpErr !== TcpParseError.None) {
      return `${arrow} ${src} > ${dst} malformed TCP (${
        TcpParseError[tcpErr]
      }), ${body.length} bytes${bad}`;
    }
    return tcpLine(arrow, src, dst, opts, segments, bad);
  }
  if (ip.protocol === IPPROTO_ICMP && body.length >= 2) {
    return `${arrow} ${src} > ${dst} icmp type=${body[0]} code=${body[1]} len=${body.length}${bad}`;
  }
  return `${arrow} ${src} > ${dst} proto=${ip.protocol} len=${body.length}${bad}`;
}

/** What `createTap` feeds. */
export interface TapOptions {
  /** Segment lines go to `logger.debug` when debug is enabled (with more detail at trace). */
  logger?: Logger;
  /** Use ANSI colours in segment lines. */
  color?: boolean;
  /** Capture every packet here. */
  pcap?: PcapWriter;
  /** Wall clock for capture timestamps, in ms since the epoch. Default `Date.now`. */
  wallClock?: () => number;
}

/**
 * Builds the stack's `tap`, or returns undefined when neither logging nor capture wants packets
 * (so a quiet CLI adds no work per packet).
 *
 * The stack's `nowMs` may come from any monotonic clock; capture timestamps are that clock
 * shifted so that the first packet carries the wall-clock time at which it was seen.
 * @example
 * ```ts
 * import { createLogger } from "./log.ts";
 * import { createTap } from "./tap.ts";
 * const tap = createTap({ logger: createLogger("debug") });
 * // openStack({ tap, ... })
 * ```
 */
export function createTap(opts: TapOptions): Tap | undefined {
  const logger = opts.logger;
  const logging = logger !== undefined && logger.enabled("debug");
  const pcap = opts.pcap;
  if (!logging && pcap === undefined) return undefined;
  const verbose = logger !== undefined && logger.enabled("trace");
  const format: FormatOptions = { color: opts.color === true, verbose };
  const wallClock = opts.wallClock ?? Date.now;
  let offsetMs = NaN;
  return (dir, packet, nowMs, segments = 1) => {
    if (pcap !== undefined) {
      if (Number.isNaN(offsetMs)) offsetMs = wallClock() - nowMs;
      pcap.write(packet, offsetMs + nowMs);
    }
    if (logging) logger.debug(formatPacket(dir, packet, format, segments));
  };
}

/** Options of `createTraceSink`. */
export interface TraceSinkOptions {
  /** State transitions go to `logger.debug` when debug is enabled. */
  logger?: Logger;
  /** Every event is written here (`--trace FILE`). */
  file?: TraceFile;
}

/**
 * Builds the stack's `trace` hook: the trace file, and a line per state transition in the
 * debug log (`#3 ESTABLISHED → FIN-WAIT-1 (close)`). Undefined when neither wants events,
 * so tracing costs nothing then.
 * @example
 * ```ts
 * import { createLogger } from "./log.ts";
 * import { createTraceSink } from "./tap.ts";
 * const trace = createTraceSink({ logger: createLogger("debug") });
 * // openStack({ trace, ... })
 * ```
 */
export function createTraceSink(opts: TraceSinkOptions): TraceSink | undefined {
  const logger = opts.logger;
  const logging = logger !== undefined && logger.enabled("debug");
  const file = opts.file;
  if (!logging && file === undefined) return undefined;
  return (conn, event, nowMs) => {
    file?.sink(conn, event, nowMs);
    if (logging && event.ev === "state") {
      logger.debug(`#${conn} ${event.from} → ${event.to} (${event.cause})`);
    }
  };
}
