import assert from "node:assert/strict";
import type { TunDevice } from "./tun.ts";
import { closeQuietly, readFd, writeFd } from "./libc.ts";
import { socketpairTun } from "./_socketpair_tun.ts";

// A TunDevice over a socketpair (see _socketpair_tun.ts): the test plays the kernel. No root.
const linuxOnly = Deno.build.os !== "linux";

function pair(
  framing: "raw" | "utun" = "raw",
  wakeKind?: "eventfd" | "pipe",
): { dev: TunDevice; peer: number } {
  return socketpairTun({ framing, wakeKind });
}

function fdIsOpen(fd: number): boolean {
  try {
    Deno.readLinkSync(`/proc/self/fd/${fd}`);
    return true;
  } catch {
    return false;
  }
}

async function elapsed(p: Promise<void>): Promise<number> {
  const t0 = performance.now();
  await p;
  return performance.now() - t0;
}

const packet = (n: number, first = 0x45) => {
  const p = new Uint8Array(n);
  for (let i = 0; i < n; i++) p[i] = (i * 7 + 3) & 0xff;
  p[0] = first;
  return p;
};

Deno.test({
  name: "tun: raw framing reads and writes whole packets, 0 when none is ready",
  ignore: linuxOnly,
  fn() {
    const { dev, peer } = pair();
    try {
      const buf = new Uint8Array(2000);
      assert.equal(dev.read(buf), 0);
      const p = packet(300);
      assert.equal(writeFd(peer, p, p.length), 300);
      assert.equal(dev.read(buf), 300);
      assert.deepEqual(buf.subarray(0, 300), p);
      assert.equal(dev.read(buf), 0);

      const out = packet(100, 0x46);
      dev.write(out.subarray(10, 60));
      const got = new Uint8Array(200);
      assert.equal(readFd(peer, got, got.length), 50);
      assert.deepEqual(got.subarray(0, 50), out.subarray(10, 60));
      assert.equal(dev.droppedWrites, 0);
      assert.equal(dev.writeErrors, 0);
    } finally {
      dev.close();
      closeQuietly(peer);
    }
  },
});

Deno.test({
  name: "tun: utun framing adds the family header on write, strips it and skips others on read",
  ignore: linuxOnly,
  fn() {
    const { dev, peer } = pair("utun");
    try {
      const buf = new Uint8Array(2000);
      const other = new Uint8Array([0, 0, 0, 17, 0x60, 0, 0, 0]);
      const v6 = new Uint8Array([0, 0, 0, 30, ...packet(48, 0x60)]);
      const v4 = new Uint8Array([0, 0, 0, 2, ...packet(40)]);
      writeFd(peer, other, other.length);
      writeFd(peer, v6, v6.length);
      writeFd(peer, v4, v4.length);
      assert.equal(dev.read(buf), 48);
      assert.deepEqual(buf.subarray(0, 48), packet(48, 0x60));
      assert.equal(dev.read(buf), 40);
      assert.deepEqual(buf.subarray(0, 40), packet(40));
      assert.equal(dev.skippedFrames, 1);

      dev.write(packet(20));
      const got = new Uint8Array(100);
      assert.equal(readFd(peer, got, got.length), 24);
      assert.deepEqual([...got.subarray(0, 4)], [0, 0, 0, 2]);
      assert.deepEqual(got.subarray(4, 24), packet(20));

      dev.write(packet(60, 0x60));
      assert.equal(readFd(peer, got, got.length), 64);
      assert.deepEqual([...got.subarray(0, 4)], [0, 0, 0, 30], "AF_INET6 for version 6");
      assert.deepEqual(got.subarray(4, 64), packet(60, 0x60));
    } finally {
      dev.close();
      closeQuietly(peer);
    }
  },
});

Deno.test({
  name: "tun: utun readFrame and writeFrame carry IPv4 and IPv6, skip other families",
  ignore: linuxOnly,
  fn() {
    const { dev, peer } = pair("utun");
    try {
      const other = new Uint8Array([0, 0, 0, 24, 0x60, 0, 0, 0]);
      const v6 = new Uint8Array([0, 0, 0, 30, ...packet(48, 0x60)]);
      writeFd(peer, other, other.length);
      writeFd(peer, v6, v6.length);
      const buf = new Uint8Array(200).fill(0xee);
      assert.equal(dev.readFrame(buf), 10 + 48);
      assert.deepEqual([...buf.subarray(0, 10)], new Array(10).fill(0), "a zero vnet header");
      assert.deepEqual(buf.subarray(10, 58), packet(48, 0x60));
      assert.equal(dev.skippedFrames, 1);

      const frame = new Uint8Array(10 + 40);
      frame.set(packet(40, 0x60), 10);
      dev.writeFrame(frame);
      const got = new Uint8Array(100);
      assert.equal(readFd(peer, got, got.length), 44);
      assert.deepEqual([...got.subarray(0, 4)], [0, 0, 0, 30]);
      assert.deepEqual(got.subarray(4, 44), packet(40, 0x60));
    } finally {
      dev.close();
      closeQuietly(peer);
    }
  },
});

