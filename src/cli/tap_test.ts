import assert from "node:assert/strict";
import { emitIpv4, IPPROTO_ICMP, IPPROTO_UDP } from "../wire/ipv4.ts";
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
  assert.equal(formatPacket("in", v6), "← IPv6 packet, 48 bytes");
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
