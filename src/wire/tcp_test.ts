import assert from "node:assert/strict";
import {
  ACK,
  CWR,
  ECE,
  emitTcp,
  emitTcpWithAddressSum,
  FIN,
  newTcpOptions,
  newTcpSegment,
  parseTcp,
  parseTcpWithAddressSum,
  PSH,
  resetTcpOptions,
  RST,
  SYN,
  tcpHeaderLength,
  TcpParseError,
  type TcpSegment,
  URG,
} from "./tcp.ts";
import { checksumAdd, checksumFinish, ipv4AddressSum, pseudoHeaderSum } from "./checksum.ts";
import { ipv6AddressSum, ipv6PacketAddressSum } from "./ipv6.ts";
import { parseIpv6Address } from "./ipv6_address.ts";
import { LINUX_PACKETS } from "../../tests/vectors/linux_packets.ts";
import { captured, fact } from "../../tests/vectors/ip_packets.ts";
import { addr, fromHex, toHex } from "../../tests/vectors/util.ts";

const SRC = 0x0a000002;
const DST = 0x0a000001;
const tcpVectors = LINUX_PACKETS.filter((p) => p.tcp !== undefined);

function vector(name: string): { tcp: Uint8Array; src: number; dst: number } {
  const p = LINUX_PACKETS.find((p) => p.name === name)!;
  const bytes = fromHex(p.hex);
  return { tcp: bytes.subarray(20), src: addr(p.ip.src), dst: addr(p.ip.dst) };
}

/** A bare 20-byte header followed by `options` (padded with EOL) and a valid checksum. */
function segmentWithOptions(options: number[], payload: number[] = []): Uint8Array {
  const optLen = (options.length + 3) & ~3;
  const b = new Uint8Array(20 + optLen + payload.length);
  b[0] = 0x9c;
  b[1] = 0x40; // port 40000
  b[3] = 80;
  b[7] = 1; // seq 1
  b[12] = ((20 + optLen) / 4) << 4;
  b[13] = ACK;
  b[14] = 0xff;
  b[15] = 0xff;
  b.set(options, 20);
  b.set(payload, 20 + optLen);
  return fixChecksum(b);
}

function fixChecksum(b: Uint8Array, src = SRC, dst = DST): Uint8Array {
  b[16] = 0;
  b[17] = 0;
  const c = checksumFinish(checksumAdd(pseudoHeaderSum(src, dst, 6, b.length), b, 0, b.length));
  b[16] = c >>> 8;
  b[17] = c & 0xff;
  return b;
}

function verifies(b: Uint8Array, src = SRC, dst = DST): boolean {
  return checksumFinish(checksumAdd(pseudoHeaderSum(src, dst, 6, b.length), b, 0, b.length)) === 0;
}

Deno.test("tcp: flag bits have their RFC 9293 / RFC 3168 positions", () => {
  assert.deepEqual([FIN, SYN, RST, PSH, ACK, URG, ECE, CWR], [1, 2, 4, 8, 16, 32, 64, 128]);
});

Deno.test("tcp: MUST-1 MUST-5 captured Linux segments parse to tshark's field values", () => {
  const seg = newTcpSegment();
  for (const p of tcpVectors) {
    const { tcp, src, dst } = vector(p.name);
    const f = p.tcp!;
    assert.equal(parseTcp(tcp, src, dst, seg), TcpParseError.None, p.name);
    assert.equal(seg.srcPort, f.srcPort, p.name);
    assert.equal(seg.dstPort, f.dstPort, p.name);
    assert.equal(seg.seq, f.seq, p.name);
    assert.equal(seg.ack, f.ack, p.name);
    assert.equal(seg.flags, f.flags, p.name);
    assert.equal(seg.window, f.window, p.name);
    assert.equal(seg.urgent, 0, p.name);
    assert.equal(seg.payload.length, f.payloadLength, p.name);
    assert.equal(toHex(seg.payload), f.payloadHex, p.name);
    const o = seg.options;
    assert.equal(o.mss, f.mss, p.name);
    assert.equal(o.wscale, f.wscale, p.name);
    assert.equal(o.sackPermitted, f.sackPermitted, p.name);
    assert.equal(o.hasTimestamps, f.tsVal !== -1, p.name);
    if (o.hasTimestamps) {
      assert.equal(o.tsVal, f.tsVal, p.name);
      assert.equal(o.tsEcr, f.tsEcr, p.name);
    }
    assert.deepEqual(o.sackBlocks, f.sackBlocks, p.name);
  }
});

