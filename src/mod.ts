/**
 * tcptun: a TCP/IP stack written in TypeScript, running in user space over a TUN device.
 *
 * Open a stack, then listen or connect; connections are Web Streams with backpressure.
 *
 * @example
 * ```ts ignore
 * import { openStack } from "@tcptun/tcptun";
 *
 * const stack = await openStack({ tunIp: "10.0.0.1" }); // needs root or CAP_NET_ADMIN
 * for await (const conn of stack.listen({ port: 4444 })) {
 *   conn.readable.pipeTo(conn.writable).catch(() => {}); // echo
 * }
 * ```
 * @module
 */

export {
  companionAddress,
  type ConnectionDefaults,
  type ConnOptions,
  openStack,
  type StackCounters,
  type StackLimits,
  type StackOptions,
  TcpStack,
} from "./stack.ts";
export { connectionError, TcpConn, TcpListener } from "./socket.ts";
export type {
  ConnectionOptions,
  ConnError,
  ConnStats,
  KeepAliveOptions,
} from "./tcp/connection.ts";
export type {
  FaultyLinkOptions,
  FrameDelivery,
  FrameStats,
  Link,
  LinkDirectionStats,
  LinkOffloads,
  MemoryLinkOptions,
} from "./link.ts";
export { createMemoryLinkPair, FaultyLink, MemoryLink } from "./link.ts";
export { type FaultOptions, type FaultStats, parseFaultSpec } from "./fault.ts";
export { PcapWriter } from "./pcap.ts";
export { TraceFile } from "./trace_file.ts";
export {
  type CcEvent,
  type CloseEvent,
  type MssEvent,
  type OpenEvent,
  type ProbeEvent,
  type RecoveryEvent,
  type RtoEvent,
  type RttEvent,
  type SegEvent,
  type StateEvent,
  TRACE_VERSION,
  type TraceEvent,
} from "./tcp/trace.ts";
export type { TraceSink } from "./core.ts";
export type { IpCounters } from "./ip/counters.ts";
export type { ReassemblyCounters, ReassemblyOptions } from "./ip/reassembly.ts";
