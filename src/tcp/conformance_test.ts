// RFC 9293 Appendix B requirements checked against the connection state machine, one test per
// requirement (or per group that one scenario shows), each named after the labels it checks.
// `scripts/conformance.ts` builds docs/conformance.md from these names.
import assert from "node:assert/strict";
import { ACK, FIN, newTcpSegment, PSH, RST, SYN, URG } from "../wire/tcp.ts";
import { State } from "./connection.ts";
import { bytes, established, Harness, IRS, ISS, type Sent } from "./_harness.ts";
import { seqAdd, seqDiff } from "./seq.ts";

/** A keep-alive probe (RFC 9293 §3.8.4): SEG.SEQ = SND.NXT − 1, no data, a bare ACK. */
function isKeepAlive(s: Sent, sndNxt: number): boolean {
  return s.len === 0 && s.flags === ACK && s.seq === seqAdd(sndNxt, -1);
}

/** The peer acknowledges everything sent so far, offering `window`. */
function peerAcksAll(h: Harness, window = 65535): void {
  h.input({ seq: h.conn.rcvNxt, ack: h.conn.sndNxt, window });
}

Deno.test("tcp: MUST-15 without an MSS option from the peer the send MSS is 536", async (t) => {
  await t.step("active open: a SYN,ACK without MSS", () => {
    const h = established({ noDelay: true }, { mss: -1 });
    assert.equal(h.conn.peerMss, 536);
    assert.equal(h.conn.sndMss, 536);
    h.conn.send(bytes(1200), h.now);
    assert.deepEqual(h.take().map((s) => s.len), [536, 536, 128]);
  });
  await t.step("passive open: a SYN without MSS", () => {
    const h = new Harness(false, { noDelay: true });
    const syn = newTcpSegment();
    syn.seq = IRS;
    syn.flags = SYN;
    syn.window = 65535;
    h.conn.acceptSyn(syn, 0);
    h.take();
    h.input({ seq: IRS + 1, ack: ISS + 1, window: 65535 });
    assert.equal(h.conn.state, State.Established);
    h.conn.send(bytes(1000), h.now);
    assert.deepEqual(h.take().map((s) => s.len), [536, 464]);
  });
  await t.step("with timestamps, the 12 option bytes come off the 536 (RFC 9293 §3.7.1)", () => {
    const h = established({ noDelay: true }, { mss: -1, hasTimestamps: true, tsVal: 1 });
    assert.equal(h.conn.sndMss, 536 - 12);
  });
  await t.step("an MSS option, even a large one, is honoured instead", () => {
    const h = established({ noDelay: true }, { mss: 1000 });
    assert.equal(h.conn.sndMss, 1000);
  });
});

