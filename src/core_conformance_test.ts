// RFC 9293 Appendix B requirements checked against the stack core: real IP packets in, real IP
// packets out, under a hand-driven clock. Each test is named after the labels it checks;
// `scripts/conformance.ts` builds docs/conformance.md from these names.
import assert from "node:assert/strict";
import { type ConnHandle, StackCore } from "./core.ts";
import {
  CaptureLink,
  icmpMessage,
  ipv4Packet,
  parseTcpIpv4,
  tcpIpv4Packet,
} from "./_capture_link.ts";
import { IPPROTO_ICMP } from "./wire/ipv4.ts";
import {
  ACK,
  FIN,
  newTcpSegment,
  RST,
  SYN,
  TCP_HEADER_LENGTH,
  type TcpSegment,
} from "./wire/tcp.ts";
import { State } from "./tcp/connection.ts";

const US = 0x0a000001;
const THEM = 0x0a000002;
/** A router on the path, the source of ICMP errors. */
const ROUTER = 0x0a0000fe;

interface Rig {
  core: StackCore;
  link: CaptureLink;
  clock: { t: number };
}

function rig(opts: { mtu?: number; limits?: object; connection?: object } = {}): Rig {
  const link = new CaptureLink(opts.mtu);
  const clock = { t: 0 };
  const core = new StackCore({
    addr: US,
    link,
    now: () => clock.t,
    random: () => 12345,
    limits: opts.limits,
    connection: opts.connection,
  });
  return { core, link, clock };
}

interface PacketOpts {
  flags: number;
  seq: number;
  ack?: number;
  /** The peer's port. */
  port?: number;
  /** Our port. */
  dstPort?: number;
  payload?: number;
  window?: number;
  /** An MSS option (SYNs only); absent when undefined. */
  mss?: number;
  src?: number;
  dst?: number;
}

/** A TCP segment from the peer, as an IPv4 packet. */
function packet(o: PacketOpts): Uint8Array {
  const seg = newTcpSegment();
  seg.srcPort = o.port ?? 40000;
  seg.dstPort = o.dstPort ?? 80;
  seg.seq = o.seq >>> 0;
  seg.ack = (o.ack ?? 0) >>> 0;
  seg.flags = o.flags;
  seg.window = o.window ?? 65535;
  seg.payload = new Uint8Array(o.payload ?? 0).fill(0x61);
  if (o.mss !== undefined) seg.options.mss = o.mss;
  return tcpIpv4Packet(o.src ?? THEM, o.dst ?? US, seg);
}

interface Out {
  src: number;
  dst: number;
  seg: TcpSegment;
  /** Raw TCP header option bytes. */
  options: Uint8Array;
}

/** Parses a TCP packet the core wrote; the TCP checksum is verified against its addresses. */
function parseOut(p: Uint8Array): Out {
  const { ip, seg } = parseTcpIpv4(p);
  const tcp = p.subarray(ip.ihl, ip.totalLength);
  const dataOffset = (tcp[12] >> 4) * 4;
  return { src: ip.src, dst: ip.dst, seg, options: tcp.slice(TCP_HEADER_LENGTH, dataOffset) };
}

/** The one packet written since the last take, parsed. */
function one(link: CaptureLink): Out {
  const out = link.take();
  assert.equal(out.length, 1, `expected one packet, got ${out.length}`);
  return parseOut(out[0]);
}

/** Completes a passive open from the peer's `port`; returns the connection and our ISS. */
function acceptFrom(r: Rig, port = 40000, seq = 1000, mss: number | null = 1460) {
  r.link.take();
  r.core.input(packet({ flags: SYN, seq, port, mss: mss ?? undefined }), r.clock.t);
  const sa = one(r.link).seg;
  assert.equal(sa.flags, SYN | ACK);
  r.core.input(packet({ flags: ACK, seq: seq + 1, ack: sa.seq + 1, port }), r.clock.t);
  const h = [...r.core.connections()].find((x) => x.conn.remotePort === port)!;
  assert.equal(h.conn.state, State.Established);
  return { h, iss: sa.seq };
}

/** An active open to THEM:80 from `localPort`, completed; returns the connection and ISS. */
function connectTo(r: Rig, localPort: number, irs = 9000): { h: ConnHandle; iss: number } {
  r.link.take();
  const h = r.core.connect(THEM, 80, localPort);
  const syn = one(r.link).seg;
  r.core.input(
    packet({
      flags: SYN | ACK,
      seq: irs,
      ack: syn.seq + 1,
      port: 80,
      dstPort: localPort,
      mss: 1460,
    }),
    r.clock.t,
  );
  assert.equal(h.conn.state, State.Established);
  r.link.take();
  return { h, iss: syn.seq };
}

