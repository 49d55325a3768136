import assert from "node:assert/strict";
import {
  emitIpv6,
  ICMPV6_PARAM_CHAIN_TOO_LONG,
  ICMPV6_PARAM_HEADER_FIELD,
  ICMPV6_PARAM_INCOMPLETE_CHAIN,
  ICMPV6_PARAM_NEXT_HEADER,
  ICMPV6_PARAM_OPTION,
  ICMPV6_PARAM_TOO_MANY_HEADERS,
  IPPROTO_AH,
  IPPROTO_DSTOPTS,
  IPPROTO_ESP,
  IPPROTO_FRAGMENT,
  IPPROTO_HOPOPTS,
  IPPROTO_ICMPV6,
  IPPROTO_NONE,
  IPPROTO_ROUTING,
  IPV6_HEADER_LENGTH,
  IPV6_MAX_EXTENSION_BYTES,
  IPV6_MAX_EXTENSION_HEADERS,
  ipv6AddressSum,
  ipv6ErrorAllowed,
  Ipv6ExtError,
  ipv6PacketAddressSum,
  Ipv6ParseError,
  ipv6PseudoHeaderSum,
  newIpv6Extensions,
  newIpv6Header,
  parseIpv6,
  walkIpv6Extensions,
} from "./ipv6.ts";
import { formatIpv6Address, type Ipv6Address, parseIpv6Address } from "./ipv6_address.ts";
import { checksumAdd, checksumFinish } from "./checksum.ts";
import { IPPROTO_TCP } from "./ipv4.ts";
import { captured, fact, factText, LINUX_IP_PACKETS } from "../../tests/vectors/ip_packets.ts";
import { fromHex, seededRandom, toHex } from "../../tests/vectors/util.ts";

const A = parseIpv6Address("fd00:a::1")!;
const B = parseIpv6Address("fd00:b::1")!;
const ALL_NODES = parseIpv6Address("ff02::1")!;

const V6_PACKETS = LINUX_IP_PACKETS.filter((p) => p.f["ipv6.plen"] !== undefined);
const EXT_CODES = new Set(Object.values(Ipv6ExtError).filter((v) => typeof v === "number"));

// --- Packet building for the walk tests -------------------------------------------------------

/** A Hop-by-Hop or Destination Options header with `options`, padded to 8n bytes with PadN. */
function opts(next: number, options: number[]): number[] {
  const body = [next, 0, ...options];
  const pad = (8 - (body.length % 8)) % 8;
  if (pad === 1) body.push(0);
  else if (pad > 1) body.push(1, pad - 2, ...new Array(pad - 2).fill(0));
  body[1] = body.length / 8 - 1;
  return body;
}

/** A Routing header of `type` with `segmentsLeft` and `addresses` 16-byte addresses. */
function routing(next: number, type: number, segmentsLeft: number, addresses = 1): number[] {
  return [
    next,
    2 * addresses,
    type,
    segmentsLeft,
    0,
    0,
    0,
    0,
    ...new Array(16 * addresses).fill(0),
  ];
}

/** A Fragment header: offset in bytes (a multiple of 8), M flag, identification. */
function frag(next: number, offset: number, more: boolean, id = 0x01020304): number[] {
  const field = offset | (more ? 1 : 0);
  return [
    next,
    0,
    field >>> 8,
    field & 0xff,
    id >>> 24,
    (id >>> 16) & 0xff,
    (id >>> 8) & 0xff,
    id & 0xff,
  ];
}

/** An IPv6 packet: `first` as the fixed header's Next Header, then `rest` bytes. */
function packet(
  first: number,
  rest: number[],
  src: Ipv6Address = A,
  dst: Ipv6Address = B,
  padding = 0,
): Uint8Array {
  const p = new Uint8Array(IPV6_HEADER_LENGTH + rest.length + padding).fill(0xaa);
  emitIpv6(p, { src, dst, nextHeader: first, hopLimit: 64, payloadLength: rest.length });
  p.set(rest, IPV6_HEADER_LENGTH);
  return p;
}

const TCP20 = new Array(20).fill(0);

interface Walked {
  err: Ipv6ExtError;
  protocol: number;
  offset: number;
  code: number;
  pointer: number;
}

function walk(p: Uint8Array): Walked & { ext: ReturnType<typeof newIpv6Extensions> } {
  const ip = newIpv6Header();
  assert.equal(parseIpv6(p, p.length, ip), Ipv6ParseError.None, "the fixed header is fine");
  const ext = newIpv6Extensions();
  const err = walkIpv6Extensions(p, ip, ext);
  return {
    err,
    protocol: ext.protocol,
    offset: ext.offset,
    code: ext.icmpCode,
    pointer: ext.icmpPointer,
    ext,
  };
}

function expectWalk(p: Uint8Array, want: Partial<Walked>, why: string): void {
  const got = walk(p);
  const picked: Partial<Walked> = {};
  for (const k of Object.keys(want) as (keyof Walked)[]) picked[k] = got[k];
  assert.deepEqual(picked, want, why);
}

// --- The fixed header ------------------------------------------------------------------------

