/**
 * Scenario (in a fresh namespace): `examples/port_forward.ts --port 8080 --to 127.0.0.1:9000`
 * relays kernel clients that reach tcptun at 10.0.0.1:8080 to an upstream kernel server on
 * 127.0.0.1:9000. The first byte a client sends picks what the upstream does:
 *
 * - `R` (request, response): the upstream reads to EOF, which it sees only if the client's FIN
 *   was relayed, then sends a response and closes; the client reads it after its own FIN.
 * - `G` (greeting): the upstream sends a greeting and half-closes at once; the client reads it
 *   to EOF (the upstream's FIN relayed), then sends its data and closes; the upstream reads it.
 * - `E` (echo): the upstream echoes until EOF; COUNT clients at once, both directions busy.
 *
 * Last, a client is mid-echo when the example gets SIGINT: it must read EOF and the example
 * exit 0. Usage: `example_forward.ts [SIZE] [COUNT]`.
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

const EXAMPLE = new URL("../../../examples/port_forward.ts", import.meta.url).pathname;
const size = Number(Deno.args[0] ?? 256 * 1024);
const count = Number(Deno.args[1] ?? 3);

/** What the upstream received on each connection, by mode, as SHA-256 digests. */
const upstreamGot: Record<string, string[]> = { R: [], G: [], E: [] };

function mode(byte: number): string {
  return String.fromCharCode(byte);
}

/** Serves one upstream connection in the mode its first byte names. */
async function upstream(c: Deno.Conn, response: Uint8Array, greeting: Uint8Array) {
  try {
    const m = mode((await readExactly(c, 1))[0]);
    if (m === "R") {
      upstreamGot.R.push(await sha256(await readToEnd(c)));
      await writeAll(c, response);
    } else if (m === "G") {
      await writeAll(c, greeting);
      await c.closeWrite();
      upstreamGot.G.push(await sha256(await readToEnd(c)));
    } else if (m === "E") {
      const buf = new Uint8Array(65536);
      for (let n = await c.read(buf); n !== null; n = await c.read(buf)) {
        await writeAll(c, buf.subarray(0, n));
      }
    }
  } finally {
    closeQuietly(c);
  }
}

async function connect(what: string): Promise<Deno.Conn> {
  return await within(Deno.connect({ hostname: "10.0.0.1", port: 8080 }), 5000, what);
}

await scenario(50_000, async () => {
  const response = randomBytes(size + 1234);
  const greeting = randomBytes(size / 2);
  const server = Deno.listen({ hostname: "127.0.0.1", port: 9000 });
  const serving = (async () => {
    for await (const c of server) upstream(c, response, greeting).catch(() => {});
  })();
  const ex = new Cli(["--port", "8080", "--to", "127.0.0.1:9000"], EXAMPLE);
  try {
    await ex.waitStderr("listening on 10.0.0.1:8080", 20_000);

    // R: the client's FIN must reach the upstream before the response can come back.
    const request = randomBytes(size);
    const r = await connect("R connect");
    await writeAll(r, new Uint8Array([0x52, ...request.subarray(0, 100)]));
    await writeAll(r, request.subarray(100));
    await r.closeWrite();
    const gotR = await within(readToEnd(r), 15_000, "R response");
    r.close();

    // G: the upstream's FIN must reach the client while the client's side stays open.
    const g = await connect("G connect");
    await writeAll(g, new TextEncoder().encode("G"));
    const gotG = await within(readToEnd(g), 15_000, "G greeting to EOF");
    const reply = randomBytes(size / 4);
    await writeAll(g, reply);
    await g.closeWrite();
    const afterG = await within(readOutcome(g), 5000, "G after reply");
    g.close();

    // E: several clients at once, both directions busy.
    const echoes = await within(
      Promise.all(Array.from({ length: count }, async (_, i) => {
        const data = randomBytes(size);
        const k = await connect(`E${i} connect`);
        try {
          await writeAll(k, new TextEncoder().encode("E"));
          const sending = writeAll(k, data).then(() => k.closeWrite());
          const got = await readToEnd(k);
          await sending;
          return (await sha256(got)) === (await sha256(data));
        } finally {
          closeQuietly(k);
        }
      })),
      20_000,
      "E clients",
    );

    // SIGINT while a relayed connection is open.
    const last = await connect("last connect");
    await writeAll(last, new TextEncoder().encode("Ehi"));
    const hi = new TextDecoder().decode(await within(readExactly(last, 2), 5000, "hi echo"));
    ex.kill("SIGINT");
    const end = await within(readOutcome(last), 5000, "EOF after SIGINT");
    last.close();
    const code = await ex.exit();

    return {
      responseMatches: (await sha256(gotR)) === (await sha256(response)),
      requestMatches: upstreamGot.R[0] === await sha256(request),
      greetingMatches: (await sha256(gotG)) === (await sha256(greeting)),
      replyMatches: upstreamGot.G[0] === await sha256(reply),
      afterG,
      echoes,
      hi,
      end,
      code,
      stderr: ex.stderr,
    };
  } finally {
    server.close();
    await serving.catch(() => {});
  }
});
