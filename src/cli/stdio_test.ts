import assert from "node:assert/strict";
import { FakeConn, FakeInput, FakeOutput, tick } from "./_fake_stack.ts";
import { bridgeBothWays, bridgeUntilPeerCloses, discard, echo, InputSource } from "./stdio.ts";

Deno.test("stdio: an abandoned input read hands its chunk to the next reader", async () => {
  const stdin = new FakeInput();
  const input = new InputSource(stdin.stream);
  const first = input.read();
  input.abandon();
  assert.equal(await first, null);
  stdin.send("kept");
  await tick();
  const second = await input.read();
  assert(second !== null && !second.done);
  assert.equal(new TextDecoder().decode(second.value), "kept");
  stdin.end();
  assert.deepEqual(await input.read(), { done: true });
  assert.equal(input.ended, true);
  assert.deepEqual(await input.read(), { done: true });
});

Deno.test("stdio: cancel stops the input without waiting for a blocked read", async () => {
  const stdin = new FakeInput();
  const input = new InputSource(stdin.stream);
  const pending = input.read();
  input.cancel();
  assert.equal(await pending, null);
  await tick();
  assert.equal(stdin.cancelled, true);
  assert.equal(input.ended, true);
});

Deno.test("stdio: listen bridge returns at the peer's FIN and leaves stdin for the next one", async () => {
  const stdin = new FakeInput();
  const input = new InputSource(stdin.stream);
  const stdout = new FakeOutput();
  const out = stdout.stream.getWriter();
  const conn = new FakeConn();
  const done = bridgeUntilPeerCloses(conn, input, out);
  stdin.send("to peer");
  conn.peerSend("to stdout");
  await conn.waitSent(7);
  await stdout.waitFor("to stdout");
  conn.peerFin();
  assert.deepEqual(await done, { bytesOut: 9, inputEnded: false });
  assert.equal(conn.sentText(), "to peer");
  assert.equal(conn.finSentFlag, false, "bridge itself does not close; the caller does");
  // The next connection gets the next stdin bytes.
  const conn2 = new FakeConn();
  const done2 = bridgeUntilPeerCloses(conn2, input, out);
  stdin.send("second");
  await conn2.waitSent(6);
  stdin.end();
  await conn2.finSent;
  conn2.peerSend("bye");
  conn2.peerFin();
  assert.deepEqual(await done2, { bytesOut: 3, inputEnded: true });
  assert.equal(conn2.sentText(), "second");
  assert.equal(stdout.text(), "to stdoutbye");
});

Deno.test("stdio: connect bridge waits for both directions, in either order", async (t) => {
  await t.step("stdin EOF first, then the peer's data and FIN", async () => {
    const stdin = new FakeInput();
    const stdout = new FakeOutput();
    const conn = new FakeConn();
    let finished = false;
    const done = bridgeBothWays(conn, new InputSource(stdin.stream), stdout.stream.getWriter())
      .then((r) => (finished = true, r));
    stdin.send("ping");
    stdin.end();
    await conn.finSent;
    await tick();
    assert.equal(finished, false, "half-closed: still reading the peer");
    conn.peerSend("pong");
    conn.peerFin();
    assert.deepEqual(await done, { bytesIn: 4, bytesOut: 4 });
    assert.equal(conn.sentText(), "ping");
    assert.equal(stdout.text(), "pong");
  });
  await t.step("peer FIN first; stdin still flows to the peer until EOF", async () => {
    const stdin = new FakeInput();
    const stdout = new FakeOutput();
    const conn = new FakeConn();
    let finished = false;
    const done = bridgeBothWays(conn, new InputSource(stdin.stream), stdout.stream.getWriter())
      .then((r) => (finished = true, r));
    conn.peerFin();
    await tick();
    assert.equal(finished, false);
    stdin.send("late");
    await conn.waitSent(4);
    stdin.end();
    assert.deepEqual(await done, { bytesIn: 4, bytesOut: 0 });
    assert.equal(conn.finSentFlag, true);
  });
  await t.step("a reset rejects at once even while stdin is blocked", async () => {
    const stdin = new FakeInput();
    const conn = new FakeConn();
    const done = bridgeBothWays(
      conn,
      new InputSource(stdin.stream),
      new FakeOutput().stream.getWriter(),
    );
    conn.peerReset();
    await assert.rejects(done, Deno.errors.ConnectionReset);
  });
});

Deno.test("stdio: echo returns every byte and answers FIN with FIN", async () => {
  const conn = new FakeConn();
  const done = echo(conn);
  conn.peerSend("abc");
  conn.peerSend("def");
  await conn.waitSent(6);
  assert.equal(conn.finSentFlag, false);
  conn.peerFin();
  assert.equal(await done, 6);
  assert.equal(conn.sentText(), "abcdef");
  assert.equal(conn.finSentFlag, true);
});

Deno.test("stdio: discard counts bytes, sends nothing, closes after the peer's FIN", async () => {
  const conn = new FakeConn();
  const done = discard(conn);
  conn.peerSend("0123456789");
  await tick();
  assert.equal(conn.finSentFlag, false);
  conn.peerFin();
  assert.equal(await done, 10);
  assert.equal(conn.sentText(), "");
  assert.equal(conn.finSentFlag, true);
  const reset = new FakeConn();
  const failing = discard(reset);
  reset.peerReset();
  await assert.rejects(failing, Deno.errors.ConnectionReset);
});
