import assert from "node:assert/strict";
import {
  emitIpv4,
  fillIpv4Checksum,
  formatIpv4Address,
  IPPROTO_ICMP,
  IPPROTO_TCP,
  IPPROTO_UDP,
  IPV4_FLAG_DF,
  IPV4_FLAG_MF,
  Ipv4ParseError,
  newIpv4Header,
  parseIpv4,
  parseIpv4Address,
} from "./ipv4.ts";
import { internetChecksum } from "./checksum.ts";
import { LINUX_PACKETS } from "../../tests/vectors/linux_packets.ts";
import { addr, fromHex, toHex } from "../../tests/vectors/util.ts";

const synHex = LINUX_PACKETS.find((p) => p.name === "synClient")!.hex;

/** Rewrites the header checksum so that only the field under test is wrong. */
function refreshChecksum(packet: Uint8Array): Uint8Array {
  const ihl = (packet[0] & 0x0f) * 4;
  packet[10] = 0;
  packet[11] = 0;
  const c = internetChecksum(packet, 0, Math.min(ihl, packet.length));
  packet[10] = c >>> 8;
  packet[11] = c & 0xff;
  return packet;
}

Deno.test("ipv4: protocol numbers", () => {
  assert.deepEqual([IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP], [1, 6, 17]);
});

Deno.test("ipv4: parseIpv4Address accepts dotted quads", () => {
  assert.equal(parseIpv4Address("10.0.0.1"), 0x0a000001);
  assert.equal(parseIpv4Address("0.0.0.0"), 0);
  assert.equal(parseIpv4Address("255.255.255.255"), 0xffffffff);
  assert.equal(parseIpv4Address("192.168.100.200"), 0xc0a864c8);
  assert.equal(parseIpv4Address("127.0.0.1"), 0x7f000001);
});

Deno.test("ipv4: parseIpv4Address rejects anything else", () => {
  for (
    const bad of [
      "",
      "1.2.3",
      "1.2.3.4.5",
      "256.0.0.1",
      "1.2.3.1000",
      " 1.2.3.4",
      "1.2.3.4 ",
      "01.2.3.4",
      "1.2.3.00",
      "1..2.3",
      ".1.2.3",
      "1.2.3.4.",
      "a.b.c.d",
      "1.2.3.-4",
      "+1.2.3.4",
      "1.2.3.4x",
      "0x1.2.3.4",
      "1.2.3.٤", // a non-ASCII digit
      "99999999999.1.1.1",
    ]
  ) {
    assert.equal(parseIpv4Address(bad), null, JSON.stringify(bad));
  }
});

Deno.test("ipv4: formatIpv4Address round-trips", () => {
  for (const s of ["10.0.0.1", "0.0.0.0", "255.255.255.255", "172.16.254.3"]) {
    assert.equal(formatIpv4Address(parseIpv4Address(s)!), s);
  }
  assert.equal(formatIpv4Address(0xc0000201), "192.0.2.1");
});

Deno.test("ipv4: captured Linux packets parse to tshark's field values", () => {
  const h = newIpv4Header();
  for (const p of LINUX_PACKETS) {
    const bytes = fromHex(p.hex);
    assert.equal(parseIpv4(bytes, bytes.length, h), Ipv4ParseError.None, p.name);
    assert.equal(h.version, 4);
    assert.equal(h.ihl, 20);
    assert.equal(h.tos, 0);
    assert.equal(h.totalLength, p.ip.totalLength, p.name);
    assert.equal(h.id, p.ip.id, p.name);
    assert.equal(h.ttl, p.ip.ttl, p.name);
    assert.equal(h.protocol, p.ip.protocol, p.name);
    assert.equal(h.checksum, p.ip.checksum, p.name);
    assert.equal(h.src, addr(p.ip.src), p.name);
    assert.equal(h.dst, addr(p.ip.dst), p.name);
    assert.equal((h.flags & IPV4_FLAG_DF) !== 0, p.ip.df, p.name);
    assert.equal(h.fragOffset, 0);
  }
});

Deno.test("ipv4: emitIpv4 reproduces the kernel's DF headers byte for byte", () => {
  const h = newIpv4Header();
  const out = new Uint8Array(20);
  let compared = 0;
  for (const p of LINUX_PACKETS.filter((p) => p.ip.df)) {
    const bytes = fromHex(p.hex);
    parseIpv4(bytes, bytes.length, h);
    const n = emitIpv4(out, {
      src: h.src,
      dst: h.dst,
      protocol: h.protocol,
      ttl: h.ttl,
      id: h.id,
      payloadLength: h.totalLength - 20,
    });
    assert.equal(n, 20);
    assert.equal(toHex(out), toHex(bytes.subarray(0, 20)), p.name);
    compared++;
  }
  assert.ok(compared >= 10);
});

