/**
 * Scenario (in a fresh namespace, which plays a router): path MTU discovery against the Linux
 * kernel. The stack (TUN link, MTU 1500) connects through this namespace's IP forwarding to a
 * kernel peer in a second namespace behind a veth pair of MTU 1280, and sends it SIZE bytes.
 * The peer announces the MSS of a 1500-byte link (its route carries `advmss`), so the stack's
 * first full-sized segments are too large for the router's next hop:
 *
 * - mode `icmp`: the router refuses them with ICMP "fragmentation needed" and the next-hop
 *   MTU (RFC 1191 §4); the stack lowers its MSS to fit 1280 and sends again.
 * - mode `blackhole`: the same, but iptables drops every "fragmentation needed" the router
 *   makes (OUTPUT and FORWARD), so no ICMP reaches the stack; only black-hole detection (the
 *   MSS halves after repeated timeouts of full-sized segments) can finish the transfer.
 *
 * The peer reads to EOF, notes the receive MSS its kernel measured (`ss -ti` rcvmss), and
 * answers with one JSON line: the byte count and SHA-256 of what it read.
 *
 * Usage: `pmtu_router.ts MODE [family=4] [offload=on|off] [size=BYTES]` (default size 20
 * MiB). The parent starts itself again as `pmtu_router.ts --peer FAMILY` for the peer.
 * Prints one JSON line (see {@linkcode PmtuReport}).
 *
 * Both IP versions run: everything that depends on the family is in {@linkcode FAMILIES}. Over
 * IPv6 the router's message is Packet Too Big (RFC 8201) and the floor is IPv6's own minimum MTU
 * of 1280 (RFC 8200 §5), which the narrow link has.
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
import { inNs, spawnPeer, vethToPeer } from "./netns_peer.ts";
import { openStack } from "../../../src/stack.ts";
import type { TcpConn } from "../../../src/socket.ts";
import type { TraceEvent } from "../../../src/tcp/trace.ts";

/** What differs between IPv4 and IPv6 in this scenario. */
interface Family {
  /** The stack's address (its TUN link). */
  stackIp: string;
  /** The router's address on the veth toward the peer. */
  routerIp: string;
  /** The kernel peer's address. */
  peerIp: string;
  /** Prefix length of the veth subnet. */
  prefix: number;
  /** Where the peer listens. */
  anyAddr: string;
  /** IP and TCP headers without options: MTU − this = MSS. */
  headerBytes: number;
  /** The packet filter command. */
  iptables: string;
  /** iptables match words for the "packet too big" ICMP message. */
  tooBigMatch: string[];
  /** The sysctl that turns on forwarding. */
  forwarding: string;
  /** `/proc/net/snmp` (rows "Ip:", "Icmp:") or its IPv6 counterpart. */
  snmp: { file: string; forwarded: string; tooBig: string; icmpOut: string };
}

/** The families this script knows (see the module note for IPv6). */
const FAMILIES: Record<string, Family> = {
  "4": {
    stackIp: "10.0.0.1",
    routerIp: "10.1.0.1",
    peerIp: "10.1.0.2",
    prefix: 24,
    anyAddr: "0.0.0.0",
    headerBytes: 40,
    iptables: "iptables",
    tooBigMatch: ["-p", "icmp", "--icmp-type", "fragmentation-needed"],
    forwarding: "net/ipv4/ip_forward",
    snmp: {
      file: "/proc/net/snmp",
      forwarded: "Ip:ForwDatagrams",
      tooBig: "Ip:FragFails",
      icmpOut: "Icmp:OutDestUnreachs",
    },
  },
  "6": {
    stackIp: "fdac:1194:20dc::1",
    routerIp: "fd01::1",
    peerIp: "fd01::2",
    prefix: 64,
    anyAddr: "::",
    headerBytes: 60,
    iptables: "ip6tables",
    tooBigMatch: ["-p", "icmpv6", "--icmpv6-type", "packet-too-big"],
    forwarding: "net/ipv6/conf/all/forwarding",
    snmp: {
      file: "/proc/net/snmp6",
      forwarded: "Ip6OutForwDatagrams",
      tooBig: "Ip6InTooBigErrors",
      icmpOut: "Icmp6OutPktTooBigs",
    },
  },
};

const PORT = 5001;
/** The stack's link MTU, and the MTU the peer's route claims (advmss = it − headers). */
const WIDE_MTU = 1500;
/** The MTU of the veth pair between the router and the peer. */
const NARROW_MTU = 1280;
const SCRIPT = new URL(import.meta.url).pathname;

function family(name: string): Family {
  const f = FAMILIES[name];
  if (!f) throw new Error(`family ${name}: not supported (known: ${Object.keys(FAMILIES)})`);
  return f;
}

