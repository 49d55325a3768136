// The state machine against a hostile or broken peer: blind injection (RFC 5961), PAWS and
// TS.Recent (RFC 7323), rate-limited replies, liveness, the receive window, and the MUSTs of
// RFC 9293 Appendix B that concern them. Each test names the rule it checks.
import assert from "node:assert/strict";
import { ACK, FIN, PSH, RST, SYN, URG } from "../wire/tcp.ts";
import { State } from "./connection.ts";
import { bytes, established, Harness, IRS, ISS } from "./_harness.ts";
import { seqDiff } from "./seq.ts";

/** ESTABLISHED with timestamps on both sides (the peer's TSval starts at 1000). */
function withTimestamps(opts = {}): Harness {
  const h = established({ noDelay: true, ...opts }, {
    hasTimestamps: true,
    tsVal: 1000,
    tsEcr: 0,
    sackPermitted: true,
    wscale: 7,
  });
  return h;
}

const ts = (tsVal: number, tsEcr = 0) => ({ hasTimestamps: true, tsVal, tsEcr });

Deno.test("hardening: a forged old duplicate with a far-future TSval leaves TS.Recent alone (RFC 7323 §4.3)", () => {
  const h = withTimestamps();
  h.input({ seq: IRS + 1, ack: ISS + 1, payload: bytes(100), opts: ts(1001) });
  h.take();
  const before = h.conn.tsRecent;
  // Below RCV.NXT (unacceptable), TSval 2^31 − 1 ahead: once it poisoned TS.Recent and PAWS
  // then rejected every real segment.
  h.input({ seq: IRS + 1, ack: ISS + 1, opts: ts((1001 + 0x7fffffff) >>> 0) });
  assert.equal(h.conn.tsRecent, before);
  // The real peer goes on and its data is taken.
  h.now += 600;
  h.input({ seq: IRS + 101, ack: ISS + 1, payload: bytes(100, 2), opts: ts(1002) });
  assert.equal(h.conn.rcvNxt, IRS + 201);
  assert.equal(h.conn.pawsRejected, 0);
});

Deno.test("hardening: a forged old-sequence ACK covering data in flight moves nothing (RFC 9293 §3.10.7.4)", () => {
  const h = withTimestamps();
  h.input({ seq: IRS + 1, ack: ISS + 1, payload: bytes(100), opts: ts(1001) });
  h.conn.send(bytes(10_000), h.now);
  h.take();
  const una = h.conn.sndUna;
  // Sequence number below RCV.NXT: unacceptable, so its ACK field is not read.
  h.input({ seq: IRS + 1, ack: (ISS + 1 + 8000) >>> 0, opts: ts(1001) });
  assert.equal(h.conn.sndUna, una);
  assert.equal(h.conn.sendBuf.length, 10_000, "no byte left the send buffer");
  // And a far-out-of-window one neither.
  h.now += 600;
  h.input({ seq: IRS + 1 + (1 << 30), ack: (ISS + 1 + 8000) >>> 0, opts: ts(1002) });
  assert.equal(h.conn.sndUna, una);
});

Deno.test("hardening: TS.Recent is taken only after the ACK check passes (RFC 7323 §4.3, RFC 5961 §5)", () => {
  const h = withTimestamps();
  const before = h.conn.tsRecent;
  // In the window, but acknowledging data never sent: dropped, its timestamp unread.
  h.input({ seq: IRS + 1, ack: ISS + 5000, opts: ts(900_000) });
  assert.equal(h.conn.tsRecent, before);
  assert.equal(h.conn.invalidAcks, 1);
  // An acceptable ACK's timestamp is taken.
  h.input({ seq: IRS + 1, ack: ISS + 1, opts: ts(2000) });
  assert.equal(h.conn.tsRecent, 2000);
});

