import assert from "node:assert/strict";
import { createMemoryLinkPair, FaultyLink, type Link } from "./link.ts";
import { emitIpv4, IPPROTO_TCP } from "./wire/ipv4.ts";
import { ACK, emitTcp, newTcpSegment } from "./wire/tcp.ts";
import {
  emitVirtioNetHdr,
  newVirtioNetHdr,
  prepareTcpOffload,
  VIRTIO_NET_HDR_F_DATA_VALID,
  VIRTIO_NET_HDR_F_NEEDS_CSUM,
  VIRTIO_NET_HDR_GSO_TCPV4,
} from "./wire/virtio.ts";

function packet(id: number, len = 40): Uint8Array {
  const p = new Uint8Array(len);
  p[0] = 0x45;
  p[1] = id & 0xff;
  p[2] = id >> 8;
  return p;
}

/** Waits up to `limitMs` for a packet on `link`; returns its id or -1. */
async function readOne(link: Link, limitMs: number): Promise<number> {
  const buf = new Uint8Array(2048);
  const end = performance.now() + limitMs;
  for (let i = 0; i < 1000; i++) {
    const n = link.read(buf);
    if (n > 0) return buf[1] | (buf[2] << 8);
    const left = end - performance.now();
    if (left <= 0) return -1;
    await link.waitReadable(Math.ceil(left));
  }
  return -1;
}

function drain(link: Link): number[] {
  const buf = new Uint8Array(2048);
  const ids: number[] = [];
  for (let i = 0; i < 100_000; i++) {
    if (link.read(buf) === 0) break;
    ids.push(buf[1] | (buf[2] << 8));
  }
  return ids;
}

Deno.test("link: a memory pair carries copies of packets both ways, in order", () => {
  const [a, b] = createMemoryLinkPair({ mtu: 1000 });
  try {
    assert.equal(a.mtu, 1000);
    const buf = new Uint8Array(1000);
    assert.equal(b.read(buf), 0);
    const p = packet(1);
    a.write(p);
    p[1] = 99; // the link took a copy
    a.write(packet(2));
    b.write(packet(3));
    assert.deepEqual(drain(b), [1, 2]);
    assert.deepEqual(drain(a), [3]);
    assert.equal(a.stats.sent, 2);
  } finally {
    a.close();
    b.close();
  }
});

Deno.test("link: a memory link drops packets above the MTU and truncates short reads", () => {
  const [a, b] = createMemoryLinkPair({ mtu: 100 });
  try {
    a.write(new Uint8Array(101));
    assert.equal(a.stats.oversize, 1);
    assert.equal(b.queued, 0);
    a.write(packet(5, 100));
    const small = new Uint8Array(10);
    assert.equal(b.read(small), 10);
    assert.equal(small[1], 5);
  } finally {
    a.close();
    b.close();
  }
});

Deno.test("link: memory waitReadable resolves on timeout, wake, arrival and close", async (t) => {
  const [a, b] = createMemoryLinkPair();
  try {
    await t.step("timeout", async () => {
      const start = performance.now();
      await b.waitReadable(30);
      assert.ok(performance.now() - start >= 25);
    });
    await t.step("zero timeout resolves at once", async () => {
      await b.waitReadable(0);
    });
    await t.step("wake while waiting", async () => {
      const start = performance.now();
      const w = b.waitReadable(-1);
      setTimeout(() => b.wake(), 10);
      await w;
      assert.ok(performance.now() - start < 1000);
    });
    await t.step("wake before waiting makes the next wait resolve at once", async () => {
      b.wake();
      const start = performance.now();
      await b.waitReadable(5000);
      assert.ok(performance.now() - start < 1000);
    });
    await t.step("a packet arriving while waiting", async () => {
      const w = b.waitReadable(5000);
      const start = performance.now();
      a.write(packet(7));
      await w;
      assert.ok(performance.now() - start < 1000);
      assert.deepEqual(drain(b), [7]);
    });
    await t.step("close resolves a pending wait and stops reads and writes", async () => {
      a.write(packet(8));
      const w = a.waitReadable(-1);
      a.close();
      await w;
      b.write(packet(9));
      assert.equal(a.read(new Uint8Array(100)), 0);
      assert.deepEqual(drain(b), [8], "packets already in flight still arrive");
    });
  } finally {
    a.close();
    b.close();
  }
});

