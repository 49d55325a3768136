/**
 * Black-box hardening tests: crafted packets attack the stack through its real TUN device
 * (scripts `hostile_*.ts`, crafter `craft.py`), each in a fresh network namespace. Every
 * scenario prints its measurements; a test logs them on one line, then asserts the bound the
 * stack must keep. The bounds are counts, sizes and rates measured by the crafter's sniffer
 * and the kernel's counters, never how long something took.
 * @module
 */

import assert from "node:assert/strict";
import { integrationTest, netnsPreconditions, runScenario, toolProblem } from "../netns.ts";

const problem = (await netnsPreconditions()) ?? await toolProblem("python3", ["--version"]) ??
  await toolProblem("iptables", ["--version"]);

function script(name: string): URL {
  return new URL(`./scripts/${name}`, import.meta.url);
}

/**
 * Runs a hostile scenario (each is bounded to 40 s inside). With `--expose-gc` the scripts
 * collect garbage before each memory reading, so live-memory figures are exact.
 */
async function run(name: string, args: string[]): Promise<Record<string, unknown>> {
  return await runScenario(script(name), args, {
    timeoutMs: 60_000,
    denoFlags: ["--v8-flags=--expose-gc"],
  });
}

type Growth = { rssMiB: number; liveMiB: number };

function log(label: string, figures: Record<string, unknown>): void {
  console.log(`${label}: ${JSON.stringify(figures)}`);
}

type Leg = { bytes: number; received: number; intact: boolean };
type Isolation = { links: string[]; routes: string[]; ipForward: string };

/** Crafted traffic had nowhere to go but the stack and this namespace's kernel. */
function assertIsolated(r: Record<string, unknown>): void {
  const iso = r.isolation as Isolation;
  assert.equal(iso.links.length, 2, JSON.stringify(iso));
  assert.ok(iso.links.includes("lo"));
  assert.ok(!iso.routes.some((x) => x.startsWith("default")), JSON.stringify(iso));
  assert.equal(iso.ipForward, "0");
}

// Finding 1: blind injection into a live kernel connection (RFC 5961, RFC 7323 §4.3).
for (
  const [mode, what] of [
    ["ts", "an old duplicate ACK with TSval 2^31-1 ahead does not move TS.Recent"],
    ["ack", "an old-sequence ACK covering unacknowledged bytes in flight is not taken"],
    ["rst", "an in-window RST not at RCV.NXT draws only a challenge ACK"],
    ["syn", "an in-window SYN draws only a challenge ACK"],
  ] as const
) {
  integrationTest(`hostile: blind injection: ${what}`, problem, async () => {
    const r = await run("hostile_injection.ts", [mode]);
    const transfer = r.transfer as { outcome: string; k2t: Leg; t2k: Leg };
    const stats = r.stats as Record<string, unknown>;
    log(`injection ${mode}`, {
      replies: r.replies,
      stateAfterInjection: r.stateAfterInjection,
      inFlightAtInjection: r.inFlightAtInjection,
      transfer,
      retransmissions: stats.retransmissions,
      timeouts: stats.timeouts,
      kernel: r.kernel,
    });
    assertIsolated(r);
    const replies = r.replies as Record<string, number>;
    assert.equal(replies.rst, 0, "the stack answered the injection with RST");
    assert.equal(replies.synack, 0, "the stack answered the injection with SYN-ACK");
    if (mode === "rst" || mode === "syn") {
      // RFC 5961 §3.2, §4.2: one challenge ACK, and the connection lives on.
      assert.equal(replies.ack, 1, `${replies.ack} ACKs in reply to one segment`);
      assert.equal(r.stateAfterInjection, "ESTABLISHED");
    }
    // The connection still carries data both ways, intact, without a reset or time-out.
    assert.equal(transfer.outcome, "ok", `transfer after the injection: ${transfer.outcome}`);
    assert.ok(transfer.k2t.intact, `kernel → stack: ${JSON.stringify(transfer.k2t)}`);
    assert.ok(transfer.t2k.intact, `stack → kernel: ${JSON.stringify(transfer.t2k)}`);
    assert.equal((r.kernel as Record<string, number>).EstabResets, 0);
  });
}

integrationTest(
  "hostile: SYN flood (5,000/s for 10 s) leaves room for legitimate connections",
  problem,
  async () => {
    const rate = 5000;
    const seconds = 10;
    const r = await run("hostile_synflood.ts", [String(rate), String(seconds)]);
    const flood = r.flood as { sent: number; elapsedMs: number };
    const connects = r.connects as { ok: boolean; ms: number }[];
    const kernel = r.kernel as Record<string, number>;
    log("syn flood", {
      flood,
      legitOk: r.legitOk,
      connectMs: connects.map((c) => c.ms),
      synRetrans: kernel.TCPSynRetrans,
      growth: r.growth,
      warmup: r.warmup,
      memBefore: r.memBefore,
      memAfterFlood: r.memAfterFlood,
      synAcksPerSpoofedSyn: r.synAcksPerSpoofedSyn,
      connectionsAfterFlood: r.connectionsAfterFlood,
      counters: r.counters,
      device: r.device,
    });
    assertIsolated(r);
    assert.equal(flood.sent, rate * seconds); // the crafter sent exactly the flood asked for
    // Every legitimate client got in...
    assert.equal(r.legitOk, connects.length, JSON.stringify(connects));
    // ...on its first SYN: the kernel retransmits a SYN whose SYN-ACK has not come within
    // its initial RTO of 1 s, so no retransmission means every connect completed in time.
    assert.equal(kernel.TCPSynRetrans, 0, "legitimate SYNs had to be retransmitted");
    const g = r.growth as Growth;
    assert.ok(g.rssMiB < 20, `RSS grew ${g.rssMiB} MiB during the flood`);
    // No amplification towards the spoofed addresses: about one SYN-ACK per SYN (SYN
    // cookies), plus at most the retransmissions of a bounded half-open queue (Linux:
    // tcp_synack_retries for up to tcp_max_syn_backlog entries).
    assert.ok((r.synAcksPerSpoofedSyn as number) <= 1.1, `${r.synAcksPerSpoofedSyn} SYN-ACKs/SYN`);
  },
);

