/**
 * Scenario (in a fresh namespace): active close on SIGINT. A kernel client is connected to
 * `main.ts listen`; the CLI gets SIGINT and sends FIN on the connection: the client reads EOF
 * (read returns null, no reset), closes too, and the CLI exits 0. Usage: `cli_sigint.ts [MODE]`
 * where MODE is a listen flag such as `--echo` (default: stdio).
 * @module
 */

import {
  Cli,
  closeQuietly,
  readExactly,
  readOutcome,
  scenario,
  within,
  writeAll,
} from "./common.ts";

const mode = Deno.args[0];

await scenario(30_000, async () => {
  const cli = new Cli(["listen", "-v", "info", ...(mode ? [mode] : [])]);
  await cli.waitStderr("listening on 10.0.0.1:4444");
  const k = await within(
    Deno.connect({ hostname: "10.0.0.1", port: 4444 }),
    5000,
    "kernel connect",
  );
  try {
    const hello = new TextEncoder().encode("hello\n");
    await writeAll(k, hello);
    // Proof that the CLI holds the connection: the bytes came through.
    if (mode === "--echo") await within(readExactly(k, hello.length), 5000, "echo");
    else await cli.waitStdout(hello.length);
    cli.kill("SIGINT");
    const end = await within(readOutcome(k), 5000, "kernel EOF after SIGINT");
    k.close();
    const code = await cli.exit();
    return { mode: mode ?? "stdio", end, code, stderr: cli.stderr };
  } finally {
    closeQuietly(k);
  }
});
