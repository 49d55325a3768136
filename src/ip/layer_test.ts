import assert from "node:assert/strict";
import type { IpCounters } from "./counters.ts";
import { IpLayer } from "./layer.ts";
import { TupleHasher } from "../tcp/isn.ts";
import { TokenBucket } from "../tcp/rate_limit.ts";
import { emitIpv4, IPPROTO_TCP } from "../wire/ipv4.ts";
import { emitIpv6, ipv6AddressSum } from "../wire/ipv6.ts";
import { parseIpv6Address } from "../wire/ipv6_address.ts";
import { ACK, emitTcp, emitTcpWithAddressSum, newTcpSegment } from "../wire/tcp.ts";
import { ViewCache } from "../wire/views.ts";

const US = 0x0a000001;
const PEER = 0x0a000002;
const US6 = parseIpv6Address("fd00::1")!;
const PEER6 = parseIpv6Address("fd00::2")!;

/** An IP layer for US and US6 whose transport counts the TCP segments it is handed. */
function rig() {
  // Every counter reads 0 until counted.
  const counters = new Proxy({} as Record<string, unknown>, {
    get: (t, k) => t[k as string] ?? 0,
  }) as unknown as IpCounters;
  const got = { segments: 0, payloadBytes: 0 };
  const ip = new IpLayer({
    addr: US,
    addr6: US6,
    mtu: 1500,
    link: { write() {} },
    frames: false,
    ipId: 1,
    tap: undefined,
    counters,
    views: new ViewCache(),
    transport: {
      tcpInput(seg) {
        got.segments++;
        got.payloadBytes += seg.payload.length;
      },
      icmpError() {},
    },
    icmpBucket: new TokenBucket(10, 10),
    peerKeys: new TupleHasher(new Uint8Array(16)),
    reassembly: {},
  });
  return { ip, got };
}

/** A TCP segment with 1000 payload bytes (an ACK from the peer's port 40000 to 80). */
function segment() {
  const seg = newTcpSegment();
  seg.srcPort = 40000;
  seg.dstPort = 80;
  seg.seq = 1;
  seg.ack = 1;
  seg.flags = ACK;
  seg.window = 65535;
  seg.payload = new Uint8Array(1000).fill(7);
  return seg;
}

/** How many views (`subarray` calls) `f` makes. */
function viewsMadeBy(f: () => void): number {
  const subarray = Uint8Array.prototype.subarray;
  let calls = 0;
  Uint8Array.prototype.subarray = function (this: Uint8Array, start?: number, end?: number) {
    calls++;
    return subarray.call(this, start, end);
  } as typeof subarray;
  try {
    f();
  } finally {
    Uint8Array.prototype.subarray = subarray;
  }
  return calls;
}

Deno.test("ip: a TCP packet read into the one receive buffer makes no view once the buffer is warm, over IPv4 and IPv6", async (t) => {
  await t.step("IPv4", () => {
    const { ip, got } = rig();
    const rx = new Uint8Array(2048); // a driver's receive buffer, longer than the packet
    const n = emitTcp(segment(), PEER, US, rx.subarray(20));
    emitIpv4(rx, { src: PEER, dst: US, protocol: IPPROTO_TCP, ttl: 64, id: 1, payloadLength: n });
    ip.input(rx, 0, 20 + n); // the first packet makes the views later packets reuse
    assert.equal(viewsMadeBy(() => ip.input(rx, 0, 20 + n)), 0);
    assert.deepEqual(got, { segments: 2, payloadBytes: 2000 });
  });
  await t.step("IPv6", () => {
    const { ip, got } = rig();
    const rx = new Uint8Array(2048);
    const n = emitTcpWithAddressSum(segment(), ipv6AddressSum(PEER6, US6), rx.subarray(40));
    emitIpv6(rx, { src: PEER6, dst: US6, nextHeader: IPPROTO_TCP, hopLimit: 64, payloadLength: n });
    ip.input(rx, 0, 40 + n);
    assert.equal(viewsMadeBy(() => ip.input(rx, 0, 40 + n)), 0);
    assert.deepEqual(got, { segments: 2, payloadBytes: 2000 });
  });
});
