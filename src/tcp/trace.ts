/**
 * Connection trace events: what a connection did and why, one event at a time, for the
 * `--trace` JSON-lines file and the `tcptun report` HTML report. The schema is versioned
 * (`TRACE_VERSION`) and documented in docs/trace.md; a writer adds the time and the
 * connection's id to each event.
 *
 * The state machine builds an event only when a tracer is set: tracing off costs one field
 * test per traced point.
 * @module
 */

/** Version of the event schema (docs/trace.md). */
export const TRACE_VERSION = 1;

/** The connection came to be (the first event of each connection). */
export interface OpenEvent {
  /** The event type. */
  ev: "open";
  /** Our end, "10.0.0.1:4444" or "[fd00::1]:4444". */
  local: string;
  /** The peer's end. */
  remote: string;
  /** Opened by us (connect) rather than accepted. */
  active: boolean;
  /** The MSS we offer. */
  mss: number;
}

/** A segment sent or received by the connection. */
export interface SegEvent {
  /** The event type. */
  ev: "seg";
  /** "out": sent by us; "in": received. */
  dir: "in" | "out";
  /** Sequence number (absolute). */
  seq: number;
  /** Acknowledgment number (absolute; 0 without ACK). */
  ack: number;
  /** Payload bytes. */
  len: number;
  /** Flags, tcpdump letters: "S", "S.", ".", "P.", "F.", "R", ... */
  flags: string;
  /** Window in bytes (scaled). */
  win: number;
  /** SACK blocks [left, right, ...], when present. */
  sack?: number[];
  /** Sent before (a retransmission, a probe's resend). */
  rtx?: boolean;
  /** A super-segment: the MSS-sized segments it stands for (TSO/GSO). */
  segs?: number;
}

/** A state transition (RFC 9293 §3.3.2 names). */
export interface StateEvent {
  /** The event type. */
  ev: "state";
  /** The state left (RFC 9293 §3.3.2 name, e.g. "ESTABLISHED"). */
  from: string;
  /** The state entered. */
  to: string;
  /** What made it happen, in words: "SYN,ACK received", "close()", "FIN received", ... */
  cause: string;
}

/** An RTT sample and the estimator after it (RFC 6298). */
export interface RttEvent {
  /** The event type. */
  ev: "rtt";
  /** The sample, ms. */
  sample: number;
  /** Smoothed RTT after the sample, ms. */
  srtt: number;
  /** RTT variation after the sample, ms. */
  rttvar: number;
  /** Retransmission timeout after the sample, ms. */
  rto: number;
}

/** The congestion state after a change. */
export interface CcEvent {
  /** The event type. */
  ev: "cc";
  /** Congestion window, bytes. */
  cwnd: number;
  /** Slow-start threshold, bytes. */
  ssthresh: number;
  /** Bytes in flight (RFC 6675 pipe). */
  inflight: number;
}

/** Loss recovery entered or left. */
export interface RecoveryEvent {
  /** The event type. */
  ev: "recovery";
  /** Entered or left. */
  phase: "enter" | "exit";
  /** "sack" (RFC 6675), "newreno" (RFC 6582). */
  kind: "sack" | "newreno";
  /** The recovery point (RFC 6675 RecoveryPoint / RFC 6582 recover). */
  recover: number;
}

/** The retransmission timer expired (RFC 6298 §5.4). */
export interface RtoEvent {
  /** The event type. */
  ev: "rto";
  /** The RTO after the backoff, ms. */
  rto: number;
  /** Retransmissions of the same segment so far. */
  retries: number;
}

/** A probe: tail loss probe (RFC 8985), zero-window probe, keep-alive. */
export interface ProbeEvent {
  /** The event type. */
  ev: "probe";
  /** Tail loss probe (RFC 8985 §7), zero-window probe (RFC 9293 §3.8.6.1), keep-alive. */
  kind: "tlp" | "zwp" | "keepalive";
}

/** The path MTU or black-hole detection changed the MSS. */
export interface MssEvent {
  /** The event type. */
  ev: "mss";
  /** The new MSS (payload bytes per segment). */
  mss: number;
  /** "icmp" (RFC 1191/8201), "blackhole" (no ICMP), "raise" (trying the full size again). */
  cause: "icmp" | "blackhole" | "raise";
}

/** The connection ended. */
export interface CloseEvent {
  /** The event type. */
  ev: "close";
  /** "finished", or the error: "reset", "timeout", "refused", ... */
  reason: string;
}

/** Every event a connection traces. */
export type TraceEvent =
  | OpenEvent
  | SegEvent
  | StateEvent
  | RttEvent
  | CcEvent
  | RecoveryEvent
  | RtoEvent
  | ProbeEvent
  | MssEvent
  | CloseEvent;

/** Where a connection's events go: called with the event and the time it happened (ms). */
export type Tracer = (event: TraceEvent, now: number) => void;

