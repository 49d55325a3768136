import assert from "node:assert/strict";
import {
  emitIcmpDestUnreachable,
  emitIcmpEchoReply,
  ICMP_DEST_UNREACHABLE,
  ICMP_ECHO_REPLY,
  ICMP_ECHO_REQUEST,
  ICMP_UNREACH_FRAG_NEEDED,
  ICMP_UNREACH_PORT,
  IcmpParseError,
  newIcmpMessage,
  parseIcmp,
} from "./icmp.ts";
import { internetChecksum } from "./checksum.ts";
import { LINUX_PACKETS } from "../../tests/vectors/linux_packets.ts";
import { fromHex, toHex } from "../../tests/vectors/util.ts";

function icmpOf(name: string): Uint8Array {
  return fromHex(LINUX_PACKETS.find((p) => p.name === name)!.hex).subarray(20);
}

function fixChecksum(b: Uint8Array): Uint8Array {
  b[2] = 0;
  b[3] = 0;
  const c = internetChecksum(b);
  b[2] = c >>> 8;
  b[3] = c & 0xff;
  return b;
}

Deno.test("icmp: captured echo messages parse to tshark's field values", () => {
  const msg = newIcmpMessage();
  for (const p of LINUX_PACKETS.filter((p) => p.icmp !== undefined)) {
    const f = p.icmp!;
    assert.equal(parseIcmp(icmpOf(p.name), msg), IcmpParseError.None, p.name);
    assert.deepEqual(
      [msg.type, msg.code, msg.id, msg.seq, msg.checksum],
      [f.type, f.code, f.id, f.seq, f.checksum],
      p.name,
    );
    assert.equal(msg.rest, ((f.id << 16) | f.seq) >>> 0);
    assert.equal(toHex(msg.data), f.dataHex, p.name);
  }
});

Deno.test("icmp: the echo reply equals the Linux kernel's reply byte for byte", () => {
  const msg = newIcmpMessage();
  const out = new Uint8Array(128);
  for (
    const [req, rep] of [["icmpEchoRequest", "icmpEchoReply"], [
      "icmpEchoRequestOdd",
      "icmpEchoReplyOdd",
    ]]
  ) {
    assert.equal(parseIcmp(icmpOf(req), msg), IcmpParseError.None);
    assert.equal(msg.type, ICMP_ECHO_REQUEST);
    const n = emitIcmpEchoReply(msg, out);
    assert.equal(toHex(out.subarray(0, n)), toHex(icmpOf(rep)), req);
    assert.equal(out[0], ICMP_ECHO_REPLY);
  }
});

Deno.test("icmp: an echo reply may be written over its own request", () => {
  const msg = newIcmpMessage();
  const buf = icmpOf("icmpEchoRequest").slice();
  assert.equal(parseIcmp(buf, msg), IcmpParseError.None);
  const n = emitIcmpEchoReply(msg, buf);
  assert.equal(toHex(buf.subarray(0, n)), toHex(icmpOf("icmpEchoReply")));
});

Deno.test("icmp: malformed messages are rejected with their reason", async (t) => {
  const msg = newIcmpMessage();
  await t.step("fewer than 8 bytes is TooShort", () => {
    assert.equal(parseIcmp(icmpOf("icmpEchoRequest").subarray(0, 7), msg), IcmpParseError.TooShort);
    assert.equal(parseIcmp(new Uint8Array(0), msg), IcmpParseError.TooShort);
  });
  await t.step("a flipped data bit is BadChecksum", () => {
    const b = icmpOf("icmpEchoRequestOdd").slice();
    b[b.length - 1] ^= 1;
    assert.equal(parseIcmp(b, msg), IcmpParseError.BadChecksum);
    assert.equal(msg.data.length, 0);
  });
  await t.step("an echo request with code 1 is BadCode", () => {
    const b = icmpOf("icmpEchoRequest").slice();
    b[1] = 1;
    assert.equal(parseIcmp(fixChecksum(b), msg), IcmpParseError.BadCode);
  });
  await t.step("other types accept any code", () => {
    const b = new Uint8Array(8);
    b[0] = ICMP_DEST_UNREACHABLE;
    b[1] = 13;
    assert.equal(parseIcmp(fixChecksum(b), msg), IcmpParseError.None);
    assert.equal(msg.data.length, 0);
  });
});

Deno.test("icmp: destination unreachable quotes the IP header and 8 payload bytes", async (t) => {
  const out = new Uint8Array(128);
  const msg = newIcmpMessage();
  const syn = fromHex(LINUX_PACKETS.find((p) => p.name === "synClosedPort")!.hex);
  await t.step("a 60-byte SYN: 20 + 8 bytes quoted", () => {
    const n = emitIcmpDestUnreachable(out, ICMP_UNREACH_PORT, syn);
    assert.equal(n, 8 + 28);
    assert.equal(internetChecksum(out, 0, n), 0);
    assert.equal(parseIcmp(out.subarray(0, n), msg), IcmpParseError.None);
    assert.deepEqual([msg.type, msg.code, msg.rest], [ICMP_DEST_UNREACHABLE, ICMP_UNREACH_PORT, 0]);
    assert.equal(toHex(msg.data), toHex(syn.subarray(0, 28)));
  });
  await t.step("an IP header with options is quoted whole", () => {
    const withOpts = new Uint8Array(44);
    withOpts[0] = 0x46; // 24-byte header
    withOpts.fill(7, 24);
    const n = emitIcmpDestUnreachable(out, 2, withOpts);
    assert.equal(n, 8 + 32);
    assert.equal(toHex(out.subarray(8, n)), toHex(withOpts.subarray(0, 32)));
  });
  await t.step("a short original is quoted as far as it goes", () => {
    const n = emitIcmpDestUnreachable(out, ICMP_UNREACH_PORT, syn.subarray(0, 22));
    assert.equal(n, 8 + 22);
    assert.equal(internetChecksum(out, 0, n), 0);
    assert.equal(emitIcmpDestUnreachable(out, ICMP_UNREACH_PORT, new Uint8Array(0)), 8);
  });
  await t.step("fragmentation needed carries the next-hop MTU", () => {
    const n = emitIcmpDestUnreachable(out, ICMP_UNREACH_FRAG_NEEDED, syn, 1280);
    assert.equal(parseIcmp(out.subarray(0, n), msg), IcmpParseError.None);
    assert.equal(msg.rest, 1280);
  });
});
