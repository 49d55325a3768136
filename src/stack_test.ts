// The stack core's handling of packets that reach no connection, driven by hand.
import assert from "node:assert/strict";
import { StackCore } from "./stack.ts";
import {
  CaptureLink,
  icmpMessage,
  ipv4Packet,
  parseTcpIpv4,
  tcpIpv4Packet,
} from "./_capture_link.ts";
import { IPPROTO_ICMP, IPPROTO_UDP } from "./wire/ipv4.ts";
import { ACK, FIN, newTcpSegment, RST, SYN } from "./wire/tcp.ts";
import { State } from "./tcp/connection.ts";
import { internetChecksum } from "./wire/checksum.ts";

const US = 0x0a000001;
const THEM = 0x0a000002;

function core(): [StackCore, CaptureLink] {
  const link = new CaptureLink();
  let t = 0;
  return [new StackCore({ addr: US, link, now: () => t++, random: () => 12345 }), link];
}

function tcpPacket(flags: number, seq: number, ack: number, dstPort = 80, payload = 0): Uint8Array {
  const seg = newTcpSegment();
  seg.srcPort = 40000;
  seg.dstPort = dstPort;
  seg.seq = seq;
  seg.ack = ack;
  seg.flags = flags;
  seg.window = 1000;
  seg.payload = new Uint8Array(payload);
  return tcpIpv4Packet(THEM, US, seg);
}

const parseOut = parseTcpIpv4;

Deno.test("stack: a SYN to a closed port is answered with RST,ACK (RFC 9293 §3.10.7.1)", () => {
  const [c, link] = core();
  c.input(tcpPacket(SYN, 1000, 0), 0);
  assert.equal(link.out.length, 1);
  const { ip, seg } = parseOut(link.out[0]);
  assert.equal(ip.dst, THEM);
  assert.equal(seg.flags, RST | ACK);
  assert.equal(seg.ack, 1001);
  assert.equal(c.counters.resetsSent, 1);
});

Deno.test("stack: an ACK to a closed port gets RST <SEQ=SEG.ACK>; an RST gets nothing", () => {
  const [c, link] = core();
  c.input(tcpPacket(ACK, 1000, 777, 80, 5), 0);
  const { seg } = parseOut(link.out[0]);
  assert.equal(seg.flags, RST);
  assert.equal(seg.seq, 777);
  c.input(tcpPacket(RST, 1000, 0), 0);
  assert.equal(link.out.length, 1);
});

Deno.test("stack: LISTEN answers SYN with SYN,ACK and a stray ACK with RST", () => {
  const [c, link] = core();
  c.listen(80, 4, () => {});
  c.input(tcpPacket(SYN, 5000, 0), 0);
  const sa = parseOut(link.out[0]).seg;
  assert.equal(sa.flags, SYN | ACK);
  assert.equal(sa.ack, 5001);
  // A half-open connection is a small record, not a connection.
  assert.equal(c.connectionCount, 0);
  assert.equal(c.counters.halfOpen, 1);
  const [c2, link2] = core();
  c2.listen(80, 4, () => {});
  c2.input(tcpPacket(ACK, 5000, 99), 0);
  assert.equal(parseOut(link2.out[0]).seg.flags, RST);
});

Deno.test("stack: a full accept queue drops further SYNs", () => {
  const [c, link] = core();
  c.listen(80, 2, () => {});
  for (let i = 0; i < 2; i++) handshake(c, link, 40000 + i);
  link.out = [];
  c.input(handshakePacket(40009, SYN, 5000, 0), 0);
  assert.equal(link.out.length, 0);
  assert.equal(c.counters.backlogDrops, 1);
  assert.equal(c.connectionCount, 2);
});

