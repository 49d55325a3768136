/**
 * Test helper: a real connection trace from a lossy transfer between two stacks over an
 * in-memory link (no root, no device), for the report's tests.
 * @module
 */

import { openStack } from "../stack.ts";
import { createMemoryLinkPair } from "../link.ts";
import { TraceFile } from "../trace_file.ts";
import type { FaultOptions } from "../fault.ts";

/** What `writeLossyTrace` transfers and how. */
export interface LossyTraceOptions {
  /** Bytes the client sends (default 400,000). */
  bytes?: number;
  /** Bytes the server sends back after the client's data (default 0). */
  replyBytes?: number;
  /** Faults on each direction (default: 3 % loss, some reordering and duplication, 2 ms). */
  faults?: FaultOptions;
}

/**
 * Runs one transfer from a client stack to a server stack over a faulty memory link and
 * writes the client stack's trace to `path`. Resolves once both ends have closed.
 */
export async function writeLossyTrace(
  path: string,
  opts: LossyTraceOptions = {},
): Promise<void> {
  const bytes = opts.bytes ?? 400_000;
  const replyBytes = opts.replyBytes ?? 0;
  const faults = opts.faults ??
    { seed: 5, loss: 0.03, reorder: 0.02, duplicate: 0.01, delayMs: 2 };
  const trace = TraceFile.create(path);
  const [la, lb] = createMemoryLinkPair({ mtu: 1500, faults });
  const a = await openStack({
    tunIp: "10.9.0.1",
    peerIp: "10.9.0.2",
    link: la,
    mslMs: 50,
    trace: trace.sink,
  });
  const b = await openStack({ tunIp: "10.9.0.2", peerIp: "10.9.0.1", link: lb, mslMs: 50 });
  try {
    const listener = b.listen({ port: 7000 });
    const accepted = listener.accept();
    const client = await a.connect({ hostname: "10.9.0.2", port: 7000 });
    const server = await accepted;
    const drain = async (conn: { read(p: Uint8Array): Promise<number | null> }) => {
      let n = 0;
      const buf = new Uint8Array(65536);
      for (;;) {
        const k = await conn.read(buf);
        if (k === null) return n;
        n += k;
      }
    };
    const send = async (conn: { write(p: Uint8Array): Promise<number> }, n: number) => {
      const chunk = new Uint8Array(65536).map((_, i) => i * 7);
      for (let off = 0; off < n;) {
        off += await conn.write(chunk.subarray(0, Math.min(chunk.length, n - off)));
      }
    };
    const serverGot = drain(server);
    const clientGot = drain(client);
    await send(client, bytes);
    await client.closeWrite();
    if (await serverGot !== bytes) throw new Error("server: short read");
    await send(server, replyBytes);
    await server.closeWrite();
    if (await clientGot !== replyBytes) throw new Error("client: short read");
    await client.closed;
    listener.close();
  } finally {
    await Promise.all([a.close(500), b.close(500)]);
    trace.close();
  }
}

if (import.meta.main) {
  const [path, mib] = Deno.args;
  const t0 = performance.now();
  await writeLossyTrace(path ?? "/tmp/lossy.jsonl", {
    bytes: Math.round(Number(mib ?? 20) * 1024 * 1024),
    replyBytes: 100_000,
    faults: {
      seed: 9,
      loss: 0.01,
      reorder: 0.005,
      delayMs: 5,
      bandwidthBps: 40e6,
      queueBytes: 256 * 1024,
    },
  });
  console.log(`done in ${(performance.now() - t0).toFixed(0)} ms`);
}
