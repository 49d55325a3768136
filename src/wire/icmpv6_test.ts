import assert from "node:assert/strict";
import {
  emitIcmpv6EchoReply,
  emitIcmpv6Error,
  ICMPV6_DEST_UNREACHABLE,
  ICMPV6_ECHO_REPLY,
  ICMPV6_ECHO_REQUEST,
  ICMPV6_ERROR_MAX_PACKET,
  ICMPV6_PACKET_TOO_BIG,
  ICMPV6_PARAMETER_PROBLEM,
  ICMPV6_TIME_EXCEEDED,
  ICMPV6_UNREACH_PORT,
  Icmpv6Category,
  icmpv6Category,
  Icmpv6ParseError,
  Icmpv6QuoteError,
  newIcmpv6Message,
  newIcmpv6Quote,
  parseIcmpv6,
  parseIcmpv6Quote,
} from "./icmpv6.ts";
import {
  emitIpv6,
  IPPROTO_AH,
  IPPROTO_DSTOPTS,
  IPPROTO_ESP,
  IPPROTO_FRAGMENT,
  IPPROTO_ICMPV6,
  ipv6AddressSum,
  ipv6PacketAddressSum,
  newIpv6Extensions,
  newIpv6Header,
  parseIpv6,
  walkIpv6Extensions,
} from "./ipv6.ts";
import { formatIpv6Address, parseIpv6Address } from "./ipv6_address.ts";
import { checksumAdd, checksumFinish } from "./checksum.ts";
import { IPPROTO_TCP, IPPROTO_UDP } from "./ipv4.ts";
import { captured, fact, factText, LINUX_IP_PACKETS } from "../../tests/vectors/ip_packets.ts";
import { fromHex, seededRandom, toHex } from "../../tests/vectors/util.ts";

/** The ICMPv6 part of a captured packet (after any extension headers) and its address sum. */
function icmpv6Of(name: string): { bytes: Uint8Array; sum: number; packet: Uint8Array } {
  const packet = captured(name).bytes;
  const ip = newIpv6Header();
  const ext = newIpv6Extensions();
  assert.equal(parseIpv6(packet, packet.length, ip), 0, name);
  assert.equal(walkIpv6Extensions(packet, ip, ext), 0, name);
  assert.equal(ext.protocol, IPPROTO_ICMPV6, name);
  return { bytes: packet.subarray(ext.offset, ext.end), sum: ipv6PacketAddressSum(packet), packet };
}

/** Captured ICMPv6 messages that arrived whole (those the walk drops are ipv6_test.ts's). */
const ICMPV6_PACKETS = LINUX_IP_PACKETS.filter((p) => {
  if (p.f["icmpv6.type"] === undefined) return false;
  const bytes = fromHex(p.hex);
  const ip = newIpv6Header();
  const ext = newIpv6Extensions();
  parseIpv6(bytes, bytes.length, ip);
  return walkIpv6Extensions(bytes, ip, ext) === 0 && !ext.fragment;
});

Deno.test("icmpv6: captured messages parse to tshark's field values, checksums verified", () => {
  const msg = newIcmpv6Message();
  assert(ICMPV6_PACKETS.length >= 25, `${ICMPV6_PACKETS.length}`);
  for (const p of ICMPV6_PACKETS) {
    const { bytes, sum } = icmpv6Of(p.name);
    assert.equal(parseIcmpv6(bytes, sum, msg), Icmpv6ParseError.None, p.name);
    assert.deepEqual(
      [msg.type, msg.code, msg.checksum],
      [fact(p, "icmpv6.type"), fact(p, "icmpv6.code"), fact(p, "icmpv6.checksum")],
      p.name,
    );
    assert.equal(msg.data.length, bytes.length - 8);
    if (msg.type === ICMPV6_PACKET_TOO_BIG) assert.equal(msg.rest, fact(p, "icmpv6.mtu"), p.name);
    if (msg.type === ICMPV6_PARAMETER_PROBLEM) {
      assert.equal(msg.rest, fact(p, "icmpv6.pointer"), p.name);
    }
    if (msg.category === Icmpv6Category.Echo) {
      assert.deepEqual(
        [msg.id, msg.seq],
        [fact(p, "icmpv6.echo.identifier"), fact(p, "icmpv6.echo.sequence_number")],
        p.name,
      );
    }
  }
});