// Karn's algorithm (MUST-18): no sample from a retransmitted segment, and the backed-off RTO
// is kept until a valid sample comes (RFC 6298 §5).
Deno.test("tcp: MUST-18 Karn's algorithm: no RTT sample from a retransmitted segment, backoff kept until a valid one; RTO per RFC 6298 §2", async (t) => {
  /** ESTABLISHED after a 100 ms handshake: SRTT 100, RTTVAR 50, RTO 300 (RFC 6298 §2.2). */
  const after100ms = (timestamps: boolean) => {
    const h = new Harness(true, { noDelay: true, timestamps });
    h.conn.open(0);
    const syn = h.one();
    h.now = 100;
    const opts = timestamps ? { mss: 1460, hasTimestamps: true, tsVal: 7, tsEcr: syn.tsVal } : {
      mss: 1460,
    };
    h.input({ seq: IRS, ack: ISS + 1, flags: SYN | ACK, opts });
    h.take();
    assert.equal(h.conn.rtt.srtt, 100);
    assert.equal(h.conn.rtt.rttvar, 50);
    assert.equal(h.conn.rtt.rto, 300);
    return h;
  };
  await t.step("a fresh segment's ACK is a sample: SRTT, RTTVAR and RTO follow §2.3", () => {
    const h = after100ms(false);
    h.conn.send(bytes(100), h.now);
    h.take();
    h.advance(200); // before the RTO (300)
    assert.deepEqual(h.take(), []);
    peerAcksAll(h);
    // RTTVAR = 3/4·50 + 1/4·|100 − 200| = 62.5; SRTT = 7/8·100 + 1/8·200 = 112.5;
    // RTO = SRTT + 4·RTTVAR = 362.5.
    assert.equal(h.conn.rtt.rttvar, 62.5);
    assert.equal(h.conn.rtt.srtt, 112.5);
    assert.equal(h.conn.rtt.rto, 362.5);
  });
  await t.step("the ACK of a retransmitted segment is no sample", () => {
    const h = after100ms(false);
    h.conn.send(bytes(100), h.now);
    h.take();
    h.advance(300); // the RTO fires: the segment is sent again
    const rtx = h.take();
    assert.ok(rtx.some((s) => s.len === 100 && s.seq === ISS + 1), "retransmitted");
    h.advance(50);
    peerAcksAll(h); // for the first copy (350 ms) or the second (50 ms)? Nobody knows.
    assert.equal(h.conn.rtt.srtt, 100);
    assert.equal(h.conn.rtt.rttvar, 50);
    assert.equal(h.conn.rtt.rto, 600, "the backed-off RTO stays without a valid sample");
    // The next unambiguous one is taken again.
    h.conn.send(bytes(100), h.now);
    h.take();
    h.advance(100);
    peerAcksAll(h);
    assert.equal(h.conn.rtt.srtt, 100);
    assert.equal(h.conn.rtt.rttvar, 37.5);
  });
  await t.step("a retransmitted SYN gives no sample either", () => {
    const h = new Harness(true, { timestamps: false });
    h.conn.open(0);
    h.take();
    h.advance(1000); // the SYN's RTO: SYN again
    assert.equal(h.one().flags, SYN);
    h.advance(10);
    h.input({ seq: IRS, ack: ISS + 1, flags: SYN | ACK, opts: { mss: 1460 } });
    assert.equal(h.conn.state, State.Established);
    assert.equal(h.conn.rtt.srtt, -1, "no sample");
  });
  await t.step("with timestamps the echo dates the retransmission: a sample (RFC 6298 §3)", () => {
    const h = after100ms(true);
    h.conn.send(bytes(100), h.now);
    h.take();
    h.advance(300);
    const rtx = h.take().find((s) => s.len === 100)!;
    h.advance(50);
    h.input({
      seq: IRS + 1,
      ack: ISS + 101,
      opts: { hasTimestamps: true, tsVal: 8, tsEcr: rtx.tsVal },
    });
    // 50 ms, measured from the copy the echo names: RTTVAR = 3/4·50 + 1/4·50, SRTT = 93.75.
    assert.equal(h.conn.rtt.srtt, 93.75);
    assert.equal(h.conn.rtt.rttvar, 50);
  });
});

Deno.test("tcp: MUST-26 SHLD-12 MAY-5 a keep-alive goes only when nothing is outstanding and nothing arrived for the interval", async (t) => {
  const ka = { idleMs: 1000, intervalMs: 100, count: 3 };
  await t.step("SHLD-12 the probe carries no data", () => {
    const h = established({ keepAlive: ka });
    h.advance(999);
    assert.deepEqual(h.take(), []);
    h.advance(1);
    const probe = h.one();
    assert.ok(isKeepAlive(probe, h.conn.sndNxt), `probe ${JSON.stringify(probe)}`);
    assert.equal(probe.payload.length, 0);
    assert.equal(probe.flags & (SYN | FIN | RST | PSH | URG), 0);
    // Answered: the peer is alive and the connection stays.
    peerAcksAll(h);
    assert.equal(h.conn.state, State.Established);
  });
  await t.step("a segment from the peer within the interval postpones the probe", () => {
    const h = established({ keepAlive: ka });
    h.advance(600);
    peerAcksAll(h); // a pure ACK is enough
    h.advance(400); // t = 1000: the original deadline
    assert.deepEqual(h.take(), []);
    h.advance(500); // t = 1500: data arrives (its delayed ACK is no probe)
    h.input({ seq: IRS + 1, ack: ISS + 1, payload: bytes(10) });
    h.advance(999); // t = 2499
    assert.ok(!h.take().some((s) => isKeepAlive(s, h.conn.sndNxt)), "no probe before idle");
    h.advance(1); // t = 2500: idle for the whole interval
    assert.ok(isKeepAlive(h.one(), h.conn.sndNxt));
  });
  await t.step("no probe while sent data is outstanding, however long", () => {
    const h = established({ keepAlive: ka, maxRetries: 1000, maxRtoMs: 400, noDelay: true });
    h.advance(500);
    h.conn.send(bytes(100), h.now); // never acknowledged
    for (let i = 0; i < 100; i++) {
      h.advance(100); // 10 s in all: ten idle intervals
      for (const s of h.take()) {
        assert.ok(!isKeepAlive(s, h.conn.sndNxt), `keep-alive at ${h.now} ms with data out`);
        assert.equal(s.len, 100, "only retransmissions of the data");
      }
    }
    assert.equal(h.conn.state, State.Established);
    // Acknowledged at last: probes resume after a full interval of silence.
    peerAcksAll(h);
    h.take();
    h.advance(999);
    assert.deepEqual(h.take(), []);
    h.advance(1);
    assert.ok(isKeepAlive(h.one(), h.conn.sndNxt));
  });
});

