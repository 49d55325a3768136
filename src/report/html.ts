/**
 * `tcptun report`: a parsed trace to one self-contained HTML page: inline CSS and SVG, no
 * script, nothing fetched (a Content-Security-Policy forbids it). One section per connection
 * with its summary table, time-sequence graph(s), congestion window, RTT and RTO graphs and a
 * ladder diagram of its first and last segments.
 * @module
 */

import { buildConnections, type ConnectionModel, type Direction } from "./model.ts";
import {
  closeUpRange,
  cwndGraph,
  dataTimeRange,
  ladderDiagram,
  rttGraph,
  timeSequenceGraph,
} from "./graphs.ts";
import { esc, fmtBytes, fmtInt, fmtMs, fmtRate } from "./svg.ts";
import type { Trace } from "./reader.ts";

/** Options of `renderReport`. */
export interface ReportOptions {
  /** Shown in the title: the trace file's name. */
  source?: string;
  /** Connections drawn in full; the others get a row in the overview only. Default 100. */
  maxConnections?: number;
}

const CSS = `
:root{color-scheme:light;--fg:#1d2330;--muted:#5d6778;--line:#d5dae3;--bg:#fff;--panel:#f6f8fb}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
header,main{max-width:1060px;margin:0 auto;padding:0 16px}
header{padding-top:20px}
h1{font-size:22px;margin:0 0 4px}
h2{font-size:18px;margin:0 0 10px;padding-top:16px;border-top:2px solid var(--line)}
h3{font-size:15px;margin:22px 0 4px}
p.meta,p.note{color:var(--muted);margin:2px 0 8px}
table{border-collapse:collapse;margin:6px 0 10px}
th,td{padding:3px 10px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
table.summary th[scope=row]{font-weight:500;color:var(--muted)}
table.overview td a{color:inherit}
section.conn{margin:28px 0 40px}
.legend{display:flex;flex-wrap:wrap;gap:4px 16px;color:var(--muted);font-size:12px;margin:2px 0 4px}
.legend span{display:inline-flex;align-items:center;gap:5px}
.legend i{display:inline-block;width:18px;height:0;border-top:3px solid}
.legend i.band{height:10px;border:0}
svg{display:block;max-width:100%;height:auto;background:var(--bg);font:11px system-ui,sans-serif}
svg text{fill:var(--fg)}
.grid{stroke:#eceff4;stroke-width:1;fill:none}
.plot-frame{fill:none;stroke:#9aa3b2}
.tick{stroke:#9aa3b2;fill:none}
.tick-labels.x text{text-anchor:middle;fill:var(--muted)}
.tick-labels.y text{text-anchor:end;dominant-baseline:middle;fill:var(--muted)}
.axis-title{text-anchor:middle;font-size:12px;font-weight:600}
.data{stroke:#1f63c6;stroke-width:1.6;fill:none}
.rtx{stroke:#d4212b;stroke-width:1.8;fill:none}
.ack{stroke:#17944a;stroke-width:1.4;fill:none}
.window{stroke:#e0a000;stroke-width:1.2;fill:none}
.sack{stroke:#9b4dca;stroke-width:2.2;fill:none;opacity:.75}
.recovery{fill:#ff9800;fill-opacity:.13;stroke:none}
.rto-mark{stroke:#d4212b;stroke-width:2;stroke-dasharray:4 3;fill:none}
.cwnd{stroke:#1f63c6;stroke-width:1.6;fill:none}
.ssthresh{stroke:#9b4dca;stroke-width:1.4;stroke-dasharray:6 3;fill:none}
.inflight{stroke:#17944a;stroke-width:1.1;fill:none;opacity:.8}
.sample{stroke:#8a93a3;stroke-width:2;fill:none}
.srtt{stroke:#1f63c6;stroke-width:1.6;fill:none}
.rto{stroke:#d4212b;stroke-width:1.4;fill:none}
.clip-note{text-anchor:end;fill:#a07000;font-size:11px}
.hit{fill:#000;fill-opacity:0}
.hit:hover{fill-opacity:.12}
.ladder .end-label{font-size:12px;font-weight:600;text-anchor:middle}
.ladder .col-label{fill:var(--muted)}
.ladder .lifeline{stroke:#7b8494;stroke-width:2}
.ladder .time{fill:var(--muted);font-variant-numeric:tabular-nums}
.ladder .seg path{stroke:#1f63c6;stroke-width:1.3;fill:none}
.ladder .seg.in path{stroke:#17944a}
.ladder .seg.rtx path{stroke:#d4212b}
.ladder .seg.rst path{stroke:#000;stroke-dasharray:3 2}
.ladder marker path{fill:#555}
.ladder .label{text-anchor:middle;font-family:ui-monospace,Menlo,Consolas,monospace;font-size:10.5px}
.ladder .peer-flags{font-family:ui-monospace,Menlo,Consolas,monospace;fill:var(--muted)}
.ladder .note text:not(.time){text-anchor:end;font-weight:600}
.ladder .note.alert text:not(.time){fill:#c0392b}
.ladder .gap{text-anchor:middle;fill:var(--muted);font-style:italic}
.ladder g:hover text{fill:#000}
.ladder g.seg:hover path{stroke-width:2.4}
`;

