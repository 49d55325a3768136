/**
 * TUN integration checks, run by `ffi/linux_test.ts` through `runInNetns` inside a fresh
 * network namespace. Refuses to run anywhere else. Prints `ok <check>` per check and exits
 * non-zero on the first failure.
 *
 * Usage: `unshare --net deno run -A ffi/testdata/tun_netns.ts [all|ipv6|eperm]`
 * with `TCPTUN_IN_NETNS=1`.
 *
 * The namespace starts with IPv6 disabled by default (`all`/`default` `disable_ipv6 = 1`), as
 * some hosts have it; `openTun` enables it on its own interface when it configures IPv6.
 * @module
 */

import assert from "node:assert/strict";
import dgram from "node:dgram";
import { openTun, type TunDevice } from "../tun.ts";
import { SyscallError } from "../libc.ts";
import { configureLinuxIpv6, readIpv6Conf } from "../linux.ts";
import { parseIpv6 } from "../layout.ts";
import { assertFreshNamespace, disableIpv6, run } from "./netns_guard.ts";

const TUN_IP = "10.0.0.1";
const LOCAL_IP = "10.0.0.2";
const IFNAME = "tcptun0";
const MTU = 1400;
const PROBE_PORT = 9999;
const TUN_IP6 = "fdac:1194:20dc::1";
const LOCAL_IP6 = "fdac:1194:20dc::2";