if (Deno.args[0] === "--peer") {
  // The kernel peer, alone in its nested namespace: one connection, read to EOF, answer.
  const fam = family(Deno.args[1] ?? "4");
  await scenario(55_000, async () => {
    const listener = Deno.listen({ hostname: fam.anyAddr, port: PORT });
    console.log("ready");
    const conn = await within(listener.accept(), 20_000, "accept");
    listener.close();
    try {
      const got = await within(readToEnd(conn), 45_000, "receive");
      // The receive MSS this kernel measured from the segments that arrived (tcp_measure_rcv_mss).
      const ss = await sh("ss", "-tinH", "state", "close-wait", "sport", "=", `:${PORT}`);
      const rcvMss = Number(ss.match(/rcvmss:(\d+)/)?.[1] ?? -1);
      const answer = { received: got.length, sha256: await sha256(got), rcvMss };
      await writeAll(conn, new TextEncoder().encode(JSON.stringify(answer) + "\n"));
      conn.closeWrite();
      await within(readToEnd(conn), 10_000, "the stack's FIN");
      return answer;
    } finally {
      closeQuietly(conn);
    }
  });
}

/** Counters of `/proc/net/snmp` (this namespace's), as "Row:Name" → value. */
function snmp(file: string): Map<string, number> {
  const m = new Map<string, number>();
  const rows = Deno.readTextFileSync(file).split("\n");
  if (file.endsWith("snmp6")) {
    // `/proc/net/snmp6` holds one "Name value" pair per line.
    for (const row of rows) {
      const [name, value] = row.trim().split(/\s+/);
      if (name && value !== undefined) m.set(name, Number(value));
    }
    return m;
  }
  for (let i = 0; i + 1 < rows.length; i += 2) {
    const names = rows[i].trim().split(/\s+/);
    const values = rows[i + 1].trim().split(/\s+/);
    if (names[0] !== values[0]) continue;
    for (let j = 1; j < names.length; j++) m.set(names[0] + names[j], Number(values[j]));
  }
  return m;
}

/** Packets matched by the rules of `chain` whose target is `target`. */
async function ruleHits(cmd: string, chain: string, target: string): Promise<number> {
  const text = await sh(cmd, "-w", "5", "-L", chain, "-n", "-v", "-x");
  let n = 0;
  for (const line of text.split("\n").slice(2)) {
    const f = line.trim().split(/\s+/);
    if (f.length > 2 && f[2] === target) n += Number(f[0]);
  }
  return n;
}

/** The JSON line this script prints. */
export interface PmtuReport {
  mode: "icmp" | "blackhole";
  family: string;
  offload: boolean;
  size: number;
  /** The peer read exactly SIZE bytes with the SHA-256 of what the stack sent. */
  intact: boolean;
  received: number;
  /** The stack's send MSS (payload per segment, options excluded) after the handshake. */
  mssBefore: number;
  /** ... and at the end of the transfer. */
  mssAfter: number;
  /** The MSS changes the connection traced, with their cause. */
  mssChanges: { mss: number; cause: string }[];
  /** Of the stack's data segments sent after the first MSS change: the largest piece. */
  largestAfterDrop: number;
  /** Super-segments sent after the first MSS change (TSO after resegmentation). */
  superSegmentsAfterDrop: number;
  /** The receive MSS the peer's kernel measured (`ss -ti` rcvmss), −1 if not found. */
  peerRcvMss: number;
  /** The connection's counters at the end. */
  retransmissions: number;
  timeouts: number;
  /** Stack counters. */
  icmpErrors: number;
  pmtuUpdates: number;
  icmpIgnored: number;
  superSegmentsOut: number;
  packetsOut: number;
  /** The router: packets refused as too big, "fragmentation needed" made, those iptables dropped. */
  routerTooBig: number;
  routerIcmpMade: number;
  routerIcmpDropped: number;
  routerForwarded: number;
  /** Time from the first write to the peer's answer, ms (printed, never asserted). */
  transferMs: number;
}

/** Writes `data`, closes the write side, reads the peer's answer. */
async function sendAndHear(conn: TcpConn, data: Uint8Array): Promise<string> {
  await sendStack(conn, data);
  return new TextDecoder().decode(await readStream(conn.readable));
}

