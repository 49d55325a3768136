/**
 * The kernel side of a bulk transfer through Deno's kernel sockets, used by `bench/bench.ts`
 * only when the C helper `ksock` is not built. Runs inside the benchmark's namespace as a
 * process of its own, and prints the same `RESULT ... gbps=` line shape as `ksock`.
 *
 * Usage:
 * - `kernel_bulk.ts send HOST PORT SECS`: connects and writes 256 KiB chunks for SECS seconds.
 * - `kernel_bulk.ts recv PORT SECS`: prints `ready`, accepts one connection on 0.0.0.0:PORT and
 *   reads until end of stream (at most SECS + 20 s); the rate is timed from the first byte to
 *   the last.
 * @module
 */

const CHUNK = 256 * 1024;

function line(kind: string, bytes: number, secs: number): string {
  const gbps = secs > 0 ? bytes * 8 / secs / 1e9 : 0;
  return `RESULT ${kind} bytes=${bytes} gbps=${gbps.toFixed(3)} secs=${secs.toFixed(2)}`;
}

async function send(host: string, port: number, secs: number): Promise<void> {
  const conn = await Deno.connect({ hostname: host, port });
  const buf = new Uint8Array(CHUNK);
  let bytes = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < secs * 1000) bytes += await conn.write(buf);
  const dt = (performance.now() - t0) / 1000;
  conn.close();
  console.log(line("tcpsend", bytes, dt));
}

async function recv(port: number, secs: number): Promise<void> {
  const listener = Deno.listen({ hostname: "0.0.0.0", port });
  console.log("ready");
  const conn = await listener.accept();
  listener.close();
  const buf = new Uint8Array(1 << 20);
  let bytes = 0;
  let t0 = 0;
  let t1 = 0;
  const start = performance.now();
  for (;;) {
    const n = await conn.read(buf);
    if (n === null) break;
    t1 = performance.now();
    if (bytes === 0) t0 = t1;
    bytes += n;
    if (t1 - start > (secs + 20) * 1000) break;
  }
  conn.close();
  console.log(line("tcprecv", bytes, (t1 - t0) / 1000));
}

const [mode, a, b, c] = Deno.args;
const killer = setTimeout(() => {
  console.log("RESULT timed out");
  Deno.exit(1);
}, (Number(mode === "send" ? c : b) + 60) * 1000);
if (mode === "send") await send(a, Number(b), Number(c));
else if (mode === "recv") await recv(Number(a), Number(b));
else {
  console.error("usage: kernel_bulk.ts send HOST PORT SECS | recv PORT SECS");
  Deno.exit(2);
}
clearTimeout(killer);
