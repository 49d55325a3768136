/**
 * Scenario (in a fresh namespace, which plays a router): the stack, with TUN offloads on, sends
 * TSO super-segments to a kernel peer in a second namespace behind a veth pair, through this
 * namespace's IP forwarding. The router's veth has segmentation and checksum offloads off, so
 * the kernel cuts each super-segment into MSS-sized segments and completes their checksums in
 * software (a super-segment delivered to a local socket is never cut; one forwarded to a device
 * without offloads is). `tcpdump` captures the peer's side of the veth, and `tshark` checks
 * every IPv4 and TCP checksum there and the length of every data segment.
 *
 * The veth's receive side keeps GRO on, so the peer's segments reach the stack merged again
 * into super-segments marked checked (DATA_VALID): the other receive path of the offloads.
 *
 * Usage: `offload_forward.ts [SIZE [KEEP.pcap]]`: SIZE bytes each way (default 4 MiB); the
 * parent starts itself again as `offload_forward.ts --peer SIZE` for the peer. Prints one JSON
 * line (see {@linkcode ForwardReport}).
 * @module
 */

import {
  closeQuietly,
  randomBytes,
  readStream,
  readToEnd,
  scenario,
  sha256,
  sysctl,
  within,
  writeAll,
} from "./common.ts";
import { sendStack, sh } from "./lossy_common.ts";
import { inNs, spawnPeer, startTcpdump, VETH_HERE, VETH_PEER, vethToPeer } from "./netns_peer.ts";
import { openStack } from "../../../src/stack.ts";

const STACK_IP = "10.0.0.1";
const ROUTER_IP = "10.1.0.1";
const PEER_IP = "10.1.0.2";
const PORT = 5001;
const MTU = 1500;
const SCRIPT = new URL(import.meta.url).pathname;

if (Deno.args[0] === "--peer") {
  // The kernel peer, alone in its nested namespace: one connection, SIZE bytes each way.
  const size = Number(Deno.args[1]);
  await scenario(60_000, async () => {
    const listener = Deno.listen({ hostname: "0.0.0.0", port: PORT });
    console.log("ready");
    const conn = await within(listener.accept(), 20_000, "accept");
    listener.close();
    try {
      const data = randomBytes(size);
      const [got] = await within(
        Promise.all([readToEnd(conn), writeAll(conn, data).then(() => conn.closeWrite())]),
        40_000,
        "transfer",
      );
      console.log(JSON.stringify({
        received: got.length,
        sha256Received: await sha256(got),
        sha256Sent: await sha256(data),
      }));
      // The veth pair dies with this namespace: stay until the parent has stopped its capture.
      await within(new Response(Deno.stdin.readable).arrayBuffer(), 20_000, "parent done");
      return {};
    } finally {
      closeQuietly(conn);
    }
  });
}

/** tshark's fields per packet, in order. */
const FIELDS = [
  "frame.number",
  "ip.src",
  "ip.len",
  "ip.checksum.status",
  "tcp.len",
  "tcp.flags",
  "tcp.checksum.status",
  "tcp.checksum",
  "tcp.checksum_calculated",
  "tcp.options.mss_val",
  "tcp.options.timestamp.tsval",
] as const;

/** What tshark found in the capture; "out" is the stack's direction, "in" the peer's. */
export interface CaptureCheck {
  /** TCP packets in the capture. */
  packets: number;
  /** Packets that are not TCP over IPv4. */
  others: number;
  /** Data segments (TCP payload > 0) per direction. */
  dataSegments: { out: number; in: number };
  /** Largest TCP payload and IPv4 length per direction. */
  maxPayload: { out: number; in: number };
  maxIpLength: { out: number; in: number };
  /** Stack data segments of exactly the largest payload allowed: whole pieces of a cut. */
  fullSizedOut: number;
  /** The most payload a segment may carry: the MSS the peer offered, less 12 with timestamps. */
  payloadLimit: number;
  /** Segments whose IPv4 or TCP checksum tshark does not call Good, as frame descriptions. */
  notGood: string[];
  /**
   * Segments with 0xffff where a fresh sum gives 0x0000: the same value in one's complement
   * (Linux's `skb_checksum_help` stores CSUM_MANGLED_0 so); counted, and accepted.
   */
  negativeZero: number;
}

