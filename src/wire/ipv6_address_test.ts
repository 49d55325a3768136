import assert from "node:assert/strict";
import {
  classifyIpv6Address,
  cloneIpv6Address,
  copyIpv6Address,
  formatHostPort,
  formatIpv6Address,
  HostPortError,
  ipv4FromMapped,
  ipv4MappedAddress,
  IPV6_LOOPBACK,
  IPV6_UNSPECIFIED,
  ipv6Address,
  Ipv6AddressKind,
  Ipv6AddressMap,
  ipv6Equals,
  ipv6EqualsAt,
  ipv6Hash,
  isIpv6Multicast,
  isIpv6UnicastAddress,
  newHostPort,
  parseHostPort,
  parseIpv6Address,
  readIpv6Address,
  writeIpv6Address,
} from "./ipv6_address.ts";
import { IPV6_FORMAT_VECTORS, IPV6_PARSE_VECTORS } from "../../tests/vectors/ipv6_text.ts";
import { fromHex, seededRandom, toHex } from "../../tests/vectors/util.ts";

function bytesOf(a: ReturnType<typeof ipv6Address>): string {
  const b = new Uint8Array(16);
  writeIpv6Address(a, b, 0);
  return toHex(b);
}

function fromBytesHex(hex: string) {
  return readIpv6Address(fromHex(hex), 0, ipv6Address());
}

Deno.test("ipv6 address: words are the bytes in network order", () => {
  const b = fromHex("20010db8000000010002000300040005");
  const a = readIpv6Address(b, 0, ipv6Address());
  assert.deepEqual(a, { w0: 0x20010db8, w1: 1, w2: 0x00020003, w3: 0x00040005 });
  assert.equal(bytesOf(a), "20010db8000000010002000300040005");
  // At an offset, without touching the neighbours.
  const big = new Uint8Array(20).fill(0xee);
  writeIpv6Address(a, big, 2);
  assert.equal(toHex(big), "eeee20010db8000000010002000300040005eeee");
  assert(ipv6EqualsAt(a, big, 2));
  assert(!ipv6EqualsAt(a, big, 1));
  // High words stay unsigned.
  const ff = fromBytesHex("ffffffffffffffffffffffffffffffff");
  assert.deepEqual(ff, { w0: 0xffffffff, w1: 0xffffffff, w2: 0xffffffff, w3: 0xffffffff });
  assert.deepEqual(ipv6Address(-1, -2, 0, 1), { w0: 0xffffffff, w1: 0xfffffffe, w2: 0, w3: 1 });
});

Deno.test("ipv6 address: copy, clone, equality and the frozen constants", () => {
  const a = parseIpv6Address("fd00::1")!;
  const c = cloneIpv6Address(a);
  assert(c !== a && ipv6Equals(c, a));
  c.w3 = 2;
  assert(!ipv6Equals(c, a));
  assert.equal(copyIpv6Address(a, c), c);
  assert(ipv6Equals(c, a));
  assert(Object.isFrozen(IPV6_LOOPBACK) && Object.isFrozen(IPV6_UNSPECIFIED));
  assert.equal(formatIpv6Address(IPV6_LOOPBACK), "::1");
  assert.equal(formatIpv6Address(IPV6_UNSPECIFIED), "::");
  for (const k of ["w0", "w1", "w2", "w3"] as const) {
    const d = cloneIpv6Address(a);
    d[k] ^= 0x80000000;
    assert(!ipv6Equals(d, a), k);
  }
});

Deno.test("ipv6 address: formatting matches glibc inet_ntop (RFC 5952)", () => {
  for (const [hex, text] of IPV6_FORMAT_VECTORS) {
    assert.equal(formatIpv6Address(fromBytesHex(hex)), text, hex);
  }
});

