import assert from "node:assert/strict";
import {
  completeVirtioChecksum,
  emitVirtioNetHdr,
  newVirtioNetHdr,
  parseVirtioNetHdr,
  prepareTcpOffload,
  resetVirtioNetHdr,
  TCP_CHECKSUM_OFFSET,
  TcpOffloadError,
  VIRTIO_NET_HDR_F_DATA_VALID,
  VIRTIO_NET_HDR_F_NEEDS_CSUM,
  VIRTIO_NET_HDR_GSO_ECN,
  VIRTIO_NET_HDR_GSO_NONE,
  VIRTIO_NET_HDR_GSO_TCPV4,
  VIRTIO_NET_HDR_GSO_TCPV6,
  VIRTIO_NET_HDR_GSO_UDP,
  VIRTIO_NET_HDR_GSO_UDP_L4,
  VIRTIO_NET_HDR_LENGTH,
  virtioChecksumTrusted,
  virtioGsoSize,
  type VirtioNetHdr,
  VirtioParseError,
  virtioSegmentCount,
} from "./virtio.ts";
import { checksumAdd, checksumFinish, pseudoHeaderSum } from "./checksum.ts";
import { emitIpv4, IPPROTO_TCP, Ipv4ParseError, newIpv4Header, parseIpv4 } from "./ipv4.ts";
import { ACK, emitTcp, newTcpSegment, parseTcp, PSH, TcpParseError } from "./tcp.ts";

const SRC = 0x0a000001;
const DST = 0x0a000002;

function hdr(fields: Partial<VirtioNetHdr>): VirtioNetHdr {
  return { ...newVirtioNetHdr(), ...fields };
}

/** A frame: the header `h`, then `packetLength` bytes of packet. */
function frameOf(h: VirtioNetHdr, packetLength: number): Uint8Array {
  const f = new Uint8Array(VIRTIO_NET_HDR_LENGTH + packetLength);
  emitVirtioNetHdr(f, h);
  return f;
}

function parse(f: Uint8Array, length = f.length): { err: VirtioParseError; h: VirtioNetHdr } {
  const h = newVirtioNetHdr();
  return { err: parseVirtioNetHdr(f, length, h), h };
}

/** An IPv4 TCP packet (ACK|PSH, `payloadLength` patterned bytes, timestamps) and its lengths. */
function tcpv4Packet(payloadLength: number, headroom = 0) {
  const seg = newTcpSegment();
  seg.srcPort = 5001;
  seg.dstPort = 40000;
  seg.seq = 0xfffff000; // wraps inside a super-segment
  seg.ack = 77;
  seg.flags = ACK | PSH;
  seg.window = 512;
  seg.options.hasTimestamps = true;
  seg.options.tsVal = 1;
  seg.options.tsEcr = 2;
  seg.payload = new Uint8Array(payloadLength).map((_, i) => (i * 31 + 7) & 0xff);
  const buf = new Uint8Array(headroom + 20 + 32 + payloadLength);
  const tcpLength = emitTcp(seg, SRC, DST, buf.subarray(headroom + 20));
  emitIpv4(buf.subarray(headroom), {
    src: SRC,
    dst: DST,
    protocol: IPPROTO_TCP,
    ttl: 64,
    id: 9,
    payloadLength: tcpLength,
  });
  return { buf, packet: buf.subarray(headroom), length: 20 + tcpLength, tcpLength };
}

Deno.test("virtio: emit writes every field little-endian at its offset", () => {
  const f = new Uint8Array(12).fill(0xee);
  const n = emitVirtioNetHdr(
    f,
    hdr({
      flags: 0x01,
      gsoType: 0x04,
      hdrLen: 0x0203,
      gsoSize: 0x0405,
      csumStart: 0x0607,
      csumOffset: 0x0809,
    }),
    1,
  );
  assert.equal(n, VIRTIO_NET_HDR_LENGTH);
  assert.deepEqual(
    [...f],
    [0xee, 0x01, 0x04, 0x03, 0x02, 0x05, 0x04, 0x07, 0x06, 0x09, 0x08, 0xee],
  );
});