Deno.test("tcp: MUST-14 the captured SYN carries MSS 1460, SACK-permitted, timestamps and WS 10", () => {
  const seg = newTcpSegment();
  const { tcp, src, dst } = vector("synClient");
  assert.equal(parseTcp(tcp, src, dst, seg), TcpParseError.None);
  assert.equal(seg.flags, SYN);
  assert.equal(seg.options.mss, 1460);
  assert.equal(seg.options.sackPermitted, true);
  assert.equal(seg.options.hasTimestamps, true);
  assert.equal(seg.options.tsEcr, 0);
  assert.equal(seg.options.wscale, 10);
  assert.equal(seg.payload.length, 0);
});

Deno.test("tcp: MUST-2 emit(parse(x)) reproduces every captured Linux segment byte for byte", () => {
  const seg = newTcpSegment();
  const out = new Uint8Array(1600);
  for (const p of tcpVectors) {
    const { tcp, src, dst } = vector(p.name);
    assert.equal(parseTcp(tcp, src, dst, seg), TcpParseError.None, p.name);
    assert.equal(tcpHeaderLength(seg.options), p.tcp!.headerLength, p.name);
    const n = emitTcp(seg, src, dst, out);
    assert.equal(n, tcp.length, p.name);
    assert.equal(toHex(out.subarray(0, n)), toHex(tcp), p.name);
  }
});

Deno.test("tcp: MUST-68 a SYN's options are laid out as Linux does", () => {
  const seg = newTcpSegment();
  seg.flags = SYN;
  seg.options.mss = 1460;
  seg.options.sackPermitted = true;
  seg.options.hasTimestamps = true;
  seg.options.tsVal = 0x01020304;
  seg.options.tsEcr = 0;
  seg.options.wscale = 7;
  const out = new Uint8Array(64);
  const n = emitTcp(seg, SRC, DST, out);
  assert.equal(n, 40);
  assert.equal(out[12], 10 << 4);
  assert.equal(
    toHex(out.subarray(20, 40)),
    "020405b4" + "0402080a" + "01020304" + "00000000" + "01030307",
  );
  assert.ok(verifies(out.subarray(0, n)));
});

Deno.test("tcp: options without their Linux partners get NOP alignment", async (t) => {
  const out = new Uint8Array(80);
  const seg = newTcpSegment();
  await t.step("SACK-permitted alone is NOP NOP 4 2", () => {
    resetTcpOptions(seg.options);
    seg.options.sackPermitted = true;
    assert.equal(emitTcp(seg, SRC, DST, out), 24);
    assert.equal(toHex(out.subarray(20, 24)), "01010402");
  });
  await t.step("timestamps alone are NOP NOP 8 10", () => {
    resetTcpOptions(seg.options);
    seg.options.hasTimestamps = true;
    seg.options.tsVal = 0xffffffff;
    seg.options.tsEcr = 0x80000000;
    assert.equal(emitTcp(seg, SRC, DST, out), 32);
    assert.equal(toHex(out.subarray(20, 32)), "0101080affffffff80000000");
  });
  await t.step("MSS and window scale alone", () => {
    resetTcpOptions(seg.options);
    seg.options.mss = 536;
    seg.options.wscale = 0;
    assert.equal(emitTcp(seg, SRC, DST, out), 28);
    assert.equal(toHex(out.subarray(20, 28)), "02040218" + "01030300");
  });
  await t.step("no options is a bare 20-byte header", () => {
    resetTcpOptions(seg.options);
    assert.equal(emitTcp(seg, SRC, DST, out), 20);
    assert.equal(out[12], 5 << 4);
  });
});