function ipv4Checksum(b: Uint8Array, len: number): number {
  let sum = 0;
  for (let i = 0; i < len; i += 2) sum += (b[i] << 8) | b[i + 1];
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

function ipBytes(ip: string): number[] {
  return ip.split(".").map(Number);
}

/**
 * The ICMPv6 checksum (RFC 4443 §2.3) of the IPv6 packet `p` without extension headers: the
 * one's complement sum of the pseudo-header (RFC 8200 §8.1: source, destination, upper-layer
 * length, next header 58) and the ICMPv6 message. Over a message with a correct checksum in
 * place the result is 0.
 */
function icmpv6Checksum(p: Uint8Array): number {
  const length = p.length - 40;
  let sum = 58 + (length >>> 16) + (length & 0xffff);
  for (let i = 8; i < 40; i += 2) sum += (p[i] << 8) | p[i + 1];
  for (let i = 40; i < p.length; i += 2) sum += (p[i] << 8) | (i + 1 < p.length ? p[i + 1] : 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** True when `p` is an ICMPv6 echo request (RFC 4443 §4.1) from `src` to `dst`. */
function isEchoRequest(p: Uint8Array, src: Uint8Array, dst: Uint8Array): boolean {
  return p.length >= 48 && p[0] >> 4 === 6 && p[6] === 58 && p[40] === 128 &&
    p.subarray(8, 24).every((b, i) => b === src[i]) &&
    p.subarray(24, 40).every((b, i) => b === dst[i]);
}

/**
 * The echo reply (RFC 4443 §4.2) to echo request `req`: addresses swapped, type 129, the same
 * identifier, sequence number and data, and a fresh checksum.
 */
function echoReply(req: Uint8Array): Uint8Array {
  const p = req.slice();
  p.set(req.subarray(24, 40), 8);
  p.set(req.subarray(8, 24), 24);
  p[7] = 64; // hop limit
  p[40] = 129;
  p[41] = 0;
  p[42] = 0;
  p[43] = 0;
  const sum = icmpv6Checksum(p);
  p[42] = sum >>> 8;
  p[43] = sum & 0xff;
  return p;
}

/** A short description of a packet, for reports. */
function describe(p: Uint8Array): string {
  if (p[0] >> 4 === 6) return `IPv6 next header ${p[6]}${p[6] === 58 ? ` type ${p[40]}` : ""}`;
  return `IPv${p[0] >> 4} protocol ${p[9]}`;
}

/** An IPv4/UDP packet (UDP checksum 0: none, allowed by RFC 768 over IPv4). */
function udpPacket(src: string, dst: string, sport: number, dport: number, payload: Uint8Array) {
  const len = 20 + 8 + payload.length;
  const p = new Uint8Array(len);
  const dv = new DataView(p.buffer);
  p[0] = 0x45;
  dv.setUint16(2, len);
  p[8] = 64; // TTL
  p[9] = 17; // UDP
  p.set(ipBytes(src), 12);
  p.set(ipBytes(dst), 16);
  dv.setUint16(10, ipv4Checksum(p, 20));
  dv.setUint16(20, sport);
  dv.setUint16(22, dport);
  dv.setUint16(24, 8 + payload.length);
  p.set(payload, 28);
  return p;
}

function fdIsOpen(fd: number): boolean {
  try {
    Deno.readLinkSync(`/proc/self/fd/${fd}`);
    return true;
  } catch {
    return false;
  }
}

async function timed(p: Promise<void>): Promise<number> {
  const t0 = performance.now();
  await p;
  return performance.now() - t0;
}

function check(name: string): void {
  console.log(`ok ${name}`);
}

async function runAll(): Promise<void> {
  assert.throws(() => openTun({ tunIp: TUN_IP, ifname: "x".repeat(16) }), RangeError);
  assert.throws(() => openTun({ tunIp: "10.0.0", ifname: IFNAME }), TypeError);
  assert.throws(() => openTun({ tunIp: TUN_IP, mtu: 40 }), RangeError);
  check("bad options are rejected before any system call");

  const tun = openTun({ tunIp: TUN_IP, ifname: IFNAME, mtu: MTU });
  assert.equal(tun.name, IFNAME);
  assert.equal(tun.tunIp, TUN_IP);
  assert.equal(tun.localIp, LOCAL_IP);
  assert.equal(tun.mtu, MTU);
  assert.ok(tun.fd >= 0);
  check("openTun returns name, addresses and mtu");

  const show = run("ip", "-4", "addr", "show", "dev", IFNAME);
  assert.equal(show.code, 0, show.out);
  assert.match(show.out, /inet 10\.0\.0\.2 peer 10\.0\.0\.1\/32 /);
  assert.match(show.out, / mtu 1400 /);
  const flags = /<([^>]*)>/.exec(show.out)?.[1].split(",") ?? [];
  assert.ok(flags.includes("UP"), show.out);
  assert.ok(flags.includes("POINTOPOINT"), show.out);
  check("interface is up, point-to-point 10.0.0.2 -> 10.0.0.1/32, mtu 1400");

  const auto = openTun({ tunIp: "10.0.1.255" });
  assert.match(auto.name, /^tun[0-9]+$/);
  assert.equal(auto.localIp, "10.0.1.254");
  const autoName = auto.name;
  assert.equal(run("ip", "link", "show", "dev", autoName).code, 0);
  auto.close();
  assert.notEqual(run("ip", "link", "show", "dev", autoName).code, 0, "interface gone after close");
  check("kernel-chosen name is read back; close removes the interface");

  try {
    openTun({ tunIp: "10.0.2.1", ifname: IFNAME });
    assert.fail("a second device with the same name must fail");
  } catch (e) {
    assert.ok(e instanceof SyscallError, String(e));
    assert.equal(e.code, "EBUSY");
    assert.equal(e.syscall, "ioctl(TUNSETIFF)");
    assert.match(e.message, /^ioctl\(TUNSETIFF\): EBUSY \(Device or resource busy\)$/);
  }
  check("a busy name fails with ioctl(TUNSETIFF): EBUSY");

  const buf = new Uint8Array(2048);
  assert.equal(tun.read(buf), 0);
  const idle = await timed(tun.waitReadable(150));
  assert.ok(idle >= 140 && idle < 2000, `timeout wait took ${idle} ms`);
  check("read returns 0 when idle; waitReadable honours its timeout");

  await kernelToDevice(tun, buf);

  const early = tun.waitReadable(-1);
  setTimeout(() => tun.wake(), 30);
  const woke = await timed(early);
  assert.ok(woke >= 20 && woke < 1000, `wake ended the wait after ${woke} ms`);
  tun.wake();
  const pre = await timed(tun.waitReadable(-1));
  assert.ok(pre < 500, `a wake before the wait ended it after ${pre} ms`);
  const drained = await timed(tun.waitReadable(100));
  assert.ok(drained >= 90, `the wake-up fd was drained (wait took ${drained} ms)`);
  check("wake() ends a pending wait and the next one, once");

  const pending = tun.waitReadable(-1);
  const shared = tun.waitReadable(-1);
  assert.equal(pending, shared, "concurrent waits share the poll in progress");
  const fd = tun.fd;
  setTimeout(() => tun.close(), 30);
  const closedAfter = await timed(pending);
  assert.ok(closedAfter < 1000, `close ended the wait after ${closedAfter} ms`);
  assert.ok(tun.closed);
  assert.ok(!fdIsOpen(fd), "device fd closed once the poll returned");
  assert.equal(tun.read(buf), 0);
  const dropped = tun.droppedWrites;
  tun.write(udpPacket(TUN_IP, LOCAL_IP, 1, 2, new Uint8Array(4)));
  assert.equal(tun.droppedWrites, dropped + 1);
  assert.ok(await timed(tun.waitReadable(-1)) < 100);
  tun.wake();
  tun.close();
  assert.notEqual(run("ip", "link", "show", "dev", IFNAME).code, 0, "interface gone after close");
  check("close() ends a pending wait; then reads give 0, writes drop, waits end at once");
}

/** The kernel sends a UDP datagram to tunIp; the device reads it; the device answers. */
async function kernelToDevice(tun: TunDevice, buf: Uint8Array): Promise<void> {
  const sock = dgram.createSocket("udp4");
  try {
    await new Promise<void>((resolve, reject) => {
      sock.once("error", reject);
      sock.bind(0, LOCAL_IP, () => resolve());
    });
    const localPort = sock.address().port;
    const probe = new TextEncoder().encode("tcptun-probe");
    const wait = tun.waitReadable(5000);
    const sentAt = performance.now();
    sock.send(probe, PROBE_PORT, TUN_IP);
    await wait;
    const latency = performance.now() - sentAt;
    assert.ok(latency < 1000, `waitReadable woke ${latency} ms after the send`);

    let n = 0;
    for (let i = 0; i < 20 && n === 0; i++) {
      n = tun.read(buf);
      if (n === 0) await tun.waitReadable(200);
    }
    assert.ok(n >= 28 + probe.length, `read ${n} bytes`);
    const dv = new DataView(buf.buffer, 0, n);
    assert.equal(buf[0] >> 4, 4, "IPv4");
    const ihl = (buf[0] & 0xf) * 4;
    assert.equal(dv.getUint16(2), n, "total length = bytes read (no packet-info header)");
    assert.equal(buf[9], 17, "UDP");
    assert.deepEqual([...buf.subarray(12, 16)], ipBytes(LOCAL_IP), "source is the companion");
    assert.deepEqual([...buf.subarray(16, 20)], ipBytes(TUN_IP), "destination is tunIp");
    assert.equal(dv.getUint16(ihl), localPort);
    assert.equal(dv.getUint16(ihl + 2), PROBE_PORT);
    assert.deepEqual(buf.subarray(ihl + 8, n), probe);
    check("a datagram the kernel sends to tunIp is read from the device, waking the wait");

    const reply = new TextEncoder().encode("tcptun-reply");
    const got = new Promise<Uint8Array>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("no reply within 3 s")), 3000);
      sock.once("message", (msg: Uint8Array) => {
        clearTimeout(timer);
        resolve(msg);
      });
    });
    tun.write(udpPacket(TUN_IP, LOCAL_IP, PROBE_PORT, localPort, reply));
    assert.deepEqual(new Uint8Array(await got), reply);
    assert.equal(tun.droppedWrites, 0);
    assert.equal(tun.writeErrors, 0);
    check("a packet written to the device reaches a kernel socket");
  } finally {
    sock.close();
  }
}

