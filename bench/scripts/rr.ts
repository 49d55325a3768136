/**
 * 1-byte request/response over Deno's kernel sockets, run by `bench/bench.ts` inside its
 * namespace. The same client measures a kernel echo server on loopback and
 * `tcptun listen --echo --no-delay` through the TUN device.
 *
 * Usage:
 * - `rr.ts serve HOST PORT`: kernel echo server for one connection; prints `ready`.
 * - `rr.ts client HOST PORT N`: connects with TCP_NODELAY, makes 200 warm-up round trips, then
 *   times N round trips of one byte each (write, then read the echo) and prints
 *   `RESULT rr n=N per_s=R mean_us=M`.
 * @module
 */

async function serve(hostname: string, port: number): Promise<void> {
  const listener = Deno.listen({ hostname, port });
  console.log("ready");
  const conn = await listener.accept();
  listener.close();
  conn.setNoDelay(true);
  const buf = new Uint8Array(256);
  for (;;) {
    const n = await conn.read(buf);
    if (n === null) break;
    let off = 0;
    while (off < n) off += await conn.write(buf.subarray(off, n));
  }
  conn.close();
}

async function roundTrip(conn: Deno.TcpConn, out: Uint8Array, back: Uint8Array): Promise<void> {
  await conn.write(out);
  if (await conn.read(back) === null) throw new Error("echo server closed early");
}

async function client(hostname: string, port: number, n: number): Promise<void> {
  const conn = await Deno.connect({ hostname, port });
  conn.setNoDelay(true);
  const out = new Uint8Array([0x2a]);
  const back = new Uint8Array(256);
  for (let i = 0; i < 200; i++) await roundTrip(conn, out, back);
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await roundTrip(conn, out, back);
  const secs = (performance.now() - t0) / 1000;
  conn.close();
  console.log(
    `RESULT rr n=${n} per_s=${(n / secs).toFixed(0)} mean_us=${(secs / n * 1e6).toFixed(1)}`,
  );
}

const [mode, host, portArg, nArg] = Deno.args;
const port = Number(portArg);
// Bounded: no run of this script outlives two minutes.
const killer = setTimeout(() => {
  console.log("RESULT rr timed out");
  Deno.exit(1);
}, 120_000);
if (mode === "serve") await serve(host, port);
else if (mode === "client" && Number(nArg) > 0) await client(host, port, Number(nArg));
else {
  console.error("usage: rr.ts serve HOST PORT | client HOST PORT N");
  Deno.exit(2);
}
clearTimeout(killer);