Deno.test("ipv6 address: RFC 5952 §4 rules, one by one", () => {
  const f = (s: string) => formatIpv6Address(parseIpv6Address(s)!);
  // §4.1: no leading zeros.
  assert.equal(f("2001:0db8:0000:0000:0000:0000:0000:0001"), "2001:db8::1");
  // §4.2.1: "::" as long as possible.
  assert.equal(f("2001:db8:0:0:0:0:2:1"), "2001:db8::2:1");
  // §4.2.2: not for a single zero group.
  assert.equal(f("2001:db8:0:1:1:1:1:1"), "2001:db8:0:1:1:1:1:1");
  // §4.2.3: the longest run; the first of equal runs.
  assert.equal(f("2001:0:0:1:0:0:0:1"), "2001:0:0:1::1");
  assert.equal(f("2001:db8:0:0:1:0:0:1"), "2001:db8::1:0:0:1");
  // §4.3: lowercase.
  assert.equal(f("2001:DB8::AB:CD"), "2001:db8::ab:cd");
  // §5: IPv4-mapped keeps a dotted quad.
  assert.equal(f("::FFFF:c000:0201"), "::ffff:192.0.2.1");
});

Deno.test("ipv6 address: parsing agrees with glibc inet_pton", () => {
  let accepted = 0;
  for (const [text, hex] of IPV6_PARSE_VECTORS) {
    const a = parseIpv6Address(text);
    if (hex === null) {
      assert.equal(a, null, JSON.stringify(text));
    } else {
      assert.notEqual(a, null, JSON.stringify(text));
      assert.equal(bytesOf(a!), hex, text);
      accepted++;
    }
  }
  assert(accepted >= 18, `only ${accepted} accepted`);
});

Deno.test("ipv6 address: parse and format round-trip, and parse fills a given object", () => {
  const rand = seededRandom(0x6a6a);
  const out = ipv6Address();
  for (let i = 0; i < 2000; i++) {
    // Words with zero halves often, so "::" lands everywhere.
    const w = () => {
      const hi = rand() % 3 === 0 ? 0 : rand() & 0xffff;
      const lo = rand() % 3 === 0 ? 0 : rand() & 0xffff;
      return ((hi << 16) | lo) >>> 0;
    };
    const a = ipv6Address(w(), w(), w(), w());
    const text = formatIpv6Address(a);
    assert.equal(parseIpv6Address(text, out), out, text);
    assert(ipv6Equals(out, a), text);
    assert(text === text.toLowerCase() && text.length <= 45);
  }
  // A failed parse leaves the object alone.
  const keep = parseIpv6Address("fd00::7")!;
  assert.equal(parseIpv6Address("fd00::7::", keep), null);
  assert.equal(formatIpv6Address(keep), "fd00::7");
});

Deno.test("ipv6 address: classification and who may be a TCP peer", () => {
  const cases: [string, Ipv6AddressKind, boolean][] = [
    ["::", Ipv6AddressKind.Unspecified, false],
    ["::1", Ipv6AddressKind.Loopback, false],
    ["ff02::1", Ipv6AddressKind.Multicast, false],
    ["ff0e::1:2", Ipv6AddressKind.Multicast, false],
    ["fe80::1", Ipv6AddressKind.LinkLocal, true],
    ["febf:ffff::1", Ipv6AddressKind.LinkLocal, true],
    ["fec0::1", Ipv6AddressKind.Global, true], // site-local, deprecated (RFC 3879)
    ["::ffff:10.0.0.1", Ipv6AddressKind.Ipv4Mapped, false],
    ["fc00::1", Ipv6AddressKind.UniqueLocal, true],
    ["fdff:ffff::1", Ipv6AddressKind.UniqueLocal, true],
    ["fe00::1", Ipv6AddressKind.Global, true],
    ["2001:db8::1", Ipv6AddressKind.Global, true],
    ["::2", Ipv6AddressKind.Global, true],
    ["::1.2.3.4", Ipv6AddressKind.Global, true], // IPv4-compatible, deprecated
    ["::1:0:0:1", Ipv6AddressKind.Global, true],
  ];
  for (const [text, kind, peer] of cases) {
    const a = parseIpv6Address(text)!;
    assert.equal(classifyIpv6Address(a), kind, text);
    assert.equal(isIpv6UnicastAddress(a), peer, text);
    assert.equal(isIpv6Multicast(a), kind === Ipv6AddressKind.Multicast, text);
  }
});

