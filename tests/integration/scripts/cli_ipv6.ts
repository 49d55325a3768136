/**
 * Scenario (in a fresh namespace): the CLI over IPv6 (RFC 8200) with the kernel as the peer.
 *
 * 1. `main.ts listen --echo -v debug` prints both ready lines, IPv4 first; one kernel client
 *    over IPv6 and one over IPv4 are echoed by the same listener; the segment log shows the
 *    IPv6 peer as `[addr]:port`; SIGINT, exit 0.
 * 2. `main.ts listen --ipv6-only --echo`: one ready line, IPv6; an IPv4 client is refused.
 * 3. `main.ts connect [fdac:1194:20dc::2]:5000` against a kernel listener on `::`: bytes both
 *    ways, stdin EOF sends FIN, exit 0 once the kernel closes too.
 * 4. While a first `listen` holds the default IPv6 pair, a second one (another IPv4 address)
 *    cannot have it: it warns at -v info and serves IPv4 only; with --ipv6-only it exits 1.
 * @module
 */

import {
  Cli,
  closeQuietly,
  randomBytes,
  readExactly,
  readOutcome,
  readToEnd,
  scenario,
  sha256,
  within,
  writeAll,
} from "./common.ts";

const TUN6 = "fdac:1194:20dc::1";
const KERNEL6 = "fdac:1194:20dc::2";

async function echoOnce(hostname: string, text: string): Promise<Record<string, unknown>> {
  const k = await within(Deno.connect({ hostname, port: 4444 }), 5000, `connect ${hostname}`);
  try {
    const bytes = new TextEncoder().encode(text);
    await writeAll(k, bytes);
    const back = await within(readExactly(k, bytes.length), 5000, `echo from ${hostname}`);
    await k.closeWrite();
    const end = await within(readOutcome(k), 5000, `EOF from ${hostname}`);
    return {
      echoed: new TextDecoder().decode(back) === text,
      end,
      local: (k.localAddr as Deno.NetAddr).hostname,
    };
  } finally {
    closeQuietly(k);
  }
}

async function listenBoth(): Promise<Record<string, unknown>> {
  const cli = new Cli(["listen", "--echo", "-v", "debug"]);
  await cli.waitStderr(`listening on [${TUN6}]:4444`);
  const v6 = await echoOnce(TUN6, "hello over IPv6\n");
  const v4 = await echoOnce("10.0.0.1", "hello over IPv4\n");
  await cli.waitStderr(`[${KERNEL6}]:`);
  cli.kill("SIGINT");
  const code = await cli.exit();
  const lines = cli.stderr.split("\n");
  return {
    ready: lines.filter((l) => l.startsWith("listening on")),
    v6,
    v4,
    // Segment lines of the IPv6 client, e.g. "← [fdac:1194:20dc::2]:40000 > [fdac:…::1]:4444 [S] …".
    v6SegmentLines: lines.filter((l) => l.includes(`[${KERNEL6}]:`) && l.includes(`[${TUN6}]:4444`))
      .length,
    code,
  };
}

async function listenIpv6Only(): Promise<Record<string, unknown>> {
  const cli = new Cli(["listen", "--echo", "--ipv6-only", "-v", "info"]);
  await cli.waitStderr(`listening on [${TUN6}]:4444`);
  let v4: string;
  try {
    const k = await within(Deno.connect({ hostname: "10.0.0.1", port: 4444 }), 5000, "v4");
    k.close();
    v4 = "connected";
  } catch (e) {
    v4 = e instanceof Deno.errors.ConnectionRefused ? "refused" : String(e);
  }
  const v6 = await echoOnce(TUN6, "six only\n");
  cli.kill("SIGINT");
  const code = await cli.exit();
  return {
    ready: cli.stderr.split("\n").filter((l) => l.startsWith("listening on")),
    v4,
    v6,
    code,
  };
}

async function connect6(): Promise<Record<string, unknown>> {
  // "::" takes connections to every address, the TUN device's IPv6 one once it exists.
  const listener = Deno.listen({ hostname: "::", port: 5000 });
  let k: Deno.Conn | undefined;
  try {
    const cli = new Cli(["connect", `[${KERNEL6}]:5000`, "-v", "info"]);
    k = await within(listener.accept(), 10_000, "kernel accept");
    await cli.waitStderr(`connected to [${KERNEL6}]:5000`);
    const size = 64 * 1024;
    const toCli = randomBytes(size);
    const fromCli = randomBytes(size);
    const [, , received] = await within(
      Promise.all([
        writeAll(k, toCli),
        cli.write(fromCli).then(() => cli.closeStdin()),
        readToEnd(k),
      ]),
      15_000,
      "transfer",
    );
    await cli.waitStdout(size);
    await k.closeWrite();
    const code = await cli.exit();
    return {
      peer: (k.remoteAddr as Deno.NetAddr).hostname,
      local: (k.localAddr as Deno.NetAddr).hostname,
      stdoutMatches: (await sha256(cli.stdout())) === (await sha256(toCli)),
      receivedMatches: (await sha256(received)) === (await sha256(fromCli)),
      code,
    };
  } finally {
    if (k) closeQuietly(k);
    listener.close();
  }
}

async function pairTaken(): Promise<Record<string, unknown>> {
  const first = new Cli(["listen", "--echo"]);
  await first.waitStderr(`listening on [${TUN6}]:4444`);
  const second = new Cli(["listen", "--echo", "--tun-ip", "10.0.1.1", "-v", "info"]);
  await second.waitStderr("listening on 10.0.1.1:4444");
  const third = new Cli(["listen", "--tun-ip", "10.0.2.1", "--ipv6-only"]);
  const thirdCode = await third.exit();
  second.kill("SIGINT");
  first.kill("SIGINT");
  const secondCode = await second.exit();
  const firstCode = await first.exit();
  return {
    second: second.stderr.split("\n").filter((l) => l !== ""),
    third: third.stderr.split("\n").filter((l) => l !== ""),
    codes: [firstCode, secondCode, thirdCode],
  };
}

await scenario(60_000, async () => {
  const both = await listenBoth();
  const only6 = await listenIpv6Only();
  const connect = await connect6();
  const taken = await pairTaken();
  return { both, only6, connect, taken };
});
