import assert from "node:assert/strict";
import { LINKTYPE_RAW, PCAP_SNAPLEN, PcapWriter, type SyncSink } from "./pcap.ts";
import { tcpPacket } from "./cli/_packets.ts";
import { ACK, FIN, PSH, SYN } from "./wire/tcp.ts";

/** A sink that accepts at most `chunk` bytes per write, to exercise partial writes. */
class MemorySink implements SyncSink {
  bytes: number[] = [];
  writes = 0;
  closed = 0;
  constructor(readonly chunk = Infinity) {}
  writeSync(p: Uint8Array): number {
    this.writes++;
    const n = Math.min(p.length, this.chunk);
    for (let i = 0; i < n; i++) this.bytes.push(p[i]);
    return n;
  }
  close(): void {
    this.closed++;
  }
  view(): DataView {
    return new DataView(new Uint8Array(this.bytes).buffer);
  }
}

Deno.test("pcap: global header is classic pcap 2.4, snaplen 65535, LINKTYPE_RAW", () => {
  const sink = new MemorySink();
  new PcapWriter(sink).close();
  assert.deepEqual(sink.bytes.slice(0, 4), [0xd4, 0xc3, 0xb2, 0xa1]);
  const v = sink.view();
  assert.equal(v.getUint16(4, true), 2);
  assert.equal(v.getUint16(6, true), 4);
  assert.equal(v.getInt32(8, true), 0);
  assert.equal(v.getUint32(16, true), PCAP_SNAPLEN);
  assert.equal(v.getUint32(20, true), LINKTYPE_RAW);
  assert.equal(sink.bytes.length, 24);
  assert.equal(sink.closed, 1);
});

Deno.test("pcap: records carry µs timestamps, lengths and the bytes; buffered until full", () => {
  const sink = new MemorySink(7);
  const pcap = new PcapWriter(sink, { bufferSize: 64 });
  const a = new Uint8Array([1, 2, 3]);
  const b = new Uint8Array(30).fill(9);
  pcap.write(a, 1_600_000_000_123.4567);
  assert.equal(sink.bytes.length, 0, "buffered, not written yet");
  pcap.write(b, 1_600_000_001_999.9999); // rounds up to the next second
  const big = new Uint8Array(100).fill(5); // larger than the buffer: written straight through
  pcap.write(big, 1_600_000_002_000);
  pcap.close();
  pcap.close();
  pcap.write(a, 0); // ignored after close
  assert.equal(sink.closed, 1);
  assert.equal(pcap.packets, 3);
  const v = sink.view();
  let at = 24;
  assert.equal(v.getUint32(at, true), 1_600_000_000);
  assert.equal(v.getUint32(at + 4, true), 123457);
  assert.equal(v.getUint32(at + 8, true), 3);
  assert.equal(v.getUint32(at + 12, true), 3);
  assert.deepEqual(sink.bytes.slice(at + 16, at + 19), [1, 2, 3]);
  at += 19;
  assert.equal(v.getUint32(at, true), 1_600_000_002);
  assert.equal(v.getUint32(at + 4, true), 0);
  assert.equal(v.getUint32(at + 8, true), 30);
  at += 16 + 30;
  assert.equal(v.getUint32(at, true), 1_600_000_002);
  assert.equal(v.getUint32(at + 8, true), 100);
  assert.deepEqual(sink.bytes.slice(at + 16), Array(100).fill(5));
  assert.equal(sink.bytes.length, at + 116);
});

Deno.test("pcap: packets beyond the snap length are truncated, original length kept", () => {
  const sink = new MemorySink();
  const pcap = new PcapWriter(sink);
  pcap.write(new Uint8Array(70000), 0);
  pcap.close();
  const v = sink.view();
  assert.equal(v.getUint32(24 + 8, true), PCAP_SNAPLEN);
  assert.equal(v.getUint32(24 + 12, true), 70000);
  assert.equal(sink.bytes.length, 24 + 16 + PCAP_SNAPLEN);
});

async function haveTshark(): Promise<boolean> {
  try {
    const r = await new Deno.Command("tshark", {
      args: ["--version"],
      stdout: "null",
      stderr: "null",
    })
      .output();
    return r.success;
  } catch {
    return false;
  }
}

const requireIntegration = Deno.env.get("TCPTUN_REQUIRE_INTEGRATION") === "1";
const tshark = await haveTshark();

