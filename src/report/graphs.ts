/**
 * The report's graphs as inline SVG strings: the time-sequence graph (tcptrace's and
 * Wireshark's "Stevens" graph), the congestion window, RTT and RTO over time, and a ladder
 * diagram of the first and last segments. Every graph is decimated per pixel column, so its
 * element count is bounded whatever the trace's size; tooltips are SVG `<title>`s, no script.
 * @module
 */

import type { ConnectionModel, DataSeg, Direction, Recovery } from "./model.ts";
import { SeqSpace } from "./model.ts";
import {
  axes,
  byteUnit,
  type ColumnRange,
  columnRanges,
  esc,
  fmtBytes,
  fmtInt,
  fmtMs,
  fmtT,
  Frame,
  px,
  rangesWithin,
  stepPath,
  timeUnit,
} from "./svg.ts";
import type { TimedEvent } from "./reader.ts";

/** Width of every graph, px. */
export const GRAPH_WIDTH = 1000;
const LEFT = 84;
const RIGHT = 16;
const TOP = 12;
const BOTTOM = 48;
/** Most hover targets over the segments of a time-sequence graph. */
const SEG_HOVER_BUDGET = 900;
/** Most hover targets over the ACK line. */
const ACK_HOVER_BUDGET = 300;
/** Most hover columns in the cwnd and RTT graphs. */
const COLUMN_HOVER_BUDGET = 250;
/** Most recovery bands or RTO marks drawn one by one (with a tooltip each). */
const MARK_BUDGET = 100;
/** A ssthresh this large means "not set yet" (RFC 5681 §3.1: arbitrarily high). */
const SSTHRESH_INFINITE = 2 ** 30;

function frameFor(height: number, o: GraphOptions, y: [number, number]): Frame {
  return new Frame(
    [LEFT, TOP, GRAPH_WIDTH - LEFT - RIGHT, height - TOP - BOTTOM],
    o.range ?? [0, o.tMax],
    y,
  );
}

function svgOpen(cls: string, height: number, label: string): string {
  return `<svg class="graph ${cls}" role="img" aria-label="${esc(label)}" width="${GRAPH_WIDTH}" ` +
    `height="${height}" viewBox="0 0 ${GRAPH_WIDTH} ${height}">`;
}

/** Recovery bands and RTO marks over a plot, bounded in number of elements. */
function eventMarks(f: Frame, m: ConnectionModel): string {
  let s = "";
  const bands: { x0: number; x1: number; n: number; t0: number; t1: number; kind: string }[] = [];
  const right = f.left + f.width;
  for (const r of m.recoveries) {
    if (r.end < f.xMin || r.start > f.xMax) continue;
    const x0 = Math.max(f.left, f.sx(r.start));
    const x1 = Math.min(right, Math.max(f.sx(r.end), x0 + 1));
    const last = bands[bands.length - 1];
    if (last !== undefined && x0 <= last.x1 + 1) {
      last.x1 = Math.max(last.x1, x1);
      last.t1 = r.end;
      last.n++;
    } else bands.push({ x0, x1, n: 1, t0: r.start, t1: r.end, kind: r.kind });
  }
  const top = f.top;
  const h = f.height;
  if (bands.length <= MARK_BUDGET) {
    for (const b of bands) {
      const what = b.n === 1
        ? `loss recovery (${b.kind}) ${fmtT(b.t0)} – ${fmtT(b.t1)}`
        : `${b.n} loss recoveries ${fmtT(b.t0)} – ${fmtT(b.t1)}`;
      s += `<rect class="recovery" x="${px(b.x0)}" y="${top}" width="${px(b.x1 - b.x0)}" ` +
        `height="${h}"><title>${esc(what)}</title></rect>`;
    }
  } else {
    const d = bands.map((b) => `M${px(b.x0)} ${top}H${px(b.x1)}V${top + h}H${px(b.x0)}Z`).join("");
    s +=
      `<path class="recovery" d="${d}"><title>${m.recoveries.length} loss recoveries</title></path>`;
  }
  const marks: { x: number; n: number; t: number; rto: number; retries: number }[] = [];
  for (const r of m.rtos) {
    if (r.t < f.xMin || r.t > f.xMax) continue;
    const x = f.sx(r.t);
    const last = marks[marks.length - 1];
    if (last !== undefined && x - last.x < 2) {
      last.n++;
      last.rto = r.rto;
      last.retries = r.retries;
    } else marks.push({ x, n: 1, t: r.t, rto: r.rto, retries: r.retries });
  }
  if (marks.length <= MARK_BUDGET) {
    for (const k of marks) {
      const what = `retransmission timeout at ${fmtT(k.t)}${k.n > 1 ? ` (×${k.n})` : ""}: ` +
        `RTO now ${fmtMs(k.rto)}, ${k.retries} retries`;
      s += `<path class="rto-mark" d="M${px(k.x)} ${top}V${top + h}"><title>${
        esc(what)
      }</title></path>`;
    }
  } else {
    const d = marks.map((k) => `M${px(k.x)} ${top}V${top + h}`).join("");
    s +=
      `<path class="rto-mark" d="${d}"><title>${m.rtos.length} retransmission timeouts</title></path>`;
  }
  return s;
}

