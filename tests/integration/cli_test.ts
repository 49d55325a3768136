/**
 * Integration tests of the `tcptun` command (`main.ts`) against the Linux kernel as the peer.
 * Each test runs one script of `scripts/` in a fresh network namespace (see `tests/netns.ts`);
 * the script starts `main.ts` there, plays the kernel side with `Deno.connect`/`Deno.listen`,
 * and prints a JSON line the test asserts on.
 * @module
 */

import assert from "node:assert/strict";
import { integrationTest, netnsPreconditions, runScenario, toolProblem } from "../netns.ts";

const problem = await netnsPreconditions();
const tsharkProblem = problem ?? await toolProblem("tshark", ["--version"]);

function script(name: string): URL {
  return new URL(`./scripts/${name}`, import.meta.url);
}

integrationTest("cli: listen bridges a kernel client with stdin and stdout", problem, async () => {
  const size = 256 * 1024;
  const r = await runScenario(script("cli_stdio.ts"), [String(size)]);
  assert.match(r.stderr as string, /^listening on 10\.0\.0\.1:4444$/m);
  assert.equal(r.stdoutBytes, size);
  assert.equal(r.stdoutMatches, true, "client bytes on stdout");
  assert.equal(r.receivedMatches, true, "stdin bytes at the client");
  // Closing stdin sent FIN: the client's read returned null, nothing else came.
  assert.deepEqual(r.afterStdinClosed, { end: "eof", extra: 0 });
  assert.equal(r.code, 0);
});

integrationTest("cli: listen closes passively, then accepts the next client", problem, async () => {
  const r = await runScenario(script("cli_reaccept.ts"));
  const clients = r.clients as { end: string; extra: number }[];
  assert.equal(clients.length, 2);
  for (const c of clients) assert.deepEqual([c.end, c.extra], ["eof", 0]);
  assert.equal(r.stdout, "first client\nsecond client\n");
  assert.equal(r.code, 0);
});

integrationTest("cli: SIGINT sends FIN and listen exits 0 (stdio mode)", problem, async () => {
  const r = await runScenario(script("cli_sigint.ts"));
  assert.deepEqual(r.end, { end: "eof", extra: 0 });
  assert.equal(r.code, 0);
});

integrationTest("cli: SIGINT sends FIN and listen exits 0 (echo mode)", problem, async () => {
  const r = await runScenario(script("cli_sigint.ts"), ["--echo"]);
  assert.deepEqual(r.end, { end: "eof", extra: 0 });
  assert.equal(r.code, 0);
});

integrationTest("cli: connect talks to a kernel listener both ways", problem, async () => {
  const size = 256 * 1024;
  const r = await runScenario(script("cli_connect.ts"), [String(size)]);
  assert.match(r.stderr as string, /^connected to 10\.0\.0\.3:4444$/m);
  assert.equal((r.peer as { hostname: string }).hostname, "10.0.0.2");
  assert.equal(r.stdoutBytes, size);
  assert.equal(r.stdoutMatches, true, "kernel bytes on stdout");
  assert.equal(r.receivedBytes, size);
  assert.equal(r.receivedMatches, true, "stdin bytes at the kernel, then FIN");
  assert.deepEqual(r.after, { end: "eof", extra: 0 });
  assert.equal(r.code, 0);
});

integrationTest("cli: connect to a closed kernel port fails with exit 1", problem, async () => {
  const r = await runScenario(script("cli_refused.ts"));
  assert.equal(r.code, 1);
  assert.match(r.stderr as string, /^error: connection refused$/m);
  assert.equal(r.stdoutBytes, 0);
});

integrationTest(
  "cli: MUST-2 --pcap writes a capture whose IP and TCP checksums tshark verifies (our own checksums: --no-offload)",
  tsharkProblem,
  async () => {
    const r = await runScenario(script("cli_pcap.ts"), [String(64 * 1024), "--no-offload"]);
    assert.equal(r.code, 0);
    assert.equal(r.echoMatches, true);
    assert.equal(r.tsharkCode, 0, r.tsharkStderr as string);
    // One connection: SYN and SYN-ACK, one FIN each way, dozens of data segments.
    assert.equal(r.syn, 2);
    assert.equal(r.fin, 2);
    assert.equal(r.rst, 0);
    assert.ok((r.tcpCount as number) > 20, `only ${r.tcpCount} TCP packets`);
    assert.deepEqual(r.notGood, []);
    // Anything else in the capture is the kernel's own IPv6 chatter, which the stack ignores.
    for (const p of r.others as string[]) assert.match(p, /ipv6/);
  },
);

integrationTest(
  "cli: with TUN offloads, --pcap shows super-segments with completed checksums",
  tsharkProblem,
  async () => {
    const r = await runScenario(script("cli_pcap.ts"), [String(1024 * 1024)]);
    assert.equal(r.code, 0);
    assert.equal(r.echoMatches, true);
    assert.equal(r.tsharkCode, 0, r.tsharkStderr as string);
    assert.equal(r.syn, 2);
    assert.equal(r.rst, 0);
    // Checksums the kernel completes (out) or left partial (in) are completed in the capture.
    assert.deepEqual(r.notGood, []);
  },
);

integrationTest(
  "cli: IPv6: listen on both versions, --ipv6-only, connect to [IPV6]:PORT (kernel peer)",
  problem,
  async () => {
    const r = await runScenario(script("cli_ipv6.ts"), [], { timeoutMs: 70_000 });
    const both = r.both as Record<string, unknown>;
    // The IPv4 ready line keeps its form and comes first: scripts wait for it.
    assert.deepEqual(both.ready, [
      "listening on 10.0.0.1:4444",
      "listening on [fdac:1194:20dc::1]:4444",
    ]);
    assert.deepEqual(both.v6, {
      echoed: true,
      end: { end: "eof", extra: 0 },
      local: "fdac:1194:20dc::2",
    });
    assert.deepEqual(both.v4, { echoed: true, end: { end: "eof", extra: 0 }, local: "10.0.0.2" });
    assert.ok((both.v6SegmentLines as number) >= 6, `${both.v6SegmentLines} IPv6 segment lines`);
    assert.equal(both.code, 0);
    const only6 = r.only6 as Record<string, unknown>;
    assert.deepEqual(only6.ready, ["listening on [fdac:1194:20dc::1]:4444"]);
    assert.equal(only6.v4, "refused");
    assert.equal((only6.v6 as { echoed: boolean }).echoed, true);
    assert.equal(only6.code, 0);
    assert.deepEqual(r.connect, {
      peer: "fdac:1194:20dc::1",
      local: "fdac:1194:20dc::2",
      stdoutMatches: true,
      receivedMatches: true,
      code: 0,
    });
    // A device that cannot have IPv6 (the default pair is taken): IPv4 goes on with a warning
    // at -v info; --ipv6-only is an error.
    const taken = r.taken as { second: string[]; third: string[]; codes: number[] };
    assert.match(taken.second[0], /^warning: IPv6 is not available, IPv4 only: .*EADDRINUSE/);
    assert.equal(taken.second[1], "listening on 10.0.1.1:4444");
    assert(!taken.second.some((l) => l.startsWith("listening on [")), taken.second.join("\n"));
    assert.equal(taken.third.length, 1, taken.third.join("\n"));
    assert.match(taken.third[0], /^error: --ipv6-only: IPv6 is not available: /);
    assert.deepEqual(taken.codes, [0, 0, 1]);
  },
);
