/**
 * Scenario (in a fresh namespace): a listener whose application never accepts, with a
 * backlog of BACKLOG, meets CYCLES kernel connections that each complete the handshake and
 * are at once reset (the crafter's `connect-rst`: `SO_LINGER` (1, 0), then close). Linux
 * bounds its accept queue by the backlog whatever becomes of the queued connections; so must
 * the stack: afterwards it may hold at most BACKLOG connections for that listener, and its
 * memory must stay flat.
 *
 * Prints the cycles' outcome, the stack's connection count and counters, the process's RSS
 * before and after, and how many connections the listener still hands out when finally
 * asked (`accept()` until it has none ready), with their states.
 * Usage: `hostile_accept_queue.ts [CYCLES] [BACKLOG]`.
 * @module
 */

import { openStack } from "../../../src/stack.ts";
import type { TcpConn } from "../../../src/socket.ts";
import { scenario, within } from "./common.ts";
import { connectRst } from "./craft.ts";
import { growth, memory, prepareHostile, sleep } from "./hostile_common.ts";

const cycles = Number(Deno.args[0] ?? 3000);
const backlog = Number(Deno.args[1] ?? 8);
const PORT = 4445;
const WARMUP_PORT = 4446;
const WARMUP_CYCLES = 1000;

await scenario(40_000, async () => {
  const stack = await openStack({ tunIp: "10.0.0.1" });
  try {
    const iso = await prepareHostile(stack);
    // Warm-up, a control: the same cycles against a listener that accepts and closes, so
    // that the RSS measured next starts from a process warmed up by the same code path.
    const open = stack.listen({ port: WARMUP_PORT });
    const serving = (async () => {
      for await (const c of open) c.close();
    })();
    const memStart = memory();
    const warmup = await connectRst({ port: WARMUP_PORT, count: WARMUP_CYCLES, seconds: 10 });
    await sleep(200);
    open.close();
    await serving;
    const listener = stack.listen({ port: PORT, backlog });
    const memBefore = memory();
    const run = await connectRst({ port: PORT, count: cycles, seconds: 25 });
    await sleep(500); // the last RSTs
    const memAfter = memory();
    const connectionCount = stack.core.connectionCount;
    const counters = { ...stack.counters };
    // What the listener still holds: every connection accept() hands out without waiting.
    const states: Record<string, number> = {};
    let held = 0;
    for (let i = 0; i < cycles + backlog + 10; i++) {
      let c: TcpConn;
      try {
        c = await within(listener.accept(), 200, "accept");
      } catch {
        break;
      }
      held++;
      const s = c.stats().state;
      states[s] = (states[s] ?? 0) + 1;
      c.close();
    }
    listener.close();
    return {
      isolation: iso,
      cycles,
      backlog,
      warmup: {
        ...warmup,
        growth: growth(memStart, memBefore),
      },
      run,
      connectionCount,
      held,
      heldStates: states,
      memBefore,
      memAfter,
      growth: growth(memBefore, memAfter),
      counters,
    };
  } finally {
    await stack.close(500);
  }
});