function legend(items: [string, string, boolean?][]): string {
  return `<div class="legend">${
    items.map(([cls, text, band]) =>
      `<span><i class="${band ? "band " : ""}k-${cls}"></i>${esc(text)}</span>`
    ).join("")
  }</div>`;
}

const KEY_COLORS: Record<string, string> = {
  data: "#1f63c6",
  rtx: "#d4212b",
  ack: "#17944a",
  window: "#e0a000",
  sack: "#9b4dca",
  cwnd: "#1f63c6",
  ssthresh: "#9b4dca",
  inflight: "#17944a",
  sample: "#8a93a3",
  srtt: "#1f63c6",
  rto: "#d4212b",
};
const KEY_CSS = Object.entries(KEY_COLORS).map(([k, c]) => `.legend i.k-${k}{border-color:${c}}`)
  .join("") +
  `.legend i.k-recovery{background:rgba(255,152,0,.3)}` +
  `.legend i.k-rtomark{border-top:3px dashed #d4212b}`;

function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const v = [...values].sort((a, b) => a - b);
  const mid = v.length >> 1;
  return v.length % 2 === 1 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

/** The span a direction's goodput is measured over: first payload byte to its last ACK. */
function transferSpan(d: Direction): number {
  const end = Number.isNaN(d.ackedT) ? d.lastDataT : d.ackedT;
  return end - d.firstDataT;
}

function directionRows(m: ConnectionModel): string {
  const dirs = [m.out, m.in];
  const row = (label: string, f: (d: Direction) => string) =>
    `<tr><th scope="row">${esc(label)}</th>${
      dirs.map((d) => `<td class="num">${f(d)}</td>`).join("")
    }</tr>`;
  return `<table class="summary directions"><thead><tr><th></th>` +
    `<th class="num">${esc(m.local)} → ${esc(m.remote)} (sent)</th>` +
    `<th class="num">${esc(m.remote)} → ${esc(m.local)} (received)</th></tr></thead><tbody>` +
    row("bytes", (d) => `${fmtBytes(d.bytes)} (${fmtInt(d.bytes)} B)`) +
    row("segments (with payload)", (d) => `${fmtInt(d.segments)} (${fmtInt(d.dataSegments)})`) +
    row("payload on the wire", (d) => fmtBytes(d.wireBytes)) +
    row(
      "retransmitted (received: old data)",
      (d) => `${fmtInt(d.oldSegments)} segs, ${fmtBytes(d.oldBytes)}`,
    ) +
    row("goodput (first byte to its last ACK)", (d) => {
      const span = transferSpan(d);
      return d.bytes > 0 ? `${fmtRate(d.bytes, span)} over ${fmtMs(span)}` : "-";
    }) +
    `</tbody></table>`;
}

