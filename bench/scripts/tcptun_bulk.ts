/**
 * The tcptun side of one bulk transfer, run by `bench/bench.ts` INSIDE a network namespace it
 * created, as a process of its own: the kernel side (ksock or `kernel_bulk.ts`) is another
 * process, so each gets its own CPU.
 *
 * Usage:
 * - `tcptun_bulk.ts rx PORT OFFLOAD`: the stack owns 10.0.0.1 on TUN `tb0`, accepts one
 *   connection on PORT and reads (and drops) until the peer's FIN.
 * - `tcptun_bulk.ts tx PORT OFFLOAD SECS`: connects to the kernel at 10.0.0.2:PORT and writes one
 *   reused 256 KiB buffer of zeros for SECS seconds, then closes.
 *
 * OFFLOAD is 1 (TUN offloads, the default of `openStack`) or 0 (`offload: false`). Prints
 * `ready` once the device is up, then one `RESULT {json}` line, on stderr. Stdout is left to
 * V8: run with `--v8-flags=--expose-gc,--trace-gc-nvp` and the transfer is framed by two forced
 * full collections (reason "testing"), so the benchmark counts exactly the collections that
 * happened while bytes moved. With `TCPTUN_BENCH_ALLOC_SITES=1` the result also lists the top
 * allocation sites of the transfer (`alloc_sites.ts`; slows the transfer down).
 *
 * Tracing (the benchmark's `trace` part): without `TCPTUN_BENCH_TRACE` the stack has no `trace`
 * option (tracing off, the default). `TCPTUN_BENCH_TRACE=sink` passes a sink without I/O that
 * counts the events and keeps the last one: the events are built, nothing is written. (A sink
 * that ignores its argument, `() => {}`, is no measure of that: V8 inlines it through the
 * stack's per-connection closure and, by escape analysis, skips building most events; the heap
 * allocated per packet then stays that of tracing off.) `TCPTUN_BENCH_TRACE=file:PATH` writes
 * them with `TraceFile.create(PATH).sink`; the result then also has the file's size and the
 * events by type (read back after the transfer), and the file is deleted. Both report the
 * events counted while the bytes moved.
 * @module
 */

import { openStack } from "../../src/stack.ts";
import type { TraceSink } from "../../src/core.ts";
import type { TraceEvent } from "../../src/tcp/trace.ts";
import { TraceFile } from "../../src/trace_file.ts";
import { type AllocSite, startAllocSampling } from "./alloc_sites.ts";

const STACK_IP = "10.0.0.1";
const IFNAME = "tb0";
const CHUNK = 256 * 1024;

/** A forced full GC: the window marker in V8's trace (no-op without --expose-gc). */
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});

function usage(): never {
  console.error("usage: tcptun_bulk.ts rx PORT OFFLOAD | tx PORT OFFLOAD SECS");
  Deno.exit(2);
}

