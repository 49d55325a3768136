import assert from "node:assert/strict";
import {
  cutSuperSegment,
  frameChecksumProblem,
  type FrameDelivery,
  FrameShaper,
  packetsOfFrame,
} from "./link_frames.ts";
import { createMemoryLinkPair, FaultyLink } from "./link.ts";
import { openStack } from "./stack.ts";
import type { TcpConn } from "./socket.ts";
import type { FaultOptions } from "./fault.ts";
// The TUN device's own software segmentation: an independent implementation to compare with.
import { GsoSplitter } from "../ffi/vnet.ts";
import { Prng } from "./prng.ts";
import { readU16, readU32 } from "./wire/bytes.ts";
import { checksumAdd, checksumFinish, pseudoHeaderSum } from "./wire/checksum.ts";
import { emitIpv4, IPPROTO_TCP } from "./wire/ipv4.ts";
import { ACK, CWR, emitTcp, FIN, newTcpSegment, PSH } from "./wire/tcp.ts";
import {
  emitVirtioNetHdr,
  newVirtioNetHdr,
  parseVirtioNetHdr,
  prepareTcpOffload,
  VIRTIO_NET_HDR_F_DATA_VALID,
  VIRTIO_NET_HDR_GSO_TCPV4,
  VIRTIO_NET_HDR_GSO_TCPV6,
  VIRTIO_NET_HDR_LENGTH,
  VirtioParseError,
} from "./wire/virtio.ts";

const SRC = 0x0a000001;
const DST = 0x0a000002;
const HDR = VIRTIO_NET_HDR_LENGTH;

/**
 * A frame as a stack with offloads writes it: one TCP segment (timestamps on) with `payload`,
 * its checksum left partial and, past `mss`, a TCPV4 super-segment.
 */
function stackFrame(payload: Uint8Array, mss: number, flags = ACK, seq = 1000, id = 7) {
  const seg = newTcpSegment();
  seg.srcPort = 40000;
  seg.dstPort = 80;
  seg.seq = seq;
  seg.ack = 5;
  seg.flags = flags;
  seg.window = 1000;
  seg.options.hasTimestamps = true;
  seg.options.tsVal = 1;
  seg.options.tsEcr = 2;
  seg.payload = payload;
  const frame = new Uint8Array(HDR + 20 + 32 + payload.length);
  const n = emitTcp(seg, SRC, DST, frame.subarray(HDR + 20));
  emitIpv4(frame.subarray(HDR), {
    src: SRC,
    dst: DST,
    protocol: IPPROTO_TCP,
    ttl: 64,
    id,
    payloadLength: n,
  });
  const h = newVirtioNetHdr();
  assert.equal(prepareTcpOffload(frame.subarray(HDR), 20 + n, 20, mss, h), 0);
  emitVirtioNetHdr(frame, h);
  return frame;
}

function pattern(n: number, salt = 0): Uint8Array {
  return new Uint8Array(n).map((_, i) => (i * 7 + salt + (i >> 9)) & 0xff);
}

/** True when the IPv4/TCP packet's header and TCP checksums verify. */
function checksumsGood(p: Uint8Array): boolean {
  const ihl = (p[0] & 0x0f) * 4;
  if (checksumFinish(checksumAdd(0, p, 0, ihl)) !== 0) return false;
  const acc = pseudoHeaderSum(SRC, DST, IPPROTO_TCP, p.length - ihl);
  return checksumFinish(checksumAdd(acc, p, ihl, p.length)) === 0;
}

function header(frame: Uint8Array) {
  const h = newVirtioNetHdr();
  assert.equal(parseVirtioNetHdr(frame, frame.length, h), VirtioParseError.None);
  return h;
}

Deno.test("frames: a super-segment is cut byte for byte as the TUN device's splitter cuts it", () => {
  const rng = new Prng(5);
  for (let i = 0; i < 300; i++) {
    const mss = 1 + rng.int(0, 1500);
    const payload = pattern(mss + 1 + rng.int(0, 20 * mss), i);
    if (payload.length > 65000) continue;
    const flags = ACK | (rng.chance(0.5) ? FIN : 0) | (rng.chance(0.5) ? PSH : 0) |
      (rng.chance(0.5) ? CWR : 0);
    const frame = stackFrame(payload, mss, flags, rng.nextU32(), rng.int(0, 65536));
    const mine = cutSuperSegment(frame.subarray(HDR), header(frame));
    const splitter = new GsoSplitter();
    assert.ok(splitter.begin(frame, HDR, frame.length - HDR));
    const theirs: Uint8Array[] = [];
    const out = new Uint8Array(70000);
    for (let n; (n = splitter.next(out)) > 0;) theirs.push(out.slice(0, n));
    assert.equal(mine.length, Math.ceil(payload.length / mss));
    assert.deepEqual(mine, theirs, `case ${i}: mss ${mss}, ${payload.length} bytes`);
    for (const s of mine) assert.ok(checksumsGood(s));
  }
});

