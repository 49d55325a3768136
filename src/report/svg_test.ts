import assert from "node:assert/strict";
import {
  byteUnit,
  columnRanges,
  decimalsFor,
  esc,
  fmtBytes,
  fmtMs,
  Frame,
  niceStep,
  rangesWithin,
  stepPath,
  timeUnit,
} from "./svg.ts";

Deno.test("report svg: units, nice steps and escaping", () => {
  assert.equal(niceStep(17.36, 10), 2);
  assert.equal(niceStep(1000, 10), 100);
  assert.equal(niceStep(0.3, 10), 0.02);
  assert.equal(niceStep(48, 6), 10);
  assert.equal(decimalsFor(0.02), 2);
  assert.equal(decimalsFor(5), 0);
  assert.deepEqual(byteUnit(20 * 2 ** 20), { name: "MiB", div: 2 ** 20 });
  assert.deepEqual(byteUnit(100_000), { name: "KiB", div: 1024 });
  assert.deepEqual(byteUnit(2000), { name: "bytes", div: 1 });
  assert.equal(timeUnit(1999).name, "ms");
  assert.equal(timeUnit(17_000).name, "s");
  assert.equal(fmtBytes(20 * 2 ** 20), "20.0 MiB");
  assert.equal(fmtBytes(812), "812 B");
  assert.equal(fmtMs(12.5), "12.5 ms");
  assert.equal(fmtMs(3200), "3.20 s");
  assert.equal(esc(`<a href="x">'&'</a>`), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
});

// 1,000 px wide, 400 px high; 10 s along x; 0..40,000 along y (100 per pixel row).
const frame = () => new Frame([0, 0, 1000, 400], [0, 10_000], [0, 40_000]);

Deno.test("report svg: a column's touching ranges merge into one, distant ones stay apart", () => {
  const f = frame();
  // Three segments in the first column: two touching, one far above; one in column 5.
  const items = [
    { t: 1, lo: 0, hi: 1000, mark: false },
    { t: 2, lo: 1000, hi: 2000, mark: true },
    { t: 3, lo: 30_000, hi: 31_000, mark: false },
    { t: 55, lo: 5000, hi: 6000, mark: false },
    { t: 20_000, lo: 0, hi: 1, mark: false }, // right of the plot: left out
  ];
  const ranges = columnRanges(
    f,
    {
      count: items.length,
      t: (i) => items[i].t,
      lo: (i) => items[i].lo,
      hi: (i) => items[i].hi,
      mark: (i) => items[i].mark,
    },
    1,
    f.yPerPx,
  );
  assert.deepEqual(
    ranges.map((r) => [r.col, r.lo, r.hi, r.n, r.marked, r.items]),
    [[0, 0, 2000, 2, 1, [0, 1]], [0, 30_000, 31_000, 1, 0, [2]], [5, 5000, 6000, 1, 0, [3]]],
  );
});

Deno.test("report svg: decimation keeps the hover targets within budget for 200,000 segments", () => {
  const f = frame();
  const n = 200_000;
  // A sawtooth: each segment at its own time, a quarter of them far below (retransmissions).
  const t = (i: number) => i * 10_000 / n;
  const lo = (i: number) => i % 4 === 0 ? (i * 7) % 40_000 : i * 40_000 / n;
  const src = { count: n, t, lo, hi: (i: number) => lo(i) + 1448 };
  const all = columnRanges(f, src, 1, f.yPerPx);
  assert.ok(all.length < n / 10, `1 px columns merge: ${all.length} ranges`);
  const { binPx, ranges } = rangesWithin(f, src, 900);
  assert.ok(ranges.length <= 900, `${ranges.length} ranges`);
  assert.ok(binPx > 1);
  // Nothing is lost: every segment is in one range.
  assert.equal(ranges.reduce((a, r) => a + r.n, 0), n);
});

Deno.test("report svg: a step line has at most four vertices per pixel column", () => {
  const f = frame();
  const n = 100_000;
  const d = stepPath(f, {
    count: n,
    t: (i) => i * 10_000 / n,
    v: (i) => (i * 7919) % 40_000,
  }, 10_000);
  const vertices = (d.match(/[MHVL]/g) ?? []).length;
  assert.ok(vertices <= 5 * 1000 + 2, `${vertices} path commands`);
  assert.ok(d.startsWith("M"));
  // A gap (a NaN or infinite value) breaks the line: a second M.
  const gap = stepPath(f, {
    count: 3,
    t: (i) => i * 4000,
    v: (i) => i === 1 ? Infinity : 1000,
  }, 10_000);
  assert.equal((gap.match(/M/g) ?? []).length, 2, gap);
});
