import assert from "node:assert/strict";
import { echoRoundTrip } from "./echo_check.ts";

// Loopback servers stand in for `tcptun listen --echo`: one echoes faithfully, one loses a
// byte, one sends an extra byte. The smoke test's client must tell them apart.

async function withServer(
  serve: (c: Deno.Conn) => Promise<void>,
  fn: (port: number) => Promise<void>,
): Promise<void> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const served: Promise<void>[] = [];
  const accepting = (async () => {
    for await (const c of listener) {
      served.push(serve(c).finally(() => c.close()));
    }
  })();
  try {
    await fn(listener.addr.port);
  } finally {
    listener.close();
    await accepting;
    await Promise.all(served);
  }
}

/** Reads to EOF, then writes back `transform` of what came. */
function server(transform: (b: Uint8Array) => Uint8Array) {
  return async (c: Deno.Conn) => {
    const chunks: Uint8Array[] = [];
    const buf = new Uint8Array(65536);
    for (let n = await c.read(buf); n !== null; n = await c.read(buf)) chunks.push(buf.slice(0, n));
    const all = new Uint8Array(chunks.reduce((n, x) => n + x.length, 0));
    let off = 0;
    for (const x of chunks) all.set(x, (off += x.length) - x.length);
    const out = transform(all);
    for (let o = 0; o < out.length;) o += await c.write(out.subarray(o));
  };
}

const data = new Uint8Array(200_000).map((_, i) => (i * 7 + 3) & 0xff);

Deno.test("echo_check: a faithful echo comes back whole and in order", async () => {
  await withServer(server((b) => b), async (port) => {
    const back = await echoRoundTrip("127.0.0.1", port, data);
    assert.deepEqual(back, data);
  });
});

Deno.test("echo_check: a short echo is returned short", async () => {
  await withServer(server((b) => b.subarray(1)), async (port) => {
    const back = await echoRoundTrip("127.0.0.1", port, data);
    assert.equal(back.length, data.length - 1);
  });
});

Deno.test("echo_check: bytes beyond the sent length are an error", async () => {
  const extra = (b: Uint8Array) => {
    const out = new Uint8Array(b.length + 1);
    out.set(b);
    return out;
  };
  await withServer(server(extra), async (port) => {
    await assert.rejects(echoRoundTrip("127.0.0.1", port, data), /more than 200000 bytes/);
  });
});
