// Many connections in TIME-WAIT: each leaves after 2·MSL and not before, and they do not slow
// the others (they are kept apart from the connections scanned on every wake-up).
import assert from "node:assert/strict";
import { type ConnHandle, StackCore } from "../../src/stack.ts";
import { Prng } from "../../src/prng.ts";
import { SimNetwork } from "./network.ts";

Deno.test("stack: MUST-13 300 connections in TIME-WAIT each expire after 2·MSL", () => {
  const net = new SimNetwork({ aToB: { delayMs: 1 }, bToA: { delayMs: 1 } });
  const rng = new Prng(9);
  const key = new Uint8Array(16).fill(7);
  const msl = 1000;
  const make = (addr: number, side: "a" | "b") =>
    new StackCore({
      addr,
      link: net.link(side),
      now: () => net.now,
      isnKey: key,
      random: () => rng.nextU32(),
      connection: { mslMs: msl },
    });
  const client = make(0x0a000001, "a");
  const server = make(0x0a000002, "b");
  net.attach("a", client);
  net.attach("b", server);
  const finishedAt: number[] = [];
  // The server closes first, so the server side holds TIME-WAIT.
  server.listen(80, 1000, (h: ConnHandle) => {
    h.take();
    h.attach({ onReadable: () => h.read(new Uint8Array(4096)), onEvent: () => {} });
    h.closeWrite();
  });
  const N = 300;
  for (let i = 0; i < N; i++) {
    net.at(i * 2, () => {
      const h = client.connect(0x0a000002, 80);
      h.attach({
        onReadable: () => {},
        onEvent: (ev) => {
          if (ev === "remote-closed") h.closeWrite();
          if (ev === "finished") finishedAt.push(net.now);
        },
      });
    });
  }
  net.run({ until: () => finishedAt.length === N, maxTimeMs: 60_000 });
  assert.equal(finishedAt.length, N);
  // The server entered TIME-WAIT about one delay before each client finished.
  const first = Math.min(...finishedAt);
  const last = Math.max(...finishedAt);
  assert.equal(server.connectionCount, N, "all held in TIME-WAIT");
  net.run({ maxTimeMs: first + 2 * msl - 10 });
  assert.equal(server.connectionCount, N, "none leaves before 2·MSL");
  net.run({ maxTimeMs: last + 2 * msl + 10 });
  assert.equal(server.connectionCount, 0, "all gone after 2·MSL");
  assert.equal(server.counters.connectionsClosed, N);
});
