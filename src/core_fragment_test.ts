// IPv4 fragments reaching the stack core (RFC 791 §3.2, RFC 815, RFC 5722): reassembled within
// bounds, dropped whole on overlap, expired with ICMP Time Exceeded, and large echo requests
// answered in fragments. Real IP packets in and out, under a hand-driven clock.
import assert from "node:assert/strict";
import { StackCore } from "./core.ts";
import { CaptureLink, icmpMessage, parseTcpIpv4 } from "./_capture_link.ts";
import { emitIpv4, IPPROTO_ICMP, IPPROTO_TCP, newIpv4Header, parseIpv4 } from "./wire/ipv4.ts";
import { ACK, emitTcp, newTcpSegment, SYN } from "./wire/tcp.ts";
import { internetChecksum } from "./wire/checksum.ts";
import { FragmentKey, FragmentReassembler, FragmentVerdict } from "./ip/reassembly.ts";

const US = 0x0a000001;
const THEM = 0x0a000002;

function rig(limits = {}) {
  const link = new CaptureLink();
  const clock = { t: 0 };
  const core = new StackCore({
    addr: US,
    link,
    now: () => clock.t,
    random: () => 777,
    limits,
  });
  return { core, link, clock };
}

/** A TCP segment from THEM as the transport payload of an IP datagram (no IP header). */
function tcpBody(flags: number, seq: number, ack: number, payload: Uint8Array): Uint8Array {
  const seg = newTcpSegment();
  seg.srcPort = 40000;
  seg.dstPort = 80;
  seg.seq = seq;
  seg.ack = ack;
  seg.flags = flags;
  seg.window = 65535;
  seg.payload = payload;
  const buf = new Uint8Array(20 + 60 + payload.length);
  return buf.slice(0, emitTcp(seg, THEM, US, buf));
}

/**
 * Cuts `body` (a transport payload) into IPv4 fragments at the given byte offsets (multiples
 * of 8), all with identification `id`.
 */
function fragments(body: Uint8Array, cuts: number[], id: number, protocol = IPPROTO_TCP) {
  const edges = [0, ...cuts, body.length];
  const out: Uint8Array[] = [];
  for (let i = 0; i + 1 < edges.length; i++) {
    out.push(
      fragment(body.subarray(edges[i], edges[i + 1]), edges[i], i + 2 < edges.length, id, protocol),
    );
  }
  return out;
}

function fragment(
  data: Uint8Array,
  offset: number,
  more: boolean,
  id: number,
  protocol = IPPROTO_TCP,
  src = THEM,
  dst = US,
): Uint8Array {
  const p = new Uint8Array(20 + data.length);
  emitIpv4(p, { src, dst, protocol, ttl: 64, id, payloadLength: data.length });
  const field = (more ? 0x2000 : 0) | (offset >>> 3);
  p[6] = field >>> 8;
  p[7] = field;
  p[10] = 0;
  p[11] = 0;
  const sum = internetChecksum(p, 0, 20);
  p[10] = sum >>> 8;
  p[11] = sum;
  p.set(data, 20);
  return p;
}

Deno.test("fragments: a SYN and a data segment that arrive in fragments, out of order, are reassembled (RFC 815)", () => {
  const { core, link } = rig();
  const accepted: unknown[] = [];
  core.listen(80, 8, (h) => accepted.push(h));
  // The SYN's header cut after 8 bytes: the ports and sequence number alone, then the rest.
  for (const f of fragments(tcpBody(SYN, 1000, 0, new Uint8Array(0)), [8], 1).reverse()) {
    core.input(f, 0);
  }
  assert.equal(link.out.length, 1, "a SYN,ACK for the reassembled SYN");
  const synAck = parseTcpIpv4(link.out[0]).seg;
  assert.equal(synAck.flags, SYN | ACK);
  assert.equal(synAck.ack, 1001);
  core.input(fragments(tcpBody(ACK, 1001, synAck.seq + 1, new Uint8Array(0)), [], 2)[0], 0);
  assert.equal(accepted.length, 1);

  // 3000 bytes of data in four fragments, delivered last-first and with one duplicate.
  const data = new Uint8Array(3000).map((_, i) => (i * 7 + 3) & 0xff);
  const frags = fragments(tcpBody(ACK, 1001, synAck.seq + 1, data), [800, 1600, 2400], 3);
  for (const f of [frags[3], frags[1], frags[1], frags[0], frags[2]]) core.input(f, 1);
  const h = [...core.connections()][0];
  const into = new Uint8Array(4000);
  assert.equal(h.read(into), 3000);
  assert.deepEqual(into.subarray(0, 3000), data);
  const r = core.counters.reassembly;
  assert.equal(r.reassembled, 2);
  assert.equal(r.duplicates, 1);
  assert.equal(r.memoryBytes, 0, "nothing held after completion");
  assert.equal(core.counters.fragments, 7);
});

Deno.test("fragments: overlapping fragments drop the whole datagram, and its later fragments too (RFC 5722)", () => {
  const { core, link } = rig();
  core.listen(80, 8, () => {});
  const body = tcpBody(SYN, 5000, 0, new Uint8Array(0));
  const [a, b] = fragments(body, [16], 9);
  // A second fragment that claims bytes 8.. again, with other contents: a teardrop-style overlap.
  const evil = fragment(new Uint8Array(16).fill(0xee), 8, true, 9);
  core.input(a, 0);
  core.input(evil, 0);
  core.input(b, 0);
  assert.equal(link.out.length, 0, "no SYN,ACK: the datagram was dropped");
  const r = core.counters.reassembly;
  assert.equal(r.overlaps, 1);
  assert.equal(r.discarded, 1);
  assert.equal(r.reassembled, 0);
});