/** An ICMP error of `type`/`code` from ROUTER quoting `original` (RFC 792: header + 8 bytes). */
function icmpError(type: number, code: number, original: Uint8Array): Uint8Array {
  const ihl = (original[0] & 0x0f) * 4;
  const icmp = icmpMessage(type, code, 0, original.subarray(0, ihl + 8));
  return ipv4Packet(ROUTER, US, IPPROTO_ICMP, icmp, 7);
}

Deno.test("stack: MUST-15 a passive open whose SYN has no MSS option sends at most 536 bytes a segment", () => {
  const r = rig({ connection: { noDelay: true, timestamps: false } });
  r.core.listen(80, 8, () => {});
  const { h } = acceptFrom(r, 40000, 1000, null);
  assert.equal(h.conn.sndMss, 536);
  h.write(new Uint8Array(1500));
  const lens = r.link.take().map((p) => parseOut(p).seg.payload.length);
  assert.deepEqual(lens, [536, 536, 428]);
  // With an MSS option, the same listener honours it.
  const other = acceptFrom(r, 40001, 1000, 1200);
  other.h.write(new Uint8Array(1500));
  assert.deepEqual(r.link.take().map((p) => parseOut(p).seg.payload.length), [1200, 300]);
});

Deno.test("stack: MUST-41 a passive OPEN creates a LISTEN or fails, and never disturbs a connection", async (t) => {
  await t.step(
    "a second LISTEN on a port fails; the first listener and its connection go on",
    () => {
      const r = rig();
      const l = r.core.listen(80, 8, () => {});
      const { h, iss } = acceptFrom(r, 40000);
      assert.throws(() => r.core.listen(80, 8, () => {}), Deno.errors.AddrInUse);
      // The connection still takes its data.
      r.core.input(packet({ flags: ACK, seq: 1001, ack: iss + 1, payload: 10 }), r.clock.t);
      assert.equal(h.conn.rcvQueued, 10);
      assert.equal(h.conn.state, State.Established);
      // The first listener still answers.
      r.link.take();
      r.core.input(packet({ flags: SYN, seq: 5, port: 40001, mss: 1460 }), r.clock.t);
      assert.equal(one(r.link).seg.flags, SYN | ACK);
      assert.equal(r.core.counters.halfOpen, 1);
      assert.ok(!l.closed);
    },
  );
  await t.step("a new LISTEN on the local port of an established connection leaves it be", () => {
    const r = rig();
    const { h, iss } = connectTo(r, 6000);
    const l = r.core.listen(6000, 8, () => {});
    // The connection's own segments still reach it: no SYN,ACK, no RST, data delivered.
    r.core.input(
      packet({ flags: ACK, seq: 9001, ack: iss + 1, port: 80, dstPort: 6000, payload: 20 }),
      r.clock.t,
    );
    assert.equal(h.conn.rcvQueued, 20);
    assert.equal(h.conn.state, State.Established);
    for (const p of r.link.take()) assert.equal(parseOut(p).seg.flags & (SYN | RST), 0);
    // And the listener takes calls from elsewhere.
    r.core.input(packet({ flags: SYN, seq: 5, port: 41000, dstPort: 6000, mss: 1460 }), 0);
    assert.equal(one(r.link).seg.flags, SYN | ACK);
    assert.equal(l.acceptQueue.length, 0);
  });
  await t.step("closing a listener and opening another leaves its accepted connection be", () => {
    const r = rig();
    const l = r.core.listen(80, 8, () => {});
    const { h, iss } = acceptFrom(r, 40000);
    r.core.accept(l);
    r.core.unlisten(l);
    r.core.listen(80, 8, () => {});
    r.core.input(packet({ flags: ACK, seq: 1001, ack: iss + 1, payload: 10 }), r.clock.t);
    assert.equal(h.conn.rcvQueued, 10);
    assert.equal(h.conn.state, State.Established);
  });
});