Deno.test("ipv6 address: IPv4-mapped addresses", () => {
  const m = ipv4MappedAddress(0xc0000201);
  assert.equal(formatIpv6Address(m), "::ffff:192.0.2.1");
  assert.equal(ipv4FromMapped(m), 0xc0000201);
  assert.equal(ipv4FromMapped(parseIpv6Address("::ffff:255.255.255.255")!), 0xffffffff);
  assert.equal(ipv4FromMapped(parseIpv6Address("::1.2.3.4")!), null);
  assert.equal(ipv4FromMapped(parseIpv6Address("0:0:1::ffff:1.2.3.4")!), null);
  const into = ipv6Address(1, 2, 3, 4);
  assert.equal(ipv4MappedAddress(7, into), into);
  assert.deepEqual(into, { w0: 0, w1: 0, w2: 0xffff, w3: 7 });
});

Deno.test("ipv6 address: the hash spreads similar addresses", () => {
  const seen = new Set<number>();
  const a = parseIpv6Address("fd00::")!;
  for (let i = 0; i < 4096; i++) {
    a.w3 = i;
    seen.add(ipv6Hash(a) & 0xfff); // low 12 bits: a table of 4096 buckets
  }
  // 4096 balls in 4096 bins fill about 63% of them; a poor hash fills far fewer.
  assert(seen.size > 2400, `only ${seen.size} buckets used`);
  // Every word matters.
  const base = ipv6Hash(parseIpv6Address("1:2:3:4:5:6:7:8")!);
  for (const text of ["1:2:3:4:5:6:7:9", "1:2:3:4:5:6:8:8", "1:2:4:4:5:6:7:8", "2:2:3:4:5:6:7:8"]) {
    assert.notEqual(ipv6Hash(parseIpv6Address(text)!), base, text);
  }
  assert.equal(ipv6Hash(parseIpv6Address("1:2:3:4:5:6:7:8")!), base);
});

Deno.test("ipv6 address: Ipv6AddressMap", async (t) => {
  await t.step("set, get, overwrite, delete, with keys copied", () => {
    const m = new Ipv6AddressMap<number>();
    const key = parseIpv6Address("fd00::1")!;
    m.set(key, 1);
    key.w3 = 2; // the map kept its own copy
    assert.equal(m.get(parseIpv6Address("fd00::1")!), 1);
    assert.equal(m.get(key), undefined);
    m.set(key, 2);
    m.set(parseIpv6Address("fd00::2")!, 22);
    assert.equal(m.size, 2);
    assert.equal(m.get(key), 22);
    assert(m.has(key) && !m.has(IPV6_LOOPBACK));
    assert(m.delete(key) && !m.delete(key));
    assert.equal(m.size, 1);
    assert.deepEqual([...m.values()], [1]);
    assert.deepEqual([...m.entries()].map(([k, v]) => [formatIpv6Address(k), v]), [["fd00::1", 1]]);
  });
  await t.step("many keys and deletions agree with a Map of strings", () => {
    const m = new Ipv6AddressMap<number>();
    const ref = new Map<string, number>();
    const rand = seededRandom(99);
    const a = ipv6Address();
    for (let i = 0; i < 3000; i++) {
      a.w0 = 0xfd000000;
      a.w3 = rand() % 500;
      const k = formatIpv6Address(a);
      if (rand() % 3 === 0) {
        assert.equal(m.delete(a), ref.delete(k));
      } else {
        m.set(a, i);
        ref.set(k, i);
      }
      assert.equal(m.size, ref.size);
    }
    for (const [k, v] of ref) assert.equal(m.get(parseIpv6Address(k)!), v);
  });
});