function summaryTable(m: ConnectionModel): string {
  const samples = m.rtt.map((r) => r.sample);
  const count = (kind: string) => m.recoveries.filter((r) => r.kind === kind).length;
  const probeCounts = new Map<string, number>();
  for (const p of m.probes) probeCounts.set(p.kind, (probeCounts.get(p.kind) ?? 0) + 1);
  const finalState = m.states.length > 0 ? m.states[m.states.length - 1].to : "-";
  const maxCwnd = m.cc.reduce((a, c) => Math.max(a, c.cwnd), 0);
  const rows: [string, string][] = [
    ["local", esc(m.local)],
    ["remote", esc(m.remote)],
    [
      "opened by",
      m.active === undefined ? "-" : m.active ? "us (active open)" : "the peer (passive open)",
    ],
    ["MSS offered", Number.isNaN(m.mss) ? "-" : `${fmtInt(m.mss)} B`],
    ["duration", fmtMs(m.duration)],
    [
      "RTT min / median / max",
      samples.length === 0
        ? "-"
        : `${fmtMs(Math.min(...samples))} / ${fmtMs(median(samples))} / ${
          fmtMs(Math.max(...samples))
        } (${fmtInt(samples.length)} samples)`,
    ],
    ["retransmission timeouts", fmtInt(m.rtos.length)],
    [
      "loss recoveries",
      `${fmtInt(m.recoveries.length)}` +
      (m.recoveries.length > 0 ? ` (SACK ${count("sack")}, NewReno ${count("newreno")})` : ""),
    ],
    [
      "probes",
      probeCounts.size === 0
        ? "0"
        : [...probeCounts].map(([k, n]) => `${k} ${fmtInt(n)}`).join(", "),
    ],
    ["largest cwnd", maxCwnd > 0 ? fmtBytes(maxCwnd) : "-"],
    [
      "MSS changes",
      m.mssChanges.length === 0
        ? "0"
        : m.mssChanges.map((c) => `${c.mss} (${esc(c.cause)})`).join(", "),
    ],
    ["last state", esc(finalState)],
    ["close reason", m.closeReason === undefined ? "not closed in the trace" : esc(m.closeReason)],
  ];
  return `<table class="summary"><tbody>${
    rows.map(([k, v]) => `<tr><th scope="row">${esc(k)}</th><td>${v}</td></tr>`).join("")
  }</tbody></table>` + directionRows(m);
}

function overviewRow(m: ConnectionModel, linked: boolean): string {
  const name = linked ? `<a href="#conn-${m.id}">${m.id}</a>` : String(m.id);
  return `<tr><td class="num">${name}</td><td>${esc(m.local)}</td><td>${esc(m.remote)}</td>` +
    `<td class="num">${fmtBytes(m.out.bytes)}</td><td class="num">${fmtBytes(m.in.bytes)}</td>` +
    `<td class="num">${fmtMs(m.duration)}</td><td class="num">${fmtInt(m.out.oldSegments)}</td>` +
    `<td>${esc(m.closeReason ?? "-")}</td></tr>`;
}

function connectionSection(m: ConnectionModel): string {
  const tMax = Math.max(m.duration, 1e-3);
  let s = `<section class="conn" id="conn-${m.id}">` +
    `<h2>Connection ${m.id}: ${esc(m.local)} ⇄ ${esc(m.remote)}</h2>` +
    `<h3>Summary</h3>${summaryTable(m)}`;
  // Both directions when both carry data, the busier first; else the one that does.
  const dirs = [m.out, m.in].filter((d) => d.bytes > 0).sort((a, b) => b.bytes - a.bytes);
  if (dirs.length === 0) {
    s += `<h3>Time-sequence graph</h3><p class="note">No data was sent either way.</p>`;
  }
  const zoom = closeUpRange(m);
  for (const d of dirs) {
    const what = d.dir === "out" ? "sent by us" : "received from the peer";
    const key = legend([
      ["data", d.dir === "out" ? "data sent" : "data received"],
      ["rtx", d.dir === "out" ? "retransmission" : "old data (retransmitted or reordered)"],
      ["ack", "ACK"],
      ["window", "receive window (ack + window)"],
      ["sack", "SACKed"],
      ...(d.dir === "out"
        ? [["recovery", "loss recovery", true], ["rtomark", "RTO fired"]] as [
          string,
          string,
          boolean?,
        ][]
        : []),
    ]);
    s += `<h3 class="tsg-title">Time-sequence graph: ${esc(d.from)} → ${esc(d.to)} (${what})</h3>` +
      key + timeSequenceGraph(m, d, { tMax });
    if (d.dir === "out" && zoom !== undefined) {
      s += `<h3 class="tsg-title">Close-up: ${esc(zoom.what)}</h3>` + key +
        timeSequenceGraph(m, d, { tMax, range: zoom.range });
    }
  }
  // The congestion and RTT graphs share the time axis of our data's graph.
  const range = m.out.bytes > 0 ? dataTimeRange(m.out, tMax) : undefined;
  const cc = cwndGraph(m, { tMax, range });
  s += `<h3>Congestion window</h3>`;
  s += cc === "" ? `<p class="note">No congestion-window changes in the trace.</p>` : legend([
    ["cwnd", "cwnd"],
    ["ssthresh", "ssthresh"],
    ["inflight", "bytes in flight"],
    ["recovery", "loss recovery", true],
    ["rtomark", "RTO fired"],
  ]) + cc;
  const rtt = rttGraph(m, { tMax, range });
  s += `<h3>RTT and RTO</h3>`;
  s += rtt === "" ? `<p class="note">No RTT samples in the trace.</p>` : legend([
    ["sample", "RTT sample"],
    ["srtt", "smoothed RTT"],
    ["rto", "RTO"],
    ["rtomark", "RTO fired"],
  ]) + rtt;
  s += `<h3>Ladder: first and last segments</h3>` + ladderDiagram(m);
  return s + `</section>`;
}