Deno.test("tcp: MUST-28 the keep-alive interval defaults to two hours", async (t) => {
  const TWO_HOURS = 2 * 3600 * 1000;
  const check = (h: Harness, start: number) => {
    h.advance(start + TWO_HOURS - 1 - h.now);
    assert.deepEqual(h.take(), [], "no probe before two hours");
    h.advance(1);
    assert.ok(isKeepAlive(h.one(), h.conn.sndNxt), "a probe at two hours");
  };
  await t.step("keepAlive: {} in the connection options", () => {
    const h = established({ keepAlive: {} });
    check(h, h.now);
  });
  await t.step("turned on later with no interval given", () => {
    const h = established();
    h.advance(5000);
    h.conn.setKeepAlive({ count: 2 }, h.now);
    check(h, h.now);
  });
});

Deno.test("tcp: MUST-34 SHLD-15 SHLD-16 a shrinking window: no new data beyond it, old data within it resent as usual", () => {
  const h = established({ noDelay: true }, {}, 8000);
  h.conn.send(bytes(4000), h.now);
  assert.deepEqual(h.take().map((s) => [seqDiff(s.seq, ISS + 1), s.len]), [
    [0, 1460],
    [1460, 1460],
    [2920, 1080],
  ]);
  // The peer moves its right edge left: SND.UNA + SND.WND = 2920 < SND.NXT = 4000, so the
  // usable window is −1080 (MUST-34).
  h.input({ seq: IRS + 1, ack: ISS + 1, window: 2920 });
  assert.equal(h.conn.sndWnd, 2920);
  // SHLD-15: more data is queued, none of it goes.
  assert.equal(h.conn.send(bytes(2000), h.now), 2000);
  assert.deepEqual(h.take(), []);
  assert.equal(h.conn.sndNxt, ISS + 4001);
  // SHLD-16: the loss probe and then the retransmission timer resend the first segment,
  // inside the window, and nothing new.
  for (let i = 0; i < 10 && h.conn.timeouts === 0; i++) {
    h.advance(h.conn.nextDeadline() - h.now);
    for (const s of h.take()) assert.deepEqual([s.seq, s.len], [ISS + 1, 1460]);
  }
  assert.equal(h.conn.timeouts, 1);
  assert.equal(h.conn.sndNxt, ISS + 4001, "still no new data");
  // It is acknowledged and the right edge stays at 2920: the second segment, inside the
  // window, is resent at once (the timeout marked it lost); nothing new goes.
  h.input({ seq: IRS + 1, ack: ISS + 1461, window: 1460 });
  const next = h.take().filter((s) => s.len > 0);
  assert.deepEqual([next[0].seq, next[0].len], [ISS + 1461, 1460]);
  for (const s of next) assert.ok(seqDiff(seqAdd(s.seq, s.len), ISS + 4001) <= 0, "nothing new");
  assert.equal(h.conn.sndNxt, ISS + 4001, "still no new data");
  // The window opens again: everything flows and nothing is lost.
  h.input({ seq: IRS + 1, ack: ISS + 4001, window: 8000 });
  const rest = h.take();
  assert.equal(rest.reduce((n, s) => n + s.len, 0), 2000);
  assert.equal(rest[0].seq, ISS + 4001);
  h.input({ seq: IRS + 1, ack: ISS + 6001, window: 8000 });
  assert.equal(h.conn.bytesSent, 6000);
  assert.equal(h.conn.state, State.Established);
});

Deno.test("tcp: MUST-60 data written without a push flag is never held indefinitely", async (t) => {
  // A small deterministic generator (the state machine has no randomness of its own).
  let seed = 0x2545f491;
  const rand = (n: number) => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed % n;
  };
  for (
    const [name, opts, synWindow, window] of [
      ["Nagle on, wide window", {}, 65535, 65535],
      ["Nagle on, a window below one MSS", {}, 700, 700],
      // The peer offered 60000 once, then only 1000 at a time: less than half the largest
      // window and less than an MSS, so sender SWS avoidance holds data (§3.8.6.2.1).
      ["Nagle on, a window shrunk below the SWS threshold", {}, 60000, 1000],
      ["Nagle off, small buffer", { noDelay: true, sendBufferSize: 4096 }, 3000, 3000],
    ] as const
  ) {
    await t.step(name, () => {
      const h = established(opts, {}, synWindow);
      let written = 0;
      // Writes of odd sizes at odd times; the peer acknowledges what it got now and then.
      for (let i = 0; i < 300; i++) {
        written += h.conn.send(bytes(1 + rand(900)), h.now);
        h.advance(rand(30));
        h.take();
        if (rand(3) === 0) peerAcksAll(h, window);
      }
      // The application writes nothing more, makes no other call, and sets no flag: the
      // timers and the peer's ACKs alone must carry every byte out.
      for (let i = 0; i < 1000 && h.conn.bytesSent < written; i++) {
        h.advance(Math.max(0, Math.min(h.conn.nextDeadline() - h.now, 50)));
        h.take();
        peerAcksAll(h, window);
      }
      assert.equal(h.conn.bytesSent, written);
      assert.equal(h.conn.sndNxt, seqAdd(ISS + 1, written));
    });
  }
});

