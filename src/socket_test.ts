// Two tcptun stacks joined by an in-memory link, in real time: the whole library (device loop,
// stack, sockets with Web Streams) with no kernel and no root.
import assert from "node:assert/strict";
import { openStack, type TcpStack } from "./stack.ts";
import { createMemoryLinkPair } from "./link.ts";
import type { FaultOptions } from "./fault.ts";
import type { TcpConn } from "./socket.ts";

async function pair(faults?: FaultOptions): Promise<[TcpStack, TcpStack]> {
  const [la, lb] = createMemoryLinkPair({ mtu: 1500, faults });
  const a = await openStack({ tunIp: "10.9.0.1", peerIp: "10.9.0.2", link: la, mslMs: 50 });
  const b = await openStack({ tunIp: "10.9.0.2", peerIp: "10.9.0.1", link: lb, mslMs: 50 });
  return [a, b];
}

function pattern(n: number, salt: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + salt + (i >> 8)) & 0xff;
  return b;
}

async function readAll(conn: TcpConn): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let n = 0;
  for await (const c of conn.readable) {
    parts.push(c);
    n += c.length;
  }
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

async function writeAll(conn: TcpConn, data: Uint8Array, close: boolean): Promise<void> {
  const w = conn.writable.getWriter();
  for (let o = 0; o < data.length; o += 10_000) await w.write(data.subarray(o, o + 10_000));
  if (close) await w.close();
  w.releaseLock();
}

async function both(a: TcpStack, b: TcpStack): Promise<void> {
  await Promise.all([a.close(500), b.close(500)]);
}

Deno.test("stack: connect, transfer both ways and close, over an in-memory link", async (t) => {
  for (const order of ["client-first", "server-first", "simultaneous"] as const) {
    await t.step(order, async () => {
      const [a, b] = await pair();
      const listener = b.listen({ port: 7000 });
      const accepted = listener.accept();
      const client = await a.connect({ hostname: "10.9.0.2", port: 7000 });
      const server = await accepted;
      assert.equal(server.remoteAddr.hostname, "10.9.0.1");
      assert.equal(server.remoteAddr.port, client.localAddr.port);
      const up = pattern(300_000, 1);
      const down = pattern(200_000, 2);
      const gotUp = readAll(server);
      const gotDown = readAll(client);
      if (order === "client-first") {
        await writeAll(client, up, true);
        assert.deepEqual(await gotUp, up);
        await writeAll(server, down, true);
      } else if (order === "server-first") {
        await writeAll(server, down, true);
        assert.deepEqual(await gotDown, down);
        await writeAll(client, up, true);
      } else {
        await Promise.all([writeAll(client, up, true), writeAll(server, down, true)]);
      }
      assert.deepEqual(await gotUp, up);
      assert.deepEqual(await gotDown, down);
      await Promise.all([client.closed, server.closed]);
      assert.equal(client.stats().bytesSent, up.length);
      assert.equal(server.stats().bytesReceived, up.length);
      listener.close();
      await both(a, b);
    });
  }
});

Deno.test("stack: a lossy, reordering in-memory link still delivers every byte", async () => {
  const [a, b] = await pair({ seed: 9, loss: 0.02, reorder: 0.02, duplicate: 0.01, delayMs: 2 });
  const listener = b.listen({ port: 7001 });
  const accepted = listener.accept();
  const client = await a.connect({ hostname: "10.9.0.2", port: 7001 });
  const server = await accepted;
  const data = pattern(500_000, 3);
  const got = readAll(server);
  await writeAll(client, data, true);
  assert.deepEqual(await got, data);
  server.close();
  await client.closed;
  assert.ok(client.stats().retransmissions > 0);
  listener.close();
  await both(a, b);
});

Deno.test("stack: connecting to a port with no listener rejects with ConnectionRefused", async () => {
  const [a, b] = await pair();
  await assert.rejects(
    a.connect({ hostname: "10.9.0.2", port: 9 }),
    Deno.errors.ConnectionRefused,
  );
  assert.ok(b.counters.resetsSent >= 1);
  await both(a, b);
});

Deno.test("stack: MUST-12 abort resets the peer, whose reads fail with ConnectionReset", async () => {
  const [a, b] = await pair();
  const listener = b.listen({ port: 7002 });
  const accepted = listener.accept();
  const client = await a.connect({ hostname: "10.9.0.2", port: 7002 });
  const server = await accepted;
  const reading = readAll(server);
  client.abort();
  await assert.rejects(reading, Deno.errors.ConnectionReset);
  await assert.rejects(server.closed, Deno.errors.ConnectionReset);
  listener.close();
  await both(a, b);
});

