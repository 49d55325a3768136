/**
 * From a trace's events to one model per connection: each direction's segments in relative
 * sequence numbers (wrap-aware), the other side's ACKs, windows and SACK blocks of it, the
 * congestion and RTT series, recoveries, timeouts, states, and the figures of the summary.
 * Times are in ms since the connection opened.
 * @module
 */

import type { TimedEvent } from "./reader.ts";

/** A segment that occupies sequence space (payload, SYN or FIN), in its direction's space. */
export interface DataSeg {
  /** Time, ms since the connection opened. */
  t: number;
  /** Relative sequence number of its first octet (the SYN is 0). */
  seq: number;
  /** Relative sequence number after its last octet (SYN and FIN count one). */
  end: number;
  /** Payload bytes. */
  len: number;
  /** tcpdump flag letters. */
  flags: string;
  /**
   * Sent before: a retransmission (our segments: the `rtx` mark) or, for the peer's
   * segments, data below the highest already seen (a retransmission or a reordering).
   */
  old: boolean;
}

/** An acknowledgment of a direction's data, sent by the other side. */
export interface AckPoint {
  /** Time, ms since the connection opened. */
  t: number;
  /** Relative acknowledgment number. */
  ack: number;
  /** Window, bytes. */
  win: number;
  /** SACK blocks as relative [left, right, ...]; empty when none. */
  sack: number[];
}

/** One direction of a connection: its data and the other side's acknowledgments of it. */
export interface Direction {
  /** "out": sent by us; "in": sent by the peer. */
  dir: "out" | "in";
  /** Sender's address. */
  from: string;
  /** Receiver's address. */
  to: string;
  /** Segments that occupy sequence space, in time order. */
  segs: DataSeg[];
  /** The other side's ACKs of this direction, in time order. */
  acks: AckPoint[];
  /** Every segment sent this way, pure ACKs included. */
  segments: number;
  /** Segments that carry payload. */
  dataSegments: number;
  /** Distinct payload bytes (highest byte sent less the first). */
  bytes: number;
  /** Payload bytes in every segment, repeats included. */
  wireBytes: number;
  /** Segments sent before (see `DataSeg.old`) and their payload bytes. */
  oldSegments: number;
  /** Payload bytes in `oldSegments`. */
  oldBytes: number;
  /** Time of the first payload byte, or NaN. */
  firstDataT: number;
  /** Time of the last new payload byte, or NaN. */
  lastDataT: number;
  /** Time the highest payload byte was first acknowledged, or NaN. */
  ackedT: number;
}

/** A loss-recovery episode. */
export interface Recovery {
  /** Entered, ms. */
  start: number;
  /** Left, ms (the end of the connection when never left). */
  end: number;
  /** "sack" (RFC 6675) or "newreno" (RFC 6582). */
  kind: string;
}

/** Everything the report shows about one connection. */
export interface ConnectionModel {
  /** The connection's number in the trace. */
  id: number;
  /** Our address. */
  local: string;
  /** The peer's address. */
  remote: string;
  /** Opened by us (connect); undefined when the trace has no `open` event. */
  active: boolean | undefined;
  /** MSS we offered; NaN when unknown. */
  mss: number;
  /** Time of the open event since the stack started, ms. */
  t0: number;
  /** Time of its last event, ms since it opened. */
  duration: number;
  /** Its events, in order (for the ladder). */
  events: TimedEvent[];
  /** Our data and the peer's ACKs of it. */
  out: Direction;
  /** The peer's data and our ACKs of it. */
  in: Direction;
  /** Congestion window changes. */
  cc: { t: number; cwnd: number; ssthresh: number; inflight: number }[];
  /** RTT samples and the estimator after each (RFC 6298). */
  rtt: { t: number; sample: number; srtt: number; rttvar: number; rto: number }[];
  /** Retransmission timer expiries. */
  rtos: { t: number; rto: number; retries: number }[];
  /** Loss-recovery episodes. */
  recoveries: Recovery[];
  /** Probes sent. */
  probes: { t: number; kind: string }[];
  /** MSS changes (path MTU). */
  mssChanges: { t: number; mss: number; cause: string }[];
  /** State transitions. */
  states: { t: number; from: string; to: string; cause: string }[];
  /** Why it ended, or undefined when the trace stops before. */
  closeReason: string | undefined;
}