Deno.test("hardening: an ACK below SND.UNA − MAX.SND.WND draws a challenge ACK and is dropped (RFC 5961 §5.2)", () => {
  const h = established({ noDelay: true }, {}, 1000);
  h.conn.send(bytes(500), h.now);
  h.take();
  h.input({ seq: IRS + 1, ack: ISS + 501, window: 1000 });
  assert.equal(h.conn.sndUna, ISS + 501);
  assert.equal(h.conn.maxSndWnd, 1000);
  h.take();
  h.now += 1000;
  h.input({ seq: IRS + 1, ack: (ISS + 501 - 5000) >>> 0, payload: bytes(10) });
  assert.equal(h.conn.invalidAcks, 1);
  assert.equal(h.conn.rcvNxt, IRS + 1, "its data was not taken");
  assert.equal(h.one().ack, IRS + 1); // the challenge ACK
});

Deno.test("hardening: challenge ACKs are rate-limited per connection (RFC 5961 §7, as Linux's 500 ms)", () => {
  const h = established();
  for (let i = 0; i < 100; i++) h.input({ seq: IRS + 10 + i, flags: RST });
  assert.equal(h.take().length, 1);
  assert.equal(h.conn.challengeAcks, 100);
  assert.equal(h.conn.repliesSuppressed, 99);
  assert.equal(h.conn.state, State.Established);
  h.now += 499;
  h.input({ seq: IRS + 10, flags: SYN });
  assert.equal(h.take().length, 0);
  h.now += 1;
  h.input({ seq: IRS + 10, flags: SYN });
  assert.equal(h.take().length, 1);
});

Deno.test("hardening: replies to out-of-window segments are rate-limited; data ones less strictly", () => {
  const h = established();
  // Empty segments far out of the window: one reply per 500 ms.
  for (let i = 0; i < 50; i++) h.input({ seq: IRS + 1 + (1 << 30), ack: ISS + 1 });
  assert.equal(h.take().length, 1);
  // Old data (a retransmission whose ACK was lost): one reply per 50 ms.
  h.now += 500;
  for (let t = 0; t < 10; t++) {
    for (let i = 0; i < 10; i++) h.input({ seq: IRS - 99, ack: ISS + 1, payload: bytes(50) });
    h.now += 50;
  }
  assert.equal(h.take().length, 10);
});

Deno.test("hardening: a stack-wide reply budget can veto replies to invalid segments (RFC 5961 §7)", () => {
  let budget = 2;
  const h = new Harness(true, {}, ISS, () => budget-- > 0);
  h.conn.open(h.now);
  h.take();
  h.input({ seq: IRS, ack: ISS + 1, flags: SYN | ACK, opts: { mss: 1460 } });
  h.take();
  for (let i = 0; i < 5; i++) {
    h.now += 1000;
    h.input({ seq: IRS + 10, flags: RST });
  }
  assert.equal(h.take().length, 2);
});

Deno.test("hardening: MUST-66 an RST at RCV.NXT is processed with a zero window and data on it", () => {
  const h = established({ recvBufferSize: 1024, windowScaling: false });
  h.input({ seq: IRS + 1, ack: ISS + 1, payload: bytes(1024) });
  assert.equal(seqDiff(h.conn.rcvAdvRight, h.conn.rcvNxt), 0, "the window is zero");
  h.input({ seq: IRS + 1025, ack: ISS + 1, flags: RST | ACK, payload: bytes(20) });
  assert.equal(h.conn.state, State.Closed);
  assert.equal(h.error, "reset");
});

