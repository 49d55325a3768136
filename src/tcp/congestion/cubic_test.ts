import assert from "node:assert/strict";
import { Cubic, CUBIC_BETA, CUBIC_C, cubicK, wCubic } from "./cubic.ts";
import { createCongestionControl } from "./mod.ts";

const MSS = 1000;

function near(actual: number, expected: number, eps: number, msg?: string): void {
  assert.ok(Math.abs(actual - expected) <= eps, `${msg ?? ""} ${actual} vs ${expected}`);
}

/** A CUBIC controller that has just had a loss at `wMax` segments. */
function afterLoss(wMaxSegs: number): Cubic {
  const cc = new Cubic(MSS);
  cc.cwnd = wMaxSegs * MSS;
  cc.onCongestionEvent(cc.cwnd, 0);
  return cc;
}

/** Feeds one RTT of per-segment ACKs at `now`, as a cwnd-limited bulk sender. */
function ackOneRtt(cc: Cubic, now: number, srtt: number): void {
  const n = Math.floor(cc.cwnd / MSS);
  for (let i = 0; i < n; i++) cc.onAck(MSS, cc.cwnd, true, now, srtt);
}

Deno.test("cubic: created by name with the RFC 6928 initial window", () => {
  const cc = createCongestionControl("cubic", 1460);
  assert.equal(cc.name, "cubic");
  assert.equal(cc.cwnd, 14600);
});

Deno.test("cubic: MUST-19 slow start doubles cwnd per RTT (RFC 9438 §4.10)", () => {
  const cc = new Cubic(MSS);
  ackOneRtt(cc, 0, 100);
  assert.equal(cc.cwnd, 20_000);
  ackOneRtt(cc, 100, 100);
  assert.equal(cc.cwnd, 40_000);
});

Deno.test("cubic: loss sets ssthresh = 0.7 * cwnd (RFC 9438 §4.6)", () => {
  const cc = afterLoss(100);
  assert.equal(cc.ssthresh, 70_000);
  assert.equal(cc.cwnd, 70_000);
  assert.equal(cc.wMax, 100);
  const small = afterLoss(2);
  assert.equal(small.ssthresh, 2 * MSS, "at least 2 segments");
});

Deno.test("cubic: K = cbrt(W_max * (1 - beta) / C) (RFC 9438 §4.2)", () => {
  near(cubicK(100, 70), Math.cbrt((100 * (1 - CUBIC_BETA)) / CUBIC_C), 1e-12);
  near(cubicK(100, 70), 4.2172, 1e-4);
  assert.equal(cubicK(50, 60), 0);
  const cc = afterLoss(100);
  cc.onAck(MSS, 70_000, true, 1000, 100); // first ACK in avoidance starts the epoch
  assert.equal(cc.epochStart, 1000);
  near(cc.k, 4.2172, 1e-4);
});

Deno.test("cubic: W_cubic(K) equals W_max and growth after K is convex (RFC 9438 §4.5)", () => {
  const k = cubicK(100, 70);
  near(wCubic(k, k, 100), 100, 1e-9);
  near(wCubic(0, k, 100), 70, 1e-9, "W_cubic(0) = cwnd_epoch");
  // Increments over equal steps shrink before K (concave) and grow after K (convex).
  const step = 0.5;
  const before = [0, 1, 2].map((i) =>
    wCubic(k - 2 + (i + 1) * step, k, 100) - wCubic(k - 2 + i * step, k, 100)
  );
  assert.ok(before[0] > before[1] && before[1] > before[2]);
  const after = [0, 1, 2].map((i) =>
    wCubic(k + (i + 1) * step, k, 100) - wCubic(k + i * step, k, 100)
  );
  assert.ok(after[0] < after[1] && after[1] < after[2]);
});

