import assert from "node:assert/strict";
import {
  type ConnectCommand,
  defaultReportPath,
  helpText,
  type ListenCommand,
  parseCli,
  type ReportCommand,
  UsageError,
} from "./args.ts";

function usageError(args: string[]): UsageError {
  try {
    parseCli(args);
  } catch (err) {
    assert(err instanceof UsageError, `expected UsageError, got ${err}`);
    assert(!err.message.includes("\n"), `message must be one line: ${err.message}`);
    return err;
  }
  assert.fail(`no error for ${JSON.stringify(args)}`);
}

Deno.test("args: listen defaults", () => {
  const cmd = parseCli(["listen"]) as ListenCommand;
  assert.deepEqual(cmd, {
    command: "listen",
    tunIp: "10.0.0.1",
    tunIp6: undefined,
    family: 0,
    ifname: undefined,
    mtu: undefined,
    pcap: undefined,
    trace: undefined,
    logLevel: "warn",
    congestion: undefined,
    noDelay: false,
    noOffload: false,
    faults: undefined,
    port: 4444,
    mode: "stdio",
    once: false,
  });
  assert.equal((parseCli(["listen", "--no-offload"]) as ListenCommand).noOffload, true);
});

Deno.test("args: --faults takes a fault spec and rejects a bad one in one line", () => {
  const cmd = parseCli(["listen", "--faults", "loss=1%,reorder=0.02,delay=20,seed=7"]);
  assert.equal(cmd.command, "listen");
  const faults = (cmd as ListenCommand).faults!;
  assert.equal(faults.loss, 0.01);
  assert.equal(faults.reorder, 0.02);
  assert.equal(faults.delayMs, 20);
  assert.equal(faults.seed, 7);
  assert.throws(
    () => parseCli(["connect", "80", "--faults", "loss=2"]),
    (e: Error) => e instanceof UsageError && e.message.startsWith("bad --faults:"),
  );
});

Deno.test("args: listen with every option", () => {
  const cmd = parseCli([
    "listen",
    "--tun-ip",
    "192.168.7.1",
    "--port=8080",
    "--echo",
    "--once",
    "--ifname",
    "tt0",
    "--mtu",
    "9000",
    "--pcap",
    "/tmp/x.pcap",
    "-v",
    "debug",
    "--congestion",
    "newreno",
    "--no-delay",
  ]) as ListenCommand;
  assert.equal(cmd.tunIp, "192.168.7.1");
  assert.equal(cmd.port, 8080);
  assert.equal(cmd.mode, "echo");
  assert.equal(cmd.once, true);
  assert.equal(cmd.ifname, "tt0");
  assert.equal(cmd.mtu, 9000);
  assert.equal(cmd.pcap, "/tmp/x.pcap");
  assert.equal(cmd.logLevel, "debug");
  assert.equal(cmd.congestion, "newreno");
  assert.equal(cmd.noDelay, true);
  assert.equal((parseCli(["listen", "--discard"]) as ListenCommand).mode, "discard");
  assert.equal((parseCli(["listen", "--log-level", "trace"]) as ListenCommand).logLevel, "trace");
});

Deno.test("args: connect with PORT only targets the companion address", () => {
  const cmd = parseCli(["connect", "4444"]) as ConnectCommand;
  assert.equal(cmd.command, "connect");
  assert.equal(cmd.host, undefined);
  assert.equal(cmd.port, 4444);
  assert.equal(cmd.tunIp, "10.0.0.2");
  assert.equal(cmd.logLevel, "warn");
});

Deno.test("args: connect HOST:PORT and options in any order", () => {
  const cmd = parseCli([
    "connect",
    "--tun-ip",
    "10.9.0.2",
    "10.9.0.3:80",
    "--no-delay",
    "--congestion",
    "cubic",
  ]) as ConnectCommand;
  assert.equal(cmd.host, "10.9.0.3");
  assert.equal(cmd.port, 80);
  assert.equal(cmd.tunIp, "10.9.0.2");
  assert.equal(cmd.noDelay, true);
  assert.equal(cmd.congestion, "cubic");
});

Deno.test("args: report TRACE writes TRACE.html beside it by default, -o FILE or - for stdout", () => {
  assert.deepEqual(parseCli(["report", "/tmp/s.trace.jsonl"]), {
    command: "report",
    trace: "/tmp/s.trace.jsonl",
    output: "/tmp/s.trace.html",
  });
  assert.equal((parseCli(["report", "run.log"]) as ReportCommand).output, "run.log.html");
  assert.equal((parseCli(["report", "-o", "-", "t.jsonl"]) as ReportCommand).output, "-");
  assert.equal(
    (parseCli(["report", "t.jsonl", "--output", "r.html"]) as ReportCommand).output,
    "r.html",
  );
  assert.equal(defaultReportPath("a/B.JSONL"), "a/B.html");
  assert.deepEqual(parseCli(["report", "--help"]), { command: "help", topic: "report" });
  assert.match(helpText("report"), /^usage: tcptun report TRACE \[-o FILE\]/);
});

