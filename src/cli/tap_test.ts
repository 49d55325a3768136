import assert from "node:assert/strict";
import { emitIpv4, IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP } from "../wire/ipv4.ts";
import { emitIpv6, IPPROTO_DSTOPTS, IPPROTO_FRAGMENT, IPPROTO_ICMPV6 } from "../wire/ipv6.ts";
import { parseIpv6Address } from "../wire/ipv6_address.ts";
import { ACK, CWR, ECE, FIN, PSH, RST, SYN, URG } from "../wire/tcp.ts";
import { PcapWriter, type SyncSink } from "../pcap.ts";
import { tcpPacket } from "./_packets.ts";
import { createLogger } from "./log.ts";
import { createTap, formatPacket, formatTcpFlags } from "./tap.ts";

const synAck = () =>
  tcpPacket({
    src: "10.0.0.1",
    dst: "10.0.0.2",
    srcPort: 4444,
    dstPort: 51234,
    flags: SYN | ACK,
    seq: 123,
    ack: 456,
    window: 65535,
    options: { mss: 1460, sackPermitted: true, hasTimestamps: true, tsVal: 7, tsEcr: 9, wscale: 7 },
  });

Deno.test("tap: a SYN-ACK is described like tcpdump", () => {
  assert.equal(
    formatPacket("out", synAck()),
    "→ 10.0.0.1:4444 > 10.0.0.2:51234 [S.] seq=123 ack=456 win=65535 len=0 opts=mss1460,sack,ts,ws7",
  );
});

Deno.test("tap: received data segment, no ack field without ACK, verbose options", () => {
  const p = tcpPacket({
    src: "10.0.0.2",
    dst: "10.0.0.1",
    srcPort: 51234,
    dstPort: 4444,
    flags: PSH | ACK,
    seq: 4294967295,
    ack: 1,
    window: 502,
    payload: "hello",
    options: { hasTimestamps: true, tsVal: 100, tsEcr: 200, sackBlocks: [10, 20, 30, 40] },
  });
  assert.equal(
    formatPacket("in", p),
    "← 10.0.0.2:51234 > 10.0.0.1:4444 [P.] seq=4294967295 ack=1 win=502 len=5 opts=ts,sack2",
  );
  assert.equal(
    formatPacket("in", p, { verbose: true }),
    "← 10.0.0.2:51234 > 10.0.0.1:4444 [P.] seq=4294967295 ack=1 win=502 len=5 " +
      "opts=ts100/200,sack{10-20,30-40}",
  );
  const rst = tcpPacket({
    src: "10.0.0.1",
    dst: "10.0.0.2",
    srcPort: 1,
    dstPort: 2,
    flags: RST,
    seq: 5,
  });
  assert.equal(formatPacket("out", rst), "→ 10.0.0.1:1 > 10.0.0.2:2 [R] seq=5 win=0 len=0");
});

Deno.test("tap: flag letters in tcpdump order", () => {
  assert.equal(formatTcpFlags(0), "none");
  assert.equal(formatTcpFlags(SYN), "S");
  assert.equal(formatTcpFlags(FIN | ACK), "F.");
  assert.equal(formatTcpFlags(FIN | PSH | ACK), "FP.");
  assert.equal(formatTcpFlags(SYN | ECE | CWR), "SEW");
  assert.equal(formatTcpFlags(0xff), "SFRP.UEW");
  assert.equal(formatTcpFlags(URG | ACK), ".U");
});

