/**
 * TUN offloads against the real Linux kernel as a router: the stack's TSO super-segments are
 * cut by a forwarding kernel into segments that carry valid checksums and fit the MSS, checked
 * with tshark on a capture of the far side of a veth pair (`scripts/offload_forward.ts`). The
 * lossy transfers with offloads on and off are in `lossy_test.ts`.
 *
 * The test asserts correctness (checksums, lengths, counters, hashes), never time.
 * @module
 */

import assert from "node:assert/strict";
import { integrationTest, netnsPreconditions, runScenario, toolProblem } from "../netns.ts";
import type { ForwardReport } from "./scripts/offload_forward.ts";

const FORWARD = new URL("./scripts/offload_forward.ts", import.meta.url);
const SIZE = 4 * 1024 * 1024;

const problem = await netnsPreconditions();
const toolsProblem = problem ?? await toolProblem("tshark", ["--version"]) ??
  await toolProblem("tcpdump", ["--version"]) ?? await toolProblem("ethtool", ["--version"]) ??
  await toolProblem("nsenter", ["--version"]);

integrationTest(
  "offload: super-segments forwarded by the kernel are cut into MSS-sized segments with valid checksums (tshark)",
  toolsProblem,
  async () => {
    const r = await runScenario(FORWARD, [String(SIZE)], {
      timeoutMs: 120_000,
    }) as unknown as ForwardReport;
    const c = r.capture;
    console.log(
      `tcptun sent ${r.superSegmentsOut} super-segments (${r.packetsOut} packets); the peer saw ` +
        `${c.dataSegments.out} data segments from it (largest ${c.maxPayload.out} bytes, limit ` +
        `${c.payloadLimit}); GRO handed tcptun ${r.superSegmentsIn} super-segments; ` +
        `${c.packets} packets captured, ${c.negativeZero} with checksum 0xffff for 0x0000`,
    );
    assert.ok(r.stackToPeerIntact, "the peer received every byte the stack sent");
    assert.ok(r.peerToStackIntact, "the stack received every byte the peer sent");
    assert.ok(r.frameOffloads, "the TUN device was opened with a virtio-net header");
    assert.ok(r.superSegmentsOut > 0, "tcptun sent super-segments (TSO)");
    // tshark validates every IPv4 and TCP checksum on the wire, the kernel-cut segments too.
    assert.ok(c.packets > 0 && c.others === 0, `${c.packets} TCP packets, ${c.others} others`);
    assert.deepEqual(c.notGood, [], "every IPv4 and TCP checksum is Good");
    // 1460 from a 1500-byte MTU, less 12 bytes of timestamps.
    assert.equal(c.payloadLimit, 1448);
    assert.ok(c.maxPayload.out <= c.payloadLimit, `a segment of ${c.maxPayload.out} bytes`);
    assert.ok(c.maxIpLength.out <= 1500, `a packet of ${c.maxIpLength.out} bytes`);
    // The super-segments were cut: many more full-sized segments on the wire than frames sent.
    assert.match(r.tcpdump, /^0 packets dropped by kernel$/m, "the capture is complete");
    assert.ok(c.dataSegments.out >= SIZE / c.payloadLimit, "every byte went as a segment");
    assert.ok(c.fullSizedOut > r.packetsOut, "super-segments became full-sized segments");
    assert.equal(r.badTcpChecksum, 0, "the stack found no bad checksum");
    assert.equal(r.badVirtioHeader, 0);
    // GRO on the router merged the peer's segments, and the stack read them whole.
    assert.ok(r.superSegmentsIn > 0, "forwarded GRO super-segments reached the stack");
  },
);
