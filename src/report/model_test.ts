import assert from "node:assert/strict";
import { buildConnections, SeqSpace } from "./model.ts";
import type { TimedEvent } from "./reader.ts";
import type { TraceEvent } from "../tcp/trace.ts";

Deno.test("report model: relative sequence numbers keep growing across the 2^32 wrap", () => {
  const s = new SeqSpace();
  assert.equal(s.rel(0xffff_fff0), 0);
  assert.equal(s.rel(0xffff_fffa), 10);
  assert.equal(s.rel(0x0000_0005), 21); // past the wrap
  assert.equal(s.rel(0xffff_fff5), 5); // an old number, behind the highest
  // Four full turns of the space, a GiB at a time.
  let abs = 0x0000_0005;
  for (let i = 1; i <= 16; i++) {
    abs = (abs + 0x4000_0000) % 2 ** 32;
    assert.equal(s.rel(abs), 21 + i * 0x4000_0000);
  }
});

const conn = (events: (TraceEvent & { t: number })[]): TimedEvent[] =>
  events.map((e) => ({ ...e, c: 1 }) as TimedEvent);

Deno.test("report model: a connection's directions, ACKs, SACK blocks and figures", () => {
  const isn = 0xffff_fc00; // wraps after 1,024 bytes
  const peer = 5000;
  const [m] = buildConnections(conn([
    { t: 10, ev: "open", local: "10.0.0.1:1", remote: "10.0.0.2:2", active: true, mss: 1460 },
    { t: 10, ev: "seg", dir: "out", seq: isn, ack: 0, len: 0, flags: "S", win: 65535 },
    { t: 30, ev: "seg", dir: "in", seq: peer, ack: isn + 1, len: 0, flags: "S.", win: 65535 },
    { t: 30, ev: "rtt", sample: 20, srtt: 20, rttvar: 10, rto: 200 },
    { t: 30, ev: "seg", dir: "out", seq: isn + 1, ack: peer + 1, len: 1000, flags: ".", win: 9000 },
    {
      t: 30,
      ev: "seg",
      dir: "out",
      seq: (isn + 1001) % 2 ** 32,
      ack: peer + 1,
      len: 1000,
      flags: "P.",
      win: 9000,
    },
    { t: 30, ev: "cc", cwnd: 14480, ssthresh: 2147483647, inflight: 2000 },
    {
      t: 50,
      ev: "seg",
      dir: "in",
      seq: peer + 1,
      ack: isn + 1,
      len: 0,
      flags: ".",
      win: 8000,
      sack: [(isn + 1001) % 2 ** 32, (isn + 2001) % 2 ** 32],
    },
    { t: 50, ev: "recovery", phase: "enter", kind: "sack", recover: (isn + 2001) % 2 ** 32 },
    {
      t: 51,
      ev: "seg",
      dir: "out",
      seq: isn + 1,
      ack: peer + 1,
      len: 1000,
      flags: ".",
      win: 9000,
      rtx: true,
    },
    {
      t: 71,
      ev: "seg",
      dir: "in",
      seq: peer + 1,
      ack: (isn + 2001) % 2 ** 32,
      len: 300,
      flags: "P.",
      win: 8000,
    },
    { t: 71, ev: "recovery", phase: "exit", kind: "sack", recover: (isn + 2001) % 2 ** 32 },
    // The peer's 300 bytes again: old data.
    {
      t: 72,
      ev: "seg",
      dir: "in",
      seq: peer + 1,
      ack: (isn + 2001) % 2 ** 32,
      len: 300,
      flags: "P.",
      win: 8000,
    },
    { t: 80, ev: "rto", rto: 400, retries: 1 },
    { t: 90, ev: "state", from: "ESTABLISHED", to: "FIN-WAIT-1", cause: "close()" },
    { t: 95, ev: "close", reason: "reset" },
  ]));
  assert.equal(m.id, 1);
  assert.equal(m.t0, 10);
  assert.equal(m.duration, 85);
  assert.equal(m.active, true);
  assert.deepEqual(m.out.segs.map((s) => [s.t, s.seq, s.end, s.old]), [
    [0, 0, 1, false], // SYN
    [20, 1, 1001, false],
    [20, 1001, 2001, false],
    [41, 1, 1001, true],
  ]);
  assert.equal(m.out.bytes, 2000);
  assert.equal(m.out.wireBytes, 3000);
  assert.equal(m.out.oldSegments, 1);
  assert.equal(m.out.oldBytes, 1000);
  assert.equal(m.out.segments, 4);
  assert.equal(m.out.dataSegments, 3);
  // The peer's ACKs of our data, in our relative numbers, SACK block included.
  assert.deepEqual(m.out.acks.map((a) => [a.t, a.ack, a.win, a.sack]), [
    [20, 1, 65535, []],
    [40, 1, 8000, [1001, 2001]],
    [61, 2001, 8000, []],
    [62, 2001, 8000, []],
  ]);
  assert.equal(m.out.firstDataT, 20);
  assert.equal(m.out.ackedT, 61);
  assert.equal(m.in.bytes, 300);
  assert.deepEqual(m.in.segs.map((s) => s.old), [false, false, true]);
  assert.equal(m.in.oldBytes, 300);
  assert.deepEqual(m.recoveries, [{ start: 40, end: 61, kind: "sack" }]);
  assert.deepEqual(m.rtos, [{ t: 70, rto: 400, retries: 1 }]);
  assert.equal(m.closeReason, "reset");
  assert.equal(m.states.length, 1);
});

Deno.test("report model: connections are apart, in number order, each timed from its open", () => {
  const events: TimedEvent[] = [
    { t: 5, c: 2, ev: "open", local: "a:1", remote: "b:2", active: false, mss: 1460 },
    { t: 1, c: 1, ev: "open", local: "a:3", remote: "b:4", active: true, mss: 1460 },
    { t: 7, c: 2, ev: "close", reason: "finished" },
    { t: 9, c: 1, ev: "recovery", phase: "enter", kind: "newreno", recover: 7 },
  ];
  const conns = buildConnections(events);
  assert.deepEqual(conns.map((c) => [c.id, c.local, c.duration]), [[1, "a:3", 8], [2, "a:1", 2]]);
  // A recovery still open at the end lasts to the end.
  assert.deepEqual(conns[0].recoveries, [{ start: 8, end: 8, kind: "newreno" }]);
  assert.equal(conns[0].closeReason, undefined);
});
