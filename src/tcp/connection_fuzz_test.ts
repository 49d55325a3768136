// Fuzzing the state machine: random segments, timer ticks and application calls from several states.
// Checks that nothing throws and that basic invariants hold after every step.
import assert from "node:assert/strict";
import { ACK, FIN, newTcpSegment, PSH, RST, SYN } from "../wire/tcp.ts";
import { State } from "./connection.ts";
import { seqAdd, seqDiff, seqLe } from "./seq.ts";
import { Harness, IRS, ISS } from "./_harness.ts";

function rng(seed: number) {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x1_0000_0000;
  };
}

type Start = "syn-sent" | "syn-received" | "established" | "fin-wait-1" | "close-wait" | "last-ack";

function start(kind: Start, r: () => number): Harness {
  const opts = {
    recvBufferSize: r() < 0.5 ? 4096 : 1 << 20,
    sendBufferSize: r() < 0.5 ? 8192 : 1 << 20,
    keepAlive: r() < 0.5 ? { idleMs: 1000, intervalMs: 100, count: 3 } : null,
    noDelay: r() < 0.5,
    congestion: (r() < 0.5 ? "newreno" : "cubic") as "newreno" | "cubic",
  };
  const peer = {
    mss: 1460,
    wscale: r() < 0.5 ? 7 : -1,
    sackPermitted: r() < 0.7,
    hasTimestamps: r() < 0.5,
    tsVal: 100,
    tsEcr: 0,
  };
  if (kind === "syn-received") {
    const h = new Harness(false, opts);
    const seg = newTcpSegment();
    seg.seq = IRS;
    seg.flags = SYN;
    seg.window = 65535;
    Object.assign(seg.options, peer);
    h.conn.acceptSyn(seg, 0);
    return h;
  }
  const h = new Harness(true, opts);
  h.conn.open(0);
  if (kind === "syn-sent") return h;
  h.input({ seq: IRS, ack: ISS + 1, flags: SYN | ACK, window: 65535, opts: { ...peer, tsEcr: 1 } });
  h.conn.send(new Uint8Array(20000).fill(1), h.now);
  if (kind === "fin-wait-1") h.conn.closeWrite(h.now);
  if (kind === "close-wait" || kind === "last-ack") {
    h.input({
      seq: IRS + 1,
      ack: ISS + 1,
      flags: ACK | FIN,
      opts: { hasTimestamps: peer.hasTimestamps, tsVal: 101, tsEcr: 1 },
    });
    if (kind === "last-ack") h.conn.closeWrite(h.now);
  }
  return h;
}

function check(h: Harness, ctx: string): void {
  const c = h.conn;
  assert.ok(c.state >= State.Closed && c.state <= State.TimeWait, `${ctx}: state ${c.state}`);
  assert.ok(seqLe(c.sndUna, c.sndNxt), `${ctx}: sndUna ${c.sndUna} > sndNxt ${c.sndNxt}`);
  assert.ok(c.rcvQueued <= c.opts.recvBufferSize, `${ctx}: rcvQueued ${c.rcvQueued} > buffer`);
  assert.ok(!Number.isNaN(c.nextDeadline()), `${ctx}: NaN deadline`);
  const synced = c.state >= State.Established && c.state !== State.TimeWait;
  if (synced && c.sndNxt !== c.sndUna) {
    assert.ok(
      c.rtoAt !== Infinity || c.ptoAt !== Infinity,
      `${ctx}: data outstanding, no RTO/PTO armed`,
    );
  }
  if ((c.state === State.TimeWait) !== (c.timeWaitAt !== Infinity)) {
    assert.fail(`${ctx}: TIME-WAIT ${c.state === State.TimeWait} but timer ${c.timeWaitAt}`);
  }
  for (const s of h.sent) {
    assert.ok(s.len <= c.sndMss, `${ctx}: segment of ${s.len} > MSS ${c.sndMss}`);
    if (s.len > 0 && !(s.flags & RST)) {
      assert.ok(seqLe(seqAdd(s.seq, s.len), c.sndNxt), `${ctx}: data beyond SND.NXT`);
    }
  }
  c.stats();
}

