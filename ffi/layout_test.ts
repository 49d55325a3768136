import assert from "node:assert/strict";
import {
  AF_INET6,
  CTL_INFO_SIZE,
  formatIpv4,
  formatIpv6,
  getCtlId,
  getIfreqFlags,
  getIfreqInt,
  getIfreqName,
  getPollRevents,
  IFALIASREQ_OFFSETS,
  IFALIASREQ_SIZE,
  IFREQ_SIZE,
  IFREQ_UNION_OFFSET,
  IN6_ALIASREQ_OFFSETS,
  IN6_ALIASREQ_SIZE,
  IN6_IFREQ_OFFSETS,
  IN6_IFREQ_SIZE,
  IN6_RTMSG_OFFSETS,
  IN6_RTMSG_SIZE,
  ipv6PrefixMask,
  newCtlInfo,
  newIfaliasreq,
  newIfreq,
  newIn6Aliasreq,
  newIn6Ifreq,
  newIn6Rtmsg,
  newPollfds,
  newSockaddrCtl,
  parseIpv4,
  parseIpv6,
  POLLFD_SIZE,
  readSockaddrIn,
  readSockaddrIn6,
  setIfreqFlags,
  setIfreqInt,
  setPollfd,
  SOCKADDR_CTL_SIZE,
  SOCKADDR_IN6_SIZE,
  SOCKADDR_IN_SIZE,
  validateIfname,
  writeSockaddrIn,
  writeSockaddrIn6,
} from "./layout.ts";

Deno.test("layout: struct sizes match the C headers", () => {
  assert.equal(IFREQ_SIZE.linux, 40);
  assert.equal(IFREQ_SIZE.darwin, 32);
  assert.equal(IFREQ_UNION_OFFSET, 16);
  assert.equal(SOCKADDR_IN_SIZE, 16);
  assert.equal(POLLFD_SIZE, 8);
  assert.equal(CTL_INFO_SIZE, 100);
  assert.equal(SOCKADDR_CTL_SIZE, 32);
  assert.equal(IFALIASREQ_SIZE, 64);
  assert.deepEqual(IFALIASREQ_OFFSETS, { name: 0, addr: 16, dstaddr: 32, mask: 48 });
  assert.equal(newIfreq("linux").length, 40);
  assert.equal(newIfreq("darwin").length, 32);
});

Deno.test("layout: IPv4 addresses parse and format as 32-bit numbers", () => {
  assert.equal(parseIpv4("10.0.0.1"), 0x0a000001);
  assert.equal(parseIpv4("255.255.255.255"), 0xffffffff);
  assert.equal(formatIpv4(0xc0a80101), "192.168.1.1");
  assert.equal(formatIpv4(parseIpv4("172.16.5.254")), "172.16.5.254");
  for (
    const bad of ["10.0.0", "10.0.0.256", "10.0.0.-1", "a.b.c.d", "10.0.0.1.2", "", " 10.0.0.1"]
  ) {
    assert.throws(() => parseIpv4(bad), TypeError, bad);
  }
});

Deno.test("layout: ifreq name is NUL-padded at offset 0, union at offset 16", () => {
  const ifr = newIfreq("linux", "tcptun0");
  assert.deepEqual([...ifr.subarray(0, 8)], [0x74, 0x63, 0x70, 0x74, 0x75, 0x6e, 0x30, 0]);
  assert.equal(getIfreqName(ifr), "tcptun0");
  setIfreqFlags(ifr, 0x1001);
  assert.deepEqual([...ifr.subarray(16, 18)], [0x01, 0x10]);
  assert.equal(getIfreqFlags(ifr), 0x1001);
  setIfreqInt(ifr, 1500);
  assert.deepEqual([...ifr.subarray(16, 20)], [0xdc, 0x05, 0, 0]);
  assert.equal(getIfreqInt(ifr), 1500);
  const full = newIfreq("linux", "a".repeat(15));
  assert.equal(full[15], 0, "15 characters leave room for the NUL");
  assert.equal(getIfreqName(full), "a".repeat(15));
});