/**
 * Relative sequence numbers for one direction, wrap-aware: each number is placed at the
 * signed 32-bit distance from the highest one seen so far (RFC 9293 §3.4 arithmetic), so a
 * transfer past 4 GiB keeps growing instead of wrapping.
 */
export class SeqSpace {
  #base = -1;
  #refAbs = 0;
  #refRel = 0;

  /** Whether a first number has been seen. */
  get started(): boolean {
    return this.#base >= 0;
  }

  /** The relative form of absolute `abs`; the first number seen becomes 0. */
  rel(abs: number): number {
    if (this.#base < 0) {
      this.#base = abs;
      this.#refAbs = abs;
      this.#refRel = 0;
      return 0;
    }
    const r = this.#refRel + ((abs - this.#refAbs) | 0);
    if (r > this.#refRel) {
      this.#refAbs = abs;
      this.#refRel = r;
    }
    return r;
  }
}

function newDirection(dir: "out" | "in", from: string, to: string): Direction {
  return {
    dir,
    from,
    to,
    segs: [],
    acks: [],
    segments: 0,
    dataSegments: 0,
    bytes: 0,
    wireBytes: 0,
    oldSegments: 0,
    oldBytes: 0,
    firstDataT: NaN,
    lastDataT: NaN,
    ackedT: NaN,
  };
}

interface DirState {
  d: Direction;
  space: SeqSpace;
  /** Relative number of the first payload byte (1 after a SYN at 0). */
  dataStart: number;
  /** Highest payload end seen. */
  highest: number;
  /** Highest sequence-space end seen (for "old" segments of the peer). */
  highestEnd: number;
}

/**
 * Groups a trace's events by connection and builds each one's model. Events of a
 * connection are taken in file order; times become ms since its `open` event (or its first
 * event when the trace has none).
 *
 * @example
 * ```ts
 * import { buildConnections } from "./model.ts";
 * import type { TimedEvent } from "./reader.ts";
 * const events: TimedEvent[] = [
 *   { t: 1, c: 1, ev: "open", local: "10.0.0.1:1", remote: "10.0.0.2:2", active: true, mss: 1460 },
 *   { t: 1, c: 1, ev: "seg", dir: "out", seq: 100, ack: 0, len: 0, flags: "S", win: 65535 },
 *   { t: 2, c: 1, ev: "seg", dir: "in", seq: 900, ack: 101, len: 0, flags: "S.", win: 65535 },
 *   { t: 2, c: 1, ev: "seg", dir: "out", seq: 101, ack: 901, len: 10, flags: "P.", win: 65535 },
 * ];
 * const [conn] = buildConnections(events);
 * console.log(conn.out.bytes, conn.out.segs[1].seq); // 10 1
 * ```
 */
export function buildConnections(events: readonly TimedEvent[]): ConnectionModel[] {
  const byId = new Map<number, TimedEvent[]>();
  for (const e of events) {
    let list = byId.get(e.c);
    if (list === undefined) byId.set(e.c, list = []);
    list.push(e);
  }
  return [...byId.entries()].sort((a, b) => a[0] - b[0]).map(([id, list]) =>
    buildConnection(id, list)
  );
}

