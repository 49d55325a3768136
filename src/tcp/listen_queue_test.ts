import assert from "node:assert/strict";
import { ACK, newTcpSegment, SYN, type TcpSegment } from "../wire/tcp.ts";
import { IsnGenerator, TupleHasher } from "./isn.ts";
import { type Handshake, ListenQueue, PassiveListener } from "./listen_queue.ts";
import { seqAdd } from "./seq.ts";

const LOCAL = 0x0a000001;
const PEER = 0x0a000002;

function setup(maxHalfOpen: number) {
  const key = new Uint8Array(16).fill(3);
  const q = new ListenQueue({
    localAddr: LOCAL,
    isn: new IsnGenerator(key),
    cookieHash: new TupleHasher(key),
    tsHash: new TupleHasher(key),
  });
  const l = new PassiveListener<string>(80, 8, maxHalfOpen, true, {
    mss: 1460,
    recvBufferSize: 1 << 20,
    windowScaling: true,
    sack: true,
    timestamps: true,
  });
  return { q, l };
}

/** A SYN offering window scale 7 and SACK, with or without timestamps. */
function syn(timestamps: boolean): TcpSegment {
  const s = newTcpSegment();
  s.srcPort = 40000;
  s.dstPort = 80;
  s.flags = SYN;
  s.seq = 7000;
  s.window = 65535;
  s.options.mss = 1460;
  s.options.wscale = 7;
  s.options.sackPermitted = true;
  if (timestamps) {
    s.options.hasTimestamps = true;
    s.options.tsVal = 555;
  }
  return s;
}

/** The peer's final ACK to the SYN,ACK `sa`. */
function finalAck(sa: TcpSegment): TcpSegment {
  const a = newTcpSegment();
  a.srcPort = 40000;
  a.dstPort = 80;
  a.flags = ACK;
  a.seq = sa.ack;
  a.ack = seqAdd(sa.seq, 1);
  a.window = 512;
  if (sa.options.hasTimestamps) {
    a.options.hasTimestamps = true;
    a.options.tsVal = 556;
    a.options.tsEcr = sa.options.tsVal;
  }
  return a;
}

Deno.test("listen queue: a half-open record offers what the SYN offered and hands it on", () => {
  const { q, l } = setup(16);
  const out = newTcpSegment();
  assert.equal(q.onSyn(l, syn(false), PEER, 0, out), true);
  assert.equal(q.size, 1);
  assert.equal(q.counters.synReceived, 1);
  assert.equal(out.options.wscale, 5); // 1 MiB fits 16 bits shifted by 5 (RFC 7323 §2.3)
  assert.equal(out.options.sackPermitted, true);
  const hs = q.onAck(l, finalAck(out), PEER, 10) as Handshake;
  assert.equal(typeof hs, "object");
  assert.deepEqual([hs.peerWscale, hs.sackOk, hs.tsOk, hs.irs], [7, true, false, 7000]);
  assert.equal(q.size, 0);
});

Deno.test("listen queue: a cookie without timestamps offers neither window scale nor SACK (RFC 4987 §3.6)", () => {
  const { q, l } = setup(0); // the half-open table is full at once: cookies answer
  const out = newTcpSegment();
  assert.equal(q.onSyn(l, syn(false), PEER, 0, out), true);
  assert.equal(q.size, 0, "nothing is kept");
  assert.equal(q.counters.cookiesSent, 1);
  assert.equal(out.options.wscale, -1, "a cookie cannot carry the peer's window scale");
  assert.equal(out.options.sackPermitted, false, "nor SACK-permitted");
  const hs = q.onAck(l, finalAck(out), PEER, 10) as Handshake;
  assert.equal(typeof hs, "object");
  assert.deepEqual([hs.peerWscale, hs.sackOk, hs.tsOk, hs.peerMss], [-1, false, false, 1460]);
  assert.equal(q.counters.cookiesAccepted, 1);
});

Deno.test("listen queue: a cookie with timestamps carries window scale and SACK in TSval", () => {
  const { q, l } = setup(0);
  const out = newTcpSegment();
  assert.equal(q.onSyn(l, syn(true), PEER, 0, out), true);
  assert.equal(out.options.wscale, 5);
  assert.equal(out.options.sackPermitted, true);
  assert.equal(out.options.tsEcr, 555);
  const hs = q.onAck(l, finalAck(out), PEER, 10) as Handshake;
  assert.equal(typeof hs, "object");
  assert.deepEqual([hs.peerWscale, hs.sackOk, hs.tsOk, hs.tsRecent], [7, true, true, 556]);
});