/** Vertical bars for ranges; `caps` adds ticks at both ends (the retransmission marker). */
function barsPath(f: Frame, ranges: ColumnRange[], caps: boolean): string {
  let d = "";
  for (const r of ranges) {
    const x = px(f.colX(r.col));
    let y0 = f.sy(r.lo);
    let y1 = f.sy(r.hi);
    if (y0 - y1 < 1.5) {
      const mid = (y0 + y1) / 2;
      y0 = mid + 0.75;
      y1 = mid - 0.75;
    }
    d += `M${x} ${px(y0)}V${px(y1)}`;
    if (caps) d += `M${px(+x - 3)} ${px(y1)}h6M${px(+x - 3)} ${px(y0)}h6`;
  }
  return d;
}

function segText(d: Direction, s: DataSeg): string {
  const what = d.dir === "out"
    ? (s.old ? " retransmission" : "")
    : (s.old ? " (old data: retransmitted or reordered)" : "");
  return `${fmtT(s.t)}  ${s.flags} ${s.seq}:${s.end} (${s.len} B)${what}`;
}

/** Options of the graphs of one connection. */
export interface GraphOptions {
  /** Right end of the time axis, ms since the connection opened. */
  tMax: number;
  /**
   * Only this time range, ms. Default: the whole connection, but for a time-sequence graph,
   * whose default is `dataTimeRange`; a time-sequence graph given a range is a close-up.
   */
  range?: [number, number];
}

/**
 * The time-sequence graph of one direction: each data segment as a vertical bar from its
 * first to its last sequence number at the time it was sent (ours) or received (the peer's),
 * retransmissions in red with end ticks, the ACK line and the receive window's right edge
 * (ack + window) from the other side's ACKs, SACKed ranges in purple, loss-recovery bands and
 * RTO marks. Relative sequence numbers; SVG `<title>` tooltips on segments and ACKs.
 *
 * @example
 * ```ts
 * import { buildConnections } from "./model.ts";
 * import { timeSequenceGraph } from "./graphs.ts";
 * const [m] = buildConnections([
 *   { t: 0, c: 1, ev: "seg", dir: "out", seq: 0, ack: 0, len: 0, flags: "S", win: 65535 },
 *   { t: 9, c: 1, ev: "seg", dir: "in", seq: 7, ack: 1, len: 0, flags: "S.", win: 65535 },
 *   { t: 9, c: 1, ev: "seg", dir: "out", seq: 1, ack: 8, len: 1000, flags: "P.", win: 65535 },
 *   { t: 18, c: 1, ev: "seg", dir: "in", seq: 8, ack: 1001, len: 0, flags: ".", win: 65535 },
 * ]);
 * const svg = timeSequenceGraph(m, m.out, { tMax: m.duration });
 * console.log(svg.startsWith("<svg")); // true
 * ```
 */
