import assert from "node:assert/strict";
import { writeLossyTrace } from "./report/_lossy_trace.ts";
import { TRACE_VERSION, validateTraceEvent } from "./tcp/trace.ts";

Deno.test("trace: a lossy transfer's trace validates line by line against the schema (docs/trace.md)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tcptun_trace_" });
  const path = `${dir}/t.jsonl`;
  // 400,000 bytes one way under 3 % loss, reordering and duplication, the client's trace.
  await writeLossyTrace(path);
  const lines = (await Deno.readTextFile(path)).trim().split("\n");
  await Deno.remove(dir, { recursive: true });
  const header = JSON.parse(lines[0]);
  assert.equal(header.trace, "tcptun");
  assert.equal(header.v, TRACE_VERSION);
  const seen = new Map<string, number>();
  let lastT = 0;
  for (let i = 1; i < lines.length; i++) {
    const e = JSON.parse(lines[i]);
    const bad = validateTraceEvent(e);
    assert.equal(bad, null, `line ${i + 1}: ${bad}: ${lines[i]}`);
    assert.ok(e.t >= lastT, `line ${i + 1}: time goes back`);
    lastT = e.t;
    seen.set(e.ev, (seen.get(e.ev) ?? 0) + 1);
  }
  // A lossy transfer shows every kind of event but the rare ones.
  for (const ev of ["open", "seg", "state", "rtt", "cc", "close"]) {
    assert.ok((seen.get(ev) ?? 0) > 0, `no ${ev} event`);
  }
  assert.ok((seen.get("recovery") ?? 0) + (seen.get("rto") ?? 0) > 0, "loss was recovered from");
  const states = lines.slice(1).map((l) => JSON.parse(l)).filter((e) => e.ev === "state");
  assert.deepEqual(states.map((e) => e.to).slice(0, 2), ["SYN-SENT", "ESTABLISHED"]);
});