Deno.test("stack: MUST-3 malformed and foreign packets are counted and dropped, never thrown", () => {
  const [c, link] = core();
  const good = tcpPacket(SYN, 1, 0);
  const badSum = good.slice();
  badSum[20 + 16] ^= 0xff; // TCP checksum
  c.input(badSum, 0);
  assert.equal(c.counters.badTcpChecksum, 1);
  c.input(good.subarray(0, 10), 0);
  assert.equal(c.counters.badIp, 1);
  const v6 = new Uint8Array(40);
  v6[0] = 0x60;
  c.input(v6, 0);
  assert.equal(c.counters.notIpv4, 1);
  const other = good.slice();
  other[16] = 0x0a; // destination 10.x.x.x but not ours: fix the header checksum
  other[19] = 9;
  other[10] = other[11] = 0;
  const sum = internetChecksum(other, 0, 20);
  other[10] = sum >> 8;
  other[11] = sum & 0xff;
  c.input(other, 0);
  assert.equal(c.counters.notForUs, 1);
  const udp = ipv4Packet(THEM, US, IPPROTO_UDP, new Uint8Array(8));
  c.input(udp, 0);
  assert.equal(c.counters.otherProtocol, 1);
  // Single-byte corruptions anywhere: each is dropped or answered, none escapes as a throw.
  const before = c.counters.packetsIn;
  for (let i = 0; i < 2000; i++) {
    const junk = good.slice();
    junk[(i * 7) % junk.length] ^= ((i * 13) & 0xff) | 1;
    c.input(junk, 0);
  }
  assert.equal(c.counters.packetsIn - before, 2000);
  assert.equal(c.connectionCount, 0);
  assert.ok(link.out.length <= 2000);
});

Deno.test("stack: ICMP echo requests are answered", () => {
  const [c, link] = core();
  // An echo request (id 0x1234, sequence 1) carrying "ab".
  const icmp = icmpMessage(8, 0, 0x12340001, new Uint8Array([0x61, 0x62]));
  c.input(ipv4Packet(THEM, US, IPPROTO_ICMP, icmp), 0);
  assert.equal(link.out.length, 1);
  const reply = link.out[0];
  assert.equal(reply[20], 0); // echo reply
  assert.equal(internetChecksum(reply, 20, reply.length), 0);
  assert.equal(c.counters.icmpEchoReplies, 1);
});

function handshakePacket(srcPort: number, flags: number, seq: number, ack: number): Uint8Array {
  const seg = newTcpSegment();
  seg.srcPort = srcPort;
  seg.dstPort = 80;
  seg.seq = seq;
  seg.ack = ack;
  seg.flags = flags;
  seg.window = 1000;
  return tcpIpv4Packet(THEM, US, seg);
}

/** Completes a handshake from port `port`; returns our ISS. */
function handshake(c: StackCore, link: CaptureLink, port: number, seq = 1000): number {
  link.out = [];
  c.input(handshakePacket(port, SYN, seq, 0), 0);
  assert.equal(link.out.length, 1, "SYN,ACK");
  const synAck = parseOut(link.out[0]).seg;
  c.input(handshakePacket(port, ACK, seq + 1, (synAck.seq + 1) >>> 0), 0);
  return synAck.seq;
}

Deno.test("stack: connections waiting for accept() count against the backlog", () => {
  const link = new CaptureLink();
  const c = new StackCore({ addr: US, link, now: () => 0, random: () => 12345 });
  const handedOver: unknown[] = [];
  c.listen(80, 2, (h) => handedOver.push(h)); // the app never calls accept()
  for (let i = 0; i < 50; i++) {
    const port = 40000 + i;
    link.out = [];
    c.input(handshakePacket(port, SYN, 1000, 0), 0);
    if (link.out.length === 0) continue; // dropped by the backlog
    const synAck = parseOut(link.out[0]).seg;
    c.input(handshakePacket(port, ACK, 1001, (synAck.seq + 1) >>> 0), 0);
  }
  assert.ok(
    c.connectionCount <= 2,
    `backlog 2, but ${c.connectionCount} connections held (${handedOver.length} queued for accept)`,
  );
});

Deno.test("stack: an active open tells the device loop about the SYN's timer", () => {
  const link = new CaptureLink();
  const c = new StackCore({ addr: US, link, now: () => 0, random: () => 12345 });
  let told = 0;
  c.onDeadlineChange = () => told++;
  c.connect(THEM, 80);
  assert.ok(told >= 1, "a sleeping loop would otherwise never retransmit the SYN");
  assert.ok(c.nextDeadline() < Infinity);
});

// ---------------------------------------------------------------------------------------
// The listen queue, SYN cookies, TIME-WAIT records and the reply limits (hardening).

interface PacketOpts {
  port?: number;
  dstPort?: number;
  flags: number;
  seq: number;
  ack?: number;
  payload?: number;
  ts?: [number, number];
  wscale?: number;
  sackOk?: boolean;
  src?: number;
}

