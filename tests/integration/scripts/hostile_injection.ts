/**
 * Scenario (in a fresh namespace): blind injection into a live kernel connection. The kernel
 * connects to the stack with `Deno.connect`; the crafter learns the real 4-tuple, sequence
 * numbers and timestamps by sniffing a warm-up exchange, then spoofs one segment as the
 * kernel, chosen by MODE:
 *
 * - `ts`:  an old duplicate ACK (SEG.SEQ below RCV.NXT) whose TSval is 2^31−1 ahead of the
 *          kernel's. RFC 7323 §4.3: TS.Recent follows only segments at or below
 *          Last.ACK.sent that are acceptable; an unacceptable segment must not move it, or
 *          PAWS (§5.3) then drops every real segment of the kernel.
 * - `ack`: while the stack sends to the kernel and the kernel's ACKs are held back (an
 *          iptables drop), an old-sequence ACK that acknowledges SND.UNA + 8000, bytes the
 *          kernel never received. RFC 9293 §3.10.7.4: an unacceptable segment is answered
 *          with an ACK and dropped, its ACK field unused (RFC 5961 §5 bounds even acceptable
 *          ones).
 * - `rst`: an RST in the window but not at RCV.NXT (RFC 5961 §3.2: challenge ACK only).
 * - `syn`: a SYN in the window (RFC 5961 §4.2: challenge ACK only).
 *
 * Then the connection must still move 1 MiB each way intact. Prints what the stack sent in
 * reply to the injection, the transfer's outcome, stats and counters.
 * Usage: `hostile_injection.ts ts|ack|rst|syn`.
 * @module
 */

import { openStack } from "../../../src/stack.ts";
import { scenario, within } from "./common.ts";
import { Crafter, type FlowSeen, type SegmentSpec, seqAdd, seqDiff } from "./craft.ts";
import {
  delta,
  type Exchange,
  exchange,
  kernelCounters,
  prepareHostile,
  sleep,
} from "./hostile_common.ts";
import { sh } from "./lossy_common.ts";

const mode = Deno.args[0] ?? "rst";
if (!["ts", "ack", "rst", "syn"].includes(mode)) throw new Error(`unknown mode ${mode}`);
const PORT = 4444;

function kinds(before: FlowSeen, after: FlowSeen): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of ["ack", "data", "rst", "synack", "fin"]) {
    out[k] = (after.fromStack.kinds[k] ?? 0) - (before.fromStack.kinds[k] ?? 0);
  }
  return out;
}