export function timeSequenceGraph(m: ConnectionModel, d: Direction, o: GraphOptions): string {
  const height = 440;
  const [t0, t1] = o.range ?? dataTimeRange(d, o.tMax);
  // The sequence range of what falls in the time range (and the ACK in force at its start).
  let yMin = Infinity;
  let top = -Infinity;
  let edge = -Infinity;
  for (const s of d.segs) {
    if (s.t < t0 || s.t > t1) continue;
    if (s.end > top) top = s.end;
    if (s.seq < yMin) yMin = s.seq;
  }
  let prior = -1;
  for (let i = 0; i < d.acks.length; i++) {
    const a = d.acks[i];
    if (a.t < t0) {
      prior = i;
      continue;
    }
    if (a.t > t1) break;
    if (a.ack > top) top = a.ack;
    if (a.ack + a.win > edge) edge = a.ack + a.win;
    if (a.ack < yMin) yMin = a.ack;
  }
  if (prior >= 0) {
    const a = d.acks[prior];
    top = Math.max(top, a.ack);
    edge = Math.max(edge, a.ack + a.win);
    yMin = Math.min(yMin, a.ack);
  }
  if (!Number.isFinite(yMin)) yMin = 0;
  if (o.range === undefined) yMin = Math.min(yMin, 0);
  if (!(top > yMin)) top = yMin + 1;
  if (!(edge > yMin)) edge = top;
  if (o.range !== undefined) {
    // A close-up: a little room below the lowest number shown.
    yMin = Math.max(0, yMin - (top - yMin) * 0.05);
  }
  // A window far above the data would squash it: then the window line is cut at the top.
  const clipped = edge - yMin > 1.5 * (top - yMin);
  const yMax = clipped ? yMin + (top - yMin) * 1.25 : Math.max(top, edge) * 1.02;
  const f = new Frame(
    [LEFT, TOP, GRAPH_WIDTH - LEFT - RIGHT, height - TOP - BOTTOM],
    [t0, t1],
    [yMin, yMax],
  );
  const label = `time-sequence graph ${d.from} → ${d.to}`;
  let s = svgOpen("tsg", height, label);
  const clipId = `clip-${m.id}-${d.dir}${o.range !== undefined ? "-zoom" : ""}`;
  s += `<defs><clipPath id="${clipId}"><rect x="${f.left}" y="${f.top}" width="${f.width}" ` +
    `height="${f.height}"/></clipPath></defs>`;
  s += axes(f, {
    xUnit: timeUnit(t1 - t0),
    yUnit: byteUnit(yMax - yMin),
    xTitle: "time",
    yTitle: "relative sequence number",
  });
  if (d.dir === "out") s += eventMarks(f, m);
  s += `<g clip-path="url(#${clipId})">`;
  const gap = f.yPerPx;
  const segs = d.segs;
  const segSrc = {
    count: segs.length,
    t: (i: number) => segs[i].t,
    lo: (i: number) => segs[i].seq,
    hi: (i: number) => segs[i].end,
  };
  const acks = d.acks;
  s += `<path class="window" d="${
    stepPath(f, {
      count: acks.length,
      t: (i) => acks[i].t,
      v: (i) => acks[i].ack + acks[i].win,
    }, o.tMax)
  }"/>`;
  // SACK blocks (RFC 2018): what the receiver holds above the cumulative ACK.
  const sT: number[] = [], sL: number[] = [], sR: number[] = [];
  for (const a of acks) {
    for (let k = 0; k + 1 < a.sack.length; k += 2) {
      sT.push(a.t);
      sL.push(a.sack[k]);
      sR.push(a.sack[k + 1]);
    }
  }
  const sacks = columnRanges(
    f,
    { count: sT.length, t: (i) => sT[i], lo: (i) => sL[i], hi: (i) => sR[i] },
    1,
    gap,
  );
  s += `<path class="sack" d="${barsPath(f, sacks, false)}"/>`;
  s += `<path class="ack" d="${
    stepPath(f, { count: acks.length, t: (i) => acks[i].t, v: (i) => acks[i].ack }, o.tMax)
  }"/>`;
  const fresh = columnRanges(f, { ...segSrc, use: (i) => !segs[i].old }, 1, gap);
  const old = columnRanges(f, { ...segSrc, use: (i) => segs[i].old }, 1, gap);
  s += `<path class="data" d="${barsPath(f, fresh, false)}"/>`;
  s += `<path class="rtx" d="${barsPath(f, old, true)}"/>`;
  s += `</g>`;
  if (clipped) {
    s += `<text class="clip-note" x="${f.left + f.width - 6}" y="${f.top + 14}">receive ` +
      `window edge off the top (up to ${fmtInt(edge)})</text>`;
  }
  // Hover targets: the ACK line first, the segments over it.
  s += `<g class="hits">`;
  const ackHits = rangesWithin(
    f,
    { count: acks.length, t: (i) => acks[i].t, lo: (i) => acks[i].ack, hi: (i) => acks[i].ack },
    ACK_HOVER_BUDGET,
    3,
  );
  for (const r of ackHits.ranges) {
    const a = acks[r.last];
    let text: string;
    if (r.n <= r.items.length) {
      text = r.items.map((i) => {
        const k = acks[i];
        const sack = k.sack.length > 0 ? ` SACK ${pairs(k.sack)}` : "";
        return `${fmtT(k.t)}  ACK ${k.ack} win ${k.win} (edge ${k.ack + k.win})${sack}`;
      }).join("\n");
    } else {
      text = `${fmtInt(r.n)} ACKs ${fmtT(r.t0)} – ${fmtT(r.t1)}: ack ${r.lo} … ${r.hi}\n` +
        `last: ACK ${a.ack} win ${a.win}${a.sack.length > 0 ? ` SACK ${pairs(a.sack)}` : ""}`;
    }
    s += hitRect(f, r, ackHits.binPx, 4, `ACK of ${d.from} → ${d.to}\n${text}`);
  }
  const segHits = rangesWithin(
    f,
    { ...segSrc, mark: (i) => segs[i].old },
    SEG_HOVER_BUDGET,
    2,
  );
  for (const r of segHits.ranges) {
    let text: string;
    if (r.n <= r.items.length) {
      text = r.items.map((i) => segText(d, segs[i])).join("\n");
    } else {
      const verb = d.dir === "out" ? "sent" : "received";
      text = `${fmtInt(r.n)} segments ${verb} ${fmtT(r.t0)} – ${fmtT(r.t1)}\n` +
        `seq ${r.lo}:${r.hi} (${fmtBytes(r.hi - r.lo)})` +
        (r.marked > 0 ? `\n${r.marked} ${d.dir === "out" ? "retransmitted" : "old data"}` : "") +
        `\nfirst: ${segText(d, segs[r.items[0]])}`;
    }
    s += hitRect(f, r, segHits.binPx, 3, text);
  }
  s += `</g></svg>`;
  return s;
}