/** Rejects after `ms`: every wait of this script is bounded. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, rej) => {
      timer = setTimeout(() => rej(new Error(`${what}: no progress in ${ms} ms`)), ms);
    }),
  ]);
}

async function main(): Promise<void> {
  const [mode, portArg, offloadArg, secsArg] = Deno.args;
  const port = Number(portArg);
  const offload = offloadArg === "1";
  if ((mode !== "rx" && mode !== "tx") || !(port > 0) || !/^[01]$/.test(offloadArg ?? "")) usage();
  const secs = Number(secsArg ?? 0);
  if (mode === "tx" && !(secs > 0)) usage();

  const traceMode = Deno.env.get("TCPTUN_BENCH_TRACE") ?? "";
  const tracePath = traceMode.startsWith("file:") ? traceMode.slice(5) : undefined;
  if (traceMode !== "" && traceMode !== "sink" && !tracePath) usage();
  const traceFile = tracePath ? TraceFile.create(tracePath) : undefined;
  let sinkEvents = 0;
  let lastEvent: TraceEvent | undefined;
  const memorySink: TraceSink = (_conn, event) => {
    sinkEvents++;
    lastEvent = event;
  };
  const trace = traceFile ? traceFile.sink : traceMode === "sink" ? memorySink : undefined;
  /** Events traced so far (0 with tracing off). */
  const traced = () => traceFile ? traceFile.events : sinkEvents;
  const stack = await openStack({
    tunIp: STACK_IP,
    ifname: IFNAME,
    mtu: 1500,
    offload,
    ...(trace ? { trace } : {}),
  });
  const timer = setTimeout(() => {
    console.error("RESULT " + JSON.stringify({ error: "timed out" }));
    Deno.exit(1);
  }, (secs + 60) * 1000);
  try {
    // The same queue length as the reference peers get.
    const ip = await new Deno.Command("ip", {
      args: ["link", "set", "dev", IFNAME, "txqueuelen", "10000"],
    }).output();
    if (!ip.success) throw new Error("ip link set txqueuelen failed");
    let bytes = 0;
    let t0 = 0;
    let t1 = 0;
    /** Events traced when the window opened and closed. */
    let ev0 = 0;
    let ev1 = 0;
    let conn;
    const sampling = Deno.env.get("TCPTUN_BENCH_ALLOC_SITES") === "1";
    let stopSampling: ((top: number) => Promise<AllocSite[]>) | undefined;
    let allocSites: AllocSite[] | undefined;
    if (mode === "rx") {
      const listener = stack.listen({ port });
      console.error("ready");
      conn = await within(listener.accept(), 30_000, "accept");
      listener.close();
      const buf = new Uint8Array(CHUNK);
      // The profiler's own set-up allocates: before the window opens.
      if (sampling) stopSampling = await startAllocSampling();
      gc();
      for (;;) {
        // No per-read timeout here: it would allocate in the measured loop (the watchdog above
        // bounds the run).
        const n = await conn.read(buf);
        if (n === null) break;
        if (bytes === 0) {
          t0 = performance.now();
          ev0 = traced();
        }
        bytes += n;
      }
      t1 = performance.now();
      ev1 = traced();
      gc();
      allocSites = await stopSampling?.(12);
      await conn.closeWrite();
    } else {
      console.error("ready");
      conn = await within(stack.connect({ hostname: stack.peerIp, port }), 30_000, "connect");
      const buf = new Uint8Array(CHUNK);
      // The profiler's own set-up allocates: before the window opens.
      if (sampling) stopSampling = await startAllocSampling();
      gc();
      t0 = performance.now();
      ev0 = traced();
      const end = t0 + secs * 1000;
      while (performance.now() < end) {
        bytes += await conn.write(buf);
      }
      await conn.closeWrite();
      t1 = performance.now();
      ev1 = traced();
      gc();
      allocSites = await stopSampling?.(12);
      // The receiver reads to our FIN and closes: wait for its FIN.
      const sink = new Uint8Array(64);
      while (await within(conn.read(sink), 20_000, "peer FIN") !== null) { /* nothing */ }
    }
    await within(conn.closed, 5_000, "close").catch(() => {});
    const s = conn.stats();
    let traceResult;
    if (traceFile && tracePath) {
      traceFile.flush();
      traceResult = {
        events: traceFile.events,
        windowEvents: ev1 - ev0,
        fileBytes: Deno.statSync(tracePath).size,
        byType: await countEvents(tracePath),
      };
    } else if (trace) {
      traceResult = { events: sinkEvents, windowEvents: ev1 - ev0, last: lastEvent?.ev };
    }
    console.error(
      "RESULT " + JSON.stringify({
        mode,
        offload,
        bytes,
        secs: (t1 - t0) / 1000,
        gbps: t1 > t0 ? bytes * 8 / ((t1 - t0) / 1000) / 1e9 : 0,
        segmentsSent: s.segmentsSent,
        segmentsReceived: s.segmentsReceived,
        retransmissions: s.retransmissions,
        allocSites,
        trace: traceResult,
      }),
    );
  } finally {
    clearTimeout(timer);
    await stack.close();
    traceFile?.close();
    if (tracePath) await Deno.remove(tracePath).catch(() => {});
  }
}

/**
 * Events of a trace file by type, segments split by direction ("seg in", "seg out"), read
 * after the transfer. Relies on the writer's field order: `"ev"` first, then `"dir"`.
 */
async function countEvents(path: string): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  const re = /"ev":"([a-z]+)"(?:,"dir":"(in|out)")?/g;
  const decoder = new TextDecoder();
  using file = await Deno.open(path);
  const buf = new Uint8Array(1 << 20);
  let rest = "";
  for (;;) {
    const n = await file.read(buf);
    const text = rest + (n === null ? "" : decoder.decode(buf.subarray(0, n), { stream: true }));
    // Whole lines only: a match never straddles two reads.
    const cut = n === null ? text.length : text.lastIndexOf("\n") + 1;
    for (const m of text.slice(0, cut).matchAll(re)) {
      const k = m[2] ? `${m[1]} ${m[2]}` : m[1];
      counts[k] = (counts[k] ?? 0) + 1;
    }
    rest = text.slice(cut);
    if (n === null) break;
  }
  return counts;
}

await main();
Deno.exit(0);