Deno.test({
  name: "tun: raw framing passes IPv6 packets through both ways, untouched",
  ignore: linuxOnly,
  fn() {
    const { dev, peer } = pair();
    try {
      const v6 = packet(120, 0x60);
      writeFd(peer, v6, v6.length);
      const buf = new Uint8Array(2000);
      assert.equal(dev.read(buf), 120);
      assert.deepEqual(buf.subarray(0, 120), v6);
      dev.write(v6);
      const got = new Uint8Array(200);
      assert.equal(readFd(peer, got, got.length), 120);
      assert.deepEqual(got.subarray(0, 120), v6);
    } finally {
      dev.close();
      closeQuietly(peer);
    }
  },
});

Deno.test({
  name: "tun: waitReadable wakes when a packet arrives, and honours its timeout",
  ignore: linuxOnly,
  async fn() {
    const { dev, peer } = pair();
    try {
      const idle = await elapsed(dev.waitReadable(80));
      assert.ok(idle >= 70, `timed out after ${idle} ms`);

      const p = packet(64);
      const wait = dev.waitReadable(5000);
      const timer = setTimeout(() => writeFd(peer, p, p.length), 30);
      const woke = await elapsed(wait);
      clearTimeout(timer);
      assert.ok(woke >= 20 && woke < 2000, `woke after ${woke} ms`);
      assert.equal(dev.read(new Uint8Array(100)), 64);

      writeFd(peer, p, p.length);
      assert.ok(await elapsed(dev.waitReadable(0)) < 50, "a zero timeout only checks");
      assert.ok(await elapsed(dev.waitReadable(1000)) < 500, "pending packet: resolves at once");
    } finally {
      dev.close();
      closeQuietly(peer);
    }
  },
});

for (const wakeKind of ["eventfd", "pipe"] as const) {
  Deno.test({
    name: `tun: wake() ends a pending wait, or the next one, and is drained (${wakeKind})`,
    ignore: linuxOnly,
    async fn() {
      const { dev, peer } = pair("raw", wakeKind);
      try {
        const wait = dev.waitReadable(-1);
        assert.equal(dev.waitReadable(-1), wait, "concurrent waits share the poll in progress");
        const timer = setTimeout(() => dev.wake(), 30);
        const woke = await elapsed(wait);
        clearTimeout(timer);
        assert.ok(woke >= 20 && woke < 2000, `woke after ${woke} ms`);

        dev.wake();
        dev.wake();
        assert.ok(await elapsed(dev.waitReadable(-1)) < 500, "a wake before the wait ends it");
        assert.ok(await elapsed(dev.waitReadable(60)) >= 50, "both wakes were drained");

        dev.wake();
        await dev.waitReadable(0);
        assert.ok(await elapsed(dev.waitReadable(60)) >= 50, "a zero-timeout check drains too");
      } finally {
        dev.close();
        closeQuietly(peer);
      }
    },
  });
}

Deno.test({
  name: "tun: close() ends a pending wait and closes the fds only after the poll returned",
  ignore: linuxOnly,
  async fn() {
    const { dev, peer } = pair();
    try {
      const fd = dev.fd;
      const wait = dev.waitReadable(-1);
      dev.close();
      assert.ok(fdIsOpen(fd), "still open while the poll thread may use it");
      assert.ok(await elapsed(wait) < 2000);
      assert.ok(!fdIsOpen(fd), "closed once the poll returned");
      assert.ok(dev.closed);
      assert.equal(dev.read(new Uint8Array(10)), 0);
      dev.write(packet(20));
      assert.equal(dev.droppedWrites, 1);
      assert.ok(await elapsed(dev.waitReadable(-1)) < 50);
      dev.wake();
      dev.close();
    } finally {
      closeQuietly(peer);
    }
  },
});

Deno.test({
  name: "tun: close() without a pending wait closes the fds at once",
  ignore: linuxOnly,
  fn() {
    const { dev, peer } = pair();
    const fd = dev.fd;
    dev.close();
    assert.ok(!fdIsOpen(fd));
    closeQuietly(peer);
  },
});

Deno.test({
  name: "tun: a full device drops writes (EAGAIN) and counts them, never throws",
  ignore: linuxOnly,
  fn() {
    const { dev, peer } = pair();
    try {
      const p = packet(1400);
      let sent = 0;
      while (dev.droppedWrites === 0 && sent < 100_000) {
        dev.write(p);
        sent++;
      }
      assert.equal(dev.droppedWrites, 1, `EAGAIN after ${sent} writes`);
      dev.write(p);
      assert.equal(dev.droppedWrites, 2);
      assert.equal(dev.writeErrors, 0);
    } finally {
      dev.close();
      closeQuietly(peer);
    }
  },
});

Deno.test({
  name: "tun: a write error other than EAGAIN/ENOBUFS is counted with its errno name",
  ignore: linuxOnly,
  fn() {
    const { dev, peer } = pair();
    try {
      closeQuietly(peer);
      dev.write(packet(40));
      assert.equal(dev.writeErrors, 1);
      assert.equal(dev.droppedWrites, 0);
      assert.ok(["ECONNREFUSED", "EPIPE", "ENOTCONN"].includes(dev.lastError ?? ""), dev.lastError);
    } finally {
      dev.close();
    }
  },
});
