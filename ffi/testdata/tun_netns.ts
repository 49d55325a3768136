/**
 * TUN integration checks, run by `ffi/linux_test.ts` through `runInNetns` inside a fresh
 * network namespace. Refuses to run anywhere else. Prints `ok <check>` per check and exits
 * non-zero on the first failure.
 *
 * Usage: `unshare --net deno run -A ffi/testdata/tun_netns.ts [all|eperm]`
 * with `TCPTUN_IN_NETNS=1`.
 * @module
 */

import assert from "node:assert/strict";
import dgram from "node:dgram";
import { openTun, type TunDevice } from "../tun.ts";
import { SyscallError } from "../libc.ts";

const TUN_IP = "10.0.0.1";
const LOCAL_IP = "10.0.0.2";
const IFNAME = "tcptun0";
const MTU = 1400;
const PROBE_PORT = 9999;

const decoder = new TextDecoder();

function ipCmd(...args: string[]): { code: number; out: string } {
  const r = new Deno.Command("ip", { args, stdout: "piped", stderr: "piped" }).outputSync();
  return { code: r.code, out: decoder.decode(r.stdout) + decoder.decode(r.stderr) };
}

/** Refuses to run unless inside the namespace the runner created for us. */
function assertFreshNamespace(): void {
  if (Deno.env.get("TCPTUN_IN_NETNS") !== "1") {
    console.error("refusing to run: not started by runInNetns (TCPTUN_IN_NETNS != 1)");
    Deno.exit(2);
  }
  const links = ipCmd("-o", "link", "show").out.trim().split("\n").filter((l) => l !== "");
  if (links.length !== 1 || !/^\d+: lo:/.test(links[0])) {
    console.error(`refusing to run: this is not a fresh network namespace:\n${links.join("\n")}`);
    Deno.exit(2);
  }
}

/** Keeps the kernel quiet: no IPv6 router solicitations or MLD reports on the new interface. */
function disableIpv6(): void {
  for (const scope of ["all", "default"]) {
    try {
      Deno.writeTextFileSync(`/proc/sys/net/ipv6/conf/${scope}/disable_ipv6`, "1");
    } catch {
      // no IPv6 in this kernel: nothing to quiet
    }
  }
}

function ipv4Checksum(b: Uint8Array, len: number): number {
  let sum = 0;
  for (let i = 0; i < len; i += 2) sum += (b[i] << 8) | b[i + 1];
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

function ipBytes(ip: string): number[] {
  return ip.split(".").map(Number);
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

  const show = ipCmd("-4", "addr", "show", "dev", IFNAME);
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
  assert.equal(ipCmd("link", "show", "dev", autoName).code, 0);
  auto.close();
  assert.notEqual(ipCmd("link", "show", "dev", autoName).code, 0, "interface gone after close");
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
  assert.notEqual(ipCmd("link", "show", "dev", IFNAME).code, 0, "interface gone after close");
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
else {
  console.error(`unknown mode ${mode}`);
  Deno.exit(2);
}
