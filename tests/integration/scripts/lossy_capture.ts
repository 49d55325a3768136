/**
 * Runs INSIDE a fresh network namespace: a lossy session captured to a pcap file for tshark.
 *
 * Two connections at once, one opened by the kernel and one by tcptun, each moving `size`
 * random bytes (default 8 MiB) both ways under 2 % iptables loss on the TUN device both ways
 * plus 2 % inbound loss in the stack's fault layer (an OUTPUT-chain DROP is a local send error
 * that Linux retries, not a lost packet). The capture is taken by the stack's `tap`, so it
 * holds exactly what the stack sent and what it received.
 *
 * Usage: `lossy_capture.ts <pcap-path> [bytes]`. Prints one JSON line with both connections'
 * hashes and counters.
 * @module
 */

import { openStack } from "../../../src/stack.ts";
import { PcapWriter } from "../../../src/pcap.ts";
import {
  bidirectional,
  iptablesDrops,
  iptablesLoss,
  KERNEL_IP,
  kernelDelta,
  kernelTcpCounters,
  prepareNamespace,
  ResetWatch,
  runScript,
  STACK_IP,
  within,
} from "./lossy_common.ts";

const PORT_IN = 5003; // kernel → tcptun listener
const PORT_OUT = 5004; // tcptun → kernel listener

await runScript(async () => {
  const pcapPath = Deno.args[0];
  if (!pcapPath) throw new Error("usage: lossy_capture.ts <pcap-path> [bytes]");
  const size = Number(Deno.args[1] ?? 8 * 1024 * 1024);
  await prepareNamespace();

  const pcap = PcapWriter.create(pcapPath);
  const base = Date.now() - performance.now();
  const resets = new ResetWatch();
  const stack = await openStack({
    tunIp: STACK_IP,
    faults: { inbound: { seed: 51, loss: 0.02 } },
    tap: (dir, packet) => {
      resets.tap(dir, packet);
      pcap.write(packet, base + performance.now());
    },
  });
  try {
    await iptablesLoss(stack.ifname, 0.02);
    const before = kernelTcpCounters();

    const listener = stack.listen({ port: PORT_IN });
    const kl = Deno.listen({ hostname: KERNEL_IP, port: PORT_OUT });
    const accepted = listener.accept();
    const kAccepted = kl.accept();
    const [k1, c2] = await within(
      Promise.all([
        Deno.connect({ hostname: STACK_IP, port: PORT_IN }),
        stack.connect({ port: PORT_OUT }),
      ]),
      30_000,
      "connect",
    );
    const [c1, k2] = await within(Promise.all([accepted, kAccepted]), 10_000, "accept");
    resets.track(c1);
    resets.track(c2);
    listener.close();
    kl.close();

    const [r1, r2] = await within(
      Promise.all([bidirectional(c1, k1, size), bidirectional(c2, k2, size)]),
      100_000,
      "transfer",
    );
    k1.close();
    k2.close();
    const closeErrors: string[] = [];
    for (const c of [c1, c2]) {
      await within(c.closed, 10_000, "close").catch((e) => closeErrors.push(String(e)));
    }
    return {
      size,
      kernelOpened: { ...r1, stats: c1.stats() },
      tcptunOpened: { ...r2, stats: c2.stats() },
      closeErrors,
      resets: resets.counts,
      kernel: kernelDelta(before, kernelTcpCounters()),
      iptablesDrops: await iptablesDrops(),
      stackCounters: stack.counters,
      packets: pcap.packets,
    };
  } finally {
    await stack.close();
    pcap.close();
  }
});