Deno.test("ipv4: emitIpv4 writes tos, DF and a verifying checksum", () => {
  const out = new Uint8Array(20).fill(0xee);
  emitIpv4(out, {
    src: 0x0a000001,
    dst: 0x0a000002,
    protocol: IPPROTO_UDP,
    ttl: 1,
    id: 0xbeef,
    payloadLength: 1480,
    tos: 0xb8,
  });
  assert.equal(internetChecksum(out), 0);
  const h = newIpv4Header();
  const packet = new Uint8Array(1500);
  packet.set(out);
  assert.equal(parseIpv4(packet, 1500, h), Ipv4ParseError.None);
  assert.deepEqual(
    [h.tos, h.totalLength, h.id, h.flags, h.ttl, h.protocol],
    [0xb8, 1500, 0xbeef, IPV4_FLAG_DF, 1, IPPROTO_UDP],
  );
});

Deno.test("ipv4: trailing bytes beyond the total length are ignored", () => {
  const padded = new Uint8Array(fromHex(synHex).length + 6);
  padded.set(fromHex(synHex));
  const h = newIpv4Header();
  assert.equal(parseIpv4(padded, padded.length, h), Ipv4ParseError.None);
  assert.equal(h.totalLength, 60);
});

Deno.test("ipv4: MUST-50 options are skipped and reported through ihl", () => {
  const syn = fromHex(synHex);
  const withOpts = new Uint8Array(syn.length + 4);
  withOpts.set(syn.subarray(0, 20));
  withOpts.set([1, 1, 1, 0], 20); // NOP NOP NOP EOL
  withOpts.set(syn.subarray(20), 24);
  withOpts[0] = 0x46;
  withOpts[3] = syn.length + 4;
  refreshChecksum(withOpts);
  const h = newIpv4Header();
  assert.equal(parseIpv4(withOpts, withOpts.length, h), Ipv4ParseError.None);
  assert.equal(h.ihl, 24);
  assert.equal(h.totalLength, 64);
});

Deno.test("ipv4: malformed headers are rejected with their reason", async (t) => {
  const h = newIpv4Header();
  const syn = () => fromHex(synHex);
  await t.step("fewer than 20 bytes is TooShort", () => {
    const p = syn();
    assert.equal(parseIpv4(p, 19, h), Ipv4ParseError.TooShort);
    assert.equal(parseIpv4(p.subarray(0, 19), 60, h), Ipv4ParseError.TooShort);
    assert.equal(parseIpv4(new Uint8Array(0), 0, h), Ipv4ParseError.TooShort);
  });
  await t.step("version 6 is BadVersion", () => {
    const p = syn();
    p[0] = 0x65;
    assert.equal(parseIpv4(refreshChecksum(p), p.length, h), Ipv4ParseError.BadVersion);
  });
  await t.step("IHL below 5 words is BadHeaderLength", () => {
    const p = syn();
    p[0] = 0x44;
    assert.equal(parseIpv4(p, p.length, h), Ipv4ParseError.BadHeaderLength);
  });
  await t.step("IHL past the bytes read is BadHeaderLength", () => {
    const p = syn();
    p[0] = 0x4f; // 60 bytes
    assert.equal(parseIpv4(p, 40, h), Ipv4ParseError.BadHeaderLength);
  });
  await t.step("total length below the IHL is BadTotalLength", () => {
    const p = syn();
    p[2] = 0;
    p[3] = 19;
    assert.equal(parseIpv4(refreshChecksum(p), p.length, h), Ipv4ParseError.BadTotalLength);
  });
  await t.step("total length past the bytes read is BadTotalLength", () => {
    const p = syn();
    assert.equal(parseIpv4(p, 59, h), Ipv4ParseError.BadTotalLength);
  });
  await t.step("a flipped header bit is BadChecksum", () => {
    const p = syn();
    p[8] ^= 0x01; // TTL
    assert.equal(parseIpv4(p, p.length, h), Ipv4ParseError.BadChecksum);
  });
  await t.step("MF set is Fragment", () => {
    const p = syn();
    p[6] |= IPV4_FLAG_MF << 5;
    assert.equal(parseIpv4(refreshChecksum(p), p.length, h), Ipv4ParseError.Fragment);
  });
  await t.step("a non-zero fragment offset is Fragment", () => {
    const p = syn();
    p[6] = 0;
    p[7] = 185; // offset 1480 bytes, last fragment
    assert.equal(parseIpv4(refreshChecksum(p), p.length, h), Ipv4ParseError.Fragment);
    assert.equal(h.fragOffset, 185);
  });
});

Deno.test("ipv4: fillIpv4Checksum writes the checksum Linux wrote, whatever the field held", () => {
  const linux = fromHex(synHex);
  for (const garbage of [[0, 0], [0xff, 0xff], [linux[10] ^ 1, linux[11]]]) {
    const p = linux.slice();
    p.set(garbage, 10);
    fillIpv4Checksum(p, 20);
    assert.deepEqual(p, linux);
  }
  // A header with options: the sum covers all of IHL, and a valid header sums to zero.
  const withOptions = new Uint8Array(24);
  withOptions.set(linux.subarray(0, 20));
  withOptions[0] = 0x46; // IHL 6 words
  withOptions.set([1, 1, 1, 0], 20); // NOP NOP NOP EOL
  fillIpv4Checksum(withOptions, 24);
  assert.equal(internetChecksum(withOptions, 0, 24), 0);
});