/**
 * tcpdump's flag letters for a flag bitmask (FIN 1, SYN 2, RST 4, PSH 8, ACK 16, URG 32):
 * "S", "S.", ".", "P.", "F.", "R", "R.", "U." ...
 *
 * @example
 * ```ts
 * import { flagLetters } from "./trace.ts";
 * console.log(flagLetters(0x12), flagLetters(0x18)); // S. P.
 * ```
 */
export function flagLetters(flags: number): string {
  let s = "";
  if (flags & 0x02) s += "S";
  if (flags & 0x01) s += "F";
  if (flags & 0x04) s += "R";
  if (flags & 0x08) s += "P";
  if (flags & 0x20) s += "U";
  if (flags & 0x10) s += ".";
  return s;
}

/**
 * The RFC 9293 §3.3.2 state names that "state" events carry, indexed by connection.ts's
 * `State` (CLOSED 0 ... TIME-WAIT 10).
 */
export const STATE_NAMES: readonly string[] = [
  "CLOSED",
  "LISTEN",
  "SYN-SENT",
  "SYN-RECEIVED",
  "ESTABLISHED",
  "FIN-WAIT-1",
  "FIN-WAIT-2",
  "CLOSE-WAIT",
  "CLOSING",
  "LAST-ACK",
  "TIME-WAIT",
];

/**
 * Checks one parsed trace line (an event with `t` and `c`) against the schema of
 * docs/trace.md; returns what is wrong, or null when it conforms. Unknown event types are
 * accepted (a newer writer may add some), but a known type must have its fields right.
 *
 * @example
 * ```ts
 * import { validateTraceEvent } from "./trace.ts";
 * console.log(validateTraceEvent({ t: 1, c: 1, ev: "probe", kind: "tlp" })); // null
 * console.log(validateTraceEvent({ t: 1, c: 1, ev: "probe", kind: "x" })); // probe: bad kind
 * ```
 */
export function validateTraceEvent(e: Record<string, unknown>): string | null {
  const num = (k: string) => typeof e[k] === "number" && Number.isFinite(e[k] as number);
  const u32 = (k: string) =>
    num(k) && Number.isInteger(e[k]) && (e[k] as number) >= 0 &&
    (e[k] as number) <= 0xffffffff;
  if (!num("t") || (e.t as number) < 0) return "t: not a time";
  if (!num("c") || !Number.isInteger(e.c) || (e.c as number) < 1) return "c: not a connection";
  switch (e.ev) {
    case "open":
      if (typeof e.local !== "string" || typeof e.remote !== "string") return "open: addresses";
      if (typeof e.active !== "boolean" || !num("mss")) return "open: active, mss";
      return null;
    case "seg":
      if (e.dir !== "in" && e.dir !== "out") return "seg: bad dir";
      if (!u32("seq") || !u32("ack")) return "seg: seq, ack";
      if (!num("len") || (e.len as number) < 0 || !num("win")) return "seg: len, win";
      if (typeof e.flags !== "string" || !/^[SFRPU.]*$/.test(e.flags)) return "seg: flags";
      if (e.sack !== undefined && (!Array.isArray(e.sack) || e.sack.length % 2 !== 0)) {
        return "seg: sack";
      }
      if (e.rtx !== undefined && e.rtx !== true) return "seg: rtx";
      if (e.segs !== undefined && !(num("segs") && (e.segs as number) > 1)) return "seg: segs";
      return null;
    case "state":
      if (!STATE_NAMES.includes(e.from as string) || !STATE_NAMES.includes(e.to as string)) {
        return "state: names";
      }
      if (typeof e.cause !== "string" || e.cause === "") return "state: cause";
      return null;
    case "rtt":
      return num("sample") && num("srtt") && num("rttvar") && num("rto") ? null : "rtt: fields";
    case "cc":
      return num("cwnd") && num("ssthresh") && num("inflight") ? null : "cc: fields";
    case "recovery":
      if (e.phase !== "enter" && e.phase !== "exit") return "recovery: phase";
      if (e.kind !== "sack" && e.kind !== "newreno") return "recovery: kind";
      return u32("recover") ? null : "recovery: recover";
    case "rto":
      return num("rto") && num("retries") ? null : "rto: fields";
    case "probe":
      return e.kind === "tlp" || e.kind === "zwp" || e.kind === "keepalive"
        ? null
        : "probe: bad kind";
    case "mss":
      if (!num("mss")) return "mss: mss";
      return e.cause === "icmp" || e.cause === "blackhole" || e.cause === "raise"
        ? null
        : "mss: cause";
    case "close":
      return typeof e.reason === "string" && e.reason !== "" ? null : "close: reason";
    default:
      return typeof e.ev === "string" ? null : "ev: missing";
  }
}
