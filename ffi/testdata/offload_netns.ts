/**
 * TUN offload checks against the real kernel, run by `ffi/offload_test.ts` through
 * `runInNetns` inside a fresh network namespace. Refuses to run anywhere else. Prints
 * `ok <check>` per check and exits non-zero on the first failure.
 *
 * Usage: `unshare --net deno run -A ffi/testdata/offload_netns.ts <check>...` with
 * `TCPTUN_IN_NETNS=1`; checks: `negotiate`, `ethtool`, `ping`, `tso-rx`, `tso-rx-link`,
 * `tso-tx`, `forward`.
 * @module
 */

import assert from "node:assert/strict";
import { MAX_FRAME_LENGTH, openTun, type TunDevice } from "../tun.ts";
import { ioctl } from "../libc.ts";
import { negotiateVnet, TUN_F_CSUM, TUN_OFFLOADS_WANTED, TUNGETVNETHDRSZ } from "../linux.ts";
import {
  completeVirtioChecksum,
  emitVirtioNetHdr,
  newVirtioNetHdr,
  parseVirtioNetHdr,
  prepareTcpOffload,
  VIRTIO_NET_HDR_F_NEEDS_CSUM,
  VIRTIO_NET_HDR_GSO_NONE,
  VIRTIO_NET_HDR_GSO_TCPV4,
  virtioChecksumTrusted,
  virtioGsoSize,
  type VirtioNetHdr,
  VirtioParseError,
  virtioSegmentCount,
} from "../../src/wire/virtio.ts";
import {
  emitIpv4,
  IPPROTO_ICMP,
  IPPROTO_TCP,
  type Ipv4Header,
  Ipv4ParseError,
  newIpv4Header,
  parseIpv4,
} from "../../src/wire/ipv4.ts";
import {
  ACK,
  emitTcp,
  FIN,
  newTcpSegment,
  parseTcp,
  PSH,
  RST,
  SYN,
  TcpParseError,
  type TcpSegment,
} from "../../src/wire/tcp.ts";
import {
  emitIcmpEchoReply,
  ICMP_ECHO_REQUEST,
  IcmpParseError,
  newIcmpMessage,
  parseIcmp,
} from "../../src/wire/icmp.ts";
import { parseIpv4Address } from "../../src/wire/ipv4.ts";
import { assertFreshNamespace, disableIpv6, run } from "./netns_guard.ts";

const TUN_IP = "10.0.0.1";
const LOCAL_IP = "10.0.0.2";
const IFNAME = "tcptun0";
const MTU = 1500;
const MSS = MTU - 40;
const HDR = 10;
const STACK = parseIpv4Address(TUN_IP)!;
const KERNEL = parseIpv4Address(LOCAL_IP)!;

const decoder = new TextDecoder();

function check(name: string, detail = ""): void {
  console.log(`ok ${name}${detail ? ` (${detail})` : ""}`);
}

/** One received frame, parsed: header, IP header, and (for TCP) the segment. */
interface Frame {
  n: number;
  h: VirtioNetHdr;
  ip: Ipv4Header;
  packet: Uint8Array;
}

/**
 * Reads frames until `accept` takes one, for at most `ms` milliseconds. Every frame must carry
 * a valid virtio-net header and IPv4 header.
 */
async function nextFrame(
  tun: TunDevice,
  buf: Uint8Array,
  ms: number,
  accept: (f: Frame) => boolean,
): Promise<Frame> {
  const deadline = performance.now() + ms;
  const h = newVirtioNetHdr();
  const ip = newIpv4Header();
  while (performance.now() < deadline) {
    const n = tun.readFrame(buf);
    if (n === 0) {
      await tun.waitReadable(Math.max(1, deadline - performance.now()));
      continue;
    }
    assert.equal(parseVirtioNetHdr(buf, n, h), VirtioParseError.None, `header ${buf[0]} ${buf[1]}`);
    const packet = buf.subarray(HDR, n);
    assert.equal(parseIpv4(packet, packet.length, ip), Ipv4ParseError.None);
    const f = { n, h, ip, packet };
    if (accept(f)) return f;
  }
  throw new Error(`no matching frame within ${ms} ms`);
}

/** Parses the TCP part of a received frame, as a stack would: trusting what the header says. */
function tcpOf(f: Frame, seg: TcpSegment): void {
  const tcp = f.packet.subarray(f.ip.ihl, f.ip.totalLength);
  const verify = !virtioChecksumTrusted(f.h);
  assert.equal(parseTcp(tcp, f.ip.src, f.ip.dst, seg, verify), TcpParseError.None);
}

