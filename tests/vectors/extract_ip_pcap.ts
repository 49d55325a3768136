/**
 * Test-vector helper (not part of the library): reads the pcap written by `capture_ip.sh`,
 * picks packets by tshark display filters (the n-th match of each), takes their raw IP packets
 * (skipping the 14-byte Ethernet header) and asks tshark for the values of FIELDS in every
 * occurrence (an ICMP error's quoted packet repeats the IP and TCP fields), then prints
 * `linux_ip_packets.ts`.
 *
 * The facts come from tshark (IPv6 reassembly off, so each fragment is decoded alone), not from
 * src/wire, so the tests compare against an independent decoder.
 *
 * Usage: deno run -A tests/vectors/extract_ip_pcap.ts tests/vectors/linux_ip_capture.pcap > tests/vectors/linux_ip_packets.ts
 * @module
 */

import { readPcap, toHex } from "./util.ts";

/** [name, description, display filter, which match (0 = first)]. */
const SELECTION: [string, string, string, number][] = [
  ["echo6Request7", "ICMPv6 echo request, 7 data bytes (odd length)", "icmpv6.type==128 && ipv6.plen==15", 0],
  ["echo6Reply7", "the kernel's echo reply to it", "icmpv6.type==129 && ipv6.plen==15", 0],
  ["echo6Request16", "ICMPv6 echo request, 16 data bytes", "icmpv6.type==128 && ipv6.plen==24", 0],
  ["echo6Reply16", "the kernel's echo reply to it", "icmpv6.type==129 && ipv6.plen==24", 0],
  ["tcp6Syn", "TCP SYN over IPv6: MSS 1440, SACK-permitted, timestamps, WS 10", "ipv6 && tcp.dstport==5000 && tcp.flags==0x002", 0],
  ["tcp6SynAck", "TCP SYN-ACK over IPv6", "ipv6 && tcp.srcport==5000 && tcp.flags==0x012", 0],
  ["tcp6Data", "PSH-ACK carrying 'hello\\n' over IPv6", "ipv6 && tcp.dstport==5000 && tcp.len==6", 0],
  ["tcp6Echo", "the server's PSH-ACK echoing it", "ipv6 && tcp.srcport==5000 && tcp.len==6", 0],
  ["tcp6Rst", "RST-ACK for a closed port over IPv6", "ipv6 && tcp.srcport==5001 && tcp.flags.reset==1", 0],
  ["tcp6FullSegment", "a 1428-byte TCP segment over IPv6 (too big for the path)", "ipv6 && tcp.dstport==5002 && tcp.len==1428 && !icmpv6", 0],
  ["icmp6PortUnreachable", "ICMPv6 destination unreachable code 4 quoting a UDP datagram", "icmpv6.type==1 && icmpv6.code==4", 0],
  ["icmp4PortUnreachable", "ICMPv4 destination unreachable code 3 quoting a UDP datagram", "icmp.type==3 && icmp.code==3", 0],
  ["icmp6PacketTooBig", "ICMPv6 Packet Too Big (MTU 1280) from the router, quoting 1232 bytes of a TCP segment", "icmpv6.type==2", 0],
  ["icmp4FragNeeded", "ICMPv4 fragmentation needed (next-hop MTU 1280) quoting 548 bytes of a TCP segment", "icmp.type==3 && icmp.code==4", 0],
  ["icmp6NoRoute", "ICMPv6 destination unreachable code 0 (no route) quoting a SYN", "icmpv6.type==1 && icmpv6.code==0", 0],
  ["icmp6Prohibited", "ICMPv6 destination unreachable code 1 (administratively prohibited) quoting a SYN", "icmpv6.type==1 && icmpv6.code==1", 0],
  ["icmp4HostUnreachable", "ICMPv4 destination unreachable code 1 (host unreachable) quoting a SYN", "icmp.type==3 && icmp.code==1", 0],
  ["icmp4Prohibited", "ICMPv4 destination unreachable code 13 (administratively prohibited) quoting a SYN", "icmp.type==3 && icmp.code==13", 0],
  ["icmp6HopLimitExceeded", "ICMPv6 time exceeded code 0 quoting a SYN sent with hop limit 1", "icmpv6.type==3", 0],
  ["icmp4TtlExceeded", "ICMPv4 time exceeded code 0 quoting a SYN sent with TTL 1", "icmp.type==11", 0],
  ["frag6First", "first fragment of a 1608-byte echo request (offset 0, M 1)", "ipv6.src==fd00:a::1 && ipv6.fraghdr.offset==0 && ipv6.fraghdr.more==1 && frame.len > 1000", 0],
  ["frag6Last", "last fragment of it (offset 154, M 0)", "ipv6.src==fd00:a::1 && ipv6.fraghdr.offset > 0", 0],
  ["dstOptSkip", "echo request behind a Destination Options header with an unknown action-00 option", "icmpv6.type==128 && icmpv6.echo.identifier==0x6100", 0],
  ["dstOptSkipReply", "the kernel's echo reply to it (the option skipped)", "icmpv6.type==129 && icmpv6.echo.identifier==0x6100", 0],
  ["dstOptDiscard", "the same with an action-01 option (the kernel drops it silently)", "icmpv6.type==128 && icmpv6.echo.identifier==0x6101", 0],
  ["dstOptAction10", "the same with an action-10 option", "icmpv6.type==128 && icmpv6.echo.identifier==0x6102", 0],
  ["dstOptAction10Problem", "Parameter Problem code 2, pointer 42, for it", "icmpv6.type==4 && icmpv6.echo.identifier==0x6102", 0],
  ["dstOptAction11", "the same with an action-11 option", "icmpv6.type==128 && icmpv6.echo.identifier==0x6103", 0],
  ["dstOptAction11Problem", "Parameter Problem code 2, pointer 42, for it", "icmpv6.type==4 && icmpv6.echo.identifier==0x6103", 0],
  ["dstOptPadding", "echo request behind a Destination Options header of Pad1 and PadN only", "icmpv6.type==128 && icmpv6.echo.identifier==0x6104", 0],
  ["hbhAction10", "echo request behind a Hop-by-Hop header with an unknown action-10 option", "icmpv6.type==128 && icmpv6.echo.identifier==0x6105", 0],
  ["hbhAction10Problem", "the router's Parameter Problem code 2, pointer 42, for it", "icmpv6.type==4 && icmpv6.echo.identifier==0x6105", 0],
  ["unknownNextHeader", "a packet with Next Header 253 and 8 zero bytes", "ipv6.nxt==253", 0],
  ["unknownNextHeaderProblem", "Parameter Problem code 1, pointer 6, for it", "icmpv6.type==4 && ipv6.nxt==253", 0],
  ["routing0", "echo request behind a type 0 Routing header with Segments Left 1", "ipv6.routing.segleft==1 && !icmpv6.type==4", 0],
  ["routing0Problem", "Parameter Problem code 0, pointer 42 (the Routing Type), for it", "icmpv6.type==4 && ipv6.routing.segleft==1", 0],
  ["routing0Done", "echo request behind a type 0 Routing header with Segments Left 0", "icmpv6.type==128 && icmpv6.echo.identifier==0x6107", 0],
  ["hbhNotFirst", "echo request with a Hop-by-Hop header after a Destination Options header", "icmpv6.type==128 && icmpv6.echo.identifier==0x6108 && !icmpv6.type==4", 0],
  ["hbhNotFirstProblem", "Parameter Problem code 1, pointer 40, for it", "icmpv6.type==4 && icmpv6.echo.identifier==0x6108", 0],
  ["atomicFragment", "echo request in an atomic fragment (offset 0, M 0)", "icmpv6.type==128 && icmpv6.echo.identifier==0x6109", 0],
  ["atomicFragmentReply", "the kernel's echo reply to it", "icmpv6.type==129 && icmpv6.echo.identifier==0x6109", 0],
  ["fragBadLength", "a first fragment (M 1) of 18 payload bytes, not a multiple of 8", "ipv6.fraghdr.ident==0x610a && !icmpv6.type==4", 0],
  ["fragBadLengthProblem", "Parameter Problem code 0, pointer 4 (Payload Length), for it", "icmpv6.type==4 && ipv6.fraghdr.ident==0x610a", 0],
  ["fragIncompleteChain", "a first fragment that ends after a Destination Options header", "ipv6.fraghdr.ident==0x610b && !icmpv6.type==4", 0],
  ["fragIncompleteChainProblem", "Parameter Problem code 3, pointer 0, for it", "icmpv6.type==4 && ipv6.fraghdr.ident==0x610b", 0],
  ["ip4BadOption", "IPv4 echo request with a Timestamp option of length 3", "ip.id==0x4242 && frame.len < 60", 0],
  ["ip4BadOptionProblem", "the router's ICMPv4 Parameter Problem for it (pointer 21)", "icmp.type==12", 0],
  ["ndNeighborSolicitation", "Neighbor Solicitation for the router's address", "icmpv6.type==135 && ipv6.src==fd00:a::1", 0],
  ["ndNeighborAdvertisement", "the router's Neighbor Advertisement", "icmpv6.type==136", 0],
  ["ndDadSolicitation", "a DAD Neighbor Solicitation from the unspecified address", "icmpv6.type==135 && ipv6.src==::", 0],
  ["ndRouterSolicitation", "a Router Solicitation", "icmpv6.type==133", 0],
  ["mldv2Report", "an MLDv2 report (Hop-by-Hop header with Router Alert)", "icmpv6.type==143", 0],
];

