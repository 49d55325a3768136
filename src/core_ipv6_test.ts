// IPv6 beside IPv4 in the stack core (RFC 8200): TCP both ways with the IPv6 pseudo-header and
// MSS, listeners by family, ICMPv6 echo (whole, in fragments when large), Packet Too Big
// (RFC 8201), Parameter Problem for what cannot be processed (RFC 8200 §4), neighbour discovery
// ignored, fragments reassembled. Real packets in and out, under a hand-driven clock.
import assert from "node:assert/strict";
import { type ConnHandle, StackCore } from "./core.ts";
import { CaptureLink } from "./_capture_link.ts";
import {
  emitIpv6,
  IPPROTO_DSTOPTS,
  IPPROTO_FRAGMENT,
  IPPROTO_ICMPV6,
  ipv6AddressSum,
  newIpv6Header,
  parseIpv6,
} from "./wire/ipv6.ts";
import { type Ipv6Address, parseIpv6Address } from "./wire/ipv6_address.ts";
import {
  ACK,
  emitTcpWithAddressSum,
  newTcpSegment,
  parseTcpWithAddressSum,
  RST,
  SYN,
  type TcpSegment,
} from "./wire/tcp.ts";
import { IPPROTO_TCP } from "./wire/ipv4.ts";
import { checksumAdd, checksumFinish } from "./wire/checksum.ts";
import { FragmentKey, FragmentReassembler, FragmentVerdict } from "./ip/reassembly.ts";
import { State } from "./tcp/connection.ts";

const US4 = 0x0a000001;
const US = parseIpv6Address("fdac:1194:20dc::1")!;
const THEM = parseIpv6Address("fdac:1194:20dc::2")!;

function rig(addr6: Ipv6Address | null = US) {
  const link = new CaptureLink();
  const clock = { t: 0 };
  const core = new StackCore({
    addr: US4,
    addr6: addr6 ?? undefined,
    link,
    now: () => clock.t,
    random: () => 99,
  });
  return { core, link, clock };
}

/** An IPv6 packet from THEM to US (or `dst`) with `payload` after the fixed header. */
function ip6(nextHeader: number, payload: Uint8Array, src = THEM, dst = US): Uint8Array {
  const p = new Uint8Array(40 + payload.length);
  emitIpv6(p, { src, dst, nextHeader, hopLimit: 64, payloadLength: payload.length });
  p.set(payload, 40);
  return p;
}

interface SegOpts {
  flags: number;
  seq: number;
  ack?: number;
  srcPort?: number;
  dstPort?: number;
  payload?: Uint8Array;
  mss?: number;
}

function tcpBody(o: SegOpts): Uint8Array {
  const seg = newTcpSegment();
  seg.srcPort = o.srcPort ?? 40000;
  seg.dstPort = o.dstPort ?? 80;
  seg.seq = o.seq;
  seg.ack = o.ack ?? 0;
  seg.flags = o.flags;
  seg.window = 65535;
  seg.payload = o.payload ?? new Uint8Array(0);
  if (o.mss) seg.options.mss = o.mss;
  const buf = new Uint8Array(60 + seg.payload.length);
  return buf.slice(0, emitTcpWithAddressSum(seg, ipv6AddressSum(THEM, US), buf));
}

function tcp6(o: SegOpts): Uint8Array {
  return ip6(IPPROTO_TCP, tcpBody(o));
}

/** Parses a packet the stack wrote: IPv6 to THEM, and its TCP segment (checksum verified). */
function out6(p: Uint8Array): { nextHeader: number; seg: TcpSegment; body: Uint8Array } {
  const ip = newIpv6Header();
  assert.equal(parseIpv6(p, p.length, ip), 0);
  assert.deepEqual(ip.src, US);
  assert.deepEqual(ip.dst, THEM);
  const body = p.subarray(40, 40 + ip.payloadLength);
  const seg = newTcpSegment();
  if (ip.nextHeader === IPPROTO_TCP) {
    assert.equal(parseTcpWithAddressSum(body, ipv6AddressSum(US, THEM), seg), 0);
  }
  return { nextHeader: ip.nextHeader, seg, body };
}

