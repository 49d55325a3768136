/**
 * Runs INSIDE a fresh network namespace: one impaired bulk transfer between tcptun and the Linux
 * kernel, `size` bytes each way at once over one connection, and prints one JSON line with both
 * directions' SHA-256 sums, goodput, the tcptun connection's counters and the kernel's.
 *
 * Usage: `lossy_transfer.ts <scenario> <bytes> <kernel|tcptun> [offload|no-offload] [pcap-path]`
 * (an extra argument `ipv6` anywhere runs the transfer over IPv6, RFC 8200, instead of IPv4),
 * where scenario is
 * one of `clean`, `loss` (iptables 2 % both ways, plus 2 % inbound loss in the stack's fault
 * layer, because a DROP in the OUTPUT chain is a local send error that Linux retries), `reorder` (stack faults 3 % both ways),
 * `duplicate` (stack faults 2 % both ways), `delay` (stack faults 20 ms each way), `tbf`
 * (tc tbf 20 mbit on the TUN egress), and the third argument names who opens the connection.
 * The fourth turns the TUN offloads (checksum offload, TSO and GSO super-segments) on (the
 * default) or off. With a pcap path, every packet the stack reads or writes is captured there.
 * @module
 */

import { openStack } from "../../../src/stack.ts";
import type { StackOptions } from "../../../src/stack.ts";
import type { TcpConn } from "../../../src/socket.ts";
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
  tbf,
  within,
} from "./lossy_common.ts";

/** The impairments of each scenario. */
const SCENARIOS = ["clean", "loss", "reorder", "duplicate", "delay", "tbf"] as const;
type Scenario = typeof SCENARIOS[number];

const PORT = 5001;

function faultsFor(s: Scenario): StackOptions["faults"] | undefined {
  switch (s) {
    case "reorder":
      return { inbound: { seed: 11, reorder: 0.03 }, outbound: { seed: 12, reorder: 0.03 } };
    case "duplicate":
      return { inbound: { seed: 21, duplicate: 0.02 }, outbound: { seed: 22, duplicate: 0.02 } };
    case "loss":
      // iptables OUTPUT drops are local send errors that Linux retries, never losses of the
      // kernel's data: drop 2 % of what the kernel sends before the stack sees it, too.
      return { inbound: { seed: 41, loss: 0.02 } };
    case "delay":
      return { inbound: { seed: 31, delayMs: 20 }, outbound: { seed: 32, delayMs: 20 } };
    default:
      return undefined;
  }
}

await runScript(async () => {
  const ipv6 = Deno.args.includes("ipv6");
  const args = Deno.args.filter((a) => a !== "ipv6");
  const scenario = args[0] as Scenario;
  if (!SCENARIOS.includes(scenario)) throw new Error(`unknown scenario ${args[0]}`);
  const size = Number(args[1] ?? 20 * 1024 * 1024);
  const initiator = args[2] ?? "kernel";
  if (initiator !== "kernel" && initiator !== "tcptun") throw new Error("initiator?");
  const offloadArg = args[3] ?? "offload";
  if (offloadArg !== "offload" && offloadArg !== "no-offload") throw new Error("offload?");
  const offload = offloadArg === "offload";
  const pcapPath = args[4];
  await prepareNamespace();

  const pcap = pcapPath ? PcapWriter.create(pcapPath) : undefined;
  const base = Date.now() - performance.now();
  const resets = new ResetWatch();
  const stack = await openStack({
    tunIp: STACK_IP,
    offload,
    faults: faultsFor(scenario),
    tap: (dir, packet) => {
      resets.tap(dir, packet);
      pcap?.write(packet, base + performance.now());
    },
  });
  try {
    // Over IPv6 the stack's and the kernel's addresses are the TUN's IPv6 pair.
    const stackHost = ipv6 ? stack.tunIp6 : STACK_IP;
    const kernelHost = ipv6 ? stack.peerIp6 : KERNEL_IP;
    if (!stackHost || !kernelHost) throw new Error(`no IPv6 on the device: ${stack.ipv6Problem}`);
    if (scenario === "loss") await iptablesLoss(stack.ifname, 0.02, ipv6);
    if (scenario === "tbf") await tbf(stack.ifname, "20mbit", "32kbit", "50ms");
    const before = kernelTcpCounters();

    let conn: TcpConn;
    let k: Deno.TcpConn;
    if (initiator === "kernel") {
      const listener = stack.listen({ port: PORT });
      const accepted = listener.accept();
      k = await within(Deno.connect({ hostname: stackHost, port: PORT }), 30_000, "connect");
      conn = await within(accepted, 10_000, "accept");
      listener.close();
      resets.track(conn);
    } else {
      const kl = Deno.listen({ hostname: kernelHost, port: PORT });
      const accepted = kl.accept();
      const connecting = stack.connect({ hostname: kernelHost, port: PORT });
      k = await within(accepted, 30_000, "accept");
      conn = await within(connecting, 10_000, "connect");
      resets.track(conn);
      kl.close();
    }

    const r = await within(bidirectional(conn, k, size), 100_000, "transfer");
    k.close();
    let closeError: string | undefined;
    await within(conn.closed, 10_000, "close").catch((e) => {
      closeError = String(e);
    });
    const stats = conn.stats();
    const drops = scenario === "loss" ? await iptablesDrops(ipv6) : undefined;
    return {
      scenario,
      family: ipv6 ? 6 : 4,
      stackAddr: conn.localAddr,
      kernelAddr: k.localAddr,
      initiator,
      offload,
      size,
      k2t: r.k2t,
      t2k: r.t2k,
      closeError,
      resets: resets.counts,
      stats,
      kernel: kernelDelta(before, kernelTcpCounters()),
      iptablesDrops: drops,
      stackCounters: stack.counters,
      // What the device agreed to (null: plain packets, no virtio-net header).
      frameOffloads: stack.core.link.frameOffloads ?? null,
    };
  } finally {
    await stack.close();
    pcap?.close();
  }
});
