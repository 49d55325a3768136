// The library's IPv6 surface (RFC 8200) above the core: openStack's options, host parsing in
// connect, listen by family, the addresses listeners and connections report. Stacks run on
// in-memory links: no kernel, no root.
import assert from "node:assert/strict";
import { companionAddress6, openStack, parseHostAddress, type TcpStack } from "./stack.ts";
import { createMemoryLinkPair } from "./link.ts";
import { formatIpv6Address, parseIpv6Address } from "./wire/ipv6_address.ts";
import type { TcpConn } from "./socket.ts";

async function stack(opts: { tunIp6?: string | false; peerIp6?: string; mtu?: number } = {}) {
  const [la] = createMemoryLinkPair({ mtu: opts.mtu ?? 1500 });
  return await openStack({ tunIp: "10.9.0.1", link: la, ...opts });
}

Deno.test("stack ipv6: host text is IPv4, IPv6 bare or in brackets (RFC 3986 §3.2.2)", () => {
  assert.equal(parseHostAddress("10.0.0.2"), 0x0a000002);
  const v6 = { w0: 0xfdac1194, w1: 0x20dc0000, w2: 0, w3: 2 };
  assert.deepEqual(parseHostAddress("fdac:1194:20dc::2"), v6);
  assert.deepEqual(parseHostAddress("[fdac:1194:20dc::2]"), v6);
  assert.deepEqual(parseHostAddress("FDAC:1194:20DC:0:0:0:0:2"), v6);
  assert.deepEqual(parseHostAddress("::ffff:10.0.0.2"), {
    w0: 0,
    w1: 0,
    w2: 0xffff,
    w3: 0x0a000002,
  });
  for (
    const bad of ["", "[]", "[10.0.0.2]", "[fd00::1", "fd00::1]", "localhost", "10.0.0", "1::2::3"]
  ) {
    assert.equal(parseHostAddress(bad), null, bad);
  }
});

Deno.test("stack ipv6: the companion address is the last byte ± 1, as for IPv4", () => {
  const c = (s: string) => formatIpv6Address(companionAddress6(parseIpv6Address(s)!));
  assert.equal(c("fdac:1194:20dc::1"), "fdac:1194:20dc::2");
  assert.equal(c("fd00::fe"), "fd00::ff");
  assert.equal(c("fd00::ff"), "fd00::fe");
  assert.equal(c("fd00::1:ffff"), "fd00::1:fffe");
});

Deno.test("stack ipv6: on a link IPv6 is off unless tunIp6 is given", async (t) => {
  await t.step("default: IPv4 only, no problem to report", async () => {
    const s = await stack();
    assert.deepEqual([s.tunIp6, s.peerIp6, s.ipv6Problem], [undefined, undefined, undefined]);
    assert.equal(s.core.addr6, null);
    await s.close(0);
  });
  await t.step("tunIp6 false: the same", async () => {
    const s = await stack({ tunIp6: false });
    assert.equal(s.tunIp6, undefined);
    await s.close(0);
  });
  await t.step("tunIp6: canonical text, the core owns it, the peer is its companion", async () => {
    const s = await stack({ tunIp6: "FD00:0:0::1" });
    assert.deepEqual([s.tunIp6, s.peerIp6, s.ipv6Problem], ["fd00::1", "fd00::2", undefined]);
    assert.deepEqual(s.core.addr6, parseIpv6Address("fd00::1"));
    await s.close(0);
  });
  await t.step("peerIp6 names another peer", async () => {
    const s = await stack({ tunIp6: "fd00::1", peerIp6: "fd00::99" });
    assert.equal(s.peerIp6, "fd00::99");
    await s.close(0);
  });
});

Deno.test("stack ipv6: bad IPv6 options are refused before anything opens", async () => {
  await assert.rejects(stack({ tunIp6: "fd00::1::2" }), TypeError);
  await assert.rejects(stack({ tunIp6: "10.0.0.1" }), /invalid IPv6 address for tunIp6/);
  for (const a of ["::", "::1", "ff02::1", "::ffff:10.0.0.1"]) {
    await assert.rejects(stack({ tunIp6: a }), /tunIp6 must be a unicast IPv6 address/, a);
  }
  await assert.rejects(stack({ tunIp6: "fd00::1", peerIp6: "ff02::2" }), /peerIp6 must be/);
  // RFC 8200 §5: a link carrying IPv6 has an MTU of at least 1280.
  await assert.rejects(stack({ tunIp6: "fd00::1", mtu: 1279 }), RangeError);
  const small = await stack({ mtu: 576 });
  assert.equal(small.tunIp6, undefined, "IPv4 alone is fine on a small MTU");
  await small.close(0);
});

Deno.test("stack ipv6: connect refuses what no connection can go to, at once", async () => {
  const v4only = await stack();
  const v6 = await stack({ tunIp6: "fd00::1" });
  try {
    for (const s of [v4only, v6]) {
      await assert.rejects(s.connect({ hostname: "example.com", port: 80 }), {
        name: "TypeError",
        message: "invalid IP address: example.com",
      });
      await assert.rejects(s.connect({ hostname: "[fd00::2", port: 80 }), TypeError);
      // RFC 9293 MUST-46 (and RFC 4291 §2.5.3, §2.5.5.2 for loopback and IPv4-mapped).
      for (const host of ["ff02::1", "[ff02::1]", "::", "::1", "::ffff:10.9.0.2", "224.0.0.1"]) {
        await assert.rejects(s.connect({ hostname: host, port: 80 }), {
          name: "TypeError",
          message: `not a unicast address: ${host}`,
        });
      }
    }
    await assert.rejects(v4only.connect({ hostname: "[fd00::2]", port: 80 }), {
      name: "TypeError",
      message: "cannot connect to [fd00::2]: IPv6 is off on this stack",
    });
  } finally {
    await Promise.all([v4only.close(0), v6.close(0)]);
  }
});

