/**
 * Scenario (in a fresh namespace): connections to closed ports are refused at once, both ways.
 * The kernel connects to a stack port with no listener (the stack answers RST, RFC 9293
 * §3.10.7.1, and the kernel's connect fails with ECONNREFUSED), and the stack connects to a
 * kernel port with no listener (`stack.connect` rejects with `Deno.errors.ConnectionRefused`).
 * "At once" means before any SYN retransmission: the SYNs on the TUN device are counted. Each
 * attempt is bounded by LIMIT ms. Usage: `refused.ts [LIMIT]`.
 * @module
 */

import { openStack } from "../../../src/stack.ts";
import { newIpv4Header, parseIpv4 } from "../../../src/wire/ipv4.ts";
import { ACK, newTcpSegment, parseTcp, SYN } from "../../../src/wire/tcp.ts";
import { scenario, within } from "./common.ts";

const limitMs = Number(Deno.args[0] ?? 5000);
const PORT = 5555;

const ip = newIpv4Header();
const seg = newTcpSegment();
/** SYNs (without ACK) to or from port 5555, by direction. */
const syns = { in: 0, out: 0 };

function tap(dir: "in" | "out", packet: Uint8Array): void {
  if (parseIpv4(packet, packet.length, ip) !== 0 || ip.protocol !== 6) return;
  if (parseTcp(packet.subarray(ip.ihl, ip.totalLength), ip.src, ip.dst, seg, false) !== 0) return;
  if ((seg.flags & (SYN | ACK)) === SYN) {
    if (dir === "in" && seg.dstPort === PORT) syns.in++;
    if (dir === "out" && seg.dstPort === PORT) syns.out++;
  }
}

/** Runs `attempt`, bounded; returns how it ended and how long that took. */
async function outcome(attempt: () => Promise<{ close(): void }>) {
  const t0 = performance.now();
  try {
    const conn = await within(attempt(), limitMs, "connect");
    conn.close();
    return { error: "none (connected)", ms: performance.now() - t0 };
  } catch (e) {
    return {
      error: e instanceof Error ? e.name : String(e),
      refused: e instanceof Deno.errors.ConnectionRefused,
      ms: performance.now() - t0,
    };
  }
}

await scenario(15_000, async () => {
  const stack = await openStack({ tunIp: "10.0.0.1", tap });
  try {
    const listener = stack.listen({ port: 4444 }); // another port is open: it must not matter
    const kernel = await outcome(() => Deno.connect({ hostname: "10.0.0.1", port: PORT }));
    const resetsAfterKernel = stack.counters.resetsSent;
    const stackSide = await outcome(() => stack.connect({ port: PORT }));
    listener.close();
    return {
      limitMs,
      kernel,
      resetsAfterKernel,
      stack: stackSide,
      syns,
      counters: { ...stack.counters },
    };
  } finally {
    await stack.close();
  }
});