Deno.test("tcp: SACK blocks beyond 40 option bytes are dropped", async (t) => {
  const out = new Uint8Array(128);
  const seg = newTcpSegment();
  const got = newTcpSegment();
  const blocks = [10, 20, 30, 40, 50, 60, 70, 80, 90, 100];
  const emitAndParse = () => {
    const n = emitTcp(seg, SRC, DST, out);
    assert.equal(n, tcpHeaderLength(seg.options));
    assert.ok(n <= 60);
    assert.equal(parseTcp(out.subarray(0, n), SRC, DST, got), TcpParseError.None);
    return n;
  };
  await t.step("without timestamps: 4 blocks (NOP NOP 5 34)", () => {
    seg.options.sackBlocks = blocks.slice();
    assert.equal(emitAndParse(), 20 + 4 + 32);
    assert.equal(toHex(out.subarray(20, 24)), "01010522");
    assert.deepEqual(got.options.sackBlocks, blocks.slice(0, 8));
  });
  await t.step("with timestamps: 3 blocks", () => {
    seg.options.hasTimestamps = true;
    assert.equal(emitAndParse(), 60);
    assert.deepEqual(got.options.sackBlocks, blocks.slice(0, 6));
    assert.equal(toHex(out.subarray(20, 36)), "0101080a00000000000000000101051a");
  });
  await t.step("with MSS, timestamps and window scale: 2 blocks", () => {
    seg.options.mss = 1460;
    seg.options.wscale = 14;
    assert.equal(emitAndParse(), 20 + 20 + 4 + 16);
    assert.deepEqual(got.options.sackBlocks, blocks.slice(0, 4));
  });
  await t.step("SACK-permitted packs into the timestamps slot: still 2 blocks", () => {
    seg.options.sackPermitted = true;
    seg.options.mss = 1460;
    assert.equal(emitAndParse(), 60);
    assert.deepEqual(got.options.sackBlocks, blocks.slice(0, 4));
  });
  await t.step("an odd trailing number is ignored (pairs only)", () => {
    resetTcpOptions(seg.options);
    seg.options.sackBlocks.push(1, 2, 3);
    assert.equal(emitAndParse(), 20 + 4 + 8);
    assert.deepEqual(got.options.sackBlocks, [1, 2]);
  });
});

Deno.test("tcp: emit copies the payload and sets urgent, window and all flags", () => {
  const seg = newTcpSegment();
  seg.srcPort = 65535;
  seg.dstPort = 1;
  seg.seq = 0xfffffffe;
  seg.ack = 0x80000001;
  seg.flags = FIN | SYN | RST | PSH | ACK | URG | ECE | CWR;
  seg.window = 0xabcd;
  seg.urgent = 0x1234;
  seg.payload = new Uint8Array([1, 2, 3, 4, 5]);
  const out = new Uint8Array(64).fill(0xaa);
  const n = emitTcp(seg, SRC, DST, out);
  assert.equal(n, 25);
  assert.ok(verifies(out.subarray(0, n)));
  const got = newTcpSegment();
  assert.equal(parseTcp(out.subarray(0, n), SRC, DST, got), TcpParseError.None);
  assert.deepEqual(
    [got.srcPort, got.dstPort, got.seq, got.ack, got.flags, got.window, got.urgent],
    [65535, 1, 0xfffffffe, 0x80000001, 0xff, 0xabcd, 0x1234],
  );
  assert.deepEqual([...got.payload], [1, 2, 3, 4, 5]);
  // The checksum depends on the pseudo-header: other addresses do not verify.
  assert.equal(parseTcp(out.subarray(0, n), SRC, DST + 1, got), TcpParseError.BadChecksum);
});