Deno.test("tcp: MUST-61 SHLD-27 MAY-16 PSH marks the segment that empties the send queue; writes are packed into full segments", async (t) => {
  await t.step("one write of 3000 bytes: PSH only on the last segment", () => {
    const h = established({ noDelay: true });
    h.conn.send(bytes(3000), h.now);
    assert.deepEqual(h.take().map((s) => [s.len, s.flags]), [
      [1460, ACK],
      [1460, ACK],
      [80, ACK | PSH],
    ]);
  });
  await t.step("writes across segment boundaries (SHLD-27)", () => {
    const h = established();
    h.conn.send(bytes(1000, 1), h.now); // nothing in flight: it goes, and empties the queue
    assert.deepEqual(h.take().map((s) => [s.len, s.flags]), [[1000, ACK | PSH]]);
    h.conn.send(bytes(1000, 2), h.now); // Nagle holds it
    assert.deepEqual(h.take(), []);
    h.conn.send(bytes(1000, 3), h.now); // 2000 queued: one full segment; 540 still queued
    const full = h.one();
    assert.equal(full.len, 1460);
    assert.equal(full.flags, ACK, "no PSH while data stays queued");
    assert.equal(full.payload[999], 2);
    assert.equal(full.payload[1000], 3);
    peerAcksAll(h);
    const last = h.one();
    assert.equal(last.len, 540);
    assert.equal(last.flags, ACK | PSH);
  });
  await t.step("successive small writes collapse into one segment with one PSH", () => {
    const h = established();
    h.conn.send(bytes(10), h.now);
    assert.equal(h.one().flags, ACK | PSH);
    for (let i = 0; i < 5; i++) h.conn.send(bytes(10), h.now);
    assert.deepEqual(h.take(), []);
    peerAcksAll(h);
    const s = h.one();
    assert.equal(s.len, 50);
    assert.equal(s.flags, ACK | PSH);
  });
  await t.step(
    "a window that stops the queue short: PSH waits for the segment that empties it",
    () => {
      const h = established({}, {}, 2920);
      h.conn.send(bytes(3000), h.now);
      assert.deepEqual(h.take().map((s) => [s.len, s.flags]), [[1460, ACK], [1460, ACK]]);
      peerAcksAll(h, 2920);
      assert.deepEqual(h.take().map((s) => [s.len, s.flags]), [[80, ACK | PSH]]);
    },
  );
});

Deno.test("tcp: SHLD-2 an RST that carries data is accepted", async (t) => {
  const rstData = bytes(40, 0x21); // "diagnostic data"
  await t.step("ESTABLISHED: the RST resets; its data is not delivered", () => {
    const h = established();
    h.input({ seq: IRS + 1, ack: ISS + 1, flags: RST | ACK, payload: rstData });
    assert.equal(h.conn.state, State.Closed);
    assert.equal(h.error, "reset");
    assert.equal(h.delivered.length, 0);
  });
  await t.step("ESTABLISHED with a zero receive window", () => {
    const h = established({ recvBufferSize: 1024, windowScaling: false });
    h.input({ seq: IRS + 1, ack: ISS + 1, payload: bytes(1024) });
    assert.equal(seqDiff(h.conn.rcvAdvRight, h.conn.rcvNxt), 0);
    h.input({ seq: IRS + 1025, ack: ISS + 1, flags: RST | ACK, payload: rstData });
    assert.equal(h.conn.state, State.Closed);
    assert.equal(h.error, "reset");
  });
  await t.step("SYN-SENT: an RST,ACK with data refuses the connection", () => {
    const h = new Harness(true);
    h.conn.open(0);
    h.take();
    h.input({ seq: 0, ack: ISS + 1, flags: RST | ACK, window: 0, payload: rstData });
    assert.equal(h.conn.state, State.Closed);
    assert.equal(h.error, "refused");
  });
  await t.step("SYN-RECEIVED (passive): back to LISTEN quietly", () => {
    const h = new Harness(false);
    const syn = newTcpSegment();
    syn.seq = IRS;
    syn.flags = SYN;
    h.conn.acceptSyn(syn, 0);
    h.take();
    h.input({ seq: IRS + 1, flags: RST, payload: rstData });
    assert.equal(h.conn.state, State.Closed);
    assert.equal(h.error, undefined);
  });
});

