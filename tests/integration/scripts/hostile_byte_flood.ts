/**
 * Scenario (in a fresh namespace): a 1-byte flood. For each phase, the crafter opens its own
 * connection to a listener and sends COUNT in-order, in-window segments of one byte each, as
 * fast as the stack acknowledges them (at most MAX_IN_FLIGHT unacknowledged, never past the
 * advertised window, lost ones sent again), for at most SECONDS. The stack's receive buffer
 * is 1 MiB.
 *
 * Phases (PHASES, comma-separated, run in order on fresh connections):
 * - `read`: the application reads and drops everything. A control: the stack holds nothing,
 *   so the RSS growth it shows is the per-segment garbage of the code path (V8 grows its
 *   young generation to match), which also warms the process up for the next phase;
 * - `never-read`: the application accepts and never reads. Whatever the stack keeps per
 *   segment, it must not hold much more than the buffer (Linux charges each segment's
 *   overhead to the buffer and collapses small segments).
 *
 * Prints, per phase, the stream's outcome (segments sent and acknowledged, window stalls),
 * the connection's stats, and the process's memory before and after.
 * Usage: `hostile_byte_flood.ts [COUNT] [SECONDS] [PHASES]`.
 * @module
 */

import { openStack } from "../../../src/stack.ts";
import { scenario, within } from "./common.ts";
import { Crafter } from "./craft.ts";
import {
  CRAFT_PORT_FIRST,
  deviceStats,
  growth,
  memory,
  prepareHostile,
  sleep,
} from "./hostile_common.ts";

const count = Number(Deno.args[0] ?? 300_000);
const seconds = Number(Deno.args[1] ?? 15);
const phases = (Deno.args[2] ?? "read,never-read").split(",");
const RECV_BUFFER = 1 << 20;
const MAX_IN_FLIGHT = 2048;
const PORT = 4446;

await scenario(40_000, async () => {
  const stack = await openStack({
    tunIp: "10.0.0.1",
    connection: { recvBufferSize: RECV_BUFFER },
  });
  try {
    const iso = await prepareHostile(stack);
    const crafter = await Crafter.start({ ifname: stack.ifname, outgoing: false });
    const listener = stack.listen({ port: PORT });
    const results = [];
    for (const [i, app] of phases.entries()) {
      if (app !== "read" && app !== "never-read") throw new Error(`unknown phase ${app}`);
      const key = { peerPort: CRAFT_PORT_FIRST + 10 + i, stackPort: PORT };
      const accepting = listener.accept();
      const hs = await crafter.handshake({ ...key, mss: 1460, wscale: 7, timestamps: false });
      const conn = await within(accepting, 5000, "accept");
      const reading = app === "read"
        ? conn.readable.pipeTo(new WritableStream()).catch(() => {})
        : null;
      await sleep(200);
      const dev0 = await deviceStats(stack.ifname);
      const memBefore = memory();
      const stream = await crafter.stream({
        ...key,
        seq: hs.sndNxt,
        ack: hs.rcvNxt,
        count,
        size: 1,
        maxInFlight: MAX_IN_FLIGHT,
        wscale: hs.synAck.wscale ?? 0,
        seconds,
        stallMs: 2000,
      });
      const memAfter = memory();
      const dev1 = await deviceStats(stack.ifname);
      const stats = conn.stats();
      results.push({
        app,
        stream,
        stats,
        memBefore,
        memAfter,
        growth: growth(memBefore, memAfter),
        device: {
          txDropped: dev1.tx_dropped - dev0.tx_dropped,
          txPackets: dev1.tx_packets - dev0.tx_packets,
        },
      });
      // The never-read connection stays open (its data held) until the end.
      if (app === "read") {
        conn.abort();
        await reading;
      }
    }
    const counters = { ...stack.counters };
    await crafter.close();
    return {
      isolation: iso,
      count,
      recvBufferSize: RECV_BUFFER,
      phases: results,
      counters,
    };
  } finally {
    await stack.close(500);
  }
});
