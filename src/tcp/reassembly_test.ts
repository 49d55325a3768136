import assert from "node:assert/strict";
import { ReassemblyQueue } from "./reassembly.ts";

/** `len` bytes whose values are their sequence numbers modulo 251 (so positions are checkable). */
function bytesAt(seq: number, len: number): Uint8Array {
  const b = new Uint8Array(len);
  for (let i = 0; i < len; i++) b[i] = ((seq + i) >>> 0) % 251;
  return b;
}

/** Checks that `data` holds the bytes for sequence numbers starting at `seq`. */
function assertBytesAt(data: Uint8Array | null, seq: number, len: number): void {
  assert.ok(data !== null, "expected data");
  assert.equal(data.length, len);
  assert.deepEqual(data, bytesAt(seq, len));
}

function sack(q: ReassemblyQueue, max = 4): number[] {
  const out: number[] = [];
  q.sackBlocks(max, out);
  return out;
}

Deno.test("reassembly: a held segment is delivered once the gap is filled", () => {
  const q = new ReassemblyQueue(10_000);
  assert.equal(q.insert(1100, bytesAt(1100, 100), 1000, 5000), 100);
  assert.equal(q.bytes, 100);
  assert.equal(q.takeInOrder(1000), null, "gap before it");
  // The application layer delivers 1000..1099; RCV.NXT = 1100.
  assertBytesAt(q.takeInOrder(1100), 1100, 100);
  assert.equal(q.takeInOrder(1200), null);
  assert.ok(q.isEmpty);
  assert.equal(q.bytes, 0);
});

Deno.test("reassembly: the data is copied", () => {
  const q = new ReassemblyQueue(10_000);
  const d = bytesAt(50, 10);
  q.insert(50, d, 0, 1000);
  d.fill(0);
  assertBytesAt(q.takeInOrder(50), 50, 10);
});

Deno.test("reassembly: overlaps are trimmed and held data wins", async (t) => {
  const q = new ReassemblyQueue(10_000);
  await t.step("disjoint pieces", () => {
    assert.equal(q.insert(200, bytesAt(200, 100), 100, 5000), 100); // [200,300)
    assert.equal(q.insert(400, bytesAt(400, 100), 100, 5000), 100); // [400,500)
  });
  await t.step("a duplicate stores nothing", () => {
    assert.equal(q.insert(200, bytesAt(200, 100), 100, 5000), 0);
    assert.equal(q.insert(220, bytesAt(220, 10), 100, 5000), 0);
  });
  await t.step("a segment spanning both fills only the gaps", () => {
    const junk = new Uint8Array(400).fill(0xee);
    junk.set(bytesAt(300, 100), 100); // the new bytes [300,400) are right, the rest differs
    junk.set(bytesAt(500, 50), 300); // and [500,550)
    assert.equal(q.insert(200, junk.subarray(0, 350), 100, 5000), 150);
    assert.equal(q.bytes, 350);
    assert.deepEqual(sack(q), [200, 550]);
  });
  await t.step("delivery returns the held bytes in order", () => {
    let nxt = 200;
    for (let d = q.takeInOrder(nxt); d !== null; d = q.takeInOrder(nxt)) {
      assertBytesAt(d, nxt, d.length);
      nxt += d.length;
    }
    assert.equal(nxt, 550);
    assert.ok(q.isEmpty);
  });
});

Deno.test("reassembly: data below RCV.NXT and beyond the window is trimmed", () => {
  const q = new ReassemblyQueue(10_000);
  // Window [1000, 1500): a segment [900, 1600) keeps only [1000, 1500).
  assert.equal(q.insert(900, bytesAt(900, 700), 1000, 500), 500);
  assertBytesAt(q.takeInOrder(1000), 1000, 500);
  assert.equal(q.insert(1600, bytesAt(1600, 10), 1500, 200), 10);
  assert.equal(q.insert(1695, bytesAt(1695, 10), 1500, 200), 5, "cut at the window edge");
  assert.equal(q.insert(1700, bytesAt(1700, 10), 1500, 200), 0, "past the window");
  assert.equal(q.insert(1400, bytesAt(1400, 50), 1500, 200), 0, "old data");
  assert.equal(q.insert(1600, bytesAt(1600, 10), 1500, 0), 0, "zero window");
});

Deno.test("reassembly: takeInOrder trims a chunk that straddles RCV.NXT and drops older ones", () => {
  const q = new ReassemblyQueue(10_000);
  q.insert(100, bytesAt(100, 50), 0, 5000);
  q.insert(200, bytesAt(200, 100), 0, 5000);
  // In-order data covered [0, 250): RCV.NXT = 250.
  assertBytesAt(q.takeInOrder(250), 250, 50);
  assert.ok(q.isEmpty);
  assert.equal(q.bytes, 0);
});