Deno.test("layout: interface names longer than 15 bytes or with bad characters are rejected", () => {
  assert.throws(() => validateIfname("a".repeat(16)), RangeError);
  assert.throws(() => validateIfname(""), RangeError);
  assert.throws(() => validateIfname("tun 0"), RangeError);
  assert.throws(() => validateIfname("tun/0"), RangeError);
  assert.throws(() => validateIfname("tun:0"), RangeError);
  assert.throws(() => validateIfname("tün0"), RangeError);
  validateIfname("tcptun%d");
  validateIfname("utun12");
});

Deno.test("layout: sockaddr_in on Linux has a 16-bit family, on macOS sin_len then family", () => {
  const linux = new Uint8Array(20).fill(0xee);
  writeSockaddrIn("linux", linux, 2, parseIpv4("10.0.0.2"), 0x1234);
  assert.deepEqual(
    [...linux],
    [0xee, 0xee, 2, 0, 0x12, 0x34, 10, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0xee, 0xee],
  );
  assert.deepEqual(readSockaddrIn("linux", linux, 2), {
    family: 2,
    port: 0x1234,
    addr: 0x0a000002,
  });
  const darwin = new Uint8Array(16);
  writeSockaddrIn("darwin", darwin, 0, parseIpv4("255.255.255.255"));
  assert.deepEqual([...darwin.subarray(0, 8)], [16, 2, 0, 0, 255, 255, 255, 255]);
  assert.equal(readSockaddrIn("darwin", darwin, 0).family, 2);
});

Deno.test("layout: pollfd entries are fd i32, events i16, revents i16", () => {
  const fds = newPollfds(2);
  assert.equal(fds.length, 16);
  assert.equal(fds.byteOffset, 0);
  setPollfd(fds, 1, 0x01020304, 1);
  assert.deepEqual([...fds.subarray(8, 16)], [4, 3, 2, 1, 1, 0, 0, 0]);
  fds[14] = 0x11;
  fds[15] = 0x00;
  assert.equal(getPollRevents(fds, 1), 0x11);
  assert.equal(getPollRevents(fds, 0), 0);
});

Deno.test("layout: ctl_info carries ctl_id at 0 and the control name at 4", () => {
  const info = newCtlInfo("com.apple.net.utun_control");
  assert.equal(info.length, 100);
  assert.equal(new TextDecoder().decode(info.subarray(4, 30)), "com.apple.net.utun_control");
  assert.equal(info[30], 0);
  info.set([7, 0, 0, 0], 0);
  assert.equal(getCtlId(info), 7);
  assert.throws(() => newCtlInfo("x".repeat(96)), RangeError);
});

Deno.test("layout: sockaddr_ctl is len 32, AF_SYSTEM, AF_SYS_CONTROL, id, unit", () => {
  const sa = newSockaddrCtl(0x11223344, 5);
  assert.deepEqual(
    [...sa.subarray(0, 12)],
    [32, 32, 2, 0, 0x44, 0x33, 0x22, 0x11, 5, 0, 0, 0],
  );
  assert.ok(sa.subarray(12).every((b) => b === 0), "sc_reserved is zero");
});

Deno.test("layout: ifaliasreq holds name, local, destination and mask sockaddrs", () => {
  const req = newIfaliasreq("utun3", parseIpv4("10.0.0.2"), parseIpv4("10.0.0.1"), 0xffffffff);
  assert.equal(new TextDecoder().decode(req.subarray(0, 5)), "utun3");
  assert.deepEqual([...req.subarray(16, 24)], [16, 2, 0, 0, 10, 0, 0, 2]);
  assert.deepEqual([...req.subarray(32, 40)], [16, 2, 0, 0, 10, 0, 0, 1]);
  assert.deepEqual([...req.subarray(48, 56)], [16, 2, 0, 0, 255, 255, 255, 255]);
});

const hex = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, "0")).join("");