/**
 * The time range of a direction's graph: the whole connection, unless its data and ACKs
 * take less than half of it (a reply at the end); then just their span, with a margin.
 */
export function dataTimeRange(d: Direction, tMax: number): [number, number] {
  let a = Infinity;
  let b = -Infinity;
  for (const s of d.segs) {
    if (s.len > 0 || s.flags.includes("F")) {
      a = Math.min(a, s.t);
      b = Math.max(b, s.t);
    }
  }
  if (!Number.isFinite(a)) return [0, tMax];
  for (const k of d.acks) if (k.t >= a) b = Math.max(b, k.t);
  if (b - a >= tMax / 2) return [0, tMax];
  const margin = Math.max((b - a) * 0.03, 0.05);
  return [Math.max(0, a - margin), Math.min(tMax, b + margin)];
}

/** What a close-up of a crowded time-sequence graph shows. */
export interface CloseUp {
  /** Its time range, ms. */
  range: [number, number];
  /** What happens there, for the heading. */
  what: string;
}

/**
 * A time range worth a close-up in our direction's time-sequence graph when the whole
 * transfer is too dense to show single segments: around the first retransmission timeout,
 * or else the longest loss recovery; undefined when there is neither or the graph is sparse.
 */
export function closeUpRange(m: ConnectionModel, minSegments = 1000): CloseUp | undefined {
  if (m.out.segs.length < minSegments) return undefined;
  const samples = m.rtt.map((r) => r.sample).sort((a, b) => a - b);
  const rtt = Math.max(samples.length > 0 ? samples[samples.length >> 1] : 20, 1);
  if (m.rtos.length > 0) {
    const e = m.rtos[0];
    let rto = 4 * rtt;
    for (const r of m.rtt) if (r.t <= e.t) rto = Math.max(r.rto, 4 * rtt);
    return {
      range: [Math.max(0, e.t - rto - 3 * rtt), Math.min(m.duration, e.t + 8 * rtt)],
      what: `the first retransmission timeout, at ${fmtT(e.t)}`,
    };
  }
  let best: Recovery | undefined;
  for (const r of m.recoveries) {
    if (best === undefined || r.end - r.start > best.end - best.start) best = r;
  }
  if (best === undefined) return undefined;
  return {
    range: [Math.max(0, best.start - 3 * rtt), Math.min(m.duration, best.end + 3 * rtt)],
    what: `the longest loss recovery (${best.kind}), from ${fmtT(best.start)} to ${fmtT(best.end)}`,
  };
}

function pairs(a: number[]): string {
  const out: string[] = [];
  for (let k = 0; k + 1 < a.length; k += 2) out.push(`${a[k]}:${a[k + 1]}`);
  return out.join(" ");
}

