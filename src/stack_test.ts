// The stack core's handling of packets that reach no connection, driven by hand.
import assert from "node:assert/strict";
import { StackCore } from "./stack.ts";
import type { Link } from "./link.ts";
import {
  emitIpv4,
  IPPROTO_ICMP,
  IPPROTO_TCP,
  IPPROTO_UDP,
  newIpv4Header,
  parseIpv4,
} from "./wire/ipv4.ts";
import { ACK, emitTcp, newTcpSegment, parseTcp, RST, SYN } from "./wire/tcp.ts";
import { internetChecksum } from "./wire/checksum.ts";

const US = 0x0a000001;
const THEM = 0x0a000002;

class CaptureLink implements Link {
  readonly mtu = 1500;
  out: Uint8Array[] = [];
  read(): number {
    return 0;
  }
  write(p: Uint8Array): void {
    this.out.push(p.slice());
  }
  waitReadable(): Promise<void> {
    return Promise.resolve();
  }
  wake(): void {}
  close(): void {}
}

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
  const buf = new Uint8Array(1500);
  const n = emitTcp(seg, THEM, US, buf.subarray(20));
  emitIpv4(buf, { src: THEM, dst: US, protocol: IPPROTO_TCP, ttl: 64, id: 1, payloadLength: n });
  return buf.subarray(0, 20 + n);
}

function parseOut(p: Uint8Array) {
  const ip = newIpv4Header();
  assert.equal(parseIpv4(p, p.length, ip), 0);
  const seg = newTcpSegment();
  assert.equal(parseTcp(p.subarray(20), ip.src, ip.dst, seg), 0);
  return { ip, seg };
}

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
  assert.equal(c.connectionCount, 1);
  const [c2, link2] = core();
  c2.listen(80, 4, () => {});
  c2.input(tcpPacket(ACK, 5000, 99), 0);
  assert.equal(parseOut(link2.out[0]).seg.flags, RST);
});

Deno.test("stack: a full backlog drops further SYNs", () => {
  const [c, link] = core();
  c.listen(80, 2, () => {});
  for (let i = 0; i < 4; i++) c.input(rebuildWithPort(40000 + i), 0);
  assert.equal(c.connectionCount, 2);
  assert.equal(c.counters.backlogDrops, 2);
  assert.equal(link.out.length, 2);
});

function rebuildWithPort(port: number): Uint8Array {
  const seg = newTcpSegment();
  seg.srcPort = port;
  seg.dstPort = 80;
  seg.seq = 5000;
  seg.flags = SYN;
  seg.window = 1000;
  const buf = new Uint8Array(100);
  const n = emitTcp(seg, THEM, US, buf.subarray(20));
  emitIpv4(buf, { src: THEM, dst: US, protocol: IPPROTO_TCP, ttl: 64, id: 1, payloadLength: n });
  return buf.subarray(0, 20 + n);
}

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
  const udp = new Uint8Array(28);
  emitIpv4(udp, { src: THEM, dst: US, protocol: IPPROTO_UDP, ttl: 64, id: 1, payloadLength: 8 });
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
  const icmp = new Uint8Array([8, 0, 0, 0, 0x12, 0x34, 0, 1, 0x61, 0x62]);
  const sum = internetChecksum(icmp, 0, icmp.length);
  icmp[2] = sum >> 8;
  icmp[3] = sum & 0xff;
  const p = new Uint8Array(20 + icmp.length);
  emitIpv4(p, {
    src: THEM,
    dst: US,
    protocol: IPPROTO_ICMP,
    ttl: 64,
    id: 1,
    payloadLength: icmp.length,
  });
  p.set(icmp, 20);
  c.input(p, 0);
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
  const buf = new Uint8Array(1500);
  const n = emitTcp(seg, THEM, US, buf.subarray(20));
  emitIpv4(buf, { src: THEM, dst: US, protocol: IPPROTO_TCP, ttl: 64, id: 1, payloadLength: n });
  return buf.subarray(0, 20 + n);
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
    const ip = newIpv4Header();
    parseIpv4(link.out[0], link.out[0].length, ip);
    const synAck = newTcpSegment();
    parseTcp(link.out[0].subarray(20), ip.src, ip.dst, synAck);
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