Deno.test("stack: MUST-42 LISTEN on a port whose connection is in SYN-SENT or SYN-RECEIVED", async (t) => {
  await t.step("SYN-SENT", () => {
    const r = rig();
    const h = r.core.connect(THEM, 80, 6000);
    const syn = one(r.link).seg;
    assert.equal(h.conn.state, State.SynSent);
    const l = r.core.listen(6000, 8, () => {});
    // The peer's SYN,ACK completes the active open; the listener does not take it.
    r.core.input(
      packet({ flags: SYN | ACK, seq: 9000, ack: syn.seq + 1, port: 80, dstPort: 6000, mss: 1460 }),
      r.clock.t,
    );
    assert.equal(h.conn.state, State.Established);
    assert.equal(one(r.link).seg.flags, ACK);
    assert.equal(r.core.counters.halfOpen, 0);
    assert.equal(l.acceptQueue.length, 0);
  });
  await t.step("SYN-RECEIVED (a simultaneous open)", () => {
    const r = rig();
    const h = r.core.connect(THEM, 80, 6001);
    const syn = one(r.link).seg;
    // The peer's own SYN crosses ours: SYN-RECEIVED, SYN,ACK.
    r.core.input(
      packet({ flags: SYN, seq: 9000, port: 80, dstPort: 6001, mss: 1460 }),
      r.clock.t,
    );
    assert.equal(h.conn.state, State.SynReceived);
    assert.equal(one(r.link).seg.flags, SYN | ACK);
    const l = r.core.listen(6001, 8, () => {});
    r.core.input(
      packet({ flags: SYN | ACK, seq: 9000, ack: syn.seq + 1, port: 80, dstPort: 6001 }),
      r.clock.t,
    );
    assert.equal(h.conn.state, State.Established);
    assert.equal(r.core.counters.halfOpen, 0);
    assert.equal(l.acceptQueue.length, 0);
  });
});

Deno.test("stack: MUST-45 every segment of a connection leaves from the local address it began with", () => {
  const r = rig({ connection: { noDelay: true, keepAlive: { idleMs: 1000, count: 1 } } });
  // Passive: SYN,ACK from the listen queue, then data, ACKs, keep-alive, FIN, TIME-WAIT.
  r.core.listen(80, 8, () => {});
  r.core.input(packet({ flags: SYN, seq: 1000, mss: 1460 }), 0);
  const iss = one(r.link).seg.seq;
  r.core.input(packet({ flags: ACK, seq: 1001, ack: iss + 1, payload: 100 }), 0);
  const h = [...r.core.connections()][0];
  h.write(new Uint8Array(100));
  r.clock.t = 50;
  r.core.poll(r.clock.t); // the delayed ACK
  r.core.input(packet({ flags: ACK, seq: 1101, ack: iss + 101 }), r.clock.t);
  r.clock.t = 1100;
  r.core.poll(r.clock.t); // a keep-alive
  r.core.input(packet({ flags: ACK, seq: 1101, ack: iss + 101 }), r.clock.t);
  h.closeWrite();
  r.core.input(packet({ flags: ACK | FIN, seq: 1101, ack: iss + 102 }), r.clock.t);
  r.clock.t = 2000;
  r.core.input(packet({ flags: ACK | FIN, seq: 1101, ack: iss + 102 }), r.clock.t); // again
  // Active: SYN, ACK, data, RST on abort.
  const a = connectTo(r, 6000);
  a.h.write(new Uint8Array(10));
  a.h.abort();
  const seen = r.link.all.map(parseOut);
  assert.ok(seen.length >= 10, `${seen.length} segments`);
  const kinds = new Set(seen.map((o) => o.seg.flags));
  for (const f of [SYN | ACK, ACK, ACK | FIN, RST]) assert.ok(kinds.has(f), `flags ${f} seen`);
  for (const o of seen) {
    // parseOut verified each checksum over the pseudo-header of these very addresses.
    assert.equal(o.src, US);
    assert.equal(o.dst, THEM);
  }
});