/**
 * `ping -6 -c1 stackIp6` from the kernel side: the echo request is read from the device, its
 * checksum verified, a crafted echo reply written back, and ping must report it received.
 */
async function pingOverTun(tun: TunDevice, stackIp6: string, kernelIp6: string): Promise<void> {
  const src = parseIpv6(kernelIp6);
  const dst = parseIpv6(stackIp6);
  const ping = new Deno.Command("ping", {
    args: ["-6", "-n", "-c", "1", "-W", "5", stackIp6],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(10_000),
  }).spawn();
  const buf = new Uint8Array(2048);
  const others: string[] = [];
  let request: Uint8Array | undefined;
  const deadline = performance.now() + 5000;
  for (let i = 0; i < 100 && request === undefined && performance.now() < deadline; i++) {
    await tun.waitReadable(200);
    for (let j = 0, n = tun.read(buf); j < 50 && n > 0; j++, n = tun.read(buf)) {
      const p = buf.subarray(0, n);
      if (isEchoRequest(p, src, dst)) {
        request = p.slice();
        break;
      }
      others.push(describe(p));
    }
  }
  if (request === undefined) {
    const out = await ping.output();
    assert.fail(
      `no echo request read from ${tun.name}; other packets: [${others.join("; ")}]; ping: ` +
        new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr),
    );
  }
  const dv = new DataView(request.buffer);
  assert.equal(dv.getUint16(4), request.length - 40, "payload length = bytes after the header");
  assert.equal(request[41], 0, "code 0");
  assert.equal(icmpv6Checksum(request), 0, "the request's ICMPv6 checksum verifies");
  check(
    `the kernel's ICMPv6 echo request ${kernelIp6} -> ${stackIp6} is read from the device ` +
      `(${tun.vnetHdr ? "vnet" : "raw"}; ${others.length} other packets before it)`,
  );

  const reply = echoReply(request);
  assert.equal(icmpv6Checksum(reply), 0);
  tun.write(reply);
  const out = await ping.output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, `ping failed:\n${text}`);
  assert.match(text, /1 received/, text);
  assert.equal(tun.droppedWrites, 0);
  assert.equal(tun.writeErrors, 0);
  check(`ping -6 ${stackIp6} succeeds with the echo reply written to the device`);
}

