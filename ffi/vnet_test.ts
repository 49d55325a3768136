import assert from "node:assert/strict";
import { completePartialChecksum, GsoSplitter, vnetIsPlain } from "./vnet.ts";
import type { TunDevice } from "./tun.ts";
import { closeQuietly, readFd, writeFd } from "./libc.ts";
import { socketpairTun } from "./_socketpair_tun.ts";
// The codecs of src/wire build the frames a stack would send and check what comes out: these
// tests are where the two halves (device and codec) meet.
import { checksumAdd, checksumFinish } from "../src/wire/checksum.ts";
import {
  emitIpv4,
  IPPROTO_TCP,
  Ipv4ParseError,
  newIpv4Header,
  parseIpv4,
} from "../src/wire/ipv4.ts";
import {
  ACK,
  CWR,
  emitTcp,
  FIN,
  newTcpSegment,
  parseTcp,
  PSH,
  TcpParseError,
} from "../src/wire/tcp.ts";
import {
  emitVirtioNetHdr,
  newVirtioNetHdr,
  prepareTcpOffload,
  VIRTIO_NET_HDR_F_NEEDS_CSUM,
  VIRTIO_NET_HDR_GSO_UDP,
} from "../src/wire/virtio.ts";

const SRC = 0x0a000002;
const DST = 0x0a000001;
const HDR = 10;

interface SegSpec {
  seq: number;
  flags: number;
  payload: Uint8Array;
  id: number;
}

/** An IPv4/TCP packet (with timestamps) written at `into[at..)`; returns its length. */
function emitPacket(into: Uint8Array, at: number, s: SegSpec): number {
  const seg = newTcpSegment();
  seg.srcPort = 40000;
  seg.dstPort = 5001;
  seg.seq = s.seq;
  seg.ack = 0x01020304;
  seg.flags = s.flags;
  seg.window = 1000;
  seg.options.hasTimestamps = true;
  seg.options.tsVal = 11;
  seg.options.tsEcr = 22;
  seg.payload = s.payload;
  const tcpLength = emitTcp(seg, SRC, DST, into.subarray(at + 20));
  emitIpv4(into.subarray(at), {
    src: SRC,
    dst: DST,
    protocol: IPPROTO_TCP,
    ttl: 64,
    id: s.id,
    payloadLength: tcpLength,
  });
  return 20 + tcpLength;
}

function pattern(n: number): Uint8Array {
  return new Uint8Array(n).map((_, i) => (i * 13 + 5) & 0xff);
}

/** A frame holding one TCPv4 super-segment prepared as a stack would for the kernel. */
function superFrame(payload: Uint8Array, mss: number, flags: number, seq = 0xfffffc00) {
  const frame = new Uint8Array(HDR + 20 + 32 + payload.length);
  const len = emitPacket(frame, HDR, { seq, flags, payload, id: 0xfffe });
  const h = newVirtioNetHdr();
  assert.equal(prepareTcpOffload(frame.subarray(HDR), len, 20, mss, h), 0);
  emitVirtioNetHdr(frame, h);
  return { frame, length: HDR + len };
}

/** What Linux's segmentation produces for segment `i`, built independently with emitTcp. */
function expectedSegment(payload: Uint8Array, mss: number, flags: number, seq: number, i: number) {
  const count = Math.ceil(payload.length / mss);
  let f = flags;
  if (i > 0) f &= ~CWR;
  if (i < count - 1) f &= ~(FIN | PSH);
  const out = new Uint8Array(20 + 32 + mss);
  const len = emitPacket(out, 0, {
    seq: (seq + i * mss) >>> 0,
    flags: f,
    payload: payload.subarray(i * mss, (i + 1) * mss),
    id: (0xfffe + i) & 0xffff,
  });
  return out.subarray(0, len);
}

function assertValidTcp(packet: Uint8Array, what: string): void {
  const ip = newIpv4Header();
  assert.equal(parseIpv4(packet, packet.length, ip), Ipv4ParseError.None, what);
  assert.equal(ip.totalLength, packet.length, what);
  const seg = newTcpSegment();
  assert.equal(parseTcp(packet.subarray(20), ip.src, ip.dst, seg), TcpParseError.None, what);
}