Deno.test("virtio: parse reads every field back (GSO TCPv4 and a checksum-only UDP packet)", () => {
  const gso = hdr({
    flags: VIRTIO_NET_HDR_F_NEEDS_CSUM,
    gsoType: VIRTIO_NET_HDR_GSO_TCPV4,
    hdrLen: 0x0134,
    gsoSize: 0x05a8,
    csumStart: 0x0114,
    csumOffset: TCP_CHECKSUM_OFFSET,
  });
  const a = parse(frameOf(gso, 0x1234));
  assert.equal(a.err, VirtioParseError.None);
  assert.deepEqual(a.h, gso);

  const udp = hdr({ flags: VIRTIO_NET_HDR_F_NEEDS_CSUM, csumStart: 0x0102, csumOffset: 6 });
  const b = parse(frameOf(udp, 0x0102 + 8));
  assert.equal(b.err, VirtioParseError.None);
  assert.deepEqual(b.h, udp);

  const plain = parse(frameOf(newVirtioNetHdr(), 20));
  assert.equal(plain.err, VirtioParseError.None);
  assert.deepEqual(plain.h, newVirtioNetHdr());

  const valid = parse(frameOf(hdr({ flags: VIRTIO_NET_HDR_F_DATA_VALID }), 0));
  assert.equal(valid.err, VirtioParseError.None, "a header alone is a (zero-length) frame");
  assert.equal(valid.h.flags, VIRTIO_NET_HDR_F_DATA_VALID);

  const h = hdr({ flags: 1, gsoType: 1, hdrLen: 2, gsoSize: 3, csumStart: 4, csumOffset: 5 });
  resetVirtioNetHdr(h);
  assert.deepEqual(h, newVirtioNetHdr());
});

Deno.test("virtio: parse honours the length read, not the buffer size", () => {
  const f = new Uint8Array(100);
  emitVirtioNetHdr(f, hdr({ flags: VIRTIO_NET_HDR_F_NEEDS_CSUM, csumStart: 20, csumOffset: 16 }));
  assert.equal(parse(f, 10 + 38).err, VirtioParseError.None);
  assert.equal(parse(f, 10 + 37).err, VirtioParseError.ChecksumOutOfRange);
  assert.equal(parse(f, 9).err, VirtioParseError.TooShort);
  assert.equal(parse(new Uint8Array(5), 100).err, VirtioParseError.TooShort);
});

