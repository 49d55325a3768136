/**
 * Scenario (in a fresh namespace): challenge-ACK rate limiting (RFC 5961 §7). The crafter
 * opens its own connection, then within DURATION_MS sends COUNT segments the stack must not
 * accept, chosen by MODE:
 *
 * - `rst`: RSTs in the receive window but not at RCV.NXT (RCV.NXT+1, +2, ...): each would
 *          draw a challenge ACK (RFC 5961 §3.2), which §7 says to rate-limit;
 * - `oow`: 1-byte data segments far beyond the window (RCV.NXT + 2^30 + k): each would draw
 *          a duplicate ACK (RFC 9293 §3.10.7.4), which Linux rate-limits per socket
 *          (tcp_invalid_ratelimit, 500 ms).
 *
 * Counts the ACKs the stack sends on that connection from the first injected segment until
 * GRACE_MS after the last, then checks the connection survived: one valid data segment must
 * be acknowledged and delivered. Prints the counts, the connection's state and stats.
 * Usage: `hostile_challenge_ack.ts rst|oow [COUNT] [DURATION_MS]`.
 * @module
 */

import { openStack } from "../../../src/stack.ts";
import { scenario, within } from "./common.ts";
import { Crafter, type FlowSeen, seqAdd } from "./craft.ts";
import { CRAFT_PORT_FIRST, prepareHostile } from "./hostile_common.ts";

const mode = Deno.args[0] ?? "rst";
if (mode !== "rst" && mode !== "oow") throw new Error(`unknown mode ${mode}`);
const count = Number(Deno.args[1] ?? 2000);
const durationMs = Number(Deno.args[2] ?? 1000);
const GRACE_MS = 500;
const PORT = 4447;

function fromStack(before: FlowSeen, after: FlowSeen, kind: string): number {
  return (after.fromStack.kinds[kind] ?? 0) - (before.fromStack.kinds[kind] ?? 0);
}

await scenario(40_000, async () => {
  const stack = await openStack({ tunIp: "10.0.0.1" });
  try {
    const iso = await prepareHostile(stack);
    const crafter = await Crafter.start({ ifname: stack.ifname, outgoing: false });
    const listener = stack.listen({ port: PORT });
    const key = { peerPort: CRAFT_PORT_FIRST + (mode === "rst" ? 2 : 3), stackPort: PORT };
    const accepting = listener.accept();
    const hs = await crafter.handshake({ ...key, mss: 1460, wscale: 7, timestamps: false });
    const conn = await within(accepting, 5000, "accept");
    const reader = conn.readable.getReader();
    await crafter.sleep(100);
    const before = await crafter.flow(key);
    const seg = mode === "rst"
      ? { sport: key.peerPort, dport: PORT, seq: seqAdd(hs.sndNxt, 1), flags: "R", win: 0 }
      : {
        sport: key.peerPort,
        dport: PORT,
        seq: seqAdd(hs.sndNxt, 0x40000000),
        ack: hs.rcvNxt,
        flags: "PA",
        win: 1024,
        payloadLen: 1,
      };
    const burst = await crafter.burst(seg, count, { seqStep: 1, durationMs });
    await crafter.sleep(GRACE_MS);
    const after = await crafter.flow(key);
    const acks = fromStack(before, after, "ack");
    const stateAfterBurst = conn.stats().state;

    // Still alive? One valid segment at RCV.NXT must be acknowledged and delivered.
    const hello = new TextEncoder().encode("hello");
    await crafter.send([{
      sport: key.peerPort,
      dport: PORT,
      seq: hs.sndNxt,
      ack: hs.rcvNxt,
      flags: "PA",
      win: 1024,
      payload: Array.from(hello, (b) => b.toString(16).padStart(2, "0")).join(""),
    }]);
    let delivered = "";
    try {
      const r = await within(reader.read(), 2000, "delivery after the burst");
      delivered = r.value ? new TextDecoder().decode(r.value) : "(end of stream)";
    } catch (e) {
      delivered = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    }
    await crafter.sleep(100);
    const last = await crafter.flow(key);
    const spanMs = burst.elapsedMs + GRACE_MS;
    const stats = conn.stats();
    const counters = { ...stack.counters };
    await crafter.close();
    conn.abort();
    return {
      isolation: iso,
      mode,
      count,
      burst,
      spanMs,
      acks,
      acksPerSecond: Math.round(acks / (spanMs / 1000) * 10) / 10,
      rstsFromStack: fromStack(before, after, "rst"),
      stateAfterBurst,
      delivered,
      helloAcked: last.fromStack.ack === seqAdd(hs.sndNxt, hello.length),
      stats,
      counters,
    };
  } finally {
    await stack.close(500);
  }
});
