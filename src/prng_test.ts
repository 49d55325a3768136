import assert from "node:assert/strict";
import { Prng } from "./prng.ts";

Deno.test("prng: xoshiro128** from state {1,2,3,4} matches the reference outputs", () => {
  const p = Prng.fromState(1, 2, 3, 4);
  const got = Array.from({ length: 6 }, () => p.nextU32());
  assert.deepEqual(got, [11520, 0, 5927040, 70819200, 2031721883, 1637235492]);
});

Deno.test("prng: the same seed gives the same sequence, other seeds and streams differ", () => {
  const seq = (seed: number, stream = 0) => {
    const p = new Prng(seed, stream);
    return Array.from({ length: 16 }, () => p.nextU32());
  };
  assert.deepEqual(seq(7), seq(7));
  assert.notDeepEqual(seq(7), seq(8));
  assert.notDeepEqual(seq(7), seq(7, 1));
  assert.notDeepEqual(seq(5), seq(5 + 2 ** 32), "seeds above 2^32 are not aliased");
  assert.notDeepEqual(seq(-1), seq(0));
  for (const v of seq(1)) assert.ok(Number.isInteger(v) && v >= 0 && v < 2 ** 32);
});

Deno.test("prng: next() stays in [0, 1) with a mean near 1/2", () => {
  const p = new Prng(123);
  let sum = 0;
  const n = 100_000;
  for (let i = 0; i < n; i++) {
    const x = p.next();
    assert.ok(x >= 0 && x < 1);
    sum += x;
  }
  assert.ok(Math.abs(sum / n - 0.5) < 0.01, `mean ${sum / n}`);
});

Deno.test("prng: int() covers exactly [lo, hi) and rejects empty ranges", () => {
  const p = new Prng(99);
  const seen = new Set<number>();
  for (let i = 0; i < 2000; i++) {
    const v = p.int(-3, 4);
    assert.ok(Number.isInteger(v) && v >= -3 && v < 4);
    seen.add(v);
  }
  assert.equal(seen.size, 7);
  assert.equal(p.int(5, 6), 5);
  assert.throws(() => p.int(3, 3), RangeError);
  assert.throws(() => p.int(0, 1.5), RangeError);
  assert.throws(() => new Prng(0.5), RangeError);
});

Deno.test("prng: chance() honours the extremes and the probability", () => {
  const p = new Prng(5);
  let hits = 0;
  for (let i = 0; i < 10_000; i++) {
    assert.equal(p.chance(0), false);
    assert.equal(p.chance(1), true);
    if (p.chance(0.25)) hits++;
  }
  assert.ok(hits > 2200 && hits < 2800, `hits ${hits}`);
});

Deno.test("prng: fork() is deterministic and independent of the parent", () => {
  const a = new Prng(11);
  const b = new Prng(11);
  const fa = a.fork();
  const fb = b.fork();
  const childA = Array.from({ length: 8 }, () => fa.nextU32());
  assert.deepEqual(childA, Array.from({ length: 8 }, () => fb.nextU32()));
  const parentA = Array.from({ length: 8 }, () => a.nextU32());
  assert.notDeepEqual(childA, parentA);
});