Deno.test("ipv6: captured Linux packets parse to tshark's field values", () => {
  const ip = newIpv6Header();
  assert(V6_PACKETS.length >= 40);
  for (const p of V6_PACKETS) {
    const bytes = fromHex(p.hex);
    assert.equal(parseIpv6(bytes, bytes.length, ip), Ipv6ParseError.None, p.name);
    assert.deepEqual(
      [ip.version, ip.trafficClass, ip.flowLabel, ip.payloadLength, ip.nextHeader, ip.hopLimit],
      [
        6,
        fact(p, "ipv6.tclass"),
        fact(p, "ipv6.flow"),
        fact(p, "ipv6.plen"),
        fact(p, "ipv6.nxt"),
        fact(p, "ipv6.hlim"),
      ],
      p.name,
    );
    assert.equal(formatIpv6Address(ip.src), factText(p, "ipv6.src"), p.name);
    assert.equal(formatIpv6Address(ip.dst), factText(p, "ipv6.dst"), p.name);
  }
});

Deno.test("ipv6: emitIpv6 rebuilds a captured fixed header byte for byte", () => {
  const ip = newIpv6Header();
  const out = new Uint8Array(40);
  for (const name of ["tcp6Syn", "echo6Reply7", "icmp6PacketTooBig", "mldv2Report"]) {
    const p = captured(name);
    assert.equal(parseIpv6(p.bytes, p.bytes.length, ip), Ipv6ParseError.None);
    assert.equal(
      emitIpv6(out, {
        src: ip.src,
        dst: ip.dst,
        nextHeader: ip.nextHeader,
        hopLimit: ip.hopLimit,
        payloadLength: ip.payloadLength,
        trafficClass: ip.trafficClass,
        flowLabel: ip.flowLabel,
      }),
      40,
    );
    assert.equal(toHex(out), toHex(p.bytes.subarray(0, 40)), name);
  }
});

Deno.test("ipv6: emit and parse round-trip every field", () => {
  const rand = seededRandom(0x1b6);
  const ip = newIpv6Header();
  const buf = new Uint8Array(40 + 100);
  for (let i = 0; i < 500; i++) {
    const src = { w0: rand() & 0xfeffffff, w1: rand(), w2: rand(), w3: rand() }; // never multicast
    const dst = { w0: rand(), w1: rand(), w2: rand(), w3: rand() };
    const f = {
      src,
      dst,
      nextHeader: 1 + (rand() % 255),
      hopLimit: rand() & 0xff,
      payloadLength: 1 + (rand() % 100),
      trafficClass: rand() & 0xff,
      flowLabel: rand() & 0xfffff,
    };
    emitIpv6(buf, f);
    assert.equal(parseIpv6(buf, buf.length, ip), Ipv6ParseError.None);
    assert.deepEqual(
      [ip.nextHeader, ip.hopLimit, ip.payloadLength, ip.trafficClass, ip.flowLabel],
      [f.nextHeader, f.hopLimit, f.payloadLength, f.trafficClass, f.flowLabel],
    );
    assert.deepEqual([ip.src, ip.dst], [
      { w0: src.w0 >>> 0, w1: src.w1, w2: src.w2, w3: src.w3 },
      dst,
    ]);
  }
});

Deno.test("ipv6: malformed fixed headers are rejected with their reason", async (t) => {
  const ip = newIpv6Header();
  const syn = captured("tcp6Syn").bytes;
  await t.step("fewer than 40 bytes is TooShort", () => {
    assert.equal(parseIpv6(syn.subarray(0, 39), 39, ip), Ipv6ParseError.TooShort);
    assert.equal(parseIpv6(syn, 39, ip), Ipv6ParseError.TooShort, "length beats the buffer");
    assert.equal(parseIpv6(new Uint8Array(0), 100, ip), Ipv6ParseError.TooShort);
  });
  await t.step("a version other than 6 is BadVersion", () => {
    for (const v of [0, 4, 5, 7, 15]) {
      const b = syn.slice();
      b[0] = (v << 4) | (b[0] & 0x0f);
      assert.equal(parseIpv6(b, b.length, ip), Ipv6ParseError.BadVersion, `version ${v}`);
    }
  });
  await t.step("a payload length past the bytes read is BadPayloadLength", () => {
    assert.equal(parseIpv6(syn, syn.length - 1, ip), Ipv6ParseError.BadPayloadLength);
    const b = syn.slice();
    b[5]++;
    assert.equal(parseIpv6(b, b.length, ip), Ipv6ParseError.BadPayloadLength);
    b[4] = 0xff;
    assert.equal(parseIpv6(b, b.length, ip), Ipv6ParseError.BadPayloadLength);
  });
  await t.step("link padding after the payload is accepted", () => {
    const b = new Uint8Array(syn.length + 6);
    b.set(syn);
    assert.equal(parseIpv6(b, b.length, ip), Ipv6ParseError.None);
    assert.equal(ip.payloadLength, syn.length - 40);
  });
  await t.step("payload length 0 with a Hop-by-Hop header is a jumbogram", () => {
    const b = packet(IPPROTO_HOPOPTS, opts(IPPROTO_TCP, [0xc2, 4, 0, 1, 0, 0]).concat(TCP20));
    b[4] = 0;
    b[5] = 0;
    assert.equal(parseIpv6(b, b.length, ip), Ipv6ParseError.Jumbogram);
  });
  await t.step("payload length 0 otherwise is an empty payload", () => {
    const b = packet(IPPROTO_NONE, []);
    assert.equal(parseIpv6(b, b.length, ip), Ipv6ParseError.None);
    assert.equal(ip.payloadLength, 0);
  });
  await t.step("a multicast source is MulticastSource", () => {
    const b = packet(IPPROTO_TCP, TCP20, ALL_NODES, B);
    assert.equal(parseIpv6(b, b.length, ip), Ipv6ParseError.MulticastSource);
    // A multicast destination is the caller's to judge.
    const c = packet(IPPROTO_TCP, TCP20, A, ALL_NODES);
    assert.equal(parseIpv6(c, c.length, ip), Ipv6ParseError.None);
  });
});

