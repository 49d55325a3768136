import assert from "node:assert/strict";
import { RecvBuffer } from "./recv_buffer.ts";
import { Prng } from "../prng.ts";

const fill = (n: number, v: number) => new Uint8Array(n).fill(v);

function readAll(b: RecvBuffer): Uint8Array {
  const out = new Uint8Array(b.unread);
  assert.equal(b.read(out), out.length);
  return out;
}

Deno.test("recv buffer: nothing is allocated until data arrives, and an empty ring is released", () => {
  const b = new RecvBuffer(1 << 20);
  assert.equal(b.allocated, 0);
  assert.equal(b.write(0, fill(100, 1)), 100);
  assert.ok(b.allocated >= 100 && b.allocated <= 4096, `allocated ${b.allocated}`);
  assert.equal(b.release(), 0, "a ring holding unread bytes is kept");
  readAll(b);
  assert.equal(b.allocated, 0, "an emptied one-page ring goes back to the pool at once");
  // A larger ring is kept until released.
  b.write(0, fill(10_000, 3));
  readAll(b);
  assert.ok(b.allocated > 4096);
  assert.ok(b.release() > 0);
  assert.equal(b.allocated, 0);
  // It comes back on the next write, and the stream goes on where it was.
  assert.equal(b.write(0, fill(10, 2)), 10);
  assert.deepEqual(readAll(b), fill(10, 2));
});

Deno.test("recv buffer: in-order bytes cost their size, however small the segments", () => {
  const b = new RecvBuffer(64 * 1024);
  for (let i = 0; i < 50_000; i++) assert.equal(b.write(0, fill(1, i & 0xff)), 1);
  assert.equal(b.unread, 50_000);
  assert.ok(b.allocated <= 64 * 1024, `allocated ${b.allocated}`);
  const out = readAll(b);
  for (let i = 0; i < 50_000; i++) assert.equal(out[i], i & 0xff);
});

Deno.test("recv buffer: out-of-order data waits at its place and joins when the gap fills", () => {
  const b = new RecvBuffer(65536);
  assert.equal(b.write(200, fill(100, 3)), 0);
  assert.equal(b.write(100, fill(50, 2)), 0);
  assert.equal(b.rangeCount, 2);
  assert.equal(b.outOfOrderBytes, 150);
  assert.equal(b.heldBeyond, 300);
  // The gap 150..200 fills: the two ranges join into one.
  assert.equal(b.write(150, fill(50, 9)), 0);
  assert.equal(b.rangeCount, 1);
  // The first gap fills: everything becomes readable at once.
  assert.equal(b.write(0, fill(100, 1)), 300);
  assert.equal(b.rangeCount, 0);
  assert.equal(b.outOfOrderBytes, 0);
  const out = readAll(b);
  assert.deepEqual(
    [out[0], out[99], out[100], out[149], out[150], out[199], out[200], out[299]],
    [1, 1, 2, 2, 9, 9, 3, 3],
  );
});

Deno.test("recv buffer: bytes already held win over a different copy (first data wins)", () => {
  const b = new RecvBuffer(65536);
  b.write(10, fill(10, 7)); // 10..20 held
  b.write(0, fill(30, 1)); // 0..30 arrives; 10..20 keeps the first copy
  const out = readAll(b);
  assert.deepEqual([out[9], out[10], out[19], out[20]], [1, 7, 7, 1]);
});

Deno.test("recv buffer: the number of out-of-order ranges is bounded; the excess is dropped and counted", () => {
  const b = new RecvBuffer(1 << 20, 4);
  for (let i = 0; i < 4; i++) assert.equal(b.write(100 + i * 100, fill(10, 1)), 0);
  assert.equal(b.rangeCount, 4);
  assert.equal(b.write(1000, fill(10, 1)), -1, "a fifth disjoint range is refused");
  assert.equal(b.dropped, 1);
  // Data that extends an existing range is still taken, and in-order data always is.
  assert.equal(b.write(110, fill(10, 1)), 0);
  assert.equal(b.rangeCount, 4);
  assert.equal(b.write(0, fill(5, 1)), 5);
});

Deno.test("recv buffer: nothing is stored beyond the limit counted from the read position", () => {
  const b = new RecvBuffer(1000);
  assert.equal(b.write(0, fill(1500, 1)), 1000);
  assert.equal(b.dropped, 1);
  assert.equal(b.write(0, fill(10, 1)), 0, "full");
  const half = new Uint8Array(400);
  b.read(half);
  assert.equal(b.write(0, fill(500, 2)), 400);
  assert.ok(b.allocated <= 1000);
});

Deno.test("recv buffer: SACK blocks come newest first and name sequence numbers (RFC 2018 §4)", () => {
  const b = new RecvBuffer(65536);
  b.write(100, fill(10, 1)); // [100, 110)
  b.write(300, fill(10, 1)); // [300, 310)
  b.write(200, fill(10, 1)); // [200, 210), the newest
  const out: number[] = [];
  const rcvNxt = 0xfffffff0; // across the wrap
  b.sackBlocks(3, out, rcvNxt);
  assert.deepEqual(out, [
    (rcvNxt + 200) >>> 0,
    (rcvNxt + 210) >>> 0,
    (rcvNxt + 300) >>> 0,
    (rcvNxt + 310) >>> 0,
    (rcvNxt + 100) >>> 0,
    (rcvNxt + 110) >>> 0,
  ]);
  b.sackBlocks(1, out, rcvNxt);
  assert.equal(out.length, 2);
});

Deno.test("recv buffer: peek copies without consuming; skip frees without copying", () => {
  const b = new RecvBuffer(4096);
  const data = new Uint8Array(100).map((_, i) => i);
  b.write(0, data);
  const p = new Uint8Array(10);
  assert.equal(b.peek(p, 50), 10);
  assert.deepEqual(p, data.subarray(50, 60));
  assert.equal(b.unread, 100);
  assert.equal(b.skip(60), 60);
  const rest = readAll(b);
  assert.deepEqual(rest, data.subarray(60));
});

Deno.test("recv buffer: random segments in random order rebuild the stream exactly (model check)", () => {
  const r = new Prng(7);
  const stream = new Uint8Array(200_000).map(() => r.int(0, 256));
  for (let round = 0; round < 200; round++) {
    const limit = 2048 + r.int(0, 65536);
    const b = new RecvBuffer(limit, 8);
    let end = 0; // in-order end (what the connection calls RCV.NXT)
    let readPos = 0;
    let produced = 0;
    for (let step = 0; step < 400 && readPos < 100_000; step++) {
      // A segment somewhere in the window (as the connection trims it).
      const windowEnd = readPos + limit;
      const off = r.chance(0.3)
        ? end
        : end + r.int(1, Math.max(2, Math.min(4000, windowEnd - end)));
      const len = Math.min(r.int(1, 1500), windowEnd - off);
      if (len > 0) {
        const adv = b.write(off - end, stream.subarray(off, off + len));
        if (adv > 0) end += adv;
        assert.ok(b.allocated <= limit, `ring ${b.allocated} > limit ${limit}`);
      }
      if (r.next() < 0.3 && b.unread > 0) {
        const out = new Uint8Array(r.int(1, b.unread + 1));
        const n = b.read(out);
        assert.deepEqual(out.subarray(0, n), stream.subarray(readPos, readPos + n));
        readPos += n;
        produced += n;
      }
      assert.equal(b.unread, end - readPos);
    }
    assert.ok(produced > 0, "the stream made progress");
  }
});