/**
 * Reads the device for `ms` milliseconds after it came up and expects nothing: with
 * `router_solicitations = 0` the kernel sends no Router Solicitation (ICMPv6 type 133, RFC 4861
 * §6.3.7), which it otherwise does within about a second of the link-local address appearing.
 */
async function expectSilence(tun: TunDevice, buf: Uint8Array, ms: number): Promise<void> {
  const seen: string[] = [];
  const end = performance.now() + ms;
  for (let i = 0; i < 100 && performance.now() < end; i++) {
    await tun.waitReadable(Math.max(1, end - performance.now()));
    for (let j = 0, n = tun.read(buf); j < 50 && n > 0; j++, n = tun.read(buf)) {
      seen.push(describe(buf.subarray(0, n)));
    }
  }
  assert.deepEqual(seen, [], "the kernel sent packets of its own into the device");
  check(`the kernel sends nothing of its own into the device (${ms} ms after it came up)`);
}

/** The `inet6` lines of `ip -6 addr show dev <name>`. */
function inet6Lines(name: string): string[] {
  const show = run("ip", "-6", "addr", "show", "dev", name);
  assert.equal(show.code, 0, show.out);
  return show.out.split("\n").map((l) => l.trim()).filter((l) => l.startsWith("inet6 "));
}

