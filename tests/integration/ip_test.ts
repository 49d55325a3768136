/**
 * Integration tests of the IP layer against the Linux kernel: fragments both ways, and path MTU
 * discovery through a kernel router, with its ICMP and without (black-hole detection). Each
 * test runs one script of `scripts/` in a fresh network namespace (see `tests/netns.ts`). They
 * assert correctness and counters, and print times without asserting them.
 * @module
 */

import assert from "node:assert/strict";
import { integrationTest, netnsPreconditions, runScenario, toolProblem } from "../netns.ts";
import type { PmtuReport } from "./scripts/pmtu_router.ts";

const problem = await netnsPreconditions();

function script(name: string): URL {
  return new URL(`./scripts/${name}`, import.meta.url);
}

integrationTest(
  "integration: the kernel's fragmented 4000-byte pings are reassembled and answered in fragments",
  problem,
  async () => {
    const r = await runScenario(script("ping_fragments.ts"), ["4000"]);
    console.log(`  ping: ${r.pingOutput}`);
    assert.equal(r.pingExit, 0, String(r.pingOutput));
    assert.equal(r.received, 3);
    assert.equal(r.replyBytes, 4008, "the whole request came back: 4000 bytes of data + 8");
    assert.equal(r.reassembled, 3);
    assert.equal(r.fragments, 9, "three fragments per request at MTU 1500");
    assert.equal(r.heldBytes, 0);
    assert.ok((r.packetsOut as number) >= 9, "replies went out in fragments");
  },
);

// ---------------------------------------------------------------------------------------------
// Path MTU discovery through a kernel router (scripts/pmtu_router.ts): the stack's link has MTU
// 1500, the router's next hop 1280, and the peer announces the MSS of a 1500-byte link.

const PMTU_SIZE = 20 * 1024 * 1024;
/** The MTU of the router's hop toward the peer. */
const NARROW_MTU = 1280;
/** IP and TCP headers without options, per IP version. */
const HEADERS = { 4: 40, 6: 60 } as const;
/** What the peer announces: the MSS of a 1500-byte link. */
const peerMss = (family: 4 | 6) => 1500 - HEADERS[family];

const pmtuProblem = problem ?? await toolProblem("iptables", ["--version"]) ??
  await toolProblem("nsenter", ["--version"]) ?? await toolProblem("ss", ["--version"]);

async function pmtuRun(
  mode: "icmp" | "blackhole",
  offload: boolean,
  family: 4 | 6 = 4,
): Promise<PmtuReport> {
  const PEER_MSS = peerMss(family);
  const IP_TCP_HEADERS = HEADERS[family];
  const r = await runScenario(script("pmtu_router.ts"), [
    mode,
    `family=${family}`,
    `offload=${offload ? "on" : "off"}`,
    `size=${PMTU_SIZE}`,
  ], { timeoutMs: 60_000 }) as unknown as PmtuReport;
  console.log(
    `  IPv${family} ${mode}, offload ${
      r.offload ? "on" : "off"
    }: ${r.received} bytes in ${r.transferMs} ms; ` +
      `MSS ${r.mssBefore} → ${r.mssAfter} (${
        r.mssChanges.map((c) => `${c.mss} by ${c.cause}`).join(", ")
      }); peer rcvmss ${r.peerRcvMss}; ${r.retransmissions} retransmissions, ${r.timeouts} ` +
      `timeouts; stack: icmpErrors ${r.icmpErrors}, pmtuUpdates ${r.pmtuUpdates}, icmpIgnored ` +
      `${r.icmpIgnored}, ${r.superSegmentsOut} super-segments of ${r.packetsOut} packets ` +
      `(${r.superSegmentsAfterDrop} after the drop, pieces ≤ ${r.largestAfterDrop}); router: ` +
      `${r.routerTooBig} refused as too big, ${r.routerIcmpMade} ICMP made, ` +
      `${r.routerIcmpDropped} dropped by iptables`,
  );
  assert.equal(r.offload, offload, "the TUN device has the offloads asked for");
  assert.equal(r.received, PMTU_SIZE);
  assert.ok(r.intact, "the peer received every byte, SHA-256 equal");
  // The handshake allowed full-sized segments (1460, less 12 with timestamps), too large for
  // the 1280-byte hop: without a lower MSS nothing could have crossed.
  const optionBytes = PEER_MSS - r.mssBefore;
  assert.ok(optionBytes === 0 || optionBytes === 12, `MSS ${r.mssBefore} after the handshake`);
  assert.ok(r.routerTooBig >= 1, "the router refused segments too large for its next hop");
  // Every data segment sent after the drop fits, super-segments' pieces too (resegmented).
  assert.ok(r.largestAfterDrop > 0 && r.largestAfterDrop <= r.mssAfter, `${r.largestAfterDrop}`);
  assert.ok(r.mssAfter + IP_TCP_HEADERS + optionBytes <= NARROW_MTU, `MSS ${r.mssAfter}`);
  // The peer's kernel measured its receive MSS from what arrived: nothing larger came through.
  assert.ok(r.peerRcvMss > 0 && r.peerRcvMss <= r.mssAfter, `peer rcvmss ${r.peerRcvMss}`);
  if (offload) assert.ok(r.superSegmentsAfterDrop > 0, "TSO went on at the lowered MSS");
  else assert.equal(r.superSegmentsOut, 0);
  return r;
}

