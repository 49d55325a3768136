/**
 * The tunables of a connection (`ConnectionOptions`), and their defaults filled in once per
 * options object (`resolveOptions`), shared by the connections made from it.
 *
 * The defaults follow the RFCs and Linux: RFC 9293 §3.8.3 (R1/R2, MUST-20, MUST-23), §3.8.4
 * keep-alive (MUST-24, MUST-25), §3.8.6.3 delayed ACK, RFC 6298 §2 (RTO bounds), RFC 7323
 * and RFC 2018 options, RFC 5961 §7 reply rate limits.
 * @module
 */

/** Keep-alive settings (RFC 9293 §3.8.4; RFC 1122 §4.2.3.6). */
export interface KeepAliveOptions {
  /** Idle time before the first probe, ms. Default 7_200_000 (two hours). */
  idleMs?: number;
  /** Time between unanswered probes, ms. Default 75_000. */
  intervalMs?: number;
  /** Unanswered probes before the connection is dropped. Default 9. */
  count?: number;
}

/** Tunables of one connection. All times in milliseconds. */
export interface ConnectionOptions {
  /** MSS we advertise: the MTU minus 40 bytes of IPv4 and TCP headers. */
  mss: number;
  /** Send buffer size in bytes (allocated as it fills). Default 1 MiB. */
  sendBufferSize?: number;
  /** Receive buffer size in bytes, which bounds the advertised window. Default 1 MiB. */
  recvBufferSize?: number;
  /** Congestion control algorithm. Default "cubic" (as Linux). */
  congestion?: "cubic" | "newreno";
  /** Maximum segment lifetime; TIME-WAIT lasts 2·MSL. Default 30 s. */
  mslMs?: number;
  /** Disable Nagle's algorithm (RFC 9293 §3.7.4). Default false. */
  noDelay?: boolean;
  /** Keep-alive probes, off unless given. */
  keepAlive?: KeepAliveOptions | null;
  /**
   * SYN retransmissions before giving up. Default 7: with the initial RTO of 1 s the attempt
   * lasts 255 s, past the three minutes of RFC 9293 MUST-23 (Linux's 6 give 127 s).
   */
  synRetries?: number;
  /** Data retransmissions before giving up (R2, as Linux tcp_retries2). Default 15. */
  maxRetries?: number;
  /**
   * User timeout (RFC 9293 §3.8.3 MUST-21, RFC 5482): the longest time sent data may stay
   * unacknowledged before the connection is aborted, ms. 0 (default) uses `maxRetries`.
   */
  userTimeoutMs?: number;
  /** Delayed ACK timeout (RFC 9293 §3.8.6.3: < 0.5 s). Default 40. */
  delayedAckMs?: number;
  /** RTO before the first RTT sample (RFC 6298 §2.1). Default 1000. */
  initialRtoMs?: number;
  /** Lower bound of the RTO (RFC 6298 §2.4 allows it). Default 200, as Linux. */
  minRtoMs?: number;
  /** Upper bound of the RTO (RFC 6298 §2.5). Default 120000. */
  maxRtoMs?: number;
  /** Offer/accept RFC 7323 timestamps. Default true. */
  timestamps?: boolean;
  /** Offer/accept RFC 7323 window scaling. Default true. */
  windowScaling?: boolean;
  /** Offer/accept RFC 2018 SACK. Default true. */
  sack?: boolean;
  /** Orphaned FIN-WAIT-2 timeout after `close()`, ms (as Linux tcp_fin_timeout). Default 60000. */
  finWait2TimeoutMs?: number;
  /**
   * Least time between two replies to invalid segments without data (out-of-window ACKs,
   * failed PAWS, challenge ACKs), ms; a tenth of it for segments with data. Default 500, as
   * Linux's `tcp_invalid_ratelimit` (RFC 5961 §7).
   */
  invalidReplyIntervalMs?: number;
  /**
   * IP time to live of this connection's segments (RFC 9293 MUST-49). Default 64. The state
   * machine only carries it, for the IP layer.
   */
  ttl?: number;
  /** IP Differentiated Services (TOS) byte of its segments (MUST-48, SHLD-22). Default 0. */
  tos?: number;
  /**
   * The smallest MSS path MTU discovery may lower segments to (options excluded). Default
   * 536: IPv4's 576-byte minimum (RFC 1122 §3.3.3); 1220 for IPv6 (1280, RFC 8200 §5).
   */
  pmtuFloorMss?: number;
  /**
   * Segmentation offload (TSO): the most payload bytes one segment may carry, for a link
   * that cuts larger segments into MSS-sized ones (a TUN device with offloads). 0 (default):
   * none, every segment is at most the MSS. A super-segment is accounted for as the
   * MSS-sized segments it becomes: one transmission record each, so that SACK, loss
   * detection and retransmission work at MSS granularity.
   */
  tsoMaxBytes?: number;
}