Deno.test("virtio: malformed headers are rejected with their reason", () => {
  const tso = {
    flags: VIRTIO_NET_HDR_F_NEEDS_CSUM,
    gsoType: VIRTIO_NET_HDR_GSO_TCPV4,
    hdrLen: 52,
    gsoSize: 1448,
    csumStart: 20,
    csumOffset: 16,
  };
  const cases: [string, Partial<VirtioNetHdr>, number, VirtioParseError][] = [
    ["a well-formed TSO header", tso, 3000, VirtioParseError.None],
    [
      "TSO for IPv6",
      { ...tso, gsoType: VIRTIO_NET_HDR_GSO_TCPV6, csumStart: 40, hdrLen: 72 },
      3000,
      0,
    ],
    ["TSO with DATA_VALID", { ...tso, flags: VIRTIO_NET_HDR_F_DATA_VALID }, 3000, 0],
    ["TSO with hdr_len 0", { ...tso, hdrLen: 0 }, 3000, 0],
    ["TSO with hdr_len past the headers", { ...tso, hdrLen: 1500 }, 3000, 0],
    ["flag bit 2 (RSC info)", { flags: 4 }, 40, VirtioParseError.UnknownFlags],
    ["flag bit 7", { flags: 0x81, csumStart: 20, csumOffset: 16 }, 40, 2],
    ["gso type 2", { ...tso, gsoType: 2 }, 3000, VirtioParseError.UnknownGsoType],
    ["gso type 6", { ...tso, gsoType: 6 }, 3000, VirtioParseError.UnknownGsoType],
    ["gso type NONE with ECN", { gsoType: VIRTIO_NET_HDR_GSO_ECN }, 40, 3],
    ["UFO", { ...tso, gsoType: VIRTIO_NET_HDR_GSO_UDP }, 3000, 4],
    ["USO", { ...tso, gsoType: VIRTIO_NET_HDR_GSO_UDP_L4, csumOffset: 6 }, 3000, 4],
    [
      "TSO with the ECN bit",
      { ...tso, gsoType: VIRTIO_NET_HDR_GSO_TCPV4 | VIRTIO_NET_HDR_GSO_ECN },
      3000,
      VirtioParseError.GsoEcn,
    ],
    ["TSO with gso_size 0", { ...tso, gsoSize: 0 }, 3000, VirtioParseError.GsoWithoutSize],
    ["TSO without a checksum flag", { ...tso, flags: 0 }, 3000, 7],
    ["TSO with csum_offset 6", { ...tso, csumOffset: 6 }, 3000, 8],
    ["csum_start past the packet", { flags: 1, csumStart: 60, csumOffset: 16 }, 40, 9],
    ["checksum field one byte past", { flags: 1, csumStart: 20, csumOffset: 19 }, 40, 9],
    [
      "csum_start + offset overflowing 16 bits",
      { flags: 1, csumStart: 0xffff, csumOffset: 0xffff },
      40,
      9,
    ],
    ["hdr_len past the packet", { hdrLen: 41 }, 40, VirtioParseError.BadHdrLen],
    ["TSO hdr_len short of the TCP checksum", { ...tso, hdrLen: 37 }, 3000, 10],
  ];
  for (const [what, fields, packetLength, want] of cases) {
    assert.equal(parse(frameOf(hdr(fields), packetLength)).err, want, what);
  }
  // Without NEEDS_CSUM the checksum position is meaningless and not checked.
  assert.equal(parse(frameOf(hdr({ csumStart: 900, csumOffset: 900 }), 40)).err, 0);
});

Deno.test("virtio: inbound helpers say what to trust and what a super-segment stands for", () => {
  const h = newVirtioNetHdr();
  assert.equal(virtioChecksumTrusted(h), false, "a plain packet is verified as usual");
  assert.equal(virtioGsoSize(h), 0);
  assert.equal(virtioSegmentCount(h, 60000), 1);

  h.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
  assert.equal(virtioChecksumTrusted(h), true, "a partial checksum cannot be verified");
  h.flags = VIRTIO_NET_HDR_F_DATA_VALID;
  assert.equal(virtioChecksumTrusted(h), true, "the kernel verified it");

  h.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
  h.gsoType = VIRTIO_NET_HDR_GSO_TCPV4;
  h.gsoSize = 1448;
  assert.equal(virtioGsoSize(h), 1448);
  assert.equal(virtioSegmentCount(h, 1448), 1);
  assert.equal(virtioSegmentCount(h, 1449), 2);
  assert.equal(virtioSegmentCount(h, 10 * 1448), 10);
  assert.equal(virtioSegmentCount(h, 0), 1);
  h.gsoType = VIRTIO_NET_HDR_GSO_TCPV6;
  assert.equal(virtioGsoSize(h), 1448);
  h.gsoType = VIRTIO_NET_HDR_GSO_NONE;
  assert.equal(virtioGsoSize(h), 0, "gso_size without a GSO type means nothing");
});