Deno.test("layout: IPv6 addresses parse in every RFC 4291 text form", () => {
  assert.equal(hex(parseIpv6("fd00::1")), "fd000000000000000000000000000001");
  assert.equal(hex(parseIpv6("FD00:0:0:0:0:0:0:0001")), "fd000000000000000000000000000001");
  assert.equal(hex(parseIpv6("::")), "0".repeat(32));
  assert.equal(hex(parseIpv6("::1")), "0".repeat(31) + "1");
  assert.equal(hex(parseIpv6("1::")), "0001" + "0".repeat(28));
  assert.equal(hex(parseIpv6("2001:db8::8:800:200c:417a")), "20010db80000000000080800200c417a");
  assert.equal(hex(parseIpv6("::ffff:10.0.0.1")), "00000000000000000000ffff0a000001");
  assert.equal(hex(parseIpv6("64:ff9b::192.0.2.33")), "0064ff9b0000000000000000c0000221");
  assert.equal(hex(parseIpv6("1:2:3:4:5:6:7:8")), "00010002000300040005000600070008");
  for (
    const bad of [
      "",
      ":",
      ":::",
      "1::2::3",
      "1:2:3:4:5:6:7",
      "1:2:3:4:5:6:7:8:9",
      "1:2:3:4::5:6:7:8",
      "12345::",
      "g::1",
      "fe80::1%eth0",
      "fd00::/64",
      "1.2.3.4::",
      "::1.2.3",
      "::1.2.3.4:5",
      " fd00::1",
      "10.0.0.1",
    ]
  ) {
    assert.throws(() => parseIpv6(bad), TypeError, bad);
  }
});

Deno.test("layout: IPv6 addresses format canonically (RFC 5952)", () => {
  const cases: [string, string][] = [
    ["fd00:0000:0000:0000:0000:0000:0000:0001", "fd00::1"],
    ["0:0:0:0:0:0:0:0", "::"],
    ["0:0:0:0:0:0:0:1", "::1"],
    ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"], // §4.2.3: the first of equal runs
    ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"], // §4.2.2: one zero group stays
    ["2001:0:0:1:0:0:0:1", "2001:0:0:1::1"], // §4.2.3: the longest run
    ["2001:DB8::ABCD", "2001:db8::abcd"], // §4.3: lower case
    ["1:0:0:0:0:0:0:0", "1::"],
    ["::ffff:a00:1", "::ffff:10.0.0.1"], // §5: IPv4-mapped
  ];
  for (const [text, canonical] of cases) assert.equal(formatIpv6(parseIpv6(text)), canonical);
  assert.throws(() => formatIpv6(new Uint8Array(4)), RangeError);
});

Deno.test("layout: IPv6 prefix masks", () => {
  assert.equal(hex(ipv6PrefixMask(128)), "f".repeat(32));
  assert.equal(hex(ipv6PrefixMask(0)), "0".repeat(32));
  assert.equal(hex(ipv6PrefixMask(64)), "f".repeat(16) + "0".repeat(16));
  assert.equal(hex(ipv6PrefixMask(127)), "f".repeat(31) + "e");
  assert.throws(() => ipv6PrefixMask(129), RangeError);
  assert.throws(() => ipv6PrefixMask(-1), RangeError);
});

Deno.test("layout: IPv6 struct sizes and offsets match the C headers", () => {
  assert.deepEqual(AF_INET6, { linux: 10, darwin: 30 });
  assert.equal(SOCKADDR_IN6_SIZE, 28);
  // linux/ipv6.h: in6_addr, __u32, int.
  assert.equal(IN6_IFREQ_SIZE, 24);
  assert.deepEqual(IN6_IFREQ_OFFSETS, { addr: 0, prefixlen: 16, ifindex: 20 });
  // linux/ipv6_route.h on LP64: 4 bytes of padding before the 8-byte unsigned long.
  assert.equal(IN6_RTMSG_SIZE, 80);
  assert.deepEqual(IN6_RTMSG_OFFSETS, {
    dst: 0,
    src: 16,
    gateway: 32,
    type: 48,
    dstLen: 52,
    srcLen: 54,
    metric: 56,
    info: 64,
    flags: 72,
    ifindex: 76,
  });
  // netinet6/in6_var.h on LP64: name[16], 3 x sockaddr_in6 (28), int, then an 8-aligned
  // in6_addrlifetime {time_t, time_t, u32, u32}.
  assert.equal(IN6_ALIASREQ_SIZE, 128);
  assert.deepEqual(IN6_ALIASREQ_OFFSETS, {
    name: 0,
    addr: 16,
    dstaddr: 44,
    prefixmask: 72,
    flags: 100,
    expire: 104,
    preferred: 112,
    vltime: 120,
    pltime: 124,
  });
});

