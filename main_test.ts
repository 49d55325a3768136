import assert from "node:assert/strict";
import { main, VERSION } from "./main.ts";
import type { CliStackOptions } from "./src/cli/common.ts";
import { FakeConn, FakeOutput, FakeStack, tick } from "./src/cli/_fake_stack.ts";

const MAIN = new URL("./main.ts", import.meta.url).pathname;
const decoder = new TextDecoder();

async function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

Deno.test("main: bad usage exits 2 with one error line and a usage hint, no stack trace", async (t) => {
  const cases: [string[], string, RegExp][] = [
    [["listen", "--bogus"], "error: unknown option '--bogus'", /^usage: tcptun listen /],
    [
      ["listen", "--tun-ip", "10.0.0.300"],
      "error: bad IPv4 address '10.0.0.300'",
      /^usage: tcptun listen/,
    ],
    [
      ["listen", "--port", "70000"],
      "error: port 70000 out of range 1..65535",
      /^usage: tcptun listen/,
    ],
    [
      ["listen", "--echo", "--discard"],
      "error: --echo and --discard cannot be used together",
      /^usage: tcptun listen/,
    ],
    [["connect"], "error: missing [HOST:]PORT", /^usage: tcptun connect /],
    [
      [],
      "error: missing command (listen, connect or report)",
      /^usage: tcptun <listen\|connect\|report>/,
    ],
    [["report"], "error: missing TRACE file", /^usage: tcptun report TRACE \[-o FILE\]$/],
    [["report", "a", "b"], "error: unexpected argument 'b'", /^usage: tcptun report /],
    [["report", "a", "--bogus"], "error: unknown option '--bogus'", /^usage: tcptun report /],
    [
      ["listen", "--ipv4-only", "--ipv6-only"],
      "error: --ipv4-only and --ipv6-only cannot be used together",
      /^usage: tcptun listen .*--ipv4-only \| --ipv6-only/,
    ],
    [
      ["connect", "[fd00::1]:80", "--tun-ip6", "ff02::1"],
      "error: --tun-ip6 must be a unicast IPv6 address, got 'ff02::1'",
      /^usage: tcptun connect /,
    ],
  ];
  for (const [args, error, usage] of cases) {
    await t.step(args.join(" ") || "(no arguments)", async () => {
      const r = await run(args);
      assert.equal(r.code, 2);
      assert.equal(r.stdout, "");
      const lines = r.stderr.trimEnd().split("\n");
      assert.equal(lines.length, 2, r.stderr);
      assert.equal(lines[0], error);
      assert.match(lines[1], usage);
      assert(!r.stderr.includes("    at "), "no stack trace");
    });
  }
});

Deno.test("main: --help and --version print to stdout and exit 0", async () => {
  const help = await run(["--help"]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /^tcptun: /);
  assert.match(
    help.stdout,
    /usage: tcptun listen[\s\S]*usage: tcptun connect[\s\S]*usage: tcptun report TRACE/,
  );
  assert.equal(help.stderr, "");
  const listenHelp = await run(["listen", "-h"]);
  assert.equal(listenHelp.code, 0);
  assert.match(listenHelp.stdout, /^usage: tcptun listen/);
  const version = await run(["--version"]);
  assert.equal(version.code, 0);
  assert.equal(version.stdout, `tcptun ${VERSION}\n`);
});

function overrides(openStack: (o: CliStackOptions) => Promise<FakeStack>) {
  const stderr: string[] = [];
  let requestShutdown!: () => void;
  const shutdown = new Promise<void>((r) => requestShutdown = r);
  const stdout = new FakeOutput();
  return {
    stderr,
    requestShutdown,
    stdout,
    o: {
      openStack,
      stdin: new ReadableStream<Uint8Array>(),
      stdout: stdout.stream,
      stderr: (l: string) => stderr.push(l),
      shutdown,
    },
  };
}

Deno.test("main: no permission to open the device is one line naming the cause, exit 1", async () => {
  for (const code of ["EPERM", "EACCES"]) {
    const h = overrides(() =>
      Promise.reject(Object.assign(new Error("ioctl TUNSETIFF failed"), { code }))
    );
    assert.equal(await main(["listen"], h.o), 1);
    assert.deepEqual(h.stderr, [
      "error: cannot open /dev/net/tun: permission denied (run as root or with CAP_NET_ADMIN)",
    ]);
  }
  const wrapped = overrides(() =>
    Promise.reject(
      new Error("open failed", { cause: Object.assign(new Error("x"), { code: "EPERM" }) }),
    )
  );
  assert.equal(await main(["connect", "80"], wrapped.o), 1);
  assert.match(wrapped.stderr[0], /^error: cannot open \/dev\/net\/tun: permission denied/);
});

