/**
 * What the CLI needs from the stack, as narrow structural types (the real `openStack`,
 * `TcpStack`, `TcpListener` and `TcpConn` satisfy them; `main.ts` checks that), plus helpers
 * shared by `listen` and `connect`.
 * @module
 */

import type { FaultOptions } from "../fault.ts";
import type { Congestion } from "./args.ts";
import { formatBytes, type Logger } from "./log.ts";
import type { Tap } from "./tap.ts";
import type { TraceSink } from "../core.ts";

/** Connection statistics the CLI prints when a connection closes. */
export interface CliConnStats {
  /** RFC 9293 state name. */
  state: string;
  bytesSent: number;
  bytesReceived: number;
  segmentsSent: number;
  segmentsReceived: number;
  retransmissions: number;
  /** Smoothed RTT in ms (RFC 6298); 0 or NaN before the first sample. */
  srttMs: number;
  /** Congestion window in bytes. */
  cwnd: number;
}

/** The connection API the CLI uses. */
export interface CliConn {
  readonly remoteAddr: Deno.NetAddr;
  readonly readable: ReadableStream<Uint8Array>;
  readonly writable: WritableStream<Uint8Array>;
  /** Reads into `p`, as `Deno.Conn.read`: the count, or null at the peer's FIN. */
  read(p: Uint8Array): Promise<number | null>;
  /** Writes bytes of `p`, as `Deno.Conn.write`: how many were taken. */
  write(p: Uint8Array): Promise<number>;
  /** Sends FIN after what was written; reading goes on. */
  closeWrite(): Promise<void>;
  /** Full close: FIN, reading side discarded. */
  close(): void;
  /** Resolves at CLOSED; rejects on reset or timeout. */
  readonly closed: Promise<void>;
  stats(): CliConnStats;
}

/** The listener API the CLI uses. */
export interface CliListener {
  /** Next connection; rejects once the listener is closed. */
  accept(): Promise<CliConn>;
  close(): void;
}

/** The stack API the CLI uses. */
export interface CliStack {
  readonly tunIp: string;
  readonly peerIp: string;
  /** The stack's IPv6 address, or undefined when IPv6 is off. */
  readonly tunIp6: string | undefined;
  /** The kernel's IPv6 address, or undefined when IPv6 is off. */
  readonly peerIp6: string | undefined;
  /** Why IPv6 could not be set up, if it could not. */
  readonly ipv6Problem: string | undefined;
  readonly ifname: string;
  readonly mtu: number;
  /** `family` absent: both IP versions. */
  listen(opts: { port: number; family?: 4 | 6 }): CliListener;
  connect(opts: { hostname?: string; port: number; noDelay?: boolean }): Promise<CliConn>;
  /** FIN every connection, bounded wait, close the device. */
  close(): Promise<void>;
}

/** The options of `openStack` the CLI sets. */
export interface CliStackOptions {
  tunIp?: string;
  /** The stack's IPv6 address; undefined: the device's default; false: IPv4 only. */
  tunIp6?: string | false;
  ifname?: string;
  mtu?: number;
  congestion?: Congestion;
  /** Disable Nagle's algorithm on every connection. */
  noDelay?: boolean;
  /** TUN offloads (default true). */
  offload?: boolean;
  /** Seeded faults between the device and the stack. */
  faults?: { inbound?: FaultOptions; outbound?: FaultOptions };
  tap?: Tap;
  /** Connection trace events (--trace, and state lines in the debug log). */
  trace?: TraceSink;
  logger?: Logger;
}

/** `openStack` as the CLI sees it. */
export type OpenStack = (opts: CliStackOptions) => Promise<CliStack>;

/** Everything a subcommand touches outside its arguments; tests pass fakes. */
export interface CliEnv {
  openStack: OpenStack;
  stdin: ReadableStream<Uint8Array>;
  stdout: WritableStream<Uint8Array>;
  logger: Logger;
  /** Writes one line to stderr whatever the log level (the ready line). */
  announce: (line: string) => void;
  /** Resolves when the user asks for a shutdown (SIGINT/SIGTERM). */
  shutdown: Promise<unknown>;
  /** Packet tap for the stack (segment log, pcap), if any. */
  tap?: Tap;
  /** Connection trace events for the stack (trace file, state lines), if any. */
  trace?: TraceSink;
  /** Monotonic clock in ms, for transfer rates. Default `performance.now`. */
  now?: () => number;
}