Deno.test("icmpv6: Neighbor Discovery and MLD are recognized, not malformed", () => {
  const msg = newIcmpv6Message();
  const want: [string, Icmpv6Category][] = [
    ["ndNeighborSolicitation", Icmpv6Category.NeighborDiscovery],
    ["ndNeighborAdvertisement", Icmpv6Category.NeighborDiscovery],
    ["ndDadSolicitation", Icmpv6Category.NeighborDiscovery],
    ["ndRouterSolicitation", Icmpv6Category.NeighborDiscovery],
    ["mldv2Report", Icmpv6Category.MulticastListener],
    ["echo6Request7", Icmpv6Category.Echo],
    ["icmp6PacketTooBig", Icmpv6Category.Error],
  ];
  for (const [name, category] of want) {
    const { bytes, sum } = icmpv6Of(name);
    assert.equal(parseIcmpv6(bytes, sum, msg), Icmpv6ParseError.None, name);
    assert.equal(msg.category, category, name);
  }
  // Every type, by RFC 4443 §2.1, RFC 4861 §4, RFC 2710 §3, RFC 3810 §5.
  for (let t = 0; t < 256; t++) {
    const c = icmpv6Category(t);
    if (t < 128) assert.equal(c, Icmpv6Category.Error, `${t}`);
    else if (t === 128 || t === 129) assert.equal(c, Icmpv6Category.Echo, `${t}`);
    else if (t >= 133 && t <= 137) assert.equal(c, Icmpv6Category.NeighborDiscovery, `${t}`);
    else if (t === 130 || t === 131 || t === 132 || t === 143) {
      assert.equal(c, Icmpv6Category.MulticastListener, `${t}`);
    } else assert.equal(c, Icmpv6Category.OtherInformational, `${t}`);
  }
});

Deno.test("icmpv6: the echo reply equals the Linux kernel's reply byte for byte", () => {
  const msg = newIcmpv6Message();
  const out = new Uint8Array(64);
  for (
    const [req, rep] of [
      ["echo6Request7", "echo6Reply7"],
      ["echo6Request16", "echo6Reply16"],
      ["dstOptSkip", "dstOptSkipReply"], // the request behind a Destination Options header
      ["atomicFragment", "atomicFragmentReply"],
    ]
  ) {
    const q = icmpv6Of(req);
    assert.equal(parseIcmpv6(q.bytes, q.sum, msg), Icmpv6ParseError.None, req);
    assert.equal(msg.type, ICMPV6_ECHO_REQUEST);
    // The reply swaps the addresses: the same sum.
    const n = emitIcmpv6EchoReply(msg, out, q.sum);
    assert.equal(toHex(out.subarray(0, n)), toHex(icmpv6Of(rep).bytes), req);
    assert.equal(out[0], ICMPV6_ECHO_REPLY);
  }
});

Deno.test("icmpv6: an echo reply may be written over its own request", () => {
  const msg = newIcmpv6Message();
  const q = icmpv6Of("echo6Request16");
  const buf = q.bytes.slice();
  assert.equal(parseIcmpv6(buf, q.sum, msg), Icmpv6ParseError.None);
  const n = emitIcmpv6EchoReply(msg, buf, q.sum);
  assert.equal(toHex(buf.subarray(0, n)), toHex(icmpv6Of("echo6Reply16").bytes));
});