function buildConnection(id: number, events: TimedEvent[]): ConnectionModel {
  const open = events.find((e) => e.ev === "open");
  const t0 = open?.t ?? events[0].t;
  const local = open?.ev === "open" ? open.local : "local";
  const remote = open?.ev === "open" ? open.remote : "remote";
  const out: DirState = {
    d: newDirection("out", local, remote),
    space: new SeqSpace(),
    dataStart: NaN,
    highest: -Infinity,
    highestEnd: -Infinity,
  };
  const inn: DirState = {
    d: newDirection("in", remote, local),
    space: new SeqSpace(),
    dataStart: NaN,
    highest: -Infinity,
    highestEnd: -Infinity,
  };
  const m: ConnectionModel = {
    id,
    local,
    remote,
    active: open?.ev === "open" ? open.active : undefined,
    mss: open?.ev === "open" ? open.mss : NaN,
    t0,
    duration: 0,
    events,
    out: out.d,
    in: inn.d,
    cc: [],
    rtt: [],
    rtos: [],
    recoveries: [],
    probes: [],
    mssChanges: [],
    states: [],
    closeReason: undefined,
  };
  let openRecovery: { start: number; kind: string } | undefined;
  for (const e of events) {
    const t = e.t - t0;
    if (t > m.duration) m.duration = t;
    switch (e.ev) {
      case "seg": {
        const own = e.dir === "out" ? out : inn;
        const other = e.dir === "out" ? inn : out;
        addSegment(own, t, e.seq, e.len, e.flags, e.rtx === true);
        if (e.flags.includes(".")) {
          // An ACK of the other direction's data (RFC 9293 §3.4).
          const ack = other.space.rel(e.ack);
          const sack: number[] = [];
          if (e.sack !== undefined) { for (const s of e.sack) sack.push(other.space.rel(s)); }
          other.d.acks.push({ t, ack, win: e.win, sack });
          if (Number.isNaN(other.d.ackedT) && other.d.bytes > 0 && ack >= other.highest) {
            other.d.ackedT = t;
          }
        }
        break;
      }
      case "cc":
        m.cc.push({ t, cwnd: e.cwnd, ssthresh: e.ssthresh, inflight: e.inflight });
        break;
      case "rtt":
        m.rtt.push({ t, sample: e.sample, srtt: e.srtt, rttvar: e.rttvar, rto: e.rto });
        break;
      case "rto":
        m.rtos.push({ t, rto: e.rto, retries: e.retries });
        break;
      case "recovery":
        if (e.phase === "enter") {
          if (openRecovery !== undefined) {
            m.recoveries.push({ start: openRecovery.start, end: t, kind: openRecovery.kind });
          }
          openRecovery = { start: t, kind: e.kind };
        } else if (openRecovery !== undefined) {
          m.recoveries.push({ start: openRecovery.start, end: t, kind: openRecovery.kind });
          openRecovery = undefined;
        }
        break;
      case "probe":
        m.probes.push({ t, kind: e.kind });
        break;
      case "mss":
        m.mssChanges.push({ t, mss: e.mss, cause: e.cause });
        break;
      case "state":
        m.states.push({ t, from: e.from, to: e.to, cause: e.cause });
        break;
      case "close":
        m.closeReason = e.reason;
        break;
    }
  }
  if (openRecovery !== undefined) {
    m.recoveries.push({ start: openRecovery.start, end: m.duration, kind: openRecovery.kind });
  }
  return m;
}

function addSegment(
  s: DirState,
  t: number,
  absSeq: number,
  len: number,
  flags: string,
  rtx: boolean,
): void {
  const d = s.d;
  d.segments++;
  const syn = flags.includes("S") ? 1 : 0;
  const fin = flags.includes("F") ? 1 : 0;
  const seq = s.space.rel(absSeq);
  if (Number.isNaN(s.dataStart)) s.dataStart = seq + syn;
  if (len === 0 && syn === 0 && fin === 0) return;
  const end = seq + syn + len + fin;
  const old = d.dir === "out" ? rtx : seq < s.highestEnd;
  if (end > s.highestEnd) s.highestEnd = end;
  d.segs.push({ t, seq, end, len, flags, old });
  if (len === 0) return;
  d.dataSegments++;
  d.wireBytes += len;
  if (old) {
    d.oldSegments++;
    d.oldBytes += len;
  }
  if (Number.isNaN(d.firstDataT)) d.firstDataT = t;
  const payloadEnd = seq + syn + len;
  if (payloadEnd > s.highest) {
    s.highest = payloadEnd;
    d.lastDataT = t;
    d.bytes = payloadEnd - s.dataStart;
    d.ackedT = NaN;
  }
}