function packet(o: PacketOpts): Uint8Array {
  const seg = newTcpSegment();
  seg.srcPort = o.port ?? 40000;
  seg.dstPort = o.dstPort ?? 80;
  seg.seq = o.seq >>> 0;
  seg.ack = (o.ack ?? 0) >>> 0;
  seg.flags = o.flags;
  seg.window = 1000;
  seg.payload = new Uint8Array(o.payload ?? 0);
  if (o.flags & SYN) seg.options.mss = 1460;
  if (o.ts) {
    seg.options.hasTimestamps = true;
    seg.options.tsVal = o.ts[0];
    seg.options.tsEcr = o.ts[1];
  }
  if (o.wscale !== undefined) seg.options.wscale = o.wscale;
  if (o.sackOk) seg.options.sackPermitted = true;
  return tcpIpv4Packet(o.src ?? THEM, US, seg);
}

function coreWith(limits = {}, connection = {}): [StackCore, CaptureLink, { t: number }] {
  const link = new CaptureLink();
  const clock = { t: 0 };
  const c = new StackCore({
    addr: US,
    link,
    now: () => clock.t,
    random: () => 12345,
    limits,
    connection,
  });
  return [c, link, clock];
}

Deno.test("stack: SYNs beyond the half-open table are answered with cookies, and a cookie's ACK makes the connection (RFC 4987 §3.6)", () => {
  const [c, link] = coreWith({ maxHalfOpen: 4 });
  const accepted: unknown[] = [];
  c.listen(80, 128, (h) => accepted.push(h));
  for (let i = 0; i < 100; i++) c.input(packet({ port: 20000 + i, flags: SYN, seq: 7000 + i }), 0);
  assert.equal(c.counters.halfOpen, 4);
  assert.equal(c.counters.synCookiesSent, 96);
  assert.equal(link.out.length, 100, "one SYN,ACK per SYN, no more");
  // The client behind port 20050 completes with its cookie.
  const synAck = parseOut(link.out[50]).seg;
  assert.equal(synAck.ack, 7051);
  c.input(packet({ port: 20050, flags: ACK, seq: 7051, ack: synAck.seq + 1, payload: 10 }), 10);
  assert.equal(c.counters.synCookiesAccepted, 1);
  assert.equal(accepted.length, 1);
  assert.equal(c.connectionCount, 1);
  const h = c.accept([...c.connections()][0].listener!)!;
  assert.equal(h.conn.state, State.Established);
  assert.equal(h.conn.rcvQueued, 10, "the data on the final ACK was taken");
  assert.equal(h.conn.peerMss, 1460);
});

Deno.test("stack: a cookie carries window scale and SACK through the timestamp echo", () => {
  const [c, link] = coreWith({ maxHalfOpen: 0 });
  c.listen(80, 8, () => {});
  c.input(packet({ flags: SYN, seq: 100, ts: [5555, 0], wscale: 7, sackOk: true }), 1000);
  const sa = parseOut(link.out[0]).seg;
  assert.ok(sa.options.hasTimestamps && sa.options.sackPermitted && sa.options.wscale >= 0);
  c.input(packet({ flags: ACK, seq: 101, ack: sa.seq + 1, ts: [5556, sa.options.tsVal] }), 1010);
  const h = [...c.connections()][0];
  assert.equal(h.conn.state, State.Established);
  assert.equal(h.conn.sndWscale, 7);
  assert.equal(h.conn.sackOk, true);
  assert.equal(h.conn.tsOk, true);
});

Deno.test("stack: a forged cookie is rejected with RST and makes nothing", () => {
  const [c, link] = coreWith({ maxHalfOpen: 0 });
  c.listen(80, 8, () => {});
  c.input(packet({ flags: SYN, seq: 100 }), 0);
  const sa = parseOut(link.out[0]).seg;
  link.out = [];
  c.input(packet({ flags: ACK, seq: 101, ack: sa.seq + 2 }), 0); // off by one
  c.input(packet({ port: 40001, flags: ACK, seq: 101, ack: sa.seq + 1 }), 0); // other port
  assert.equal(c.connectionCount, 0);
  assert.equal(c.counters.synCookiesRejected, 2);
  assert.equal(parseOut(link.out[0]).seg.flags, RST);
  // And a cookie older than two ticks (128 s) is stale.
  c.input(packet({ port: 40002, flags: SYN, seq: 300 }), 0);
  const old = parseOut(link.out.at(-1)!).seg;
  c.input(packet({ port: 40002, flags: ACK, seq: 301, ack: old.seq + 1 }), 200_000);
  assert.equal(c.connectionCount, 0);
});