Deno.test("vnet: a partial checksum is completed as the kernel does", () => {
  const { frame, length } = superFrame(pattern(900), 1448, ACK);
  assert.equal(frame[0], VIRTIO_NET_HDR_F_NEEDS_CSUM);
  assert.equal(vnetIsPlain(frame), false);
  assert.ok(completePartialChecksum(frame, HDR, length - HDR));
  assertValidTcp(frame.subarray(HDR, length), "completed");

  const bad = frame.slice();
  bad[6] = 200; // csum_start past the packet
  assert.equal(completePartialChecksum(bad, HDR, 100), false);
  const plain = new Uint8Array(HDR + 20);
  assert.ok(vnetIsPlain(plain));
  plain[0] = 2; // DATA_VALID asks for nothing
  assert.ok(vnetIsPlain(plain));
});

Deno.test("vnet: a TCPv4 super-segment is cut exactly as separate segments would be emitted", () => {
  for (
    const [payloadLength, mss, flags] of [
      [4000, 1448, ACK | PSH | FIN | CWR],
      [2896, 1448, ACK | PSH],
      [1000, 1448, ACK | FIN],
      [7, 2, ACK],
    ]
  ) {
    const payload = pattern(payloadLength);
    const seq = 0xfffffc00; // wraps
    const { frame, length } = superFrame(payload, mss, flags, seq);
    if (payloadLength <= mss) {
      frame[1] = 1; // GSO TCPV4 of a single segment: still cut (into one, fully checksummed)
      frame[4] = mss;
      frame[5] = mss >>> 8;
    }
    const source = frame.slice(0, length);
    const split = new GsoSplitter();
    assert.ok(split.begin(frame, HDR, length - HDR));
    const count = Math.ceil(payloadLength / mss);
    assert.equal(split.remaining, count);
    const out = new Uint8Array(2000);
    for (let i = 0; i < count; i++) {
      const n = split.next(out, 3);
      const got = out.subarray(3, 3 + n);
      const want = expectedSegment(payload, mss, flags, seq, i);
      assert.deepEqual(got, want, `segment ${i} of ${payloadLength}/${mss}`);
      assertValidTcp(got, `segment ${i}`);
    }
    assert.equal(split.next(out), 0);
    assert.equal(split.remaining, 0);
    assert.deepEqual(frame.subarray(0, length), source, "the source frame is left alone");
  }
});

Deno.test("vnet: a TCPv6 super-segment is cut with IPv6 lengths and checksums", () => {
  const payload = pattern(3000);
  const mss = 1200;
  const seg = newTcpSegment();
  seg.srcPort = 1;
  seg.dstPort = 2;
  seg.seq = 100;
  seg.flags = ACK | PSH;
  seg.payload = payload;
  const frame = new Uint8Array(HDR + 40 + 20 + payload.length);
  const p = frame.subarray(HDR);
  const tcpLength = emitTcp(seg, 0, 0, p.subarray(40));
  p[0] = 0x60;
  p[4] = tcpLength >>> 8;
  p[5] = tcpLength;
  p[6] = IPPROTO_TCP;
  p[7] = 64;
  for (let i = 0; i < 32; i++) p[8 + i] = i * 7;
  const h = newVirtioNetHdr();
  assert.equal(prepareTcpOffload(p, 40 + tcpLength, 40, mss, h), 0);
  emitVirtioNetHdr(frame, h);
  const split = new GsoSplitter();
  assert.ok(split.begin(frame, HDR, frame.length - HDR));
  assert.equal(split.remaining, 3);
  const out = new Uint8Array(1500);
  let offset = 0;
  for (let i = 0; i < 3; i++) {
    const n = split.next(out);
    const segLen = Math.min(mss, payload.length - offset);
    assert.equal(n, 60 + segLen);
    assert.equal((out[4] << 8) | out[5], 20 + segLen, "payload length");
    const seq = (out[44] << 24 | out[45] << 16 | out[46] << 8 | out[47]) >>> 0;
    assert.equal(seq, 100 + offset);
    assert.equal(out[53], i < 2 ? ACK : ACK | PSH);
    assert.deepEqual(out.subarray(60, n), payload.subarray(offset, offset + segLen));
    const pseudo = new Uint8Array(40);
    pseudo.set(out.subarray(8, 40));
    new DataView(pseudo.buffer).setUint32(32, n - 40);
    pseudo[39] = IPPROTO_TCP;
    const acc = checksumAdd(0, pseudo, 0, 40);
    assert.equal(checksumFinish(checksumAdd(acc, out, 40, n)), 0, `segment ${i} checksum`);
    offset += segLen;
  }
});

