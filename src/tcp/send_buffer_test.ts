import assert from "node:assert/strict";
import { SendBuffer } from "./send_buffer.ts";

function seq(n: number, from = 0): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (from + i) & 0xff);
}

Deno.test("send buffer: takes what fits, views across the wrap, consumes from the front", () => {
  const b = new SendBuffer(100);
  assert.equal(b.append(seq(70)), 70);
  assert.equal(b.append(seq(50, 70)), 30);
  assert.equal(b.free, 0);
  b.consume(60);
  assert.equal(b.append(seq(40, 100)), 40); // wraps around the ring
  assert.deepEqual(b.view(0, 80), seq(80, 60));
  assert.deepEqual(b.view(30, 20), seq(20, 90));
  b.consume(80);
  assert.equal(b.length, 0);
});

Deno.test("send buffer: grows from a small ring up to its capacity, keeping the bytes", () => {
  const b = new SendBuffer(1 << 20);
  let written = 0;
  for (let i = 0; i < 40; i++) written += b.append(seq(30_000, written));
  assert.equal(written, 1 << 20);
  b.consume(12_345);
  assert.equal(b.append(seq(12_345, written)), 12_345);
  assert.deepEqual(b.view(0, 1000), seq(1000, 12_345));
  assert.deepEqual(b.view((1 << 20) - 10, 10), seq(10, 12_345 + (1 << 20) - 10));
});