Deno.test("reassembly: a gap filled from several pieces comes out in order", () => {
  const q = new ReassemblyQueue(10_000);
  q.insert(30, bytesAt(30, 10), 0, 100);
  q.insert(10, bytesAt(10, 10), 0, 100);
  q.insert(20, bytesAt(20, 10), 0, 100);
  assert.deepEqual(sack(q), [10, 40]);
  assert.equal(q.takeInOrder(0), null);
  let nxt = 10;
  for (let d = q.takeInOrder(nxt); d !== null; d = q.takeInOrder(nxt)) nxt += d.length;
  assert.equal(nxt, 40);
});

Deno.test("reassembly: sequence numbers wrap around 2^32", () => {
  const q = new ReassemblyQueue(10_000);
  const rcvNxt = 0xffff_ff00;
  // [2^32 - 0x80, 2^32 + 0x80) crosses the wrap.
  assert.equal(q.insert(0xffff_ff80, bytesAt(0xffff_ff80, 0x100), rcvNxt, 4096), 0x100);
  assert.equal(q.insert(0x100, bytesAt(0x100, 0x40), rcvNxt, 4096), 0x40);
  assert.deepEqual(sack(q), [0x100, 0x140, 0xffff_ff80, 0x80]);
  assert.equal(q.insert(0x70, bytesAt(0x70, 0x20), rcvNxt, 4096), 0x10, "overlap across the wrap");
  assert.equal(q.takeInOrder(rcvNxt), null);
  const d = q.takeInOrder(0xffff_ff80);
  assert.ok(d !== null);
  assert.equal(d.length, 0x100);
  assert.deepEqual(Array.from(d.subarray(0x80, 0x84)), Array.from(bytesAt(0, 4)));
  assertBytesAt(q.takeInOrder(0x80), 0x80, 0x10);
  assert.equal(q.takeInOrder(0x90), null);
  assert.equal(q.bytes, 0x40);
});

Deno.test("reassembly: the capacity bounds the bytes held", () => {
  const q = new ReassemblyQueue(150);
  assert.equal(q.insert(100, bytesAt(100, 100), 0, 10_000), 100);
  assert.equal(q.insert(300, bytesAt(300, 100), 0, 10_000), 50);
  assert.equal(q.bytes, 150);
  assert.equal(q.insert(500, bytesAt(500, 100), 0, 10_000), 0);
  assert.deepEqual(sack(q), [300, 350, 100, 200]);
  assertBytesAt(q.takeInOrder(100), 100, 100);
  assert.equal(q.insert(350, bytesAt(350, 100), 200, 10_000), 100);
  assert.equal(q.bytes, 150);
});

Deno.test("reassembly: the chunk count is bounded", () => {
  const q = new ReassemblyQueue(1_000_000, 8);
  let stored = 0;
  for (let i = 0; i < 20; i++) stored += q.insert(10 + 2 * i, bytesAt(10 + 2 * i, 1), 0, 100_000);
  assert.equal(stored, 8);
});

Deno.test("reassembly: SACK blocks list the most recent first (RFC 2018 §4)", () => {
  const q = new ReassemblyQueue(100_000);
  q.insert(1000, bytesAt(1000, 100), 0, 100_000); // block A
  q.insert(2000, bytesAt(2000, 100), 0, 100_000); // block B
  q.insert(3000, bytesAt(3000, 100), 0, 100_000); // block C
  assert.deepEqual(sack(q), [3000, 3100, 2000, 2100, 1000, 1100]);
  q.insert(1100, bytesAt(1100, 100), 0, 100_000); // extends A: A is now newest
  assert.deepEqual(sack(q), [1000, 1200, 3000, 3100, 2000, 2100]);
  q.insert(2050, bytesAt(2050, 10), 0, 100_000); // a duplicate inside B still makes B first
  assert.deepEqual(sack(q), [2000, 2100, 1000, 1200, 3000, 3100]);
  q.insert(4000, bytesAt(4000, 100), 0, 100_000);
  q.insert(5000, bytesAt(5000, 100), 0, 100_000);
  assert.deepEqual(sack(q, 3), [5000, 5100, 4000, 4100, 2000, 2100], "limited to 3 blocks");
  q.insert(2100, bytesAt(2100, 900), 0, 100_000); // joins B and C
  assert.deepEqual(sack(q, 2), [2000, 3100, 5000, 5100]);
  q.clear();
  assert.deepEqual(sack(q), []);
  assert.ok(q.isEmpty);
});