// --- Pseudo-header ---------------------------------------------------------------------------

Deno.test("ipv6: the pseudo-header sum verifies every captured TCP and ICMPv6 checksum", () => {
  const ip = newIpv6Header();
  let checked = 0;
  for (const p of V6_PACKETS) {
    const bytes = fromHex(p.hex);
    parseIpv6(bytes, bytes.length, ip);
    // Only whole upper-layer packets right after the fixed header (no fragments, and no
    // Routing header, whose final destination would enter the sum, RFC 8200 §8.1).
    if (ip.nextHeader !== IPPROTO_TCP && ip.nextHeader !== IPPROTO_ICMPV6) continue;
    const upper = bytes.subarray(40, 40 + ip.payloadLength);
    const acc = ipv6PseudoHeaderSum(ip.src, ip.dst, ip.nextHeader, upper.length);
    assert.equal(checksumFinish(checksumAdd(acc, upper, 0, upper.length)), 0, p.name);
    // The address part alone, plus length and Next Header, gives the same.
    const acc2 = ipv6PacketAddressSum(bytes) + upper.length + ip.nextHeader;
    assert.equal(checksumFinish(checksumAdd(acc2, upper, 0, upper.length)), 0, p.name);
    checked++;
  }
  assert(checked >= 25, `only ${checked} checked`);
});

Deno.test("ipv6: address sums are symmetric and read the header in place", () => {
  const rand = seededRandom(7);
  const p = new Uint8Array(48);
  for (let i = 0; i < 200; i++) {
    const s = { w0: rand(), w1: rand(), w2: rand(), w3: rand() };
    const d = { w0: rand(), w1: rand(), w2: rand(), w3: rand() };
    assert.equal(ipv6AddressSum(s, d), ipv6AddressSum(d, s));
    emitIpv6(p.subarray(8), { src: s, dst: d, nextHeader: 6, hopLimit: 1, payloadLength: 0 });
    assert.equal(ipv6PacketAddressSum(p, 8), ipv6AddressSum(s, d));
    assert(ipv6AddressSum(s, d) <= 0xffff);
  }
});

Deno.test("ipv6: the pseudo-header carries a 32-bit upper-layer length", () => {
  // RFC 8200 §8.1: Upper-Layer Packet Length is 32 bits; its high half adds to the sum.
  const pseudo = new Uint8Array(40);
  const s = parseIpv6Address("2001:db8::1")!;
  const d = parseIpv6Address("2001:db8::2")!;
  emitIpv6(pseudo, { src: s, dst: d, nextHeader: 0, hopLimit: 0, payloadLength: 0 });
  // Lay out the RFC's pseudo-header: src, dst, length (32), zero (24), next header (8).
  const layout = new Uint8Array(40);
  layout.set(pseudo.subarray(8, 40), 0);
  const length = 0x12345;
  layout.set([0, 1, 0x23, 0x45, 0, 0, 0, 17], 32);
  assert.equal(ipv6PseudoHeaderSum(s, d, 17, length), checksumAdd(0, layout, 0, 40));
});

// --- Extension headers: what Linux did with the same packets ---------------------------------