function hitRect(f: Frame, r: ColumnRange, binPx: number, pad: number, title: string): string {
  const w = Math.max(binPx, 5);
  const x = f.colX(r.col, binPx) - w / 2;
  const y = f.sy(r.hi) - pad;
  const h = f.sy(r.lo) - f.sy(r.hi) + 2 * pad;
  return `<rect class="hit" x="${px(x)}" y="${px(y)}" width="${px(w)}" height="${px(h)}">` +
    `<title>${esc(title)}</title></rect>`;
}

/** Full-height hover columns: the state at the end of each bin, described by `describe`. */
function columnHits(
  f: Frame,
  count: number,
  t: (i: number) => number,
  describe: (first: number, last: number) => string,
): string {
  const binPx = 2 ** Math.max(0, Math.ceil(Math.log2(f.width / COLUMN_HOVER_BUDGET)));
  let s = `<g class="hits">`;
  let start = 0;
  while (start < count && t(start) < f.xMin) start++;
  while (start < count && t(start) <= f.xMax) {
    const col = f.col(t(start), binPx);
    let end = start;
    while (end + 1 < count && t(end + 1) <= f.xMax && f.col(t(end + 1), binPx) === col) end++;
    const x = f.left + col * binPx;
    const w = Math.min(binPx, f.left + f.width - x);
    s += `<rect class="hit" x="${px(x)}" y="${f.top}" width="${px(Math.max(w, 1))}" ` +
      `height="${f.height}"><title>${esc(describe(start, end))}</title></rect>`;
    start = end + 1;
  }
  return s + `</g>`;
}

/**
 * Congestion window, slow-start threshold and bytes in flight (RFC 5681, RFC 6675 pipe)
 * over time, from the `cc` events, with loss-recovery bands and RTO marks; or an empty
 * string when the trace has none.
 *
 * @example
 * ```ts
 * import { buildConnections } from "./model.ts";
 * import { cwndGraph } from "./graphs.ts";
 * const [m] = buildConnections([
 *   { t: 0, c: 1, ev: "cc", cwnd: 14480, ssthresh: 2147483647, inflight: 0 },
 *   { t: 5, c: 1, ev: "cc", cwnd: 28960, ssthresh: 2147483647, inflight: 14480 },
 * ]);
 * console.log(cwndGraph(m, { tMax: 10 }).includes("cwnd")); // true
 * ```
 */
export function cwndGraph(m: ConnectionModel, o: GraphOptions): string {
  const cc = m.cc;
  if (cc.length === 0) return "";
  const height = 280;
  let yMax = 1;
  for (const c of cc) {
    yMax = Math.max(yMax, c.cwnd, c.inflight, c.ssthresh < SSTHRESH_INFINITE ? c.ssthresh : 0);
  }
  const f = frameFor(height, o, [0, yMax * 1.05]);
  let s = svgOpen("cc", height, "congestion window over time");
  s += axes(f, {
    xUnit: timeUnit(f.xMax - f.xMin),
    yUnit: byteUnit(yMax),
    xTitle: "time",
    yTitle: "bytes",
  });
  s += eventMarks(f, m);
  const t = (i: number) => cc[i].t;
  s += `<path class="inflight" d="${
    stepPath(f, { count: cc.length, t, v: (i) => cc[i].inflight }, o.tMax)
  }"/>`;
  s += `<path class="ssthresh" d="${
    stepPath(f, {
      count: cc.length,
      t,
      v: (i) => cc[i].ssthresh < SSTHRESH_INFINITE ? cc[i].ssthresh : NaN,
    }, o.tMax)
  }"/>`;
  s += `<path class="cwnd" d="${
    stepPath(f, { count: cc.length, t, v: (i) => cc[i].cwnd }, o.tMax)
  }"/>`;
  s += columnHits(f, cc.length, t, (a, b) => {
    const c = cc[b];
    let lo = Infinity, hi = -Infinity;
    for (let i = a; i <= b; i++) {
      lo = Math.min(lo, cc[i].cwnd);
      hi = Math.max(hi, cc[i].cwnd);
    }
    const ss = c.ssthresh < SSTHRESH_INFINITE ? fmtBytes(c.ssthresh) : "∞";
    return `${fmtT(c.t)}: cwnd ${fmtBytes(c.cwnd)} (${fmtInt(c.cwnd)} B), ssthresh ${ss}, ` +
      `in flight ${fmtBytes(c.inflight)}` +
      (b > a
        ? `\n${b - a + 1} changes since ${fmtT(cc[a].t)}, cwnd ${fmtBytes(lo)} – ${fmtBytes(hi)}`
        : "");
  });
  return s + `</svg>`;
}