await scenario(40_000, async () => {
  const stack = await openStack({ tunIp: "10.0.0.1" });
  try {
    const iso = await prepareHostile(stack);
    const crafter = await Crafter.start({ ifname: stack.ifname });
    const listener = stack.listen({ port: PORT });
    const k = await within(
      Deno.connect({ hostname: "10.0.0.1", port: PORT }),
      5000,
      "kernel connect",
    );
    const conn = await within(listener.accept(), 5000, "accept");
    const key = { peerPort: k.localAddr.port, stackPort: PORT };
    await crafter.watch(key);
    const kernel0 = kernelCounters();

    // Warm-up: data both ways, so the sniffer knows both sides' numbers and RCV.NXT is well
    // past the kernel's ISN (an "old" sequence number exists).
    const warm = await exchange(conn, k, { k2t: 65536, t2k: 65536, ms: 5000, fin: false });
    if (warm.outcome !== "ok") throw new Error(`warm-up failed: ${warm.outcome}`);
    await crafter.sleep(100); // delayed ACKs
    const seen = await crafter.flow(key);
    const kernelTs = seen.toStack.ts;
    const stackTs = seen.fromStack.ts;
    if (!kernelTs || !stackTs || seen.toStack.end === null || seen.toStack.ack === null) {
      throw new Error(`sniffer saw too little of the connection: ${JSON.stringify(seen)}`);
    }
    const rcvNxt = seen.toStack.end; // the kernel's next sequence number: the stack's RCV.NXT
    const base: SegmentSpec = {
      sport: key.peerPort,
      dport: PORT,
      win: seen.toStack.win ?? 1000,
    };

    let injected: SegmentSpec[] = [];
    let replies: Record<string, number> = {};
    let stateAfterInjection = "";
    let inFlightAtInjection: number | null = null;
    let transfer: Exchange;

    if (mode === "ack") {
      // The stack sends a long stream; the kernel's ACKs are held back so that bytes are in
      // flight, unacknowledged; then the spoofed old-sequence ACK covers 8000 of them.
      const dev = stack.ifname;
      const drop = ["INPUT", "-i", dev, "-p", "tcp", "--sport", String(PORT), "-j", "DROP"];
      transfer = await exchange(conn, k, {
        k2t: 0,
        t2k: 32 << 20,
        ms: 20_000,
        fin: false,
        during: async () => {
          const ack0 = seen.toStack.ack!;
          for (let i = 0; i < 200; i++) { // ≤ 2 s
            const f = await crafter.flow(key);
            if (seqDiff(f.toStack.ack!, ack0) >= 256 * 1024) break;
            await sleep(10);
          }
          await sh("iptables", "-w", "5", "-I", ...drop);
          let f = await crafter.flow(key);
          for (let i = 0; i < 100; i++) { // ≤ 2 s
            await crafter.sleep(20);
            f = await crafter.flow(key);
            if (seqDiff(f.fromStack.end!, f.toStack.ack!) >= 16_000) break;
          }
          inFlightAtInjection = seqDiff(f.fromStack.end!, f.toStack.ack!);
          const before = f;
          injected = [{
            ...base,
            seq: seqAdd(f.toStack.end!, -1000),
            ack: seqAdd(f.toStack.ack!, 8000),
            flags: "A",
            win: f.toStack.win ?? 1000,
            ts: f.toStack.ts ? [f.toStack.ts[0], f.fromStack.ts?.[0] ?? 0] : undefined,
          }];
          await crafter.send(injected);
          await crafter.sleep(100);
          replies = kinds(before, await crafter.flow(key));
          stateAfterInjection = conn.stats().state;
          await sh("iptables", "-w", "5", "-D", ...drop);
        },
      });
      if (transfer.outcome === "ok") {
        const more = await exchange(conn, k, { k2t: 1 << 20, t2k: 1 << 20, ms: 10_000, fin: true });
        transfer = {
          outcome: more.outcome,
          k2t: more.k2t,
          t2k: {
            bytes: transfer.t2k.bytes + more.t2k.bytes,
            received: transfer.t2k.received + more.t2k.received,
            intact: transfer.t2k.intact && more.t2k.intact,
          },
        };
      }
    } else {
      const seg: SegmentSpec = mode === "ts"
        ? {
          ...base,
          seq: seqAdd(rcvNxt, -1000), // an old duplicate: below RCV.NXT
          ack: seen.toStack.ack,
          flags: "A",
          ts: [seqAdd(kernelTs[0], 0x7fffffff), stackTs[0]],
        }
        : mode === "rst"
        ? { ...base, seq: seqAdd(rcvNxt, 1000), flags: "R", win: 0 } // in window, not exact
        : { ...base, seq: seqAdd(rcvNxt, 2000), flags: "S", mss: 1460 }; // in window
      injected = [seg];
      const before = await crafter.flow(key);
      await crafter.send(injected);
      await crafter.sleep(300);
      replies = kinds(before, await crafter.flow(key));
      stateAfterInjection = conn.stats().state;
      transfer = await exchange(conn, k, { k2t: 1 << 20, t2k: 1 << 20, ms: 15_000, fin: true });
    }

    await within(conn.closed.catch(() => {}), 5000, "stack side closed").catch(() => {});
    try {
      k.close();
    } catch {
      // closed by the exchange
    }
    const sniff = await crafter.counters();
    await crafter.close();
    return {
      mode,
      isolation: iso,
      kernelPort: key.peerPort,
      rcvNxtAtWarmup: rcvNxt,
      injected,
      inFlightAtInjection,
      replies,
      stateAfterInjection,
      transfer,
      stats: conn.stats(),
      counters: { ...stack.counters },
      kernel: delta(kernel0, kernelCounters(), [
        "RetransSegs",
        "OutRsts",
        "EstabResets",
        "PAWSEstab",
        "TCPACKSkippedPAWS",
        "TCPChallengeACK",
      ]),
      sniff,
    };
  } finally {
    await stack.close(500);
  }
});