Deno.test("hardening: MUST-37 a peer that answers with a zero window keeps the connection open (RFC 9293 §3.8.6.1)", () => {
  const h = established({ noDelay: true, maxRetries: 3 }, {}, 4000);
  h.conn.send(bytes(3000), h.now);
  h.take();
  // The peer shrinks its window to zero without acknowledging the data (MUST-34: robust
  // against a shrinking window), then answers every retransmission with the same zero window.
  h.input({ seq: IRS + 1, ack: ISS + 1, window: 0 });
  for (let i = 0; i < 40; i++) {
    h.advance(h.conn.nextDeadline() - h.now);
    const out = h.take();
    assert.ok(out.length > 0, "something is sent: a retransmission or probe");
    h.input({ seq: IRS + 1, ack: ISS + 1, window: 0 });
    assert.equal(h.conn.state, State.Established, `aborted after ${i} answered probes`);
  }
  // The window opens: the data goes.
  h.input({ seq: IRS + 1, ack: ISS + 1, window: 4000 });
  h.advance(h.conn.nextDeadline() - h.now);
  h.input({ seq: IRS + 1, ack: ISS + 3001, window: 4000 });
  assert.equal(h.conn.sndUna, ISS + 3001);
});

Deno.test("hardening: MUST-35 a silent peer behind a zero window still times out", () => {
  const h = established({ noDelay: true, maxRetries: 3 }, {}, 4000);
  h.conn.send(bytes(3000), h.now);
  h.take();
  h.input({ seq: IRS + 1, ack: ISS + 1, window: 0 });
  for (let i = 0; i < 200 && h.conn.state !== State.Closed; i++) {
    h.advance(h.conn.nextDeadline() - h.now);
  }
  assert.equal(h.conn.state, State.Closed);
  assert.equal(h.error, "timeout");
});

Deno.test("hardening: junk to the 4-tuple does not reset the keep-alive count (MUST-29 holds, and a dead peer is found)", () => {
  const h = established({ keepAlive: { idleMs: 1000, intervalMs: 100, count: 3 } });
  for (let i = 0; i < 100 && h.conn.state !== State.Closed; i++) {
    h.advance(50);
    h.take();
    // A forged segment far out of the window: it proves nothing about the peer.
    h.input({ seq: IRS + 1 + (1 << 30), ack: ISS + 1 });
  }
  assert.equal(h.conn.state, State.Closed);
  assert.equal(h.error, "timeout");
});

Deno.test("hardening: SACK marks are cleared on an RTO (RFC 6675 §5.1, RFC 2018 §8)", () => {
  const h = established({ noDelay: true }, { sackPermitted: true });
  h.conn.send(bytes(5 * 1460), h.now);
  h.take();
  // The receiver SACKs the last two segments (too few to start recovery), then goes silent.
  h.input({
    seq: IRS + 1,
    ack: ISS + 1,
    opts: { sackBlocks: [ISS + 1 + 3 * 1460, ISS + 1 + 5 * 1460] },
  });
  while (h.conn.timeouts === 0) h.advance(h.conn.nextDeadline() - h.now);
  h.take();
  // After the RTO every segment counts as lost, the SACKed ones too: as ACKs come back
  // without SACK blocks (the receiver reneged), all five are sent again without waiting for
  // more timeouts. A scoreboard that kept the marks would skip segments 4 and 5.
  const resent = new Set<number>();
  for (let i = 0; i < 20 && h.conn.sndUna !== h.conn.sndNxt; i++) {
    for (const s of h.take()) if (s.len > 0) resent.add(s.seq);
    h.input({ seq: IRS + 1, ack: Math.min(h.conn.sndNxt, h.conn.sndUna + 1460) });
  }
  for (const s of h.take()) if (s.len > 0) resent.add(s.seq);
  assert.equal(h.conn.timeouts, 1);
  for (let k = 3; k < 5; k++) assert.ok(resent.has(ISS + 1 + k * 1460), `segment ${k + 1} resent`);
});