Deno.test("stack: a writer is held back by a reader that does not read (backpressure)", async () => {
  const [a, b] = await pair();
  const listener = b.listen({ port: 7003 });
  const accepted = listener.accept();
  const client = await a.connect({ hostname: "10.9.0.2", port: 7003 });
  const server = await accepted;
  const w = client.writable.getWriter();
  const chunk = new Uint8Array(64 * 1024);
  let written = 0;
  const writing = (async () => {
    for (let i = 0; i < 64; i++) {
      await w.write(chunk);
      written += chunk.length;
    }
  })();
  // Wait until the writer stops making progress (bounded), however slow the machine is.
  let last = -1;
  for (let stable = 0, i = 0; stable < 4 && i < 200; i++) {
    await new Promise((r) => setTimeout(r, 25));
    stable = written === last ? stable + 1 : 0;
    last = written;
  }
  // The receive buffer, the window in flight and the send buffer hold a bounded amount.
  assert.ok(written < 4 * 1024 * 1024, `writer got ahead by ${written} bytes`);
  assert.ok(written >= 256 * 1024);
  // Reading drains everything, and the writer finishes.
  let n = 0;
  const reader = server.readable.getReader();
  while (n < 64 * chunk.length) {
    const r = await reader.read();
    if (r.done) break;
    n += r.value.length;
  }
  await writing;
  assert.equal(n, 64 * chunk.length);
  reader.releaseLock();
  w.releaseLock();
  client.abort();
  listener.close();
  await both(a, b);
});

Deno.test("stack: many concurrent connections are demultiplexed by 4-tuple", async () => {
  const [a, b] = await pair();
  const listener = b.listen({ port: 7004 });
  const serving = (async () => {
    for await (const c of listener) c.readable.pipeTo(c.writable).catch(() => {});
  })();
  const one = async (i: number) => {
    const c = await a.connect({ hostname: "10.9.0.2", port: 7004 });
    const data = pattern(20_000 + i, i);
    const got = readAll(c);
    await writeAll(c, data, true);
    assert.deepEqual(await got, data);
  };
  await Promise.all(Array.from({ length: 30 }, (_, i) => one(i)));
  listener.close();
  await serving;
  await both(a, b);
});

Deno.test("stack: listen rejects a port in use and bad ports", async () => {
  const [a, b] = await pair();
  const l = a.listen({ port: 7005 });
  assert.throws(() => a.listen({ port: 7005 }), Deno.errors.AddrInUse);
  assert.throws(() => a.listen({ port: 0 }), RangeError);
  assert.throws(() => a.listen({ port: 70000 }), RangeError);
  l.close();
  await both(a, b);
});

Deno.test("stack: closeWrite during a pending write sends FIN after that write's bytes", async () => {
  const [a, b] = await pair();
  const listener = b.listen({ port: 7006 });
  const accepted = listener.accept();
  const client = await a.connect({ hostname: "10.9.0.2", port: 7006 });
  const server = await accepted;
  const data = pattern(4_000_000, 5);
  const w = client.writable.getWriter();
  const writing = w.write(data); // larger than the buffers: pending until the server reads
  await new Promise((r) => setTimeout(r, 50));
  const closing = client.closeWrite();
  const got = await readAll(server);
  await writing;
  await closing;
  assert.equal(got.length, data.length);
  assert.deepEqual(got, data);
  await assert.rejects(w.write(new Uint8Array(1)), Deno.errors.BrokenPipe);
  w.releaseLock();
  server.close();
  listener.close();
  await both(a, b);
});

Deno.test("stack: a local abort rejects closed and a pending read with ConnectionAborted", async () => {
  const [a, b] = await pair();
  const listener = b.listen({ port: 7007 });
  const accepted = listener.accept();
  const client = await a.connect({ hostname: "10.9.0.2", port: 7007 });
  const server = await accepted;
  const reader = client.readable.getReader();
  const reading = reader.read();
  client.abort();
  await assert.rejects(reading, Deno.errors.ConnectionAborted);
  await assert.rejects(client.closed, Deno.errors.ConnectionAborted);
  await assert.rejects(server.closed, Deno.errors.ConnectionReset);
  listener.close();
  await both(a, b);
});
