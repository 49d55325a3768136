/**
 * Scenario (in a fresh namespace): `main.ts connect 5555` when nothing listens on the kernel
 * side: the kernel answers RST and the CLI prints `error: connection refused` and exits 1.
 * @module
 */

import { Cli, scenario } from "./common.ts";

await scenario(20_000, async () => {
  const cli = new Cli(["connect", "5555"]);
  await cli.closeStdin();
  const code = await cli.exit();
  return { code, stdoutBytes: cli.stdout().length, stderr: cli.stderr };
});