Deno.test("hardening: a stale out-of-order FIN is forgotten when data arrives beyond it", () => {
  const h = established();
  // A FIN at IRS+101 arrives ahead of data (forged, or from a confused peer)...
  h.input({ seq: IRS + 101, ack: ISS + 1, flags: ACK | FIN });
  // ...then data well beyond it: the FIN cannot be the end of the stream.
  h.input({ seq: IRS + 201, ack: ISS + 1, payload: bytes(100) });
  // The data up to the forgotten FIN arrives: RCV.NXT reaches it, and it must not close.
  h.input({ seq: IRS + 1, ack: ISS + 1, payload: bytes(100) });
  assert.equal(h.conn.state, State.Established, "no FIN was processed");
  assert.equal(h.conn.rcvNxt, IRS + 101);
  h.input({ seq: IRS + 101, ack: ISS + 1, payload: bytes(100) });
  assert.equal(h.conn.state, State.Established);
  assert.equal(h.conn.rcvNxt, IRS + 301);
  assert.equal(h.delivered.length, 300);
});

Deno.test("hardening: a FIN below data already held is not taken", () => {
  const h = established();
  h.input({ seq: IRS + 201, ack: ISS + 1, payload: bytes(100) });
  h.input({ seq: IRS + 101, ack: ISS + 1, flags: ACK | FIN });
  // The data up to that FIN arrives: RCV.NXT reaches it, and it must not close.
  h.input({ seq: IRS + 1, ack: ISS + 1, payload: bytes(100) });
  assert.equal(h.conn.state, State.Established);
  assert.equal(h.conn.rcvNxt, IRS + 101);
  h.input({ seq: IRS + 101, ack: ISS + 1, payload: bytes(100) });
  assert.equal(h.conn.state, State.Established);
  assert.equal(h.conn.rcvNxt, IRS + 301);
});

Deno.test("hardening: data carried on a SYN,ACK is taken (RFC 9293 §3.10.7.3)", () => {
  const h = new Harness(true);
  h.conn.open(h.now);
  h.take();
  h.input({
    seq: IRS,
    ack: ISS + 1,
    flags: SYN | ACK,
    payload: bytes(300, 7),
    opts: { mss: 1460 },
  });
  assert.equal(h.conn.state, State.Established);
  assert.equal(h.conn.rcvNxt, IRS + 301);
  assert.equal(h.delivered.length, 300);
  assert.equal(h.one().ack, IRS + 301);
});

Deno.test("hardening: an old ACK does not update the window (SND.UNA ≤ SEG.ACK precondition, §3.10.7.4)", () => {
  const h = established({ noDelay: true }, {}, 10_000);
  h.conn.send(bytes(2000), h.now);
  h.take();
  h.input({ seq: IRS + 1, ack: ISS + 2001, window: 10_000, payload: bytes(10) });
  assert.equal(h.conn.sndWnd, 10_000);
  // A reordered older ACK (newer sequence number, older ack) must not change the window:
  // SND.WL1 < SEG.SEQ alone would let it.
  h.input({ seq: IRS + 11, ack: ISS + 1001, window: 100, payload: bytes(10) });
  assert.equal(h.conn.rcvNxt, IRS + 21, "the segment itself was acceptable");
  assert.equal(h.conn.sndWnd, 10_000);
});

Deno.test("hardening: SHLD-14 the right edge never moves left while the reader drains in small pieces", () => {
  const h = established({ recvBufferSize: 64 * 1024 }, { wscale: 7 });
  h.record = false;
  let seq = IRS + 1;
  let lastRight = h.conn.rcvAdvRight;
  for (let i = 0; i < 3000; i++) {
    const room = seqDiff(h.conn.rcvAdvRight, seq);
    if (room > 0) {
      const len = Math.min(1448, room);
      h.input({ seq, ack: ISS + 1, payload: new Uint8Array(len) });
      seq = (seq + len) >>> 0;
    }
    if (i % 3 === 0) h.read(1 + (i % 97)); // small, uneven reads
    h.advance(10);
    for (const s of h.take()) {
      const right = (s.ack + (s.window << h.conn.rcvWscale)) >>> 0;
      assert.ok(
        seqDiff(right, lastRight) >= 0,
        `the edge moved left by ${seqDiff(lastRight, right)}`,
      );
      lastRight = right;
    }
  }
});