Deno.test("icmpv6: malformed messages are rejected with their reason", async (t) => {
  const msg = newIcmpv6Message();
  const q = icmpv6Of("echo6Request7");
  await t.step("fewer than 8 bytes is TooShort", () => {
    assert.equal(parseIcmpv6(q.bytes.subarray(0, 7), q.sum, msg), Icmpv6ParseError.TooShort);
    assert.equal(parseIcmpv6(new Uint8Array(0), q.sum, msg), Icmpv6ParseError.TooShort);
  });
  await t.step("a flipped bit, or the wrong addresses, is BadChecksum", () => {
    const b = q.bytes.slice();
    b[b.length - 1] ^= 1;
    assert.equal(parseIcmpv6(b, q.sum, msg), Icmpv6ParseError.BadChecksum);
    assert.equal(msg.data.length, 0);
    assert.equal(parseIcmpv6(q.bytes, q.sum + 1, msg), Icmpv6ParseError.BadChecksum);
    // Without verification it passes.
    assert.equal(parseIcmpv6(b, 0, msg, false), Icmpv6ParseError.None);
  });
  await t.step("the checksum covers the upper-layer length (RFC 4443 §2.3)", () => {
    // The same bytes with one more zero byte sum the same, but the length differs.
    const longer = new Uint8Array(q.bytes.length + 1);
    longer.set(q.bytes);
    assert.equal(parseIcmpv6(longer, q.sum, msg), Icmpv6ParseError.BadChecksum);
  });
  await t.step("an echo message with code 1 is BadCode", () => {
    const b = q.bytes.slice();
    b[1] = 1;
    b[2] = 0;
    b[3] = 0;
    const c = checksumFinish(checksumAdd(q.sum + b.length + 58, b, 0, b.length));
    b[2] = c >>> 8;
    b[3] = c & 0xff;
    assert.equal(parseIcmpv6(b, q.sum, msg), Icmpv6ParseError.BadCode);
  });
});

Deno.test("icmpv6: re-emitting a Linux error from its parts gives the same bytes", () => {
  const msg = newIcmpv6Message();
  const out = new Uint8Array(1280);
  let n = 0;
  for (const p of ICMPV6_PACKETS) {
    if (fact(p, "icmpv6.type") >= 128) continue;
    const q = icmpv6Of(p.name);
    assert.equal(parseIcmpv6(q.bytes, q.sum, msg), Icmpv6ParseError.None);
    const len = emitIcmpv6Error(out, msg.type, msg.code, msg.rest, msg.data, q.sum);
    assert.equal(toHex(out.subarray(0, len)), toHex(q.bytes), p.name);
    n++;
  }
  assert(n >= 10, `only ${n} errors`);
});

Deno.test("icmpv6: Packet Too Big quotes as much as fits in 1280 bytes, as Linux does", () => {
  // R answered the 1500-byte segment with 1232 quoted bytes (RFC 4443 §2.4(c)).
  const segment = captured("tcp6FullSegment").bytes;
  const linux = icmpv6Of("icmp6PacketTooBig");
  const router = parseIpv6Address("fd00:a::2")!;
  const ip = newIpv6Header();
  parseIpv6(segment, segment.length, ip);
  const out = new Uint8Array(1500);
  const n = emitIcmpv6Error(
    out,
    ICMPV6_PACKET_TOO_BIG,
    0,
    1280,
    segment,
    ipv6AddressSum(router, ip.src),
  );
  assert.equal(n, ICMPV6_ERROR_MAX_PACKET - 40);
  assert.equal(toHex(out.subarray(0, n)), toHex(linux.bytes));
  // A smaller limit quotes less; a short packet is quoted whole.
  assert.equal(emitIcmpv6Error(out, 1, 4, 0, segment, 0, 600), 560);
  assert.equal(emitIcmpv6Error(out, 1, 4, 0, segment, 0, 5000), 1240, "never past 1280");
  assert.equal(emitIcmpv6Error(out, 1, 4, 0, segment.subarray(0, 60), 0), 68);
  assert.equal(emitIcmpv6Error(out, 1, 4, 0, new Uint8Array(0), 0), 8);
});