Deno.test("layout: sockaddr_in6 on Linux has a 16-bit family, on macOS sin6_len then family", () => {
  const addr = parseIpv6("fd00::2");
  const linux = new Uint8Array(32).fill(0xee);
  writeSockaddrIn6("linux", linux, 2, addr, 0x1234, 7);
  assert.equal(
    hex(linux),
    "eeee" + "0a00" + "1234" + "00000000" + hex(addr) + "07000000" + "eeee",
  );
  const back = readSockaddrIn6("linux", linux, 2);
  assert.deepEqual(back, { family: 10, port: 0x1234, addr, scopeId: 7 });
  const darwin = new Uint8Array(28);
  writeSockaddrIn6("darwin", darwin, 0, addr);
  assert.equal(hex(darwin.subarray(0, 8)), "1c1e000000000000");
  assert.equal(readSockaddrIn6("darwin", darwin, 0).family, 30);
  assert.throws(() => writeSockaddrIn6("linux", linux, 0, new Uint8Array(4)), RangeError);
});

Deno.test("layout: in6_ifreq holds the address, the prefix length and the ifindex", () => {
  const req = newIn6Ifreq(parseIpv6("fd00::2"), 128, 0x01020304);
  assert.equal(hex(req), "fd000000000000000000000000000002" + "80000000" + "04030201");
  assert.throws(() => newIn6Ifreq(parseIpv6("fd00::2"), 129, 1), RangeError);
});

Deno.test("layout: in6_rtmsg places every field, with the padding before rtmsg_info zero", () => {
  const rt = newIn6Rtmsg({
    dst: parseIpv6("fd00::1"),
    dstLen: 128,
    type: 1,
    metric: 0x11223344,
    flags: 0x0005,
    ifindex: 9,
  });
  assert.equal(rt.length, 80);
  assert.equal(hex(rt.subarray(0, 16)), "fd000000000000000000000000000001", "rtmsg_dst");
  assert.equal(hex(rt.subarray(16, 48)), "0".repeat(64), "rtmsg_src and rtmsg_gateway: ::");
  assert.equal(hex(rt.subarray(48, 52)), "01000000", "rtmsg_type");
  assert.equal(hex(rt.subarray(52, 56)), "80000000", "rtmsg_dst_len 128, rtmsg_src_len 0");
  assert.equal(hex(rt.subarray(56, 60)), "44332211", "rtmsg_metric");
  assert.equal(hex(rt.subarray(60, 72)), "0".repeat(24), "padding and rtmsg_info");
  assert.equal(hex(rt.subarray(72, 80)), "05000000" + "09000000", "rtmsg_flags, rtmsg_ifindex");
  const gw = newIn6Rtmsg({
    dst: parseIpv6("::"),
    dstLen: 0,
    gateway: parseIpv6("fe80::1"),
    flags: 3,
    ifindex: 1,
  });
  assert.equal(hex(gw.subarray(32, 48)), "fe800000000000000000000000000001");
  assert.equal(hex(gw.subarray(48, 60)), "0".repeat(24), "type, lengths and metric default 0");
});

Deno.test("layout: in6_aliasreq holds name, address, destination, mask, flags, lifetimes", () => {
  const req = newIn6Aliasreq(
    "utun3",
    parseIpv6("fd00::2"),
    parseIpv6("fd00::1"),
    128,
    0x20,
    0xffffffff,
    0xffffffff,
  );
  assert.equal(req.length, 128);
  assert.equal(new TextDecoder().decode(req.subarray(0, 6)), "utun3\0");
  const sin6 = (at: number, a: string) =>
    assert.equal(hex(req.subarray(at, at + 28)), "1c1e" + "0000" + "00000000" + a + "00000000");
  sin6(16, "fd000000000000000000000000000002");
  sin6(44, "fd000000000000000000000000000001");
  sin6(72, "f".repeat(32));
  assert.equal(hex(req.subarray(100, 104)), "20000000", "ifra_flags");
  assert.equal(hex(req.subarray(104, 120)), "0".repeat(32), "ia6t_expire, ia6t_preferred");
  assert.equal(hex(req.subarray(120, 128)), "f".repeat(16), "ia6t_vltime, ia6t_pltime");
  assert.throws(
    () => newIn6Aliasreq("utun3", parseIpv6("fd00::2"), parseIpv6("fd00::1"), 130, 0, 1, 1),
    RangeError,
  );
});
