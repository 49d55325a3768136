import assert from "node:assert/strict";
import {
  CTLIOCGINFO,
  DARWIN_AF_INET6,
  DARWIN_SIOCGIFFLAGS,
  DARWIN_SIOCSIFFLAGS,
  DARWIN_SIOCSIFMTU,
  frameUtun,
  IN6_IFF_NODAD,
  ND6_INFINITE_LIFETIME,
  SIOCAIFADDR,
  SIOCAIFADDR_IN6,
  unframeUtun,
  UTUN_HEADER_SIZE,
  utunUnit,
} from "./darwin.ts";

Deno.test("darwin: ioctl numbers match sys/sockio.h and sys/kern_control.h", () => {
  assert.equal(CTLIOCGINFO, 0xc0644e03n);
  assert.equal(SIOCAIFADDR, 0x8040691an);
  assert.equal(DARWIN_SIOCSIFMTU, 0x80206934n);
  assert.equal(DARWIN_SIOCSIFFLAGS, 0x80206910n);
  assert.equal(DARWIN_SIOCGIFFLAGS, 0xc0206911n);
  // netinet6/in6_var.h: _IOW('i', 26, struct in6_aliasreq), 128 bytes on LP64.
  assert.equal(SIOCAIFADDR_IN6, 0x8080691an);
  assert.equal(IN6_IFF_NODAD, 0x20);
  assert.equal(ND6_INFINITE_LIFETIME, 0xffffffff);
});

Deno.test("darwin: sc_unit is N+1 for utunN and 0 to let the kernel pick", () => {
  assert.equal(utunUnit(undefined), 0);
  assert.equal(utunUnit(""), 0);
  assert.equal(utunUnit("utun0"), 1);
  assert.equal(utunUnit("utun7"), 8);
  assert.throws(() => utunUnit("tun0"), RangeError);
  assert.throws(() => utunUnit("utun"), RangeError);
  assert.throws(() => utunUnit("utun-1"), RangeError);
});

Deno.test("darwin: utun frames carry a big-endian address family before the packet", async (t) => {
  const frame = new Uint8Array(64).fill(0xaa);
  const v4 = new Uint8Array([0x45, 0, 0, 24, 1, 2, 3, 4]);

  await t.step("IPv4 is framed with AF_INET = 2", () => {
    assert.equal(frameUtun(frame, v4), 12);
    assert.deepEqual([...frame.subarray(0, 12)], [0, 0, 0, 2, ...v4]);
  });

  await t.step("IPv6 is framed with macOS AF_INET6 = 30", () => {
    assert.equal(frameUtun(frame, new Uint8Array([0x60, 0, 0, 0])), 8);
    assert.deepEqual([...frame.subarray(0, 4)], [0, 0, 0, DARWIN_AF_INET6]);
  });

  await t.step("empty and oversized packets are not framed", () => {
    assert.equal(frameUtun(frame, new Uint8Array(0)), 0);
    assert.equal(frameUtun(frame, new Uint8Array(61)), 0);
    assert.equal(frameUtun(frame, new Uint8Array(60)), 64);
  });

  await t.step("an IPv4 frame is unframed into the caller's buffer", () => {
    frameUtun(frame, v4);
    const out = new Uint8Array(16);
    assert.equal(unframeUtun(frame, 12, out), 8);
    assert.deepEqual([...out.subarray(0, 8)], [...v4]);
    const small = new Uint8Array(5);
    assert.equal(unframeUtun(frame, 12, small), 5, "truncated to the buffer");
    assert.deepEqual([...small], [...v4.subarray(0, 5)]);
  });

  await t.step("an IPv6 frame is unframed too", () => {
    const v6 = new Uint8Array(44);
    v6[0] = 0x60;
    v6[6] = 58; // ICMPv6
    v6[43] = 0x99;
    assert.equal(frameUtun(frame, v6), 48);
    assert.deepEqual([...frame.subarray(0, 4)], [0, 0, 0, 30]);
    const out = new Uint8Array(64);
    assert.equal(unframeUtun(frame, 48, out), 44);
    assert.deepEqual(out.subarray(0, 44), v6);
  });

  await t.step("other families, short and inconsistent frames are skipped", () => {
    const out = new Uint8Array(16);
    frameUtun(frame, new Uint8Array([0x60, 0, 0, 0]));
    frame[3] = 10; // Linux's AF_INET6 is not macOS's
    assert.equal(unframeUtun(frame, 8, out), 0, "family 10");
    frame[3] = 17;
    assert.equal(unframeUtun(frame, 8, out), 0, "family 17");
    frameUtun(frame, v4);
    assert.equal(unframeUtun(frame, UTUN_HEADER_SIZE, out), 0, "header only");
    assert.equal(unframeUtun(frame, 2, out), 0, "short");
    assert.equal(unframeUtun(frame, 65, out), 0, "longer than the frame buffer");
    frame[0] = 1;
    assert.equal(unframeUtun(frame, 12, out), 0, "family not in network byte order");
  });
});