Deno.test("icmpv6: an emitted error round-trips through parse and quote", () => {
  const src = parseIpv6Address("fd00::1")!;
  const dst = parseIpv6Address("fd00::2")!;
  const invoking = new Uint8Array(40 + 20);
  emitIpv6(invoking, { src, dst, nextHeader: IPPROTO_TCP, hopLimit: 64, payloadLength: 20 });
  invoking.set([0x9c, 0x40, 0x01, 0xbb, 0xde, 0xad, 0xbe, 0xef], 40);
  const sum = ipv6AddressSum(dst, src);
  const msg = newIcmpv6Message();
  const quote = newIcmpv6Quote();
  const out = new Uint8Array(200);
  for (
    const [type, code, param] of [
      [ICMPV6_DEST_UNREACHABLE, ICMPV6_UNREACH_PORT, 0],
      [ICMPV6_PACKET_TOO_BIG, 0, 1400],
      [ICMPV6_TIME_EXCEEDED, 0, 0],
      [ICMPV6_TIME_EXCEEDED, 1, 0],
      [ICMPV6_PARAMETER_PROBLEM, 1, 6],
    ]
  ) {
    const n = emitIcmpv6Error(out, type, code, param, invoking, sum);
    assert.equal(parseIcmpv6(out.subarray(0, n), sum, msg), Icmpv6ParseError.None);
    assert.deepEqual([msg.type, msg.code, msg.rest, msg.category], [
      type,
      code,
      param,
      Icmpv6Category.Error,
    ]);
    assert.equal(parseIcmpv6Quote(msg, quote), Icmpv6QuoteError.None);
    assert.deepEqual(
      [
        formatIpv6Address(quote.src),
        formatIpv6Address(quote.dst),
        quote.protocol,
        quote.srcPort,
        quote.dstPort,
        quote.seq,
      ],
      ["fd00::1", "fd00::2", IPPROTO_TCP, 40000, 443, 0xdeadbeef],
    );
  }
});

Deno.test("icmpv6: the quotes of captured errors name the packets tshark says they do", () => {
  const msg = newIcmpv6Message();
  const quote = newIcmpv6Quote();
  // [error, quoted protocol, offset of its header in the quote]
  const table: [string, number, number][] = [
    ["icmp6PortUnreachable", IPPROTO_UDP, 40],
    ["icmp6PacketTooBig", IPPROTO_TCP, 40],
    ["icmp6NoRoute", IPPROTO_TCP, 40],
    ["icmp6Prohibited", IPPROTO_TCP, 40],
    ["icmp6HopLimitExceeded", IPPROTO_TCP, 40],
    ["dstOptAction10Problem", IPPROTO_ICMPV6, 48],
    ["hbhAction10Problem", IPPROTO_ICMPV6, 48],
    ["routing0Problem", IPPROTO_ICMPV6, 64],
    ["hbhNotFirstProblem", IPPROTO_ICMPV6, 56],
    ["fragBadLengthProblem", IPPROTO_ICMPV6, 48],
    ["unknownNextHeaderProblem", 253, 40],
  ];
  for (const [name, protocol, offset] of table) {
    const p = captured(name);
    const q = icmpv6Of(name);
    assert.equal(parseIcmpv6(q.bytes, q.sum, msg), Icmpv6ParseError.None);
    assert.equal(parseIcmpv6Quote(msg, quote), Icmpv6QuoteError.None, name);
    assert.deepEqual([quote.protocol, quote.transportOffset], [protocol, offset], name);
    // tshark's second ipv6 occurrence is the quoted header.
    assert.equal(formatIpv6Address(quote.src), factText(p, "ipv6.src", 1), name);
    assert.equal(formatIpv6Address(quote.dst), factText(p, "ipv6.dst", 1), name);
    assert(quote.transport.length >= 8);
    if (protocol === IPPROTO_TCP) {
      assert.deepEqual(
        [quote.srcPort, quote.dstPort, quote.seq],
        [fact(p, "tcp.srcport"), fact(p, "tcp.dstport"), fact(p, "tcp.seq")],
        name,
      );
    } else if (protocol === IPPROTO_UDP) {
      assert.deepEqual([quote.srcPort, quote.dstPort], [
        fact(p, "udp.srcport"),
        fact(p, "udp.dstport"),
      ]);
    }
  }
  // The quote stops where the first fragment stopped: inside its header chain.
  const inc = icmpv6Of("fragIncompleteChainProblem");
  assert.equal(parseIcmpv6(inc.bytes, inc.sum, msg), Icmpv6ParseError.None);
  assert.equal(parseIcmpv6Quote(msg, quote), Icmpv6QuoteError.Truncated);
});

