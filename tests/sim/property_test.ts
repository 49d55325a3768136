// Property tests: two tcptun stacks over the deterministic simulator, across many seeds of
// loss, reordering, duplication, delay, bandwidth and queue limits. Every byte must arrive
// exactly once, in order, in both directions, for every close order; the same seed must
// give the same trace.
import assert from "node:assert/strict";
import { type ConnHandle, StackCore, type StackCounters } from "../../src/stack.ts";
import type { FaultOptions } from "../../src/fault.ts";
import { Prng } from "../../src/prng.ts";
import { FRAME_DELIVERIES, type FrameDelivery, type FrameStats } from "../../src/link_frames.ts";
import { SimNetwork } from "./network.ts";

const ADDR_A = 0x0a000001;
const ADDR_B = 0x0a000002;
const PORT = 80;

/** Byte `i` of the stream a side sends (different per direction and seed). */
function patternByte(seed: number, dir: number, i: number): number {
  let x = (i + 1) * 0x9e3779b1 + seed * 0x85ebca6b + dir * 0xc2b2ae35;
  x = Math.imul(x ^ (x >>> 15), 0x2c1b3c6d);
  x ^= x >>> 12;
  return x & 0xff;
}

type CloseOrder = "client-first" | "server-first" | "simultaneous";

interface Scenario {
  seed: number;
  faults: FaultOptions;
  reverse: FaultOptions;
  bytesAtoB: number;
  bytesBtoA: number;
  close: CloseOrder;
  congestion: "cubic" | "newreno";
  sack: boolean;
  timestamps: boolean;
  /** The receiving application reads slowly (zero windows, window updates). */
  slowReader: boolean;
  recvBufferSize: number;
  /**
   * Links carrying virtio-net frames (checksum offload and TSO on both stacks), and what each
   * direction does with super-segments; undefined: plain packets.
   */
  frames?: { aToB: FrameDelivery; bToA: FrameDelivery };
}

/** Share of the seeds whose links carry frames (checksum offload and TSO on both stacks). */
const FRAME_SHARE = 0.6;

/** A scenario drawn from a seed: a random but reproducible bad network. */
function scenario(seed: number, size: number): Scenario {
  const r = new Prng(seed);
  const lossy = (): FaultOptions => {
    const f: FaultOptions = {
      seed: r.nextU32(),
      loss: r.next() < 0.7 ? r.next() * 0.05 : 0,
      reorder: r.next() < 0.5 ? r.next() * 0.05 : 0,
      duplicate: r.next() < 0.3 ? r.next() * 0.02 : 0,
      delayMs: 1 + r.int(0, 40),
      jitterMs: r.int(0, 3),
    };
    if (r.next() < 0.3) {
      f.bandwidthBps = 1_000_000 + r.int(0, 9_000_000);
      f.queueBytes = 16_000 + r.int(0, 200_000);
    }
    return f;
  };
  const closes: CloseOrder[] = ["client-first", "server-first", "simultaneous"];
  const sc: Scenario = {
    seed,
    faults: lossy(),
    reverse: lossy(),
    bytesAtoB: size + r.int(0, size),
    bytesBtoA: r.next() < 0.5 ? r.int(0, size) : size,
    close: closes[r.int(0, 3)],
    congestion: r.next() < 0.5 ? "cubic" : "newreno",
    sack: r.next() < 0.8,
    timestamps: r.next() < 0.8,
    slowReader: r.next() < 0.25,
    recvBufferSize: r.next() < 0.3 ? 16_384 + r.int(0, 32_768) : 256 * 1024,
  };
  // Drawn last, so that the scenarios above stay what they were for every seed.
  if (r.next() < FRAME_SHARE) {
    const pick = () => FRAME_DELIVERIES[r.int(0, FRAME_DELIVERIES.length)];
    sc.frames = { aToB: pick(), bToA: pick() };
  }
  return sc;
}

/** One application endpoint: sends its pattern, checks the peer's, closes as told. */
class App {
  received = 0;
  sent = 0;
  eof = false;
  finished = false;
  error: string | undefined;
  corrupt = -1;
  wroteAll = false;
  closed = false;
  retransmissions = 0;
  /** Most bytes ever delivered and not yet read: flow control bounds it by the buffer. */
  maxUnread = 0;
  h!: ConnHandle;

  constructor(
    readonly net: SimNetwork,
    readonly seed: number,
    readonly sendDir: number,
    readonly total: number,
    readonly expect: number,
    readonly closeWhenDone: () => boolean,
    readonly slowReader: boolean,
  ) {}