function icmp6Message(type: number, code: number, rest: number, data: Uint8Array): Uint8Array {
  const m = new Uint8Array(8 + data.length);
  m[0] = type;
  m[1] = code;
  m[4] = rest >>> 24;
  m[5] = rest >>> 16;
  m[6] = rest >>> 8;
  m[7] = rest;
  m.set(data, 8);
  const acc = ipv6AddressSum(THEM, US) + 58 + m.length;
  const sum = checksumFinish(checksumAdd(acc, m, 0, m.length));
  m[2] = sum >>> 8;
  m[3] = sum;
  return m;
}

/** Accepts one IPv6 connection on port 80; returns its handle and our ISS. */
function accept6(core: StackCore, link: CaptureLink): { h: ConnHandle; iss: number } {
  const accepted: ConnHandle[] = [];
  core.listen(80, 8, (h) => accepted.push(h));
  core.input(tcp6({ flags: SYN, seq: 1000, mss: 1440 }), 0);
  const [synAck] = link.take();
  const { seg } = out6(synAck);
  assert.equal(seg.flags, SYN | ACK);
  assert.equal(seg.options.mss, 1440, "MSS over IPv6: MTU − 60");
  core.input(tcp6({ flags: ACK, seq: 1001, ack: (seg.seq + 1) >>> 0 }), 0);
  assert.equal(accepted.length, 1);
  return { h: accepted[0], iss: seg.seq };
}

Deno.test("ipv6: a kernel-style client connects over IPv6, sends data, and the stack answers in IPv6", () => {
  const { core, link } = rig();
  const { h, iss } = accept6(core, link);
  assert.equal(h.family, 6);
  assert.equal(h.localHostname, "fdac:1194:20dc::1");
  assert.equal(h.remoteHostname, "fdac:1194:20dc::2");
  assert.equal(h.conn.state, State.Established);
  assert.equal(h.conn.sndMss, 1440);
  const data = new TextEncoder().encode("hello over IPv6");
  core.input(tcp6({ flags: ACK, seq: 1001, ack: iss + 1, payload: data }), 1);
  const into = new Uint8Array(100);
  assert.equal(h.read(into), data.length);
  assert.deepEqual(into.subarray(0, data.length), data);
  h.write(new TextEncoder().encode("reply"));
  const sent = link.take().map(out6).filter((o) => o.seg.payload.length > 0);
  assert.equal(sent.length, 1);
  assert.equal(new TextDecoder().decode(sent[0].seg.payload), "reply");
  assert.equal(core.counters.ipv6PacketsIn, 3);
});

Deno.test("ipv6: an active open to an IPv6 peer sends a SYN with MSS 1440 and completes", () => {
  const { core, link } = rig();
  const h = core.connect(THEM, 5001);
  const [syn] = link.take();
  const { seg } = out6(syn);
  assert.equal(seg.flags, SYN);
  assert.equal(seg.options.mss, 1440);
  core.input(
    tcp6({
      flags: SYN | ACK,
      seq: 7000,
      ack: seg.seq + 1,
      srcPort: 5001,
      dstPort: seg.srcPort,
      mss: 1440,
    }),
    1,
  );
  assert.equal(h.conn.state, State.Established);
  assert.equal(h.family, 6);
});

Deno.test("ipv6: a listener for IPv4 only answers an IPv6 SYN with RST; IPv6 off drops IPv6", () => {
  const { core, link } = rig();
  core.listen(80, 8, () => {}, {}, 4);
  core.input(tcp6({ flags: SYN, seq: 1 }), 0);
  const [rst] = link.take();
  assert.equal(out6(rst).seg.flags, RST | ACK);

  const off = rig(null);
  off.core.listen(80, 8, () => {});
  off.core.input(tcp6({ flags: SYN, seq: 1 }), 0);
  assert.equal(off.link.out.length, 0);
  assert.equal(off.core.counters.notIpv4, 1);
  assert.throws(() => off.core.connect(THEM, 80), TypeError);
});