/** Reads the capture with tshark (IPv4 and TCP checksum validation on) and checks it. */
async function checkCapture(path: string): Promise<CaptureCheck> {
  const out = await new Deno.Command("tshark", {
    args: [
      "-n",
      "-r",
      path,
      "-o",
      "ip.check_checksum:TRUE",
      "-o",
      "tcp.check_checksum:TRUE",
      "-T",
      "fields",
      "-E",
      "separator=/t",
      "-E",
      "occurrence=f",
      ...FIELDS.flatMap((f) => ["-e", f]),
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(60_000),
  }).output();
  if (!out.success) throw new Error(`tshark failed: ${new TextDecoder().decode(out.stderr)}`);
  const rows = new TextDecoder().decode(out.stdout).split("\n").filter((l) => l !== "");
  const c: CaptureCheck = {
    packets: 0,
    others: 0,
    dataSegments: { out: 0, in: 0 },
    maxPayload: { out: 0, in: 0 },
    maxIpLength: { out: 0, in: 0 },
    fullSizedOut: 0,
    payloadLimit: 0,
    notGood: [],
    negativeZero: 0,
  };
  const parsed = rows.map((row) => {
    const cols = row.split("\t");
    const get = (f: typeof FIELDS[number]) => cols[FIELDS.indexOf(f)] ?? "";
    return { get };
  });
  // The limit comes from the handshake: the peer's MSS option and whether timestamps are on.
  let peerMss = 0;
  let timestamps = false;
  for (const { get } of parsed) {
    const flags = parseInt(get("tcp.flags"), 16);
    if (!(flags & 0x02)) continue;
    if (get("ip.src") === PEER_IP && get("tcp.options.mss_val") !== "") {
      peerMss = Number(get("tcp.options.mss_val"));
    }
    if (get("tcp.options.timestamp.tsval") !== "") timestamps = true;
  }
  c.payloadLimit = peerMss - (timestamps ? 12 : 0);
  for (const { get } of parsed) {
    if (get("tcp.len") === "" || get("ip.len") === "") {
      c.others++;
      continue;
    }
    c.packets++;
    const dir = get("ip.src") === STACK_IP ? "out" : "in";
    const len = Number(get("tcp.len"));
    const ipLen = Number(get("ip.len"));
    const where = `frame ${get("frame.number")} from ${get("ip.src")} len ${len}`;
    if (get("ip.checksum.status") !== "1") c.notGood.push(`${where}: IPv4 checksum`);
    if (get("tcp.checksum.status") !== "1") {
      if (get("tcp.checksum") === "0xffff" && get("tcp.checksum_calculated") === "0x0000") {
        c.negativeZero++;
      } else {
        c.notGood.push(`${where}: TCP checksum ${get("tcp.checksum")}`);
      }
    }
    if (len > 0) c.dataSegments[dir]++;
    c.maxPayload[dir] = Math.max(c.maxPayload[dir], len);
    c.maxIpLength[dir] = Math.max(c.maxIpLength[dir], ipLen);
    if (dir === "out" && len === c.payloadLimit) c.fullSizedOut++;
  }
  return c;
}

/** The JSON line this script prints. */
export interface ForwardReport {
  size: number;
  /** SHA-256 matches of what each side received against what the other sent. */
  stackToPeerIntact: boolean;
  peerToStackIntact: boolean;
  /** The stack's counters. */
  superSegmentsOut: number;
  superSegmentsIn: number;
  packetsOut: number;
  badTcpChecksum: number;
  badVirtioHeader: number;
  /** What the TUN device agreed to (null: no virtio-net header). */
  frameOffloads: unknown;
  capture: CaptureCheck;
  tcpdump: string;
}

if (Deno.args[0] !== "--peer") {
  const size = Number(Deno.args[0] ?? 4 * 1024 * 1024);
  const keep = Deno.args[1];
  await scenario(90_000, async () => {
    const dir = await Deno.makeTempDir({ prefix: "tcptun_offload_forward_" });
    const file = `${dir}/peer.pcap`;
    try {
      const peer = await spawnPeer(SCRIPT, ["--peer", String(size)], {
        stdin: "piped",
        readyMs: 15_000,
      });
      const pid = peer.pid;
      await vethToPeer(pid, { here: `${ROUTER_IP}/24`, peer: `${PEER_IP}/24`, mtu: MTU });
      await inNs(pid, "ip", "route", "add", "default", "via", ROUTER_IP);
      // Router → peer: no segmentation or checksum offload, so a forwarded super-segment is
      // cut and checksummed by the kernel before it leaves. Peer → router: the peer sends
      // MSS-sized segments with full checksums; GRO on the router merges them again.
      const noOffload = ["tso", "off", "gso", "off", "tx", "off"];
      await sh("ethtool", "-K", VETH_HERE, ...noOffload, "gro", "on");
      await inNs(pid, "ethtool", "-K", VETH_PEER, ...noOffload, "gro", "off");
      sysctl("net/ipv4/ip_forward", "1");
      const dump = await startTcpdump(VETH_PEER, file, { nsPid: pid, extra: ["-B", "32768"] });

      const stack = await openStack({ tunIp: STACK_IP, mtu: MTU, offload: true });
      let peerResult: Record<string, unknown>;
      let got: Uint8Array;
      const data = randomBytes(size);
      try {
        const conn = await within(
          stack.connect({ hostname: PEER_IP, port: PORT }),
          10_000,
          "connect",
        );
        [got] = await within(
          Promise.all([readStream(conn.readable), sendStack(conn, data)]),
          40_000,
          "transfer",
        );
        await within(conn.closed, 10_000, "close");
        peerResult = await peer.result(20_000);
      } finally {
        await stack.close();
      }
      const counters = stack.counters;
      // Stop the capture while the veth pair exists, then let the peer go.
      const tcpdump = await dump.stop();
      await peer.child.stdin.close();
      await within(peer.child.status, 10_000, "peer exit");
      if (keep) await Deno.copyFile(file, keep);
      const report: ForwardReport = {
        size,
        stackToPeerIntact: peerResult.received === size &&
          peerResult.sha256Received === await sha256(data),
        peerToStackIntact: got.length === size && peerResult.sha256Sent === await sha256(got),
        superSegmentsOut: counters.superSegmentsOut,
        superSegmentsIn: counters.superSegmentsIn,
        packetsOut: counters.packetsOut,
        badTcpChecksum: counters.badTcpChecksum,
        badVirtioHeader: counters.badVirtioHeader,
        frameOffloads: stack.core.link.frameOffloads ?? null,
        capture: await checkCapture(file),
        tcpdump,
      };
      return report as unknown as Record<string, unknown>;
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}
