import assert from "node:assert/strict";
import {
  emitIcmpDestUnreachable,
  emitIcmpEchoReply,
  ICMP_DEST_UNREACHABLE,
  ICMP_ECHO_REPLY,
  ICMP_ECHO_REQUEST,
  ICMP_PARAMETER_PROBLEM,
  ICMP_SOURCE_QUENCH,
  ICMP_TIME_EXCEEDED,
  ICMP_UNREACH_ADMIN,
  ICMP_UNREACH_FRAG_NEEDED,
  ICMP_UNREACH_HOST,
  ICMP_UNREACH_PORT,
  IcmpParseError,
  IcmpQuoteError,
  isIcmpError,
  newIcmpMessage,
  newIcmpQuote,
  parseIcmp,
  parseIcmpError,
} from "./icmp.ts";
import { internetChecksum } from "./checksum.ts";
import { emitIpv4, formatIpv4Address, IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP } from "./ipv4.ts";
import { LINUX_PACKETS } from "../../tests/vectors/linux_packets.ts";
import { captured, fact, factText } from "../../tests/vectors/ip_packets.ts";
import { fromHex, seededRandom, toHex } from "../../tests/vectors/util.ts";

function icmpOf(name: string): Uint8Array {
  return fromHex(LINUX_PACKETS.find((p) => p.name === name)!.hex).subarray(20);
}

function fixChecksum(b: Uint8Array): Uint8Array {
  b[2] = 0;
  b[3] = 0;
  const c = internetChecksum(b);
  b[2] = c >>> 8;
  b[3] = c & 0xff;
  return b;
}

Deno.test("icmp: captured echo messages parse to tshark's field values", () => {
  const msg = newIcmpMessage();
  for (const p of LINUX_PACKETS.filter((p) => p.icmp !== undefined)) {
    const f = p.icmp!;
    assert.equal(parseIcmp(icmpOf(p.name), msg), IcmpParseError.None, p.name);
    assert.deepEqual(
      [msg.type, msg.code, msg.id, msg.seq, msg.checksum],
      [f.type, f.code, f.id, f.seq, f.checksum],
      p.name,
    );
    assert.equal(msg.rest, ((f.id << 16) | f.seq) >>> 0);
    assert.equal(toHex(msg.data), f.dataHex, p.name);
  }
});

Deno.test("icmp: the echo reply equals the Linux kernel's reply byte for byte", () => {
  const msg = newIcmpMessage();
  const out = new Uint8Array(128);
  for (
    const [req, rep] of [["icmpEchoRequest", "icmpEchoReply"], [
      "icmpEchoRequestOdd",
      "icmpEchoReplyOdd",
    ]]
  ) {
    assert.equal(parseIcmp(icmpOf(req), msg), IcmpParseError.None);
    assert.equal(msg.type, ICMP_ECHO_REQUEST);
    const n = emitIcmpEchoReply(msg, out);
    assert.equal(toHex(out.subarray(0, n)), toHex(icmpOf(rep)), req);
    assert.equal(out[0], ICMP_ECHO_REPLY);
  }
});

Deno.test("icmp: an echo reply may be written over its own request", () => {
  const msg = newIcmpMessage();
  const buf = icmpOf("icmpEchoRequest").slice();
  assert.equal(parseIcmp(buf, msg), IcmpParseError.None);
  const n = emitIcmpEchoReply(msg, buf);
  assert.equal(toHex(buf.subarray(0, n)), toHex(icmpOf("icmpEchoReply")));
});

Deno.test("icmp: malformed messages are rejected with their reason", async (t) => {
  const msg = newIcmpMessage();
  await t.step("fewer than 8 bytes is TooShort", () => {
    assert.equal(parseIcmp(icmpOf("icmpEchoRequest").subarray(0, 7), msg), IcmpParseError.TooShort);
    assert.equal(parseIcmp(new Uint8Array(0), msg), IcmpParseError.TooShort);
  });
  await t.step("a flipped data bit is BadChecksum", () => {
    const b = icmpOf("icmpEchoRequestOdd").slice();
    b[b.length - 1] ^= 1;
    assert.equal(parseIcmp(b, msg), IcmpParseError.BadChecksum);
    assert.equal(msg.data.length, 0);
  });
  await t.step("an echo request with code 1 is BadCode", () => {
    const b = icmpOf("icmpEchoRequest").slice();
    b[1] = 1;
    assert.equal(parseIcmp(fixChecksum(b), msg), IcmpParseError.BadCode);
  });
  await t.step("other types accept any code", () => {
    const b = new Uint8Array(8);
    b[0] = ICMP_DEST_UNREACHABLE;
    b[1] = 13;
    assert.equal(parseIcmp(fixChecksum(b), msg), IcmpParseError.None);
    assert.equal(msg.data.length, 0);
  });
});

