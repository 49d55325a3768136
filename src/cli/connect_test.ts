import assert from "node:assert/strict";
import { type ConnectCommand, parseCli } from "./args.ts";
import type { CliEnv, CliStackOptions } from "./common.ts";
import { runConnect } from "./connect.ts";
import { FakeConn, FakeInput, FakeOutput, FakeStack, tick } from "./_fake_stack.ts";
import { createLogger } from "./log.ts";

function setup(
  args: string[],
  result?: (stack: FakeStack) => Promise<FakeConn>,
  ipv6Problem?: string,
) {
  const cmd = parseCli(["connect", ...args]) as ConnectCommand;
  const stdin = new FakeInput();
  const stdout = new FakeOutput();
  const stderr: string[] = [];
  const conn = new FakeConn(4444, cmd.host ?? "10.0.0.2");
  let stack: FakeStack | undefined;
  let requestShutdown!: () => void;
  const shutdown = new Promise<void>((r) => requestShutdown = r);
  const env: CliEnv = {
    openStack: (opts: CliStackOptions) => {
      stack = new FakeStack(opts, ipv6Problem);
      stack.connectResult = result ? result(stack) : Promise.resolve(conn);
      return Promise.resolve(stack);
    },
    stdin: stdin.stream,
    stdout: stdout.stream,
    logger: createLogger(cmd.logLevel, { write: (l) => stderr.push(l) }),
    announce: (l) => stderr.push(l),
    shutdown,
  };
  let finished = false;
  const run = runConnect(cmd, env).finally(() => finished = true);
  return {
    conn,
    stdin,
    stdout,
    stderr,
    run,
    requestShutdown,
    stack: () => stack!,
    finished: () => finished,
  };
}

Deno.test("connect: stdin to peer, peer to stdout, exit 0 once both directions closed", async (t) => {
  const s = setup(["4444", "--no-delay", "--congestion", "newreno"]);
  await t.step("connects to the companion address and prints the ready line", async () => {
    await s.conn.waitSent(0);
    while (s.stderr.length === 0) await tick();
    assert.deepEqual(s.stderr, ["connected to 10.0.0.2:4444"]);
    assert.deepEqual(s.stack().connectOpts, { hostname: "10.0.0.2", port: 4444, noDelay: true });
    assert.equal(s.stack().opts.tunIp, "10.0.0.2");
    assert.equal(s.stack().opts.congestion, "newreno");
  });
  await t.step("stdin EOF sends FIN; still running while the peer is open", async () => {
    s.stdin.send("GET /\n");
    s.stdin.end();
    await s.conn.finSent;
    await tick();
    assert.equal(s.finished(), false);
  });
  await t.step("peer's data and FIN end the run with status 0", async () => {
    s.conn.peerSend("200 OK\n");
    s.conn.peerFin();
    assert.equal(await s.run, 0);
    assert.equal(s.conn.sentText(), "GET /\n");
    assert.equal(s.stdout.text(), "200 OK\n");
    assert.equal(s.stack().closeCalls, 1);
  });
});

Deno.test("connect: explicit HOST:PORT", async () => {
  const s = setup(["10.0.0.9:80"]);
  s.stdin.end();
  s.conn.peerFin();
  assert.equal(await s.run, 0);
  assert.deepEqual(s.stack().connectOpts, { hostname: "10.0.0.9", port: 80, noDelay: false });
  assert.deepEqual(s.stderr, ["connected to 10.0.0.9:80"]);
});

Deno.test("connect: [IPV6]:PORT connects over IPv6 and says so in brackets", async () => {
  const s = setup(["[fdac:1194:20dc::2]:8080", "-v", "info"]);
  s.stdin.end();
  s.conn.peerFin();
  assert.equal(await s.run, 0);
  assert.deepEqual(s.stack().connectOpts, {
    hostname: "fdac:1194:20dc::2",
    port: 8080,
    noDelay: false,
  });
  assert.equal(s.stderr[0], "connected to [fdac:1194:20dc::2]:8080");
  assert.match(s.stderr[1], /^\[fdac:1194:20dc::2\]:4444 closed \(CLOSED\)/);
});

