/**
 * Scenario (in a fresh namespace): `main.ts listen` bridges one kernel client with its stdio.
 * Bytes the client sends appear on the CLI's stdout; bytes written to the CLI's stdin reach the
 * client; closing stdin sends FIN (the client reads EOF); then SIGINT ends the CLI with exit 0.
 * Usage: `cli_stdio.ts [SIZE]`.
 * @module
 */

import {
  Cli,
  closeQuietly,
  randomBytes,
  readExactly,
  readOutcome,
  scenario,
  sha256,
  within,
  writeAll,
} from "./common.ts";

const size = Number(Deno.args[0] ?? 256 * 1024);

await scenario(30_000, async () => {
  const cli = new Cli(["listen", "-v", "info"]);
  await cli.waitStderr("listening on 10.0.0.1:4444");
  const k = await within(
    Deno.connect({ hostname: "10.0.0.1", port: 4444 }),
    5000,
    "kernel connect",
  );
  try {
    // kernel → CLI stdout
    const toCli = randomBytes(size);
    await writeAll(k, toCli);
    await cli.waitStdout(size);
    const stdout = cli.stdout();
    // CLI stdin → kernel
    const fromCli = randomBytes(size);
    const [, received] = await Promise.all([
      cli.write(fromCli),
      within(readExactly(k, size), 10_000, "kernel read"),
    ]);
    // stdin EOF → FIN
    await cli.closeStdin();
    const afterStdinClosed = await within(readOutcome(k), 5000, "kernel EOF");
    await k.closeWrite();
    // The CLI logs the connection's statistics once it has finished (LAST-ACK → CLOSED).
    await cli.waitStderr(" closed (");
    cli.kill("SIGINT");
    const code = await cli.exit();
    return {
      size,
      stdoutBytes: stdout.length,
      stdoutMatches: (await sha256(stdout)) === (await sha256(toCli)),
      receivedMatches: (await sha256(received)) === (await sha256(fromCli)),
      afterStdinClosed,
      code,
      stderr: cli.stderr,
    };
  } finally {
    closeQuietly(k);
  }
});
