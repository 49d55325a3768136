/**
 * Scenario (in a fresh namespace): the kernel connects to the stack's listener with
 * `Deno.connect`, several times; reports the addresses both sides see and the time each
 * handshake took. Usage: `handshake.ts [COUNT]`.
 * @module
 */

import { openStack } from "../../../src/stack.ts";
import { readOutcome, readStream, scenario, within } from "./common.ts";

const count = Number(Deno.args[0] ?? 5);

await scenario(20_000, async () => {
  const stack = await openStack({ tunIp: "10.0.0.1" });
  try {
    const listener = stack.listen({ port: 4444 });
    const handshakeMs: number[] = [];
    const seen: Record<string, unknown>[] = [];
    for (let i = 0; i < count; i++) {
      const t0 = performance.now();
      const k = await within(
        Deno.connect({ hostname: "10.0.0.1", port: 4444 }),
        5000,
        "kernel connect",
      );
      handshakeMs.push(performance.now() - t0);
      const c = await within(listener.accept(), 5000, "accept");
      const state = c.stats().state;
      // Clean teardown: the kernel closes, the stack sees EOF and closes too.
      await k.closeWrite();
      const rest = await within(readStream(c.readable), 5000, "stack EOF");
      c.close();
      const kernelEnd = await within(readOutcome(k), 5000, "kernel EOF");
      k.close();
      await within(c.closed, 5000, "stack closed");
      seen.push({
        state,
        stackRemote: c.remoteAddr,
        stackLocal: c.localAddr,
        kernelLocal: k.localAddr,
        kernelRemote: k.remoteAddr,
        extraBytes: rest.length + kernelEnd.extra,
        kernelEnd: kernelEnd.end,
      });
    }
    listener.close();
    const sorted = [...handshakeMs].sort((a, b) => a - b);
    return {
      ifname: stack.ifname,
      peerIp: stack.peerIp,
      handshakeMs,
      medianMs: sorted[Math.floor(sorted.length / 2)],
      connections: seen,
      counters: { ...stack.counters },
    };
  } finally {
    await stack.close();
  }
});
