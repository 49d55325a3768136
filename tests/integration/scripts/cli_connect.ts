/**
 * Scenario (in a fresh namespace): `main.ts connect 4444 --tun-ip 10.0.0.2` against a kernel
 * listener on 10.0.0.3:4444 (the kernel side of the TUN link). The listener is bound before the
 * TUN device exists, thanks to `ip_nonlocal_bind` in this namespace. Bytes from the kernel
 * appear on the CLI's stdout, stdin bytes reach the kernel, stdin EOF sends FIN, and the CLI
 * exits 0 once the kernel closes too. Usage: `cli_connect.ts [SIZE]`.
 * @module
 */

import {
  Cli,
  closeQuietly,
  randomBytes,
  readOutcome,
  readToEnd,
  scenario,
  sha256,
  sysctl,
  within,
  writeAll,
} from "./common.ts";

const size = Number(Deno.args[0] ?? 256 * 1024);

await scenario(30_000, async () => {
  sysctl("net/ipv4/ip_nonlocal_bind", "1");
  const listener = Deno.listen({ hostname: "10.0.0.3", port: 4444 });
  let k: Deno.Conn | undefined;
  try {
    const cli = new Cli(["connect", "4444", "--tun-ip", "10.0.0.2", "-v", "info"]);
    k = await within(listener.accept(), 10_000, "kernel accept");
    await cli.waitStderr("connected to 10.0.0.3:4444");
    const toCli = randomBytes(size);
    const fromCli = randomBytes(size);
    // Both directions at once; stdin EOF after its bytes must deliver FIN after them.
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
    // The CLI's output side is still open until the kernel's FIN.
    await k.closeWrite();
    const code = await cli.exit();
    const after = await within(readOutcome(k), 5000, "kernel after exit");
    const stdout = cli.stdout();
    return {
      size,
      peer: k.remoteAddr,
      local: k.localAddr,
      stdoutBytes: stdout.length,
      stdoutMatches: (await sha256(stdout)) === (await sha256(toCli)),
      receivedBytes: received.length,
      receivedMatches: (await sha256(received)) === (await sha256(fromCli)),
      after,
      code,
      stderr: cli.stderr,
    };
  } finally {
    if (k) closeQuietly(k);
    listener.close();
  }
});
