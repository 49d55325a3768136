/**
 * Idle-connection scale, run by `bench/bench.ts` inside its namespace: open rate and resident
 * memory per idle connection of a server process.
 *
 * Usage:
 * - `conns.ts client HOST PORT N PID [WARMUP]`: opens and closes WARMUP connections (default
 *   0), then opens N connections one after the other (each sends one byte), then after 1.5 s
 *   reads the RSS of server process PID and prints
 *   `RESULT conns n=N open_per_s=R rss_before_kib=A rss_after_kib=B per_conn_kib=C`, then closes
 *   them. Needs RLIMIT_NOFILE above N (the benchmark raises it with `ulimit -n`).
 * - `conns.ts serve HOST PORT`: a kernel-socket server that accepts and holds connections,
 *   reading whatever arrives; prints `ready`. The baseline for the open rate.
 * @module
 */

function rssKiB(pid: number): number {
  const m = Deno.readTextFileSync(`/proc/${pid}/status`).match(/^VmRSS:\s+(\d+)/m);
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]);
}

async function client(
  hostname: string,
  port: number,
  n: number,
  pid: number,
  warmup: number,
): Promise<void> {
  const one = new Uint8Array([0x78]);
  for (let i = 0; i < warmup; i++) {
    const c = await Deno.connect({ hostname, port });
    await c.write(one);
    c.close();
  }
  await new Promise((r) => setTimeout(r, 500));
  const before = rssKiB(pid);
  const conns: Deno.TcpConn[] = [];
  const t0 = performance.now();
  try {
    for (let i = 0; i < n; i++) {
      const c = await Deno.connect({ hostname, port });
      conns.push(c);
      await c.write(one);
    }
  } catch (e) {
    console.log(`RESULT conns failed after ${conns.length}: ${e instanceof Error ? e.message : e}`);
    for (const c of conns) c.close();
    return;
  }
  const secs = (performance.now() - t0) / 1000;
  await new Promise((r) => setTimeout(r, 1500));
  const after = rssKiB(pid);
  console.log(
    `RESULT conns n=${n} open_per_s=${(n / secs).toFixed(0)} rss_before_kib=${before} ` +
      `rss_after_kib=${after} per_conn_kib=${((after - before) / n).toFixed(2)}`,
  );
  for (const c of conns) c.close();
}

async function serve(hostname: string, port: number): Promise<void> {
  const listener = Deno.listen({ hostname, port });
  console.log("ready");
  const scratch = new Uint8Array(64);
  for await (const conn of listener) {
    (async () => {
      try {
        while (await conn.read(scratch) !== null) { /* hold the connection */ }
        conn.close();
      } catch { /* reset by the client's exit: already closed */ }
    })();
  }
}

const [mode, host, portArg, nArg, pidArg, warmupArg] = Deno.args;
const port = Number(portArg);
// Bounded: no run of this script outlives five minutes.
const killer = setTimeout(() => {
  console.log("RESULT conns timed out");
  Deno.exit(1);
}, 300_000);
if (mode === "client" && Number(nArg) > 0 && Number(pidArg) > 0) {
  await client(host, port, Number(nArg), Number(pidArg), Number(warmupArg ?? 0));
  clearTimeout(killer);
} else if (mode === "serve") {
  await serve(host, port);
} else {
  console.error("usage: conns.ts client HOST PORT N PID [WARMUP] | serve HOST PORT");
  Deno.exit(2);
}
