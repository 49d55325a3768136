import assert from "node:assert/strict";
import { integrationRequired, netnsProblem, runInNetns, toolProblem } from "../tests/netns.ts";

// TUN offloads against the real kernel, in a throw-away network namespace: what it accepts,
// what it sends (super-segments, partial checksums) and what it does with what we write.
const problem = await netnsProblem();
const required = integrationRequired();
if (problem !== undefined && !required) {
  console.warn(
    `skipping TUN offload tests: ${problem} (TCPTUN_REQUIRE_INTEGRATION=1 fails instead)`,
  );
}
const script = new URL("./testdata/offload_netns.ts", import.meta.url);
const ethtool = problem ?? await toolProblem("ethtool", ["--version"]);
const ping = problem ?? await toolProblem("ping", ["-V"]);

Deno.test({
  name: "linux tun offload: negotiation, super-segments both ways, plain read/write (netns)",
  ignore: problem !== undefined && !required,
  async fn() {
    if (problem !== undefined) throw new Error(`TUN integration precondition failed: ${problem}`);
    const checks = ["negotiate", "tso-rx", "tso-rx-link", "tso-tx", "forward"];
    const expected = [
      "TUNSETOFFLOAD CSUM|TSO4|TSO6 are accepted",
      "falls back to TUN_F_CSUM alone",
      "without offload: no vnet header",
      "the kernel sends TCPv4 super-segments",
      "plain read() cuts the kernel's super-segments",
      "reaches a kernel socket whole",
      "the kernel cuts a written super-segment",
    ];
    if (ethtool === undefined) {
      checks.push("ethtool");
      expected.push("ethtool -k shows");
    } else console.warn(`offload test without ethtool: ${ethtool}`);
    if (ping === undefined) {
      checks.push("ping");
      expected.push("ping: the echo request is read", "ping: plain read() and write()");
    } else console.warn(`offload test without ping: ${ping}`);
    const run = await runInNetns(script, checks, { timeoutMs: 90_000 });
    assert.ok(
      run.code === 0 && !run.timedOut,
      `exit ${run.code}${run.timedOut ? " (timed out)" : ""}\n${run.stdout}\n${run.stderr}`,
    );
    for (const step of expected) {
      assert.ok(run.stdout.includes(step), `missing check "${step}":\n${run.stdout}`);
    }
  },
});