Deno.test("ipv6: the walk agrees with Linux on every captured packet", () => {
  // [packet, error, protocol, offset, ICMP code, pointer, the Linux reply quoting it]
  const table: [string, Ipv6ExtError, number, number, number, number, string?][] = [
    ["echo6Request7", Ipv6ExtError.None, 58, 40, -1, 0],
    ["tcp6Syn", Ipv6ExtError.None, 6, 40, -1, 0],
    ["dstOptSkip", Ipv6ExtError.None, 58, 48, -1, 0],
    ["dstOptDiscard", Ipv6ExtError.UnrecognizedOption, 60, 40, -1, 0],
    ["dstOptAction10", Ipv6ExtError.UnrecognizedOption, 60, 40, 2, 42, "dstOptAction10Problem"],
    ["dstOptAction11", Ipv6ExtError.UnrecognizedOption, 60, 40, 2, 42, "dstOptAction11Problem"],
    ["dstOptPadding", Ipv6ExtError.None, 58, 48, -1, 0],
    ["hbhAction10", Ipv6ExtError.UnrecognizedOption, 0, 40, 2, 42, "hbhAction10Problem"],
    ["routing0", Ipv6ExtError.SegmentsLeft, 43, 40, 0, 42, "routing0Problem"],
    ["routing0Done", Ipv6ExtError.None, 58, 64, -1, 0],
    ["hbhNotFirst", Ipv6ExtError.HopByHopNotFirst, 0, 48, 1, 40, "hbhNotFirstProblem"],
    ["atomicFragment", Ipv6ExtError.None, 58, 48, -1, 0],
    ["fragBadLength", Ipv6ExtError.FragmentLength, 44, 40, 0, 4, "fragBadLengthProblem"],
    [
      "fragIncompleteChain",
      Ipv6ExtError.IncompleteChain,
      58,
      56,
      3,
      0,
      "fragIncompleteChainProblem",
    ],
    ["frag6First", Ipv6ExtError.None, 58, 48, -1, 0],
    ["frag6Last", Ipv6ExtError.None, 58, 48, -1, 0],
    ["mldv2Report", Ipv6ExtError.None, 58, 48, -1, 0],
    ["ndDadSolicitation", Ipv6ExtError.None, 58, 40, -1, 0],
  ];
  for (const [name, err, protocol, offset, code, pointer, reply] of table) {
    const p = captured(name);
    expectWalk(p.bytes, { err, protocol, offset, code, pointer }, name);
    if (reply !== undefined) {
      // Linux answered the same packet: same code, same pointer.
      const r = captured(reply);
      assert.deepEqual(
        [fact(r, "icmpv6.type"), fact(r, "icmpv6.code"), fact(r, "icmpv6.pointer")],
        [
          4,
          code,
          pointer,
        ],
        reply,
      );
      // And the reply quotes this packet (as it arrived: B saw it after R's hop).
      const quoted = r.bytes.slice(48, 48 + p.bytes.length);
      assert(quoted[7] === p.bytes[7] || quoted[7] === p.bytes[7] - 1, reply);
      quoted[7] = p.bytes[7];
      assert.equal(toHex(quoted), toHex(p.bytes), reply);
    }
  }
  // The unknown Next Header: delivered to the caller, who answers code 1 at nextHeaderOffset.
  const unknown = walk(captured("unknownNextHeader").bytes);
  assert.equal(unknown.err, Ipv6ExtError.None);
  assert.equal(unknown.protocol, 253);
  assert.equal(
    unknown.ext.nextHeaderOffset,
    fact(captured("unknownNextHeaderProblem"), "icmpv6.pointer"),
  );
});

Deno.test("ipv6: captured fragments expose tshark's fragment fields", () => {
  for (const name of ["frag6First", "frag6Last", "atomicFragment", "fragBadLength"]) {
    const p = captured(name);
    const { ext } = walk(p.bytes);
    assert.equal(ext.fragmentHeaderOffset, 40, name);
    assert.equal(ext.fragmentLinkOffset, 6, name);
    assert.equal(ext.fragmentNextHeader, fact(p, "ipv6.fraghdr.nxt"), name);
    assert.equal(ext.fragmentOffset, 8 * fact(p, "ipv6.fraghdr.offset"), name);
    assert.equal(ext.moreFragments, fact(p, "ipv6.fraghdr.more") === 1, name);
    assert.equal(ext.fragmentId, fact(p, "ipv6.fraghdr.ident"), name);
  }
  assert.equal(walk(captured("frag6First").bytes).ext.fragment, true);
  assert.equal(walk(captured("frag6Last").bytes).ext.fragment, true);
  assert.equal(walk(captured("atomicFragment").bytes).ext.fragment, false, "RFC 6946");
  // The two fragments reassemble into the echo request: first's data, then the last's.
  const first = captured("frag6First").bytes;
  const last = captured("frag6Last").bytes;
  const data = new Uint8Array(first.length - 48 + last.length - 48);
  data.set(first.subarray(48));
  data.set(last.subarray(48), walk(last).ext.fragmentOffset);
  const s = ipv6PacketAddressSum(first) + data.length + IPPROTO_ICMPV6;
  assert.equal(checksumFinish(checksumAdd(s, data, 0, data.length)), 0);
});

// --- Extension headers: rule by rule ---------------------------------------------------------

Deno.test("ipv6: RFC 8200 §4 the walk follows a long legal chain to the upper layer", () => {
  const rest = [
    ...opts(IPPROTO_DSTOPTS, [5, 2, 0, 0]), // HBH with Router Alert, then DO
    ...opts(IPPROTO_ROUTING, [0, 0, 0, 1, 3, 0, 0, 0]), // DO: Pad1 ×3, PadN(3)
    ...routing(IPPROTO_FRAGMENT, 4, 0), // SRH, Segments Left 0: ignored
    ...frag(IPPROTO_DSTOPTS, 0, false), // atomic
    ...opts(IPPROTO_TCP, [0x1e, 3, 1, 2, 3]), // unknown action-00 option: skipped
    ...TCP20,
  ];
  const p = packet(IPPROTO_HOPOPTS, rest);
  const w = walk(p);
  assert.equal(w.err, Ipv6ExtError.None);
  assert.equal(w.protocol, IPPROTO_TCP);
  assert.equal(w.offset, p.length - 20);
  assert.equal(w.ext.nextHeaderOffset, p.length - 20 - 8);
  assert.equal(w.ext.headerCount, 5);
  assert.equal(w.ext.end, p.length);
  assert.equal(w.ext.fragment, false);
  assert.equal(w.ext.fragmentHeaderOffset, 40 + 8 + 16 + 24);
});