Deno.test("hardening: MUST-39 receiver SWS avoidance: a closed window reopens by at least min(MSS, buffer/2)", () => {
  const h = established({ recvBufferSize: 64 * 1024 }, { wscale: 7 });
  h.record = false;
  let seq = IRS + 1;
  for (let i = 0; i < 200; i++) {
    const room = seqDiff(h.conn.rcvAdvRight, seq);
    if (room <= 0) break;
    const len = Math.min(1448, room);
    h.input({ seq, ack: ISS + 1, payload: new Uint8Array(len) });
    seq = (seq + len) >>> 0;
  }
  h.advance(100);
  h.take();
  assert.equal(seqDiff(h.conn.rcvAdvRight, h.conn.rcvNxt), 0, "closed");
  // The application reads a few bytes at a time: no update until a full MSS is free.
  const updates: number[] = [];
  for (let i = 0; i < 100; i++) {
    h.read(32);
    for (const s of h.take()) updates.push(s.window << h.conn.rcvWscale);
  }
  assert.ok(updates.length >= 1, "the window reopened");
  assert.ok(updates[0] >= 1460, `the first reopening is ${updates[0]} bytes`);
  // A zero-window probe in between is answered with the same closed window.
});

Deno.test("hardening: MUST-30 MUST-32 MUST-33 urgent data: the application hears of it and learns how much is left", () => {
  const h = established();
  // 10 bytes, the first 4 urgent: the pointer (RFC 6093) names the byte after them.
  h.input({ seq: IRS + 1, ack: ISS + 1, flags: ACK | PSH | URG, urgent: 4, payload: bytes(10) });
  assert.ok(h.events.includes("urgent"));
  assert.equal(h.conn.urgentPending, 4);
  h.read(3);
  assert.equal(h.conn.urgentPending, 1);
  h.read(10);
  assert.equal(h.conn.urgentPending, 0);
  // The pointer advancing later is reported again (MUST-32); a receding one is ignored.
  h.events.length = 0;
  h.input({ seq: IRS + 11, ack: ISS + 1, flags: ACK | URG, urgent: 5, payload: bytes(10) });
  assert.deepEqual(h.events, ["urgent"]);
  assert.equal(h.conn.urgentPending, 5);
  // Without URG, nothing new is reported.
  h.input({ seq: IRS + 21, ack: ISS + 1, payload: bytes(10) });
  assert.deepEqual(h.events, ["urgent"]);
});

Deno.test("hardening: MUST-31 MUST-62 urgent data of any length is sent with the pointer after its last byte", () => {
  const h = established({ noDelay: true }, { mss: 1000 }, 65535);
  h.conn.send(bytes(100_000), h.now, true); // far more than 64 KiB of urgent data
  const segs = h.take();
  assert.ok(segs.length >= 10);
  assert.equal(segs[0].urgent, 0xffff, "100,000 bytes ahead: the field says 65535");
  for (const s of segs) {
    assert.ok(s.flags & URG, "URG on every segment while urgent data is outstanding");
    const distance = seqDiff(ISS + 1 + 100_000, s.seq);
    assert.equal(s.urgent, Math.min(distance, 0xffff));
  }
  // The rest follows as ACKs come; once everything is acknowledged, URG stops.
  for (let i = 0; i < 200 && h.conn.sndUna !== h.conn.sndNxt; i++) {
    h.input({ seq: IRS + 1, ack: h.conn.sndNxt, window: 65535 });
    for (const s of h.take()) {
      if (s.len > 0) assert.equal(s.urgent, Math.min(seqDiff(ISS + 1 + 100_000, s.seq), 0xffff));
    }
  }
  assert.equal(h.conn.sndUna, ISS + 1 + 100_000);
  h.conn.send(bytes(10), h.now);
  const after = h.one();
  assert.equal(after.flags & URG, 0);
});