const FIELDS = [
  "frame.number",
  "ipv6.tclass",
  "ipv6.flow",
  "ipv6.plen",
  "ipv6.nxt",
  "ipv6.hlim",
  "ipv6.src",
  "ipv6.dst",
  "ipv6.hopopts.nxt",
  "ipv6.dstopts.nxt",
  "ipv6.opt.type",
  "ipv6.routing.type",
  "ipv6.routing.segleft",
  "ipv6.fraghdr.nxt",
  "ipv6.fraghdr.offset",
  "ipv6.fraghdr.more",
  "ipv6.fraghdr.ident",
  "icmpv6.type",
  "icmpv6.code",
  "icmpv6.checksum",
  "icmpv6.mtu",
  "icmpv6.pointer",
  "icmpv6.echo.identifier",
  "icmpv6.echo.sequence_number",
  "ip.hdr_len",
  "ip.len",
  "ip.proto",
  "ip.src",
  "ip.dst",
  "icmp.type",
  "icmp.code",
  "icmp.checksum",
  "icmp.mtu",
  "icmp.pointer",
  "tcp.srcport",
  "tcp.dstport",
  "tcp.seq",
  "tcp.seq_raw",
  "tcp.ack_raw",
  "tcp.flags",
  "tcp.hdr_len",
  "tcp.len",
  "tcp.checksum",
  "tcp.options.mss_val",
  "udp.srcport",
  "udp.dstport",
];

