/**
 * Scenario (in a fresh namespace): a SYN flood. The crafter sends exactly RATE spoofed SYNs a
 * second for SECONDS seconds to the stack's listening port, each from a random 10.0.X.Y
 * address (X ≥ 1) and port; the stack's replies to those addresses come back into this
 * namespace's kernel, which has no such address and does not forward, and drops them. Once a
 * second a legitimate kernel client connects (`Deno.connect`) and the application accepts
 * and closes it.
 *
 * Prints each legitimate connect's outcome and time, the kernel's SYN retransmissions (a
 * connect whose first SYN the stack ignored: its SYN-ACK did not come within the kernel's
 * 1 s initial RTO), the stack process's RSS before and after, the SYN-ACKs the stack sent
 * to spoofed addresses per spoofed SYN (sniffed on the device), and the stack's counters.
 * Usage: `hostile_synflood.ts [RATE] [SECONDS]`.
 * @module
 */

import { openStack } from "../../../src/stack.ts";
import { scenario, within } from "./common.ts";
import { Crafter } from "./craft.ts";
import {
  delta,
  deviceStats,
  growth,
  kernelCounters,
  memory,
  prepareHostile,
  sleep,
} from "./hostile_common.ts";

const rate = Number(Deno.args[0] ?? 5000);
const seconds = Number(Deno.args[1] ?? 10);
const PORT = 4444;
const CLOSED_PORT = 9;
const WARMUP_S = 2;

await scenario(40_000, async () => {
  const stack = await openStack({ tunIp: "10.0.0.1" });
  try {
    const iso = await prepareHostile(stack);
    // A legitimate connect gives up after 1 + 2 s of SYN retransmissions (bounded run time).
    Deno.writeTextFileSync("/proc/sys/net/ipv4/tcp_syn_retries", "1");
    const crafter = await Crafter.start({ ifname: stack.ifname, outgoing: false });
    const listener = stack.listen({ port: PORT });
    let accepted = 0;
    const serving = (async () => {
      for await (const c of listener) {
        accepted++;
        c.close();
      }
    })();

    // Warm-up, a control: the same flood for WARMUP_S seconds to a closed port (each SYN
    // draws an RST and leaves no state), so that the RSS measured next starts from a process
    // whose heap has grown to the garbage rate of the input path.
    const memStart = memory();
    const warmup = await crafter.synFlood({ dport: CLOSED_PORT, rate, seconds: WARMUP_S, seed: 2 });
    const sniff0 = await crafter.counters();
    const kernel0 = kernelCounters();
    const dev0 = await deviceStats(stack.ifname);
    const memBefore = memory();

    const flood = crafter.synFlood({ dport: PORT, rate, seconds, seed: 1 });
    const t0 = performance.now();
    const legit = Array.from({ length: Math.floor(seconds) }, async (_, i) => {
      await sleep(Math.max(0, t0 + i * 1000 + 500 - performance.now()));
      const start = performance.now();
      try {
        const k = await Deno.connect({
          hostname: "10.0.0.1",
          port: PORT,
          signal: AbortSignal.timeout(4000),
        });
        const ms = performance.now() - start;
        k.close();
        return { ok: true, ms: Math.round(ms * 10) / 10, atMs: Math.round(start - t0) };
      } catch (e) {
        return {
          ok: false,
          ms: Math.round((performance.now() - start) * 10) / 10,
          atMs: Math.round(start - t0),
          error: e instanceof Error ? e.name : String(e),
        };
      }
    });
    const floodResult = await flood;
    const memAfterFlood = memory();
    const connectionsAfterFlood = stack.core.connectionCount;
    const connects = await within(Promise.all(legit), 10_000, "legitimate connects");
    await crafter.sleep(1000); // SYN-ACKs still on their way
    const sniff1 = await crafter.counters();
    const memAfter = memory();
    const kernel = delta(kernel0, kernelCounters(), [
      "TCPSynRetrans",
      "ActiveOpens",
      "AttemptFails",
    ]);
    const dev1 = await deviceStats(stack.ifname);
    const counters = { ...stack.counters };
    await crafter.close();
    listener.close();
    await serving;
    const synAcksToSpoofed = (sniff1.counters["other:synack"] ?? 0) -
      (sniff0.counters["other:synack"] ?? 0);
    return {
      isolation: iso,
      rate,
      seconds,
      flood: floodResult,
      connects,
      legitOk: connects.filter((c) => c.ok).length,
      accepted,
      kernel,
      warmup: {
        ...warmup,
        growth: growth(memStart, memBefore),
      },
      memBefore,
      memAfterFlood,
      memAfter,
      growth: growth(memBefore, memAfterFlood),
      synAcksToSpoofed,
      synAcksPerSpoofedSyn: synAcksToSpoofed / floodResult.sent,
      rstsToSpoofed: (sniff1.counters["other:rst"] ?? 0) - (sniff0.counters["other:rst"] ?? 0),
      connectionsAfterFlood,
      counters,
      device: {
        txDropped: dev1.tx_dropped - dev0.tx_dropped,
        txPackets: dev1.tx_packets - dev0.tx_packets,
      },
      sniffDrops: sniff1.sniffDrops,
    };
  } finally {
    await stack.close(500);
  }
});