if (Deno.args[0] !== "--peer") {
  const mode = Deno.args[0];
  if (mode !== "icmp" && mode !== "blackhole") {
    throw new Error(`usage: pmtu_router.ts icmp|blackhole [family=4] [offload=on|off] [size=N]`);
  }
  const kv = new Map(Deno.args.slice(1).map((a) => a.split("=", 2) as [string, string]));
  const familyName = kv.get("family") ?? "4";
  const offload = (kv.get("offload") ?? "on") === "on";
  const size = Number(kv.get("size") ?? 20 * 1024 * 1024);
  await scenario(55_000, async () => {
    const fam = family(familyName);
    const peer = await spawnPeer(SCRIPT, ["--peer", familyName], {
      stdin: "null",
      readyMs: 15_000,
    });
    const pid = peer.pid;
    // The narrow link: both ends of the veth pair at 1280. No duplicate address detection
    // (IPv6): the addresses are usable at once.
    await vethToPeer(pid, {
      here: `${fam.routerIp}/${fam.prefix}`,
      peer: `${fam.peerIp}/${fam.prefix}`,
      mtu: NARROW_MTU,
      nodad: fam.headerBytes === 60,
    });
    // The peer announces the MSS of a 1500-byte link, as a host on Ethernet behind a narrower
    // hop does: it cannot know the path.
    const advmss = String(WIDE_MTU - fam.headerBytes);
    await inNs(pid, "ip", "route", "add", "default", "via", fam.routerIp, "advmss", advmss);
    sysctl(fam.forwarding, "1");
    // The path is ready before the stack's SYN: a fresh veth drops the first packets while
    // the router resolves the peer (IPv6 neighbour discovery on a link just up), which would
    // cost the SYN a 1 s retransmission and leave the connection without an RTT sample.
    await sh("ping", "-c", "1", "-W", "5", fam.peerIp);
    // Count (icmp) or drop (blackhole) every "fragmentation needed" the router makes.
    const target = mode === "icmp" ? "ACCEPT" : "DROP";
    for (const chain of ["OUTPUT", "FORWARD"]) {
      await sh(fam.iptables, "-w", "5", "-A", chain, ...fam.tooBigMatch, "-j", target);
    }

    const mssChanges: { mss: number; cause: string }[] = [];
    let largestAfterDrop = 0;
    let superSegmentsAfterDrop = 0;
    const trace = (_conn: number, e: TraceEvent) => {
      if (e.ev === "mss") {
        mssChanges.push({ mss: e.mss, cause: e.cause });
      } else if (e.ev === "seg" && e.dir === "out" && e.len > 0 && mssChanges.length > 0) {
        const segs = e.segs ?? 1;
        if (segs > 1) superSegmentsAfterDrop++;
        largestAfterDrop = Math.max(largestAfterDrop, Math.ceil(e.len / segs));
      }
    };
    const before = snmp(fam.snmp.file);
    const stack = fam.headerBytes === 60
      ? await openStack({ tunIp: "10.0.0.1", tunIp6: fam.stackIp, mtu: WIDE_MTU, offload, trace })
      : await openStack({ tunIp: fam.stackIp, mtu: WIDE_MTU, offload, trace, tunIp6: false });
    const data = randomBytes(size);
    try {
      const conn = await within(
        stack.connect({ hostname: fam.peerIp, port: PORT }),
        10_000,
        "connect",
      );
      const mssBefore = conn.stats().mss;
      const t0 = performance.now();
      const answerText = await within(sendAndHear(conn, data), 45_000, "transfer");
      const transferMs = Math.round(performance.now() - t0);
      const st = conn.stats();
      await within(conn.closed, 10_000, "close");
      const answer = JSON.parse(answerText);
      await within(peer.child.status, 10_000, "peer exit");
      const after = snmp(fam.snmp.file);
      const delta = (k: string) => (after.get(k) ?? 0) - (before.get(k) ?? 0);
      const c = stack.counters;
      const report: PmtuReport = {
        mode,
        family: familyName,
        offload: stack.core.link.frameOffloads != null,
        size,
        intact: answer.received === size && answer.sha256 === await sha256(data),
        received: answer.received,
        mssBefore,
        mssAfter: st.mss,
        mssChanges,
        largestAfterDrop,
        superSegmentsAfterDrop,
        peerRcvMss: answer.rcvMss,
        retransmissions: st.retransmissions,
        timeouts: st.timeouts,
        icmpErrors: c.icmpErrors,
        pmtuUpdates: c.pmtuUpdates,
        icmpIgnored: c.icmpIgnored,
        superSegmentsOut: c.superSegmentsOut,
        packetsOut: c.packetsOut,
        routerTooBig: delta(fam.snmp.tooBig),
        routerIcmpMade: delta(fam.snmp.icmpOut),
        routerIcmpDropped: mode === "blackhole"
          ? await ruleHits(fam.iptables, "OUTPUT", "DROP") +
            await ruleHits(fam.iptables, "FORWARD", "DROP")
          : 0,
        routerForwarded: delta(fam.snmp.forwarded),
        transferMs,
      };
      return report as unknown as Record<string, unknown>;
    } catch (e) {
      try {
        peer.child.kill("SIGKILL");
      } catch {
        // already exited
      }
      const err = await within(peer.err, 2000, "peer stderr").catch(() => "");
      throw new Error(`${e instanceof Error ? e.message : e}\npeer: ${err}`, { cause: e });
    } finally {
      await stack.close();
    }
  });
}