Deno.test("args: IPv6 flags: --tun-ip6 in canonical form, --ipv4-only, --ipv6-only", () => {
  const l = parseCli(["listen", "--tun-ip6", "FD00:0:0::0001", "--ipv6-only"]) as ListenCommand;
  assert.equal(l.tunIp6, "fd00::1");
  assert.equal(l.family, 6);
  assert.equal((parseCli(["listen", "--ipv4-only"]) as ListenCommand).family, 4);
  assert.equal((parseCli(["connect", "80", "--ipv4-only"]) as ConnectCommand).family, 4);
  const c = parseCli(["connect", "80", "--ipv6-only"]) as ConnectCommand;
  assert.deepEqual([c.family, c.host, c.tunIp6], [6, undefined, undefined]);
  // Link-local and global unicast addresses are fine for the stack's own address.
  assert.equal((parseCli(["listen", "--tun-ip6", "fe80::1"]) as ListenCommand).tunIp6, "fe80::1");
  assert.equal(
    (parseCli(["listen", "--tun-ip6", "2001:db8::1"]) as ListenCommand).tunIp6,
    "2001:db8::1",
  );
});

Deno.test("args: connect targets: [IPV6]:PORT, IPV4:PORT, PORT", () => {
  const v6 = parseCli(["connect", "[fdac:1194:20dc::2]:8080"]) as ConnectCommand;
  assert.deepEqual([v6.host, v6.port, v6.family], ["fdac:1194:20dc::2", 8080, 0]);
  // The host comes back canonical (RFC 5952), without brackets.
  const long = parseCli(["connect", "[FDAC:1194:20DC:0:0:0:0:2]:1"]) as ConnectCommand;
  assert.equal(long.host, "fdac:1194:20dc::2");
  const v4 = parseCli(["connect", "10.0.0.3:80", "--ipv4-only"]) as ConnectCommand;
  assert.deepEqual([v4.host, v4.port], ["10.0.0.3", 80]);
  const v6only = parseCli(["connect", "--ipv6-only", "[fd00::3]:22"]) as ConnectCommand;
  assert.deepEqual([v6only.host, v6only.family], ["fd00::3", 6]);
});

Deno.test("args: help and version", () => {
  assert.deepEqual(parseCli(["--help"]), { command: "help" });
  assert.deepEqual(parseCli(["-h"]), { command: "help" });
  assert.deepEqual(parseCli(["--version"]), { command: "version" });
  assert.deepEqual(parseCli(["listen", "-h"]), { command: "help", topic: "listen" });
  assert.deepEqual(parseCli(["connect", "--help"]), { command: "help", topic: "connect" });
  assert.match(helpText("listen"), /^usage: tcptun listen/);
  assert.match(helpText("connect"), /^usage: tcptun connect/);
  assert.match(helpText(), /--discard[\s\S]*\[HOST:\]PORT/);
  for (const topic of ["listen", "connect"] as const) {
    assert.match(helpText(topic), /--tun-ip6 IP6 .*\n[\s\S]*--ipv4-only[\s\S]*--ipv6-only/);
  }
  assert.match(helpText("connect"), /\[fdac:1194:20dc::2\]:80/);
});