  attach(h: ConnHandle): void {
    this.h = h;
    h.attach({
      onReadable: () => this.#readable(),
      onEvent: (ev, err) => {
        if (ev === "established" || ev === "send-space") this.pump();
        if (ev === "remote-closed") {
          this.eof = true;
          this.maybeClose();
        }
        if (ev === "finished") this.finished = true;
        if (ev === "error") this.error = err;
        if (ev === "finished" || ev === "error") this.retransmissions = h.stats().retransmissions;
      },
    });
    this.pump();
  }

  #readScheduled = false;

  #readable(): void {
    this.maxUnread = Math.max(this.maxUnread, this.h.conn.rcvQueued);
    if (!this.slowReader) {
      this.#readAll();
    } else if (!this.#readScheduled) {
      // The application reads a little later, in bursts.
      this.#readScheduled = true;
      this.net.at(this.net.now + 5 + (this.received % 7) * 10, () => {
        this.#readScheduled = false;
        this.#readAll();
      });
    }
  }

  #buf = new Uint8Array(3000);

  #readAll(): void {
    for (;;) {
      const n = this.h.read(this.#buf);
      if (n === 0) return;
      for (let i = 0; i < n; i++) {
        if (
          this.corrupt < 0 &&
          this.#buf[i] !== patternByte(this.seed, 1 - this.sendDir, this.received + i)
        ) {
          this.corrupt = this.received + i;
        }
      }
      this.received += n;
    }
  }

  pump(): void {
    const chunk = new Uint8Array(8192);
    while (this.sent < this.total) {
      const len = Math.min(chunk.length, this.total - this.sent);
      for (let i = 0; i < len; i++) chunk[i] = patternByte(this.seed, this.sendDir, this.sent + i);
      const n = this.h.write(chunk.subarray(0, len));
      this.sent += n;
      if (n < len) return;
    }
    this.wroteAll = true;
    this.maybeClose();
  }

  maybeClose(): void {
    if (!this.closed && this.wroteAll && this.closeWhenDone()) {
      this.closed = true;
      this.h.closeWrite();
    }
  }
}

interface Outcome {
  client: App;
  server: App;
  trace: string[];
  stop: string;
  time: number;
  retransmissions: number;
  /** Counters of stacks a (client) and b (server). */
  counters: { a: StackCounters; b: StackCounters };
  /** What each direction's frame shaper saw; null on plain links. */
  frameStats: { aToB: FrameStats; bToA: FrameStats } | null;
  /** Both stacks' MSS-sized segments: sent (a, b), received (a, b). */
  segments: { sentA: number; sentB: number; receivedA: number; receivedB: number };
}

function runScenario(sc: Scenario, traced = false): Outcome {
  const net = new SimNetwork({ aToB: sc.faults, bToA: sc.reverse, frames: sc.frames });
  const trace: string[] = [];
  if (traced) net.trace = (e) => trace.push(e);
  const rng = new Prng(sc.seed ^ 0x5bd1e995);
  const key = (n: number) => {
    const k = new Uint8Array(16);
    for (let i = 0; i < 16; i++) k[i] = (n * 31 + i * 17) & 0xff;
    return k;
  };
  const connection = {
    congestion: sc.congestion,
    sack: sc.sack,
    timestamps: sc.timestamps,
    mslMs: 500,
    recvBufferSize: sc.recvBufferSize,
    maxRetries: 30,
  };
  const a = new StackCore({
    addr: ADDR_A,
    link: net.link("a"),
    now: () => net.now,
    isnKey: key(sc.seed),
    random: () => rng.nextU32(),
    connection,
  });
  const b = new StackCore({
    addr: ADDR_B,
    link: net.link("b"),
    now: () => net.now,
    isnKey: key(sc.seed + 1),
    random: () => rng.nextU32(),
    connection,
  });
  net.attach("a", a);
  net.attach("b", b);

  const apps: { client?: App; server?: App } = {};
  const closeRule = (me: "client" | "server") => () => {
    switch (sc.close) {
      case "client-first":
        return me === "client" || apps.server!.eof;
      case "server-first":
        return me === "server" || apps.client!.eof;
      case "simultaneous":
        return true;
    }
  };
  const client = new App(net, sc.seed, 0, sc.bytesAtoB, sc.bytesBtoA, closeRule("client"), false);
  const server = new App(
    net,
    sc.seed,
    1,
    sc.bytesBtoA,
    sc.bytesAtoB,
    closeRule("server"),
    sc.slowReader,
  );
  apps.client = client;
  apps.server = server;
  b.listen(PORT, 16, (h) => {
    h.take();
    server.attach(h);
  });
  client.attach(a.connect(ADDR_B, PORT));
  const stop = net.run({
    until: () =>
      (client.finished || !!client.error) && (server.finished || !!server.error) &&
      a.connectionCount === 0 && b.connectionCount === 0,
    maxTimeMs: 900_000,
  });
  const retransmissions = client.retransmissions + server.retransmissions;
  // A side whose connection never opened sent and received nothing.
  const cs = client.h?.stats();
  const ss = server.h?.stats();
  return {
    client,
    server,
    trace,
    stop,
    time: net.now,
    retransmissions,
    counters: { a: { ...a.counters }, b: { ...b.counters } },
    frameStats: net.frameStats,
    segments: {
      sentA: cs?.segmentsSent ?? 0,
      sentB: ss?.segmentsSent ?? 0,
      receivedA: cs?.segmentsReceived ?? 0,
      receivedB: ss?.segmentsReceived ?? 0,
    },
  };
}

