import assert from "node:assert/strict";
import {
  CTL_INFO_SIZE,
  formatIpv4,
  getCtlId,
  getIfreqFlags,
  getIfreqInt,
  getIfreqName,
  getPollRevents,
  IFALIASREQ_OFFSETS,
  IFALIASREQ_SIZE,
  IFREQ_SIZE,
  IFREQ_UNION_OFFSET,
  newCtlInfo,
  newIfaliasreq,
  newIfreq,
  newPollfds,
  newSockaddrCtl,
  parseIpv4,
  POLLFD_SIZE,
  readSockaddrIn,
  setIfreqFlags,
  setIfreqInt,
  setPollfd,
  SOCKADDR_CTL_SIZE,
  SOCKADDR_IN_SIZE,
  validateIfname,
  writeSockaddrIn,
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