Deno.test("tcp: option parsing", async (t) => {
  const seg = newTcpSegment();
  const parse = (opts: number[], payload: number[] = []) =>
    parseTcp(segmentWithOptions(opts, payload), SRC, DST, seg);

  await t.step("window scale above 14 is used as 14 (RFC 7323 §2.3)", () => {
    assert.equal(parse([1, 3, 3, 20]), TcpParseError.None);
    assert.equal(seg.options.wscale, 14);
    assert.equal(parse([1, 3, 3, 14]), TcpParseError.None);
    assert.equal(seg.options.wscale, 14);
    assert.equal(parse([1, 3, 3, 0]), TcpParseError.None);
    assert.equal(seg.options.wscale, 0);
  });
  await t.step("MUST-6 MUST-64 unknown kinds are skipped by their length", () => {
    // kind 34 (TFO cookie, 6 bytes), kind 30 (MPTCP, 4 bytes), then MSS.
    assert.equal(parse([34, 6, 9, 9, 9, 9, 30, 4, 0, 0, 2, 4, 0x05, 0xb4]), TcpParseError.None);
    assert.equal(seg.options.mss, 1460);
  });
  await t.step("MUST-4 EOL ends the list; what follows is padding", () => {
    assert.equal(parse([2, 4, 1, 0, 0, 2, 4]), TcpParseError.None);
    assert.equal(seg.options.mss, 256);
  });
  await t.step("one to four SACK blocks", () => {
    for (let n = 1; n <= 4; n++) {
      const opt = [5, 2 + 8 * n];
      const expect: number[] = [];
      for (let k = 0; k < 2 * n; k++) {
        opt.push(0xff, 0, 0, k);
        expect.push(0xff000000 + k);
      }
      assert.equal(parse(opt), TcpParseError.None, `${n} blocks`);
      assert.deepEqual(seg.options.sackBlocks, expect);
    }
  });
  await t.step("data after the options becomes the payload", () => {
    assert.equal(parse([1, 1, 1, 1], [0x41, 0x42]), TcpParseError.None);
    assert.deepEqual([...seg.payload], [0x41, 0x42]);
  });

  const bad: [string, number[]][] = [
    ["length 0", [30, 0, 0, 0]],
    ["length 1", [30, 1, 0, 0]],
    ["length running past the header", [30, 8, 0, 0]],
    ["a kind with no room for its length byte", [1, 1, 1, 30]],
    ["MSS of length 3", [2, 3, 5, 1]],
    ["MSS of length 5", [2, 5, 5, 1, 0, 0, 0, 0]],
    ["window scale of length 4", [3, 4, 7, 0]],
    ["SACK-permitted of length 3", [4, 3, 0, 0]],
    ["timestamps of length 8", [8, 8, 0, 0, 0, 0, 0, 0]],
    ["timestamps of length 12", [8, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]],
    ["SACK with no blocks", [5, 2, 1, 1]],
    ["SACK of length 11", [5, 11, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]],
    ["SACK with 5 blocks", [5, 42, ...new Array(38).fill(0)]],
  ];
  for (const [what, opts] of bad) {
    await t.step(`MUST-7 ${what} is BadOption`, () => {
      assert.equal(parse(opts), TcpParseError.BadOption);
      assert.equal(seg.payload.length, 0);
    });
  }
});

