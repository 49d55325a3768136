import assert from "node:assert/strict";
import type { ListenCommand } from "./args.ts";
import { parseCli } from "./args.ts";
import type { CliEnv, CliStackOptions } from "./common.ts";
import { FakeConn, FakeInput, FakeOutput, FakeStack, tick } from "./_fake_stack.ts";
import { runListen } from "./listen.ts";
import { createLogger } from "./log.ts";

/** `ipv6Problem`: the fake device cannot configure IPv6 unless asked for explicitly. */
function setup(args: string[], ipv6Problem?: string) {
  const cmd = parseCli(["listen", ...args]) as ListenCommand;
  const stdin = new FakeInput();
  const stdout = new FakeOutput();
  const stderr: string[] = [];
  let stack: FakeStack | undefined;
  let requestShutdown!: () => void;
  const shutdown = new Promise<void>((r) => requestShutdown = r);
  const env: CliEnv = {
    openStack: (opts: CliStackOptions) => Promise.resolve(stack = new FakeStack(opts, ipv6Problem)),
    stdin: stdin.stream,
    stdout: stdout.stream,
    logger: createLogger(cmd.logLevel, { write: (l) => stderr.push(l) }),
    announce: (l) => stderr.push(l),
    shutdown,
    now: (() => {
      let t = 0;
      return () => (t += 500);
    })(),
  };
  const run = runListen(cmd, env);
  const ready = async () => {
    while (!stderr.some((l) => l.startsWith("listening on"))) await tick();
    await tick(); // the second ready line, if any
    return stack!;
  };
  return { cmd, stdin, stdout, stderr, run, ready, requestShutdown, stack: () => stack };
}

Deno.test("listen: stdio mode bridges one connection at a time and re-accepts", async (t) => {
  const s = setup(["--port", "5555", "--tun-ip", "10.1.0.1", "-v", "info"]);
  const stack = await s.ready();
  assert.equal(stack.opts.tunIp, "10.1.0.1");
  assert.equal(stack.listenPort, 5555);
  assert.equal(s.stderr[0], "listening on 10.1.0.1:5555");

  const a = new FakeConn(40001);
  const b = new FakeConn(40002);
  await t.step("first connection: both directions flow", async () => {
    stack.listener.push(a);
    stack.listener.push(b); // queued behind a: one at a time
    s.stdin.send("hello a");
    a.peerSend("from a\n");
    await a.waitSent(7);
    await s.stdout.waitFor("from a\n");
    await tick();
    assert.equal(b.sent.length, 0, "b is not served while a is open");
  });
  await t.step("peer FIN: the CLI closes at once (passive close), then serves b", async () => {
    a.peerFin();
    await a.finSent;
    assert.equal(a.closeCalls, 1);
    s.stdin.send("hello b");
    await b.waitSent(7);
    assert.equal(a.sentText(), "hello a");
    assert.equal(b.sentText(), "hello b");
    assert(s.stderr.includes("connection from 10.0.0.2:40001"));
    assert(
      s.stderr.some((l) => l.startsWith("10.0.0.2:40001 closed (CLOSED): sent 7 B in 1 segs")),
    );
  });
  await t.step("SIGINT: exit 0, stack closed (FIN everywhere), stdin cancelled", async () => {
    s.requestShutdown();
    assert.equal(await s.run, 0);
    assert.equal(stack.closeCalls, 1);
    assert.equal(stack.listener.closed, true);
    assert.equal(s.stdin.cancelled, true);
  });
});

Deno.test("listen: stdin EOF sends FIN but the peer's data still reaches stdout", async () => {
  const s = setup(["--once"]);
  const stack = await s.ready();
  const c = new FakeConn();
  stack.listener.push(c);
  s.stdin.send("all");
  s.stdin.end();
  await c.finSent;
  c.peerSend("reply");
  c.peerFin();
  assert.equal(await s.run, 0, "--once: exits after the first connection");
  assert.equal(s.stdout.text(), "reply");
  assert.equal(c.sentText(), "all");
  assert.equal(stack.closeCalls, 1);
});

Deno.test("listen: a reset in stdio mode is logged and the next connection is served", async () => {
  const s = setup([]);
  const stack = await s.ready();
  const a = new FakeConn(1);
  const b = new FakeConn(2);
  stack.listener.push(a);
  await tick();
  a.peerReset();
  stack.listener.push(b);
  b.peerSend("still here");
  await s.stdout.waitFor("still here");
  assert(s.stderr.includes("warning: 10.0.0.2:1: connection reset"), s.stderr.join("\n"));
  s.requestShutdown();
  assert.equal(await s.run, 0);
});