Deno.test("ipv6: echo requests are answered, and one larger than the MTU in fragments (RFC 4443 §4.2)", () => {
  const { core, link } = rig();
  core.input(ip6(IPPROTO_ICMPV6, icmp6Message(128, 0, 0x12340001, new Uint8Array([1, 2, 3]))), 0);
  const [reply] = link.take();
  const r = out6(reply);
  assert.equal(r.nextHeader, IPPROTO_ICMPV6);
  assert.equal(r.body[0], 129);
  assert.deepEqual([...r.body.subarray(4)], [0x12, 0x34, 0, 1, 1, 2, 3]);
  const acc = ipv6AddressSum(US, THEM) + 58 + r.body.length;
  assert.equal(checksumFinish(checksumAdd(acc, r.body, 0, r.body.length)), 0);

  // 3000 bytes of data: the request arrives whole here; the reply must go in fragments.
  const data = new Uint8Array(3000).map((_, i) => i & 0xff);
  core.input(ip6(IPPROTO_ICMPV6, icmp6Message(128, 0, 0x00070002, data)), 1);
  const frags = link.take();
  assert.ok(frags.length >= 3);
  const check = new FragmentReassembler();
  const key = new FragmentKey();
  let verdict = FragmentVerdict.Held;
  for (const p of frags) {
    assert.ok(p.length <= 1500);
    assert.equal(p[6], IPPROTO_FRAGMENT);
    const off = ((p[42] << 8) | p[43]) & 0xfff8;
    const more = (p[43] & 1) === 1;
    const id = ((p[44] << 24) | (p[45] << 16) | (p[46] << 8) | p[47]) >>> 0;
    key.setV6(p, 8, p, 24, id, p[40]);
    verdict = check.insert(
      key,
      off,
      more,
      p.subarray(48),
      0,
      off === 0 ? p.subarray(0, 40) : undefined,
      6,
    );
  }
  assert.equal(verdict, FragmentVerdict.Complete);
  const d = check.completed;
  const body = d.bytes.subarray(40, 40 + d.payloadLength);
  assert.equal(body[0], 129);
  assert.deepEqual(body.subarray(8), data);
});

Deno.test("ipv6: an unknown Next Header draws Parameter Problem code 1 pointing at it; UDP is dropped silently", () => {
  const { core, link } = rig();
  const p = ip6(253, new Uint8Array(16));
  core.input(p, 0);
  const [pp] = link.take();
  const r = out6(pp);
  assert.equal(r.nextHeader, IPPROTO_ICMPV6);
  assert.deepEqual([...r.body.subarray(0, 2)], [4, 1]);
  assert.equal((r.body[4] << 24) | (r.body[5] << 16) | (r.body[6] << 8) | r.body[7], 6);
  assert.deepEqual(r.body.subarray(8), p, "the whole offending packet is quoted");
  core.input(ip6(17, new Uint8Array(16)), 0);
  assert.equal(link.out.length, 0);
  assert.equal(core.counters.paramProblemsSent, 1);
});

Deno.test("ipv6: an unrecognized option with action 10 in a Destination Options header draws code 2", () => {
  const { core, link } = rig();
  const opts = new Uint8Array([IPPROTO_TCP, 0, 0x9e, 4, 0, 0, 0, 0]);
  const body = tcpBody({ flags: SYN, seq: 1 });
  const payload = new Uint8Array(opts.length + body.length);
  payload.set(opts);
  payload.set(body, opts.length);
  core.listen(80, 8, () => {});
  core.input(ip6(IPPROTO_DSTOPTS, payload), 0);
  const [pp] = link.take();
  const r = out6(pp);
  assert.deepEqual([...r.body.subarray(0, 2)], [4, 2]);
  assert.equal(r.body[7], 42, "pointer at the option type");
  assert.equal(core.counters.ipv6ExtensionDrops, 1);
  assert.equal(core.counters.synReceived, 0, "the SYN went nowhere");
});