Deno.test("tcp: SHLD-3 CLOSE with received data unread, or data after CLOSE, sends RST", async (t) => {
  await t.step("unread in-order data: RST instead of FIN", () => {
    const h = established();
    h.input({ seq: IRS + 1, ack: ISS + 1, payload: bytes(100) });
    h.take();
    h.conn.close(h.now);
    const rst = h.one();
    assert.equal(rst.flags & (RST | FIN), RST);
    assert.equal(rst.seq, ISS + 1);
    assert.equal(h.conn.state, State.Closed);
  });
  await t.step("unread out-of-order data: RST too", () => {
    const h = established({}, { sackPermitted: true });
    h.input({ seq: IRS + 101, ack: ISS + 1, payload: bytes(100) });
    h.take();
    h.conn.close(h.now);
    assert.equal(h.one().flags & (RST | FIN), RST);
    assert.equal(h.conn.state, State.Closed);
  });
  await t.step("everything read: FIN; then data arrives: RST", () => {
    const h = established();
    h.input({ seq: IRS + 1, ack: ISS + 1, payload: bytes(100) });
    assert.equal(h.read(), 100);
    h.take();
    h.conn.close(h.now);
    assert.equal(h.one().flags & (RST | FIN), FIN, "a clean close");
    assert.equal(h.conn.state, State.FinWait1);
    h.input({ seq: IRS + 101, ack: ISS + 2 }); // our FIN acknowledged
    assert.equal(h.conn.state, State.FinWait2);
    h.take();
    h.input({ seq: IRS + 101, ack: ISS + 2, payload: bytes(10) });
    const rst = h.one();
    assert.equal(rst.flags & RST, RST);
    assert.equal(rst.seq, ISS + 2);
    assert.equal(h.conn.state, State.Closed);
  });
});

Deno.test("tcp: SHLD-11 with the default settings R2 is at least 100 seconds", () => {
  // The smallest RTO there is (the 200 ms floor: the handshake measured 0 ms) makes R2
  // shortest: give it every advantage.
  const h = established({ noDelay: true });
  assert.equal(h.conn.rtt.rto, 200);
  h.conn.send(bytes(100), h.now);
  h.take();
  const start = h.now;
  for (let i = 0; i < 1000 && h.conn.state !== State.Closed; i++) {
    h.advance(h.conn.nextDeadline() - h.now);
    h.take();
  }
  assert.equal(h.conn.state, State.Closed);
  assert.equal(h.error, "timeout");
  assert.ok(h.now - start >= 100_000, `gave up after ${h.now - start} ms`);
});

Deno.test("tcp: SHLD-29 SHLD-30 the first zero-window probe after one RTO, then exponentially further apart", () => {
  const h = established({ noDelay: true, maxRtoMs: 5000 }, {}, 1000);
  h.conn.send(bytes(3000), h.now);
  assert.equal(h.take().reduce((n, s) => n + s.len, 0), 1000);
  h.advance(10);
  h.input({ seq: IRS + 1, ack: ISS + 1001, window: 0 }); // all acknowledged; window closed
  h.take();
  const rto = h.conn.rtt.rto;
  const closedAt = h.now;
  const probes: number[] = [];
  while (probes.length < 8) {
    const before = h.now;
    h.advance(h.conn.nextDeadline() - h.now);
    assert.ok(h.now > before);
    const out = h.take();
    assert.equal(out.length, 1);
    assert.equal(out[0].len, 0, "a probe");
    assert.equal(out[0].seq, ISS + 1000);
    probes.push(h.now);
    // The peer answers every probe with its still-closed window.
    h.input({ seq: IRS + 1, ack: ISS + 1001, window: 0 });
    assert.deepEqual(h.take(), []);
  }
  // SHLD-29: after exactly one RTO of zero window.
  assert.equal(probes[0] - closedAt, rto);
  // SHLD-30: each gap doubles, up to the maximum RTO.
  const gaps = probes.slice(1).map((p, i) => p - probes[i]);
  assert.deepEqual(gaps, [2, 4, 8, 16, 32, 64, 128].map((k) => Math.min(k * rto, 5000)));
  assert.equal(h.conn.state, State.Established);
});