Deno.test("listen: echo serves several connections at once", async () => {
  const s = setup(["--echo", "--no-delay", "-v", "info"]);
  const stack = await s.ready();
  const a = new FakeConn(1);
  const b = new FakeConn(2);
  stack.listener.push(a);
  stack.listener.push(b);
  b.peerSend("bbb");
  a.peerSend("aa");
  await a.waitSent(2);
  await b.waitSent(3);
  assert.equal(stack.opts.noDelay, true);
  b.peerFin();
  await b.finSent;
  assert.equal(a.finSentFlag, false);
  a.peerFin();
  await a.finSent;
  await tick();
  assert.equal(a.sentText(), "aa");
  assert.equal(b.sentText(), "bbb");
  assert(s.stderr.some((l) => l.startsWith("10.0.0.2:2 closed (CLOSED): sent 3 B")));
  s.requestShutdown();
  assert.equal(await s.run, 0);
  assert.equal(s.stdout.text(), "", "echo mode never touches stdout");
});

Deno.test("listen: discard logs bytes and rate at close; --once exits after it", async () => {
  const s = setup(["--discard", "--once", "-v", "info"]);
  const stack = await s.ready();
  const c = new FakeConn(7);
  stack.listener.push(c);
  c.peerSend("x".repeat(1000));
  c.peerSend("y".repeat(250));
  c.peerFin();
  assert.equal(await s.run, 0);
  assert.equal(c.sentText(), "");
  assert.equal(c.finSentFlag, true);
  // The fake clock advances 500 ms per reading.
  assert(
    s.stderr.includes("10.0.0.2:7: discarded 1250 bytes in 0.500 s (20.0 kbit/s)"),
    s.stderr.join("\n"),
  );
});

Deno.test("listen: quiet by default: only the ready lines on stderr", async () => {
  const s = setup(["--echo", "--once"]);
  const stack = await s.ready();
  const c = new FakeConn();
  stack.listener.push(c);
  c.peerSend("q");
  c.peerFin();
  assert.equal(await s.run, 0);
  assert.deepEqual(s.stderr, [
    "listening on 10.0.0.1:4444",
    "listening on [fdac:1194:20dc::1]:4444",
  ]);
});

Deno.test("listen: both families by default; IPv6 peers are logged in brackets", async () => {
  const s = setup(["--echo", "--once", "--port", "7", "-v", "info"]);
  const stack = await s.ready();
  assert.equal(stack.opts.tunIp6, undefined, "the device's default IPv6 address");
  assert.equal(stack.listenFamily, undefined, "one listener for both families");
  assert.deepEqual(s.stderr.slice(0, 2), [
    "listening on 10.0.0.1:7",
    "listening on [fdac:1194:20dc::1]:7",
  ]);
  const c = new FakeConn(40001, "fdac:1194:20dc::2");
  stack.listener.push(c);
  c.peerSend("six");
  c.peerFin();
  assert.equal(await s.run, 0);
  assert.equal(c.sentText(), "six");
  assert(s.stderr.includes("connection from [fdac:1194:20dc::2]:40001"), s.stderr.join("\n"));
  assert(s.stderr.some((l) => l.startsWith("[fdac:1194:20dc::2]:40001 closed (CLOSED)")));
});

Deno.test("listen: --ipv4-only turns IPv6 off on the device and prints one ready line", async () => {
  const s = setup(["--ipv4-only"]);
  const stack = await s.ready();
  assert.equal(stack.opts.tunIp6, false);
  assert.equal(stack.listenFamily, 4);
  assert.deepEqual(s.stderr, ["listening on 10.0.0.1:4444"]);
  s.requestShutdown();
  assert.equal(await s.run, 0);
});

Deno.test("listen: --ipv6-only with --tun-ip6 listens on that address only", async () => {
  const s = setup(["--ipv6-only", "--tun-ip6", "fd00:0::1", "--port", "80"]);
  const stack = await s.ready();
  assert.equal(stack.opts.tunIp6, "fd00::1");
  assert.equal(stack.listenFamily, 6);
  assert.deepEqual(s.stderr, ["listening on [fd00::1]:80"]);
  s.requestShutdown();
  assert.equal(await s.run, 0);
});

Deno.test("listen: no IPv6 on the system: IPv4 goes on, with a warning from -v info", async (t) => {
  const why = "IPv6 is disabled (net.ipv6.conf.all.disable_ipv6 = 1)";
  await t.step("default level: just the IPv4 ready line", async () => {
    const s = setup([], why);
    await s.ready();
    assert.deepEqual(s.stderr, ["listening on 10.0.0.1:4444"]);
    s.requestShutdown();
    assert.equal(await s.run, 0);
  });
  await t.step("-v info: one warning line, then the IPv4 ready line", async () => {
    const s = setup(["-v", "info"], why);
    await s.ready();
    assert.deepEqual(s.stderr, [
      `warning: IPv6 is not available, IPv4 only: ${why}`,
      "listening on 10.0.0.1:4444",
    ]);
    s.requestShutdown();
    assert.equal(await s.run, 0);
  });
  await t.step("--ipv6-only: an error, and the stack is closed", async () => {
    const s = setup(["--ipv6-only"], why);
    await assert.rejects(
      s.run,
      (e: Error) => e.message === `--ipv6-only: IPv6 is not available: ${why}`,
    );
    assert.deepEqual(s.stderr, []);
    assert.equal(s.stack()?.closeCalls, 1);
    assert.equal(s.stack()?.listenPort, -1, "never listened");
  });
});