const PREFS = ["-o", "ipv6.defragment:FALSE", "-o", "tcp.relative_sequence_numbers:FALSE"];

function tshark(args: string[]): string {
  const out = new Deno.Command("tshark", { args, stderr: "null" }).outputSync();
  if (!out.success) throw new Error("tshark failed: " + args.join(" "));
  return new TextDecoder().decode(out.stdout);
}

function framesMatching(pcap: string, filter: string): number[] {
  return tshark(["-r", pcap, ...PREFS, "-Y", filter, "-T", "fields", "-e", "frame.number"])
    .split("\n").filter((l) => l !== "").map(Number);
}

function facts(pcap: string): Map<number, Record<string, string[]>> {
  const args = ["-r", pcap, ...PREFS, "-T", "fields"];
  args.push("-E", "separator=|", "-E", "occurrence=a", "-E", "aggregator=,");
  for (const f of FIELDS) args.push("-e", f);
  const map = new Map<number, Record<string, string[]>>();
  for (const line of tshark(args).split("\n")) {
    if (line === "") continue;
    const cols = line.split("|");
    const rec: Record<string, string[]> = {};
    FIELDS.forEach((f, i) => {
      if (f !== "frame.number" && (cols[i] ?? "") !== "") rec[f] = cols[i].split(",");
    });
    map.set(Number(cols[0]), rec);
  }
  return map;
}

function main(): void {
  const pcap = Deno.args[0];
  if (!pcap) throw new Error("usage: extract_ip_pcap.ts <file.pcap>");
  const { linkType, records } = readPcap(Deno.readFileSync(pcap));
  if (linkType !== 1) throw new Error(`expected Ethernet (DLT_EN10MB), got link type ${linkType}`);
  const all = facts(pcap);
  const lines: string[] = [];
  lines.push("// Generated by tests/vectors/extract_ip_pcap.ts from tests/vectors/linux_ip_capture.pcap");
  lines.push("// (captured by tests/vectors/capture_ip.sh: Linux kernel " + Deno.osRelease() + ", three");
  lines.push("// namespaces, veth pairs, no checksum offload). Field values were decoded by tshark (every");
  lines.push("// occurrence, outer packet first, then the packet an ICMP error quotes). Do not edit by hand.");
  lines.push("");
  lines.push("/** One captured IP packet (IPv4 or IPv6, no link-layer header) and tshark's facts about it. */");
  lines.push("export interface LinuxIpPacket {");
  lines.push("  name: string;");
  lines.push("  description: string;");
  lines.push("  /** The raw IP packet as hex. */");
  lines.push("  hex: string;");
  lines.push("  /** tshark field name to its values, one per occurrence (absent fields are left out). */");
  lines.push("  f: Record<string, string[]>;");
  lines.push("}");
  lines.push("");
  lines.push("/** The selected packets, in the order of the selection. */");
  lines.push("export const LINUX_IP_PACKETS: LinuxIpPacket[] = [");
  for (const [name, description, filter, nth] of SELECTION) {
    const frame = framesMatching(pcap, filter)[nth];
    if (frame === undefined) throw new Error(`${name}: no match ${nth} for ${filter}`);
    const rec = records[frame - 1];
    const f = all.get(frame)!;
    const etherType = (rec[12] << 8) | rec[13];
    const ip = rec.subarray(14);
    const length = etherType === 0x86dd
      ? 40 + ((ip[4] << 8) | ip[5])
      : (ip[2] << 8) | ip[3];
    const entry = { name, description, hex: toHex(ip.subarray(0, length)), f };
    lines.push("  " + JSON.stringify(entry) + ",");
  }
  lines.push("];");
  console.log(lines.join("\n"));
}

main();