Deno.test("frames: FIN and PSH stay on the last segment, CWR on the first, sequence numbers advance", () => {
  const frame = stackFrame(pattern(2500), 1000, ACK | FIN | PSH | CWR, 0xfffffe00);
  const parts = cutSuperSegment(frame.subarray(HDR), header(frame));
  const flags = parts.map((p) => p[20 + 13]);
  assert.deepEqual(flags, [ACK | CWR, ACK, ACK | FIN | PSH]);
  const seqs = parts.map((p) => readU32(p, 24));
  assert.deepEqual(seqs, [0xfffffe00, (0xfffffe00 + 1000) >>> 0, (0xfffffe00 + 2000) >>> 0]);
  assert.deepEqual(parts.map((p) => p.length), [1052, 1052, 552]);
  assert.deepEqual(parts.map((p) => readU16(p, 4)), [7, 8, 9]);
});

Deno.test("frames: a shaper delivers whole (partial or valid) or cuts, and finds every checksum good", () => {
  const frame = stackFrame(pattern(5000), 1448);
  const small = stackFrame(pattern(100), 1448);
  const partial = new FrameShaper("partial", 1500);
  const [whole] = partial.shape(frame, frame.length);
  assert.deepEqual(whole, frame, "delivered as written");
  const valid = new FrameShaper("valid", 1500);
  const [gro] = valid.shape(frame, frame.length);
  const g = header(gro);
  assert.equal(g.flags, VIRTIO_NET_HDR_F_DATA_VALID);
  assert.equal(g.gsoType, VIRTIO_NET_HDR_GSO_TCPV4);
  assert.equal(g.gsoSize, 1448);
  assert.deepEqual(gro.subarray(HDR), frame.subarray(HDR), "a GRO packet: checksum field stale");
  const [checked] = valid.shape(small, small.length);
  assert.equal(header(checked).flags, VIRTIO_NET_HDR_F_DATA_VALID);
  assert.ok(checksumsGood(checked.subarray(HDR)), "a plain packet forwarded: checksum complete");
  const cut = new FrameShaper("cut", 1500);
  const parts = cut.shape(frame, frame.length);
  assert.deepEqual(parts.map((p) => p.length - HDR), [1500, 1500, 1500, 708]);
  for (const p of parts) {
    assert.deepEqual(p.subarray(0, HDR), new Uint8Array(HDR), "no offload flags");
    assert.ok(checksumsGood(p.subarray(HDR)));
  }
  const [one] = cut.shape(small, small.length);
  assert.ok(checksumsGood(one.subarray(HDR)));
  for (const s of [partial, valid, cut]) {
    assert.equal(s.stats.badChecksums, 0, s.stats.lastProblem);
    assert.equal(s.stats.badFrames, 0);
    assert.equal(s.stats.oversize, 0);
  }
  assert.equal(cut.stats.superSegments, 1);
  assert.equal(cut.stats.cut, 1);
  assert.equal(valid.stats.cut, 0);
});

Deno.test("frames: a wrong checksum, a bad header and an oversize segment are counted", () => {
  const s = new FrameShaper("cut", 1500);
  const wrongPartial = stackFrame(pattern(3000), 1448);
  wrongPartial[HDR + 20 + 17] ^= 0x10;
  assert.equal(s.shape(wrongPartial, wrongPartial.length).length, 3, "delivered anyway");
  assert.equal(s.stats.badChecksums, 1);
  assert.match(s.stats.lastProblem, /partial TCP checksum does not complete/);
  // A plain packet (zeroed header) with its checksum completed.
  const [packet] = packetsOfFrame(stackFrame(pattern(100), 1448), HDR + 20 + 32 + 100);
  const complete = new Uint8Array(HDR + packet.length);
  complete.set(packet, HDR);
  assert.equal(frameChecksumProblem(complete, complete.length, newVirtioNetHdr()), "");
  complete[HDR + 60] ^= 1; // a payload byte changed after the checksum
  s.shape(complete, complete.length);
  assert.equal(s.stats.badChecksums, 2);
  assert.match(s.stats.lastProblem, /complete TCP checksum/);
  const badIp = stackFrame(pattern(100), 1448);
  badIp[HDR + 8] = 1; // TTL changed without the header checksum
  s.shape(badIp, badIp.length);
  assert.equal(s.stats.badChecksums, 3);
  assert.match(s.stats.lastProblem, /IPv4 header checksum/);
  const v6 = stackFrame(pattern(3000), 1448);
  v6[1] = VIRTIO_NET_HDR_GSO_TCPV6;
  assert.deepEqual(s.shape(v6, v6.length), []);
  assert.equal(s.stats.badFrames, 1);
  const noSize = stackFrame(pattern(3000), 1448);
  noSize[4] = noSize[5] = 0;
  assert.deepEqual(s.shape(noSize, noSize.length), []);
  assert.equal(s.stats.badFrames, 2);
  const big = stackFrame(pattern(3000), 1449); // 20 + 32 + 1449 bytes: one past the MTU
  assert.deepEqual(s.shape(big, big.length).length, 1, "only the short last piece fits");
  assert.equal(s.stats.oversize, 2);
  const whole = new FrameShaper("partial", 1500);
  assert.deepEqual(whole.shape(big, big.length), []);
  assert.equal(whole.stats.oversize, 1);
});

