import assert from "node:assert/strict";
import { type SimEndpoint, SimNetwork } from "./network.ts";
import { emitIpv4, IPPROTO_TCP } from "../../src/wire/ipv4.ts";
import { ACK, emitTcp, newTcpSegment } from "../../src/wire/tcp.ts";
import { emitVirtioNetHdr, newVirtioNetHdr, prepareTcpOffload } from "../../src/wire/virtio.ts";

/** An endpoint that records what it receives and, optionally, polls at planned times. */
class Recorder implements SimEndpoint {
  readonly got: { t: number; bytes: number[] }[] = [];
  readonly polls: number[] = [];
  deadlines: number[] = [];
  onInput?: (packet: Uint8Array, now: number) => void;
  input(packet: Uint8Array, nowMs: number): void {
    this.got.push({ t: nowMs, bytes: [...packet] });
    this.onInput?.(packet, nowMs);
  }
  poll(nowMs: number): void {
    this.polls.push(nowMs);
    this.deadlines = this.deadlines.filter((d) => d > nowMs);
  }
  nextDeadline(): number {
    return this.deadlines.length > 0 ? Math.min(...this.deadlines) : Infinity;
  }
}

function sendEvery(sim: SimNetwork, count: number, intervalMs: number, len = 20): void {
  for (let i = 0; i < count; i++) {
    sim.at(i * intervalMs, () => {
      const p = new Uint8Array(len);
      p[0] = i & 0xff;
      p[1] = i >> 8;
      sim.link("a").write(p);
    });
  }
}

const ids = (r: Recorder) => r.got.map((g) => g.bytes[0] | (g.bytes[1] << 8));

Deno.test("sim: packets arrive after the delay, in order, as owned copies", () => {
  const sim = new SimNetwork({ aToB: { delayMs: 10 } });
  const b = new Recorder();
  sim.attach("b", b);
  const buf = new Uint8Array(4);
  sim.at(0, () => {
    for (let i = 0; i < 3; i++) {
      buf[0] = i;
      sim.link("a").write(buf); // the sender reuses its buffer
    }
    buf[0] = 77;
  });
  assert.equal(sim.run({}), "idle");
  assert.deepEqual(b.got, [
    { t: 10, bytes: [0, 0, 0, 0] },
    { t: 10, bytes: [1, 0, 0, 0] },
    { t: 10, bytes: [2, 0, 0, 0] },
  ]);
  assert.equal(sim.now, 10);
  assert.equal(sim.stats.aToB.delivered, 3);
});

Deno.test("sim: events at equal times run in insertion order", () => {
  const sim = new SimNetwork();
  const order: string[] = [];
  sim.at(5, () => order.push("x"));
  sim.at(3, () => order.push("w"));
  sim.at(5, () => order.push("y"));
  sim.at(5, () => sim.at(5, () => order.push("z")));
  sim.at(4, () => order.push("v"));
  sim.run({});
  assert.deepEqual(order, ["w", "v", "x", "y", "z"]);
});

Deno.test("sim: poll runs at each deadline, after packets due at the same time", () => {
  const sim = new SimNetwork({ aToB: { delayMs: 50 } });
  const a = new Recorder();
  const b = new Recorder();
  b.deadlines = [20, 50, 120];
  const log: string[] = [];
  b.onInput = (_p, now) => log.push(`input@${now}`);
  const poll = b.poll.bind(b);
  b.poll = (now) => {
    log.push(`poll@${now}`);
    poll(now);
  };
  sim.attach("a", a);
  sim.attach("b", b);
  sim.at(0, () => sim.link("a").write(new Uint8Array(1)));
  assert.equal(sim.run({}), "idle");
  assert.deepEqual(log, ["poll@20", "input@50", "poll@50", "poll@120"]);
  assert.equal(sim.now, 120);
});

Deno.test("sim: endpoints replying to each other see a consistent virtual clock", () => {
  const sim = new SimNetwork({ aToB: { delayMs: 7 }, bToA: { delayMs: 3 } });
  const a = new Recorder();
  const b = new Recorder();
  a.onInput = (p) => {
    if (p[0] < 5) sim.link("a").write(Uint8Array.of(p[0] + 1));
  };
  b.onInput = (p) => sim.link("b").write(p);
  sim.attach("a", a);
  sim.attach("b", b);
  sim.at(0, () => sim.link("a").write(Uint8Array.of(0)));
  assert.equal(sim.run({}), "idle");
  assert.deepEqual(b.got.map((g) => g.t), [7, 17, 27, 37, 47, 57]);
  assert.deepEqual(a.got.map((g) => g.t), [10, 20, 30, 40, 50, 60]);
});

