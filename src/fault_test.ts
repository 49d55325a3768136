import assert from "node:assert/strict";
import { FaultModel, parseFaultSpec, validateFaultOptions } from "./fault.ts";

/** Runs `n` packets of `len` bytes sent 1 ms apart; returns every delivery time list. */
function runMany(model: FaultModel, n: number, len = 100): number[][] {
  const out: number[] = [];
  const fates: number[][] = [];
  for (let i = 0; i < n; i++) {
    const k = model.schedule(i, len, out);
    fates.push(out.slice(0, k));
  }
  return fates;
}

Deno.test("fault: a perfect model delivers every packet once, at once", () => {
  const m = new FaultModel({});
  assert.equal(m.isPerfect, true);
  const out: number[] = [];
  assert.equal(m.schedule(12.5, 1500, out), 1);
  assert.equal(out[0], 12.5);
  assert.deepEqual(m.stats, { sent: 1, dropped: 0, duplicated: 0, reordered: 0, queueDrops: 0 });
});

Deno.test("fault: loss drops about the configured fraction", () => {
  const m = new FaultModel({ seed: 7, loss: 0.02 });
  const n = 100_000;
  const fates = runMany(m, n);
  const lost = fates.filter((f) => f.length === 0).length;
  assert.equal(m.stats.dropped, lost);
  assert.equal(m.stats.sent, n);
  // Binomial sd is ~44 packets; allow ±300.
  assert.ok(Math.abs(lost - 2000) < 300, `lost ${lost}`);
  assert.equal(runMany(new FaultModel({ loss: 1 }), 100).every((f) => f.length === 0), true);
  assert.equal(runMany(new FaultModel({ loss: 0 }), 100).every((f) => f.length === 1), true);
});

Deno.test("fault: the same seed gives the same fates; another seed or stream does not", () => {
  const opts = { seed: 3, loss: 0.1, duplicate: 0.05, reorder: 0.1, delayMs: 10, jitterMs: 3 };
  const a = runMany(new FaultModel(opts), 2000);
  assert.deepEqual(runMany(new FaultModel(opts), 2000), a);
  assert.notDeepEqual(runMany(new FaultModel({ ...opts, seed: 4 }), 2000), a);
  assert.notDeepEqual(runMany(new FaultModel(opts, 1), 2000), a);
});

Deno.test("fault: fixed delay shifts every packet by delayMs", () => {
  const fates = runMany(new FaultModel({ delayMs: 20 }), 50);
  fates.forEach((f, i) => assert.deepEqual(f, [i + 20]));
});

Deno.test("fault: jitter stays within ±jitterMs and never reorders by itself", () => {
  const m = new FaultModel({ seed: 9, delayMs: 10, jitterMs: 4 });
  const out: number[] = [];
  let last = -Infinity;
  let spread = 0;
  for (let i = 0; i < 5000; i++) {
    const now = i * 0.5;
    assert.equal(m.schedule(now, 100, out), 1);
    assert.ok(out[0] >= now + 6 - 1e-9 && out[0] <= Math.max(now + 14, last), `at ${now}`);
    assert.ok(out[0] >= last, "in order");
    spread = Math.max(spread, out[0] - now);
    last = out[0];
  }
  assert.ok(spread > 12, "jitter actually varies the delay");
});

Deno.test("fault: reorder holds a packet back so later ones overtake it", () => {
  const m = new FaultModel({ seed: 1, reorder: 0.1, delayMs: 10 });
  const fates = runMany(m, 10_000);
  let held = 0;
  for (let i = 0; i < fates.length; i++) {
    const t = fates[i][0];
    if (t === i + 10 + 20) held++; // default reorderDelayMs = max(2 * 10, 5)
    else assert.equal(t, i + 10);
  }
  assert.equal(held, m.stats.reordered);
  assert.ok(held > 800 && held < 1200, `held ${held}`);
  const custom = new FaultModel({ reorder: 1, reorderDelayMs: 7 });
  assert.deepEqual(runMany(custom, 2), [[7], [8]]);
  assert.deepEqual(runMany(new FaultModel({ reorder: 1 }), 1), [[5]], "default without delay");
});

Deno.test("fault: duplicate delivers a second copy at the same time", () => {
  const m = new FaultModel({ seed: 2, duplicate: 0.3, delayMs: 1 });
  const fates = runMany(m, 10_000);
  const dups = fates.filter((f) => f.length === 2);
  assert.equal(dups.length, m.stats.duplicated);
  assert.ok(dups.length > 2700 && dups.length < 3300, `dups ${dups.length}`);
  for (const f of dups) assert.equal(f[0], f[1]);
});