Deno.test("link: memory faults delay delivery in real time", async () => {
  const [a, b] = createMemoryLinkPair({ faults: { delayMs: 40 } });
  try {
    const start = performance.now();
    a.write(packet(1));
    assert.equal(b.read(new Uint8Array(100)), 0, "not yet due");
    assert.equal(await readOne(b, 2000), 1);
    const elapsed = performance.now() - start;
    assert.ok(elapsed >= 39 && elapsed < 1500, `elapsed ${elapsed}`);
  } finally {
    a.close();
    b.close();
  }
});

Deno.test("link: memory faults lose packets by seed, each direction independently", () => {
  const [a, b] = createMemoryLinkPair({ faults: { seed: 4, loss: 0.3 } });
  try {
    for (let i = 0; i < 500; i++) {
      a.write(packet(i));
      b.write(packet(i));
    }
    const gotB = drain(b);
    const gotA = drain(a);
    assert.equal(gotB.length, 500 - a.stats.dropped);
    assert.equal(gotA.length, 500 - b.stats.dropped);
    assert.ok(a.stats.dropped > 100 && a.stats.dropped < 200, `${a.stats.dropped}`);
    assert.notDeepEqual(gotA, gotB, "directions draw different streams");
    assert.deepEqual(gotB, [...gotB].sort((x, y) => x - y), "no reordering configured");
  } finally {
    a.close();
    b.close();
  }
});