Deno.test("ipv6: RFC 8200 §4.1 Hop-by-Hop only right after the fixed header", () => {
  const p = packet(IPPROTO_DSTOPTS, [
    ...opts(IPPROTO_HOPOPTS, []),
    ...opts(IPPROTO_TCP, []),
    ...TCP20,
  ]);
  expectWalk(
    p,
    { err: Ipv6ExtError.HopByHopNotFirst, code: ICMPV6_PARAM_NEXT_HEADER, pointer: 40 },
    "after DO",
  );
  const q = packet(IPPROTO_HOPOPTS, [
    ...opts(IPPROTO_HOPOPTS, []),
    ...opts(IPPROTO_TCP, []),
    ...TCP20,
  ]);
  expectWalk(
    q,
    { err: Ipv6ExtError.HopByHopNotFirst, code: ICMPV6_PARAM_NEXT_HEADER, pointer: 40 },
    "twice",
  );
});

Deno.test("ipv6: RFC 8200 §4.2 unrecognized options by their action bits", async (t) => {
  const cases: [number, Ipv6ExtError, number, number][] = [
    // [option type, error, ICMP code to a unicast destination, to a multicast destination]
    [0x1e, Ipv6ExtError.None, -1, -1],
    [0x3f, Ipv6ExtError.None, -1, -1], // 00 with the "may change" bit
    [0x5e, Ipv6ExtError.UnrecognizedOption, -1, -1],
    [0x9e, Ipv6ExtError.UnrecognizedOption, ICMPV6_PARAM_OPTION, ICMPV6_PARAM_OPTION],
    [0xde, Ipv6ExtError.UnrecognizedOption, ICMPV6_PARAM_OPTION, -1],
    [0xc2, Ipv6ExtError.UnrecognizedOption, ICMPV6_PARAM_OPTION, -1], // Jumbo Payload: unsupported
    [0xc9, Ipv6ExtError.UnrecognizedOption, ICMPV6_PARAM_OPTION, -1], // Home Address (RFC 6275)
  ];
  for (const header of [IPPROTO_HOPOPTS, IPPROTO_DSTOPTS]) {
    await t.step(
      `in a ${header === IPPROTO_HOPOPTS ? "Hop-by-Hop" : "Destination Options"} header`,
      () => {
        for (const [type, err, unicastCode, multicastCode] of cases) {
          // The unknown option after a PadN, so the pointer is not the first option byte.
          const rest = [...opts(IPPROTO_TCP, [1, 0, type, 2, 0, 0]), ...TCP20];
          const pointer = unicastCode >= 0 ? 44 : 0;
          expectWalk(
            packet(header, rest),
            { err, code: unicastCode, pointer },
            `0x${type.toString(16)}`,
          );
          const mp = multicastCode >= 0 ? 44 : 0;
          expectWalk(
            packet(header, rest, A, ALL_NODES),
            { err, code: multicastCode, pointer: mp },
            `0x${type.toString(16)} to ff02::1`,
          );
          // RFC 4443 §2.4(e.6): never an error to the unspecified address.
          expectWalk(
            packet(header, rest, parseIpv6Address("::")!, B),
            { err, code: -1 },
            `0x${type.toString(16)} from ::`,
          );
        }
      },
    );
  }
  await t.step("Pad1, PadN, Router Alert and Tunnel Encapsulation Limit are understood", () => {
    const rest = [...opts(IPPROTO_TCP, [0, 1, 0, 5, 2, 0, 0, 4, 1, 4, 0, 1, 3, 0, 0, 0]), ...TCP20];
    expectWalk(packet(IPPROTO_DSTOPTS, rest), {
      err: Ipv6ExtError.None,
      protocol: IPPROTO_TCP,
      offset: 64,
    }, "known");
  });
  await t.step("an option that runs past its header is BadOption, pointing at its length", () => {
    // DO header of 8 bytes: next, len, PadN(0), then type 0x1e with length 3 but 2 bytes left.
    const rest = [IPPROTO_TCP, 0, 1, 0, 0x1e, 3, 0, 0, ...TCP20];
    expectWalk(packet(IPPROTO_DSTOPTS, rest), {
      err: Ipv6ExtError.BadOption,
      code: ICMPV6_PARAM_HEADER_FIELD,
      pointer: 45,
    }, "overrun");
    // A type byte as the header's last byte, with no room for its length: point at the type.
    const last = [IPPROTO_TCP, 0, 1, 2, 0, 0, 0, 0x1e, ...TCP20];
    expectWalk(packet(IPPROTO_DSTOPTS, last), {
      err: Ipv6ExtError.BadOption,
      code: ICMPV6_PARAM_HEADER_FIELD,
      pointer: 47,
    }, "no length");
    // A Pad1 as the last byte is fine.
    const pad1 = [IPPROTO_TCP, 0, 1, 3, 0, 0, 0, 0, ...TCP20];
    expectWalk(packet(IPPROTO_DSTOPTS, pad1), { err: Ipv6ExtError.None, offset: 48 }, "pad1 last");
  });
});