Deno.test("ipv6 address: [addr]:port parsing", async (t) => {
  const hp = newHostPort();
  await t.step("accepted forms", () => {
    assert.equal(parseHostPort("[fd00::1]:8080", hp), HostPortError.None);
    assert.deepEqual([hp.family, formatIpv6Address(hp.ipv6), hp.port], [6, "fd00::1", 8080]);
    assert.equal(parseHostPort("[::ffff:10.0.0.1]:1", hp), HostPortError.None);
    assert.deepEqual([hp.family, ipv4FromMapped(hp.ipv6), hp.port], [6, 0x0a000001, 1]);
    assert.equal(parseHostPort("10.0.0.2:65535", hp), HostPortError.None);
    assert.deepEqual([hp.family, hp.ipv4, hp.port], [4, 0x0a000002, 65535]);
    assert.equal(parseHostPort("4444", hp), HostPortError.None);
    assert.deepEqual([hp.family, hp.port], [0, 4444]);
  });
  await t.step("host only, when the port is optional", () => {
    assert.equal(parseHostPort("[fe80::2]", hp, false), HostPortError.None);
    assert.deepEqual([hp.family, formatIpv6Address(hp.ipv6), hp.port], [6, "fe80::2", -1]);
    assert.equal(parseHostPort("fe80::2", hp, false), HostPortError.None);
    assert.deepEqual([hp.family, hp.port], [6, -1]);
    assert.equal(parseHostPort("10.1.2.3", hp, false), HostPortError.None);
    assert.deepEqual([hp.family, hp.ipv4, hp.port], [4, 0x0a010203, -1]);
    assert.equal(parseHostPort("[fe80::2]", hp), HostPortError.MissingPort);
    assert.equal(parseHostPort("10.1.2.3", hp), HostPortError.MissingPort);
    assert.equal(hp.family, 0);
  });
  await t.step("refused forms, with their reasons", () => {
    const cases: [string, HostPortError][] = [
      ["", HostPortError.Empty],
      ["fd00::1:80", HostPortError.UnbracketedIpv6],
      ["::1", HostPortError.UnbracketedIpv6],
      ["fd00:::1", HostPortError.BadIpv6],
      ["[fd00::1", HostPortError.BadBrackets],
      ["[fd00::1]80", HostPortError.BadBrackets],
      ["fd00::1]:80", HostPortError.BadBrackets],
      ["[10.0.0.1]:80", HostPortError.BadIpv6],
      ["[fe80::1%eth0]:80", HostPortError.BadIpv6],
      ["[]:80", HostPortError.BadIpv6],
      ["10.0.0.256:80", HostPortError.BadIpv4],
      ["host:80", HostPortError.BadIpv4],
      [":80", HostPortError.BadIpv4],
      ["[::1]:0", HostPortError.BadPort],
      ["[::1]:65536", HostPortError.BadPort],
      ["[::1]:", HostPortError.BadPort],
      ["[::1]:8o", HostPortError.BadPort],
      ["[::1]:-1", HostPortError.BadPort],
      ["10.0.0.1:123456", HostPortError.BadPort],
      ["0", HostPortError.BadPort],
      ["abc", HostPortError.BadPort],
    ];
    for (const [text, err] of cases) {
      assert.equal(parseHostPort(text, hp), err, JSON.stringify(text));
      assert.equal(hp.family === 0 || err === HostPortError.None, true, text);
    }
  });
  await t.step("formatting brackets IPv6 only", () => {
    assert.equal(formatHostPort(parseIpv6Address("FD00:0::1")!, 443), "[fd00::1]:443");
    assert.equal(formatHostPort(0x0a000001, 80), "10.0.0.1:80");
    assert.equal(parseHostPort(formatHostPort(IPV6_LOOPBACK, 9), hp), HostPortError.None);
    assert(ipv6Equals(hp.ipv6, IPV6_LOOPBACK) && hp.port === 9);
  });
});
