/**
 * Scenario (in a fresh namespace): simultaneous close (RFC 9293 §3.6, figure 13). After an
 * exchange of data, the kernel half-closes and the stack half-closes right after, before the
 * kernel's FIN reaches it (inbound packets are delayed by DELAY ms), so each FIN crosses the
 * other: both sides pass through CLOSING. Reports what both sides saw, the FINs as traced on
 * the TUN device, and every RST. Usage: `simultaneous_close.ts [ROUNDS] [DELAY]`.
 * @module
 */

import { openStack } from "../../../src/stack.ts";
import { newIpv4Header, parseIpv4 } from "../../../src/wire/ipv4.ts";
import { FIN, newTcpSegment, parseTcp, RST } from "../../../src/wire/tcp.ts";
import { readExactly, readOutcome, readStream, scenario, within, writeAll } from "./common.ts";

const rounds = Number(Deno.args[0] ?? 3);
const delayMs = Number(Deno.args[1] ?? 100); // wide enough for a loaded machine

interface Fin {
  port: number;
  seq: number;
  ack: number;
}

const ip = newIpv4Header();
const seg = newTcpSegment();
const finsIn: Fin[] = [];
const finsOut: Fin[] = [];
let rstIn = 0;
let rstOut = 0;

function tap(dir: "in" | "out", packet: Uint8Array): void {
  if (parseIpv4(packet, packet.length, ip) !== 0 || ip.protocol !== 6) return;
  if (parseTcp(packet.subarray(ip.ihl, ip.totalLength), ip.src, ip.dst, seg, false) !== 0) return;
  if (seg.flags & RST) {
    if (dir === "in") rstIn++;
    else rstOut++;
  }
  if (seg.flags & FIN) {
    const port = dir === "in" ? seg.srcPort : seg.dstPort;
    (dir === "in" ? finsIn : finsOut).push({ port, seq: seg.seq, ack: seg.ack });
  }
}

await scenario(30_000, async () => {
  const stack = await openStack({
    tunIp: "10.0.0.1",
    mslMs: 100,
    tap,
    faults: { inbound: { delayMs } },
  });
  try {
    const listener = stack.listen({ port: 4444 });
    const outcomes = [];
    for (let i = 0; i < rounds; i++) {
      const k = await within(
        Deno.connect({ hostname: "10.0.0.1", port: 4444 }),
        5000,
        "kernel connect",
      );
      const c = await within(listener.accept(), 5000, "accept");
      const port = k.localAddr.port;
      // Data both ways first, so both sides are settled in ESTABLISHED.
      const w = c.writable.getWriter();
      await w.write(new TextEncoder().encode("ping"));
      const pong = await within(readExactly(k, 4), 5000, "kernel read");
      await writeAll(k, pong);
      const reader = c.readable.getReader();
      let echoed = 0;
      while (echoed < 4) {
        const r = await within(reader.read(), 5000, "stack read");
        if (r.done) throw new Error("early EOF on the stack side");
        echoed += r.value.length;
      }
      reader.releaseLock();
      // Let the pure ACKs of the exchange land before the FINs cross.
      await new Promise((r) => setTimeout(r, 3 * delayMs));

      // The kernel's FIN leaves now; the stack will not see it for `delayMs`.
      await k.closeWrite();
      const stackFin = w.close();
      w.releaseLock();
      const [kernelEnd, stackRest] = await within(
        Promise.all([readOutcome(k), readStream(c.readable)]),
        5000,
        "both EOFs",
      );
      await stackFin;
      let closed = "ok";
      try {
        await within(c.closed, 5000, "stack closed");
      } catch (e) {
        closed = e instanceof Error ? e.name : String(e);
      }
      k.close();
      const finIn = finsIn.find((f) => f.port === port);
      const finOut = finsOut.find((f) => f.port === port);
      // Crossed FINs: neither acknowledges the other (ACK field at or below the other's seq).
      const crossed = finIn !== undefined && finOut !== undefined &&
        ((finOut.ack - finIn.seq) | 0) <= 0 && ((finIn.ack - finOut.seq) | 0) <= 0;
      outcomes.push({
        kernelEnd: kernelEnd.end,
        extraBytes: kernelEnd.extra + stackRest.length,
        closed,
        state: c.stats().state,
        finIn,
        finOut,
        crossed,
      });
    }
    listener.close();
    return { rounds, delayMs, outcomes, rstIn, rstOut, counters: { ...stack.counters } };
  } finally {
    await stack.close();
  }
});
