import assert from "node:assert/strict";
import { NewReno } from "./newreno.ts";
import { createCongestionControl, INITIAL_SSTHRESH, initialWindow } from "./mod.ts";

const MSS = 1000;

/** Acknowledges one full window, one ACK per `perAck` bytes, as one RTT of a bulk sender. */
function ackOneRtt(cc: NewReno, perAck: number, now: number): void {
  const window = cc.cwnd;
  for (let done = 0; done < window; done += perAck) {
    cc.onAck(Math.min(perAck, window - done), window - done, true, now, 100);
  }
}

Deno.test("newreno: the initial window follows RFC 6928", () => {
  assert.equal(initialWindow(1460), 14600);
  assert.equal(initialWindow(536), 5360);
  assert.equal(initialWindow(9000), 18000);
  assert.equal(initialWindow(1000), 10000);
  const cc = createCongestionControl("newreno", 1460);
  assert.equal(cc.name, "newreno");
  assert.equal(cc.cwnd, 14600);
  assert.equal(cc.ssthresh, INITIAL_SSTHRESH);
});

Deno.test("newreno: MUST-19 slow start doubles cwnd per RTT (RFC 5681 §3.1)", () => {
  const cc = new NewReno(MSS);
  ackOneRtt(cc, MSS, 0);
  assert.equal(cc.cwnd, 20_000);
  ackOneRtt(cc, MSS, 100);
  assert.equal(cc.cwnd, 40_000);
  // Delayed ACKs covering 2 segments each still double it (RFC 3465, L = 2*SMSS).
  ackOneRtt(cc, 2 * MSS, 200);
  assert.equal(cc.cwnd, 80_000);
});

Deno.test("newreno: slow start counts every byte a stretch ACK covers (RFC 3465, as Linux)", () => {
  const cc = new NewReno(MSS);
  cc.onAck(8 * MSS, 10_000, true, 0, -1);
  assert.equal(cc.cwnd, 18_000);
  // ...but not past ssthresh: the rest goes to congestion avoidance.
  cc.ssthresh = 20_000;
  cc.onAck(8 * MSS, 18_000, true, 0, -1);
  assert.ok(cc.cwnd >= 20_000 && cc.cwnd < 21_000, `cwnd ${cc.cwnd}`);
});

Deno.test("newreno: no growth when not cwnd-limited", () => {
  const cc = new NewReno(MSS);
  cc.onAck(MSS, 2000, false, 0, -1);
  assert.equal(cc.cwnd, 10_000);
});

Deno.test("newreno: MUST-19 congestion avoidance adds one SMSS per RTT (RFC 5681 §3.1)", () => {
  const cc = new NewReno(MSS);
  cc.cwnd = 40_000;
  cc.onCongestionEvent(40_000, 0);
  assert.equal(cc.ssthresh, 20_000);
  assert.equal(cc.cwnd, 20_000);
  ackOneRtt(cc, MSS, 100);
  assert.equal(cc.cwnd, 21_000);
  ackOneRtt(cc, MSS, 200);
  assert.equal(cc.cwnd, 22_000);
  // Half a window acknowledged: no growth yet.
  for (let i = 0; i < 11; i++) cc.onAck(MSS, 22_000, true, 300, 100);
  assert.equal(cc.cwnd, 22_000);
});

Deno.test("newreno: slow start stops at ssthresh and the rest goes to avoidance", () => {
  const cc = new NewReno(MSS);
  cc.cwnd = 30_000;
  cc.onCongestionEvent(30_000, 0); // ssthresh = cwnd = 15000
  cc.onTimeout(15_000, 10); // ssthresh = 7500, cwnd = 1000
  assert.equal(cc.ssthresh, 7500);
  assert.equal(cc.cwnd, 1000);
  cc.onAck(MSS, 1000, true, 20, -1);
  assert.equal(cc.cwnd, 2000);
  cc.onAck(2 * MSS, 2000, true, 30, -1);
  cc.onAck(2 * MSS, 2000, true, 30, -1);
  assert.equal(cc.cwnd, 6000);
  cc.onAck(2 * MSS, 6000, true, 40, -1);
  assert.equal(cc.cwnd, 7500, "capped at ssthresh");
});

Deno.test("newreno: loss sets ssthresh = max(FlightSize/2, 2*SMSS) (RFC 5681 eq. 4)", () => {
  const cc = new NewReno(MSS);
  cc.onCongestionEvent(9000, 0);
  assert.equal(cc.ssthresh, 4500);
  assert.equal(cc.cwnd, 4500);
  cc.onCongestionEvent(3000, 1);
  assert.equal(cc.ssthresh, 2000);
  assert.equal(cc.cwnd, 2000);
});

Deno.test("newreno: a timeout sets cwnd to one segment and holds ssthresh when repeated", () => {
  const cc = new NewReno(MSS);
  cc.onTimeout(10_000, 0);
  assert.equal(cc.ssthresh, 5000);
  assert.equal(cc.cwnd, MSS);
  cc.onTimeout(MSS, 1000); // backed-off retransmission timed out again
  assert.equal(cc.ssthresh, 5000, "RFC 5681 §3.1: ssthresh held constant");
  cc.onAck(MSS, MSS, true, 2000, -1);
  cc.onTimeout(4000, 3000);
  assert.equal(cc.ssthresh, 2000);
});

Deno.test("newreno: idle restart limits cwnd to IW (RFC 5681 §4.1)", () => {
  const cc = new NewReno(MSS);
  ackOneRtt(cc, MSS, 0);
  assert.equal(cc.cwnd, 20_000);
  cc.onIdleRestart(5000);
  assert.equal(cc.cwnd, 10_000);
  cc.onTimeout(10_000, 6000);
  cc.onIdleRestart(9000);
  assert.equal(cc.cwnd, MSS, "a smaller cwnd is kept");
});

Deno.test("newreno: setMss recomputes IW only before anything was acknowledged", () => {
  const cc = new NewReno(536);
  assert.equal(cc.cwnd, 5360);
  cc.setMss(1460);
  assert.equal(cc.cwnd, 14600);
  cc.onAck(1460, 14600, true, 0, -1);
  cc.setMss(1000);
  assert.equal(cc.cwnd, 16060);
});