Deno.test("args: bad usage gives one-line errors with the subcommand's topic", async (t) => {
  const cases: [string[], RegExp, string | undefined][] = [
    [[], /missing command/, undefined],
    [["serve"], /unknown command 'serve'/, undefined],
    [["--bogus"], /unknown option '--bogus'/, undefined],
    [["listen", "--bogus"], /^unknown option '--bogus'$/, "listen"],
    [["listen", "-x"], /^unknown option '-x'$/, "listen"],
    [["listen", "extra"], /^unexpected argument 'extra'$/, "listen"],
    [["listen", "--port"], /^option '--port' needs a value$/, "listen"],
    [["listen", "-v"], /^option '-v' needs a value$/, "listen"],
    [["listen", "--port", "-1"], /^option '--port' needs a value$/, "listen"],
    [["listen", "--echo=yes"], /^option '--echo' does not take a value$/, "listen"],
    [["listen", "--tun-ip", "10.0.0"], /bad IPv4 address '10.0.0'/, "listen"],
    [["listen", "--tun-ip", "10.0.0.256"], /bad IPv4 address/, "listen"],
    [["listen", "--tun-ip", "010.0.0.1"], /bad IPv4 address/, "listen"],
    [["listen", "--port", "0"], /port 0 out of range 1..65535/, "listen"],
    [["listen", "--port", "65536"], /port 65536 out of range/, "listen"],
    [["listen", "--port", "12ab"], /port must be a number/, "listen"],
    [["listen", "--echo", "--discard"], /--echo and --discard cannot be used together/, "listen"],
    [["listen", "--mtu", "575"], /MTU 575 out of range 576..65535/, "listen"],
    [["listen", "-v", "loud"], /bad log level 'loud'/, "listen"],
    [["listen", "--congestion", "bbr"], /bad congestion algorithm 'bbr'/, "listen"],
    [["listen", "--ifname", "a/b"], /bad interface name/, "listen"],
    [["listen", "--ifname", "sixteen-chars-xx"], /bad interface name/, "listen"],
    [["connect"], /^missing \[HOST:\]PORT$/, "connect"],
    [["connect", "1", "2"], /unexpected argument '2'/, "connect"],
    [["connect", "host:80"], /bad IPv4 address 'host'/, "connect"],
    [["connect", "10.0.0.1:"], /port must be a number/, "connect"],
    [["connect", "10.0.0.1:70000"], /port 70000 out of range/, "connect"],
    [["connect", "80", "--echo"], /unknown option '--echo'/, "connect"],
    [["report"], /^missing TRACE file$/, "report"],
    [["report", ""], /^missing TRACE file$/, "report"],
    [["report", "t.jsonl", "u.jsonl"], /^unexpected argument 'u.jsonl'$/, "report"],
    [["report", "t.jsonl", "-o"], /^option '-o' needs a value$/, "report"],
    [["report", "t.jsonl", "-o", ""], /^-o needs a file name/, "report"],
    [["report", "t.jsonl", "--port", "1"], /^unknown option '--port'$/, "report"],
    [
      ["listen", "--ipv4-only", "--ipv6-only"],
      /^--ipv4-only and --ipv6-only cannot be used together$/,
      "listen",
    ],
    [
      ["connect", "80", "--ipv6-only", "--ipv4-only"],
      /^--ipv4-only and --ipv6-only cannot be used together$/,
      "connect",
    ],
    [["listen", "--tun-ip6", "fd00::1", "--ipv4-only"], /--tun-ip6 and --ipv4-only/, "listen"],
    [["listen", "--tun-ip6", "10.0.0.1"], /^bad IPv6 address '10.0.0.1'$/, "listen"],
    [["listen", "--tun-ip6", "fd00::1::2"], /^bad IPv6 address 'fd00::1::2'$/, "listen"],
    [["listen", "--tun-ip6", "[fd00::1]"], /^bad IPv6 address '\[fd00::1\]'$/, "listen"],
    [["listen", "--tun-ip6", "fd00::1%eth0"], /^bad IPv6 address/, "listen"],
    [["connect", "80", "--tun-ip6", "gggg::1"], /^bad IPv6 address 'gggg::1'$/, "connect"],
    [["listen", "--tun-ip6", "::"], /^--tun-ip6 must be a unicast IPv6 address/, "listen"],
    [["listen", "--tun-ip6", "::1"], /must be a unicast IPv6 address, got '::1'$/, "listen"],
    [["listen", "--tun-ip6", "ff02::1"], /must be a unicast IPv6 address/, "listen"],
    [["listen", "--tun-ip6", "::ffff:10.0.0.1"], /must be a unicast IPv6 address/, "listen"],
    [["listen", "--tun-ip6"], /^option '--tun-ip6' needs a value$/, "listen"],
    [["connect", "[fd00::1::2]:80"], /^bad IPv6 address 'fd00::1::2'$/, "connect"],
    [["connect", "[10.0.0.1]:80"], /^bad IPv6 address '10.0.0.1'$/, "connect"],
    [["connect", "fd00::1:80"], /^an IPv6 address needs brackets before a port/, "connect"],
    [["connect", "fd00::1"], /needs brackets before a port: \[IPV6\]:PORT/, "connect"],
    [["connect", "[fd00::1]"], /^missing port in '\[fd00::1\]'/, "connect"],
    [["connect", "10.0.0.1"], /^missing port in '10.0.0.1'/, "connect"],
    [["connect", "[fd00::1]:"], /port must be a number/, "connect"],
    [["connect", "[fd00::1]:99999"], /port 99999 out of range/, "connect"],
    [["connect", "[fd00::1"], /^bad target '\[fd00::1'/, "connect"],
    [["connect", "[fd00::1]80"], /^bad target/, "connect"],
    [["connect", "fd00::1]:80"], /^bad target/, "connect"],
    [
      ["connect", "[fd00::1]:80", "--ipv4-only"],
      /--ipv4-only cannot connect to an IPv6/,
      "connect",
    ],
    [["connect", "10.0.0.3:80", "--ipv6-only"], /--ipv6-only cannot connect to an IPv4/, "connect"],
  ];
  for (const [args, re, topic] of cases) {
    await t.step(args.join(" ") || "(no arguments)", () => {
      const err = usageError(args);
      assert.match(err.message, re);
      assert.equal(err.topic, topic);
    });
  }
});