Deno.test("fragments: an incomplete datagram expires after 30 s with ICMP Time Exceeded code 1 (RFC 792, RFC 1122 §3.3.2)", () => {
  const { core, link, clock } = rig();
  const body = tcpBody(SYN, 1, 0, new Uint8Array(64));
  const [first] = fragments(body, [32], 0x4242);
  core.input(first, 100);
  assert.equal(core.nextDeadline(), 30_100, "the core wakes for the reassembly timeout");
  assert.ok(core.counters.reassembly.memoryBytes > 0);
  clock.t = 30_099;
  core.poll(clock.t);
  assert.equal(link.out.length, 0);
  clock.t = 30_100;
  core.poll(clock.t);
  assert.equal(link.out.length, 1);
  const p = link.out[0];
  const ip = newIpv4Header();
  assert.equal(parseIpv4(p, p.length, ip), 0);
  assert.equal(ip.protocol, IPPROTO_ICMP);
  assert.equal(ip.dst, THEM);
  assert.equal(p[20], 11, "time exceeded");
  assert.equal(p[21], 1, "fragment reassembly time exceeded");
  assert.equal(internetChecksum(p, 20, p.length), 0);
  // The quote: the first fragment's IP header, then the first 8 bytes of its data.
  assert.deepEqual(p.subarray(28, 48), first.subarray(0, 20));
  assert.deepEqual(p.subarray(48, 56), body.subarray(0, 8));
  assert.equal(core.counters.reassembly.timeouts, 1);
  assert.equal(core.counters.reassembly.memoryBytes, 0);
  assert.equal(core.counters.icmpErrorsSent, 1);
  assert.equal(core.nextDeadline(), Infinity);
});

Deno.test("fragments: a datagram whose first fragment never came expires silently", () => {
  const { core, link } = rig();
  const body = tcpBody(SYN, 1, 0, new Uint8Array(64));
  core.input(fragments(body, [32], 7)[1], 0);
  core.poll(30_000);
  assert.equal(link.out.length, 0);
  assert.equal(core.counters.reassembly.timeouts, 1);
});

Deno.test("fragments: one source cannot hold more than its byte budget; others are unaffected", () => {
  const { core } = rig({ reassembly: { maxBytesPerSource: 8192 } });
  // 100 datagrams from THEM, each with a 1 KiB first fragment whose rest never comes.
  for (let id = 0; id < 100; id++) core.input(fragment(new Uint8Array(1024), 0, true, id), 0);
  const r = core.counters.reassembly;
  assert.ok(r.memoryBytes <= 8192, `held ${r.memoryBytes}`);
  assert.ok(r.overSourceBudget > 80);
  // Another source still gets its datagram through.
  const other = 0x0a000009;
  core.input(fragment(new Uint8Array(16), 0, true, 1, IPPROTO_ICMP, other), 0);
  core.input(fragment(new Uint8Array(8), 16, false, 1, IPPROTO_ICMP, other), 0);
  assert.equal(r.reassembled, 1);
  assert.ok(core.counters.memoryBytes >= r.memoryBytes, "the stack's memory figure includes it");
});

Deno.test("fragments: fragments for another address are not held", () => {
  const { core } = rig();
  core.input(fragment(new Uint8Array(64), 0, true, 1, IPPROTO_TCP, THEM, 0x0a000005), 0);
  assert.equal(core.counters.notForUs, 1);
  assert.equal(core.counters.reassembly.fragments, 0);
});

Deno.test("fragments: an echo request larger than the MTU is answered whole, in fragments (RFC 1122 §3.2.2.6)", () => {
  const { core, link } = rig();
  const data = new Uint8Array(4000).map((_, i) => (i * 13) & 0xff);
  const icmp = icmpMessage(8, 0, 0x12340009, data); // echo request, id 0x1234, sequence 9
  for (const f of fragments(icmp, [1480, 2960], 0x77, IPPROTO_ICMP)) core.input(f, 0);
  assert.ok(link.out.length >= 3, `${link.out.length} fragments out`);
  // Reassemble what we sent with an independent reassembler and compare.
  const check = new FragmentReassembler();
  const ip = newIpv4Header();
  const key = new FragmentKey();
  let verdict = FragmentVerdict.Held;
  for (const p of link.out) {
    assert.ok(p.length <= 1500);
    assert.equal(parseIpv4(p, p.length, ip), 6 /* Fragment */);
    assert.equal(ip.flags & 0x2, 0, "DF clear");
    key.setV4(ip.src, ip.dst, ip.id, ip.protocol);
    verdict = check.insert(
      key,
      ip.fragOffset * 8,
      (ip.flags & 1) !== 0,
      p.subarray(20),
      0,
      p.subarray(0, 20),
    );
  }
  assert.equal(verdict, FragmentVerdict.Complete);
  const d = check.completed;
  const reply = d.bytes.subarray(d.headerLength, d.headerLength + d.payloadLength);
  assert.equal(reply.length, icmp.length);
  assert.equal(reply[0], 0, "echo reply");
  assert.equal(internetChecksum(reply, 0, reply.length), 0);
  assert.deepEqual(reply.subarray(4), icmp.subarray(4));
  assert.equal(core.counters.icmpEchoReplies, 1);
});