Deno.test("link: a memory link's queue is bounded", () => {
  const [a, b] = createMemoryLinkPair({ queuePackets: 10 });
  try {
    for (let i = 0; i < 25; i++) a.write(packet(i));
    assert.equal(a.stats.overflow, 15);
    assert.deepEqual(drain(b), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  } finally {
    a.close();
    b.close();
  }
});

Deno.test("link: FaultyLink without faults passes packets straight through", () => {
  const [inner, peer] = createMemoryLinkPair();
  const link = new FaultyLink(inner);
  try {
    link.write(packet(1));
    assert.deepEqual(drain(peer), [1]);
    peer.write(packet(2));
    assert.deepEqual(drain(link), [2]);
    assert.equal(link.mtu, inner.mtu);
  } finally {
    link.close();
    peer.close();
  }
});

Deno.test("link: FaultyLink delays outbound packets with a timer", async () => {
  const [inner, peer] = createMemoryLinkPair();
  const link = new FaultyLink(inner, { outbound: { delayMs: 30 } });
  try {
    const start = performance.now();
    link.write(packet(1));
    link.write(packet(2));
    assert.equal(peer.read(new Uint8Array(100)), 0);
    assert.equal(await readOne(peer, 2000), 1);
    assert.ok(performance.now() - start >= 29);
    assert.equal(await readOne(peer, 2000), 2);
    assert.equal(link.stats.outbound.sent, 2);
  } finally {
    link.close();
    peer.close();
  }
});

Deno.test("link: FaultyLink delays inbound packets and wakes when they are due", async () => {
  const [inner, peer] = createMemoryLinkPair();
  const link = new FaultyLink(inner, { inbound: { delayMs: 30 } });
  try {
    const start = performance.now();
    peer.write(packet(4));
    await link.waitReadable(1000); // the inner link is readable at once
    assert.equal(link.read(new Uint8Array(100)), 0, "held back");
    assert.equal(await readOne(link, 2000), 4);
    const elapsed = performance.now() - start;
    assert.ok(elapsed >= 29 && elapsed < 1500, `elapsed ${elapsed}`);
  } finally {
    link.close();
    peer.close();
  }
});

Deno.test("link: FaultyLink drops and duplicates inbound packets", async () => {
  {
    const [inner, peer] = createMemoryLinkPair();
    const link = new FaultyLink(inner, { inbound: { duplicate: 1 } });
    peer.write(packet(1));
    peer.write(packet(2));
    assert.deepEqual(drain(link), [1, 1, 2, 2]);
    assert.equal(link.stats.inbound.duplicated, 2);
    link.close();
    peer.close();
  }
  {
    const [inner, peer] = createMemoryLinkPair();
    const link = new FaultyLink(inner, { inbound: { loss: 1 } });
    for (let i = 0; i < 100; i++) peer.write(packet(i));
    // One read gives up after a bounded batch of dropped packets; the wait then returns at once.
    assert.deepEqual(drain(link), []);
    assert.ok(link.stats.inbound.dropped < 100);
    const start = performance.now();
    await link.waitReadable(5000);
    assert.ok(performance.now() - start < 1000);
    assert.deepEqual(drain(link), []);
    assert.equal(link.stats.inbound.dropped, 100);
    assert.equal(link.stats.outbound.sent, 0);
    link.close();
    peer.close();
  }
});

Deno.test("link: FaultyLink bounds its queues and close cancels held packets", () => {
  const [inner, peer] = createMemoryLinkPair();
  const link = new FaultyLink(inner, { outbound: { delayMs: 60_000 }, queuePackets: 5 });
  for (let i = 0; i < 12; i++) link.write(packet(i));
  assert.equal(link.stats.outbound.overflow, 7);
  link.close(); // cancels the 60 s timer (the test sanitizer fails otherwise)
  link.write(packet(99));
  assert.deepEqual(drain(peer), []);
  assert.equal(inner.read(new Uint8Array(100)), 0, "inner link closed too");
  peer.close();
});

Deno.test("link: FaultyLink wake and close resolve a pending wait", async () => {
  const [inner, peer] = createMemoryLinkPair();
  const link = new FaultyLink(inner, { inbound: { delayMs: 5 } });
  try {
    const w = link.waitReadable(-1);
    link.wake();
    await w;
    const w2 = link.waitReadable(-1);
    link.close();
    await w2;
  } finally {
    link.close();
    peer.close();
  }
});

/** A frame as a stack with offloads writes it: partial checksum, TSO past `mss`; `id` at [14]. */
function tcpFrame(id: number, payloadLength: number, mss = 1448): Uint8Array {
  const seg = newTcpSegment();
  seg.srcPort = 1;
  seg.dstPort = 2;
  seg.flags = ACK;
  seg.payload = new Uint8Array(payloadLength).fill(id);
  const frame = new Uint8Array(10 + 40 + payloadLength);
  const n = emitTcp(seg, 0x0a000001, 0x0a000002, frame.subarray(30));
  emitIpv4(frame.subarray(10), {
    src: 0x0a000001,
    dst: 0x0a000002,
    protocol: IPPROTO_TCP,
    ttl: 64,
    id,
    payloadLength: n,
  });
  const h = newVirtioNetHdr();
  prepareTcpOffload(frame.subarray(10), 20 + n, 20, mss, h);
  emitVirtioNetHdr(frame, h);
  return frame;
}

/** Every frame readable now: [flags, gso_type, IP length, IP id] each. */
function drainFrames(link: Link): number[][] {
  const buf = new Uint8Array(70_000);
  const out: number[][] = [];
  for (let i = 0; i < 1000; i++) {
    const n = link.readFrame!(buf);
    if (n === 0) break;
    out.push([buf[0], buf[1], n - 10, (buf[14] << 8) | buf[15]]);
  }
  return out;
}

Deno.test("link: a frame memory pair delivers super-segments whole, marked valid, or cut", () => {
  const NEEDS = VIRTIO_NET_HDR_F_NEEDS_CSUM;
  const VALID = VIRTIO_NET_HDR_F_DATA_VALID;
  const TCPV4 = VIRTIO_NET_HDR_GSO_TCPV4;
  const expected = {
    partial: [[NEEDS, TCPV4, 4040, 1], [NEEDS, 0, 140, 2]],
    valid: [[VALID, TCPV4, 4040, 1], [VALID, 0, 140, 2]],
    cut: [[0, 0, 1488, 1], [0, 0, 1488, 2], [0, 0, 1144, 3], [0, 0, 140, 2]],
  } as const;
  for (const delivery of ["partial", "valid", "cut"] as const) {
    const [a, b] = createMemoryLinkPair({ frames: delivery, framesBToA: "cut" });
    try {
      assert.deepEqual(b.frameOffloads, {
        csum: delivery !== "cut",
        tso4: delivery !== "cut",
        tso6: false,
      });
      assert.deepEqual(a.frameOffloads, { csum: false, tso4: false, tso6: false });
      const big = tcpFrame(1, 4000);
      a.writeFrame(big, big.length);
      const small = tcpFrame(2, 100);
      a.writeFrame(small, small.length);
      assert.deepEqual(drainFrames(b), expected[delivery], delivery);
      // A plain read gets what a TUN device without offloads would: packets, cut and complete.
      a.writeFrame(big, big.length);
      const buf = new Uint8Array(2000);
      const lengths = [];
      for (let n; (n = b.read(buf)) > 0;) lengths.push(n);
      assert.deepEqual(lengths, [1488, 1488, 1144]);
      const st = a.frameStats!;
      assert.equal(st.frames, 3);
      assert.equal(st.superSegments, 2);
      assert.equal(st.badChecksums, 0, st.lastProblem);
      assert.equal(st.cut, delivery === "cut" ? 2 : 0);
    } finally {
      a.close();
      b.close();
    }
  }
});

Deno.test("link: a plain memory pair takes frames (cut in software) and gives zeroed headers", () => {
  const [a, b] = createMemoryLinkPair();
  try {
    assert.equal(a.frameOffloads, null);
    assert.equal(a.frameStats, null);
    const big = tcpFrame(1, 3000);
    a.writeFrame(big, big.length);
    assert.deepEqual(drainFrames(b), [[0, 0, 1488, 1], [0, 0, 1488, 2], [0, 0, 144, 3]]);
  } finally {
    a.close();
    b.close();
  }
});

Deno.test("link: FaultyLink over a frame link passes frames through its faults", async () => {
  const [inner, peer] = createMemoryLinkPair({ frames: "partial" });
  const link = new FaultyLink(inner, {
    inbound: { duplicate: 1 },
    outbound: { delayMs: 20 },
  });
  try {
    assert.equal(link.frameOffloads, inner.frameOffloads);
    const big = tcpFrame(1, 4000);
    peer.writeFrame(big, big.length);
    const got = drainFrames(link);
    assert.deepEqual(got, [[1, 1, 4040, 1], [1, 1, 4040, 1]], "one super-segment, duplicated");
    link.writeFrame(big, big.length);
    big.fill(0); // the link keeps its own copy of a held-back frame
    link.write(packet(7, 60)); // plain packets go on as frames with a zeroed header
    assert.deepEqual(drainFrames(peer), []);
    await peer.waitReadable(2000);
    for (let i = 0; i < 100 && peer.queued < 2; i++) await peer.waitReadable(100);
    const out = drainFrames(peer);
    assert.deepEqual(out.map((f) => f.slice(0, 3)), [[1, 1, 4040], [0, 0, 60]]);
    assert.equal(link.stats.outbound.sent, 2);
    assert.equal(link.stats.inbound.duplicated, 1);
  } finally {
    link.close();
    peer.close();
  }
});