/**
 * Renders a parsed trace as a self-contained HTML page (a string).
 *
 * @example
 * ```ts
 * import { parseTrace } from "./reader.ts";
 * import { renderReport } from "./html.ts";
 * const trace = parseTrace([
 *   '{"trace":"tcptun","v":1,"start":"2026-11-26T17:00:00.000Z"}',
 *   '{"t":0,"c":1,"ev":"open","local":"10.0.0.1:1","remote":"10.0.0.2:2","active":true,"mss":1460}',
 *   '{"t":0,"c":1,"ev":"seg","dir":"out","seq":7,"ack":0,"len":0,"flags":"S","win":65535}',
 * ].join("\n"));
 * const html = renderReport(trace, { source: "t.jsonl" });
 * console.log(html.startsWith("<!DOCTYPE html>")); // true
 * ```
 */
export function renderReport(trace: Trace, opts: ReportOptions = {}): string {
  const conns = buildConnections(trace.events);
  const max = opts.maxConnections ?? 100;
  const title = `tcptun report${opts.source ? `: ${opts.source}` : ""}`;
  const shown = conns.slice(0, max);
  let html = `<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"/>` +
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'"/>` +
    `<meta name="viewport" content="width=device-width, initial-scale=1"/>` +
    `<title>${esc(title)}</title><style>${CSS}${KEY_CSS}</style></head><body>` +
    `<header><h1>${esc(title)}</h1>` +
    `<p class="meta">Trace schema v${trace.version}, started ${esc(trace.start || "-")}; ` +
    `${fmtInt(trace.events.length)} events, ${fmtInt(conns.length)} connection${
      conns.length === 1 ? "" : "s"
    }` +
    (trace.skipped > 0 ? `; ${fmtInt(trace.skipped)} events of unknown types skipped` : "") +
    `. Sequence numbers are relative to each direction's first; times are from each ` +
    `connection's opening. Hover a graph for the segments, ACKs and values under the pointer.</p>`;
  html += `<nav><table class="overview"><thead><tr><th class="num">#</th><th>local</th>` +
    `<th>remote</th><th class="num">sent</th><th class="num">received</th>` +
    `<th class="num">duration</th><th class="num">retransmitted</th><th>close</th></tr></thead>` +
    `<tbody>${conns.map((m, i) => overviewRow(m, i < max)).join("")}</tbody></table>`;
  if (conns.length > max) {
    html += `<p class="note">Only the first ${max} of ${fmtInt(conns.length)} connections are ` +
      `drawn below.</p>`;
  }
  html += `</nav></header><main>`;
  if (conns.length === 0) html += `<p class="note">The trace holds no connections.</p>`;
  for (const m of shown) html += connectionSection(m);
  return html + `</main></body></html>\n`;
}