Deno.test("virtio: a TCPv4 super-segment gets a folded pseudo-header sum and a TSO header", () => {
  const { buf, packet, length, tcpLength } = tcpv4Packet(4000, VIRTIO_NET_HDR_LENGTH);
  const before = packet.slice(0, length);
  const h = newVirtioNetHdr();
  assert.equal(prepareTcpOffload(packet, length, 20, 1448, h), TcpOffloadError.None);
  assert.deepEqual(h, {
    flags: VIRTIO_NET_HDR_F_NEEDS_CSUM,
    gsoType: VIRTIO_NET_HDR_GSO_TCPV4,
    hdrLen: 20 + 32,
    gsoSize: 1448,
    csumStart: 20,
    csumOffset: 16,
  });
  const field = (packet[36] << 8) | packet[37];
  // Folded, not complemented: exactly the pseudo-header sum over the whole TCP length.
  assert.equal(field, pseudoHeaderSum(SRC, DST, IPPROTO_TCP, tcpLength));
  for (let i = 0; i < length; i++) {
    if (i !== 36 && i !== 37) assert.equal(packet[i], before[i], `byte ${i} unchanged`);
  }

  emitVirtioNetHdr(buf, h);
  const got = newVirtioNetHdr();
  assert.equal(parseVirtioNetHdr(buf, buf.length, got), VirtioParseError.None);
  assert.deepEqual(got, h);
  assert.equal(virtioSegmentCount(got, tcpLength - 32), 3);

  // As the kernel completes it: sum TCP header + payload, the partial value in the field.
  const kernelWay = checksumFinish(checksumAdd(0, packet, 20, length));
  assert.equal(completeVirtioChecksum(packet, length, got), kernelWay);
  assert.equal((packet[36] << 8) | packet[37], kernelWay);
  assert.deepEqual(packet.subarray(0, length), before, "the same checksum emitTcp computed");
  const ip = newIpv4Header();
  assert.equal(parseIpv4(packet, length, ip), Ipv4ParseError.None);
  const seg = newTcpSegment();
  assert.equal(parseTcp(packet.subarray(20, length), ip.src, ip.dst, seg), TcpParseError.None);
  assert.equal(seg.payload.length, 4000);
});

Deno.test("virtio: a segment within the MSS gets checksum offload only", () => {
  const { packet, length, tcpLength } = tcpv4Packet(1448);
  const h = newVirtioNetHdr();
  assert.equal(prepareTcpOffload(packet, length, 20, 1448, h), TcpOffloadError.None);
  assert.equal(h.flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);
  assert.equal(h.gsoType, VIRTIO_NET_HDR_GSO_NONE);
  assert.equal(h.gsoSize, 0);
  assert.equal(h.hdrLen, 52);
  assert.equal((packet[36] << 8) | packet[37], pseudoHeaderSum(SRC, DST, 6, tcpLength));
  completeVirtioChecksum(packet, length, h);
  const seg = newTcpSegment();
  assert.equal(parseTcp(packet.subarray(20, length), SRC, DST, seg), TcpParseError.None);

  const bare = tcpv4Packet(0);
  assert.equal(prepareTcpOffload(bare.packet, bare.length, 20, 1448, h), TcpOffloadError.None);
  assert.equal(h.gsoType, VIRTIO_NET_HDR_GSO_NONE);
  completeVirtioChecksum(bare.packet, bare.length, h);
  assert.equal(parseTcp(bare.packet.subarray(20, bare.length), SRC, DST, seg), 0);
});

Deno.test("virtio: a TCPv6 super-segment: IPv6 pseudo-header (RFC 8200 §8.1), TSO6 header", () => {
  const payload = 3000;
  const seg = newTcpSegment();
  seg.srcPort = 443;
  seg.dstPort = 50000;
  seg.seq = 1;
  seg.flags = ACK;
  seg.payload = new Uint8Array(payload).map((_, i) => i & 0xff);
  const packet = new Uint8Array(40 + 20 + payload);
  const tcpLength = emitTcp(seg, 0, 0, packet.subarray(40));
  packet[0] = 0x60;
  packet[4] = tcpLength >>> 8;
  packet[5] = tcpLength;
  packet[6] = IPPROTO_TCP;
  packet[7] = 64;
  for (let i = 0; i < 16; i++) {
    packet[8 + i] = 0x20 + i; // source 2021:2223:...
    packet[24 + i] = 0xf0 - i; // destination
  }
  const h = newVirtioNetHdr();
  assert.equal(prepareTcpOffload(packet, packet.length, 40, 1440, h), TcpOffloadError.None);
  assert.deepEqual(h, {
    flags: VIRTIO_NET_HDR_F_NEEDS_CSUM,
    gsoType: VIRTIO_NET_HDR_GSO_TCPV6,
    hdrLen: 60,
    gsoSize: 1440,
    csumStart: 40,
    csumOffset: 16,
  });
  // The pseudo-header built byte by byte: source, destination, 32-bit length, 3 zeros, 6.
  const pseudo = new Uint8Array(40);
  pseudo.set(packet.subarray(8, 40), 0);
  new DataView(pseudo.buffer).setUint32(32, tcpLength);
  pseudo[39] = IPPROTO_TCP;
  const expected = checksumAdd(0, pseudo, 0, 40);
  assert.equal((packet[56] << 8) | packet[57], expected);

  completeVirtioChecksum(packet, packet.length, h);
  const acc = checksumAdd(0, pseudo, 0, 40);
  assert.equal(checksumFinish(checksumAdd(acc, packet, 40, packet.length)), 0, "verifies");
});