for (
  const [family, offload] of [[4, true], [4, false], [6, true]] as const
) {
  const offloads = `offloads ${offload ? "on" : "off"}`;
  const message = family === 4 ? `ICMP "fragmentation needed"` : "ICMPv6 Packet Too Big";
  integrationTest(
    `integration: pmtu: IPv${family}: a router's ${message} lowers the MSS to its 1280-byte hop and 20 MiB arrive intact (${offloads})`,
    pmtuProblem,
    async () => {
      const r = await pmtuRun("icmp", offload, family);
      // RFC 1191 §4, RFC 8201 §4: the next-hop MTU in the message sets the MSS exactly.
      const h = HEADERS[family];
      assert.equal(r.mssAfter, NARROW_MTU - h - (peerMss(family) - r.mssBefore));
      assert.ok(r.mssAfter <= NARROW_MTU - h);
      assert.ok(r.pmtuUpdates >= 1, "the stack took the next-hop MTU from the ICMP message");
      assert.ok(r.icmpErrors >= 1);
      assert.ok(r.routerIcmpMade >= 1);
      assert.deepEqual(r.mssChanges.map((c) => c.cause), ["icmp"], "one drop, by ICMP");
      assert.equal(r.routerIcmpDropped, 0);
    },
  );

  integrationTest(
    `integration: pmtu: IPv${family}: with the router's ICMP dropped, black-hole detection lowers the MSS and 20 MiB arrive intact (${offloads})`,
    pmtuProblem,
    async () => {
      const r = await pmtuRun("blackhole", offload, family);
      assert.ok(r.routerIcmpDropped >= 1, "the router made ICMP and iptables dropped it");
      assert.equal(r.icmpErrors, 0, "no ICMP error reached the stack");
      assert.equal(r.pmtuUpdates, 0);
      assert.ok(r.mssChanges.length >= 1, "the MSS was lowered");
      assert.ok(r.mssChanges.every((c) => c.cause === "blackhole"), "by black-hole detection");
      assert.ok(r.mssAfter < r.mssBefore);
      assert.ok(r.timeouts >= 1, "only timeouts could tell the segments were lost");
    },
  );
}

integrationTest(
  "integration: ping -6 is answered, and a 4000-byte IPv6 ping is reassembled and answered in fragments",
  problem,
  async () => {
    const r = await runScenario(script("ping6.ts"), ["4000"]);
    console.log(`  ping -6 ${r.host}: ${(r.output as string[]).join(" || ")}`);
    assert.equal(r.smallExit, 0);
    assert.equal(r.smallReceived, 3);
    assert.equal(r.largeExit, 0);
    assert.equal(r.largeReceived, 3);
    assert.equal(r.largeReplyBytes, 4008, "the whole request came back");
    assert.equal(r.reassembled, 3);
    assert.equal(r.echoReplies, 6);
  },
);