Deno.test("ipv6: RFC 8200 §4.4 Routing headers", () => {
  for (const type of [0, 2, 3, 4, 253]) {
    const ok = packet(IPPROTO_ROUTING, [...routing(IPPROTO_TCP, type, 0, 2), ...TCP20]);
    expectWalk(
      ok,
      { err: Ipv6ExtError.None, protocol: IPPROTO_TCP, offset: 80 },
      `type ${type}, SL 0`,
    );
    const left = packet(IPPROTO_ROUTING, [...routing(IPPROTO_TCP, type, 1, 2), ...TCP20]);
    expectWalk(left, {
      err: Ipv6ExtError.SegmentsLeft,
      code: ICMPV6_PARAM_HEADER_FIELD,
      pointer: 42,
    }, `type ${type}, SL 1`);
  }
  // Behind another header, the pointer follows it.
  const deeper = packet(IPPROTO_DSTOPTS, [
    ...opts(IPPROTO_ROUTING, []),
    ...routing(IPPROTO_TCP, 0, 2),
    ...TCP20,
  ]);
  expectWalk(deeper, { err: Ipv6ExtError.SegmentsLeft, pointer: 50 }, "after DO");
});

Deno.test("ipv6: RFC 8200 §4.5 fragments", async (t) => {
  await t.step("a later fragment stops the walk at its data", () => {
    const p = packet(IPPROTO_DSTOPTS, [
      ...opts(IPPROTO_FRAGMENT, []),
      ...frag(IPPROTO_TCP, 1232, true, 77),
      ...new Array(16).fill(9),
    ]);
    const w = walk(p);
    assert.equal(w.err, Ipv6ExtError.None);
    assert.deepEqual(
      [
        w.protocol,
        w.offset,
        w.ext.nextHeaderOffset,
        w.ext.fragment,
        w.ext.fragmentHeaderOffset,
        w.ext.fragmentLinkOffset,
      ],
      [IPPROTO_TCP, 56, 48, true, 48, 40],
    );
    assert.deepEqual([
      w.ext.fragmentOffset,
      w.ext.moreFragments,
      w.ext.fragmentId,
      w.ext.fragmentNextHeader,
    ], [1232, true, 77, IPPROTO_TCP]);
  });
  await t.step("the last fragment may have any length", () => {
    const p = packet(IPPROTO_FRAGMENT, [...frag(IPPROTO_TCP, 8, false), 1, 2, 3]);
    expectWalk(p, { err: Ipv6ExtError.None, protocol: IPPROTO_TCP, offset: 48 }, "last");
  });
  await t.step(
    "a non-final fragment must be a multiple of 8 bytes (pointer: Payload Length)",
    () => {
      const p = packet(IPPROTO_FRAGMENT, [...frag(IPPROTO_TCP, 8, true), ...new Array(12).fill(0)]);
      expectWalk(p, {
        err: Ipv6ExtError.FragmentLength,
        code: ICMPV6_PARAM_HEADER_FIELD,
        pointer: 4,
      }, "12 bytes");
    },
  );
  await t.step("offset plus length past 65535 (pointer: Fragment Offset)", () => {
    const p = packet(IPPROTO_FRAGMENT, [
      ...frag(IPPROTO_TCP, 65528, false),
      ...new Array(8).fill(0),
    ]);
    expectWalk(p, {
      err: Ipv6ExtError.FragmentTooFar,
      code: ICMPV6_PARAM_HEADER_FIELD,
      pointer: 42,
    }, "65536");
    const edge = packet(IPPROTO_FRAGMENT, [
      ...frag(IPPROTO_TCP, 65528, false),
      ...new Array(7).fill(0),
    ]);
    expectWalk(edge, { err: Ipv6ExtError.None }, "65535 exactly");
    // The unfragmentable headers count too: 8 bytes of Destination Options before it.
    const behind = (last: number) =>
      packet(IPPROTO_DSTOPTS, [
        ...opts(IPPROTO_FRAGMENT, []),
        ...frag(IPPROTO_TCP, 65520, false),
        ...new Array(last).fill(0),
      ]);
    expectWalk(behind(8), { err: Ipv6ExtError.FragmentTooFar, pointer: 50 }, "8 + 65520 + 8");
    expectWalk(behind(7), { err: Ipv6ExtError.None }, "8 + 65520 + 7");
  });
  await t.step("RFC 7112: a first fragment holds the whole header chain", () => {
    const short = packet(IPPROTO_FRAGMENT, [
      ...frag(IPPROTO_TCP, 0, true),
      ...new Array(16).fill(0),
    ]);
    expectWalk(short, {
      err: Ipv6ExtError.IncompleteChain,
      code: ICMPV6_PARAM_INCOMPLETE_CHAIN,
      pointer: 0,
    }, "16 TCP bytes");
    const whole = packet(IPPROTO_FRAGMENT, [
      ...frag(IPPROTO_TCP, 0, true),
      ...new Array(24).fill(0),
    ]);
    const w = walk(whole);
    assert.deepEqual([w.err, w.protocol, w.offset, w.ext.fragment], [
      Ipv6ExtError.None,
      IPPROTO_TCP,
      48,
      true,
    ]);
    const cut = packet(IPPROTO_FRAGMENT, [
      ...frag(IPPROTO_DSTOPTS, 0, true),
      IPPROTO_TCP,
      1,
      0,
      0,
      0,
      0,
      0,
      0,
    ]);
    expectWalk(
      cut,
      { err: Ipv6ExtError.IncompleteChain, code: ICMPV6_PARAM_INCOMPLETE_CHAIN },
      "DO cut",
    );
    const udp = packet(IPPROTO_FRAGMENT, [...frag(17, 0, true), ...new Array(8).fill(0)]);
    expectWalk(udp, { err: Ipv6ExtError.None, protocol: 17 }, "UDP needs 8");
  });
  await t.step("a second Fragment header is refused", () => {
    const p = packet(IPPROTO_FRAGMENT, [
      ...frag(IPPROTO_FRAGMENT, 0, false),
      ...frag(IPPROTO_TCP, 0, false),
      ...TCP20,
    ]);
    expectWalk(p, { err: Ipv6ExtError.RepeatedFragment, code: -1 }, "two");
  });
  await t.step("a Fragment header cut short is Truncated, silently", () => {
    const p = packet(IPPROTO_FRAGMENT, [IPPROTO_TCP, 0, 0, 0]);
    expectWalk(p, { err: Ipv6ExtError.Truncated, code: -1 }, "4 bytes");
  });
});

