import assert from "node:assert/strict";
import { TimeHeap } from "./time_heap.ts";
import { Prng } from "../prng.ts";

Deno.test("time heap: pops by time, and equal times in insertion order", () => {
  const h = new TimeHeap<{ time: number; seq: number; id: number }>();
  const r = new Prng(3);
  const items = Array.from({ length: 500 }, (_, i) => ({ time: r.int(0, 50), seq: i, id: i }));
  for (const it of items) h.push(it);
  assert.equal(h.size, 500);
  const out = [];
  while (h.size > 0) out.push(h.pop());
  const expected = [...items].sort((a, b) => a.time - b.time || a.seq - b.seq);
  assert.deepEqual(out.map((x) => x.id), expected.map((x) => x.id));
  assert.equal(h.peek(), undefined);
});