Deno.test("cubic: the window follows the cubic curve back to W_max and beyond", () => {
  const cc = afterLoss(100);
  const srtt = 100;
  let now = 0;
  const k = cubicK(100, 70);
  // Drive ACKs for 12 s of 100 ms RTTs; record cwnd at each RTT.
  const trace: number[] = [];
  for (let r = 0; r < 120; r++) {
    now = r * srtt;
    ackOneRtt(cc, now, srtt);
    trace.push(cc.cwnd / MSS);
  }
  // At t ≈ K (plus an RTT of lookahead) the window is close to W_max = 100.
  const atK = trace[Math.round((k * 1000) / srtt)];
  near(atK, 100, 3, "cwnd at K");
  // The window never falls, and never grows by more than half in one RTT (§4.2 clamp).
  for (let i = 1; i < trace.length; i++) {
    assert.ok(trace[i] >= trace[i - 1]);
    assert.ok(trace[i] <= trace[i - 1] * 1.5 + 1);
  }
  // Convex region: after K the per-RTT growth increases.
  const i0 = Math.round((k * 1000) / srtt) + 20;
  assert.ok(trace[i0 + 20] - trace[i0 + 10] > trace[i0 + 10] - trace[i0]);
  // And it tracks W_cubic(t + RTT) in the convex region.
  const t = (i0 * srtt) / 1000;
  near(trace[i0], wCubic(t + srtt / 1000, k, 100), 0.05 * trace[i0], "cwnd vs W_cubic");
});

Deno.test("cubic: the Reno-friendly region uses W_est (RFC 9438 §4.3)", () => {
  // Just after the loss W_cubic(t) is near cwnd_epoch = 7 segments, below W_est, so the
  // window follows W_est, which grows by alpha_cubic = 3(1-beta)/(1+beta) per window.
  const alpha = (3 * (1 - CUBIC_BETA)) / (1 + CUBIC_BETA);
  const cc = afterLoss(10);
  let w = 7;
  let cwnd = 7000;
  for (let i = 0; i < 7; i++) {
    cc.onAck(MSS, cc.cwnd, true, 0, 1);
    w += alpha / (cwnd / MSS);
    cwnd = Math.max(cwnd, Math.floor(w * MSS));
    near(cc.wEst, w, 1e-9, "W_est");
    assert.equal(cc.cwnd, cwnd);
  }
  near(cc.wEst, 7 + alpha, 0.05, "about alpha_cubic per RTT");
  // Once W_est reaches cwnd_prior (10 segments) alpha becomes 1: one segment per window.
  while (cc.wEst < 10) cc.onAck(MSS, cc.cwnd, true, 0, 1);
  const before = cc.wEst;
  const n = Math.floor(cc.cwnd / MSS);
  for (let i = 0; i < n; i++) cc.onAck(MSS, cc.cwnd, true, 0, 1);
  near(cc.wEst - before, 1, 0.1, "alpha = 1 above cwnd_prior");
  assert.equal(cc.cwnd, Math.floor(cc.wEst * MSS));
});

Deno.test("cubic: fast convergence lowers W_max when it shrinks (RFC 9438 §4.7)", () => {
  const cc = afterLoss(100);
  assert.equal(cc.wMax, 100);
  cc.cwnd = 80_000; // the next loss comes before the window regained W_max
  cc.onCongestionEvent(80_000, 5000);
  near(cc.wMax, (80 * (1 + CUBIC_BETA)) / 2, 1e-9);
  assert.equal(cc.ssthresh, 56_000);
  cc.cwnd = 120_000; // a loss above the previous W_max keeps W_max = cwnd
  cc.onCongestionEvent(120_000, 9000);
  assert.equal(cc.wMax, 120);
});

Deno.test("cubic: a timeout sets cwnd to 1 SMSS and the next epoch has K = 0 (RFC 9438 §4.8)", () => {
  const cc = new Cubic(MSS);
  cc.cwnd = 100_000;
  cc.onTimeout(100_000, 0);
  assert.equal(cc.cwnd, MSS);
  assert.equal(cc.ssthresh, 70_000);
  cc.onTimeout(MSS, 1000);
  assert.equal(cc.ssthresh, 70_000, "repeated timeout keeps ssthresh");
  cc.ssthresh = 4000; // shorten slow start for the test
  let now = 2000;
  while (cc.cwnd < cc.ssthresh) cc.onAck(MSS, cc.cwnd, true, now += 10, 100);
  cc.onAck(MSS, cc.cwnd, true, now += 10, 100);
  assert.equal(cc.k, 0);
  assert.equal(cc.wMax, 4);
});

Deno.test("cubic: no growth when not cwnd-limited; idle restart limits cwnd to IW", () => {
  const cc = afterLoss(100);
  cc.onAck(MSS, 1000, false, 100, 100);
  assert.equal(cc.cwnd, 70_000);
  assert.equal(cc.epochStart, -1);
  cc.onIdleRestart(10_000);
  assert.equal(cc.cwnd, 10_000);
});

Deno.test("cubic: constants are those of RFC 9438", () => {
  assert.equal(CUBIC_C, 0.4);
  assert.equal(CUBIC_BETA, 0.7);
});
