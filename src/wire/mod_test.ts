import assert from "node:assert/strict";
import {
  IcmpParseError,
  Icmpv6Category,
  Icmpv6ParseError,
  Icmpv6QuoteError,
  IPPROTO_ICMP,
  IPPROTO_ICMPV6,
  IPPROTO_TCP,
  Ipv4ParseError,
  Ipv6ExtError,
  ipv6PacketAddressSum,
  Ipv6ParseError,
  newIcmpMessage,
  newIcmpv6Message,
  newIcmpv6Quote,
  newIpv4Header,
  newIpv6Extensions,
  newIpv6Header,
  newTcpSegment,
  parseIcmp,
  parseIcmpv6,
  parseIcmpv6Quote,
  parseIpv4,
  parseIpv6,
  parseTcp,
  parseTcpWithAddressSum,
  TcpParseError,
  walkIpv6Extensions,
} from "./mod.ts";
import { LINUX_IP_PACKETS } from "../../tests/vectors/linux_ip_packets.ts";
import { LINUX_PACKETS } from "../../tests/vectors/linux_packets.ts";
import { fromHex, seededRandom } from "../../tests/vectors/util.ts";

const IPV4_CODES = new Set(Object.values(Ipv4ParseError).filter((v) => typeof v === "number"));
const TCP_CODES = new Set(Object.values(TcpParseError).filter((v) => typeof v === "number"));
const ICMP_CODES = new Set(Object.values(IcmpParseError).filter((v) => typeof v === "number"));

Deno.test("wire: random mutations of captured packets never make a parser throw", () => {
  const rand = seededRandom(0x7c97);
  const vectors = LINUX_PACKETS.map((p) => fromHex(p.hex));
  const ip = newIpv4Header();
  const seg = newTcpSegment();
  const icmp = newIcmpMessage();
  const buf = new Uint8Array(2048);
  const counts = { ipOk: 0, tcpOk: 0, tcpNoChecksumOk: 0, icmpOk: 0, rejected: 0 };
  for (let iter = 0; iter < 5000; iter++) {
    const base = vectors[rand() % vectors.length];
    buf.set(base);
    let length = base.length;
    const mutations = 1 + (rand() % 4);
    for (let m = 0; m < mutations; m++) {
      switch (rand() % 5) {
        case 0: // flip one bit
          buf[rand() % length] ^= 1 << (rand() % 8);
          break;
        case 1: // overwrite a byte (biased towards headers and options)
          buf[rand() % Math.min(length, 64)] = rand() & 0xff;
          break;
        case 2: // truncate
          length = rand() % (length + 1);
          break;
        case 3: // extend with garbage
          length = Math.min(buf.length, length + (rand() % 64));
          break;
        default: // rewrite TCP data offset / option length bytes
          if (length > 33) buf[20 + 12 + (rand() % 2) * (rand() % 20)] = rand() & 0xff;
      }
    }
    if (length === 0) length = rand() % 4;
    const packet = buf.subarray(0, length);
    const ipErr = parseIpv4(packet, length, ip);
    assert.ok(IPV4_CODES.has(ipErr));
    // The TCP/ICMP part of the mutated packet, whether or not the IP header survived.
    const l4 = packet.subarray(Math.min(20, length));
    const tcpErr = parseTcp(l4, ip.src, ip.dst, seg, false);
    assert.ok(TCP_CODES.has(tcpErr));
    if (tcpErr === TcpParseError.None) {
      counts.tcpNoChecksumOk++;
      const o = seg.options;
      assert.ok(o.sackBlocks.length % 2 === 0 && o.sackBlocks.length <= 8);
      assert.ok(o.wscale <= 14 && o.mss <= 0xffff);
      assert.ok(seg.payload.length <= l4.length - 20);
    }
    assert.ok(TCP_CODES.has(parseTcp(l4, ip.src, ip.dst, seg)));
    assert.ok(ICMP_CODES.has(parseIcmp(l4, icmp)));
    if (ipErr !== Ipv4ParseError.None) {
      counts.rejected++;
      continue;
    }
    counts.ipOk++;
    const body = packet.subarray(ip.ihl, ip.totalLength);
    if (ip.protocol === IPPROTO_TCP && parseTcp(body, ip.src, ip.dst, seg) === 0) counts.tcpOk++;
    if (ip.protocol === IPPROTO_ICMP && parseIcmp(body, icmp) === 0) counts.icmpOk++;
  }
  // The mutations must exercise both sides of the parsers, or the loop proves little.
  assert.ok(counts.rejected > 1000, JSON.stringify(counts));
  assert.ok(counts.ipOk > 100, JSON.stringify(counts));
  assert.ok(counts.tcpNoChecksumOk > 500, JSON.stringify(counts));
  assert.ok(counts.tcpOk > 10, JSON.stringify(counts));
});