Deno.test("connect: --ipv6-only targets the kernel's IPv6 address by default", async () => {
  const s = setup(["4444", "--ipv6-only"]);
  s.stdin.end();
  s.conn.peerFin();
  assert.equal(await s.run, 0);
  assert.equal(s.stack().connectOpts?.hostname, "fdac:1194:20dc::2");
  assert.deepEqual(s.stderr, ["connected to [fdac:1194:20dc::2]:4444"]);
});

Deno.test("connect: --ipv4-only turns IPv6 off on the device", async () => {
  const s = setup(["10.0.0.9:80", "--ipv4-only"]);
  s.stdin.end();
  s.conn.peerFin();
  assert.equal(await s.run, 0);
  assert.equal(s.stack().opts.tunIp6, false);
  assert.equal(s.stack().connectOpts?.hostname, "10.0.0.9");
});

Deno.test("connect: an IPv6 target without IPv6 on the system is one error line", async (t) => {
  const why = "no IPv6 in this kernel";
  await t.step("[IPV6]:PORT: status 1, nothing sent", async () => {
    const s = setup(["[fdac:1194:20dc::2]:80"], undefined, why);
    assert.equal(await s.run, 1);
    assert.deepEqual(s.stderr, [
      `error: cannot connect to [fdac:1194:20dc::2]:80: IPv6 is not available (${why})`,
    ]);
    assert.equal(s.stack().connectOpts, undefined);
    assert.equal(s.stack().closeCalls, 1);
  });
  await t.step("--ipv6-only: thrown to main (status 1 there)", async () => {
    const s = setup(["80", "--ipv6-only"], undefined, why);
    await assert.rejects(s.run, /^Error: --ipv6-only: IPv6 is not available: no IPv6/);
  });
  await t.step("IPv4 target: works, the problem is only a warning from -v info", async () => {
    const s = setup(["10.0.0.9:80", "-v", "info"], undefined, why);
    s.stdin.end();
    s.conn.peerFin();
    assert.equal(await s.run, 0);
    assert.equal(s.stderr[0], `warning: IPv6 is not available, IPv4 only: ${why}`);
    assert.equal(s.stderr[1], "connected to 10.0.0.9:80");
  });
});

Deno.test("connect: refused, reset and timed out are one error line and status 1", async (t) => {
  const cases: [string, Error][] = [
    ["connection refused", new Deno.errors.ConnectionRefused("RST")],
    ["connection timed out", new Deno.errors.TimedOut("SYN retries exhausted")],
  ];
  for (const [line, err] of cases) {
    await t.step(line, async () => {
      const s = setup(["4444"], () => Promise.reject(err));
      assert.equal(await s.run, 1);
      assert.deepEqual(s.stderr, [`error: ${line}`]);
      assert.equal(s.stack().closeCalls, 1);
    });
  }
  await t.step("connection reset while stdin is blocked", async () => {
    const s = setup(["4444"]);
    while (s.stderr.length === 0) await tick();
    s.conn.peerReset();
    assert.equal(await s.run, 1);
    assert.deepEqual(s.stderr, ["connected to 10.0.0.2:4444", "error: connection reset"]);
    assert.equal(s.stdin.cancelled, true);
  });
});

Deno.test("connect: shutdown request during a blocked stdin read exits 0 promptly", async () => {
  const s = setup(["4444"]);
  while (s.stderr.length === 0) await tick();
  s.requestShutdown();
  assert.equal(await s.run, 0);
  assert.equal(s.stack().closeCalls, 1);
  assert.equal(s.stdin.cancelled, true);
});

Deno.test("connect: shutdown while the handshake is pending exits 0", async () => {
  const s = setup(["4444"], () => new Promise<FakeConn>(() => {}));
  await tick();
  s.requestShutdown();
  assert.equal(await s.run, 0);
  assert.deepEqual(s.stderr, []);
});

Deno.test("connect: other errors are thrown to main", async () => {
  const s = setup(["4444"], () => Promise.reject(new Error("no route")));
  await assert.rejects(s.run, /no route/);
});
