/**
 * Scenario (in a fresh namespace): the Linux baseline of `window_stdio.ts`. A kernel client
 * sends SIZE random bytes over a veth pair (MTU 1500, offloads off so the wire carries
 * MSS-sized segments as on the TUN link) to a kernel socket in a second, nested namespace that
 * a Deno reader drains in the same slow pattern (`window_drain.ts`). `tcpdump` captures the
 * veth, and `window_analysis.ts` judges Linux's advertised windows and the sender's segments.
 *
 * Usage: `window_linux.ts [SIZE [CHUNK,READS,PAUSE_MS [KEEP.pcap]]]`; the parent starts itself
 * again as `window_linux.ts --reader SIZE PATTERN` for the nested reader. Prints one JSON line.
 * @module
 */

import { closeQuietly, randomBytes, scenario, sha256, within, writeAll } from "./common.ts";
import { analyzeWindow, readCapture } from "./window_analysis.ts";
import { drainSlowly, formatPattern, parsePattern } from "./window_drain.ts";
import { sh } from "./lossy_common.ts";
import { inNs, spawnPeer, startTcpdump, VETH_HERE, VETH_PEER, vethToPeer } from "./netns_peer.ts";

const SENDER_IP = "10.9.0.1";
const RECEIVER_IP = "10.9.0.2";
const PORT = 5555;
const SCRIPT = new URL(import.meta.url).pathname;

if (Deno.args[0] === "--reader") {
  // The receiver, alone in its nested namespace: one connection, drained slowly.
  const size = Number(Deno.args[1]);
  const pattern = parsePattern(Deno.args[2]);
  await scenario(30_000, async () => {
    const listener = Deno.listen({ hostname: "0.0.0.0", port: PORT });
    console.log("ready");
    const conn = await within(listener.accept(), 15_000, "accept");
    listener.close();
    try {
      const drained = await within(drainSlowly(conn.readable, size, pattern), 25_000, "slow read");
      console.log(JSON.stringify({
        received: drained.bytes.length,
        reads: drained.reads,
        sha256: await sha256(drained.bytes),
        tcpRmem: Deno.readTextFileSync("/proc/sys/net/ipv4/tcp_rmem").trim(),
      }));
      // The veth pair dies with this namespace: stay until the parent has stopped its capture.
      await within(new Response(Deno.stdin.readable).arrayBuffer(), 10_000, "parent done");
      return {};
    } finally {
      closeQuietly(conn);
    }
  });
}

const size = Number(Deno.args[0] ?? 1024 * 1024);
const pattern = parsePattern(Deno.args[1]);
const keep = Deno.args[2];

await scenario(30_000, async () => {
  const dir = await Deno.makeTempDir({ prefix: "tcptun_window_linux_" });
  const file = `${dir}/linux.pcap`;
  try {
    // The reader's namespace is a child of this one, gone when the reader exits.
    const reader = await spawnPeer(SCRIPT, ["--reader", String(size), formatPattern(pattern)], {
      stdin: "piped",
      readyMs: 10_000,
    });
    const pid = reader.pid;
    await vethToPeer(pid, { here: `${SENDER_IP}/24`, peer: `${RECEIVER_IP}/24` });
    // Segments on the wire as on the TUN link: no TSO/GSO super-packets, no GRO merging.
    await sh("ethtool", "-K", VETH_HERE, "tso", "off", "gso", "off", "gro", "off");
    await inNs(pid, "ethtool", "-K", VETH_PEER, "tso", "off", "gso", "off", "gro", "off");
    const dump = await startTcpdump(VETH_HERE, file, { extra: ["-s", "200"] });

    const data = randomBytes(size);
    const k = await within(
      Deno.connect({ hostname: RECEIVER_IP, port: PORT }),
      5000,
      "kernel connect",
    );
    let result: Record<string, unknown>;
    try {
      await within(writeAll(k, data).then(() => k.closeWrite()), 25_000, "send");
      result = await reader.result(25_000);
    } finally {
      closeQuietly(k);
    }
    // Stop the capture while the veth pair still exists, then let the reader go.
    const dumpSummary = await dump.stop();
    await reader.child.stdin.close();
    await within(reader.child.status, 5000, "reader exit");
    if (keep) await Deno.copyFile(file, keep);
    const report = analyzeWindow(await readCapture(file), {
      receiver: RECEIVER_IP,
      receiverPort: PORT,
    });
    return {
      receiver: "linux",
      size,
      drain: pattern,
      received: result.received,
      reads: result.reads,
      matches: result.sha256 === await sha256(data),
      tcpRmem: result.tcpRmem,
      tcpdump: dumpSummary,
      report,
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