Deno.test("icmp: destination unreachable quotes the IP header and 8 payload bytes", async (t) => {
  const out = new Uint8Array(128);
  const msg = newIcmpMessage();
  const syn = fromHex(LINUX_PACKETS.find((p) => p.name === "synClosedPort")!.hex);
  await t.step("a 60-byte SYN: 20 + 8 bytes quoted", () => {
    const n = emitIcmpDestUnreachable(out, ICMP_UNREACH_PORT, syn);
    assert.equal(n, 8 + 28);
    assert.equal(internetChecksum(out, 0, n), 0);
    assert.equal(parseIcmp(out.subarray(0, n), msg), IcmpParseError.None);
    assert.deepEqual([msg.type, msg.code, msg.rest], [ICMP_DEST_UNREACHABLE, ICMP_UNREACH_PORT, 0]);
    assert.equal(toHex(msg.data), toHex(syn.subarray(0, 28)));
  });
  await t.step("an IP header with options is quoted whole", () => {
    const withOpts = new Uint8Array(44);
    withOpts[0] = 0x46; // 24-byte header
    withOpts.fill(7, 24);
    const n = emitIcmpDestUnreachable(out, 2, withOpts);
    assert.equal(n, 8 + 32);
    assert.equal(toHex(out.subarray(8, n)), toHex(withOpts.subarray(0, 32)));
  });
  await t.step("a short original is quoted as far as it goes", () => {
    const n = emitIcmpDestUnreachable(out, ICMP_UNREACH_PORT, syn.subarray(0, 22));
    assert.equal(n, 8 + 22);
    assert.equal(internetChecksum(out, 0, n), 0);
    assert.equal(emitIcmpDestUnreachable(out, ICMP_UNREACH_PORT, new Uint8Array(0)), 8);
  });
  await t.step("fragmentation needed carries the next-hop MTU", () => {
    const n = emitIcmpDestUnreachable(out, ICMP_UNREACH_FRAG_NEEDED, syn, 1280);
    assert.equal(parseIcmp(out.subarray(0, n), msg), IcmpParseError.None);
    assert.equal(msg.rest, 1280);
  });
});

/** The ICMP part of a captured IPv4 packet from linux_ip_packets.ts. */
function icmp4Of(name: string): Uint8Array {
  const b = captured(name).bytes;
  return b.subarray((b[0] & 0x0f) << 2);
}

Deno.test("icmp: captured Linux errors name the datagram tshark says they quote", () => {
  const msg = newIcmpMessage();
  const q = newIcmpQuote();
  // [packet, type, code, quoted protocol]
  const table: [string, number, number, number][] = [
    ["icmp4PortUnreachable", ICMP_DEST_UNREACHABLE, ICMP_UNREACH_PORT, IPPROTO_UDP],
    ["icmp4FragNeeded", ICMP_DEST_UNREACHABLE, ICMP_UNREACH_FRAG_NEEDED, IPPROTO_TCP],
    ["icmp4HostUnreachable", ICMP_DEST_UNREACHABLE, ICMP_UNREACH_HOST, IPPROTO_TCP],
    ["icmp4Prohibited", ICMP_DEST_UNREACHABLE, ICMP_UNREACH_ADMIN, IPPROTO_TCP],
    ["icmp4TtlExceeded", ICMP_TIME_EXCEEDED, 0, IPPROTO_TCP],
    ["ip4BadOptionProblem", ICMP_PARAMETER_PROBLEM, 0, IPPROTO_ICMP],
  ];
  for (const [name, type, code, protocol] of table) {
    const p = captured(name);
    assert.equal(parseIcmp(icmp4Of(name), msg), IcmpParseError.None, name);
    assert.equal(msg.checksum, fact(p, "icmp.checksum"), name);
    assert.equal(parseIcmpError(msg, q), IcmpQuoteError.None, name);
    assert.deepEqual([q.type, q.code, q.protocol], [type, code, protocol], name);
    assert.deepEqual([q.type, q.code], [fact(p, "icmp.type"), fact(p, "icmp.code")], name);
    // tshark's second IPv4 occurrence is the quoted header.
    assert.equal(formatIpv4Address(q.src), factText(p, "ip.src", 1), name);
    assert.equal(formatIpv4Address(q.dst), factText(p, "ip.dst", 1), name);
    assert.equal(q.protocol, fact(p, "ip.proto", 1), name);
    assert.equal(q.headerLength, fact(p, "ip.hdr_len", 1), name);
    assert(q.transport.length >= 8, name);
    if (protocol === IPPROTO_TCP) {
      assert.deepEqual(
        [q.srcPort, q.dstPort, q.seq],
        [fact(p, "tcp.srcport"), fact(p, "tcp.dstport"), fact(p, "tcp.seq")],
        name,
      );
    } else if (protocol === IPPROTO_UDP) {
      assert.deepEqual([q.srcPort, q.dstPort], [fact(p, "udp.srcport"), fact(p, "udp.dstport")]);
    }
    assert.equal(q.mtu, p.f["icmp.mtu"] ? fact(p, "icmp.mtu") : 0, name);
    assert.equal(q.pointer, p.f["icmp.pointer"] ? fact(p, "icmp.pointer") : 0, name);
  }
});