Deno.test("fault: bandwidth serializes packets one after another", () => {
  const m = new FaultModel({ bandwidthBps: 1000, delayMs: 5 }); // 1 byte per ms
  const out: number[] = [];
  const times: number[] = [];
  for (let i = 0; i < 3; i++) {
    m.schedule(0, 100, out);
    times.push(out[0]);
  }
  assert.deepEqual(times, [105, 205, 305]);
  m.schedule(250, 50, out); // queued behind the third packet (done at 300)
  assert.equal(out[0], 355);
  m.schedule(1000, 10, out); // idle link: starts at once
  assert.equal(out[0], 1015);
});

Deno.test("fault: a full bottleneck queue drops the packet (drop-tail)", () => {
  const m = new FaultModel({ bandwidthBps: 1000, queueBytes: 250 });
  const out: number[] = [];
  assert.equal(m.schedule(0, 100, out), 1); // backlog 0
  assert.equal(m.schedule(0, 100, out), 1); // backlog 100
  assert.equal(m.schedule(0, 100, out), 0); // backlog 200 + 100 > 250
  assert.equal(m.stats.queueDrops, 1);
  assert.equal(m.schedule(50, 100, out), 1); // backlog 150 + 100 = 250
  assert.equal(out[0], 300);
  assert.equal(m.stats.dropped, 0);
});

Deno.test("fault: out-of-range options are rejected with a RangeError", () => {
  assert.throws(() => new FaultModel({ loss: 1.5 }), RangeError);
  assert.throws(() => new FaultModel({ delayMs: -1 }), RangeError);
  assert.throws(() => new FaultModel({ jitterMs: NaN }), RangeError);
  assert.throws(() => new FaultModel({ seed: 1.5 }), RangeError);
  assert.match(validateFaultOptions({ duplicate: 2 }) ?? "", /duplicate must be a probability/);
  assert.equal(validateFaultOptions({ loss: 0.5, bandwidthBps: 0 }), undefined);
});

Deno.test("fault: parseFaultSpec reads every key", async (t) => {
  await t.step("full example", () => {
    assert.deepEqual(
      parseFaultSpec(
        "loss=0.02,reorder=0.05,dup=0.01,delay=20,jitter=2,seed=7,bw=1000000,queue=64000",
      ),
      {
        loss: 0.02,
        reorder: 0.05,
        duplicate: 0.01,
        delayMs: 20,
        jitterMs: 2,
        seed: 7,
        bandwidthBps: 1000000,
        queueBytes: 64000,
      },
    );
  });
  await t.step("percent, suffixes, spaces, aliases, empty", () => {
    assert.deepEqual(
      parseFaultSpec(" loss=2% , bw=1.5M, queue=64k, duplicate=.5, reorderdelay=9"),
      {
        loss: 0.02,
        bandwidthBps: 1_500_000,
        queueBytes: 64_000,
        duplicate: 0.5,
        reorderDelayMs: 9,
      },
    );
    assert.deepEqual(parseFaultSpec(""), {});
    assert.deepEqual(parseFaultSpec("LOSS=0.1"), { loss: 0.1 });
  });
  await t.step("bad input gives one-line errors naming the problem", () => {
    const cases: [string, RegExp][] = [
      ["loss", /expected key=value/],
      ["=3", /expected key=value/],
      ["speed=3", /unknown key "speed"/],
      ["loss=abc", /"loss=abc": value is not a number/],
      ["loss=1.5", /loss must be a probability/],
      ["delay=-5", /delayMs must be a finite number >= 0/],
      ["delay=5%", /value is not a number/],
      ["loss=0.1k", /value is not a number/],
      ["seed=1.5", /seed must be an integer/],
      ["dup=0.1,duplicate=0.2", /"duplicate" given twice/],
      ["loss=0.1,", /expected key=value/],
      ["constructor=1", /unknown key/],
    ];
    for (const [spec, re] of cases) {
      assert.throws(() => parseFaultSpec(spec), (e: unknown) => {
        assert.ok(e instanceof Error);
        assert.match(e.message, re, spec);
        assert.ok(!e.message.includes("\n"));
        return true;
      });
    }
  });
});
