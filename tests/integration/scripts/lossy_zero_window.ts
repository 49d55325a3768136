/**
 * Runs INSIDE a fresh network namespace: tcptun connects to a kernel listener and sends
 * `size` bytes (default 8 MiB); the kernel reader takes the first 64 KiB, stops reading for
 * `pauseMs` (default 3000) so that its receive buffer fills and it advertises a zero window,
 * then reads to the end. Prints one JSON line: the zero-window ACKs seen from the kernel, the
 * tcptun connection's counters (zero-window probes), progress during the pause, and both
 * SHA-256 sums.
 * @module
 */

import { openStack } from "../../../src/stack.ts";
import {
  KERNEL_IP,
  kernelDelta,
  kernelTcpCounters,
  kernelToBuffer,
  prepareNamespace,
  randomBytes,
  ResetWatch,
  runScript,
  sendStack,
  sha256Hex,
  within,
} from "./lossy_common.ts";

const PORT = 5002;

await runScript(async () => {
  const size = Number(Deno.args[0] ?? 8 * 1024 * 1024);
  const pauseMs = Number(Deno.args[1] ?? 3000);
  const pauseAfter = 64 * 1024;
  await prepareNamespace();

  // Zero-window advertisements from the kernel, read straight from the packets the stack gets.
  let zeroWindowAcks = 0;
  let firstZeroAt = -1;
  let lastZeroAt = -1;
  const resets = new ResetWatch();
  const stack = await openStack({
    tap: (dir, p, now) => {
      resets.tap(dir, p);
      if (dir !== "in" || p.length < 40 || p[9] !== 6) return;
      const ihl = (p[0] & 0x0f) * 4;
      if (p.length < ihl + 20) return;
      const flags = p[ihl + 13];
      const window = (p[ihl + 14] << 8) | p[ihl + 15];
      if (window === 0 && (flags & 0x10) && !(flags & 0x04)) {
        zeroWindowAcks++;
        if (firstZeroAt < 0) firstZeroAt = now;
        lastZeroAt = now;
      }
    },
  });
  try {
    const before = kernelTcpCounters();
    const kl = Deno.listen({ hostname: KERNEL_IP, port: PORT });
    const accepted = kl.accept();
    const conn = await within(stack.connect({ port: PORT }), 10_000, "connect");
    const k = await within(accepted, 10_000, "accept");
    kl.close();
    resets.track(conn);

    const data = randomBytes(size);
    const t0 = performance.now();
    // Acknowledged bytes when the reader pauses and just before it resumes.
    let ackedAtPause = -1;
    let ackedBeforeResume = -1;
    let probesBeforeResume = -1;
    const watch = (async () => {
      while (conn.stats().bytesSent < pauseAfter) await new Promise((r) => setTimeout(r, 5));
      ackedAtPause = conn.stats().bytesSent;
      await new Promise((r) => setTimeout(r, pauseMs - 100));
      ackedBeforeResume = conn.stats().bytesSent;
      probesBeforeResume = conn.stats().zeroWindowProbes;
    })();
    const [received] = await within(
      Promise.all([kernelToBuffer(k, size, pauseAfter, pauseMs), sendStack(conn, data), watch]),
      60_000,
      "transfer",
    );
    const ms = performance.now() - t0;
    await within(k.closeWrite(), 5_000, "kernel FIN");
    // Our side: read the peer's FIN so the connection can finish.
    for await (const _ of conn.readable) { /* the kernel sends nothing */ }
    k.close();
    let closeError: string | undefined;
    await within(conn.closed, 10_000, "close").catch((e) => {
      closeError = String(e);
    });
    return {
      size,
      pauseMs,
      ms: Math.round(ms),
      received: received.length,
      sha256Sent: await sha256Hex(data),
      sha256Received: await sha256Hex(received),
      zeroWindowAcks,
      zeroWindowSpanMs: Math.round(lastZeroAt - firstZeroAt),
      ackedAtPause,
      ackedBeforeResume,
      probesBeforeResume,
      closeError,
      resets: resets.counts,
      stats: conn.stats(),
      kernel: kernelDelta(before, kernelTcpCounters()),
      stackCounters: stack.counters,
    };
  } finally {
    await stack.close();
  }
});