function check(sc: Scenario, o: Outcome): void {
  const where = `seed ${sc.seed} ${JSON.stringify(sc)}`;
  assert.equal(o.client.error, undefined, `client error (${where})`);
  assert.equal(o.server.error, undefined, `server error (${where})`);
  assert.equal(o.server.corrupt, -1, `server saw a wrong byte at ${o.server.corrupt} (${where})`);
  assert.equal(o.client.corrupt, -1, `client saw a wrong byte at ${o.client.corrupt} (${where})`);
  assert.equal(o.server.received, sc.bytesAtoB, `server got ${o.server.received} bytes (${where})`);
  assert.equal(o.client.received, sc.bytesBtoA, `client got ${o.client.received} bytes (${where})`);
  assert.ok(o.client.eof && o.server.eof, `both sides see EOF (${where})`);
  assert.ok(o.client.finished && o.server.finished, `both sides finish (${where})`);
  for (const app of [o.client, o.server]) {
    assert.ok(app.maxUnread <= sc.recvBufferSize, `unread ${app.maxUnread} > buffer (${where})`);
  }
  assert.equal(o.stop, "done", `simulation ended by ${o.stop} at ${o.time} ms (${where})`);
  // The links corrupt nothing: a checksum that fails was computed wrong.
  for (const side of ["a", "b"] as const) {
    const c = o.counters[side];
    assert.equal(c.badTcpChecksum, 0, `stack ${side} dropped bad TCP checksums (${where})`);
    assert.equal(c.badIp, 0, `stack ${side} dropped bad IPv4 headers (${where})`);
    assert.equal(c.badVirtioHeader, 0, `stack ${side} dropped bad frames (${where})`);
  }
  if (o.frameStats) {
    for (const [dir, f] of Object.entries(o.frameStats)) {
      // Every frame written carries a complete checksum or a partial one that completes right.
      assert.equal(f.badChecksums, 0, `${dir}: ${f.lastProblem} (${where})`);
      assert.equal(f.badFrames, 0, `${dir}: ${f.lastProblem} (${where})`);
      assert.equal(f.oversize, 0, `${dir}: a segment larger than the MTU (${where})`);
    }
  } else {
    assert.equal(o.counters.a.superSegmentsOut + o.counters.b.superSegmentsOut, 0);
  }
}

const SEEDS = Number(Deno.env.get("TCPTUN_SIM_SEEDS") ?? 500);

Deno.test(`sim: every byte exactly once, in order, both ways, all close orders (${SEEDS} seeds)`, () => {
  let retransmissions = 0;
  // Over the seeds with frames: super-segments sent, received whole, and cut on the way.
  const tso = { seeds: 0, out: 0, in: 0, cut: 0 };
  for (let seed = 1; seed <= SEEDS; seed++) {
    const sc = scenario(seed, 48 * 1024);
    const o = runScenario(sc);
    check(sc, o);
    retransmissions += o.retransmissions;
    if (o.frameStats) {
      tso.seeds++;
      tso.out += o.counters.a.superSegmentsOut + o.counters.b.superSegmentsOut;
      tso.in += o.counters.a.superSegmentsIn + o.counters.b.superSegmentsIn;
      tso.cut += o.frameStats.aToB.cut + o.frameStats.bToA.cut;
    }
  }
  // Loss was injected, so the retransmission path must have been exercised.
  assert.ok(retransmissions > 0);
  if (SEEDS >= 20) {
    // Both receive paths of a super-segment ran: whole (GSO/GRO) and cut by the "kernel".
    assert.ok(tso.seeds > 0 && tso.out > 0 && tso.in > 0 && tso.cut > 0, JSON.stringify(tso));
  }
});