Deno.test({
  name: "pcap: tshark reads back addresses and flags",
  ignore: !tshark && !requireIntegration,
  async fn() {
    assert(tshark, "tshark is required (TCPTUN_REQUIRE_INTEGRATION=1)");
    const path = await Deno.makeTempFile({ suffix: ".pcap" });
    try {
      const pcap = PcapWriter.create(path);
      const packets = [
        tcpPacket({ src: "10.0.0.2", dst: "10.0.0.1", srcPort: 5, dstPort: 4444, flags: SYN }),
        tcpPacket({
          src: "10.0.0.1",
          dst: "10.0.0.2",
          srcPort: 4444,
          dstPort: 5,
          flags: SYN | ACK,
        }),
        tcpPacket({
          src: "10.0.0.2",
          dst: "10.0.0.1",
          srcPort: 5,
          dstPort: 4444,
          flags: PSH | ACK,
          payload: "hi",
        }),
        tcpPacket({
          src: "10.0.0.1",
          dst: "10.0.0.2",
          srcPort: 4444,
          dstPort: 5,
          flags: FIN | ACK,
        }),
      ];
      const t0 = Date.now();
      packets.forEach((p, i) => pcap.write(p, t0 + i));
      pcap.close();
      const out = await new Deno.Command("tshark", {
        args: ["-r", path, "-T", "fields", "-e", "ip.src", "-e", "tcp.flags", "-e", "tcp.len"],
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert(out.success, new TextDecoder().decode(out.stderr));
      const rows = new TextDecoder().decode(out.stdout).trim().split("\n").map((l) =>
        l.split("\t")
      );
      assert.deepEqual(rows, [
        ["10.0.0.2", "0x0002", "0"],
        ["10.0.0.1", "0x0012", "0"],
        ["10.0.0.2", "0x0018", "2"],
        ["10.0.0.1", "0x0011", "0"],
      ]);
    } finally {
      await Deno.remove(path);
    }
  },
});

Deno.test("pcap: IPv6 packets are written untouched beside IPv4 ones (LINKTYPE_RAW)", () => {
  const sink = new MemorySink();
  const pcap = new PcapWriter(sink);
  const v4 = tcpPacket({ src: "10.0.0.2", dst: "10.0.0.1", srcPort: 5, dstPort: 4444, flags: SYN });
  const v6 = tcpPacket({
    src: "fdac:1194:20dc::2",
    dst: "fdac:1194:20dc::1",
    srcPort: 5,
    dstPort: 4444,
    flags: PSH | ACK,
    payload: "hello over IPv6",
  });
  pcap.write(v4, 1000);
  pcap.write(v6, 1001);
  pcap.close();
  const bytes = new Uint8Array(sink.bytes);
  const v = sink.view();
  const rec2 = 24 + 16 + v4.length;
  assert.equal(v.getUint32(rec2 + 8, true), v6.length);
  assert.equal(v.getUint32(rec2 + 12, true), v6.length);
  assert.deepEqual(bytes.subarray(rec2 + 16), v6);
  assert.equal(bytes[rec2 + 16] >>> 4, 6);
});

Deno.test({
  name: "pcap: tshark decodes IPv6 TCP packets in the same capture as IPv4",
  ignore: !tshark && !requireIntegration,
  async fn() {
    assert(tshark, "tshark is required (TCPTUN_REQUIRE_INTEGRATION=1)");
    const path = await Deno.makeTempFile({ suffix: ".pcap" });
    try {
      const pcap = PcapWriter.create(path);
      pcap.write(
        tcpPacket({ src: "10.0.0.2", dst: "10.0.0.1", srcPort: 5, dstPort: 4444, flags: SYN }),
        Date.now(),
      );
      pcap.write(
        tcpPacket({
          src: "fdac:1194:20dc::2",
          dst: "fdac:1194:20dc::1",
          srcPort: 6,
          dstPort: 4444,
          flags: PSH | ACK,
          payload: "hi",
        }),
        Date.now(),
      );
      pcap.close();
      const out = await new Deno.Command("tshark", {
        args: [
          "-r",
          path,
          "-o",
          "tcp.check_checksum:TRUE",
          "-T",
          "fields",
          "-e",
          "ip.src",
          "-e",
          "ipv6.src",
          "-e",
          "tcp.srcport",
          "-e",
          "tcp.len",
          "-e",
          "tcp.checksum.status",
        ],
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert(out.success, new TextDecoder().decode(out.stderr));
      const rows = new TextDecoder().decode(out.stdout).trim().split("\n").map((l) =>
        l.split("\t")
      );
      // Checksum status 1: good (the IPv6 pseudo-header sum, RFC 8200 §8.1).
      assert.deepEqual(rows, [
        ["10.0.0.2", "", "5", "0", "1"],
        ["", "fdac:1194:20dc::2", "6", "2", "1"],
      ]);
    } finally {
      await Deno.remove(path);
    }
  },
});
