/**
 * Integration tests of the library against the Linux kernel as the peer. Each test runs one
 * script of `scripts/` in a fresh network namespace (see `tests/netns.ts`) and asserts on the
 * JSON line it prints. Times are printed, never asserted.
 * @module
 */

import assert from "node:assert/strict";
import { IN_NETNS_ENV, integrationTest, netnsPreconditions, runScenario } from "../netns.ts";

const problem = await netnsPreconditions();

function script(name: string): URL {
  return new URL(`./scripts/${name}`, import.meta.url);
}

type Addr = { hostname: string; port: number };

function ms(x: unknown): string {
  return typeof x === "number" ? x.toFixed(2) : String(x);
}

integrationTest(
  "integration: a scenario script refuses to run without TCPTUN_IN_NETNS",
  problem,
  async () => {
    // Still inside a throw-away namespace, in case the guard were broken.
    const out = await new Deno.Command("unshare", {
      args: ["--net", Deno.execPath(), "run", "-A", "--no-prompt", script("handshake.ts").pathname],
      env: { [IN_NETNS_ENV]: "" },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(20_000),
    }).output();
    assert.equal(out.code, 1);
    assert.match(new TextDecoder().decode(out.stdout), /refusing to run/);
  },
);

integrationTest("integration: the kernel connects to the stack's listener", problem, async () => {
  const r = await runScenario(script("handshake.ts"), ["5"]);
  const conns = r.connections as {
    state: string;
    stackRemote: Addr;
    stackLocal: Addr;
    kernelLocal: Addr;
    kernelRemote: Addr;
    extraBytes: number;
    kernelEnd: string;
  }[];
  assert.equal(r.peerIp, "10.0.0.2");
  assert.equal(conns.length, 5);
  for (const c of conns) {
    assert.equal(c.state, "ESTABLISHED");
    assert.deepEqual([c.kernelRemote.hostname, c.kernelRemote.port], ["10.0.0.1", 4444]);
    assert.deepEqual([c.stackLocal.hostname, c.stackLocal.port], ["10.0.0.1", 4444]);
    assert.deepEqual(
      [c.stackRemote.hostname, c.stackRemote.port],
      [c.kernelLocal.hostname, c.kernelLocal.port],
    );
    assert.equal(c.kernelLocal.hostname, "10.0.0.2");
    assert.equal(c.kernelEnd, "eof");
    assert.equal(c.extraBytes, 0);
  }
  const counters = r.counters as Record<string, number>;
  assert.equal(counters.resetsSent, 0);
  assert.equal(counters.connectionsOpened, 5);
  const times = (r.handshakeMs as number[]).map(ms).join(", ");
  console.log(`handshake: median ${ms(r.medianMs)} ms (${times})`);
});

integrationTest(
  "integration: 1 MiB echoed through the stack keeps its SHA-256",
  problem,
  async () => {
    const size = 1 << 20;
    const r = await runScenario(script("echo.ts"), [String(size), "1"]);
    assert.equal(r.mismatches, 0);
    assert.deepEqual(r.bytes, [size]);
    assert.deepEqual(r.servers, [{ closed: "ok", state: "CLOSED" }]);
    assert.equal((r.counters as Record<string, number>).resetsSent, 0);
    console.log(`echo 1 MiB: ${ms(r.ms)} ms (${ms(r.mibPerSecond)} MiB/s)`);
  },
);

integrationTest("integration: 50 concurrent echo connections of 64 KiB each", problem, async () => {
  const size = 64 * 1024;
  const r = await runScenario(script("echo.ts"), [String(size), "50"]);
  assert.equal(r.mismatches, 0);
  assert.deepEqual(r.bytes, Array(50).fill(size));
  const servers = r.servers as { closed: string }[];
  assert.equal(servers.length, 50);
  assert.ok(servers.every((s) => s.closed === "ok"), JSON.stringify(servers));
  const counters = r.counters as Record<string, number>;
  assert.equal(counters.resetsSent, 0);
  assert.equal(counters.backlogDrops, 0);
  assert.equal(counters.connectionsOpened, 50);
  console.log(`echo 50 x 64 KiB: ${ms(r.ms)} ms (${ms(r.mibPerSecond)} MiB/s)`);
});

integrationTest(
  "integration: simultaneous close, both sides reach EOF without a reset",
  problem,
  async () => {
    const r = await runScenario(script("simultaneous_close.ts"), ["3", "30"]);
    const outcomes = r.outcomes as {
      kernelEnd: string;
      extraBytes: number;
      closed: string;
      state: string;
      crossed: boolean;
    }[];
    assert.equal(outcomes.length, 3);
    for (const o of outcomes) {
      assert.equal(o.kernelEnd, "eof");
      assert.equal(o.extraBytes, 0);
      assert.equal(o.closed, "ok");
      // Simultaneous close ends in TIME-WAIT on both sides (RFC 9293 §3.6, figure 13).
      assert.ok(o.state === "TIME-WAIT" || o.state === "CLOSED", o.state);
      // The FINs really crossed (neither acknowledged the other): CLOSING on both sides.
      assert.equal(o.crossed, true, JSON.stringify(o));
    }
    assert.equal(r.rstIn, 0);
    assert.equal(r.rstOut, 0);
    assert.equal((r.counters as Record<string, number>).resetsSent, 0);
  },
);

integrationTest(
  "integration: connections to closed ports are refused at once",
  problem,
  async (t) => {
    const r = await runScenario(script("refused.ts"), ["5000"]);
    const syns = r.syns as { in: number; out: number };
    const kernel = r.kernel as { error: string; refused: boolean; ms: number };
    const stack = r.stack as { error: string; refused: boolean; ms: number };
    await t.step("kernel → stack: RST, ECONNREFUSED before any SYN retransmission", () => {
      assert.equal(kernel.error, "ConnectionRefused");
      assert.equal(r.resetsAfterKernel, 1);
    });
    await t.step("stack → kernel: stack.connect rejects with ConnectionRefused", () => {
      assert.equal(stack.error, "ConnectionRefused");
      assert.equal(stack.refused, true);
      assert.equal(syns.out, 1, "the stack never had to retransmit its SYN");
    });
    console.log(`refused: kernel ${ms(kernel.ms)} ms, stack.connect ${ms(stack.ms)} ms`);
  },
);