/** `ConnectionOptions` with every default filled in. */
export type ResolvedOptions = Required<Omit<ConnectionOptions, "keepAlive">> & {
  keepAlive: Required<KeepAliveOptions> | null;
};

/** Resolved options by the options object they came from: connections made alike share. */
const resolved = new WeakMap<ConnectionOptions, ResolvedOptions>();

/**
 * Keep-alive settings with defaults filled in (RFC 1122 §4.2.3.6: two hours idle), or null:
 * keep-alive off (MUST-25).
 *
 * @example
 * ```ts
 * import { resolveKeepAlive } from "./options.ts";
 * console.log(resolveKeepAlive({ idleMs: 60_000 })?.count); // 9
 * ```
 */
export function resolveKeepAlive(
  ka: KeepAliveOptions | null | undefined,
): ResolvedOptions["keepAlive"] {
  return ka
    ? { idleMs: ka.idleMs ?? 7_200_000, intervalMs: ka.intervalMs ?? 75_000, count: ka.count ?? 9 }
    : null;
}

/**
 * The options with defaults filled in, shared with other connections made from `options`.
 *
 * @example
 * ```ts
 * import { resolveOptions } from "./options.ts";
 * const o = { mss: 1460 };
 * console.log(resolveOptions(o).congestion, resolveOptions(o) === resolveOptions(o)); // cubic true
 * ```
 */
export function resolveOptions(options: ConnectionOptions): ResolvedOptions {
  let r = resolved.get(options);
  if (r) return r;
  r = {
    mss: options.mss,
    sendBufferSize: options.sendBufferSize ?? 1024 * 1024,
    recvBufferSize: options.recvBufferSize ?? 1024 * 1024,
    congestion: options.congestion ?? "cubic",
    mslMs: options.mslMs ?? 30_000,
    noDelay: options.noDelay ?? false,
    keepAlive: resolveKeepAlive(options.keepAlive),
    synRetries: options.synRetries ?? 7,
    maxRetries: options.maxRetries ?? 15,
    userTimeoutMs: options.userTimeoutMs ?? 0,
    delayedAckMs: options.delayedAckMs ?? 40,
    initialRtoMs: options.initialRtoMs ?? 1000,
    minRtoMs: options.minRtoMs ?? 200,
    maxRtoMs: options.maxRtoMs ?? 120_000,
    timestamps: options.timestamps ?? true,
    windowScaling: options.windowScaling ?? true,
    sack: options.sack ?? true,
    finWait2TimeoutMs: options.finWait2TimeoutMs ?? 60_000,
    invalidReplyIntervalMs: options.invalidReplyIntervalMs ?? 500,
    ttl: options.ttl ?? 64,
    tos: options.tos ?? 0,
    tsoMaxBytes: options.tsoMaxBytes ?? 0,
    pmtuFloorMss: options.pmtuFloorMss ?? 536,
  };
  resolved.set(options, r);
  return r;
}