Deno.test("virtio: completing a checksum that folds to zero stores 0xffff", () => {
  // A UDP-style packet: csum_start 0, offset 2, and words summing to 0xffff with the field.
  const p = new Uint8Array([0x12, 0x34, 0x00, 0x00, 0xed, 0xcb]);
  const h = hdr({ flags: VIRTIO_NET_HDR_F_NEEDS_CSUM, csumStart: 0, csumOffset: 2 });
  assert.equal(completeVirtioChecksum(p, p.length, h), 0xffff);
  assert.deepEqual([...p.subarray(2, 4)], [0xff, 0xff]);
});

Deno.test("virtio: prepareTcpOffload refuses what it cannot describe, writing nothing", () => {
  const { packet, length } = tcpv4Packet(100);
  const before = packet.slice();
  const h = newVirtioNetHdr();
  assert.equal(prepareTcpOffload(packet, length, 24, 1448, h), TcpOffloadError.BadIpHeader);
  assert.equal(prepareTcpOffload(packet, length, 20, 0, h), TcpOffloadError.BadMss);
  assert.equal(prepareTcpOffload(packet, length, 20, 65536, h), TcpOffloadError.BadMss);
  assert.equal(prepareTcpOffload(packet, 30, 20, 1448, h), TcpOffloadError.BadTcpHeader);
  assert.equal(prepareTcpOffload(packet, 0, 20, 1448, h), TcpOffloadError.BadIpHeader);
  const v6short = new Uint8Array(60);
  v6short[0] = 0x60;
  assert.equal(prepareTcpOffload(v6short, 60, 20, 1448, h), TcpOffloadError.BadIpHeader);
  const badOffset = packet.slice();
  badOffset[32] = 0x40; // data offset 4 words
  assert.equal(prepareTcpOffload(badOffset, length, 20, 1448, h), TcpOffloadError.BadTcpHeader);
  badOffset[32] = 0xf0; // 60 bytes: past a 52-byte TCP part
  assert.equal(prepareTcpOffload(badOffset, 20 + 52, 20, 1448, h), TcpOffloadError.BadTcpHeader);
  const v5 = packet.slice();
  v5[0] = 0x55;
  assert.equal(prepareTcpOffload(v5, length, 20, 1448, h), TcpOffloadError.BadIpHeader);
  assert.deepEqual(packet, before);
  assert.deepEqual(h, newVirtioNetHdr());
});

Deno.test("virtio: random headers never make the parser throw, and every code is known", () => {
  const codes = new Set(Object.values(VirtioParseError).filter((v) => typeof v === "number"));
  let state = 0x1234567;
  const next = () => (state = (Math.imul(state, 1103515245) + 12345) >>> 0) >>> 16;
  const f = new Uint8Array(10 + 64);
  const h = newVirtioNetHdr();
  const seen = new Set<number>();
  for (let i = 0; i < 20000; i++) {
    for (let k = 0; k < 10; k++) f[k] = next() & 0xff;
    if (i % 2 === 0) f[0] &= 3; // half with known flags, to reach the later checks
    if (i % 4 === 0) f[1] = [0, 1, 4, 0x81][next() & 3];
    const err = parseVirtioNetHdr(f, 10 + (next() % 65), h);
    assert.ok(codes.has(err), `unknown code ${err}`);
    seen.add(err);
  }
  assert.ok(seen.size >= 6, `reached ${[...seen].join(",")}`);
});