/** A one-line description of a connection failure, or undefined if `err` is not one. */
export function describeConnError(err: unknown): string | undefined {
  if (err instanceof Deno.errors.ConnectionRefused) return "connection refused";
  if (err instanceof Deno.errors.ConnectionReset) return "connection reset";
  if (err instanceof Deno.errors.TimedOut) {
    // The stack names an ICMP soft error that explains it: "connection timed out (...)".
    return err.message.startsWith("connection timed out") ? err.message : "connection timed out";
  }
  if (err instanceof Deno.errors.NetworkUnreachable) {
    // ICMP during the handshake: "host unreachable" or "network unreachable".
    return err.message === "host unreachable" ? err.message : "network unreachable";
  }
  if (err instanceof Deno.errors.ConnectionAborted) return "connection aborted";
  return undefined;
}

/** `10.0.0.2:51234`, or `[fdac:1194:20dc::2]:51234` for IPv6 (RFC 5952 §6). */
export function formatAddr(addr: Deno.NetAddr): string {
  return formatHostPortText(addr.hostname, addr.port);
}

/** `host:port`, with the host in brackets when it is an IPv6 address. */
export function formatHostPortText(hostname: string, port: number): string {
  return hostname.includes(":") ? `[${hostname}]:${port}` : `${hostname}:${port}`;
}

/**
 * Checks that IPv6 is there when the command wants it: with --ipv6-only a stack without IPv6
 * is an error (thrown, exit 1); with both families it is worth a warning line from -v info on
 * (the default level stays quiet on systems without IPv6). Returns whether IPv6 is on.
 */
export function checkIpv6(stack: CliStack, family: 0 | 4 | 6, logger: Logger): boolean {
  if (family === 4) return false;
  if (stack.tunIp6 !== undefined) return true;
  const why = stack.ipv6Problem ?? "not configured";
  if (family === 6) throw new Error(`--ipv6-only: IPv6 is not available: ${why}`);
  if (logger.enabled("info")) logger.warn(`IPv6 is not available, IPv4 only: ${why}`);
  return false;
}

/** One line of per-connection statistics, logged at info when a connection closes. */
export function formatStats(peer: string, s: CliConnStats): string {
  const srtt = Number.isFinite(s.srttMs) && s.srttMs > 0 ? `${s.srttMs.toFixed(1)} ms` : "-";
  return `${peer} closed (${s.state}): sent ${
    formatBytes(s.bytesSent)
  } in ${s.segmentsSent} segs, ` +
    `received ${formatBytes(s.bytesReceived)} in ${s.segmentsReceived} segs, ` +
    `${s.retransmissions} retransmissions, srtt ${srtt}, cwnd ${s.cwnd}`;
}

/** Logs `formatStats` for `conn` at info, if info is enabled. */
export function logStats(logger: Logger, conn: CliConn): void {
  if (logger.enabled("info")) logger.info(formatStats(formatAddr(conn.remoteAddr), conn.stats()));
}

/** Marker resolved by `raceShutdown` when the shutdown came first. */
export const SHUTDOWN: unique symbol = Symbol("shutdown");

/** Waits for `work` or the shutdown request, whichever is first. */
export function raceShutdown<T>(
  work: Promise<T>,
  shutdown: Promise<unknown>,
): Promise<T | typeof SHUTDOWN> {
  return Promise.race([work, shutdown.then((): typeof SHUTDOWN => SHUTDOWN)]);
}

/** Waits for `p` to settle, at most `ms`; never rejects. */
export async function settleWithin(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([
      p.then(() => {}, () => {}),
      new Promise<void>((r) => timer = setTimeout(r, ms)),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The same fault spec for both directions, with independent random streams (the outbound
 * seed is the inbound one plus one), or undefined for none.
 */
export function faultsBothWays(
  spec: FaultOptions | undefined,
): { inbound: FaultOptions; outbound: FaultOptions } | undefined {
  if (!spec) return undefined;
  const seed = spec.seed ?? 1;
  return { inbound: { ...spec, seed }, outbound: { ...spec, seed: seed + 1 } };
}

/** The `openStack` options for a command's common flags. */
export function stackOptions(
  cmd: {
    tunIp: string;
    tunIp6?: string;
    family?: 0 | 4 | 6;
    ifname: string | undefined;
    mtu: number | undefined;
    congestion: Congestion | undefined;
    noDelay: boolean;
    noOffload?: boolean;
    faults: FaultOptions | undefined;
  },
  env: Pick<CliEnv, "tap" | "logger" | "trace">,
): CliStackOptions {
  return {
    tunIp: cmd.tunIp,
    // --ipv4-only: no IPv6 on the device at all; otherwise the address given, or the default.
    tunIp6: cmd.family === 4 ? false : cmd.tunIp6,
    ifname: cmd.ifname,
    mtu: cmd.mtu,
    congestion: cmd.congestion,
    noDelay: cmd.noDelay,
    offload: !cmd.noOffload,
    faults: faultsBothWays(cmd.faults),
    tap: env.tap,
    trace: env.trace,
    logger: env.logger,
  };
}