Deno.test("stack ipv6: listen by family; addr and addrs name what is listened on", async () => {
  const v4only = await stack();
  const v6 = await stack({ tunIp6: "fd00::1" });
  const host = (s: TcpStack, o: { port: number; family?: 4 | 6 }) => {
    const l = s.listen(o);
    const r = [l.family, l.addr.hostname, l.addrs.map((a) => `${a.hostname} ${a.port}`)];
    l.close();
    return r;
  };
  try {
    assert.deepEqual(host(v4only, { port: 1 }), [0, "10.9.0.1", ["10.9.0.1 1"]]);
    assert.deepEqual(host(v4only, { port: 2, family: 4 }), [4, "10.9.0.1", ["10.9.0.1 2"]]);
    assert.throws(() => v4only.listen({ port: 3, family: 6 }), {
      name: "TypeError",
      message: "IPv6 is off on this stack",
    });
    assert.deepEqual(host(v6, { port: 4 }), [0, "10.9.0.1", ["10.9.0.1 4", "fd00::1 4"]]);
    assert.deepEqual(host(v6, { port: 5, family: 4 }), [4, "10.9.0.1", ["10.9.0.1 5"]]);
    assert.deepEqual(host(v6, { port: 6, family: 6 }), [6, "fd00::1", ["fd00::1 6"]]);
    assert.throws(() => v6.listen({ port: 7, family: 5 as 4 }), RangeError);
  } finally {
    await Promise.all([v4only.close(0), v6.close(0)]);
  }
});

async function pair6(): Promise<[TcpStack, TcpStack]> {
  const [la, lb] = createMemoryLinkPair({ mtu: 1500 });
  const a = await openStack({
    tunIp: "10.9.0.1",
    peerIp: "10.9.0.2",
    tunIp6: "fd00::1",
    peerIp6: "fd00::2",
    link: la,
    mslMs: 50,
  });
  const b = await openStack({
    tunIp: "10.9.0.2",
    peerIp: "10.9.0.1",
    tunIp6: "fd00::2",
    peerIp6: "fd00::1",
    link: lb,
    mslMs: 50,
  });
  return [a, b];
}

async function echoOnce(conn: TcpConn): Promise<void> {
  await conn.readable.pipeTo(conn.writable);
}

async function roundTrip(conn: TcpConn, text: string): Promise<string> {
  const w = conn.writable.getWriter();
  await w.write(new TextEncoder().encode(text));
  await w.close();
  let got = "";
  const dec = new TextDecoder();
  for await (const chunk of conn.readable) got += dec.decode(chunk, { stream: true });
  return got;
}

Deno.test("stack ipv6: one listener accepts both families; addresses are canonical text", async () => {
  const [a, b] = await pair6();
  try {
    const listener = b.listen({ port: 7000 });
    const served = (async () => {
      for (let i = 0; i < 2; i++) {
        const conn = await listener.accept();
        echoOnce(conn).catch(() => {});
      }
    })();
    const c6 = await a.connect({ hostname: "[FD00:0::2]", port: 7000 });
    assert.equal(c6.family, 6);
    assert.deepEqual([c6.localAddr.hostname, c6.remoteAddr.hostname], ["fd00::1", "fd00::2"]);
    assert.equal(c6.remoteAddr.port, 7000);
    assert.equal(await roundTrip(c6, "over IPv6"), "over IPv6");
    const c4 = await a.connect({ port: 7000 }); // default host: the IPv4 peer
    assert.equal(c4.family, 4);
    assert.deepEqual([c4.localAddr.hostname, c4.remoteAddr.hostname], ["10.9.0.1", "10.9.0.2"]);
    assert.equal(await roundTrip(c4, "over IPv4"), "over IPv4");
    await served;
    listener.close();
  } finally {
    await Promise.all([a.close(500), b.close(500)]);
  }
});

Deno.test("stack ipv6: the accepted connection reports the peer's IPv6 address and family", async () => {
  const [a, b] = await pair6();
  try {
    const listener = b.listen({ port: 7001, family: 6 });
    const accepted = listener.accept();
    const client = await a.connect({ hostname: a.peerIp6, port: 7001 });
    const server = await accepted;
    assert.equal(server.family, 6);
    assert.equal(server.remoteAddr.hostname, "fd00::1");
    assert.equal(server.remoteAddr.port, client.localAddr.port);
    assert.equal(server.localAddr.hostname, "fd00::2");
    client.close();
    server.close();
    listener.close();
  } finally {
    await Promise.all([a.close(500), b.close(500)]);
  }
});

Deno.test("stack ipv6: a listener of one family refuses the other (RST, as a closed port)", async () => {
  const [a, b] = await pair6();
  try {
    const only4 = b.listen({ port: 7002, family: 4 });
    const only6 = b.listen({ port: 7003, family: 6 });
    await assert.rejects(
      a.connect({ hostname: "fd00::2", port: 7002 }),
      Deno.errors.ConnectionRefused,
    );
    await assert.rejects(a.connect({ port: 7003 }), Deno.errors.ConnectionRefused);
    only4.close();
    only6.close();
  } finally {
    await Promise.all([a.close(500), b.close(500)]);
  }
});
