import assert from "node:assert/strict";
import { seqAdd, seqDiff, seqGe, seqGt, seqInRange, seqLe, seqLt, seqMax, seqMin } from "./seq.ts";

const MAX = 0xffff_ffff;

Deno.test("seq: addition wraps at 2^32", () => {
  assert.equal(seqAdd(MAX, 1), 0);
  assert.equal(seqAdd(MAX - 9, 20), 10);
  assert.equal(seqAdd(5, -10), MAX - 4);
  assert.equal(seqAdd(100, 23), 123);
});

Deno.test("seq: difference is signed across the wrap", () => {
  assert.equal(seqDiff(0, MAX), 1);
  assert.equal(seqDiff(MAX, 0), -1);
  assert.equal(seqDiff(10, MAX - 9), 20);
  assert.equal(seqDiff(1000, 400), 600);
  assert.equal(seqDiff(400, 1000), -600);
});

Deno.test("seq: comparisons follow RFC 9293 §3.4 across the wrap", () => {
  assert(seqLt(MAX, 0));
  assert(seqLe(MAX, 0));
  assert(!seqGt(MAX, 0));
  assert(!seqGe(MAX, 0));
  assert(seqGt(0, MAX));
  assert(seqGe(0, MAX));
  assert(seqLe(7, 7) && seqGe(7, 7) && !seqLt(7, 7) && !seqGt(7, 7));
  assert(seqLt(1, 2) && !seqLt(2, 1));
  assert(seqGt(0x8000_0000 - 1 + 5, 5));
});

Deno.test("seq: max and min across the wrap", () => {
  assert.equal(seqMax(MAX, 3), 3);
  assert.equal(seqMin(MAX, 3), MAX);
  assert.equal(seqMax(10, 20), 20);
  assert.equal(seqMin(10, 20), 10);
});

Deno.test("seq: inRange is half-open and handles wraparound", () => {
  assert(seqInRange(MAX, MAX - 1, 5));
  assert(seqInRange(0, MAX - 1, 5));
  assert(seqInRange(4, MAX - 1, 5));
  assert(!seqInRange(5, MAX - 1, 5));
  assert(seqInRange(MAX - 1, MAX - 1, 5));
  assert(!seqInRange(MAX - 2, MAX - 1, 5));
  assert(!seqInRange(10, 10, 10), "an empty range contains nothing");
  assert(seqInRange(10, 10, 11));
});