/**
 * RTT samples (grey), smoothed RTT and the retransmission timeout (RFC 6298) over time, the
 * RTO including its backoff after each expiry (§5.5); or an empty string without samples.
 *
 * @example
 * ```ts
 * import { buildConnections } from "./model.ts";
 * import { rttGraph } from "./graphs.ts";
 * const [m] = buildConnections([
 *   { t: 3, c: 1, ev: "rtt", sample: 20, srtt: 20, rttvar: 10, rto: 200 },
 * ]);
 * console.log(rttGraph(m, { tMax: 10 }).includes("RTT")); // true
 * ```
 */
export function rttGraph(m: ConnectionModel, o: GraphOptions): string {
  if (m.rtt.length === 0) return "";
  const height = 280;
  // The RTO series: every estimator update, and every backoff when the timer fires.
  const rto: { t: number; v: number }[] = [];
  let i = 0, j = 0;
  while (i < m.rtt.length || j < m.rtos.length) {
    if (j >= m.rtos.length || (i < m.rtt.length && m.rtt[i].t <= m.rtos[j].t)) {
      rto.push({ t: m.rtt[i].t, v: m.rtt[i].rto });
      i++;
    } else {
      rto.push({ t: m.rtos[j].t, v: m.rtos[j].rto });
      j++;
    }
  }
  // A log scale: RTTs of a few ms and an RTO of 200 ms (or 60 s after backoff) both show.
  let yMax = 1;
  let yMin = Infinity;
  for (const r of m.rtt) {
    yMax = Math.max(yMax, r.sample, r.srtt, r.rto);
    yMin = Math.min(yMin, r.sample, r.srtt);
  }
  for (const r of rto) yMax = Math.max(yMax, r.v);
  const floor = Math.max(Math.min(yMin, yMax) * 0.7, 0.01);
  const lg = (v: number) => Math.log10(Math.max(v, floor));
  const f = frameFor(height, o, [lg(floor), lg(yMax * 1.3)]);
  let s = svgOpen("rtt", height, "RTT and RTO over time");
  s += axes(f, {
    xUnit: timeUnit(f.xMax - f.xMin),
    yUnit: { name: "ms", div: 1 },
    xTitle: "time",
    yTitle: "RTT, log scale",
    yLog: true,
  });
  s += eventMarks(f, m);
  const rtt = m.rtt;
  const samples = columnRanges(
    f,
    {
      count: rtt.length,
      t: (k) => rtt[k].t,
      lo: (k) => lg(rtt[k].sample),
      hi: (k) => lg(rtt[k].sample),
    },
    1,
    f.yPerPx,
  );
  s += `<path class="sample" d="${barsPath(f, samples, false)}"/>`;
  s += `<path class="rto" d="${
    stepPath(f, { count: rto.length, t: (k) => rto[k].t, v: (k) => lg(rto[k].v) }, o.tMax)
  }"/>`;
  s += `<path class="srtt" d="${
    stepPath(f, { count: rtt.length, t: (k) => rtt[k].t, v: (k) => lg(rtt[k].srtt) }, o.tMax)
  }"/>`;
  s += columnHits(f, rtt.length, (k) => rtt[k].t, (a, b) => {
    const r = rtt[b];
    let lo = Infinity, hi = -Infinity;
    for (let k = a; k <= b; k++) {
      lo = Math.min(lo, rtt[k].sample);
      hi = Math.max(hi, rtt[k].sample);
    }
    const n = b - a + 1;
    return `${fmtT(r.t)}: ${
      n === 1 ? `sample ${fmtMs(r.sample)}` : `${n} samples ${fmtMs(lo)} – ${fmtMs(hi)}`
    }` +
      `\nsrtt ${fmtMs(r.srtt)}, rttvar ${fmtMs(r.rttvar)}, RTO ${fmtMs(r.rto)}`;
  });
  return s + `</svg>`;
}

/** Segments shown at each end of the ladder. */
export const LADDER_ENDS = 12;
const ROW = 24;
/** Our lifeline and the peer's, x px. */
const L = 330;
const R = 820;
/** Angle of an arrow that falls 16 px between the lifelines. */
const SLOPE_DEG = Math.atan2(16, R - L) * 180 / Math.PI;

interface LadderSeg {
  e: TimedEvent & { ev: "seg" };
  seq: number;
  ack: number;
  sack: number[];
}

