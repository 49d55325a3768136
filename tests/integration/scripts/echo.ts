/**
 * Scenario (in a fresh namespace): the stack echoes; COUNT kernel clients connect at once,
 * each sends SIZE random bytes and half-closes, reads the echo to EOF and compares SHA-256
 * digests. Usage: `echo.ts SIZE [COUNT]`.
 * @module
 */

import { openStack } from "../../../src/stack.ts";
import type { TcpConn } from "../../../src/socket.ts";
import {
  closeQuietly,
  randomBytes,
  readToEnd,
  scenario,
  sha256,
  within,
  writeAll,
} from "./common.ts";

const size = Number(Deno.args[0] ?? 1 << 20);
const count = Number(Deno.args[1] ?? 1);

await scenario(40_000, async () => {
  const stack = await openStack({ tunIp: "10.0.0.1" });
  try {
    const listener = stack.listen({ port: 4444 });
    const served: Promise<{ closed: string; state: string }>[] = [];
    const serving = (async () => {
      for await (const c of listener) served.push(echo(c));
    })();

    const t0 = performance.now();
    const clients = Array.from({ length: count }, async (_, i) => {
      const data = randomBytes(size);
      const k = await within(
        Deno.connect({ hostname: "10.0.0.1", port: 4444 }),
        10_000,
        `client ${i} connect`,
      );
      try {
        const sending = writeAll(k, data).then(() => k.closeWrite());
        const got = await readToEnd(k);
        await sending;
        const [sent, echoed] = await Promise.all([sha256(data), sha256(got)]);
        return { sent, echoed, bytes: got.length };
      } finally {
        closeQuietly(k);
      }
    });
    const results = await within(Promise.all(clients), 30_000, "echo clients");
    const ms = performance.now() - t0;
    const servers = await within(Promise.all(served), 10_000, "stack side closed");
    listener.close();
    await serving;
    return {
      size,
      count,
      ms,
      mibPerSecond: (size * count) / 1048576 / (ms / 1000),
      mismatches: results.filter((r) => r.sent !== r.echoed).length,
      bytes: results.map((r) => r.bytes),
      servers,
      counters: { ...stack.counters },
    };
  } finally {
    await stack.close();
  }
});

/** Echoes one connection; reports how `closed` settled. */
async function echo(c: TcpConn): Promise<{ closed: string; state: string }> {
  let closed = "ok";
  try {
    await c.readable.pipeTo(c.writable);
    await c.closed;
  } catch (e) {
    closed = e instanceof Error ? e.name : String(e);
  }
  return { closed, state: c.stats().state };
}