Deno.test("sim: a clean link delivers 4 MiB without a single retransmission", () => {
  const sc: Scenario = {
    seed: 7,
    faults: { delayMs: 10 },
    reverse: { delayMs: 10 },
    bytesAtoB: 4 << 20,
    bytesBtoA: 0,
    close: "client-first",
    congestion: "cubic",
    sack: true,
    timestamps: true,
    slowReader: false,
    recvBufferSize: 256 * 1024,
  };
  const o = runScenario(sc);
  check(sc, o);
  assert.equal(o.retransmissions, 0);
  assert.ok(o.client.finished);
});

Deno.test("sim: 1 MiB both ways at 3% loss with reordering and duplication", () => {
  // With plain packets, and with frames (TSO) cut one way and whole the other.
  const framings: Scenario["frames"][] = [
    undefined,
    { aToB: "cut", bToA: "valid" },
    { aToB: "partial", bToA: "cut" },
  ];
  for (const [i, congestion] of (["cubic", "newreno"] as const).entries()) {
    for (const [j, sack] of [true, false].entries()) {
      const f = (seed: number): FaultOptions => ({
        seed,
        loss: 0.03,
        reorder: 0.03,
        duplicate: 0.01,
        delayMs: 20,
        jitterMs: 2,
      });
      const sc: Scenario = {
        seed: 11,
        faults: f(1),
        reverse: f(2),
        bytesAtoB: 1 << 20,
        bytesBtoA: 1 << 20,
        close: "simultaneous",
        congestion,
        sack,
        timestamps: true,
        slowReader: false,
        recvBufferSize: 256 * 1024,
        frames: framings[(i * 2 + j) % framings.length],
      };
      check(sc, runScenario(sc));
    }
  }
});

Deno.test("sim: a slow reader with a small buffer forces zero windows; nothing is lost", () => {
  const sc: Scenario = {
    seed: 3,
    faults: { delayMs: 5, seed: 1 },
    reverse: { delayMs: 5, seed: 2 },
    bytesAtoB: 512 * 1024,
    bytesBtoA: 0,
    close: "client-first",
    congestion: "cubic",
    sack: true,
    timestamps: true,
    slowReader: true,
    recvBufferSize: 8192,
  };
  const o = runScenario(sc);
  check(sc, o);
});

Deno.test("sim: the same seed gives the same trace", () => {
  const framed = (seed: number): Scenario => ({
    ...scenario(seed, 32 * 1024),
    frames: { aToB: "cut", bToA: "valid" },
  });
  for (const sc of [scenario(5, 32 * 1024), scenario(42, 32 * 1024), framed(5)]) {
    const one = runScenario(sc, true);
    const two = runScenario(sc, true);
    check(sc, one);
    assert.ok(one.trace.length > 10);
    assert.deepEqual(one.trace, two.trace);
  }
});

Deno.test("sim: TSO: a clean frame link delivers 4 MiB in super-segments without retransmission", async (t) => {
  for (const delivery of FRAME_DELIVERIES) {
    await t.step(delivery, () => {
      const sc: Scenario = {
        seed: 7,
        faults: { delayMs: 10 },
        reverse: { delayMs: 10 },
        bytesAtoB: 4 << 20,
        bytesBtoA: 0,
        close: "client-first",
        congestion: "cubic",
        sack: true,
        timestamps: true,
        slowReader: false,
        recvBufferSize: 256 * 1024,
        frames: { aToB: delivery, bToA: delivery },
      };
      const o = runScenario(sc);
      check(sc, o);
      assert.equal(o.retransmissions, 0);
      const f = o.frameStats!;
      assert.ok(o.counters.a.superSegmentsOut > 0, "the sender built super-segments");
      assert.equal(f.aToB.superSegments, o.counters.a.superSegmentsOut);
      if (delivery === "cut") {
        assert.equal(f.aToB.cut, f.aToB.superSegments, "every super-segment was cut");
        assert.equal(o.counters.b.superSegmentsIn, 0);
      } else {
        assert.equal(f.aToB.cut, 0);
        assert.equal(o.counters.b.superSegmentsIn, o.counters.a.superSegmentsOut);
      }
      // A super-segment counts as the segments it stands for, on both sides (the receiver
      // sees every segment but the sender's SYN, which the handshake counts apart).
      assert.equal(o.segments.receivedB, o.segments.sentA - 1);
      console.log(
        `${delivery}: ${o.counters.a.packetsOut} frames out for ${o.segments.sentA} segments, ` +
          `${o.counters.a.superSegmentsOut} super-segments; receiver counted ` +
          `${o.segments.receivedB} segments in ${o.counters.b.packetsIn} frames`,
      );
    });
  }
});