async function runIpv6(): Promise<void> {
  const buf = new Uint8Array(2048);
  for (const offload of [false, true]) {
    const tun = openTun({ tunIp: TUN_IP, ifname: IFNAME, mtu: MTU, offload });
    try {
      assert.equal(tun.vnetHdr, offload, "this kernel takes IFF_VNET_HDR");
      assert.equal(tun.tunIp6, TUN_IP6);
      assert.equal(tun.localIp6, LOCAL_IP6);
      assert.equal(tun.ipv6Problem, undefined);
      assert.equal(tun.localIp, LOCAL_IP);
      check(`openTun reports tunIp6 ${TUN_IP6} and localIp6 ${LOCAL_IP6} (offload ${offload})`);

      const lines = inet6Lines(IFNAME);
      const global = lines.find((l) => l.startsWith(`inet6 ${LOCAL_IP6}/128 `));
      assert.ok(global !== undefined, lines.join("\n"));
      assert.match(global, /scope global/);
      assert.doesNotMatch(global, /tentative/, "no DAD: usable at once");
      const routes = run("ip", "-6", "route", "show", "dev", IFNAME);
      assert.equal(routes.code, 0, routes.out);
      assert.match(routes.out, new RegExp(`^${TUN_IP6} metric 1024 `, "m"), routes.out);
      for (const [key, value] of [["disable_ipv6", "0"], ["accept_dad", "0"]]) {
        assert.equal(readIpv6Conf(IFNAME, key), value, key);
      }
      assert.equal(readIpv6Conf(IFNAME, "router_solicitations"), "0");
      check(
        `the kernel has ${LOCAL_IP6}/128 (not tentative) and a route to ${TUN_IP6} via ` +
          `${IFNAME}, with IPv6 enabled in a namespace that disables it by default`,
      );

      if (!offload) await expectSilence(tun, buf, 2500);
      await pingOverTun(tun, TUN_IP6, LOCAL_IP6);
      await kernelToDevice(tun, buf);
      check(`IPv4 keeps working beside IPv6 (offload ${offload})`);

      if (!offload) {
        const second = openTun({ tunIp: "10.0.1.1", ifname: "tcptun1", mtu: MTU });
        try {
          assert.equal(second.tunIp6, undefined);
          assert.match(
            second.ipv6Problem ?? "",
            /^IPv6 address check: EADDRINUSE .*fdac:1194:20dc::2 is already an address of tcptun0/,
          );
          assert.deepEqual(inet6Lines("tcptun1").filter((l) => !l.includes("scope link")), []);
        } finally {
          second.close();
        }
        assert.throws(
          () => openTun({ tunIp: "10.0.1.1", ifname: "tcptun1", tunIp6: TUN_IP6 }),
          (e: unknown) => e instanceof SyscallError && e.code === "EADDRINUSE",
        );
        assert.notEqual(run("ip", "link", "show", "dev", "tcptun1").code, 0, "closed on failure");
        check("a second device with the default pair stays IPv4-only; an explicit one throws");
      }
    } finally {
      tun.close();
    }
  }

  const custom = openTun({
    tunIp: TUN_IP,
    ifname: IFNAME,
    mtu: MTU,
    tunIp6: "FD12:3456:789A::10",
    localIp6: "fd12:3456:789a::20",
  });
  try {
    assert.equal(custom.tunIp6, "fd12:3456:789a::10");
    assert.equal(custom.localIp6, "fd12:3456:789a::20");
    assert.ok(inet6Lines(IFNAME).some((l) => l.startsWith("inet6 fd12:3456:789a::20/128 ")));
    await pingOverTun(custom, "fd12:3456:789a::10", "fd12:3456:789a::20");
    check("an explicit tunIp6/localIp6 pair is configured and reported canonically");
  } finally {
    custom.close();
  }

  const off = openTun({ tunIp: TUN_IP, ifname: IFNAME, mtu: MTU, tunIp6: false });
  try {
    assert.equal(off.tunIp6, undefined);
    assert.equal(off.localIp6, undefined);
    assert.equal(off.ipv6Problem, undefined);
    assert.deepEqual(inet6Lines(IFNAME), [], "no IPv6 address, not even link-local");
    assert.equal(readIpv6Conf(IFNAME, "disable_ipv6"), "1");
    try {
      configureLinuxIpv6(IFNAME, LOCAL_IP6, TUN_IP6);
      assert.fail("IPv6 disabled on the interface: the address must be refused");
    } catch (e) {
      assert.ok(e instanceof SyscallError, String(e));
      assert.equal(e.code, "EACCES");
      assert.match(e.message, /IPv6 is disabled on tcptun0: net\.ipv6\.conf\.tcptun0\./);
    }
    await kernelToDevice(off, buf);
    check("tunIp6: false leaves IPv6 disabled on the interface; IPv4 works; EACCES is explained");
  } finally {
    off.close();
  }

  const small = openTun({ tunIp: TUN_IP, ifname: IFNAME, mtu: 1279 });
  try {
    assert.equal(small.tunIp6, undefined);
    assert.match(small.ipv6Problem ?? "", /below IPv6's minimum link MTU of 1280/);
    assert.deepEqual(inet6Lines(IFNAME), []);
  } finally {
    small.close();
  }
  assert.throws(
    () => openTun({ tunIp: TUN_IP, ifname: IFNAME, mtu: 1279, tunIp6: TUN_IP6 }),
    RangeError,
  );
  check("an MTU below 1280 leaves the default IPv6 out (reported) and refuses an explicit one");
}

function runEperm(): void {
  try {
    const tun = openTun({ tunIp: TUN_IP, ifname: IFNAME });
    tun.close();
    assert.fail("openTun must fail without CAP_NET_ADMIN");
  } catch (e) {
    assert.ok(e instanceof SyscallError, String(e));
    assert.equal(e.code, "EPERM");
    assert.match(e.message, /: (EPERM|EACCES) \(.*\); run as root or with CAP_NET_ADMIN$/);
  }
  check("without CAP_NET_ADMIN openTun fails with code EPERM and a hint");
}

assertFreshNamespace();
disableIpv6();
const mode = Deno.args[0] ?? "all";
if (mode === "eperm") runEperm();
else if (mode === "all") await runAll();
else if (mode === "ipv6") await runIpv6();
else {
  console.error(`unknown mode ${mode}`);
  Deno.exit(2);
}
