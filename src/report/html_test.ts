import assert from "node:assert/strict";
import { parseTrace } from "./reader.ts";
import { renderReport } from "./html.ts";
import { LADDER_ENDS } from "./graphs.ts";
import { byTag, countElements, type El, findAll, parseHtml, textOf } from "./_html_check.ts";
import { syntheticTrace } from "./_synthetic.ts";
import { writeLossyTrace } from "./_lossy_trace.ts";

/** Checks what every report must be: self-contained, well formed, with its sections. */
function checkPage(html: string, connections: number): El {
  assert.ok(html.startsWith("<!DOCTYPE html>\n"));
  assert.doesNotMatch(html, /https?:\/\//i, "no URL");
  assert.doesNotMatch(html, /<script/i, "no script");
  assert.doesNotMatch(html, /@import|\bsrc=|\bhref="(?!#)/i, "nothing loaded");
  for (const m of html.matchAll(/url\(([^)]*)\)/g)) {
    assert.match(m[1], /^#[\w-]+$/, `only in-page references: ${m[0]}`);
  }
  const root = parseHtml(html);
  assert.equal(byTag(root, "html").length, 1);
  const csp = byTag(root, "meta").find((m) => m.attrs["http-equiv"] === "Content-Security-Policy");
  assert.match(csp?.attrs.content ?? "", /default-src 'none'/);
  const sections = byTag(root, "section", "conn");
  assert.equal(sections.length, connections);
  for (const s of sections) {
    const headings = byTag(s, "h3").map(textOf);
    for (const h of ["Summary", "Congestion window", "RTT and RTO", "Ladder"]) {
      assert.ok(headings.some((x) => x.startsWith(h)), `${s.attrs.id}: no ${h} heading`);
    }
    assert.ok(byTag(s, "table", "summary").length >= 1);
    assert.equal(byTag(s, "svg", "ladder").length, 1);
  }
  // Every id is unique (clip paths and markers are referenced by id).
  const ids = findAll(root, (e) => e.attrs.id !== undefined).map((e) => e.attrs.id);
  assert.equal(new Set(ids).size, ids.length);
  return root;
}

function axisTitles(svg: El): string[] {
  return byTag(svg, "text", "axis-title").map(textOf);
}

Deno.test("report html: a 30,000-segment lossy transfer stays small: every graph well under 5,000 elements", () => {
  const text = syntheticTrace({ segments: 30_000, loss: 0.01, replySegments: 400 });
  const html = renderReport(parseTrace(text), { source: "big.jsonl" });
  const root = checkPage(html, 1);
  const svgs = byTag(root, "svg");
  assert.ok(svgs.length >= 5);
  for (const svg of svgs) {
    const n = countElements(svg);
    assert.ok(n < 3000, `${svg.attrs.class}: ${n} elements`);
  }
  assert.ok(countElements(root) < 15_000, `page: ${countElements(root)} elements`);
  assert.ok(html.length < 2_000_000, `${html.length} characters`);
  // Both directions carry data: two time-sequence graphs, and a close-up of the RTO.
  const tsgs = byTag(root, "svg", "tsg");
  assert.equal(tsgs.length, 3);
  const titles = byTag(root, "h3", "tsg-title").map(textOf);
  assert.match(titles[0], /10\.0\.0\.1:40000 → 10\.0\.0\.2:7000 \(sent by us\)/);
  assert.match(titles[1], /^Close-up: the first retransmission timeout/);
  assert.match(titles[2], /10\.0\.0\.2:7000 → 10\.0\.0\.1:40000 \(received from the peer\)/);
  // 30,000 × 1,448 bytes = 41.4 MiB: the y axis in MiB, and the ticks reach it.
  assert.deepEqual(axisTitles(tsgs[0]), ["time (s)", "relative sequence number (MiB)"]);
  const yTicks = byTag(tsgs[0], "g", "y")[0].children.map((t) => Number(textOf(t)));
  assert.equal(yTicks[0], 0);
  assert.ok(yTicks[yTicks.length - 1] >= 40, `${yTicks}`);
  assert.deepEqual(axisTitles(byTag(root, "svg", "cc")[0]), ["time (s)", "bytes (KiB)"]);
  assert.deepEqual(axisTitles(byTag(root, "svg", "rtt")[0]), ["time (s)", "RTT, log scale (ms)"]);
  // Retransmissions are drawn apart from first transmissions, and SACK blocks too.
  for (const cls of ["data", "rtx", "ack", "window", "sack"]) {
    const p = byTag(tsgs[0], "path", cls);
    assert.equal(p.length, 1, cls);
    assert.ok((p[0].attrs.d ?? "").length > 100, `${cls} is drawn`);
  }
  // Hovering shows the segments: titles with sequence ranges over the data.
  const hits = byTag(tsgs[0], "rect", "hit").map((r) => textOf(r));
  assert.ok(hits.some((h) => /segments sent .* ms\nseq \d+:\d+/.test(h)), hits[0]);
  // The ladder: the first and last segments and a gap between them.
  const ladder = byTag(root, "svg", "ladder")[0];
  assert.equal(byTag(ladder, "g", "seg").length, 2 * LADDER_ENDS);
  assert.match(textOf(byTag(ladder, "text", "gap")[0]), /segments not shown/);
  const notes = byTag(ladder, "g", "note").map(textOf).join(" ");
  for (const s of ["SYN-SENT", "ESTABLISHED", "TIME-WAIT", "closed: finished"]) {
    assert.ok(notes.includes(s), `${s} in ${notes}`);
  }
  // The summary.
  const summary = textOf(byTag(root, "table", "summary")[0]);
  assert.match(summary, /close reason\s*finished/);
  // The handshake's 20 ms, then 3,000 samples drawn from [20, 30) ms.
  assert.match(
    summary,
    /RTT min \/ median \/ max\s*20 ms \/ 2[45](\.\d+)? ms \/ (29\.\d+|30) ms \(3,001 samples\)/,
  );
  assert.match(summary, /retransmission timeouts\s*1/);
  const dirs = textOf(byTag(root, "table", "directions")[0]);
  assert.match(dirs, /41\.4 MiB \(43,440,000 B\)/);
});

Deno.test("report html: the element count does not grow with the trace", () => {
  const count = (segments: number) => {
    const html = renderReport(parseTrace(syntheticTrace({ segments, loss: 0.02 })));
    return byTag(parseHtml(html), "svg", "tsg").map(countElements)[0];
  };
  const small = count(5_000);
  const big = count(60_000);
  assert.ok(big < 3000, `${big}`);
  assert.ok(big < small * 3, `5,000 segments: ${small} elements; 60,000: ${big}`);
});

Deno.test("report html: a small trace shows each segment, and what the trace says is escaped", () => {
  const lines = [
    '{"trace":"tcptun","v":1,"start":"<now>"}',
    '{"t":1,"c":1,"ev":"open","local":"10.0.0.1:1","remote":"<script>alert(1)</script>","active":false,"mss":1460}',
    '{"t":1,"c":1,"ev":"seg","dir":"in","seq":100,"ack":0,"len":0,"flags":"S","win":65535}',
    '{"t":1,"c":1,"ev":"state","from":"LISTEN","to":"SYN-RECEIVED","cause":"SYN & \\"more\\""}',
    '{"t":1,"c":1,"ev":"seg","dir":"out","seq":7,"ack":101,"len":0,"flags":"S.","win":65535}',
    '{"t":2,"c":1,"ev":"seg","dir":"in","seq":101,"ack":8,"len":1448,"flags":"P.","win":65535}',
    '{"t":2,"c":1,"ev":"seg","dir":"out","seq":8,"ack":1549,"len":0,"flags":".","win":64087}',
    '{"t":3,"c":1,"ev":"close","reason":"</section><b>"}',
  ];
  const html = renderReport(parseTrace(lines.join("\n")), { source: "a<b>.jsonl" });
  const root = checkPage(html, 1);
  assert.equal(textOf(byTag(root, "title")[0]), "tcptun report: a<b>.jsonl");
  assert.equal(byTag(root, "b").length, 0);
  assert.ok(textOf(byTag(root, "h2")[0]).includes("<script>alert(1)</script>"));
  const tsg = byTag(root, "svg", "tsg");
  assert.equal(tsg.length, 1, "only the peer's direction carries data");
  assert.deepEqual(axisTitles(tsg[0]), ["time (ms)", "relative sequence number (bytes)"]);
  const hits = byTag(tsg[0], "rect", "hit").map(textOf);
  assert.ok(hits.includes("1.000 ms  P. 1:1449 (1448 B)"), JSON.stringify(hits));
  assert.ok(hits.some((h) => h.includes("ACK 1449 win 64087")), JSON.stringify(hits));
  // Every segment in the ladder, no gap; the cause is in the state's tooltip.
  const ladder = byTag(root, "svg", "ladder")[0];
  assert.equal(byTag(ladder, "g", "seg").length, 4);
  assert.equal(byTag(ladder, "text", "gap").length, 0);
  const state = byTag(ladder, "g", "note")[0];
  assert.equal(textOf(byTag(state, "title")[0]), 'LISTEN → SYN-RECEIVED: SYN & "more"');
  assert.match(textOf(byTag(root, "table", "summary")[0]), /close reason<\/section><b>/);
  // No cc or RTT events: said in words instead of empty graphs.
  assert.equal(byTag(root, "svg", "cc").length, 0);
  assert.match(html, /No congestion-window changes in the trace/);
});

Deno.test("report html: a real lossy transfer between two stacks", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tcptun_report_" });
  try {
    const path = `${dir}/t.jsonl`;
    await writeLossyTrace(path, { bytes: 300_000, replyBytes: 20_000 });
    const trace = parseTrace(await Deno.readTextFile(path));
    const html = renderReport(trace, { source: "t.jsonl" });
    const root = checkPage(html, 1);
    const tsgs = byTag(root, "svg", "tsg");
    assert.ok(tsgs.length >= 2, "both directions carry data");
    for (const svg of tsgs) {
      assert.deepEqual(axisTitles(svg).map((t) => t.replace(/\(.*\)/, "")), [
        "time ",
        "relative sequence number ",
      ]);
    }
    const dirs = textOf(byTag(root, "table", "directions")[0]);
    assert.match(dirs, /\(300,000 B\)/);
    assert.match(dirs, /\(20,000 B\)/);
    assert.equal(byTag(root, "svg", "cc").length, 1);
    assert.equal(byTag(root, "svg", "rtt").length, 1);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("report html: a section per connection, a refused one included; past the limit only a row", () => {
  const small = syntheticTrace({ segments: 50, replySegments: 2 }).trim().split("\n");
  const lines = [small[0]];
  for (const c of [1, 2]) {
    for (const l of small.slice(1)) lines.push(l.replace('"c":1', `"c":${c}`));
  }
  // Connection 3: refused.
  lines.push(
    '{"t":500,"c":3,"ev":"open","local":"10.0.0.1:40001","remote":"10.0.0.2:9","active":true,"mss":1460}',
    '{"t":500,"c":3,"ev":"state","from":"CLOSED","to":"SYN-SENT","cause":"connect()"}',
    '{"t":500,"c":3,"ev":"seg","dir":"out","seq":1,"ack":0,"len":0,"flags":"S","win":65535}',
    '{"t":501,"c":3,"ev":"seg","dir":"in","seq":0,"ack":2,"len":0,"flags":"R.","win":0}',
    '{"t":501,"c":3,"ev":"state","from":"SYN-SENT","to":"CLOSED","cause":"RST received"}',
    '{"t":501,"c":3,"ev":"close","reason":"refused"}',
  );
  const trace = parseTrace(lines.join("\n"));
  let root = checkPage(renderReport(trace), 3);
  assert.equal(byTag(root, "nav")[0].children.length, 1);
  assert.equal(byTag(byTag(root, "table", "overview")[0], "tr").length, 4);
  const refused = byTag(root, "section", "conn")[2];
  assert.equal(refused.attrs.id, "conn-3");
  assert.equal(byTag(refused, "svg", "tsg").length, 0);
  assert.match(textOf(refused), /No data was sent either way/);
  const ladder = byTag(refused, "svg", "ladder")[0];
  assert.equal(byTag(ladder, "g", "rst").length, 1);
  assert.match(textOf(byTag(refused, "table", "summary")[0]), /close reason\s*refused/);
  // At most two drawn: the third has its overview row, without a link.
  const html = renderReport(trace, { maxConnections: 2 });
  root = checkPage(html, 2);
  assert.equal(byTag(byTag(root, "table", "overview")[0], "a").length, 2);
  assert.match(html, /Only the first 2 of 3 connections are drawn below/);
});
