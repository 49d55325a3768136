import assert from "node:assert/strict";
import { openStack } from "./stack.ts";
import { createMemoryLinkPair } from "./link.ts";
import { TraceFile } from "./trace_file.ts";
import { TRACE_VERSION, validateTraceEvent } from "./tcp/trace.ts";

Deno.test("trace: a lossy transfer's trace validates line by line against the schema (docs/trace.md)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tcptun_trace_" });
  const path = `${dir}/t.jsonl`;
  const trace = TraceFile.create(path);
  const faults = { seed: 5, loss: 0.03, reorder: 0.02, duplicate: 0.01, delayMs: 2 };
  const [la, lb] = createMemoryLinkPair({ mtu: 1500, faults });
  const a = await openStack({
    tunIp: "10.9.0.1",
    peerIp: "10.9.0.2",
    link: la,
    mslMs: 50,
    trace: trace.sink,
  });
  const b = await openStack({ tunIp: "10.9.0.2", peerIp: "10.9.0.1", link: lb, mslMs: 50 });
  try {
    const listener = b.listen({ port: 7000 });
    const accepted = listener.accept();
    const client = await a.connect({ hostname: "10.9.0.2", port: 7000 });
    const server = await accepted;
    const data = new Uint8Array(400_000).map((_, i) => i * 7);
    const reading = (async () => {
      let n = 0;
      const buf = new Uint8Array(65536);
      for (;;) {
        const k = await server.read(buf);
        if (k === null) return n;
        n += k;
      }
    })();
    for (let off = 0; off < data.length;) off += await client.write(data.subarray(off));
    await client.closeWrite();
    assert.equal(await reading, data.length);
    await server.closeWrite();
    await client.closed;
    listener.close();
  } finally {
    await Promise.all([a.close(500), b.close(500)]);
    trace.close();
  }
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