Deno.test("tcp: malformed headers are rejected with their reason", async (t) => {
  const seg = newTcpSegment();
  const v = vector("dataHello");
  const copy = () => v.tcp.slice();
  await t.step("fewer than 20 bytes is TooShort", () => {
    assert.equal(parseTcp(copy().subarray(0, 19), v.src, v.dst, seg), TcpParseError.TooShort);
    assert.equal(parseTcp(new Uint8Array(0), v.src, v.dst, seg), TcpParseError.TooShort);
  });
  await t.step("data offset below 5 words is BadDataOffset", () => {
    const b = copy();
    b[12] = 4 << 4;
    assert.equal(
      parseTcp(fixChecksum(b, v.src, v.dst), v.src, v.dst, seg),
      TcpParseError.BadDataOffset,
    );
  });
  await t.step("data offset past the segment is BadDataOffset", () => {
    const b = copy().subarray(0, 24); // header says 32 bytes
    assert.equal(parseTcp(b, v.src, v.dst, seg), TcpParseError.BadDataOffset);
  });
  await t.step("MUST-3 a flipped payload bit is BadChecksum, unless verification is off", () => {
    const b = copy();
    b[b.length - 1] ^= 0x20;
    assert.equal(parseTcp(b, v.src, v.dst, seg), TcpParseError.BadChecksum);
    assert.equal(seg.payload.length, 0);
    assert.equal(parseTcp(b, v.src, v.dst, seg, false), TcpParseError.None);
    assert.equal(new TextDecoder().decode(seg.payload), "hello*");
  });
  await t.step("a truncated segment is BadChecksum", () => {
    assert.equal(parseTcp(copy().subarray(0, 35), v.src, v.dst, seg), TcpParseError.BadChecksum);
  });
});

Deno.test("tcp: the reused segment is fully reset on every parse", () => {
  const seg: TcpSegment = newTcpSegment();
  const blocks = seg.options.sackBlocks;
  const sack = vector("ackSackOne");
  assert.equal(parseTcp(sack.tcp, sack.src, sack.dst, seg), TcpParseError.None);
  assert.equal(seg.options.sackBlocks.length, 2);
  const syn = vector("synClient");
  assert.equal(parseTcp(syn.tcp, syn.src, syn.dst, seg), TcpParseError.None);
  assert.equal(seg.options.sackBlocks.length, 0);
  assert.equal(seg.options.mss, 1460);
  const rst = vector("rstClosedPort");
  assert.equal(parseTcp(rst.tcp, rst.src, rst.dst, seg), TcpParseError.None);
  assert.deepEqual(seg.options, newTcpOptions());
  assert.equal(seg.options.sackBlocks, blocks, "the same array is reused");
  const data = vector("dataHello");
  assert.equal(parseTcp(data.tcp, data.src, data.dst, seg), TcpParseError.None);
  assert.equal(seg.payload.length, 6);
  assert.equal(parseTcp(data.tcp.subarray(0, 10), data.src, data.dst, seg), TcpParseError.TooShort);
  assert.equal(seg.payload.length, 0);
  assert.equal(seg.options.hasTimestamps, false);
  assert.equal(seg.seq, 0);
});

Deno.test("tcp: the payload is a view of the input, not a copy", () => {
  const seg = newTcpSegment();
  const v = vector("dataHello");
  parseTcp(v.tcp, v.src, v.dst, seg);
  assert.equal(seg.payload.buffer, v.tcp.buffer);
  assert.equal(seg.payload.byteOffset, v.tcp.byteOffset + 32);
});

const TCP6_VECTORS = [
  "tcp6Syn",
  "tcp6SynAck",
  "tcp6Data",
  "tcp6Echo",
  "tcp6Rst",
  "tcp6FullSegment",
];

Deno.test("tcp over IPv6: captured Linux segments parse with the RFC 8200 §8.1 pseudo-header", () => {
  const seg = newTcpSegment();
  for (const name of TCP6_VECTORS) {
    const p = captured(name);
    const tcp = p.bytes.subarray(40);
    const sum = ipv6PacketAddressSum(p.bytes);
    assert.equal(parseTcpWithAddressSum(tcp, sum, seg), TcpParseError.None, name);
    assert.deepEqual(
      [seg.srcPort, seg.dstPort, seg.seq, seg.ack, seg.flags, seg.payload.length],
      [
        fact(p, "tcp.srcport"),
        fact(p, "tcp.dstport"),
        fact(p, "tcp.seq"),
        fact(p, "tcp.ack_raw"),
        fact(p, "tcp.flags"),
        fact(p, "tcp.len"),
      ],
      name,
    );
    if (p.f["tcp.options.mss_val"]) assert.equal(seg.options.mss, fact(p, "tcp.options.mss_val"));
    // The wrong addresses (one bit of the source) or the IPv4 pseudo-header do not verify.
    const other = p.bytes.slice();
    other[23] ^= 1;
    assert.equal(
      parseTcpWithAddressSum(tcp, ipv6PacketAddressSum(other), seg),
      TcpParseError.BadChecksum,
      name,
    );
    assert.equal(parseTcp(tcp, 0x0a000001, 0x0a000002, seg), TcpParseError.BadChecksum, name);
  }
});