Deno.test("icmp: RFC 1191 §4 the router's next-hop MTU, and a quote with IP options", () => {
  const msg = newIcmpMessage();
  const q = newIcmpQuote();
  assert.equal(parseIcmp(icmp4Of("icmp4FragNeeded"), msg), IcmpParseError.None);
  assert.equal(parseIcmpError(msg, q), IcmpQuoteError.None);
  assert.equal(q.mtu, 1280);
  // Linux quotes up to 576 bytes of the datagram: more than RFC 792's header + 8 bytes.
  assert.equal(msg.data.length, 548);
  // The Parameter Problem points into the quoted header's Timestamp option (its length byte).
  assert.equal(parseIcmp(icmp4Of("ip4BadOptionProblem"), msg), IcmpParseError.None);
  assert.equal(parseIcmpError(msg, q), IcmpQuoteError.None);
  assert.deepEqual([q.pointer, q.headerLength, msg.data[q.pointer]], [21, 24, 3]);
  // Its quoted ICMP echo begins after the options: type 8, identifier 0x4242 in bytes 4-5.
  assert.deepEqual([q.transport[0], q.srcPort >>> 8, q.seq >>> 16], [ICMP_ECHO_REQUEST, 8, 0x4242]);
});

Deno.test("icmp: errors built here are read back by parseIcmpError", () => {
  const msg = newIcmpMessage();
  const q = newIcmpQuote();
  const original = new Uint8Array(20 + 20);
  emitIpv4(original, {
    src: 0x0a000002,
    dst: 0x0a000001,
    protocol: IPPROTO_TCP,
    ttl: 64,
    id: 9,
    payloadLength: 20,
  });
  original.set([0x9c, 0x40, 0x00, 0x50, 0xde, 0xad, 0xbe, 0xef], 20);
  const out = new Uint8Array(64);
  for (const [code, mtu] of [[ICMP_UNREACH_PORT, 0], [ICMP_UNREACH_FRAG_NEEDED, 1492]]) {
    const n = emitIcmpDestUnreachable(out, code, original, mtu);
    assert.equal(parseIcmp(out.subarray(0, n), msg), IcmpParseError.None);
    assert.equal(parseIcmpError(msg, q), IcmpQuoteError.None);
    assert.deepEqual(
      [q.code, q.mtu, q.src, q.dst, q.srcPort, q.dstPort, q.seq, q.transport.length],
      [code, mtu, 0x0a000002, 0x0a000001, 40000, 80, 0xdeadbeef, 8],
    );
  }
});

