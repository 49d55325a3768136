/**
 * Benchmark worker, run INSIDE a fresh network namespace (`unshare --net`): one bulk transfer
 * between tcptun and the kernel over the TUN device, one way, and one JSON line with the
 * goodput and the retransmission counters of both ends.
 *
 * Usage: `tcptun.ts <k2t|t2k> <bytes> <loss>`. With `loss` > 0 both directions lose that
 * fraction of packets for real: iptables drops what arrives from the TUN device (INPUT), and
 * the stack's inbound fault layer drops what the kernel sent (a DROP in the OUTPUT chain would
 * be a local send error that Linux retries, not a lost packet).
 * @module
 */

import { openStack } from "../../src/stack.ts";
import {
  kernelDelta,
  kernelTcpCounters,
  oneWay,
  prepareNamespace,
  runScript,
  sh,
  STACK_IP,
  within,
} from "../../tests/integration/scripts/lossy_common.ts";

const PORT = 5101;

await runScript(async () => {
  const dir = Deno.args[0];
  if (dir !== "k2t" && dir !== "t2k") throw new Error("usage: tcptun.ts <k2t|t2k> <bytes> <loss>");
  const size = Number(Deno.args[1]);
  const loss = Number(Deno.args[2] ?? 0);
  await prepareNamespace();
  const stack = await openStack({
    tunIp: STACK_IP,
    faults: loss > 0 ? { inbound: { seed: 61, loss } } : undefined,
  });
  try {
    if (loss > 0) {
      await sh(
        "iptables",
        "-w",
        "5",
        "-A",
        "INPUT",
        "-i",
        stack.ifname,
        "-m",
        "statistic",
        "--mode",
        "random",
        "--probability",
        String(loss),
        "-j",
        "DROP",
      );
    }
    const before = kernelTcpCounters();
    const listener = stack.listen({ port: PORT });
    const accepted = listener.accept();
    const k = await within(Deno.connect({ hostname: STACK_IP, port: PORT }), 30_000, "connect");
    const conn = await within(accepted, 10_000, "accept");
    listener.close();
    const r = await within(oneWay(conn, k, size, dir), 100_000, "transfer");
    // Drain the reverse direction's FIN on the sending side.
    if (dir === "k2t") {
      while (await k.read(new Uint8Array(16)) !== null) { /* FIN */ }
    } else {
      for await (const _ of conn.readable) { /* FIN */ }
    }
    k.close();
    await within(conn.closed, 10_000, "close").catch(() => {});
    const s = conn.stats();
    return {
      dir,
      size,
      loss,
      ok: r.received === size && r.sha256Received === r.sha256Sent,
      ms: r.ms,
      mibps: r.mibps,
      tcptun: {
        retransmissions: s.retransmissions,
        fastRetransmits: s.fastRetransmits,
        timeouts: s.timeouts,
      },
      kernelRetransSegs: kernelDelta(before, kernelTcpCounters()).RetransSegs,
    };
  } finally {
    await stack.close();
  }
});