Deno.test("ipv6: RFC 8200 §4.7 No Next Header, IPsec, unknown upper layers", () => {
  expectWalk(packet(IPPROTO_NONE, [1, 2, 3]), { err: Ipv6ExtError.NoNextHeader, code: -1 }, "59");
  expectWalk(packet(IPPROTO_DSTOPTS, [...opts(IPPROTO_NONE, [])]), {
    err: Ipv6ExtError.NoNextHeader,
  }, "DO then 59");
  expectWalk(
    packet(IPPROTO_ESP, new Array(16).fill(0)),
    { err: Ipv6ExtError.Ipsec, code: -1 },
    "ESP",
  );
  expectWalk(
    packet(IPPROTO_AH, new Array(16).fill(0)),
    { err: Ipv6ExtError.Ipsec, code: -1 },
    "AH",
  );
  for (const proto of [17, 135, 139, 253, 255]) {
    const p = packet(IPPROTO_DSTOPTS, [...opts(proto, []), 0]);
    const w = walk(p);
    assert.deepEqual([w.err, w.protocol, w.offset, w.ext.nextHeaderOffset], [
      Ipv6ExtError.None,
      proto,
      48,
      40,
    ], `${proto}`);
  }
});

Deno.test("ipv6: lies in lengths are caught inside the payload", () => {
  // Hdr Ext Len claims 16 bytes where the payload has 8 (and the buffer has padding after it).
  const p = packet(IPPROTO_DSTOPTS, [IPPROTO_TCP, 1, 1, 4, 0, 0, 0, 0], A, B, 64);
  expectWalk(
    p,
    { err: Ipv6ExtError.Truncated, code: ICMPV6_PARAM_HEADER_FIELD, pointer: 41 },
    "len past end",
  );
  // Next Header names an extension header but the payload ends: nothing to point at.
  expectWalk(
    packet(IPPROTO_DSTOPTS, [], A, B, 64),
    { err: Ipv6ExtError.Truncated, code: -1 },
    "no header at all",
  );
  expectWalk(packet(IPPROTO_ROUTING, [IPPROTO_TCP], A, B, 64), {
    err: Ipv6ExtError.Truncated,
    code: -1,
  }, "1 byte");
});

