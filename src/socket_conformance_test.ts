// RFC 9293 Appendix B requirements checked through the public socket API: two stacks joined by
// an in-memory link, in real time. Each test is named after the labels it checks;
// `scripts/conformance.ts` builds docs/conformance.md from these names.
import assert from "node:assert/strict";
import { openStack } from "./stack.ts";
import { createMemoryLinkPair } from "./link.ts";
import { emitIpv4, IPPROTO_ICMP, IPPROTO_TCP } from "./wire/ipv4.ts";
import { internetChecksum } from "./wire/checksum.ts";

Deno.test("stack: SHLD-21 the application changes the Diffserv field of an open connection", async () => {
  const [la, lb] = createMemoryLinkPair({ mtu: 1500 });
  /** The TOS byte of every TCP packet the client's stack writes, in order. */
  const tos: number[] = [];
  const a = await openStack({
    tunIp: "10.9.0.1",
    peerIp: "10.9.0.2",
    link: la,
    mslMs: 50,
    tap: (dir, p) => {
      if (dir === "out" && p[9] === IPPROTO_TCP) tos.push(p[1]);
    },
  });
  const b = await openStack({ tunIp: "10.9.0.2", peerIp: "10.9.0.1", link: lb, mslMs: 50 });
  try {
    const listener = b.listen({ port: 7000 });
    const accepted = listener.accept();
    const client = await a.connect({ hostname: "10.9.0.2", port: 7000, tos: 0x28 });
    const server = await accepted;
    // The server says goodbye first, so that the client ends in LAST-ACK, not TIME-WAIT.
    await server.writable.close();
    const r = client.readable.getReader();
    assert.equal((await r.read()).done, true);
    r.releaseLock();
    const before = tos.length;
    assert.ok(before >= 3, "SYN, ACK, ACK of the FIN");
    assert.deepEqual(tos, new Array(before).fill(0x28));

    client.setTos(0xb8); // EF, mid-connection
    const w = client.writable.getWriter();
    await w.write(new Uint8Array(50_000).fill(7));
    await w.close();
    let got = 0;
    for await (const chunk of server.readable) got += chunk.length;
    assert.equal(got, 50_000);
    await Promise.all([client.closed, server.closed]);

    const after = tos.slice(before);
    assert.ok(after.length >= 30, `${after.length} segments after the change`);
    assert.deepEqual(after, new Array(after.length).fill(0xb8));
    assert.throws(() => client.setTos(256), RangeError);
    listener.close();
  } finally {
    await Promise.all([a.close(500), b.close(500)]);
  }
});

Deno.test("stack: MUST-47 SHLD-20 an ICMP soft error about data in flight is reported as a softerror event, to listeners only", async () => {
  // A 30 ms link each way keeps data in flight long enough for a router's error to quote it.
  const [la, lb] = createMemoryLinkPair({ mtu: 1500, faults: { seed: 1, delayMs: 30 } });
  let firstData: Uint8Array | null = null;
  const a = await openStack({
    tunIp: "10.9.0.1",
    peerIp: "10.9.0.2",
    link: la,
    mslMs: 50,
    tap: (dir, p) => {
      const ihl = (p[0] & 0x0f) * 4;
      const dataOffset = (p[ihl + 12] >> 4) * 4;
      const len = ((p[2] << 8) | p[3]) - ihl - dataOffset;
      if (dir === "out" && p[9] === IPPROTO_TCP && len > 0 && !firstData) firstData = p.slice();
    },
  });
  const b = await openStack({ tunIp: "10.9.0.2", peerIp: "10.9.0.1", link: lb, mslMs: 50 });
  /** ICMP host unreachable (type 3 code 1) from a router, quoting `quoted`'s first 28 bytes. */
  const hostUnreachable = (quoted: Uint8Array): Uint8Array => {
    const icmp = new Uint8Array(8 + 28);
    icmp[0] = 3;
    icmp[1] = 1;
    icmp.set(quoted.subarray(0, 28), 8);
    const c = internetChecksum(icmp, 0, icmp.length);
    icmp[2] = c >>> 8;
    icmp[3] = c;
    const p = new Uint8Array(20 + icmp.length);
    emitIpv4(p, {
      src: 0x0a0900fe,
      dst: 0x0a090001,
      protocol: IPPROTO_ICMP,
      ttl: 64,
      id: 9,
      payloadLength: icmp.length,
    });
    p.set(icmp, 20);
    return p;
  };
  try {
    const listener = b.listen({ port: 7001 });
    const accepted = listener.accept();
    const client = await a.connect({ hostname: "10.9.0.2", port: 7001 });
    const server = await accepted;
    client.setNoDelay(true); // the second write goes out at once too, not after an ACK
    const reports: string[] = [];
    const onSoftError = () => reports.push(String(client.softError));
    client.addEventListener("softerror", onSoftError);
    const w = client.writable.getWriter();
    await w.write(new Uint8Array(1000).fill(1));
    assert.ok(firstData, "the data segment went out");
    // While it is in flight (its ACK is 60 ms away), a router reports the host unreachable.
    a.core.input(hostUnreachable(firstData!), a.core.now());
    assert.deepEqual(reports, ["host-unreachable"], "reported at once, asynchronously");
    // With no listener, no report: the application turned them off.
    client.removeEventListener("softerror", onSoftError);
    firstData = null;
    await w.write(new Uint8Array(1000).fill(2));
    a.core.input(hostUnreachable(firstData!), a.core.now());
    assert.equal(reports.length, 1);
    // The connection goes on: a soft error is no reason to fail (MUST-56).
    await w.close();
    let got = 0;
    for await (const chunk of server.readable) got += chunk.length;
    assert.equal(got, 2000);
    await server.writable.close();
    await Promise.all([client.closed, server.closed]);
    listener.close();
  } finally {
    await Promise.all([a.close(500), b.close(500)]);
  }
});
