import assert from "node:assert/strict";
import { RttEstimator } from "./rtt.ts";

Deno.test("rtt: the RTO is 1 s before any sample (RFC 6298 §2.1)", () => {
  const r = new RttEstimator();
  assert.equal(r.srtt, -1);
  assert.equal(r.rto, 1000);
  assert.equal(new RttEstimator({ initialRtoMs: 3000 }).rto, 3000);
});

Deno.test("rtt: the first sample sets SRTT = R and RTTVAR = R/2 (RFC 6298 §2.2)", () => {
  const r = new RttEstimator();
  r.sample(100);
  assert.equal(r.srtt, 100);
  assert.equal(r.rttvar, 50);
  assert.equal(r.rto, 300); // 100 + 4 * 50
});

Deno.test("rtt: later samples use alpha 1/8 and beta 1/4 (RFC 6298 §2.3)", () => {
  const r = new RttEstimator();
  r.sample(100);
  r.sample(200);
  // RTTVAR = 3/4 * 50 + 1/4 * |100 - 200| = 62.5; SRTT = 7/8 * 100 + 1/8 * 200 = 112.5
  assert.equal(r.rttvar, 62.5);
  assert.equal(r.srtt, 112.5);
  assert.equal(r.rto, 362.5); // 112.5 + 4 * 62.5
  r.sample(112.5);
  // RTTVAR = 3/4 * 62.5 + 0 = 46.875; SRTT unchanged
  assert.equal(r.rttvar, 46.875);
  assert.equal(r.srtt, 112.5);
  assert.equal(r.rto, 300);
});

Deno.test("rtt: the RTO is clamped to the minimum and the maximum (RFC 6298 §2.4, §2.5)", () => {
  const r = new RttEstimator();
  r.sample(10); // 10 + 20 = 30 -> 200
  assert.equal(r.rto, 200);
  const big = new RttEstimator({ maxRtoMs: 60_000 });
  big.sample(50_000); // 50000 + 100000 -> 60000
  assert.equal(big.rto, 60_000);
  const low = new RttEstimator({ minRtoMs: 1 });
  low.sample(10);
  assert.equal(low.rto, 30);
});

Deno.test("rtt: the clock granularity bounds the variance term (RFC 6298 §2.3)", () => {
  const r = new RttEstimator({ minRtoMs: 0, granularityMs: 10 });
  r.sample(4); // RTTVAR = 2, 4 * 2 = 8 < G = 10
  assert.equal(r.rto, 14);
});

Deno.test("rtt: MUST-19 backoff doubles the RTO up to the maximum (RFC 6298 §5.5)", () => {
  const r = new RttEstimator({ maxRtoMs: 5000 });
  r.sample(100); // RTO 300
  r.backoff();
  assert.equal(r.rto, 600);
  r.backoff();
  assert.equal(r.rto, 1200);
  r.backoff();
  r.backoff();
  assert.equal(r.rto, 4800);
  r.backoff();
  assert.equal(r.rto, 5000);
  for (let i = 0; i < 2000; i++) r.backoff();
  assert.equal(r.rto, 5000);
  assert.equal(r.backoffCount, 2005);
  r.resetBackoff();
  assert.equal(r.rto, 300);
  assert.equal(r.backoffCount, 0);
});

Deno.test("rtt: a new sample after backoff resets it (RFC 6298 §5.7)", () => {
  const r = new RttEstimator();
  r.backoff();
  r.backoff();
  assert.equal(r.rto, 4000);
  r.sample(100);
  assert.equal(r.backoffCount, 0);
  assert.equal(r.rto, 300);
});

Deno.test("rtt: invalid samples are ignored", () => {
  const r = new RttEstimator();
  r.sample(-5);
  r.sample(NaN);
  r.sample(Infinity);
  assert.equal(r.srtt, -1);
  assert.equal(r.rto, 1000);
});

Deno.test("rtt: after a SYN timeout without a sample, the RTO restarts at 3 s (RFC 6298 §5.7)", () => {
  const e = new RttEstimator();
  e.backoff();
  e.restartAfterSynTimeout();
  assert.equal(e.rto, 3000);
  const f = new RttEstimator();
  f.sample(100);
  f.restartAfterSynTimeout();
  assert.equal(f.rto, 300);
});
