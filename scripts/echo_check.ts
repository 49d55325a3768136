/**
 * A client for smoke tests: connects to an echo server (`tcptun listen --echo`) with the host's
 * own TCP, sends SIZE random bytes while reading, half-closes, reads the echo to EOF and
 * compares. Prints one line and exits 0 when every byte came back in order, 1 otherwise
 * (mismatch, error, or no outcome within the time limit).
 *
 * Usage: `deno run --allow-net scripts/echo_check.ts HOST PORT [SIZE] [TIMEOUT_MS]`
 * (SIZE 65536, TIMEOUT_MS 20000). Used by `.ci/smoke`.
 * @module
 */

/**
 * Sends `data` to `hostname:port`, half-closes, and returns what came back before EOF.
 * @example
 * ```ts ignore
 * import { echoRoundTrip } from "./echo_check.ts";
 * const back = await echoRoundTrip("10.0.0.1", 4444, new Uint8Array([1, 2, 3]));
 * ```
 */
export async function echoRoundTrip(
  hostname: string,
  port: number,
  data: Uint8Array,
): Promise<Uint8Array> {
  const conn = await Deno.connect({ hostname, port });
  try {
    const sending = (async () => {
      for (let off = 0; off < data.length;) off += await conn.write(data.subarray(off));
      await conn.closeWrite();
    })();
    const back = new Uint8Array(data.length);
    let got = 0;
    const spill = new Uint8Array(4096);
    for (;;) {
      // Past the expected length, keep reading (into `spill`) to see extra bytes or EOF.
      const into = got < back.length ? back.subarray(got) : spill;
      const n = await conn.read(into);
      if (n === null) break;
      if (got >= back.length) throw new Error(`more than ${data.length} bytes came back`);
      got += n;
    }
    await sending;
    return back.subarray(0, got);
  } finally {
    conn.close();
  }
}

if (import.meta.main) {
  const [host, portText, sizeText = "65536", timeoutText = "20000"] = Deno.args;
  const port = Number(portText);
  const size = Number(sizeText);
  if (!host || !(port >= 1 && port <= 65535) || !(size >= 1)) {
    console.error("usage: echo_check.ts HOST PORT [SIZE] [TIMEOUT_MS]");
    Deno.exit(2);
  }
  const timer = setTimeout(() => {
    console.error(`echo check: no outcome within ${timeoutText} ms`);
    Deno.exit(1);
  }, Number(timeoutText));
  const data = new Uint8Array(size);
  for (let off = 0; off < size; off += 65536) {
    crypto.getRandomValues(data.subarray(off, Math.min(size, off + 65536)));
  }
  try {
    const back = await echoRoundTrip(host, port, data);
    const same = back.length === data.length && back.every((b, i) => b === data[i]);
    if (!same) {
      console.error(`echo check: ${back.length} of ${size} bytes came back, or not the same`);
      Deno.exit(1);
    }
    console.log(`echo check: ${size} bytes from ${host}:${port} came back intact`);
  } catch (e) {
    console.error(`echo check: ${e instanceof Error ? `${e.name}: ${e.message}` : e}`);
    Deno.exit(1);
  } finally {
    clearTimeout(timer);
  }
}