Deno.test("tap: IPv6 segments show bracketed addresses (RFC 5952 §6), like IPv4 otherwise", () => {
  const syn6 = tcpPacket({
    src: "fdac:1194:20dc:0:0:0:0:2",
    dst: "fdac:1194:20dc::1",
    srcPort: 51234,
    dstPort: 4444,
    flags: SYN,
    seq: 99,
    window: 64800,
    options: { mss: 1440, sackPermitted: true, wscale: 7 },
  });
  assert.equal(syn6[0] >>> 4, 6);
  assert.equal(
    formatPacket("in", syn6),
    "← [fdac:1194:20dc::2]:51234 > [fdac:1194:20dc::1]:4444 [S] seq=99 win=64800 len=0 " +
      "opts=mss1440,sack,ws7",
  );
  const data6 = tcpPacket({
    src: "fdac:1194:20dc::1",
    dst: "fdac:1194:20dc::2",
    srcPort: 4444,
    dstPort: 51234,
    flags: PSH | ACK,
    seq: 1,
    ack: 100,
    window: 502,
    payload: "hello",
  });
  assert.equal(
    formatPacket("out", data6, {}, 3),
    "→ [fdac:1194:20dc::1]:4444 > [fdac:1194:20dc::2]:51234 [P.] seq=1 ack=100 win=502 len=5 " +
      "tso=3",
  );
  // The segment log goes through the same tap as IPv4.
  const lines: string[] = [];
  createTap({ logger: createLogger("debug", { write: (l) => lines.push(l) }) })!("out", data6, 0);
  assert.deepEqual(lines, [formatPacket("out", data6)]);
});

Deno.test("tap: IPv6 extension headers are walked; ICMPv6, fragments and junk are described", () => {
  const src = parseIpv6Address("fd00::2")!;
  const dst = parseIpv6Address("fd00::1")!;
  // A Destination Options header (PadN only) in front of a TCP RST.
  const tcp = tcpPacket({ src: "fd00::2", dst: "fd00::1", srcPort: 1, dstPort: 2, flags: RST });
  const withOpts = new Uint8Array(tcp.length + 8);
  emitIpv6(withOpts, {
    src,
    dst,
    nextHeader: IPPROTO_DSTOPTS,
    hopLimit: 64,
    payloadLength: tcp.length - 40 + 8,
  });
  withOpts.set([IPPROTO_TCP, 0, 1, 4, 0, 0, 0, 0], 40);
  withOpts.set(tcp.subarray(40), 48);
  assert.equal(formatPacket("in", withOpts), "← [fd00::2]:1 > [fd00::1]:2 [R] seq=0 win=0 len=0");
  const icmp6 = new Uint8Array(48);
  emitIpv6(icmp6, { src, dst, nextHeader: IPPROTO_ICMPV6, hopLimit: 255, payloadLength: 8 });
  icmp6[40] = 128;
  assert.equal(formatPacket("in", icmp6), "← [fd00::2] > [fd00::1] icmp6 type=128 code=0 len=8");
  const frag = new Uint8Array(40 + 8 + 16);
  emitIpv6(frag, { src, dst, nextHeader: IPPROTO_FRAGMENT, hopLimit: 64, payloadLength: 24 });
  // Fragment header: next TCP, offset 2 (16 bytes), M set, Identification 7.
  frag.set([IPPROTO_TCP, 0, 0, 0x11, 0, 0, 0, 7], 40);
  assert.equal(
    formatPacket("in", frag),
    "← [fd00::2] > [fd00::1] ip6 fragment id=7 off=16+ len=16",
  );
  const none = new Uint8Array(40);
  emitIpv6(none, { src, dst, nextHeader: 59, hopLimit: 64, payloadLength: 0 });
  assert.equal(formatPacket("out", none), "→ [fd00::2] > [fd00::1] ip6 (NoNextHeader) len=0");
  const udp6 = new Uint8Array(48);
  emitIpv6(udp6, { src, dst, nextHeader: IPPROTO_UDP, hopLimit: 64, payloadLength: 8 });
  assert.equal(formatPacket("in", udp6), "← [fd00::2] > [fd00::1] proto=17 len=8");
  const cut = tcpPacket({ src: "fd00::2", dst: "fd00::1", srcPort: 1, dstPort: 2, flags: ACK });
  cut[40 + 12] = 0x20; // data offset 2 words
  assert.match(
    formatPacket("in", cut),
    /^← \[fd00::2\] > \[fd00::1\] malformed TCP \(BadDataOffset\)/,
  );
});