Deno.test("stack: a half-open connection gets a bounded number of SYN,ACK retransmissions, then is forgotten", () => {
  const [c, link, clock] = coreWith({ synAckRetries: 3 });
  c.listen(80, 8, () => {});
  c.input(packet({ flags: SYN, seq: 100 }), 0);
  for (let i = 0; i < 200 && c.nextDeadline() < Infinity; i++) {
    clock.t = c.nextDeadline();
    c.poll(clock.t);
  }
  assert.equal(link.out.length, 4, "the SYN,ACK and 3 retransmissions");
  assert.equal(c.counters.halfOpen, 0);
  assert.equal(c.counters.halfOpenExpired, 1);
  assert.ok(clock.t >= 1000 + 2000 + 4000 + 8000, `gave up at ${clock.t} ms (exponential backoff)`);
});

Deno.test("stack: a connection reset before accept() leaves the accept queue", () => {
  const [c, link] = coreWith();
  const l = c.listen(80, 8, () => {});
  for (let i = 0; i < 100; i++) {
    const port = 30000 + i;
    const iss = handshake(c, link, port);
    c.input(packet({ port, flags: RST, seq: 1001, ack: iss + 1 }), 0);
  }
  assert.equal(l.acceptQueue.length, 0);
  assert.equal(c.connectionCount, 0);
  assert.equal(c.counters.connectionsOpened, 100);
  assert.equal(c.counters.connectionsClosed, 100);
});

Deno.test("stack: MUST-13 TIME-WAIT is a small record that answers a retransmitted FIN and ends after 2·MSL", () => {
  const [c, link, clock] = coreWith({}, { mslMs: 1000 });
  c.listen(80, 8, () => {});
  const iss = handshake(c, link, 40000);
  const h = c.accept([...c.connections()][0].listener!)!;
  h.closeWrite(); // our FIN
  c.input(packet({ flags: ACK, seq: 1001, ack: iss + 2 }), 0);
  c.input(packet({ flags: ACK | FIN, seq: 1001, ack: iss + 2 }), 0); // the peer's FIN
  assert.equal(c.counters.timeWait, 1);
  assert.equal(c.counters.connections, 0, "no connection object is held");
  assert.ok(c.counters.memoryBytes < 1024, `TIME-WAIT costs ${c.counters.memoryBytes} bytes`);
  link.out = [];
  clock.t = 600;
  c.input(packet({ flags: ACK | FIN, seq: 1001, ack: iss + 2 }), clock.t); // FIN again
  const ack = parseOut(link.out[0]).seg;
  assert.equal(ack.flags, ACK);
  assert.equal(ack.ack, 1002);
  assert.equal(ack.seq, iss + 2);
  clock.t = 2599;
  c.poll(clock.t);
  assert.equal(c.counters.timeWait, 1, "the FIN restarted 2·MSL");
  clock.t = 2600;
  c.poll(clock.t);
  assert.equal(c.counters.timeWait, 0);
  assert.equal(c.connectionCount, 0);
});

Deno.test("stack: MAY-2 a newer SYN reopens a 4-tuple in TIME-WAIT (RFC 6191)", () => {
  const [c, link] = coreWith();
  c.listen(80, 8, () => {});
  const iss = handshake(c, link, 40000);
  const h = c.accept([...c.connections()][0].listener!)!;
  h.closeWrite();
  c.input(packet({ flags: ACK, seq: 1001, ack: iss + 2 }), 0);
  c.input(packet({ flags: ACK | FIN, seq: 1001, ack: iss + 2 }), 0);
  assert.equal(c.counters.timeWait, 1);
  link.out = [];
  c.input(packet({ flags: SYN, seq: 900_000 }), 0);
  assert.equal(c.counters.timeWait, 0);
  assert.equal(parseOut(link.out[0]).seg.flags, SYN | ACK);
  // An older one draws a (rate-limited) ACK and leaves it be.
  const iss2 = handshake(c, link, 40001);
  const h2 = [...c.connections()].find((x) => x.conn.remotePort === 40001)!;
  h2.closeWrite();
  c.input(packet({ port: 40001, flags: ACK, seq: 1001, ack: iss2 + 2 }), 0);
  c.input(packet({ port: 40001, flags: ACK | FIN, seq: 1001, ack: iss2 + 2 }), 0);
  c.input(packet({ port: 40001, flags: SYN, seq: 5 }), 0);
  assert.equal(c.counters.timeWait, 1);
});