Deno.test("main: any other failure is 'error: <message>', exit 1", async () => {
  const h = overrides(() => Promise.reject(new Error("device busy")));
  assert.equal(await main(["listen"], h.o), 1);
  assert.deepEqual(h.stderr, ["error: device busy"]);
  const refused = overrides((o) => {
    const s = new FakeStack(o);
    s.connectResult = Promise.reject(new Deno.errors.ConnectionRefused("RST"));
    return Promise.resolve(s);
  });
  assert.equal(await main(["connect", "9"], refused.o), 1);
  assert.deepEqual(refused.stderr, ["error: connection refused"]);
});

Deno.test("main: an unwritable capture file is an error before the device opens", async () => {
  let opened = false;
  const h = overrides((o) => {
    opened = true;
    return Promise.resolve(new FakeStack(o));
  });
  assert.equal(await main(["listen", "--pcap", "/nonexistent-dir/x.pcap"], h.o), 1);
  assert.equal(opened, false);
  assert.match(h.stderr[0], /^error: cannot open capture file \/nonexistent-dir\/x\.pcap: /);
});

Deno.test("main: listen wires the tap, the pcap file and the shutdown request", async () => {
  const path = await Deno.makeTempFile({ suffix: ".pcap" });
  try {
    let stack: FakeStack | undefined;
    const h = overrides((o) => Promise.resolve(stack = new FakeStack(o)));
    const done = main(["listen", "--echo", "--pcap", path, "-v", "info", "--port", "7"], h.o);
    while (stack === undefined || !h.stderr.includes("listening on 10.0.0.1:7")) await tick();
    assert(stack.opts.tap !== undefined, "pcap needs the tap");
    stack.opts.tap!("in", new Uint8Array(20), 0);
    const c = new FakeConn();
    stack.listener.push(c);
    c.peerSend("x");
    await c.waitSent(1);
    h.requestShutdown();
    assert.equal(await done, 0);
    assert.equal(stack.closeCalls, 1);
    assert(h.stderr.includes(`wrote 1 packets to ${path}`), h.stderr.join("\n"));
    assert.equal((await Deno.stat(path)).size, 24 + 16 + 20);
  } finally {
    await Deno.remove(path);
  }
});

// ---------------------------------------------------------------------------------------
// Against the real stack and kernel, inside a network namespace this test creates.

async function canRunIntegration(): Promise<boolean> {
  if (Deno.build.os !== "linux" || Deno.uid() !== 0) return false;
  try {
    await Deno.stat("/dev/net/tun");
    for (const tool of ["unshare", "socat", "timeout"]) {
      const r = await new Deno.Command("sh", { args: ["-c", `command -v ${tool}`], stdout: "null" })
        .output();
      if (!r.success) return false;
    }
    return true;
  } catch {
    return false;
  }
}

const requireIntegration = Deno.env.get("TCPTUN_REQUIRE_INTEGRATION") === "1";
const integration = await canRunIntegration();