Deno.test("icmp: source quench, old routers and quotes that name nothing", async (t) => {
  const msg = newIcmpMessage();
  const q = newIcmpQuote();
  const original = new Uint8Array(28);
  emitIpv4(original, { src: 1, dst: 2, protocol: IPPROTO_TCP, ttl: 1, id: 0, payloadLength: 8 });
  /** An error message of `type`/`code`/`rest` quoting `quote`, with a valid checksum. */
  const error = (type: number, code: number, rest: number, quote: Uint8Array) => {
    const b = new Uint8Array(8 + quote.length);
    b[0] = type;
    b[1] = code;
    b.set([rest >>> 24, (rest >>> 16) & 0xff, (rest >>> 8) & 0xff, rest & 0xff], 4);
    b.set(quote, 8);
    const c = internetChecksum(b);
    b[2] = c >>> 8;
    b[3] = c & 0xff;
    assert.equal(parseIcmp(b, msg), IcmpParseError.None);
    return parseIcmpError(msg, q);
  };
  await t.step("source quench is read (for the caller to count and ignore, RFC 6633)", () => {
    assert.equal(error(ICMP_SOURCE_QUENCH, 0, 0, original), IcmpQuoteError.None);
    assert.equal(q.type, ICMP_SOURCE_QUENCH);
  });
  await t.step("fragmentation needed from a pre-RFC 1191 router has MTU 0", () => {
    assert.equal(error(3, 4, 0, original), IcmpQuoteError.None);
    assert.equal(q.mtu, 0);
    // Only the low 16 bits are the MTU; the unused high half is ignored.
    assert.equal(error(3, 4, 0xabcd05dc, original), IcmpQuoteError.None);
    assert.equal(q.mtu, 1500);
    // Other codes carry no MTU.
    assert.equal(error(3, 1, 1500, original), IcmpQuoteError.None);
    assert.equal(q.mtu, 0);
  });
  await t.step("the pointer is the first byte of the second word", () => {
    assert.equal(error(12, 0, 0x09000000, original), IcmpQuoteError.None);
    assert.equal(q.pointer, 9);
  });
  await t.step("reasons for quotes that name no connection", () => {
    assert.equal(error(0, 0, 0, original), IcmpQuoteError.NotAnError);
    assert.equal(error(5, 0, 0, original), IcmpQuoteError.NotAnError, "redirect");
    assert.equal(error(3, 3, 0, original.subarray(0, 27)), IcmpQuoteError.TooShort);
    const v6 = original.slice();
    v6[0] = 0x65;
    assert.equal(error(3, 3, 0, v6), IcmpQuoteError.BadVersion);
    const ihl4 = original.slice();
    ihl4[0] = 0x44;
    assert.equal(error(3, 3, 0, ihl4), IcmpQuoteError.BadHeaderLength);
    const opts = original.slice();
    opts[0] = 0x46; // a 24-byte header: 4 transport bytes left
    assert.equal(error(3, 3, 0, opts), IcmpQuoteError.TooShort);
    const later = original.slice();
    later[7] = 1; // fragment offset 8
    assert.equal(error(3, 3, 0, later), IcmpQuoteError.NotFirstFragment);
    const first = original.slice();
    first[6] = 0x20; // MF only: the first fragment has the header
    assert.equal(error(3, 3, 0, first), IcmpQuoteError.None);
  });
  await t.step("isIcmpError", () => {
    const errors = [];
    for (let t = 0; t < 256; t++) if (isIcmpError(t)) errors.push(t);
    assert.deepEqual(errors, [3, 4, 11, 12]);
  });
});

Deno.test("icmp: random mutations never make parseIcmpError throw", () => {
  const rand = seededRandom(0x1c4);
  const bases = [
    "icmp4PortUnreachable",
    "icmp4FragNeeded",
    "icmp4TtlExceeded",
    "ip4BadOptionProblem",
  ].map((n) => icmp4Of(n).slice());
  const msg = newIcmpMessage();
  const q = newIcmpQuote();
  const codes = new Set(Object.values(IcmpQuoteError).filter((v) => typeof v === "number"));
  for (let i = 0; i < 5000; i++) {
    const b = bases[rand() % bases.length].slice();
    for (let m = 0; m < 1 + (rand() % 4); m++) b[rand() % Math.min(b.length, 64)] = rand() & 0xff;
    const cut = b.slice(0, rand() % (b.length + 1));
    if (cut.length >= 4) {
      cut[2] = 0;
      cut[3] = 0;
      const c = internetChecksum(cut);
      cut[2] = c >>> 8;
      cut[3] = c & 0xff;
    }
    if (parseIcmp(cut, msg) !== IcmpParseError.None) continue;
    const err = parseIcmpError(msg, q);
    assert(codes.has(err));
    if (err === IcmpQuoteError.None) assert(q.headerLength + 8 <= msg.data.length);
  }
});