const codes = (e: object) => new Set(Object.values(e).filter((v) => typeof v === "number"));

Deno.test("wire: the IPv6 input path survives random mutations of captured packets", () => {
  // The path the stack runs: parseIpv6 → walkIpv6Extensions → TCP or ICMPv6 (→ its quote).
  const rand = seededRandom(0x6b6);
  const vectors = LINUX_IP_PACKETS.filter((p) => p.f["ipv6.plen"] !== undefined).map((p) =>
    fromHex(p.hex)
  );
  const ipCodes = codes(Ipv6ParseError);
  const extCodes = codes(Ipv6ExtError);
  const tcpCodes = codes(TcpParseError);
  const icmpCodes = codes(Icmpv6ParseError);
  const quoteCodes = codes(Icmpv6QuoteError);
  const ip = newIpv6Header();
  const ext = newIpv6Extensions();
  const seg = newTcpSegment();
  const msg = newIcmpv6Message();
  const quote = newIcmpv6Quote();
  const buf = new Uint8Array(2048);
  const counts = { ipOk: 0, walked: 0, dropped: 0, tcpOk: 0, icmpOk: 0, quoteOk: 0 };
  for (let iter = 0; iter < 5000; iter++) {
    const base = vectors[rand() % vectors.length];
    buf.set(base);
    let length = base.length;
    for (let m = 0; m < 1 + (rand() % 3); m++) {
      switch (rand() % 4) {
        case 0:
          buf[rand() % length] ^= 1 << (rand() % 8);
          break;
        case 1: // the fixed header's length and Next Header, or the first extension header
          buf[[4, 5, 6, 40, 41, 42, 43][rand() % 7]] = rand() & 0xff;
          break;
        case 2:
          length = rand() % (length + 1);
          break;
        default:
          length = Math.min(buf.length, length + (rand() % 64));
      }
    }
    const packet = buf.subarray(0, length);
    const ipErr = parseIpv6(packet, length, ip);
    assert.ok(ipCodes.has(ipErr));
    if (ipErr !== Ipv6ParseError.None) continue;
    counts.ipOk++;
    const extErr = walkIpv6Extensions(packet, ip, ext);
    assert.ok(extCodes.has(extErr));
    if (extErr !== Ipv6ExtError.None || ext.fragment) {
      counts.dropped++;
      continue;
    }
    counts.walked++;
    assert.ok(ext.offset <= ext.end && ext.end <= length);
    const upper = packet.subarray(ext.offset, ext.end);
    const sum = ipv6PacketAddressSum(packet);
    if (ext.protocol === IPPROTO_TCP) {
      const err = parseTcpWithAddressSum(upper, sum, seg);
      assert.ok(tcpCodes.has(err));
      if (err === TcpParseError.None) counts.tcpOk++;
    } else if (ext.protocol === IPPROTO_ICMPV6) {
      const err = parseIcmpv6(upper, sum, msg);
      assert.ok(icmpCodes.has(err));
      if (err !== Icmpv6ParseError.None) continue;
      counts.icmpOk++;
      if (msg.category === Icmpv6Category.Error) {
        const q = parseIcmpv6Quote(msg, quote);
        assert.ok(quoteCodes.has(q));
        if (q === Icmpv6QuoteError.None) counts.quoteOk++;
      }
    }
  }
  assert.ok(counts.ipOk > 1000 && counts.dropped > 200, JSON.stringify(counts));
  assert.ok(counts.tcpOk > 20 && counts.icmpOk > 50 && counts.quoteOk > 10, JSON.stringify(counts));
});