Deno.test("sim: run stops for until, maxTimeMs and maxEvents", async (t) => {
  await t.step("until", () => {
    const sim = new SimNetwork();
    let n = 0;
    for (let i = 0; i < 10; i++) sim.at(i, () => n++);
    assert.equal(sim.run({ until: () => n === 4 }), "done");
    assert.equal(n, 4);
    assert.equal(sim.pendingEvents, 6);
    assert.equal(sim.run({}), "idle");
    assert.equal(n, 10);
  });
  await t.step("maxTimeMs moves the clock to the limit", () => {
    const sim = new SimNetwork();
    let n = 0;
    for (let i = 0; i < 10; i++) sim.at(i * 100, () => n++);
    assert.equal(sim.run({ maxTimeMs: 450 }), "time");
    assert.equal(n, 5);
    assert.equal(sim.now, 450);
  });
  await t.step("maxEvents bounds a runaway endpoint", () => {
    const sim = new SimNetwork();
    const stuck: SimEndpoint = { input() {}, poll() {}, nextDeadline: () => 5 };
    sim.attach("a", stuck);
    assert.equal(sim.run({ maxEvents: 1000 }), "events");
    assert.equal(sim.now, 5);
  });
});

Deno.test("sim: loss drops roughly the configured fraction, and the rest arrive in order", () => {
  const sim = new SimNetwork({ aToB: { seed: 12, loss: 0.1, delayMs: 5 } });
  const b = new Recorder();
  sim.attach("b", b);
  sendEvery(sim, 10_000, 1);
  sim.run({});
  const stats = sim.stats.aToB;
  assert.equal(stats.sent, 10_000);
  assert.equal(b.got.length, 10_000 - stats.dropped);
  assert.ok(stats.dropped > 800 && stats.dropped < 1200, `dropped ${stats.dropped}`);
  const got = ids(b);
  assert.deepEqual(got, [...got].sort((x, y) => x - y));
});

Deno.test("sim: the same seed gives the same trace, another seed does not", () => {
  const traceOf = (seed: number) => {
    const opts = { seed, loss: 0.05, duplicate: 0.05, reorder: 0.1, delayMs: 10, jitterMs: 4 };
    const sim = new SimNetwork({ aToB: opts, bToA: opts });
    const lines: string[] = [];
    sim.trace = (e) => lines.push(e);
    const a = new Recorder();
    const b = new Recorder();
    b.onInput = (p) => sim.link("b").write(p.subarray(0, 4)); // echo a prefix back
    sim.attach("a", a);
    sim.attach("b", b);
    sendEvery(sim, 300, 2, 64);
    sim.run({});
    return lines;
  };
  const first = traceOf(21);
  assert.ok(first.length > 900);
  assert.ok(first.some((l) => l.includes("drop=loss")));
  assert.ok(first.some((l) => l.includes(" recv ")));
  assert.deepEqual(traceOf(21), first);
  assert.notDeepEqual(traceOf(22), first);
});

Deno.test("sim: reorder lets later packets overtake a held-back one", () => {
  const sim = new SimNetwork({ aToB: { seed: 3, reorder: 0.2, delayMs: 10 } });
  const b = new Recorder();
  sim.attach("b", b);
  sendEvery(sim, 200, 1);
  sim.run({});
  const got = ids(b);
  assert.equal(got.length, 200);
  assert.notDeepEqual(got, [...got].sort((x, y) => x - y));
  assert.ok(sim.stats.aToB.reordered > 0);
});

Deno.test("sim: bandwidth serializes packets and a full queue drops them", () => {
  // 100 kB/s = 100 bytes per ms; 500-byte packets take 5 ms each.
  const sim = new SimNetwork({ aToB: { bandwidthBps: 100_000, queueBytes: 2000, delayMs: 1 } });
  const b = new Recorder();
  const lines: string[] = [];
  sim.trace = (e) => lines.push(e);
  sim.attach("b", b);
  sim.at(0, () => {
    for (let i = 0; i < 6; i++) sim.link("a").write(new Uint8Array(500).fill(i));
  });
  sim.at(12, () => sim.link("a").write(new Uint8Array(500).fill(9)));
  sim.run({});
  // At t=0: backlog 0, 500, 1000, 1500 fit; 2000+500 > 2000 drops the 5th and 6th.
  // At t=12: 8 ms of backlog (800 bytes) left, so the packet departs at 20 + 5.
  const expected = [[6, 0], [11, 1], [16, 2], [21, 3], [26, 9]];
  assert.deepEqual(b.got.map((g) => [g.t, g.bytes[0]]), expected);
  assert.equal(sim.stats.aToB.queueDrops, 2);
  assert.equal(lines.filter((l) => l.endsWith("drop=queue")).length, 2);
});