Deno.test("tcp over IPv6: emit(parse(x)) reproduces every captured segment byte for byte", () => {
  const seg = newTcpSegment();
  const out = new Uint8Array(1600);
  for (const name of TCP6_VECTORS) {
    const p = captured(name);
    const tcp = p.bytes.subarray(40);
    const sum = ipv6PacketAddressSum(p.bytes);
    assert.equal(parseTcpWithAddressSum(tcp, sum, seg), TcpParseError.None, name);
    const n = emitTcpWithAddressSum(seg, sum, out);
    assert.equal(toHex(out.subarray(0, n)), toHex(tcp), name);
  }
});

Deno.test("tcp: parseTcp/emitTcp are the address-sum variants with the IPv4 sum", () => {
  const seg = newTcpSegment();
  const a = newTcpSegment();
  const b = newTcpSegment();
  const out1 = new Uint8Array(1600);
  const out2 = new Uint8Array(1600);
  for (const p of tcpVectors) {
    const { tcp, src, dst } = vector(p.name);
    const sum = ipv4AddressSum(src, dst);
    assert.equal(parseTcpWithAddressSum(tcp, sum, seg), TcpParseError.None, p.name);
    for (const partial of [false, true]) {
      const n1 = emitTcp(seg, src, dst, out1, partial);
      const n2 = emitTcpWithAddressSum(seg, sum, out2, partial);
      assert.equal(toHex(out1.subarray(0, n1)), toHex(out2.subarray(0, n2)), p.name);
    }
    parseTcp(tcp, src, dst, a);
    parseTcpWithAddressSum(tcp, sum, b);
    assert.deepEqual(a, b);
  }
});

Deno.test("tcp: a partial (offload) checksum completes to the full one, for both families", () => {
  const seg = newTcpSegment();
  seg.srcPort = 443;
  seg.dstPort = 50000;
  seg.seq = 0x01020304;
  seg.flags = ACK | PSH;
  seg.options.hasTimestamps = true;
  seg.options.tsVal = 5;
  const sums = [
    ipv4AddressSum(0x0a000001, 0x0a000002),
    ipv6AddressSum(parseIpv6Address("fd00::1")!, parseIpv6Address("2001:db8:ffff::2")!),
    ipv6AddressSum(parseIpv6Address("ffff:ffff::ffff")!, parseIpv6Address("ffff::ffff:ffff")!),
  ];
  const full = new Uint8Array(2000);
  const partial = new Uint8Array(2000);
  for (const sum of sums) {
    for (const size of [0, 1, 7, 1000, 1441]) {
      seg.payload = new Uint8Array(size).map((_, i) => (i * 7 + size) & 0xff);
      const n = emitTcpWithAddressSum(seg, sum, full);
      assert.equal(emitTcpWithAddressSum(seg, sum, partial, true), n);
      // As a device completes it (virtio NEEDS_CSUM): checksum everything from the TCP header,
      // the partial value included, and store the complement.
      const completed = checksumFinish(checksumAdd(0, partial, 0, n));
      assert.equal(completed, (full[16] << 8) | full[17], `size ${size}`);
      // The partial value is the folded pseudo-header sum, not complemented.
      assert.equal((partial[16] << 8) | partial[17], foldOnce(sum + 6 + n));
      assert.equal(toHex(partial.subarray(18, n)), toHex(full.subarray(18, n)));
    }
  }
});

function foldOnce(v: number): number {
  while (v > 0xffff) v = (v & 0xffff) + (v >>> 16);
  return v;
}