Deno.test("vnet: the splitter refuses what it cannot cut", () => {
  const split = new GsoSplitter();
  const base = superFrame(pattern(3000), 1000, ACK);
  const cases: [string, (f: Uint8Array) => void][] = [
    ["UDP GSO type", (f) => f[1] = VIRTIO_NET_HDR_GSO_UDP],
    ["gso_size 0", (f) => f[4] = f[5] = 0],
    ["TCPV6 type on an IPv4 packet", (f) => f[1] = 4],
    ["not TCP", (f) => f[HDR + 9] = 17],
    ["IPv4 total length past the read", (f) => f[HDR + 2] = 0xff],
    ["TCP data offset below 5", (f) => f[HDR + 32] = 0x40],
    ["IHL below 5", (f) => f[HDR] = 0x44],
  ];
  for (const [what, mutate] of cases) {
    const f = base.frame.slice();
    mutate(f);
    assert.equal(split.begin(f, HDR, base.length - HDR), false, what);
    assert.equal(split.remaining, 0, what);
  }
  assert.equal(split.begin(base.frame, HDR, 30), false, "too short");
  assert.ok(split.begin(base.frame, HDR, base.length - HDR));
  assert.equal(split.next(new Uint8Array(100)), -1, "no room: skipped");
  assert.equal(split.remaining, 2);
});

// A TunDevice over a socketpair (see _socketpair_tun.ts): the test plays the kernel.
const linuxOnly = Deno.build.os !== "linux";

function pair(framing: "raw" | "vnet" | "utun"): { dev: TunDevice; peer: number } {
  return socketpairTun({
    vnetHdr: framing === "vnet",
    offloads: { csum: true, tso4: true, tso6: false },
    framing: framing === "vnet" ? undefined : framing,
  });
}

function send(peer: number, bytes: Uint8Array): void {
  assert.equal(writeFd(peer, bytes, bytes.length), bytes.length);
}

function receive(peer: number): Uint8Array {
  const buf = new Uint8Array(70000);
  const n = readFd(peer, buf, buf.length);
  assert.ok(n > 0, `peer read ${n}`);
  return buf.slice(0, n);
}

Deno.test({
  name: "tun vnet: the device reports its header and offloads; others report none",
  ignore: linuxOnly,
  fn() {
    const v = pair("vnet");
    const r = pair("raw");
    try {
      assert.equal(v.dev.framing, "vnet");
      assert.equal(v.dev.vnetHdr, true);
      assert.deepEqual(v.dev.offloads, { csum: true, tso4: true, tso6: false });
      assert.equal(r.dev.vnetHdr, false);
      assert.deepEqual(r.dev.offloads, { csum: false, tso4: false, tso6: false });
    } finally {
      for (const { dev, peer } of [v, r]) {
        dev.close();
        closeQuietly(peer);
      }
    }
  },
});