/**
 * A ladder (sequence) diagram of the first and last `LADDER_ENDS` segments between our end
 * (left) and the peer (right), time going down: each segment an arrow with its flags,
 * relative sequence and acknowledgment numbers, length and window; our state transitions,
 * timeouts and recoveries on our side; the flags each segment carries on the peer's side.
 *
 * @example
 * ```ts
 * import { buildConnections } from "./model.ts";
 * import { ladderDiagram } from "./graphs.ts";
 * const [m] = buildConnections([
 *   { t: 0, c: 1, ev: "open", local: "10.0.0.1:1", remote: "10.0.0.2:2", active: true, mss: 1460 },
 *   { t: 0, c: 1, ev: "state", from: "CLOSED", to: "SYN-SENT", cause: "connect()" },
 *   { t: 0, c: 1, ev: "seg", dir: "out", seq: 0, ack: 0, len: 0, flags: "S", win: 65535 },
 * ]);
 * console.log(ladderDiagram(m).includes("SYN-SENT")); // true
 * ```
 */
export function ladderDiagram(m: ConnectionModel): string {
  // Relative numbers replayed in the model's order (SeqSpace is wrap-aware and stateful).
  const outSpace = new SeqSpace();
  const inSpace = new SeqSpace();
  const segs: LadderSeg[] = [];
  const segIndex: number[] = [];
  m.events.forEach((e, idx) => {
    if (e.ev !== "seg") return;
    const own = e.dir === "out" ? outSpace : inSpace;
    const other = e.dir === "out" ? inSpace : outSpace;
    const seq = own.rel(e.seq);
    const hasAck = e.flags.includes(".");
    const ack = hasAck ? other.rel(e.ack) : NaN;
    const sack = hasAck && e.sack !== undefined ? e.sack.map((v) => other.rel(v)) : [];
    segs.push({ e, seq, ack, sack });
    segIndex.push(idx);
  });
  const n = segs.length;
  const cut = n > 2 * LADDER_ENDS;
  // Event ranges shown: everything before the 13th segment, everything from the 12th-last.
  const headEnd = cut ? segIndex[LADDER_ENDS] : m.events.length;
  const tailStart = cut ? segIndex[n - LADDER_ENDS] : m.events.length;
  type Row =
    | { kind: "seg"; s: LadderSeg }
    | { kind: "note"; t: number; text: string; title: string; cls: string }
    | { kind: "gap"; text: string };
  const rows: Row[] = [];
  let segAt = 0;
  let notes = 0;
  const addEvent = (e: TimedEvent, idx: number) => {
    const t = e.t - m.t0;
    if (e.ev === "seg") {
      while (segIndex[segAt] < idx) segAt++;
      rows.push({ kind: "seg", s: segs[segAt] });
      return;
    }
    if (notes >= 4 * LADDER_ENDS) return;
    let note: { text: string; title: string; cls: string } | undefined;
    switch (e.ev) {
      case "state":
        note = { text: e.to, title: `${e.from} → ${e.to}: ${e.cause}`, cls: "state" };
        break;
      case "close":
        note = {
          text: `closed: ${e.reason}`,
          title: `connection closed: ${e.reason}`,
          cls: "state",
        };
        break;
      case "rto":
        note = {
          text: `RTO fired`,
          title: `RTO now ${fmtMs(e.rto)}, ${e.retries} retries`,
          cls: "alert",
        };
        break;
      case "recovery":
        note = {
          text: `recovery ${e.phase}`,
          title: `loss recovery (${e.kind}) ${e.phase === "enter" ? "entered" : "left"}`,
          cls: "alert",
        };
        break;
      case "probe":
        note = { text: `${e.kind} probe`, title: `probe: ${e.kind}`, cls: "alert" };
        break;
      case "mss":
        note = { text: `MSS ${e.mss}`, title: `MSS now ${e.mss} (${e.cause})`, cls: "alert" };
        break;
    }
    if (note !== undefined) {
      notes++;
      rows.push({ kind: "note", t, ...note });
    }
  };
  for (let idx = 0; idx < Math.min(headEnd, m.events.length); idx++) addEvent(m.events[idx], idx);
  if (cut) {
    const hidden = n - 2 * LADDER_ENDS;
    const t0 = segs[LADDER_ENDS].e.t - m.t0;
    const t1 = segs[n - LADDER_ENDS - 1].e.t - m.t0;
    rows.push({
      kind: "gap",
      text: `⋮ ${fmtInt(hidden)} segments not shown (${fmtT(t0)} – ${fmtT(t1)}) ⋮`,
    });
    notes = 0;
    let state: (TimedEvent & { ev: "state" }) | undefined;
    for (let idx = 0; idx < tailStart; idx++) {
      const e = m.events[idx];
      if (e.ev === "state") state = e;
    }
    if (state !== undefined) {
      rows.push({
        kind: "note",
        t: segs[n - LADDER_ENDS].e.t - m.t0,
        text: state.to,
        title: `in ${state.to} since ${fmtT(state.t - m.t0)} (${state.from} → ${state.to}: ` +
          `${state.cause})`,
        cls: "state",
      });
    }
    for (let idx = tailStart; idx < m.events.length; idx++) addEvent(m.events[idx], idx);
  }

  const top = 44;
  const height = top + rows.length * ROW + 16;
  const markerId = `arrow-${m.id}`;
  let s = `<svg class="ladder" role="img" aria-label="ladder diagram" width="${GRAPH_WIDTH}" ` +
    `height="${height}" viewBox="0 0 ${GRAPH_WIDTH} ${height}">` +
    `<defs><marker id="${markerId}" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" ` +
    `markerHeight="7" orient="auto-start-reverse"><path d="M0 0L10 5L0 10z"/></marker></defs>` +
    `<text class="end-label" x="${L}" y="16">${esc(m.local)} (us)</text>` +
    `<text class="end-label" x="${R}" y="16">${esc(m.remote)} (peer)</text>` +
    `<text class="col-label" x="8" y="34">time</text>` +
    `<path class="lifeline" d="M${L} 24V${height - 8}M${R} 24V${height - 8}"/>`;
  rows.forEach((row, k) => {
    const y = top + k * ROW;
    if (row.kind === "gap") {
      s += `<text class="gap" x="${(L + R) / 2}" y="${y + 15}">${esc(row.text)}</text>`;
      return;
    }
    if (row.kind === "note") {
      s +=
        `<g class="note ${row.cls}"><text class="time" x="8" y="${y + 15}">${fmtT(row.t)}</text>` +
        `<text x="${L - 10}" y="${y + 15}">${esc(row.text)}</text><title>${
          esc(row.title)
        }</title></g>`;
      return;
    }
    const e = row.s.e;
    const out = e.dir === "out";
    const x1 = out ? L : R;
    const x2 = out ? R : L;
    const cls = `seg ${e.dir}${e.rtx ? " rtx" : ""}${e.flags.includes("R") ? " rst" : ""}`;
    const label = ladderLabel(row.s);
    const detail = `${fmtT(e.t - m.t0)} ${out ? "sent" : "received"}: ${label}` +
      (e.rtx ? " (retransmission)" : "") + `\nabsolute seq ${e.seq}, ack ${e.ack}` +
      (e.segs !== undefined ? `\nsuper-segment of ${e.segs} segments` : "");
    s += `<g class="${cls}"><text class="time" x="8" y="${y + 15}">${fmtT(e.t - m.t0)}</text>` +
      `<path d="M${x1} ${y + 4}L${x2} ${y + 20}" marker-end="url(#${markerId})"/>` +
      `<text class="label" x="${(L + R) / 2}" y="${y + 9}" transform="rotate(${
        out ? SLOPE_DEG : -SLOPE_DEG
      } ${(L + R) / 2} ${y + 12})">${esc(label)}</text>` +
      `<text class="peer-flags" x="${R + 10}" y="${y + 15}">${esc(e.flags)}${
        e.len > 0 ? ` ${e.len}` : ""
      }</text>` +
      `<title>${esc(detail)}</title></g>`;
  });
  return s + `</svg>`;
}

function ladderLabel(s: LadderSeg): string {
  const e = s.e;
  const syn = e.flags.includes("S") ? 1 : 0;
  const fin = e.flags.includes("F") ? 1 : 0;
  // tcpdump's form: the sequence range when the segment occupies any, else just the ACK.
  let text = e.flags;
  if (syn + e.len + fin > 0 || !e.flags.includes(".")) {
    text += ` ${s.seq}:${s.seq + syn + e.len + fin}`;
  }
  if (e.len > 0) text += ` (${e.len})`;
  if (!Number.isNaN(s.ack)) text += ` ack ${s.ack}`;
  text += ` win ${e.win}`;
  if (s.sack.length > 0) text += ` sack ${pairs(s.sack)}`;
  if (e.rtx) text += " rtx";
  return text;
}