/** Completes a partial checksum the kernel's way and checks that it then verifies. */
function assertCompletes(f: Frame): void {
  const len = f.ip.totalLength;
  completeVirtioChecksum(f.packet, len, f.h);
  const seg = newTcpSegment();
  const tcp = f.packet.subarray(f.ip.ihl, len);
  assert.equal(parseTcp(tcp, f.ip.src, f.ip.dst, seg), TcpParseError.None, "completed checksum");
}

interface TcpOut {
  src: number;
  dst: number;
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  flags: number;
  window?: number;
  mss?: number;
  wscale?: number;
  payload?: Uint8Array;
}

/**
 * Emits an IPv4/TCP packet at `out[10..)` and a virtio-net header before it: with `offloadMss`
 * the kernel completes the checksum and cuts super-segments at that size; without, the packet
 * is complete and the header zero. Returns the frame length.
 */
function emitFrame(out: Uint8Array, t: TcpOut, offloadMss?: number, ipId = 0): number {
  const seg = newTcpSegment();
  seg.srcPort = t.srcPort;
  seg.dstPort = t.dstPort;
  seg.seq = t.seq >>> 0;
  seg.ack = t.ack >>> 0;
  seg.flags = t.flags;
  seg.window = t.window ?? 65535;
  seg.options.mss = t.mss ?? -1;
  seg.options.wscale = t.wscale ?? -1;
  seg.payload = t.payload ?? new Uint8Array(0);
  const tcpLength = emitTcp(seg, t.src, t.dst, out.subarray(HDR + 20));
  emitIpv4(out.subarray(HDR), {
    src: t.src,
    dst: t.dst,
    protocol: IPPROTO_TCP,
    ttl: 64,
    id: ipId,
    payloadLength: tcpLength,
  });
  const h = newVirtioNetHdr();
  if (offloadMss !== undefined) {
    assert.equal(prepareTcpOffload(out.subarray(HDR), 20 + tcpLength, 20, offloadMss, h), 0);
  }
  emitVirtioNetHdr(out, h);
  return HDR + 20 + tcpLength;
}

function vnetHdrSize(fd: number): number {
  const size = new Uint8Array(4);
  ioctl(fd, TUNGETVNETHDRSZ, size, "TUNGETVNETHDRSZ");
  return new DataView(size.buffer).getInt32(0, true);
}

function ethtoolFeatures(ifname: string): Map<string, string> {
  const r = run("ethtool", "-k", ifname);
  assert.equal(r.code, 0, r.out);
  const features = new Map<string, string>();
  for (const line of r.out.split("\n")) {
    const m = /^\s*([a-z0-9-]+): (on|off)/.exec(line);
    if (m) features.set(m[1], m[2]);
  }
  return features;
}

function openOffloading(ifname = IFNAME, tunIp = TUN_IP): TunDevice {
  const tun = openTun({ tunIp, ifname, mtu: MTU, offload: true });
  assert.equal(tun.vnetHdr, true, "IFF_VNET_HDR accepted");
  assert.equal(tun.framing, "vnet");
  return tun;
}

function checkNegotiate(withEthtool: boolean): void {
  const tun = openOffloading();
  try {
    assert.deepEqual(tun.offloads, { csum: true, tso4: true, tso6: true });
    assert.equal(vnetHdrSize(tun.fd), 10);
    check("IFF_VNET_HDR, TUNSETVNETHDRSZ 10 and TUNSETOFFLOAD CSUM|TSO4|TSO6 are accepted");
    if (withEthtool) {
      const f = ethtoolFeatures(IFNAME);
      assert.equal(f.get("tx-checksumming"), "on", "tx-checksumming");
      assert.equal(f.get("tcp-segmentation-offload"), "on", "tcp-segmentation-offload");
      assert.equal(f.get("tx-tcp-segmentation"), "on");
      assert.equal(f.get("tx-tcp6-segmentation"), "on");
    }
    // A real refusal: an offload bit the kernel does not know (EINVAL) makes negotiateVnet
    // fall back to checksum offload alone.
    const fallback = negotiateVnet(tun.fd, TUN_OFFLOADS_WANTED | 0x40000000);
    assert.deepEqual(fallback, { csum: true, tso4: false, tso6: false });
    if (withEthtool) {
      const f = ethtoolFeatures(IFNAME);
      assert.equal(f.get("tx-checksumming"), "on");
      assert.equal(f.get("tcp-segmentation-offload"), "off", "TSO is off after the fallback");
      check("ethtool -k shows tx-checksumming and TSO on, and TSO off after the fallback");
    }
    assert.deepEqual(negotiateVnet(tun.fd, TUN_F_CSUM), { csum: true, tso4: false, tso6: false });
    check("a refused TUNSETOFFLOAD falls back to TUN_F_CSUM alone");
  } finally {
    tun.close();
  }
  const plain = openTun({ tunIp: TUN_IP, ifname: IFNAME, mtu: MTU });
  try {
    assert.equal(plain.vnetHdr, false);
    assert.deepEqual(plain.offloads, { csum: false, tso4: false, tso6: false });
    check("without offload: no vnet header, no offloads reported");
  } finally {
    plain.close();
  }
}