Deno.test({
  name: "tun vnet: plain read() strips the header, completes checksums, cuts super-segments",
  ignore: linuxOnly,
  async fn() {
    const { dev, peer } = pair("vnet");
    try {
      const buf = new Uint8Array(65536);
      // A plain packet behind a zero header.
      const plain = new Uint8Array(HDR + 60);
      const plainLen = emitPacket(plain, HDR, { seq: 1, flags: ACK, payload: pattern(8), id: 1 });
      send(peer, plain.subarray(0, HDR + plainLen));
      assert.equal(dev.read(buf), plainLen);
      assert.deepEqual(buf.subarray(0, plainLen), plain.subarray(HDR, HDR + plainLen));

      // A partial checksum.
      const partial = superFrame(pattern(500), 1448, ACK);
      send(peer, partial.frame.subarray(0, partial.length));
      const n = dev.read(buf);
      assert.equal(n, partial.length - HDR);
      assertValidTcp(buf.subarray(0, n), "completed on read");

      // A super-segment: three reads, then the fd again.
      const payload = pattern(4000);
      const gso = superFrame(payload, 1448, ACK | PSH);
      send(peer, gso.frame.subarray(0, gso.length));
      send(peer, plain.subarray(0, HDR + plainLen));
      for (let i = 0; i < 3; i++) {
        const len = dev.read(buf);
        assert.deepEqual(
          buf.subarray(0, len),
          expectedSegment(payload, 1448, ACK | PSH, 0xfffffc00, i),
        );
        if (i < 2) {
          const t0 = performance.now();
          await dev.waitReadable(5000);
          assert.ok(performance.now() - t0 < 1000, "pending segments: the wait ends at once");
        }
      }
      assert.equal(dev.read(buf), plainLen, "then the next frame from the fd");
      assert.equal(dev.read(buf), 0);
      assert.equal(dev.softwareSegmented, 1);

      // Frames it cannot honour are dropped and counted.
      const udp = gso.frame.slice(0, gso.length);
      udp[1] = VIRTIO_NET_HDR_GSO_UDP;
      send(peer, udp);
      send(peer, new Uint8Array(HDR));
      const badCsum = partial.frame.slice(0, partial.length);
      badCsum[6] = badCsum[7] = 0xff;
      send(peer, badCsum);
      assert.equal(dev.read(buf), 0);
      assert.equal(dev.vnetErrors, 3);
      assert.equal(dev.readErrors, 0);
    } finally {
      dev.close();
      closeQuietly(peer);
    }
  },
});

Deno.test({
  name: "tun vnet: plain write() sends a zero header; frames go through untouched",
  ignore: linuxOnly,
  fn() {
    const { dev, peer } = pair("vnet");
    try {
      const packet = new Uint8Array(60);
      const len = emitPacket(packet, 0, { seq: 5, flags: ACK, payload: pattern(3), id: 2 });
      dev.write(packet.subarray(0, len));
      const got = receive(peer);
      assert.equal(got.length, HDR + len);
      assert.deepEqual([...got.subarray(0, HDR)], new Array(HDR).fill(0));
      assert.deepEqual(got.subarray(HDR), packet.subarray(0, len));

      const gso = superFrame(pattern(4000), 1448, ACK);
      const sent = gso.frame.slice(0, gso.length);
      const big = new Uint8Array(gso.length + 100);
      big.set(sent);
      dev.writeFrame(big, gso.length);
      assert.deepEqual(receive(peer), sent, "one write of the caller's bytes");

      send(peer, sent);
      const buf = new Uint8Array(70000);
      assert.equal(dev.readFrame(buf), gso.length);
      assert.deepEqual(buf.subarray(0, gso.length), sent, "one read, header and all");
      assert.equal(dev.softwareSegmented, 0);
      dev.writeFrame(new Uint8Array(HDR));
      assert.equal(dev.vnetErrors, 1, "a frame without a packet is refused");
    } finally {
      dev.close();
      closeQuietly(peer);
    }
  },
});

Deno.test({
  name: "tun raw: frames get a zero header on read; offloads are done in software on write",
  ignore: linuxOnly,
  fn() {
    const { dev, peer } = pair("raw");
    try {
      const packet = new Uint8Array(60);
      const len = emitPacket(packet, 0, { seq: 5, flags: ACK, payload: pattern(3), id: 2 });
      send(peer, packet.subarray(0, len));
      const buf = new Uint8Array(2000).fill(0xaa);
      assert.equal(dev.readFrame(buf), HDR + len);
      assert.deepEqual([...buf.subarray(0, HDR)], new Array(HDR).fill(0));
      assert.deepEqual(buf.subarray(HDR, HDR + len), packet.subarray(0, len));
      send(peer, packet.subarray(0, 30));
      assert.equal(dev.readFrame(buf), HDR + 30, "the same receive buffer again");

      // A plain frame: the packet alone.
      const frame = new Uint8Array(HDR + len);
      frame.set(packet.subarray(0, len), HDR);
      dev.writeFrame(frame);
      assert.deepEqual(receive(peer), packet.subarray(0, len));

      // Checksum offload: completed here.
      const partial = superFrame(pattern(700), 1448, ACK);
      dev.writeFrame(partial.frame, partial.length);
      const got = receive(peer);
      assert.equal(got.length, partial.length - HDR);
      assertValidTcp(got, "completed on write");

      // Segmentation offload: cut here, one packet per segment.
      const payload = pattern(5000);
      const gso = superFrame(payload, 1448, ACK | PSH | FIN);
      dev.writeFrame(gso.frame, gso.length);
      for (let i = 0; i < 4; i++) {
        assert.deepEqual(
          receive(peer),
          expectedSegment(payload, 1448, ACK | PSH | FIN, 0xfffffc00, i),
        );
      }
      assert.equal(readFd(peer, buf, buf.length) < 0, true, "nothing more");
      assert.equal(dev.softwareSegmented, 1);
      assert.equal(dev.vnetErrors, 0);
    } finally {
      dev.close();
      closeQuietly(peer);
    }
  },
});