Deno.test("hardening: MUST-20 SHLD-9 SHLD-10 at R1 (3 retransmissions) the application is told; at R2 the connection closes", () => {
  const h = established({ noDelay: true, maxRetries: 5 });
  h.conn.send(bytes(100), h.now);
  h.take();
  let stalledAt = -1;
  for (let i = 1; i <= 10 && h.conn.state !== State.Closed; i++) {
    h.advance(h.conn.nextDeadline() - h.now);
    if (stalledAt < 0 && h.events.includes("stalled")) stalledAt = h.conn.timeouts;
  }
  assert.equal(stalledAt, 3);
  assert.equal(h.events.filter((e) => e === "stalled").length, 1);
  assert.equal(h.error, "timeout");
});

Deno.test("hardening: MUST-21 a user timeout sets R2 by time for one connection", () => {
  const h = established({ noDelay: true, userTimeoutMs: 10_000, maxRetries: 1000 });
  h.conn.send(bytes(100), h.now);
  h.take();
  const start = h.now;
  while (h.conn.state !== State.Closed && h.now - start < 1_000_000) {
    h.advance(h.conn.nextDeadline() - h.now);
  }
  assert.equal(h.error, "timeout");
  assert.ok(h.now - start >= 10_000 && h.now - start < 40_000, `gave up after ${h.now - start} ms`);
});

Deno.test("hardening: MUST-22 MUST-23 an unanswered SYN is retried for at least three minutes by default", () => {
  const h = new Harness(true);
  h.conn.open(h.now);
  let syns = h.take().length;
  while (h.conn.state === State.SynSent && h.now < 1_000_000) {
    h.advance(h.conn.nextDeadline() - h.now);
    syns += h.take().filter((s) => s.flags & SYN).length;
  }
  assert.equal(h.error, "timeout");
  assert.ok(h.now >= 180_000, `gave up after ${h.now} ms`);
  assert.ok(syns >= 8);
  assert.ok(h.events.includes("stalled"), "R1 was reported for the SYN too");
});

Deno.test("hardening: MUST-24 MUST-25 keep-alive is off by default and can be turned on and off per connection", () => {
  const h = established();
  h.advance(3 * 3600_000);
  assert.equal(h.take().length, 0, "no probe by default");
  h.conn.setKeepAlive({ idleMs: 1000, intervalMs: 500, count: 2 }, h.now);
  h.advance(1000);
  const probe = h.one();
  assert.equal(probe.seq, ISS); // SND.NXT − 1
  assert.equal(probe.len, 0); // SHLD-12: no data
  h.conn.setKeepAlive(null, h.now);
  h.advance(10_000);
  assert.equal(h.take().length, 0);
  assert.equal(h.conn.state, State.Established);
});

Deno.test("hardening: buffers are released when idle and come back on use", () => {
  const h = established({ noDelay: true });
  h.input({ seq: IRS + 1, ack: ISS + 1, payload: bytes(100) });
  h.conn.send(bytes(100), h.now);
  assert.ok(h.conn.memoryBytes > 0);
  h.input({ seq: IRS + 101, ack: ISS + 101 });
  h.read();
  h.advance(999);
  assert.ok(h.conn.memoryBytes > 0, "kept while recently used");
  h.advance(1);
  assert.equal(h.conn.memoryBytes, 0);
  h.input({ seq: IRS + 101, ack: ISS + 101, payload: bytes(10, 5) });
  assert.equal(h.read(), 10);
});

