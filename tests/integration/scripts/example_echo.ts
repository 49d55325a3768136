/**
 * Scenario (in a fresh namespace): `examples/echo_server.ts --port 7777` (a port other than
 * its default, from the flag) echoes for COUNT kernel clients at once, each sending SIZE random
 * bytes and half-closing, then reading the echo to EOF. Then one more client stays connected
 * while the example gets SIGINT: it must read EOF (a FIN, no reset) and the example exit 0.
 * Usage: `example_echo.ts [SIZE] [COUNT]`.
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

const EXAMPLE = new URL("../../../examples/echo_server.ts", import.meta.url).pathname;
const size = Number(Deno.args[0] ?? 256 * 1024);
const count = Number(Deno.args[1] ?? 3);

await scenario(40_000, async () => {
  const ex = new Cli(["--port", "7777"], EXAMPLE);
  await ex.waitStderr("listening on 10.0.0.1:7777", 20_000);

  const clients = Array.from({ length: count }, async (_, i) => {
    const data = randomBytes(size);
    const k = await within(
      Deno.connect({ hostname: "10.0.0.1", port: 7777 }),
      5000,
      `client ${i} connect`,
    );
    try {
      const sending = writeAll(k, data).then(() => k.closeWrite());
      const got = await readToEnd(k);
      await sending;
      return { bytes: got.length, matches: (await sha256(got)) === (await sha256(data)) };
    } finally {
      closeQuietly(k);
    }
  });
  const echoes = await within(Promise.all(clients), 20_000, "echo clients");

  // A client in the middle of a conversation when SIGINT arrives.
  const k = await within(
    Deno.connect({ hostname: "10.0.0.1", port: 7777 }),
    5000,
    "last client connect",
  );
  try {
    const hello = new TextEncoder().encode("hello\n");
    await writeAll(k, hello);
    const echoed = new TextDecoder().decode(await within(readExactly(k, 6), 5000, "hello echo"));
    ex.kill("SIGINT");
    const end = await within(readOutcome(k), 5000, "client EOF after SIGINT");
    k.close();
    const code = await ex.exit();
    return { echoes, echoed, end, code, stderr: ex.stderr };
  } finally {
    closeQuietly(k);
  }
});