Deno.test("icmpv6: quotes that name no connection", () => {
  const msg = newIcmpv6Message();
  const quote = newIcmpv6Quote();
  const src = parseIpv6Address("fd00::1")!;
  const dst = parseIpv6Address("fd00::2")!;
  const quoteOf = (next: number, rest: number[]) => {
    const inv = new Uint8Array(40 + rest.length);
    emitIpv6(inv, { src, dst, nextHeader: next, hopLimit: 1, payloadLength: 1000 });
    inv.set(rest, 40);
    const out = new Uint8Array(8 + inv.length);
    const n = emitIcmpv6Error(out, 1, 0, 0, inv, 0);
    assert.equal(parseIcmpv6(out.subarray(0, n), 0, msg), Icmpv6ParseError.None);
    return parseIcmpv6Quote(msg, quote);
  };
  const ports = [0, 80, 0, 81, 0, 0, 0, 1];
  assert.equal(quoteOf(IPPROTO_TCP, ports), Icmpv6QuoteError.None);
  assert.equal(quoteOf(IPPROTO_TCP, ports.slice(0, 7)), Icmpv6QuoteError.Truncated);
  // A later fragment carries no ports.
  assert.equal(
    quoteOf(IPPROTO_FRAGMENT, [IPPROTO_TCP, 0, 0, 8, 0, 0, 0, 1, ...ports]),
    Icmpv6QuoteError.NotFirstFragment,
  );
  assert.equal(
    quoteOf(IPPROTO_FRAGMENT, [IPPROTO_TCP, 0, 0, 1, 0, 0, 0, 1, ...ports]),
    Icmpv6QuoteError.None,
  );
  // Authentication Header skipped by its length (RFC 4302: (len + 2) × 4 bytes); ESP unreadable.
  assert.equal(
    quoteOf(IPPROTO_AH, [IPPROTO_TCP, 4, 0, 0, ...new Array(20).fill(0), ...ports]),
    Icmpv6QuoteError.None,
  );
  assert.equal(quote.transportOffset, 64);
  assert.equal(quoteOf(IPPROTO_ESP, [...ports, ...ports]), Icmpv6QuoteError.Unreadable);
  // Too many headers to walk.
  const many: number[] = [];
  for (let i = 0; i < 9; i++) many.push(IPPROTO_DSTOPTS, 0, 1, 4, 0, 0, 0, 0);
  many[8 * 8] = IPPROTO_TCP;
  assert.equal(quoteOf(IPPROTO_DSTOPTS, [...many, ...ports]), Icmpv6QuoteError.Unreadable);
  // Not an error, a cut header, another version.
  const echo = icmpv6Of("echo6Request7");
  parseIcmpv6(echo.bytes, echo.sum, msg);
  assert.equal(parseIcmpv6Quote(msg, quote), Icmpv6QuoteError.NotAnError);
  const cut = new Uint8Array(8 + 39);
  cut[0] = 1;
  parseIcmpv6(cut, 0, msg, false);
  assert.equal(parseIcmpv6Quote(msg, quote), Icmpv6QuoteError.TooShort);
  const v4 = new Uint8Array(8 + 60);
  v4[0] = 1;
  v4[8] = 0x45;
  parseIcmpv6(v4, 0, msg, false);
  assert.equal(parseIcmpv6Quote(msg, quote), Icmpv6QuoteError.BadVersion);
});

Deno.test("icmpv6: random mutations never make parse or quote throw", () => {
  const rand = seededRandom(0x1c6);
  const bases = ICMPV6_PACKETS.map((p) => icmpv6Of(p.name).bytes.slice());
  const msg = newIcmpv6Message();
  const quote = newIcmpv6Quote();
  const parseCodes = new Set(Object.values(Icmpv6ParseError).filter((v) => typeof v === "number"));
  const quoteCodes = new Set(Object.values(Icmpv6QuoteError).filter((v) => typeof v === "number"));
  for (let i = 0; i < 5000; i++) {
    const b = bases[rand() % bases.length].slice();
    for (let m = 0; m < 1 + (rand() % 4); m++) b[rand() % b.length] = rand() & 0xff;
    const cut = b.subarray(0, rand() % (b.length + 1));
    const err = parseIcmpv6(cut, 0, msg, false);
    assert(parseCodes.has(err));
    if (err === Icmpv6ParseError.None) {
      const q = parseIcmpv6Quote(msg, quote);
      assert(quoteCodes.has(q));
      if (q === Icmpv6QuoteError.None) {
        assert(quote.transportOffset + 8 <= msg.data.length);
      }
    }
  }
});