Deno.test("frames: a plain read of a frame gets complete packets, a super-segment cut", () => {
  const frame = stackFrame(pattern(4000), 1448);
  const packets = packetsOfFrame(frame, frame.length);
  assert.deepEqual(packets.map((p) => p.length), [1500, 1500, 1156]);
  for (const p of packets) assert.ok(checksumsGood(p));
  const small = packetsOfFrame(stackFrame(pattern(10), 1448), 20 + 32 + 10 + HDR);
  assert.equal(small.length, 1);
  assert.ok(checksumsGood(small[0]));
  assert.deepEqual(packetsOfFrame(new Uint8Array(5), 5), [], "a header cut short");
});

// ---- Two stacks over frame memory links, in real time (device loop, sockets) -----------------

function streamBytes(n: number, salt: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + salt + (i >> 8)) & 0xff;
  return b;
}

async function readAll(conn: TcpConn): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const c of conn.readable) parts.push(c);
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

async function writeAll(conn: TcpConn, data: Uint8Array): Promise<void> {
  const w = conn.writable.getWriter();
  for (let o = 0; o < data.length; o += 64 * 1024) await w.write(data.subarray(o, o + 65536));
  await w.close();
}

Deno.test("frames: two stacks over a lossy frame link move 1 MiB both ways in super-segments", async (t) => {
  const cases: [string, FrameDelivery, FrameDelivery, boolean][] = [
    ["whole one way, cut the other", "partial", "cut", false],
    ["marked valid one way, whole the other", "valid", "partial", false],
    ["cut both ways, faults in the stacks' own layer (FaultyLink)", "cut", "cut", true],
  ];
  for (const [name, aToB, bToA, stackFaults] of cases) {
    await t.step(name, async () => {
      const faults: FaultOptions = { seed: 3, loss: 0.03, reorder: 0.01, delayMs: 2 };
      const [la, lb] = createMemoryLinkPair({
        frames: aToB,
        framesBToA: bToA,
        faults: stackFaults ? undefined : faults,
      });
      const a = await openStack({
        tunIp: "10.9.0.1",
        peerIp: "10.9.0.2",
        link: la,
        mslMs: 50,
        faults: stackFaults ? { outbound: faults } : undefined,
      });
      const b = await openStack({ tunIp: "10.9.0.2", peerIp: "10.9.0.1", link: lb, mslMs: 50 });
      try {
        const listener = b.listen({ port: 7001 });
        const accepted = listener.accept();
        const client = await a.connect({ hostname: "10.9.0.2", port: 7001 });
        const server = await accepted;
        const up = streamBytes(1 << 20, 1);
        const down = streamBytes(1 << 20, 2);
        const [gotUp, gotDown] = await Promise.all([
          readAll(server),
          readAll(client),
          writeAll(client, up),
          writeAll(server, down),
        ]);
        assert.ok(gotUp.length === up.length && gotDown.length === down.length);
        assert.deepEqual(gotUp, up);
        assert.deepEqual(gotDown, down);
        listener.close();
        await Promise.all([client.closed, server.closed]);
        const dropped = stackFaults
          ? a.core.link instanceof FaultyLink ? a.core.link.stats.outbound.dropped : 0
          : la.stats.dropped + lb.stats.dropped;
        const retransmissions = client.stats().retransmissions + server.stats().retransmissions;
        // Not asserted: dropped > 0 ⇒ retransmissions > 0. With 64 KiB super-segments a
        // direction moves in a few dozen frames, and the lost ones may all be pure ACKs.
        console.log(`${name}: ${dropped} frames dropped, ${retransmissions} retransmissions`);
        for (const [side, link] of [["a", la], ["b", lb]] as const) {
          const f = link.frameStats!;
          assert.equal(f.badChecksums, 0, `${side}: ${f.lastProblem}`);
          assert.equal(f.badFrames + f.oversize, 0, `${side}: ${f.lastProblem}`);
        }
        assert.ok(a.counters.superSegmentsOut > 0 && b.counters.superSegmentsOut > 0);
        // The stack's own fault layer loses some before the link sees them.
        if (stackFaults) assert.ok(la.frameStats!.superSegments < a.counters.superSegmentsOut);
        else assert.equal(la.frameStats!.superSegments, a.counters.superSegmentsOut);
        // Whole super-segments reach the receiver as such; cut ones as MSS-sized packets.
        assert.equal(b.counters.superSegmentsIn > 0, aToB !== "cut");
        assert.equal(a.counters.superSegmentsIn > 0, bToA !== "cut");
        assert.equal(a.counters.badTcpChecksum + b.counters.badTcpChecksum, 0);
      } finally {
        await Promise.all([a.close(500), b.close(500)]);
      }
    });
  }
});