async function checkPing(): Promise<void> {
  const tun = openOffloading();
  const buf = new Uint8Array(MAX_FRAME_LENGTH);
  const out = new Uint8Array(HDR + MTU);
  const icmp = newIcmpMessage();
  try {
    // Through frames: the request arrives behind a zero header, the reply leaves behind one.
    const ping = new Deno.Command("ping", {
      args: ["-c", "1", "-W", "5", "-s", "100", TUN_IP],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const f = await nextFrame(tun, buf, 5000, (f) => f.ip.protocol === IPPROTO_ICMP);
    assert.equal(f.h.flags, 0, "ICMP is checksummed by ping itself");
    assert.equal(f.h.gsoType, VIRTIO_NET_HDR_GSO_NONE);
    const body = f.packet.subarray(f.ip.ihl, f.ip.totalLength);
    assert.equal(parseIcmp(body, icmp), IcmpParseError.None);
    assert.equal(icmp.type, ICMP_ECHO_REQUEST);
    assert.equal(icmp.data.length, 100);
    const icmpLength = emitIcmpEchoReply(icmp, out.subarray(HDR + 20));
    emitIpv4(out.subarray(HDR), {
      src: STACK,
      dst: KERNEL,
      protocol: IPPROTO_ICMP,
      ttl: 64,
      id: 1,
      payloadLength: icmpLength,
    });
    emitVirtioNetHdr(out, newVirtioNetHdr());
    tun.writeFrame(out, HDR + 20 + icmpLength);
    const status = await ping.output();
    assert.equal(status.code, 0, decoder.decode(status.stdout) + decoder.decode(status.stderr));
    check("ping: the echo request is read with a zero header, the reply written with one");

    // Through the Link methods on the same device: read() strips, write() prepends.
    const again = new Deno.Command("ping", {
      args: ["-c", "1", "-W", "5", TUN_IP],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const packet = new Uint8Array(MTU);
    const ip = newIpv4Header();
    let n = 0;
    const deadline = performance.now() + 5000;
    while (performance.now() < deadline) {
      n = tun.read(packet);
      if (n > 0 && parseIpv4(packet, n, ip) === 0 && ip.protocol === IPPROTO_ICMP) break;
      n = 0;
      await tun.waitReadable(100);
    }
    assert.ok(n > 0, "no echo request via read()");
    assert.equal(n, ip.totalLength, "read() returns the bare IP packet");
    assert.equal(parseIcmp(packet.subarray(20, n), icmp), IcmpParseError.None);
    const reply = new Uint8Array(n);
    const len = emitIcmpEchoReply(icmp, reply.subarray(20));
    emitIpv4(reply, {
      src: STACK,
      dst: KERNEL,
      protocol: IPPROTO_ICMP,
      ttl: 64,
      id: 2,
      payloadLength: len,
    });
    tun.write(reply.subarray(0, 20 + len));
    const status2 = await again.output();
    assert.equal(status2.code, 0, decoder.decode(status2.stdout));
    assert.equal(tun.vnetErrors + tun.writeErrors + tun.droppedWrites, 0);
    check("ping: plain read() and write() work unchanged on an offloading device");
  } finally {
    tun.close();
  }
}

/** The kernel sends TCP super-segments: a kernel client writes 256 KiB to a hand-made peer. */
async function checkTsoRx(): Promise<void> {
  const tun = openOffloading();
  const buf = new Uint8Array(MAX_FRAME_LENGTH);
  const out = new Uint8Array(HDR + MTU);
  const seg = newTcpSegment();
  const total = 256 * 1024;
  const data = new Uint8Array(total).map((_, i) => (i * 7 + (i >>> 11)) & 0xff);
  const port = 5001;
  const client = (async () => {
    const conn = await Deno.connect({ hostname: TUN_IP, port });
    for (let off = 0; off < total;) off += await conn.write(data.subarray(off));
    conn.close();
  })();
  try {
    const syn = await nextFrame(tun, buf, 5000, (f) => f.ip.protocol === IPPROTO_TCP);
    tcpOf(syn, seg);
    assert.equal(seg.flags & (SYN | ACK), SYN);
    assert.equal(seg.dstPort, port);
    const partialSyn = (syn.h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) !== 0;
    if (partialSyn) {
      assert.equal(syn.h.csumStart, 20);
      assert.equal(syn.h.csumOffset, 16);
      assertCompletes(syn);
    }
    const clientPort = seg.srcPort;
    let rcvNxt = (seg.seq + 1) >>> 0;
    const iss = 0x10000000;
    const reply = (flags: number, mss?: number, wscale?: number) =>
      tun.writeFrame(
        out,
        emitFrame(out, {
          src: STACK,
          dst: KERNEL,
          srcPort: port,
          dstPort: clientPort,
          seq: flags & SYN ? iss : iss + 1,
          ack: rcvNxt,
          flags,
          mss,
          wscale,
        }, MSS), // checksum offload on our side too: the kernel completes it
      );
    reply(SYN | ACK, MSS, 7);

    const received = new Uint8Array(total);
    let bytes = 0;
    let frames = 0;
    let gsoFrames = 0;
    let biggest = 0;
    let segments = 0;
    let partial = 0;
    for (let fin = false; !fin;) {
      const f = await nextFrame(
        tun,
        buf,
        10_000,
        (f) => f.ip.protocol === IPPROTO_TCP && f.ip.dst === STACK,
      );
      tcpOf(f, seg);
      assert.equal(seg.flags & RST, 0, "no reset");
      if ((f.h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) !== 0) partial++;
      const len = seg.payload.length;
      if (len > 0) {
        frames++;
        segments += virtioSegmentCount(f.h, len);
        if (virtioGsoSize(f.h) > 0) {
          gsoFrames++;
          assert.equal(f.h.gsoType, VIRTIO_NET_HDR_GSO_TCPV4);
          assert.equal(f.h.gsoSize, MSS, "gso_size is the MSS");
          assert.equal(f.h.csumStart, 20);
          assert.equal(f.h.csumOffset, 16);
          biggest = Math.max(biggest, f.ip.totalLength);
        } else {
          assert.ok(len <= MSS, `a ${len}-byte segment without GSO`);
        }
        if (seg.seq === rcvNxt) {
          received.set(seg.payload, bytes);
          bytes += len;
          rcvNxt = (rcvNxt + len) >>> 0;
        }
        if (gsoFrames === 1 && virtioGsoSize(f.h) > 0) assertCompletes(f); // after copying
      }
      if ((seg.flags & FIN) !== 0 && seg.seq + len === rcvNxt) {
        rcvNxt = (rcvNxt + 1) >>> 0;
        fin = true;
      }
      reply(ACK);
    }
    await client;
    assert.equal(bytes, total);
    assert.deepEqual(received, data, "the bytes arrive in order, intact");
    assert.ok(gsoFrames > 0, `no super-segment among ${frames} data frames`);
    assert.ok(biggest > MTU, `largest super-segment ${biggest} bytes`);
    assert.ok(partial > 0, "partial checksums were used");
    check(
      "the kernel sends TCPv4 super-segments with gso_size = MSS and partial checksums",
      `${frames} data frames for ${segments} segments, ${gsoFrames} GSO, largest ${biggest} B`,
    );
  } finally {
    tun.close();
    await client.catch(() => {});
  }
}

/**
 * The same transfer through the `Link` methods only, as the current stack uses the device:
 * `read()` must hand over complete, MSS-sized packets although the kernel sends super-segments
 * with partial checksums; `write()` sends bare packets.
 */
async function checkTsoRxLink(): Promise<void> {
  const tun = openOffloading();
  const buf = new Uint8Array(65536);
  const frame = new Uint8Array(HDR + MTU);
  const ip = newIpv4Header();
  const seg = newTcpSegment();
  const total = 256 * 1024;
  const data = new Uint8Array(total).map((_, i) => (i * 3 + (i >>> 9)) & 0xff);
  const port = 5003;
  const client = (async () => {
    const conn = await Deno.connect({ hostname: TUN_IP, port });
    for (let off = 0; off < total;) off += await conn.write(data.subarray(off));
    conn.close();
  })();
  /** The next TCP packet for the stack, fully verified (checksums included). */
  const nextPacket = async (): Promise<number> => {
    const deadline = performance.now() + 10_000;
    while (performance.now() < deadline) {
      const n = tun.read(buf);
      if (n === 0) {
        await tun.waitReadable(Math.max(1, deadline - performance.now()));
        continue;
      }
      assert.equal(parseIpv4(buf, n, ip), Ipv4ParseError.None);
      if (ip.protocol !== IPPROTO_TCP || ip.dst !== STACK) continue;
      assert.ok(n <= MTU, `read() returned a ${n}-byte packet`);
      const tcp = buf.subarray(ip.ihl, ip.totalLength);
      assert.equal(parseTcp(tcp, ip.src, ip.dst, seg), TcpParseError.None, "checksum verifies");
      return n;
    }
    throw new Error("no TCP packet within 10 s");
  };
  try {
    await nextPacket();
    assert.equal(seg.flags & (SYN | ACK), SYN);
    const clientPort = seg.srcPort;
    let rcvNxt = (seg.seq + 1) >>> 0;
    const iss = 0x20000000;
    const reply = (flags: number, mss?: number, wscale?: number) => {
      const len = emitFrame(frame, {
        src: STACK,
        dst: KERNEL,
        srcPort: port,
        dstPort: clientPort,
        seq: flags & SYN ? iss : iss + 1,
        ack: rcvNxt,
        flags,
        mss,
        wscale,
      });
      tun.write(frame.subarray(HDR, len)); // a bare packet, complete checksums
    };
    reply(SYN | ACK, MSS, 7);
    const received = new Uint8Array(total);
    let bytes = 0;
    let packets = 0;
    for (let fin = false; !fin;) {
      await nextPacket();
      assert.equal(seg.flags & RST, 0, "no reset");
      const len = seg.payload.length;
      if (len > 0) {
        packets++;
        assert.ok(len <= MSS, `a ${len}-byte segment`);
        if (seg.seq === rcvNxt) {
          received.set(seg.payload, bytes);
          bytes += len;
          rcvNxt = (rcvNxt + len) >>> 0;
        }
      }
      if ((seg.flags & FIN) !== 0 && seg.seq + len === rcvNxt) {
        rcvNxt = (rcvNxt + 1) >>> 0;
        fin = true;
      }
      reply(ACK);
    }
    await client;
    assert.deepEqual(received, data, "the bytes arrive in order, intact");
    assert.ok(tun.softwareSegmented > 0, "the kernel sent super-segments, cut by read()");
    assert.equal(tun.vnetErrors, 0);
    check(
      "plain read() cuts the kernel's super-segments into complete MSS-sized packets",
      `${packets} packets from ${tun.softwareSegmented} super-segments`,
    );
  } finally {
    tun.close();
    await client.catch(() => {});
  }
}

/** Our super-segment, written with a TSO header, reaches a kernel socket whole. */
async function checkTsoTx(): Promise<void> {
  const tun = openOffloading();
  const buf = new Uint8Array(MAX_FRAME_LENGTH);
  const port = 5002;
  const listener = Deno.listen({ hostname: LOCAL_IP, port });
  const payload = new Uint8Array(10 * 1000).map((_, i) => (i * 11 + 3) & 0xff);
  const accepted = (async () => {
    const conn = await listener.accept();
    const got = new Uint8Array(payload.length);
    let n = 0;
    while (n < got.length) {
      const r = await conn.read(got.subarray(n));
      if (r === null) break;
      n += r;
    }
    conn.close();
    return got.subarray(0, n);
  })();
  const seg = newTcpSegment();
  try {
    const iss = 0x7ffffff0;
    const out = new Uint8Array(HDR + 20 + 24 + payload.length);
    const base = { src: STACK, dst: KERNEL, srcPort: 40001, dstPort: port };
    tun.writeFrame(out, emitFrame(out, { ...base, seq: iss, ack: 0, flags: SYN, mss: 1000 }, 1000));
    const synAck = await nextFrame(tun, buf, 5000, (f) => f.ip.protocol === IPPROTO_TCP);
    tcpOf(synAck, seg);
    assert.equal(seg.flags, SYN | ACK);
    assert.equal(seg.ack, iss + 1);
    assert.equal(seg.options.mss, MSS);
    const ack = (seg.seq + 1) >>> 0;
    tun.writeFrame(out, emitFrame(out, { ...base, seq: iss + 1, ack, flags: ACK }, 1000));
    const len = emitFrame(
      out,
      { ...base, seq: iss + 1, ack, flags: ACK | PSH, payload },
      1000, // the MSS we announced: ten segments of 1000 bytes
      7,
    );
    assert.equal(out[1], VIRTIO_NET_HDR_GSO_TCPV4);
    tun.writeFrame(out, len);
    assert.equal(tun.writeErrors + tun.droppedWrites, 0, tun.lastError);
    const got = await accepted;
    assert.deepEqual(got, payload, "the kernel socket reads the super-segment's bytes");
    const acked = await nextFrame(tun, buf, 5000, (f) => {
      tcpOf(f, seg);
      return seg.ack === ((iss + 1 + payload.length) >>> 0);
    });
    assert.ok(acked);
    check("a TCPv4 super-segment written with a TSO header reaches a kernel socket whole");
  } finally {
    listener.close();
    tun.close();
    await accepted.catch(() => {});
  }
}

/** The kernel cuts our super-segment into MSS-sized packets when forwarding it. */
async function checkForward(): Promise<void> {
  Deno.writeTextFileSync("/proc/sys/net/ipv4/ip_forward", "1");
  const tun = openOffloading();
  const egress = openTun({ tunIp: "10.0.1.1", ifname: "tcptun1", mtu: MTU }); // no offloads
  try {
    const route = run("ip", "route", "add", "10.0.9.0/24", "dev", "tcptun1");
    assert.equal(route.code, 0, route.out);
    const dst = parseIpv4Address("10.0.9.9")!;
    const mss = 1000;
    const payload = new Uint8Array(5 * mss - 300).map((_, i) => (i * 5 + 1) & 0xff);
    const out = new Uint8Array(HDR + 40 + payload.length);
    const seq = 0xfffff000;
    const len = emitFrame(out, {
      src: STACK,
      dst,
      srcPort: 33333,
      dstPort: 80,
      seq,
      ack: 1,
      flags: ACK | PSH,
      payload,
    }, mss);
    tun.writeFrame(out, len);
    const buf = new Uint8Array(MTU);
    const ip = newIpv4Header();
    const seg = newTcpSegment();
    let offset = 0;
    let packets = 0;
    const deadline = performance.now() + 5000;
    while (offset < payload.length && performance.now() < deadline) {
      const n = egress.read(buf);
      if (n === 0) {
        await egress.waitReadable(200);
        continue;
      }
      if (parseIpv4(buf, n, ip) !== 0 || ip.protocol !== IPPROTO_TCP || ip.dst !== dst) continue;
      const tcp = buf.subarray(20, ip.totalLength);
      assert.equal(parseTcp(tcp, ip.src, ip.dst, seg), TcpParseError.None, "checksum complete");
      assert.equal(seg.seq, (seq + offset) >>> 0);
      const last = offset + seg.payload.length === payload.length;
      assert.equal(seg.payload.length, last ? payload.length - 4 * mss : mss);
      assert.equal(seg.flags, last ? ACK | PSH : ACK, "PSH on the last segment only");
      assert.equal(ip.ttl, 63, "forwarded");
      assert.deepEqual(seg.payload, payload.subarray(offset, offset + seg.payload.length));
      offset += seg.payload.length;
      packets++;
    }
    assert.equal(offset, payload.length, `received ${offset} of ${payload.length} bytes`);
    assert.equal(packets, 5);
    check(
      "the kernel cuts a written super-segment into MSS-sized packets (forwarded)",
      "5 x ≤1000 B",
    );
  } finally {
    egress.close();
    tun.close();
  }
}

assertFreshNamespace();
disableIpv6();
const checks = new Set(Deno.args);
const known = ["negotiate", "ethtool", "ping", "tso-rx", "tso-rx-link", "tso-tx", "forward"];
for (const c of checks) {
  if (!known.includes(c)) {
    console.error(`unknown check ${c}; known: ${known.join(" ")}`);
    Deno.exit(2);
  }
}
if (checks.has("negotiate")) checkNegotiate(checks.has("ethtool"));
if (checks.has("ping")) await checkPing();
if (checks.has("tso-rx")) await checkTsoRx();
if (checks.has("tso-rx-link")) await checkTsoRxLink();
if (checks.has("tso-tx")) await checkTsoTx();
if (checks.has("forward")) await checkForward();
