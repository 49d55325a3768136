/**
 * Scenario (in a fresh namespace): `python3 -m http.server --protocol HTTP/1.1` on the kernel
 * side serves a directory holding one file of SIZE random bytes; `examples/http_get.ts` (the
 * stack at 10.0.0.2) fetches it from 10.0.0.3, the kernel's end of the TUN link, saving the
 * body with `--output`. Then a missing path (a 404 response), and a server that accepts but
 * never answers while the example gets SIGINT: the server must read EOF and the example exit
 * 130. Usage: `example_http_get.ts [SIZE]`.
 * @module
 */

import {
  Cli,
  closeQuietly,
  killAtExit,
  randomBytes,
  readOutcome,
  scenario,
  sha256,
  sysctl,
  within,
} from "./common.ts";

const EXAMPLE = new URL("../../../examples/http_get.ts", import.meta.url).pathname;
const size = Number(Deno.args[0] ?? 1 << 20);
const PORT = 8000;

/** Waits until something accepts TCP connections on 127.0.0.1:`port` (bounded). */
async function waitListening(port: number, ms: number): Promise<void> {
  const deadline = performance.now() + ms;
  for (;;) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      return;
    } catch (e) {
      if (performance.now() > deadline) throw new Error(`nothing listens on ${port}: ${e}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

await scenario(60_000, async () => {
  const dir = await Deno.makeTempDir({ prefix: "tcptun-http-" });
  try {
    const served = randomBytes(size);
    await Deno.writeFile(`${dir}/data.bin`, served);
    // Every address of this namespace, 10.0.0.3 included once the example's device is up.
    const server = new Deno.Command("python3", {
      args: ["-m", "http.server", String(PORT), "--protocol", "HTTP/1.1", "--directory", dir],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    killAtExit(server);
    const serverLog = (async () => {
      let text = "";
      for await (const c of server.stderr.pipeThrough(new TextDecoderStream())) text += c;
      return text;
    })();
    try {
      await waitListening(PORT, 10_000);

      const out = `${dir}/got.bin`;
      const get = new Cli(["http://10.0.0.3:8000/data.bin", "--output", out], EXAMPLE);
      const code = await get.exit(30_000);
      const got = await Deno.readFile(out);
      const stdout = new TextDecoder().decode(get.stdout());

      const missing = new Cli(["http://10.0.0.3:8000/missing"], EXAMPLE);
      const missingCode = await missing.exit(30_000);
      const missingStdout = new TextDecoder().decode(missing.stdout());

      server.kill("SIGTERM");
      await server.status;
      return {
        size,
        code,
        stdout,
        stderr: get.stderr,
        bodyBytes: got.length,
        bodyMatches: (await sha256(got)) === (await sha256(served)),
        missingCode,
        missingStdout,
        serverLog: await serverLog,
        sigint: await interrupted(),
      };
    } finally {
      try {
        server.kill("SIGKILL");
      } catch {
        // already exited
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/**
 * A kernel listener on 10.0.0.3:8001 that reads the request and never answers; SIGINT to the
 * example while it waits. Returns how the listener's read ended and the example's exit code.
 */
async function interrupted(): Promise<Record<string, unknown>> {
  sysctl("net/ipv4/ip_nonlocal_bind", "1"); // bind 10.0.0.3 before the device exists
  const listener = Deno.listen({ hostname: "10.0.0.3", port: 8001 });
  let k: Deno.Conn | undefined;
  try {
    const get = new Cli(["http://10.0.0.3:8001/slow"], EXAMPLE);
    k = await within(listener.accept(), 20_000, "kernel accept");
    // The request arrives whole before the client waits for an answer.
    const buf = new Uint8Array(4096);
    let request = "";
    while (!request.includes("\r\n\r\n")) {
      const n = await within(k.read(buf), 5000, "request");
      if (n === null) throw new Error(`EOF inside the request: ${request}`);
      request += new TextDecoder().decode(buf.subarray(0, n));
    }
    get.kill("SIGINT");
    const end = await within(readOutcome(k), 5000, "server EOF after SIGINT");
    k.close();
    const code = await get.exit();
    return { requestLine: request.split("\r\n")[0], end, code, stderr: get.stderr };
  } finally {
    if (k) closeQuietly(k);
    listener.close();
  }
}