Deno.test("icmp: MUST-54 SHLD-25 an unreachable destination fails the open at once; later it is a soft error kept for a timeout (RFC 5461 §4, MUST-56)", () => {
  const h = new Harness(true);
  h.conn.open(h.now);
  h.take();
  // The quoted sequence number must be in flight (RFC 5927 §4.1): a guess is not believed.
  assert.equal(h.conn.icmpError("host-unreachable", ISS + 5, h.now), false);
  assert.equal(h.conn.state, State.SynSent);
  assert.equal(h.conn.icmpRejected, 1);
  assert.equal(h.conn.icmpError("host-unreachable", ISS, h.now), true);
  assert.equal(h.conn.state, State.Closed);
  assert.equal(h.error, "host-unreachable");
  // Established: a soft error, remembered.
  const e = established({ noDelay: true, maxRetries: 2 });
  e.conn.send(bytes(100), e.now);
  e.take();
  assert.equal(e.conn.icmpError("network-unreachable", ISS + 1, e.now), true);
  assert.equal(e.conn.state, State.Established);
  assert.equal(e.conn.softError, "network-unreachable");
  for (let i = 0; i < 10 && (e.conn.state as State) !== State.Closed; i++) {
    e.advance(e.conn.nextDeadline() - e.now);
  }
  assert.equal(e.error, "timeout");
  assert.equal(e.conn.softError, "network-unreachable");
});

Deno.test("icmp: MUST-55 source quench is ignored", () => {
  const h = established({ noDelay: true });
  h.conn.send(bytes(100), h.now);
  h.take();
  const cwnd = h.conn.cc.cwnd;
  assert.equal(h.conn.icmpError("source-quench", ISS + 1, h.now), true);
  assert.equal(h.conn.cc.cwnd, cwnd);
  assert.equal(h.conn.softError, null);
});

Deno.test("pmtu: fragmentation needed lowers the MSS and resends what was too big at the new size (RFC 1191 §6.5)", () => {
  const h = established({ noDelay: true }, { mss: 1460 }, 65535);
  h.conn.send(bytes(5 * 1460), h.now);
  assert.equal(h.take().filter((s) => s.len === 1460).length, 5);
  // A router on the path says: MTU 1280. The quote names the first segment.
  assert.equal(h.conn.pathMtu(1280, ISS + 1, 40, 576, h.now), true);
  assert.equal(h.conn.sndMss, 1240);
  const resent = h.take().filter((s) => s.len > 0);
  assert.ok(resent.length > 0);
  for (const s of resent) assert.ok(s.len <= 1240, `segment of ${s.len} bytes after the drop`);
  assert.equal(resent[0].seq, ISS + 1);
  // A forged tiny MTU is floored (576 for IPv4: MSS 536).
  h.conn.pathMtu(68, ISS + 1, 40, 576, h.now);
  assert.equal(h.conn.sndMss, 536);
  // Ten minutes later the full size is tried again (RFC 1191 §6.3).
  h.input({ seq: IRS + 1, ack: h.conn.sndNxt });
  h.advance(10 * 60_000);
  assert.equal(h.conn.sndMss, 1460);
});

Deno.test("pmtu: black-hole detection shrinks full-sized segments after repeated timeouts (RFC 4821 spirit)", () => {
  const h = established({ noDelay: true, maxRetries: 8 }, { mss: 1460 }, 65535);
  h.conn.send(bytes(4 * 1460), h.now);
  h.take();
  // Nothing comes back: no ACK, no ICMP (a firewall eats both).
  while (h.conn.timeouts < 1) h.advance(h.conn.nextDeadline() - h.now);
  assert.equal(h.conn.blackHoleDrops, 0, "one timeout proves nothing");
  h.take();
  while (h.conn.timeouts < 2) h.advance(h.conn.nextDeadline() - h.now);
  assert.equal(h.conn.blackHoleDrops, 1);
  assert.equal(h.conn.sndMss, 730);
  const sizes = h.take().filter((s) => s.len > 0).map((s) => s.len);
  assert.ok(sizes.length > 0);
  assert.ok(sizes.every((n) => n <= 730), `sizes ${sizes}`);
  // Small segments get through: the transfer completes at the smaller size.
  h.input({ seq: IRS + 1, ack: (ISS + 1 + 730) >>> 0 });
  assert.equal(h.conn.state, State.Established);
});