const STARTS: Start[] = [
  "syn-sent",
  "syn-received",
  "established",
  "fin-wait-1",
  "close-wait",
  "last-ack",
];

Deno.test("tcp: fuzzing handle()/onTimer()/app calls never throws and keeps invariants", () => {
  const failures: string[] = [];
  for (let seed = 1; seed <= 3000; seed++) {
    const r = rng(seed * 2654435761);
    const kind = STARTS[seed % STARTS.length];
    const h = start(kind, r);
    h.take();
    let step = 0;
    try {
      for (step = 0; step < 200; step++) {
        const c = h.conn;
        const x = r();
        if (x < 0.6) {
          const near = r() < 0.8;
          const rw = Math.max(1, seqDiff(c.rcvAdvRight, c.rcvNxt));
          const seq = r() < 0.3
            ? c.rcvNxt
            : near
            ? seqAdd(c.rcvNxt, Math.floor((r() - 0.2) * (rw + 3000)))
            : Math.floor(r() * 2 ** 32);
          const span = Math.max(1, seqDiff(c.sndNxt, c.sndUna));
          const ack = r() < 0.3
            ? c.sndNxt
            : near
            ? seqAdd(c.sndUna, Math.floor((r() - 0.1) * (span + 3)))
            : Math.floor(r() * 2 ** 32);
          let flags = ACK;
          if (r() < 0.05) flags = 0;
          if (r() < 0.08) flags |= SYN;
          if (r() < 0.08) flags |= RST;
          if (r() < 0.1) flags |= FIN;
          if (r() < 0.2) flags |= PSH;
          const len = r() < 0.5 ? 0 : Math.floor(r() * 1600);
          const sack: number[] = [];
          if (r() < 0.4) {
            const nb = 1 + Math.floor(r() * 4);
            for (let b = 0; b < nb; b++) {
              const l = seqAdd(c.sndUna, Math.floor((r() - 0.1) * (span + 2000)));
              sack.push(l, seqAdd(l, Math.floor((r() - 0.1) * 5000)));
            }
          }
          const ts = r() < 0.5;
          h.input({
            seq,
            ack,
            flags,
            window: Math.floor(r() * 65536),
            payload: new Uint8Array(len).fill(0x33),
            opts: {
              sackBlocks: sack,
              hasTimestamps: ts,
              tsVal: ts ? Math.floor(r() * 2 ** 32) : 0,
              tsEcr: ts ? Math.floor(r() * 2 ** 32) : 0,
            },
          });
        } else if (x < 0.8) {
          h.advance(Math.floor(r() * 3000));
        } else if (x < 0.88) {
          h.conn.send(new Uint8Array(Math.floor(r() * 5000)), h.now);
        } else if (x < 0.94) {
          h.read(Math.floor(r() * 5000));
        } else if (x < 0.97) {
          h.conn.closeWrite(h.now);
        } else if (x < 0.985) {
          h.conn.close(h.now);
        } else {
          h.conn.abort(h.now);
        }
        check(h, `seed ${seed} (${kind}) step ${step}`);
        h.take();
      }
    } catch (e) {
      failures.push(`seed ${seed} (${kind}) step ${step}: ${(e as Error).message.split("\n")[0]}`);
    }
  }
  if (failures.length) {
    const kinds = new Map<string, number>();
    for (const f of failures) {
      const k = f.replace(/^.*?: /, "").replace(/\d+/g, "N").slice(0, 90);
      kinds.set(k, (kinds.get(k) ?? 0) + 1);
    }
    console.log([...kinds].map(([k, n]) => `${n}× ${k}`).join("\n"));
    console.log(failures.slice(0, 15).join("\n"));
  }
  assert.equal(failures.length, 0);
});