Deno.test("stack: TIME-WAIT is capped; past the cap a connection closes without it", () => {
  const [c, link] = coreWith({ maxTimeWait: 3 });
  c.listen(80, 64, () => {});
  for (let i = 0; i < 5; i++) {
    const port = 41000 + i;
    const iss = handshake(c, link, port);
    const h = [...c.connections()].find((x) => x.conn.remotePort === port)!;
    h.closeWrite();
    c.input(packet({ port, flags: ACK, seq: 1001, ack: iss + 2 }), 0);
    c.input(packet({ port, flags: ACK | FIN, seq: 1001, ack: iss + 2 }), 0);
  }
  assert.equal(c.counters.timeWait, 3);
  assert.equal(c.counters.timeWaitOverflows, 2);
  assert.equal(c.connectionCount, 3);
});

Deno.test("stack: RSTs for closed ports are rate-limited", () => {
  const [c, link] = coreWith({ rstRate: 100 });
  for (let i = 0; i < 1000; i++) c.input(packet({ port: 1000 + i, flags: SYN, seq: i }), 0);
  assert.equal(link.out.length, 10, "the burst (a tenth of a second's worth)");
  assert.equal(c.counters.resetsRateLimited, 990);
  for (let i = 0; i < 1000; i++) c.input(packet({ port: 1000 + i, flags: SYN, seq: i }), 1000);
  assert.equal(link.out.length, 20);
});

Deno.test("stack: MUST-63 segments from broadcast, multicast and loopback sources are dropped unanswered", () => {
  const [c, link] = coreWith();
  c.listen(80, 8, () => {});
  for (const src of [0xffffffff, 0xe0000001, 0x7f000001, 0x00000000, US]) {
    c.input(packet({ flags: SYN, seq: 1, src }), 0);
  }
  assert.equal(link.out.length, 0);
  assert.equal(c.counters.badSourceAddress, 5);
  assert.equal(c.counters.halfOpen, 0);
});

Deno.test("stack: MUST-46 an active open to a broadcast or multicast address is an error", () => {
  const [c] = coreWith();
  for (const dst of [0xffffffff, 0xe0000001, 0x7f000001, US]) {
    assert.throws(() => c.connect(dst, 80), TypeError);
  }
  assert.equal(c.connectionCount, 0);
});

Deno.test("stack: MUST-48 MUST-49 a connection's TTL and TOS reach its IP headers", () => {
  const [c, link] = coreWith();
  c.connect(THEM, 80, 0, { ttl: 17, tos: 0xb8 });
  const { ip } = parseOut(link.out[0]);
  assert.equal(ip.ttl, 17);
  assert.equal(link.out[0][1], 0xb8);
});

Deno.test("stack: the memory figure counts buffers and records, and falls back when they go", () => {
  const [c, link] = coreWith();
  c.listen(80, 8, () => {});
  const before = c.counters.memoryBytes;
  c.input(packet({ flags: SYN, seq: 100 }), 0);
  assert.ok(c.counters.memoryBytes > before, "a half-open record is counted");
  const sa = parseOut(link.out[0]).seg;
  c.input(packet({ flags: ACK, seq: 101, ack: sa.seq + 1, payload: 1000 }), 0);
  const withData = c.counters.memoryBytes;
  assert.ok(withData >= 1000, `${withData} bytes counted with 1000 unread`);
  c.input(packet({ flags: RST, seq: 1101 }), 0);
  assert.equal(c.counters.memoryBytes, 0);
});

Deno.test("stack: MUST-48 MUST-49 SHLD-22 a listener's options reach its SYN,ACKs, the connections it accepts and their TIME-WAIT", () => {
  const [c, link] = coreWith({}, { mslMs: 1000 });
  const l = c.listen(80, 8, () => {}, { ttl: 33, tos: 0x28, recvBufferSize: 8 << 20 });
  c.input(packet({ flags: SYN, seq: 1000, wscale: 7 }), 0);
  const synAck = parseOut(link.out[0]);
  assert.equal(synAck.ip.ttl, 33);
  assert.equal(link.out[0][1], 0x28);
  c.input(packet({ flags: ACK, seq: 1001, ack: synAck.seg.seq + 1 }), 0);
  const h = c.accept(l)!;
  assert.equal(h.conn.opts.recvBufferSize, 8 << 20);
  // The scale the SYN,ACK offered is the one the connection applies.
  assert.equal(h.conn.rcvWscale, synAck.seg.options.wscale);
  link.out = [];
  h.closeWrite();
  const fin = parseOut(link.out[0]);
  assert.equal(fin.ip.ttl, 33);
  c.input(packet({ flags: ACK, seq: 1001, ack: fin.seg.seq + 1 }), 0);
  c.input(packet({ flags: ACK | FIN, seq: 1001, ack: fin.seg.seq + 1 }), 0);
  assert.equal(c.counters.timeWait, 1);
  link.out = [];
  c.input(packet({ flags: ACK | FIN, seq: 1001, ack: fin.seg.seq + 1 }), 600);
  const twAck = parseOut(link.out[0]);
  assert.equal(twAck.ip.ttl, 33);
  assert.equal(link.out[0][1], 0x28);
});

