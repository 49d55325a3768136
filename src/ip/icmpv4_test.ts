import assert from "node:assert/strict";
import { Icmpv4Handler } from "./icmpv4.ts";
import { IpOutput } from "./output.ts";
import type { QuotedTcpError } from "./transport.ts";
import { TokenBucket } from "../tcp/rate_limit.ts";
import { writeU16 } from "../wire/bytes.ts";
import { internetChecksum } from "../wire/checksum.ts";
import { emitIpv4, IPPROTO_TCP, IPPROTO_UDP } from "../wire/ipv4.ts";
import { ViewCache } from "../wire/views.ts";

const US = 0x0a000001;
const PEER = 0x0a000002;
const ROUTER = 0x0a0000fe;

/** A handler whose transport records every error it is handed (copied: the fields are reused). */
function rig() {
  const counters = {
    packetsOut: 0,
    superSegmentsOut: 0,
    icmpIgnored: 0,
    icmpEchoReplies: 0,
    icmpRateLimited: 0,
    icmpErrorsSent: 0,
  };
  const out = new IpOutput({
    link: { write() {} },
    frames: false,
    addr: US,
    addr6: null,
    mtu: 1500,
    ipId: 1,
    tap: undefined,
    counters,
    views: new ViewCache(),
  });
  const errors: QuotedTcpError[] = [];
  const icmp = new Icmpv4Handler(US, 1500, counters, out, new TokenBucket(10, 10), {
    tcpInput() {},
    icmpError: (e) => void errors.push({ ...e }),
  });
  return { icmp, counters, errors };
}

/**
 * An ICMP error `type`/`code` (second word `rest`) quoting the first 28 bytes of a packet of
 * `totalLength` we sent (`src` → PEER, ports 40000 → 80, sequence 1000).
 */
function icmpError(
  type: number,
  code: number,
  rest = 0,
  o: { src?: number; protocol?: number; totalLength?: number; fragOffset?: number } = {},
): Uint8Array {
  const m = new Uint8Array(8 + 28);
  m[0] = type;
  m[1] = code;
  writeU16(m, 6, rest);
  const q = m.subarray(8);
  emitIpv4(q, {
    src: o.src ?? US,
    dst: PEER,
    protocol: o.protocol ?? IPPROTO_TCP,
    ttl: 64,
    id: 1,
    payloadLength: (o.totalLength ?? 1500) - 20,
  });
  if (o.fragOffset) writeU16(q, 6, o.fragOffset);
  q.set([0x9c, 0x40, 0x00, 0x50, 0, 0, 0x03, 0xe8], 20);
  writeU16(m, 2, internetChecksum(m, 0, m.length));
  return m;
}

Deno.test("icmpv4: each error type and code reaches TCP as what it means (RFC 1122 §4.2.3.9)", () => {
  const cases: [number, number, string][] = [
    [3, 0, "network-unreachable"],
    [3, 1, "host-unreachable"],
    [3, 2, "protocol-unreachable"],
    [3, 3, "port-unreachable"],
    [3, 5, "host-unreachable"],
    [3, 6, "network-unreachable"],
    [3, 10, "prohibited"],
    [3, 11, "network-unreachable"],
    [3, 13, "prohibited"],
    [4, 0, "source-quench"],
    [11, 0, "time-exceeded"],
    [11, 1, "time-exceeded"],
    [12, 0, "parameter-problem"],
  ];
  for (const [type, code, kind] of cases) {
    const { icmp, counters, errors } = rig();
    icmp.input(icmpError(type, code), ROUTER, 0);
    assert.equal(counters.icmpIgnored, 0, `${type}/${code}`);
    assert.equal(errors.length, 1, `${type}/${code}`);
    const e = errors[0];
    assert.equal(e.kind, kind, `${type}/${code}`);
    assert.deepEqual(
      [e.remote, e.remote6, e.localPort, e.remotePort, e.seq],
      [PEER, null, 40000, 80, 1000],
      `${type}/${code}: the quoted segment`,
    );
  }
});

Deno.test("icmpv4: RFC 1191 §4 fragmentation needed carries the next-hop MTU; §5 an old router's 0 means the plateau below the quoted length", () => {
  const cases: [number, number, number][] = [
    // [MTU in the message, quoted Total Length, MTU believed]
    [1400, 1500, 1400],
    [0, 1500, 1492],
    [0, 1492, 1006],
    [0, 1006, 508],
    [0, 9000, 8166],
  ];
  for (const [mtu, totalLength, want] of cases) {
    const { icmp, errors } = rig();
    icmp.input(icmpError(3, 4, mtu, { totalLength }), ROUTER, 0);
    assert.equal(errors.length, 1);
    const e = errors[0];
    assert.equal(e.kind, "packet-too-big");
    assert.equal(e.mtu, want, `MTU ${mtu}, quoted length ${totalLength}`);
    assert.equal(e.headerBytes, 40);
    assert.equal(e.floorMtu, 576);
  }
});

Deno.test("icmpv4: errors that quote no segment of ours are counted and go no further", () => {
  const ignored: [string, Uint8Array][] = [
    ["another host's segment", icmpError(3, 1, 0, { src: 0x0a000003 })],
    ["a UDP datagram", icmpError(3, 3, 0, { protocol: IPPROTO_UDP })],
    ["a fragment other than the first", icmpError(3, 1, 0, { fragOffset: 185 })],
    ["a quote cut short", icmpError(3, 1).subarray(0, 8 + 27)],
    ["a redirect (not an error TCP acts on)", icmpError(5, 1)],
  ];
  for (const [what, m] of ignored) {
    const { icmp, counters, errors } = rig();
    // A quote cut short needs its checksum again to get past parseIcmp.
    writeU16(m, 2, 0);
    writeU16(m, 2, internetChecksum(m, 0, m.length));
    icmp.input(m, ROUTER, 0);
    assert.equal(errors.length, 0, what);
    assert.equal(counters.icmpIgnored, 1, what);
  }
});