Deno.test("tap: colour only around the arrow", () => {
  const line = formatPacket("out", synAck(), { color: true });
  assert(line.startsWith("\x1b[32m→\x1b[0m 10.0.0.1:4444"), line);
});

Deno.test("tap: malformed and non-TCP packets are described, never thrown", () => {
  assert.equal(
    formatPacket("in", new Uint8Array(10)),
    "← malformed IPv4 packet (TooShort), 10 bytes",
  );
  const v6 = new Uint8Array(48);
  v6[0] = 0x60;
  v6[5] = 200; // Payload Length past the packet
  assert.equal(formatPacket("in", v6), "← malformed IPv6 packet (BadPayloadLength), 48 bytes");
  const truncated = synAck().subarray(0, 30);
  assert.match(
    formatPacket("in", truncated),
    /^← malformed IPv4 packet \(BadTotalLength\), 30 bytes$/,
  );
  const badOffset = synAck();
  badOffset[20 + 12] = 0x20; // data offset 2 words
  assert.match(formatPacket("in", badOffset), /malformed TCP \(BadDataOffset\)/);
  const icmp = new Uint8Array(28);
  emitIpv4(icmp, {
    src: 0x0a000002,
    dst: 0x0a000001,
    protocol: IPPROTO_ICMP,
    ttl: 64,
    id: 1,
    payloadLength: 8,
  });
  icmp[20] = 8;
  assert.equal(formatPacket("in", icmp), "← 10.0.0.2 > 10.0.0.1 icmp type=8 code=0 len=8");
  const udp = new Uint8Array(28);
  emitIpv4(udp, {
    src: 0x0a000002,
    dst: 0x0a000001,
    protocol: IPPROTO_UDP,
    ttl: 64,
    id: 1,
    payloadLength: 8,
  });
  assert.equal(formatPacket("in", udp), "← 10.0.0.2 > 10.0.0.1 proto=17 len=8");
  const badIpSum = synAck();
  badIpSum[10] ^= 0xff;
  assert.match(formatPacket("in", badIpSum), /\[S\.\] .* \(bad IP checksum\)$/);
});

Deno.test("tap: none when nothing wants packets; segment lines only at debug", () => {
  assert.equal(createTap({}), undefined);
  assert.equal(createTap({ logger: createLogger("info", { write: () => {} }) }), undefined);
  const lines: string[] = [];
  const tap = createTap({ logger: createLogger("debug", { write: (l) => lines.push(l) }) });
  assert(tap !== undefined);
  tap("out", synAck(), 0);
  assert.deepEqual(lines, [formatPacket("out", synAck())]);
});

class MemorySink implements SyncSink {
  bytes: number[] = [];
  closed = false;
  writeSync(p: Uint8Array): number {
    this.bytes.push(...p);
    return p.length;
  }
  close(): void {
    this.closed = true;
  }
}

Deno.test("tap: capture timestamps follow the stack clock from the wall time of the first packet", () => {
  const sink = new MemorySink();
  const pcap = new PcapWriter(sink);
  const tap = createTap({ pcap, wallClock: () => 1_700_000_000_000 })!;
  tap("in", synAck(), 5000);
  tap("out", synAck(), 5001.5);
  pcap.close();
  const v = new DataView(new Uint8Array(sink.bytes).buffer);
  const rec1 = 24;
  const rec2 = rec1 + 16 + synAck().length;
  assert.equal(v.getUint32(rec1, true), 1_700_000_000);
  assert.equal(v.getUint32(rec1 + 4, true), 0);
  assert.equal(v.getUint32(rec2, true), 1_700_000_000);
  assert.equal(v.getUint32(rec2 + 4, true), 1500);
});