Deno.test({
  name: "tun utun: frames map onto the 4-byte family header both ways",
  ignore: linuxOnly,
  fn() {
    const { dev, peer } = pair("utun");
    try {
      const packet = new Uint8Array(60);
      const len = emitPacket(packet, 0, { seq: 5, flags: ACK, payload: pattern(3), id: 2 });
      const other = new Uint8Array([0, 0, 0, 17, 0x60, 0, 0, 0]);
      const v6 = new Uint8Array([0, 0, 0, 30, 0x60, 0, 0, 0, 1, 2]);
      const v4 = new Uint8Array(4 + len);
      v4[3] = 2;
      v4.set(packet.subarray(0, len), 4);
      send(peer, other);
      send(peer, v6);
      send(peer, v4);
      const buf = new Uint8Array(2000).fill(0xaa);
      assert.equal(dev.readFrame(buf), HDR + 6, "IPv6 (AF_INET6 = 30) is delivered");
      assert.deepEqual([...buf.subarray(0, HDR + 6)], [
        ...new Array(HDR).fill(0),
        0x60,
        0,
        0,
        0,
        1,
        2,
      ]);
      buf.fill(0xaa);
      assert.equal(dev.readFrame(buf), HDR + len);
      assert.deepEqual([...buf.subarray(0, HDR)], new Array(HDR).fill(0));
      assert.deepEqual(buf.subarray(HDR, HDR + len), packet.subarray(0, len));
      assert.equal(dev.skippedFrames, 1);

      const frame = new Uint8Array(HDR + len);
      frame.set(packet.subarray(0, len), HDR);
      dev.writeFrame(frame);
      assert.deepEqual(receive(peer), v4);

      const payload = pattern(3000);
      const gso = superFrame(payload, 1448, ACK);
      dev.writeFrame(gso.frame, gso.length);
      for (let i = 0; i < 3; i++) {
        const got = receive(peer);
        assert.deepEqual([...got.subarray(0, 4)], [0, 0, 0, 2]);
        assert.deepEqual(got.subarray(4), expectedSegment(payload, 1448, ACK, 0xfffffc00, i));
      }
    } finally {
      dev.close();
      closeQuietly(peer);
    }
  },
});

Deno.test("vnet: mutated frames never make the splitter or checksum completion throw", () => {
  const base = superFrame(pattern(3000), 700, ACK | PSH);
  let state = 0x2468ace;
  const next = () => (state = (Math.imul(state, 1103515245) + 12345) >>> 0) >>> 16;
  const split = new GsoSplitter();
  const out = new Uint8Array(1600);
  let cut = 0;
  for (let iter = 0; iter < 3000; iter++) {
    const f = base.frame.slice();
    for (let k = next() % 4; k >= 0; k--) f[next() % 80] = next() & 0xff;
    const length = next() % 4 === 0 ? HDR + (next() % (base.length - HDR + 1)) : base.length;
    completePartialChecksum(f.slice(), HDR, length - HDR);
    if (!split.begin(f, HDR, length - HDR)) continue;
    cut++;
    for (let i = 0; i < 70_000 && split.remaining > 0; i++) {
      const n = split.next(out);
      assert.ok(n === -1 || (n > 0 && n <= out.length));
    }
    assert.equal(split.remaining, 0);
  }
  assert.ok(cut > 100, `only ${cut} mutated frames were cut`);
});