integrationTest(
  "hostile: 3,000 connect-then-RST cycles keep a never-accepting listener within its backlog",
  problem,
  async () => {
    const cycles = 3000;
    const backlog = 8;
    const r = await run("hostile_accept_queue.ts", [String(cycles), String(backlog)]);
    const cyc = r.run as { connected: number; failed: number; errors: Record<string, number> };
    log("accept queue", {
      run: cyc,
      connectionCount: r.connectionCount,
      held: r.held,
      heldStates: r.heldStates,
      growth: r.growth,
      warmup: r.warmup,
      memBefore: r.memBefore,
      memAfter: r.memAfter,
      counters: r.counters,
    });
    assertIsolated(r);
    assert.equal(cyc.connected, cycles, `connects failed: ${JSON.stringify(cyc)}`);
    assert.ok((r.connectionCount as number) <= backlog, `stack holds ${r.connectionCount}`);
    assert.ok((r.held as number) <= backlog, `listener still hands out ${r.held} connections`);
    const g = r.growth as Growth;
    assert.ok(g.rssMiB < 8, `RSS grew ${g.rssMiB} MiB (live ${g.liveMiB} MiB)`);
  },
);

integrationTest(
  "hostile: 300,000 one-byte segments into an unread 1 MiB buffer stay within bounded memory",
  problem,
  async () => {
    const r = await run("hostile_byte_flood.ts", ["300000", "15", "read,never-read"]);
    type Phase = {
      app: string;
      stream: { outcome: string; segmentsSent: number; bytesAcked: number };
      stats: Record<string, unknown>;
      growth: Growth;
      memBefore: unknown;
      memAfter: unknown;
      device: unknown;
    };
    const [control, attack] = r.phases as Phase[];
    const summary = (p: Phase) => ({
      stream: p.stream,
      growth: p.growth,
      memBefore: p.memBefore,
      memAfter: p.memAfter,
      bytesReceived: p.stats.bytesReceived,
      segmentsReceived: p.stats.segmentsReceived,
      rcvWnd: p.stats.rcvWnd,
      device: p.device,
    });
    log("1-byte flood", { control: summary(control), neverRead: summary(attack) });
    assertIsolated(r);
    assert.equal(control.app, "read");
    assert.equal(attack.app, "never-read");
    assert.ok(attack.stream.segmentsSent > 0);
    // The control phase (the application reads everything) warmed the process up with the
    // same per-segment garbage, so this growth is what the unread connection holds.
    assert.ok(
      attack.growth.rssMiB < 8,
      `RSS grew ${attack.growth.rssMiB} MiB (live ${attack.growth.liveMiB} MiB) for ` +
        `${attack.stream.bytesAcked} bytes held`,
    );
  },
);

// RFC 5961 §7: challenge ACKs (and, as Linux does, duplicate ACKs to out-of-window segments)
// are rate-limited; 100 per second per connection is a generous bound (Linux: one per
// 500 ms per socket, 1000/s for the whole stack).
for (
  const [mode, what] of [
    ["rst", "2,000 in-window RSTs"],
    ["oow", "2,000 out-of-window data segments"],
  ] as const
) {
  integrationTest(`hostile: ${what} in 1 s draw rate-limited ACKs`, problem, async () => {
    const r = await run("hostile_challenge_ack.ts", [mode, "2000", "1000"]);
    const burst = r.burst as { sent: number; elapsedMs: number };
    log(`challenge ACKs ${mode}`, {
      burst,
      acks: r.acks,
      spanMs: r.spanMs,
      acksPerSecond: r.acksPerSecond,
      rstsFromStack: r.rstsFromStack,
      stateAfterBurst: r.stateAfterBurst,
      delivered: r.delivered,
    });
    assertIsolated(r);
    assert.equal(burst.sent, 2000);
    assert.equal(r.rstsFromStack, 0);
    assert.equal(r.stateAfterBurst, "ESTABLISHED");
    assert.equal(r.delivered, "hello");
    assert.equal(r.helloAcked, true);
    const limit = Math.ceil(100 * (r.spanMs as number) / 1000);
    // Limited, not silenced: an ACK per segment is owed (RFC 5961 §3.2, RFC 9293 §3.10.7.4).
    assert.ok((r.acks as number) >= 1, "the burst drew no ACK at all");
    assert.ok((r.acks as number) <= limit, `${r.acks} ACKs in ${r.spanMs} ms (limit ${limit})`);
  });
}