Deno.test("stack: MUST-55 MUST-56 ICMP source quench and soft errors neither abort nor slow a connection", () => {
  const r = rig({ connection: { noDelay: true } });
  // One connection still opening and one with data in flight.
  const opening = r.core.connect(THEM, 80, 6001);
  const synPacket = r.link.take()[0];
  const { h, iss } = connectTo(r, 6000);
  h.write(new Uint8Array(1000));
  const dataPacket = r.link.take()[0];
  const cwnd = h.conn.cc.cwnd;
  const ssthresh = h.conn.cc.ssthresh;
  // [what, type, code, also for the opening connection]: in SYN-SENT an unreachable
  // destination fails the open at once (RFC 5461 §4; tested elsewhere), so it is only sent
  // about the established connection here.
  const errors: [string, number, number, boolean][] = [
    ["MUST-55 source quench", 4, 0, true],
    ["net unreachable", 3, 0, false],
    ["host unreachable", 3, 1, false],
    ["source route failed", 3, 5, false],
    ["TTL exceeded in transit", 11, 0, true],
    ["fragment reassembly time exceeded", 11, 1, true],
    ["parameter problem", 12, 0, true],
  ];
  const believedBefore = r.core.counters.icmpErrors;
  let sent = 0;
  for (const [what, type, code, opening_] of errors) {
    for (const original of opening_ ? [synPacket, dataPacket] : [dataPacket]) {
      r.core.input(icmpError(type, code, original), r.clock.t);
      assert.deepEqual(r.link.take(), [], `${what}: nothing is sent`);
      sent++;
    }
    assert.equal(opening.conn.state, State.SynSent, what);
    assert.equal(h.conn.state, State.Established, what);
    assert.equal(h.conn.cc.cwnd, cwnd, `${what}: cwnd unchanged`);
    assert.equal(h.conn.cc.ssthresh, ssthresh, `${what}: ssthresh unchanged`);
  }
  // Each one quoted a segment in flight, so each was believed (RFC 5927) and kept as a soft
  // error, not acted on.
  assert.equal(r.core.counters.icmpErrors - believedBefore, sent);
  assert.equal(h.conn.softError, "parameter-problem");
  // Both connections go on: the data is acknowledged, the open completes.
  r.core.input(
    packet({ flags: ACK, seq: 9001, ack: iss + 1001, port: 80, dstPort: 6000 }),
    r.clock.t,
  );
  assert.equal(h.conn.bytesSent, 1000);
  const synSeq = parseOut(synPacket).seg.seq;
  r.core.input(
    packet({ flags: SYN | ACK, seq: 7000, ack: synSeq + 1, port: 80, dstPort: 6001, mss: 1460 }),
    r.clock.t,
  );
  assert.equal(opening.conn.state, State.Established);
});

Deno.test("stack: MUST-57 a SYN addressed to a broadcast or multicast address is dropped unanswered", () => {
  const r = rig();
  r.core.listen(80, 8, () => {});
  const dsts = [0xffffffff, 0x0a0000ff, 0xe0000001, 0xe00000fb, 0xeffffffa];
  for (const dst of dsts) r.core.input(packet({ flags: SYN, seq: 1, dst, mss: 1460 }), 0);
  assert.deepEqual(r.link.out, []);
  assert.equal(r.core.counters.notForUs, dsts.length);
  assert.equal(r.core.counters.halfOpen, 0);
  assert.equal(r.core.counters.resetsSent, 0);
  // The same SYN to our own address is answered.
  r.core.input(packet({ flags: SYN, seq: 1, mss: 1460 }), 0);
  assert.equal(one(r.link).seg.flags, SYN | ACK);
});

/** Walks raw option bytes; returns the kinds present (RFC 9293 §3.1). */
function optionKinds(b: Uint8Array): number[] {
  const kinds: number[] = [];
  for (let i = 0; i < b.length;) {
    const kind = b[i];
    if (kind === 0) break;
    kinds.push(kind);
    if (kind === 1) {
      i++;
      continue;
    }
    assert.ok(i + 1 < b.length && b[i + 1] >= 2, "a well-formed option");
    i += b[i + 1];
  }
  return kinds;
}