Deno.test("ipv6: RFC 8883 bounds on the chain", async (t) => {
  await t.step(`at most ${IPV6_MAX_EXTENSION_HEADERS} extension headers`, () => {
    const chain = (n: number) => {
      const rest: number[] = [];
      for (let i = 0; i < n; i++) {
        rest.push(...opts(i === n - 1 ? IPPROTO_TCP : IPPROTO_DSTOPTS, []));
      }
      return packet(IPPROTO_DSTOPTS, [...rest, ...TCP20]);
    };
    expectWalk(
      chain(IPV6_MAX_EXTENSION_HEADERS),
      { err: Ipv6ExtError.None, protocol: IPPROTO_TCP },
      "8",
    );
    expectWalk(chain(IPV6_MAX_EXTENSION_HEADERS + 1), {
      err: Ipv6ExtError.TooManyHeaders,
      code: ICMPV6_PARAM_TOO_MANY_HEADERS,
      pointer: 40 + 8 * IPV6_MAX_EXTENSION_HEADERS,
    }, "9");
    // A "loop": the same Routing header (Segments Left 0) repeated is just more headers.
    const rest: number[] = [];
    for (let i = 0; i < 200; i++) rest.push(...routing(IPPROTO_ROUTING, 0, 0));
    expectWalk(
      packet(IPPROTO_ROUTING, rest),
      { err: Ipv6ExtError.TooManyHeaders },
      "200 routing headers",
    );
  });
  await t.step(`at most ${IPV6_MAX_EXTENSION_BYTES} bytes of them`, () => {
    const big = (units: number, next: number) => {
      const h = new Array(8 * (units + 1)).fill(0);
      h[0] = next;
      h[1] = units;
      h[2] = 1; // PadN over the rest
      h[3] = 8 * (units + 1) - 4;
      return h;
    };
    // 512 + 512 = 1024 bytes: fine.
    const ok = packet(IPPROTO_DSTOPTS, [
      ...big(63, IPPROTO_DSTOPTS),
      ...big(63, IPPROTO_TCP),
      ...TCP20,
    ]);
    expectWalk(ok, { err: Ipv6ExtError.None, protocol: IPPROTO_TCP, offset: 40 + 1024 }, "1024");
    // One header of 2048 bytes: too long, pointing at it.
    const one = packet(IPPROTO_DSTOPTS, [...big(255, IPPROTO_TCP), ...TCP20]);
    expectWalk(one, {
      err: Ipv6ExtError.ChainTooLong,
      code: ICMPV6_PARAM_CHAIN_TOO_LONG,
      pointer: 40,
    }, "2048");
    const more = packet(IPPROTO_DSTOPTS, [
      ...big(63, IPPROTO_DSTOPTS),
      ...big(63, IPPROTO_DSTOPTS),
      ...opts(IPPROTO_TCP, []),
      ...TCP20,
    ]);
    expectWalk(more, { err: Ipv6ExtError.ChainTooLong, pointer: 40 + 1024 }, "1032");
  });
});

Deno.test("ipv6: RFC 4443 §2.4(e) who may get an ICMPv6 error", () => {
  const uni = parseIpv6Address("2001:db8::1")!;
  assert(ipv6ErrorAllowed(uni, B, false));
  assert(!ipv6ErrorAllowed(uni, ALL_NODES, false));
  assert(ipv6ErrorAllowed(uni, ALL_NODES, true));
  assert(!ipv6ErrorAllowed(parseIpv6Address("::")!, B, true));
  assert(!ipv6ErrorAllowed(ALL_NODES, B, true));
  // The walk applies it: code 0 (Routing) to a multicast destination is suppressed.
  const p = packet(IPPROTO_ROUTING, [...routing(IPPROTO_TCP, 0, 1), ...TCP20], A, ALL_NODES);
  expectWalk(p, { err: Ipv6ExtError.SegmentsLeft, code: -1, pointer: 0 }, "to ff02::1");
});

Deno.test("ipv6: random chains never make the walk throw or point outside the packet", () => {
  const rand = seededRandom(0x6e6e);
  const ip = newIpv6Header();
  const ext = newIpv6Extensions();
  const kinds = [
    IPPROTO_HOPOPTS,
    IPPROTO_DSTOPTS,
    IPPROTO_ROUTING,
    IPPROTO_FRAGMENT,
    IPPROTO_TCP,
    IPPROTO_NONE,
    IPPROTO_AH,
  ];
  const buf = new Uint8Array(40 + 600);
  const seen = new Set<number>();
  for (let iter = 0; iter < 20000; iter++) {
    const length = 40 + (rand() % 560);
    // Random bytes, with the Next Header / length fields steered towards extension headers.
    for (let i = 0; i < length; i++) buf[i] = rand() & 0xff;
    emitIpv6(buf, {
      src: A,
      dst: rand() % 4 === 0 ? ALL_NODES : B,
      nextHeader: kinds[rand() % kinds.length],
      hopLimit: 1,
      payloadLength: length - 40 - (rand() % 8),
    });
    for (let at = 40; at < length; at += 8) {
      if (rand() % 2 === 0) buf[at] = kinds[rand() % kinds.length];
      if (rand() % 2 === 0) buf[at + 1] = rand() % 4;
    }
    if (parseIpv6(buf, length, ip) !== Ipv6ParseError.None) continue;
    const err = walkIpv6Extensions(buf, ip, ext);
    seen.add(err);
    assert(EXT_CODES.has(err), `unknown code ${err}`);
    assert.equal(ext.end, 40 + ip.payloadLength);
    if (err === Ipv6ExtError.None) assert(ext.offset <= ext.end, "upper layer within the packet");
    if (ext.icmpCode >= 0) {
      assert(err !== Ipv6ExtError.None);
      assert(
        ext.icmpPointer >= 0 && ext.icmpPointer < Math.max(ext.end, 41),
        `pointer ${ext.icmpPointer}`,
      );
    }
  }
  assert(seen.size >= 8, `only ${seen.size} outcomes reached`);
});