Deno.test("ipv6: neighbour solicitations and router advertisements are ignored without a reply", () => {
  const { core, link } = rig();
  const solicited = parseIpv6Address("ff02::1:ff00:1")!;
  const ns = new Uint8Array(24);
  ns[0] = 135;
  const nsPacket = new Uint8Array(40 + ns.length);
  emitIpv6(nsPacket, {
    src: THEM,
    dst: solicited,
    nextHeader: 58,
    hopLimit: 255,
    payloadLength: ns.length,
  });
  nsPacket.set(ns, 40);
  core.input(nsPacket, 0);
  core.input(ip6(IPPROTO_ICMPV6, icmp6Message(134, 0, 0, new Uint8Array(8))), 0);
  assert.equal(link.out.length, 0);
  assert.equal(core.counters.ndIgnored, 2);
});

Deno.test("ipv6: Packet Too Big quoting data in flight lowers the MSS, never below 1280 − 60 (RFC 8201)", () => {
  const { core, link } = rig();
  const { h, iss } = accept6(core, link);
  h.write(new Uint8Array(20_000));
  const sent = link.take();
  const first = sent[0];
  const seq = out6(first).seg.seq;
  assert.equal(seq, (iss + 1) >>> 0);
  // A router says the next hop takes 1300 bytes; it quotes our first data segment.
  core.input(ip6(IPPROTO_ICMPV6, icmp6Message(2, 0, 1300, first.subarray(0, 1232))), 1);
  assert.equal(h.conn.sndMss, 1300 - 60);
  assert.equal(core.counters.pmtuUpdates, 1);
  const resent = link.take().map(out6).filter((o) => o.seg.payload.length > 0);
  assert.ok(resent.length > 0, "what was in flight is sent again at the new size");
  for (const o of resent) assert.ok(o.seg.payload.length <= 1240);
  // A forged tiny MTU: the floor holds.
  core.input(ip6(IPPROTO_ICMPV6, icmp6Message(2, 0, 600, first.subarray(0, 1232))), 2);
  assert.equal(h.conn.sndMss, 1280 - 60);
  assert.equal(h.stats().pmtu, 1280);
  // A quote of a sequence number outside the window is ignored (RFC 5927).
  const forged = first.slice(0, 1232);
  forged[44] ^= 0x80;
  const ignoredBefore = core.counters.icmpIgnored;
  core.input(ip6(IPPROTO_ICMPV6, icmp6Message(2, 0, 1280, forged)), 3);
  assert.equal(core.counters.icmpIgnored, ignoredBefore + 1);
});

Deno.test("ipv6: TCP data in fragments is reassembled (RFC 8200 §4.5)", () => {
  const { core, link } = rig();
  const { h, iss } = accept6(core, link);
  const data = new Uint8Array(2000).map((_, i) => (i * 3) & 0xff);
  const body = tcpBody({ flags: ACK, seq: 1001, ack: iss + 1, payload: data });
  const cut = 1200;
  const frag = (off: number, more: boolean, part: Uint8Array) => {
    const f = new Uint8Array(8 + part.length);
    f[0] = IPPROTO_TCP;
    f[2] = off >>> 8;
    f[3] = (off & 0xf8) | (more ? 1 : 0);
    f.set([0, 0, 0x12, 0x34], 4);
    f.set(part, 8);
    return ip6(IPPROTO_FRAGMENT, f);
  };
  core.input(frag(cut, false, body.subarray(cut)), 1);
  core.input(frag(0, true, body.subarray(0, cut)), 1);
  const into = new Uint8Array(4000);
  assert.equal(h.read(into), 2000);
  assert.deepEqual(into.subarray(0, 2000), data);
  assert.equal(core.counters.reassembly.reassembled, 1);
});
