/**
 * Scenario (in a fresh namespace): passive close, then the next connection. `main.ts listen`
 * (stdio mode, no `--once`) serves two kernel clients one after the other; each sends a line
 * and half-closes, the CLI closes its side in answer (CLOSE-WAIT → LAST-ACK) and the client
 * reads EOF; both lines appear on stdout in order. SIGINT then ends the CLI with exit 0.
 * @module
 */

import { Cli, closeQuietly, readOutcome, scenario, within, writeAll } from "./common.ts";

const lines = ["first client\n", "second client\n"];

await scenario(30_000, async () => {
  const cli = new Cli(["listen", "-v", "info"]);
  await cli.waitStderr("listening on 10.0.0.1:4444");
  const clients = [];
  let expected = 0;
  for (const line of lines) {
    const k = await within(
      Deno.connect({ hostname: "10.0.0.1", port: 4444 }),
      5000,
      "kernel connect",
    );
    try {
      const bytes = new TextEncoder().encode(line);
      await writeAll(k, bytes);
      await k.closeWrite();
      expected += bytes.length;
      const end = await within(readOutcome(k), 5000, "kernel EOF");
      await cli.waitStdout(expected);
      clients.push({ port: k.localAddr.port, ...end });
    } finally {
      closeQuietly(k);
    }
  }
  await cli.waitStderr(`:${clients[clients.length - 1].port} closed (`);
  cli.kill("SIGINT");
  const code = await cli.exit();
  return {
    clients,
    stdout: new TextDecoder().decode(cli.stdout()),
    code,
    stderr: cli.stderr,
  };
});
