import assert from "node:assert/strict";
import { IsnGenerator, sipHash24 } from "./isn.ts";

const seqKey = Uint8Array.from({ length: 16 }, (_, i) => i);

Deno.test("isn: SipHash-2-4 matches the reference vector from the SipHash paper", () => {
  const msg = Uint8Array.from({ length: 15 }, (_, i) => i);
  assert.equal(sipHash24(seqKey, msg), 0xa129ca6149be45e5n);
});

Deno.test("isn: SipHash-2-4 matches the reference implementation's vectors", () => {
  // From vectors.h of the reference implementation (little-endian output bytes).
  const expected: [number, string][] = [
    [0, "310e0edd47db6f72"],
    [1, "fd67dc93c539f874"],
    [7, "37d1018bf50002ab"],
    [8, "6224939a79f5f593"],
    [16, "db9bc2577fcc2a3f"],
    [63, "724506eb4c328a95"],
  ];
  for (const [len, hexLe] of expected) {
    const msg = Uint8Array.from({ length: len }, (_, i) => i);
    const bytes = hexLe.match(/../g)!.reverse().join("");
    assert.equal(sipHash24(seqKey, msg), BigInt("0x" + bytes), `length ${len}`);
  }
});

Deno.test("isn: the same tuple at the same time gives the same ISN", () => {
  const a = new IsnGenerator(seqKey);
  const b = new IsnGenerator(seqKey);
  const x = a.next(0x0a000001, 80, 0x0a000002, 5000, 1000);
  assert.equal(a.next(0x0a000001, 80, 0x0a000002, 5000, 1000), x);
  assert.equal(b.next(0x0a000001, 80, 0x0a000002, 5000, 1000), x);
  assert.equal(x >>> 0, x);
});

Deno.test("isn: SHLD-1 a different tuple gives a different ISN", () => {
  const g = new IsnGenerator(seqKey);
  const base = g.next(0x0a000001, 80, 0x0a000002, 5000, 1000);
  assert.notEqual(g.next(0x0a000001, 80, 0x0a000002, 5001, 1000), base);
  assert.notEqual(g.next(0x0a000001, 81, 0x0a000002, 5000, 1000), base);
  assert.notEqual(g.next(0x0a000003, 80, 0x0a000002, 5000, 1000), base);
  assert.notEqual(g.next(0x0a000001, 80, 0x0a000004, 5000, 1000), base);
  assert.notEqual(g.next(0x0a000002, 5000, 0x0a000001, 80, 1000), base, "reversed tuple");
});

Deno.test("isn: MUST-8 the ISN advances by one every 4 microseconds", () => {
  const g = new IsnGenerator(seqKey);
  const t0 = g.next(0x7f000001, 1, 0x7f000001, 2, 5000);
  assert.equal(g.next(0x7f000001, 1, 0x7f000001, 2, 5000.004), (t0 + 1) >>> 0);
  assert.equal(g.next(0x7f000001, 1, 0x7f000001, 2, 5001), (t0 + 250) >>> 0);
  assert.equal(g.next(0x7f000001, 1, 0x7f000001, 2, 6000), (t0 + 250_000) >>> 0);
  // The timer wraps modulo 2^32 (about every 4.77 hours).
  const wrapMs = 4294967296 / 250;
  assert.equal(g.next(0x7f000001, 1, 0x7f000001, 2, 5000 + wrapMs), t0);
});

Deno.test("isn: MUST-9 SHLD-1 a different key gives a different ISN", () => {
  const other = seqKey.slice();
  other[15] ^= 1;
  const a = new IsnGenerator(seqKey).next(0x0a000001, 80, 0x0a000002, 5000, 1000);
  const b = new IsnGenerator(other).next(0x0a000001, 80, 0x0a000002, 5000, 1000);
  assert.notEqual(a, b);
});

Deno.test("isn: the key is copied, and a wrong key length is rejected", () => {
  const key = seqKey.slice();
  const g = new IsnGenerator(key);
  const before = g.next(1, 2, 3, 4, 0);
  key.fill(0xff);
  assert.equal(g.next(1, 2, 3, 4, 0), before);
  assert.throws(() => new IsnGenerator(new Uint8Array(8)), RangeError);
});
