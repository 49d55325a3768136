/**
 * A capture `Link` for tests of the stack core, and the IPv4 packets those tests feed it and
 * read back from it: TCP segments and ICMP messages built with the wire codecs, checksums
 * filled. Used only by tests (the leading underscore keeps it out of the published package).
 * @module
 */

import assert from "node:assert/strict";
import type { Link } from "./link.ts";
import { emitIpv4, IPPROTO_TCP, type Ipv4Header, newIpv4Header, parseIpv4 } from "./wire/ipv4.ts";
import { emitTcp, newTcpSegment, parseTcp, type TcpSegment } from "./wire/tcp.ts";
import { internetChecksum } from "./wire/checksum.ts";

/** A link that reads nothing and keeps a copy of every packet written to it. */
export class CaptureLink implements Link {
  readonly mtu: number;
  /** Packets written since the last {@linkcode CaptureLink.take} (tests may also reset it). */
  out: Uint8Array[] = [];
  /** Every packet ever written. */
  readonly all: Uint8Array[] = [];

  constructor(mtu = 1500) {
    this.mtu = mtu;
  }

  read(): number {
    return 0;
  }

  write(p: Uint8Array): void {
    const copy = p.slice();
    this.out.push(copy);
    this.all.push(copy);
  }

  waitReadable(): Promise<void> {
    return Promise.resolve();
  }

  wake(): void {}

  close(): void {}

  /** The packets written since the last call. */
  take(): Uint8Array[] {
    const o = this.out;
    this.out = [];
    return o;
  }
}

/** An IPv4 packet (20-byte header, TTL 64) from `src` to `dst` carrying `payload`. */
export function ipv4Packet(
  src: number,
  dst: number,
  protocol: number,
  payload: Uint8Array,
  id = 1,
): Uint8Array {
  const p = new Uint8Array(20 + payload.length);
  emitIpv4(p, { src, dst, protocol, ttl: 64, id, payloadLength: payload.length });
  p.set(payload, 20);
  return p;
}

/** `seg` from `src` to `dst` in an IPv4 packet, both checksums filled. */
export function tcpIpv4Packet(src: number, dst: number, seg: TcpSegment, id = 1): Uint8Array {
  const buf = new Uint8Array(20 + 60 + seg.payload.length);
  const n = emitTcp(seg, src, dst, buf.subarray(20));
  emitIpv4(buf, { src, dst, protocol: IPPROTO_TCP, ttl: 64, id, payloadLength: n });
  return buf.subarray(0, 20 + n);
}

/**
 * An ICMP message (RFC 792): `type`, `code`, the 32-bit field after the checksum (`rest`: an
 * echo's identifier and sequence, the next-hop MTU of "fragmentation needed"), then `data`;
 * checksum filled.
 */
export function icmpMessage(type: number, code: number, rest: number, data: Uint8Array) {
  const m = new Uint8Array(8 + data.length);
  m[0] = type;
  m[1] = code;
  m[4] = rest >>> 24;
  m[5] = rest >>> 16;
  m[6] = rest >>> 8;
  m[7] = rest;
  m.set(data, 8);
  const sum = internetChecksum(m, 0, m.length);
  m[2] = sum >>> 8;
  m[3] = sum;
  return m;
}

/** Parses an IPv4 packet carrying TCP that the core wrote, asserting both checksums. */
export function parseTcpIpv4(p: Uint8Array): { ip: Ipv4Header; seg: TcpSegment } {
  const ip = newIpv4Header();
  assert.equal(parseIpv4(p, p.length, ip), 0, "a valid IPv4 header");
  assert.equal(ip.protocol, IPPROTO_TCP);
  const seg = newTcpSegment();
  assert.equal(
    parseTcp(p.subarray(ip.ihl, ip.totalLength), ip.src, ip.dst, seg),
    0,
    "a valid TCP segment and checksum",
  );
  return { ip, seg };
}