Deno.test("stack: MUST-58 MUST-59 stretch ACKs: a batch of segments is processed first, then ACKed once", () => {
  const [c, link] = coreWith();
  c.batchedAcks = true;
  const l = c.listen(80, 8, () => {});
  const iss = handshake(c, link, 40000);
  c.accept(l);
  link.out = [];
  // Ten full segments in one batch: nothing goes out until the batch is flushed.
  for (let i = 0; i < 10; i++) {
    c.input(packet({ flags: ACK, seq: 1001 + i * 1000, ack: iss + 1, payload: 1000 }), 1);
  }
  assert.equal(link.out.length, 0);
  c.flushAcks(1);
  assert.equal(link.out.length, 1, "one ACK for the batch");
  assert.equal(parseOut(link.out[0]).seg.ack, 11_001);
  // A batch longer than 16 segments gets an ACK every 16 segments on the way.
  link.out = [];
  for (let i = 0; i < 40; i++) {
    c.input(packet({ flags: ACK, seq: 11_001 + i * 1000, ack: iss + 1, payload: 1000 }), 2);
  }
  assert.equal(link.out.length, 2);
  c.flushAcks(2);
  assert.equal(link.out.length, 3);
  // Out-of-order data is still answered at once, each segment (RFC 5681 §4.2).
  link.out = [];
  c.input(packet({ flags: ACK, seq: 60_001, ack: iss + 1, payload: 1000 }), 3);
  c.input(packet({ flags: ACK, seq: 62_001, ack: iss + 1, payload: 1000 }), 3);
  assert.equal(link.out.length, 2);
});

/** An ICMP error from `from` quoting the IPv4+TCP header of `quoted` (our packet). */
function icmpError(
  type: number,
  code: number,
  rest: number,
  quoted: Uint8Array,
  from = 0x0a000009,
) {
  return ipv4Packet(from, US, IPPROTO_ICMP, icmpMessage(type, code, rest, quoted.subarray(0, 28)));
}

Deno.test("stack: MUST-54 an ICMP host unreachable that quotes our SYN fails the open; a forged quote is ignored (RFC 5927)", () => {
  const [c, link] = coreWith();
  const h = c.connect(THEM, 80);
  const syn = link.out[0];
  const forged = syn.slice();
  forged[24] ^= 0xff; // another sequence number
  c.input(icmpError(3, 1, 0, forged), 1);
  assert.equal(h.conn.state, State.SynSent);
  c.input(icmpError(3, 1, 0, syn), 1);
  assert.equal(h.conn.state, State.Closed);
  assert.equal(c.counters.icmpErrors, 1);
  assert.equal(c.counters.icmpIgnored, 1);
});

Deno.test("stack: ICMP fragmentation needed lowers the connection's MSS (RFC 1191) but never below 576", () => {
  const [c, link] = coreWith();
  c.listen(80, 8, () => {});
  c.input(packet({ flags: SYN, seq: 1000 }), 0); // MSS 1460
  const iss = parseOut(link.out[0]).seg.seq;
  c.input(packet({ flags: ACK, seq: 1001, ack: iss + 1 }), 0);
  const h = [...c.connections()][0];
  assert.equal(h.conn.sndMss, 1460);
  link.out = [];
  h.write(new Uint8Array(3000));
  const first = link.out[0];
  assert.equal(parseOut(first).seg.seq, iss + 1);
  c.input(icmpError(3, 4, 1280, first), 2);
  assert.equal(h.conn.sndMss, 1240);
  assert.equal(c.counters.pmtuUpdates, 1);
  c.input(icmpError(3, 4, 100, first), 3);
  assert.equal(h.conn.sndMss, 536);
});
