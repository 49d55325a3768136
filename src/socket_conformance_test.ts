// RFC 9293 Appendix B requirements checked through the public socket API: two stacks joined by
// an in-memory link, in real time. Each test is named after the labels it checks;
// `scripts/conformance.ts` builds docs/conformance.md from these names.
import assert from "node:assert/strict";
import { openStack } from "./stack.ts";
import { createMemoryLinkPair } from "./link.ts";
import { IPPROTO_TCP } from "./wire/ipv4.ts";

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
