/**
 * Test helper: a large synthetic trace (JSON lines) without running a stack: a bulk transfer
 * of `segments` MSS-sized segments with seeded random loss, per-segment ACKs with SACK
 * blocks, retransmissions, recoveries, congestion and RTT events, and a reply from the peer.
 * Its sequence numbers start just below 2^32, so both directions wrap.
 * @module
 */

import { Prng } from "../prng.ts";

/** Options of `syntheticTrace`. */
export interface SyntheticOptions {
  /** Data segments we send (default 30,000). */
  segments?: number;
  /** Probability that a first transmission is lost (default 0.01). */
  loss?: number;
  /** Data segments the peer sends back (default 500). */
  replySegments?: number;
  /** PRNG seed (default 1). */
  seed?: number;
}

const MSS = 1448;

/** The text of a synthetic trace file. */
export function syntheticTrace(o: SyntheticOptions = {}): string {
  const n = o.segments ?? 30_000;
  const loss = o.loss ?? 0.01;
  const reply = o.replySegments ?? 500;
  const rng = new Prng(o.seed ?? 1);
  const isn = 0xffff_0000;
  const peerIsn = 0xffff_ff00;
  const u32 = (v: number) => ((v % 2 ** 32) + 2 ** 32) % 2 ** 32;
  const ev: [number, number, Record<string, unknown>][] = [];
  let order = 0;
  const add = (t: number, e: Record<string, unknown>) => ev.push([t, order++, e]);
  add(0, { ev: "open", local: "10.0.0.1:40000", remote: "10.0.0.2:7000", active: true, mss: 1460 });
  add(0, { ev: "state", from: "CLOSED", to: "SYN-SENT", cause: "connect()" });
  add(0, { ev: "seg", dir: "out", seq: isn, ack: 0, len: 0, flags: "S", win: 65535 });
  add(20, {
    ev: "seg",
    dir: "in",
    seq: peerIsn,
    ack: u32(isn + 1),
    len: 0,
    flags: "S.",
    win: 65535,
  });
  add(20, { ev: "rtt", sample: 20, srtt: 20, rttvar: 10, rto: 200 });
  add(20, { ev: "state", from: "SYN-SENT", to: "ESTABLISHED", cause: "SYN,ACK received" });
  const start = 20;
  const gapMs = 0.1;
  const arrival: number[] = new Array(n);
  const lost: boolean[] = new Array(n);
  for (let k = 0; k < n; k++) {
    const t = start + k * gapMs;
    const seq = u32(isn + 1 + k * MSS);
    add(t, {
      ev: "seg",
      dir: "out",
      seq,
      ack: u32(peerIsn + 1),
      len: MSS,
      flags: ".",
      win: 1 << 20,
    });
    lost[k] = rng.chance(loss);
    arrival[k] = lost[k] ? t + 35 : t + 10;
    if (lost[k]) {
      add(t + 25, { ev: "recovery", phase: "enter", kind: "sack", recover: u32(seq + MSS) });
      add(t + 25, {
        ev: "seg",
        dir: "out",
        seq,
        ack: u32(peerIsn + 1),
        len: MSS,
        flags: ".",
        win: 1 << 20,
        rtx: true,
      });
      add(t + 36, { ev: "recovery", phase: "exit", kind: "sack", recover: u32(seq + MSS) });
    }
    if (k % 10 === 0) {
      const cwnd = 14480 + (k % 3000) * 30;
      add(t, { ev: "cc", cwnd, ssthresh: k < 3000 ? 2147483647 : 300_000, inflight: cwnd / 2 });
      const sample = 20 + rng.next() * 10;
      add(t + 20, { ev: "rtt", sample, srtt: 22, rttvar: 5, rto: 200 });
    }
  }
  // The receiver's ACKs, one per arrival, in arrival order, with up to 3 SACK blocks.
  const got = new Uint8Array(n);
  const byArrival = [...arrival.keys()].sort((a, b) => arrival[a] - arrival[b] || a - b);
  let cum = 0;
  let highest = -1;
  for (const k of byArrival) {
    got[k] = 1;
    if (k > highest) highest = k;
    while (cum < n && got[cum]) cum++;
    const sack: number[] = [];
    for (let j = cum; j <= highest && sack.length < 6;) {
      if (!got[j]) {
        j++;
        continue;
      }
      const l = j;
      while (j <= highest && got[j]) j++;
      sack.push(u32(isn + 1 + l * MSS), u32(isn + 1 + j * MSS));
    }
    add(arrival[k] + 10, {
      ev: "seg",
      dir: "in",
      seq: u32(peerIsn + 1),
      ack: u32(isn + 1 + cum * MSS),
      len: 0,
      flags: ".",
      win: 1 << 20,
      ...(sack.length > 0 ? { sack } : {}),
    });
  }
  let t = start + n * gapMs + 60;
  add(t, { ev: "rto", rto: 400, retries: 1 });
  add(t, {
    ev: "seg",
    dir: "out",
    seq: u32(isn + 1 + (n - 1) * MSS),
    ack: u32(peerIsn + 1),
    len: MSS,
    flags: ".",
    win: 1 << 20,
    rtx: true,
  });
  add(t, {
    ev: "seg",
    dir: "out",
    seq: u32(isn + 1 + n * MSS),
    ack: u32(peerIsn + 1),
    len: 0,
    flags: "F.",
    win: 1 << 20,
  });
  add(t, { ev: "state", from: "ESTABLISHED", to: "FIN-WAIT-1", cause: "close()" });
  t += 20;
  for (let k = 0; k < reply; k++) {
    const tk = t + k * 0.2;
    add(tk, {
      ev: "seg",
      dir: "in",
      seq: u32(peerIsn + 1 + k * MSS),
      ack: u32(isn + 2 + n * MSS),
      len: MSS,
      flags: ".",
      win: 1 << 20,
    });
    add(tk, {
      ev: "seg",
      dir: "out",
      seq: u32(isn + 2 + n * MSS),
      ack: u32(peerIsn + 1 + (k + 1) * MSS),
      len: 0,
      flags: ".",
      win: 1 << 20,
    });
  }
  t += reply * 0.2 + 1;
  add(t, { ev: "state", from: "FIN-WAIT-1", to: "FIN-WAIT-2", cause: "ACK of our FIN" });
  add(t, {
    ev: "seg",
    dir: "in",
    seq: u32(peerIsn + 1 + reply * MSS),
    ack: u32(isn + 2 + n * MSS),
    len: 0,
    flags: "F.",
    win: 1 << 20,
  });
  add(t, { ev: "state", from: "FIN-WAIT-2", to: "TIME-WAIT", cause: "FIN received" });
  add(t, { ev: "close", reason: "finished" });
  add(t, {
    ev: "seg",
    dir: "out",
    seq: u32(isn + 2 + n * MSS),
    ack: u32(peerIsn + 2 + reply * MSS),
    len: 0,
    flags: ".",
    win: 1 << 20,
  });
  ev.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const lines = [JSON.stringify({ trace: "tcptun", v: 1, start: "2026-11-26T17:00:00.000Z" })];
  for (const [time, , e] of ev) {
    lines.push(JSON.stringify({ t: Math.round(time * 1000) / 1000, c: 1, ...e }));
  }
  return lines.join("\n") + "\n";
}