/** Runs a bash script in a fresh network namespace; every command is bounded by `timeout`. */
async function inNetns(script: string): Promise<string> {
  const out = await new Deno.Command("timeout", {
    args: ["60", "unshare", "--net", "bash", "-c", script],
    env: { TCPTUN: `${Deno.execPath()} run -A ${MAIN}`, NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = decoder.decode(out.stdout);
  assert(out.success, `script failed (${out.code}):\n${text}\n${decoder.decode(out.stderr)}`);
  return text;
}

const WAIT_READY =
  `wait_ready() { for i in $(seq 1 100); do grep -q "$2" "$1" && return 0; sleep 0.1; done; return 1; }`;

Deno.test({
  name: "main: listen --echo --once echoes a kernel client and exits 0 (netns)",
  ignore: !integration && !requireIntegration,
  async fn() {
    assert(integration, "needs root, /dev/net/tun, unshare and socat");
    const out = await inNetns(`${WAIT_READY}
      d=$(mktemp -d)
      $TCPTUN listen --echo --once -v info --pcap $d/cap.pcap 2>$d/err &
      pid=$!
      wait_ready $d/err "listening on 10.0.0.1:4444" || { echo NOT-READY; cat $d/err; }
      echo "reply=$(printf hello | timeout 10 socat -t2 - TCP:10.0.0.1:4444)"
      timeout 10 tail --pid=$pid -f /dev/null
      wait $pid; echo "rc=$?"
      echo "pcap=$(stat -c %s $d/cap.pcap)"
      cat $d/err; rm -rf $d`);
    assert.match(out, /^reply=hello$/m);
    assert.match(out, /^rc=0$/m);
    assert.match(out, /^listening on 10\.0\.0\.1:4444$/m);
    assert.match(out, /^10\.0\.0\.2:\d+ closed \(CLOSED\): sent 5 B/m);
    assert(Number(/^pcap=(\d+)$/m.exec(out)?.[1]) > 24 + 5 * 56, out);
  },
});

Deno.test({
  name: "main: connect bridges stdio with a kernel server; refused is exit 1 (netns)",
  ignore: !integration && !requireIntegration,
  async fn() {
    assert(integration, "needs root, /dev/net/tun, unshare and socat");
    const out = await inNetns(`
      socat TCP-LISTEN:4444,reuseaddr SYSTEM:'printf pong; cat >/dev/null' &
      spid=$!
      sleep 0.3
      echo "out=$(printf ping | timeout 10 $TCPTUN connect 4444 2>/tmp/err.$$)"; echo "rc=$?"
      cat /tmp/err.$$
      timeout 10 $TCPTUN connect 4445 </dev/null 2>&1; echo "refused-rc=$?"
      kill $spid; rm -f /tmp/err.$$`);
    assert.match(out, /^out=pong$/m);
    assert.match(out, /^rc=0$/m);
    assert.match(out, /^connected to 10\.0\.0\.3:4444$/m);
    assert.match(out, /^error: connection refused\nrefused-rc=1$/m);
  },
});

Deno.test({
  name: "main: SIGINT with stdin blocked exits 0 promptly (netns)",
  ignore: !integration && !requireIntegration,
  async fn() {
    assert(integration, "needs root, /dev/net/tun, unshare and socat");
    const out = await inNetns(`${WAIT_READY}
      d=$(mktemp -d); mkfifo $d/in
      (sleep 30 > $d/in) & fpid=$!
      $TCPTUN listen < $d/in 2>$d/err & pid=$!
      wait_ready $d/err "listening on" || echo NOT-READY
      t0=$(date +%s%N); kill -INT $pid; wait $pid; rc=$?
      echo "rc=$rc ms=$(( ($(date +%s%N) - t0) / 1000000 ))"
      kill $fpid; rm -rf $d`);
    const m = /^rc=(\d+) ms=(\d+)$/m.exec(out);
    assert(m, out);
    assert.equal(m[1], "0");
    assert(Number(m[2]) < 3000, `took ${m[2]} ms`);
  },
});

Deno.test({
  name: "main: listen in stdio mode closes at once after the peer's FIN (netns)",
  ignore: !integration && !requireIntegration,
  async fn() {
    assert(integration, "needs root, /dev/net/tun, unshare and socat");
    const out = await inNetns(`${WAIT_READY}
      d=$(mktemp -d); mkfifo $d/in
      (sleep 30 > $d/in) & fpid=$!
      $TCPTUN listen --once -v debug < $d/in > $d/out 2>$d/err & pid=$!
      wait_ready $d/err "listening on" || echo NOT-READY
      printf 'hi there' | timeout 10 socat -t5 - TCP:10.0.0.1:4444; echo "socat-rc=$?"
      timeout 10 tail --pid=$pid -f /dev/null; wait $pid; echo "rc=$?"
      echo "out=$(cat $d/out)"; cat $d/err
      kill $fpid; rm -rf $d`);
    assert.match(out, /^socat-rc=0$/m);
    assert.match(out, /^rc=0$/m);
    assert.match(out, /^out=hi there$/m);
    // Peer FIN, our ACK, then our FIN right away (CLOSE-WAIT → LAST-ACK), acknowledged.
    assert.match(
      out,
      /^← .* \[F\.\] [^\n]*\n(#\d+ [^\n]*\n)*→ .* \[\.\] [^\n]*\n(connection from [^\n]*\n|#\d+ [^\n]*\n)*→ .* \[F\.\] /m,
    );
    assert.match(out, /closed \(CLOSED\): sent 0 B/);
  },
});