Deno.test("stack: MUST-65 MAY-3 the MSS option is sent in every SYN segment and in no other", () => {
  const r = rig({
    connection: { noDelay: true, keepAlive: { idleMs: 1000, count: 1 } },
    limits: { maxHalfOpen: 1 },
  });
  r.core.listen(80, 8, () => {});
  // A half-open record's SYN,ACK, and (the table being full) a SYN cookie's.
  r.core.input(packet({ flags: SYN, seq: 1000, mss: 1460 }), 0);
  r.core.input(packet({ flags: SYN, seq: 3000, port: 40001, mss: 1460 }), 0);
  const [iss, cookieIss] = r.link.take().map((p) => parseOut(p).seg.seq);
  assert.equal(r.core.counters.synCookiesSent, 1);
  r.core.input(packet({ flags: ACK, seq: 3001, ack: cookieIss + 1, port: 40001 }), 0);
  // The connections: data both ways, a loss probe and a retransmission, a keep-alive (from
  // the cookie's connection), a zero-window probe, FIN, TIME-WAIT's answer, an RST for a
  // closed port, an active open and its abort.
  r.core.input(packet({ flags: ACK, seq: 1001, ack: iss + 1, payload: 100 }), 0);
  const h = [...r.core.connections()].find((x) => x.conn.remotePort === 40000)!;
  h.write(new Uint8Array(3000));
  r.clock.t = 50;
  r.core.poll(r.clock.t);
  r.clock.t = 2000;
  r.core.poll(r.clock.t); // retransmission
  r.core.input(packet({ flags: ACK, seq: 1101, ack: iss + 3001, window: 0 }), r.clock.t);
  h.write(new Uint8Array(10));
  r.clock.t = 4000;
  r.core.poll(r.clock.t); // zero-window probe
  r.core.input(packet({ flags: ACK, seq: 1101, ack: iss + 3001 }), r.clock.t);
  r.clock.t = 6000;
  r.core.poll(r.clock.t); // keep-alive
  r.core.input(packet({ flags: ACK, seq: 1101, ack: iss + 3011 }), r.clock.t);
  h.closeWrite();
  r.core.input(packet({ flags: ACK | FIN, seq: 1101, ack: iss + 3012 }), r.clock.t);
  r.clock.t = 7000;
  r.core.input(packet({ flags: ACK | FIN, seq: 1101, ack: iss + 3012 }), r.clock.t);
  r.core.input(packet({ flags: ACK, seq: 1, ack: 1, dstPort: 81 }), r.clock.t);
  const a = connectTo(r, 6000);
  a.h.abort();
  const seen = r.link.all.map(parseOut);
  const probes = seen.filter((o) => o.seg.payload.length === 0 && o.seg.flags === ACK);
  assert.ok(probes.length >= 4, "pure ACKs, keep-alive and probe seen");
  assert.ok(seen.some((o) => o.seg.flags === (ACK | FIN)));
  assert.ok(seen.some((o) => o.seg.flags & RST));
  let syns = 0;
  for (const o of seen) {
    const hasMss = optionKinds(o.options).includes(2);
    if (o.seg.flags & SYN) {
      syns++;
      assert.ok(hasMss, "every SYN carries it (MAY-3)");
    } else {
      assert.ok(!hasMss, `MSS on a segment with flags ${o.seg.flags}`);
      assert.equal(o.seg.options.mss, -1);
    }
  }
  assert.equal(syns, 3);
  assert.ok(seen.length - syns >= 12, `${seen.length - syns} segments without SYN`);
});

Deno.test("stack: MUST-67 the MSS we advertise is at most MMS_R − 20: the MTU less 40", () => {
  for (const mtu of [576, 1280, 1500, 9000]) {
    const r = rig({ mtu, limits: { maxHalfOpen: 1 } });
    r.core.connect(THEM, 80, 6000);
    const syn = one(r.link).seg;
    r.core.listen(80, 8, () => {});
    r.core.input(packet({ flags: SYN, seq: 1000, mss: 1460 }), 0);
    const synAck = one(r.link).seg;
    r.core.input(packet({ flags: SYN, seq: 3000, port: 40001, mss: 1460 }), 0);
    const cookie = one(r.link).seg;
    assert.equal(r.core.counters.synCookiesSent, 1);
    // Without IP fragment reassembly EMTU_R is the MTU, so MMS_R = MTU − 20 (RFC 1122
    // §3.3.2), and a full segment (20 bytes of IP, 20 of TCP, MSS of data) fits the link.
    for (const s of [syn, synAck, cookie]) {
      assert.ok(s.options.mss > 0 && s.options.mss <= mtu - 40, `MTU ${mtu}: MSS ${s.options.mss}`);
    }
    assert.equal(syn.options.mss, mtu - 40);
    assert.equal(synAck.options.mss, mtu - 40);
  }
});

Deno.test("stack: SHLD-2 an RST with data closes the connection", () => {
  const r = rig();
  r.core.listen(80, 8, () => {});
  const { h } = acceptFrom(r, 40000);
  const before = r.core.counters.connectionsClosed;
  r.core.input(packet({ flags: RST | ACK, seq: 1001, payload: 64 }), r.clock.t);
  assert.equal(h.conn.state, State.Closed);
  assert.equal(r.core.connectionCount, 0);
  assert.equal(r.core.counters.connectionsClosed - before, 1);
  assert.deepEqual(r.link.out, []);
});