Deno.test("sim: duplicates arrive twice; oversize and undeliverable packets are counted", () => {
  const sim = new SimNetwork({ aToB: { duplicate: 1 }, mtu: 100 });
  const b = new Recorder();
  sim.at(0, () => sim.link("a").write(new Uint8Array(10)));
  sim.at(1, () => sim.attach("b", b));
  sim.at(2, () => sim.link("a").write(Uint8Array.of(5)));
  sim.at(3, () => sim.link("a").write(new Uint8Array(101)));
  sim.at(4, () => sim.link("b").close());
  sim.at(5, () => sim.link("a").write(Uint8Array.of(6)));
  sim.run({});
  assert.deepEqual(b.got, [{ t: 2, bytes: [5] }, { t: 2, bytes: [5] }]);
  assert.notEqual(b.got[0], b.got[1]);
  const s = sim.stats.aToB;
  assert.equal(s.duplicated, 3);
  assert.equal(s.oversize, 1);
  assert.equal(s.undeliverable, 4);
  assert.equal(s.delivered, 2);
});

Deno.test("sim: the link's read returns 0 and its wait ends on wake or close", async () => {
  const sim = new SimNetwork();
  const link = sim.link("a");
  assert.equal(link.read(new Uint8Array(10)), 0);
  await link.waitReadable(0);
  const w = link.waitReadable(-1);
  link.wake();
  await w;
  const w2 = link.waitReadable(1000);
  link.close();
  await w2;
});

/** A frame as a stack with offloads writes it: partial checksum, TSO past 1000 bytes. */
function superFrame(payloadLength: number): Uint8Array {
  const seg = newTcpSegment();
  seg.flags = ACK;
  seg.payload = new Uint8Array(payloadLength).fill(3);
  const frame = new Uint8Array(10 + 40 + payloadLength);
  const n = emitTcp(seg, 0x0a000001, 0x0a000002, frame.subarray(30));
  emitIpv4(frame.subarray(10), {
    src: 0x0a000001,
    dst: 0x0a000002,
    protocol: IPPROTO_TCP,
    ttl: 64,
    id: 1,
    payloadLength: n,
  });
  const h = newVirtioNetHdr();
  prepareTcpOffload(frame.subarray(10), 20 + n, 20, 1000, h);
  emitVirtioNetHdr(frame, h);
  return frame;
}

Deno.test("sim: frame links cut or keep super-segments, then apply faults per frame", () => {
  const sim = new SimNetwork({
    aToB: { delayMs: 5, duplicate: 1 },
    bToA: { delayMs: 7 },
    frames: { aToB: "cut", bToA: "partial" },
  });
  const frames: Record<string, { t: number; flags: number; gso: number; len: number }[]> = {
    a: [],
    b: [],
  };
  for (const side of ["a", "b"] as const) {
    sim.attach(side, {
      input: () => assert.fail("frames go to inputFrame"),
      inputFrame: (f, n, t) => frames[side].push({ t, flags: f[0], gso: f[1], len: n - 10 }),
      poll: () => {},
      nextDeadline: () => Infinity,
    });
  }
  assert.ok(sim.link("a").frameOffloads && sim.link("b").frameOffloads);
  const frame = superFrame(2500);
  sim.at(0, () => {
    sim.link("a").writeFrame!(frame, frame.length);
    sim.link("b").writeFrame!(frame, frame.length);
    sim.link("b").write(new Uint8Array(20).fill(0x45)); // a plain write: a zeroed header
  });
  sim.run({});
  // a → b: cut into 1000 + 1000 + 500 bytes of payload, each duplicated.
  assert.deepEqual(frames.b.map((f) => [f.t, f.flags, f.gso, f.len]), [
    [5, 0, 0, 1040],
    [5, 0, 0, 1040],
    [5, 0, 0, 1040],
    [5, 0, 0, 1040],
    [5, 0, 0, 540],
    [5, 0, 0, 540],
  ]);
  // b → a: whole, partial checksum kept, then the plain packet.
  assert.deepEqual(frames.a.map((f) => [f.t, f.flags, f.gso, f.len]), [[7, 1, 1, 2540], [
    7,
    0,
    0,
    20,
  ]]);
  const st = sim.frameStats!;
  assert.equal(st.aToB.cut, 1);
  assert.equal(st.bToA.cut, 0);
  assert.equal(st.aToB.badChecksums, 0);
  assert.equal(sim.stats.aToB.delivered, 6);
  assert.equal(sim.stats.bToA.sent, 2);
});
