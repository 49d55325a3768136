/**
 * tcptun's benchmark: one run, one table, every figure beside a reference measured in the same
 * run on the same machine, and ratios. It asserts nothing about time.
 *
 * Run: `deno task bench` (Linux, root). `deno task bench -- --help` lists the flags.
 *
 * Parts (`--only rx,tx,rr,conns,trace`; all but trace by default):
 * - rx, tx: bulk transfer kernel → peer and peer → kernel through a TUN device (MTU 1500,
 *   txqueuelen 10000), each run in a network namespace of its own, alternated run by run. The
 *   peers: tcptun without offloads (`offload: false`, the CLI's `--no-offload`) and with them
 *   (the default), beside the reference peers of the shared bench when they are built (see
 *   below): a minimal C TCP endpoint (the ceiling for a user-space stack here), the same with
 *   TUN offloads (vnet), and lwIP 2.1.3 (rx only). The kernel side is a process of its own
 *   (`ksock`, or `scripts/kernel_bulk.ts` when ksock is not built) and tcptun runs in another
 *   (`scripts/tcptun_bulk.ts`). rx is measured at the receiving peer, tx at the kernel receiver.
 * - GC: tcptun's process runs with V8's `--trace-gc-nvp`; the transfer is framed by two forced
 *   collections, and the collections between them are counted per GiB moved, with the heap
 *   bytes allocated per 1448-byte packet.
 * - rr: 1-byte request/response rate of a Deno kernel-socket client with TCP_NODELAY
 *   (`scripts/rr.ts`) against `tcptun listen --echo --no-delay`, beside the same client against
 *   a kernel echo server on loopback.
 * - conns: open rate and RSS per idle connection at 100 and 10,000 connections against
 *   `tcptun listen --discard`, beside the same client against a kernel listener on loopback
 *   whose process only accepts (`scripts/conns.py`, Python: one syscall per step on both ends).
 * - trace: what connection tracing costs. tcptun's bulk rx and tx (offloads on; with
 *   `--trace-no-offload` also without) three ways, alternated run by run: tracing off (no `trace`
 *   option, the default and every other row's setting), tracing on into a sink without I/O
 *   that counts the events and keeps the last (the events are built, nothing is written; a
 *   sink that ignores its argument, `() => {}`, lets V8 skip building them), and tracing on into
 *   a `TraceFile` on /tmp (deleted afterwards). Ratios to "off", events per packet, events/s and
 *   the file's size. Not in the default set: its eighteen bulk runs at the default `--runs 3`
 *   add about a minute to the default run's two and a half.
 *
 * Reference peers: `tunbench`, `ksock` and `lwip_tun_sink`, built by the shared bench's
 * `build.sh` into `$PEERS_BUILD` (default `~/.cache/tcptun-peers`, `--peers DIR` overrides). This
 * repository does not carry them; without them their rows are skipped with a note.
 * @module
 */

import { parseArgs } from "node:util";
import {
  cleanupAll,
  cleanupOnSignals,
  hardNofile,
  inNetns,
  median,
  type Netns,
  type Proc,
  removeTempFile,
  resultFields,
  sleep,
  tempFile,
} from "./harness.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const SCRIPTS = new URL("scripts/", import.meta.url).pathname;
const MAIN = `${ROOT}main.ts`;
const DENO = Deno.execPath();
const MTU = 1500;
/** Payload of one MTU-sized packet with TCP timestamps (1500 − 20 − 20 − 12). */
const PACKET_PAYLOAD = 1448;
const GIB = 1024 ** 3;
const STACK_IP = "10.0.0.1";
const KERNEL_IP = "10.0.0.2";
/** Connections the conns client opens and closes before measuring (JIT warm-up). */
const CONNS_WARMUP = 200;

// ---------------------------------------------------------------------------------------
// Options

interface Options {
  parts: Set<string>;
  secs: number;
  runs: number;
  rrN: number;
  conns: number[];
  peers: string;
  allocSites: boolean;
  traceNoOffload: boolean;
}

const PARTS = ["rx", "tx", "rr", "conns", "trace"];
/** What runs without `--only`: `trace` adds about a minute, so it is asked for by name. */
const DEFAULT_PARTS = ["rx", "tx", "rr", "conns"];

const HELP = `usage: deno task bench [--] [FLAGS]     (Linux, root)

  --only LIST     parts to run, comma-separated: rx,tx,rr,conns,trace (default rx,tx,rr,conns:
                  trace, the cost of connection tracing, adds about a minute and runs only
                  when named, e.g. --only trace or --only rx,tx,rr,conns,trace)
  --secs S        seconds per bulk transfer (default 3)
  --runs R        runs of each measurement, alternated; the table shows medians (default 3)
  --rr N          round trips per rr measurement (default 20000)
  --conns LIST    idle-connection counts (default 100,10000)
  --peers DIR     folder of the built reference peers (default $PEERS_BUILD or
                  ~/.cache/tcptun-peers)
  --quick         --secs 1 --runs 1 --rr 5000 --conns 100,1000 unless given
  --alloc-sites   also sample where tcptun allocates during bulk transfers (V8's sampling
                  heap profiler) and list the top sites; slows tcptun's bulk rows down
  --trace-no-offload
                  trace part: also measure without offloads (doubles the part's length)
  -h, --help      this text

The reference peers (C TCP peer, its offload variant, lwIP, and ksock as the kernel side) are
built by the shared bench's build.sh (../shared/bench/build.sh beside the repository on the
development machines); without them their rows are skipped and the kernel side runs in Deno.`;

function parseOptions(args: string[]): Options {
  const { values } = parseArgs({
    // `deno task bench -- --quick` passes the "--" through.
    args: args[0] === "--" ? args.slice(1) : args,
    options: {
      only: { type: "string" },
      secs: { type: "string" },
      runs: { type: "string" },
      rr: { type: "string" },
      conns: { type: "string" },
      peers: { type: "string" },
      quick: { type: "boolean" },
      "alloc-sites": { type: "boolean" },
      "trace-no-offload": { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
  });
  if (values.help) {
    console.log(HELP);
    Deno.exit(0);
  }
  const quick = values.quick === true;
  const num = (name: string, v: string | undefined, dflt: number, min: number): number => {
    const n = v === undefined ? dflt : Number(v);
    if (!Number.isFinite(n) || n < min) throw new Error(`--${name} must be a number ≥ ${min}`);
    return n;
  };
  const parts = new Set((values.only ?? DEFAULT_PARTS.join(",")).split(",").map((s) => s.trim()));
  for (const p of parts) {
    if (!PARTS.includes(p)) throw new Error(`--only: unknown part "${p}" (${PARTS.join(",")})`);
  }
  const conns = (values.conns ?? (quick ? "100,1000" : "100,10000")).split(",").map(Number);
  if (conns.some((n) => !Number.isInteger(n) || n < 1)) {
    throw new Error("--conns must list positive integers");
  }
  const home = Deno.env.get("HOME") ?? "/root";
  const cache = Deno.env.get("XDG_CACHE_HOME") ?? `${home}/.cache`;
  return {
    parts,
    secs: num("secs", values.secs, quick ? 1 : 3, 0.5),
    runs: Math.round(num("runs", values.runs, quick ? 1 : 3, 1)),
    rrN: Math.round(num("rr", values.rr, quick ? 5000 : 20000, 100)),
    conns,
    peers: values.peers ?? Deno.env.get("PEERS_BUILD") ?? `${cache}/tcptun-peers`,
    allocSites: values["alloc-sites"] === true,
    traceNoOffload: values["trace-no-offload"] === true,
  };
}

// ---------------------------------------------------------------------------------------
// Reference peers

interface Peers {
  ksock?: string;
  tunbench?: string;
  lwip?: string;
  notes: string[];
}

function executable(path: string): boolean {
  try {
    const st = Deno.statSync(path);
    return st.isFile && ((st.mode ?? 0) & 0o111) !== 0;
  } catch {
    return false;
  }
}

/** The built reference peers in `dir`, and a note for each missing one. */
function findPeers(dir: string): Peers {
  const p: Peers = { notes: [] };
  const at = (name: string) => executable(`${dir}/${name}`) ? `${dir}/${name}` : undefined;
  p.ksock = at("ksock");
  p.tunbench = at("tunbench");
  p.lwip = at("lwip_tun_sink");
  // The shared bench sits beside the repository on the development machines only.
  const shared = new URL("../../shared/bench/build.sh", import.meta.url).pathname;
  const how = executable(shared) || existsFile(shared)
    ? `bash ${shared}`
    : "the shared bench's build.sh (not found at ../shared/bench from the repository root)";
  if (!p.ksock || !p.tunbench) {
    p.notes.push(
      `reference peers not built in ${dir}: C peer and lwIP rows skipped, kernel side in Deno; ` +
        `build them with ${how} (or point --peers / PEERS_BUILD at them)`,
    );
  } else if (!p.lwip) {
    p.notes.push(
      `lwIP row skipped: no ${dir}/lwip_tun_sink; install liblwip-dev and pkg-config, then ` +
        `rerun ${how}`,
    );
  }
  return p;
}

function existsFile(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------
// GC accounting from V8's --trace-gc-nvp

interface GcEvent {
  kind: string;
  reason: string;
  pauseMs: number;
  allocated: number;
}

interface GcWindow {
  scavenges: number;
  markCompacts: number;
  pauseMs: number;
  allocatedBytes: number;
}

/** A stdout line handler that collects V8's `GC: {json}` lines into `events`. */
function gcCollector(events: GcEvent[]): (line: string) => void {
  return (line) => {
    const i = line.indexOf("GC: {");
    if (i < 0) return;
    try {
      const j = JSON.parse(line.slice(i + 4));
      events.push({
        kind: String(j.gc),
        reason: String(j.reason),
        pauseMs: Number(j.pause) || 0,
        allocated: Number(j.allocated) || 0,
      });
    } catch { /* a line cut by an unrelated write: ignored */ }
  };
}

/**
 * The collections between the two forced ones (reason "testing") that frame the transfer. The
 * closing forced collection contributes its `allocated` (bytes allocated since the one before)
 * but is not counted as a collection of its own.
 */
function gcWindow(events: GcEvent[]): GcWindow | undefined {
  const marks = events.flatMap((e, i) => e.reason === "testing" ? [i] : []);
  if (marks.length < 2) return undefined;
  const w: GcWindow = { scavenges: 0, markCompacts: 0, pauseMs: 0, allocatedBytes: 0 };
  for (let i = marks[0] + 1; i < marks[1]; i++) {
    const e = events[i];
    if (e.kind === "mc") w.markCompacts++;
    else w.scavenges++;
    w.pauseMs += e.pauseMs;
    w.allocatedBytes += e.allocated;
  }
  w.allocatedBytes += events[marks[1]].allocated;
  return w;
}

// ---------------------------------------------------------------------------------------
// Bulk transfers

/** How tcptun's process traces its connections in a bulk run. */
type TraceMode = "off" | "sink" | "file";

/** What `scripts/tcptun_bulk.ts` reports about its trace (`TCPTUN_BENCH_TRACE`). */
interface TraceResult {
  /** Events traced in all. */
  events: number;
  /** Events traced while the bytes moved (the measured window). */
  windowEvents: number;
  /** The trace file's size (file only). */
  fileBytes?: number;
  /** Events by type, segments by direction ("seg in", "seg out") (file only). */
  byType?: Record<string, number>;
}

interface BulkResult {
  gbps: number;
  bytes?: number;
  /** tcptun's own measured window, seconds. */
  secs?: number;
  gc?: GcWindow;
  allocSites?: { site: string; percent: number }[];
  trace?: TraceResult;
  detail: string;
}

interface BulkRow {
  key: string;
  dir: "rx" | "tx";
  label: string;
  run(ns: Netns): Promise<BulkResult>;
}

/** The kernel side: ksock when built, else the Deno fallback; both print `RESULT ... gbps=`. */
function kernelSide(peers: Peers) {
  return {
    name: peers.ksock ? "ksock (C)" : "Deno kernel sockets (scripts/kernel_bulk.ts)",
    send: (ns: Netns, secs: number): Proc =>
      peers.ksock
        ? ns.spawn("ksock tcpsend", peers.ksock, ["tcpsend", STACK_IP, "5001", String(secs)], {
          timeoutMs: (secs + 30) * 1000,
        })
        : ns.spawn("kernel send", DENO, [
          "run",
          "-A",
          `${SCRIPTS}kernel_bulk.ts`,
          "send",
          STACK_IP,
          "5001",
          String(secs),
        ], { timeoutMs: (secs + 70) * 1000 }),
    recv: (ns: Netns, secs: number): Proc =>
      peers.ksock
        ? ns.spawn("ksock tcprecv", peers.ksock, ["tcprecv", "5002", String(secs)], {
          timeoutMs: (secs + 40) * 1000,
        })
        : ns.spawn("kernel recv", DENO, [
          "run",
          "-A",
          `${SCRIPTS}kernel_bulk.ts`,
          "recv",
          "5002",
          String(secs),
        ], { timeoutMs: (secs + 90) * 1000 }),
  };
}

/** Address, MTU and queue of a TUN device made by a reference peer (which leaves them unset). */
async function configurePeerTun(ns: Netns): Promise<void> {
  await ns.ip("addr", "add", KERNEL_IP, "peer", STACK_IP, "dev", "tb0");
  await ns.ip("link", "set", "tb0", "mtu", String(MTU), "txqueuelen", "10000", "up");
}

function gbpsOf(p: Proc, what: string): number {
  const line = p.find(/^RESULT/);
  const f = resultFields(line);
  if (!line || !(f.gbps >= 0)) {
    throw new Error(`${what}: no result (${line ?? p.lines.out.at(-1)})`);
  }
  return f.gbps;
}

function tcptunWorker(
  ns: Netns,
  args: string[],
  secs: number,
  events: GcEvent[],
  env: Record<string, string>,
): Proc {
  return ns.spawn(
    `tcptun ${args[0]}`,
    DENO,
    [
      "run",
      "-A",
      "--v8-flags=--expose-gc,--trace-gc-nvp",
      `${SCRIPTS}tcptun_bulk.ts`,
      ...args,
    ],
    {
      timeoutMs: (secs + 70) * 1000,
      onStdout: gcCollector(events),
      cwd: ROOT,
      env,
    },
  );
}

/** The `RESULT {json}` line of `scripts/tcptun_bulk.ts`. */
interface TcptunResult {
  gbps: number;
  bytes: number;
  secs: number;
  error?: string;
  allocSites?: { site: string; percent: number }[];
  trace?: TraceResult;
}

function tcptunResult(p: Proc): TcptunResult {
  const line = p.find(/^RESULT \{/);
  if (!line) throw new Error(`tcptun: no result\n  ${p.lines.err.slice(-6).join("\n  ")}`);
  const r = JSON.parse(line.slice(7));
  if (r.error) throw new Error(`tcptun: ${r.error}`);
  return r;
}

/**
 * A bulk transfer with tcptun as the peer (`scripts/tcptun_bulk.ts`): rx is measured at tcptun,
 * tx at the kernel receiver. `trace` sets how tcptun traces (off: no `trace` option at all).
 */
function tcptunRow(
  opts: Options,
  peers: Peers,
  dir: "rx" | "tx",
  key: string,
  label: string,
  offload: boolean,
  trace: TraceMode = "off",
): BulkRow {
  const secs = opts.secs;
  const kernel = kernelSide(peers);
  const run = async (ns: Netns, env: Record<string, string>): Promise<BulkResult> => {
    const events: GcEvent[] = [];
    let w: Proc;
    let kernelProc: Proc;
    if (dir === "rx") {
      w = tcptunWorker(ns, ["rx", "5001", offload ? "1" : "0"], secs, events, env);
      await w.waitFor(/^ready/, 20_000);
      await sleep(200);
      kernelProc = kernel.send(ns, secs);
      await kernelProc.wait((secs + 30) * 1000);
      await w.wait(30_000);
    } else {
      kernelProc = kernel.recv(ns, secs);
      await kernelProc.waitFor(/^ready/, 20_000);
      w = tcptunWorker(ns, ["tx", "5002", offload ? "1" : "0", String(secs)], secs, events, env);
      await kernelProc.wait((secs + 40) * 1000);
      await w.wait(30_000);
    }
    const r = tcptunResult(w);
    return {
      gbps: dir === "rx" ? r.gbps : gbpsOf(kernelProc, label),
      bytes: r.bytes,
      secs: r.secs,
      gc: gcWindow(events),
      allocSites: r.allocSites,
      trace: r.trace,
      detail: `${w.find(/^RESULT/)?.slice(0, 400)} | ${kernelProc.find(/^RESULT/)}`,
    };
  };
  return {
    key,
    dir,
    label,
    run: async (ns) => {
      const env: Record<string, string> = opts.allocSites ? { TCPTUN_BENCH_ALLOC_SITES: "1" } : {};
      if (trace === "sink") env.TCPTUN_BENCH_TRACE = "sink";
      if (trace !== "file") return await run(ns, env);
      // The script deletes the file itself; this is for a run that fails halfway.
      const path = tempFile("trace.jsonl");
      try {
        return await run(ns, { ...env, TCPTUN_BENCH_TRACE: `file:${path}` });
      } finally {
        await removeTempFile(path);
      }
    },
  };
}

function bulkRows(opts: Options, peers: Peers): BulkRow[] {
  const secs = opts.secs;
  const kernel = kernelSide(peers);
  const rows: BulkRow[] = [];
  const t = peers.tunbench;

  const peerRx = (key: string, label: string, cmd: string, args: string[]): BulkRow => ({
    key,
    dir: "rx",
    label,
    run: async (ns) => {
      const sink = ns.spawn(label, cmd, args, {
        timeoutMs: (secs + 30) * 1000,
        env: { MSS: String(MTU - 40) },
      });
      await sink.waitFor(/^ready/, 10_000);
      await configurePeerTun(ns);
      await sleep(200);
      // The sender outlasts the sink, which stops after `secs` and resets the connection.
      const send = kernel.send(ns, secs + 1);
      await sink.wait((secs + 25) * 1000);
      await send.wait(15_000);
      const f = resultFields(sink.find(/^RESULT/));
      if (!(f.gbps >= 0)) throw new Error(`${label}: no result: ${sink.lines.out.join(" | ")}`);
      return { gbps: f.gbps, detail: sink.find(/^RESULT/) ?? "" };
    },
  });
  const peerTx = (key: string, label: string, extra: string[]): BulkRow => ({
    key,
    dir: "tx",
    label,
    run: async (ns) => {
      // tcpsrc waits 1 s after creating the device, then connects to 10.0.0.2:5002.
      const src = ns.spawn(label, t!, ["tcpsrc", "tb0", String(secs), String(MTU - 40), ...extra], {
        timeoutMs: (secs + 30) * 1000,
      });
      await src.waitFor(/^ready/, 10_000);
      await configurePeerTun(ns);
      const recv = kernel.recv(ns, secs);
      await src.wait((secs + 25) * 1000);
      await recv.wait((secs + 30) * 1000);
      return {
        gbps: gbpsOf(recv, label),
        detail: `${src.find(/^RESULT/)} | ${recv.find(/^RESULT/)}`,
      };
    },
  });
  if (opts.parts.has("rx")) {
    if (t) {
      rows.push(peerRx("rx c", "C peer (ceiling)", t, ["tcpsink", "tb0", String(secs)]));
      rows.push(
        peerRx("rx c_vnet", "C peer, offloads (vnet)", t, ["tcpsink", "tb0", String(secs), "vnet"]),
      );
      if (peers.lwip) {
        rows.push(peerRx("rx lwip", "lwIP 2.1.3", peers.lwip, ["tb0", String(secs), String(MTU)]));
      }
    }
    rows.push(tcptunRow(opts, peers, "rx", "rx plain", "tcptun --no-offload", false));
    rows.push(tcptunRow(opts, peers, "rx", "rx offload", "tcptun (offloads, default)", true));
  }
  if (opts.parts.has("tx")) {
    if (t) {
      rows.push(peerTx("tx c", "C peer (ceiling)", []));
      rows.push(peerTx("tx c_vnet", "C peer, offloads (vnet, 64 KB GSO)", ["vnet", "gso=65000"]));
    }
    rows.push(tcptunRow(opts, peers, "tx", "tx plain", "tcptun --no-offload", false));
    rows.push(tcptunRow(opts, peers, "tx", "tx offload", "tcptun (offloads, default)", true));
  }
  return rows;
}

interface BulkStats {
  row: BulkRow;
  gbps: number[];
  /** Each run's figure by run number, NaN for a failed run (pairs runs of different rows). */
  byRun: number[];
  errors: string[];
  bytes: number;
  gc: GcWindow & { runs: number };
  /** Top allocation sites of the last run (`--alloc-sites`). */
  allocSites?: { site: string; percent: number }[];
  /** Per run with a trace file: the file's figures with the run's bytes and window. */
  traces: (TraceResult & { bytes: number; secs: number })[];
}

/**
 * Runs every row `opts.runs` times, alternated run by run. With `group` > 1, consecutive
 * groups of that many rows (the trace part's off / sink / file) start one row later each run,
 * so no row always runs first.
 */
async function runBulk(opts: Options, rows: BulkRow[], group = 1): Promise<BulkStats[]> {
  const stats: BulkStats[] = rows.map((row) => ({
    row,
    gbps: [],
    byRun: [],
    errors: [],
    bytes: 0,
    gc: { scavenges: 0, markCompacts: 0, pauseMs: 0, allocatedBytes: 0, runs: 0 },
    traces: [],
  }));
  for (let run = 1; run <= opts.runs; run++) {
    const order = stats.map((_, i) => {
      const base = i - (i % group);
      const n = Math.min(group, stats.length - base);
      return stats[base + (i - base + run - 1) % n];
    });
    for (const s of order) {
      const tag = s.row.key.replace(/[^a-z]+/g, "");
      try {
        const r = await inNetns(tag, (ns) => s.row.run(ns));
        s.gbps.push(r.gbps);
        s.byRun.push(r.gbps);
        if (r.trace && r.bytes && r.secs) {
          s.traces.push({ ...r.trace, bytes: r.bytes, secs: r.secs });
        }
        if (r.allocSites) s.allocSites = r.allocSites;
        if (r.gc && r.bytes) {
          s.bytes += r.bytes;
          s.gc.scavenges += r.gc.scavenges;
          s.gc.markCompacts += r.gc.markCompacts;
          s.gc.pauseMs += r.gc.pauseMs;
          s.gc.allocatedBytes += r.gc.allocatedBytes;
          s.gc.runs++;
        }
        progress(`run ${run} ${s.row.key}: ${r.gbps.toFixed(2)} Gbit/s   ${r.detail}`);
      } catch (e) {
        s.byRun.push(NaN);
        s.errors.push(e instanceof Error ? e.message : String(e));
        progress(`run ${run} ${s.row.key}: FAILED ${s.errors.at(-1)}`);
      }
    }
  }
  return stats;
}

/**
 * The trace part's rows: for each direction (offloads on; with `--trace-no-offload` also off),
 * tcptun with tracing off, into a sink without I/O, and into a trace file, in groups of three.
 */
function traceRows(opts: Options, peers: Peers): BulkRow[] {
  const rows: BulkRow[] = [];
  for (const offload of opts.traceNoOffload ? [true, false] : [true]) {
    for (const dir of ["rx", "tx"] as const) {
      const k = `trace ${dir}${offload ? "" : " plain"}`;
      rows.push(tcptunRow(opts, peers, dir, `${k} off`, "tracing off (no trace option)", offload));
      rows.push(
        tcptunRow(opts, peers, dir, `${k} sink`, "trace: sink, no I/O", offload, "sink"),
      );
      rows.push(
        tcptunRow(opts, peers, dir, `${k} file`, "trace: TraceFile on /tmp", offload, "file"),
      );
    }
  }
  return rows;
}

// ---------------------------------------------------------------------------------------
// Request/response

interface RrStats {
  kernel: number[];
  tcptun: number[];
  errors: string[];
}

function rrClient(ns: Netns, host: string, n: number): Proc {
  return ns.spawn("rr client", DENO, [
    "run",
    "-A",
    `${SCRIPTS}rr.ts`,
    "client",
    host,
    "7000",
    String(n),
  ], { timeoutMs: 130_000 });
}

async function runRr(opts: Options): Promise<RrStats> {
  const s: RrStats = { kernel: [], tcptun: [], errors: [] };
  for (let run = 1; run <= opts.runs; run++) {
    try {
      const k = await inNetns("rrk", async (ns) => {
        const server = ns.spawn("rr server", DENO, [
          "run",
          "-A",
          `${SCRIPTS}rr.ts`,
          "serve",
          "127.0.0.1",
          "7000",
        ], { timeoutMs: 130_000 });
        await server.waitFor(/^ready/, 20_000);
        const c = rrClient(ns, "127.0.0.1", opts.rrN);
        await c.wait(125_000);
        await server.stop("SIGTERM");
        return resultFields(c.find(/^RESULT rr n=/)).per_s;
      });
      const t = await inNetns("rrt", async (ns) => {
        const server = ns.spawn("tcptun listen --echo", DENO, [
          "run",
          "-A",
          MAIN,
          "listen",
          "--echo",
          "--no-delay",
          "--port",
          "7000",
          "--tun-ip",
          STACK_IP,
        ], { timeoutMs: 130_000, cwd: ROOT });
        await server.waitFor(/listening on/, 20_000);
        const c = rrClient(ns, STACK_IP, opts.rrN);
        await c.wait(125_000);
        await server.stop("SIGINT");
        return resultFields(c.find(/^RESULT rr n=/)).per_s;
      });
      if (!(k > 0) || !(t > 0)) throw new Error(`no result (kernel ${k}, tcptun ${t})`);
      s.kernel.push(k);
      s.tcptun.push(t);
      progress(`run ${run} rr: kernel loopback ${k}/s, tcptun ${t}/s`);
    } catch (e) {
      s.errors.push(e instanceof Error ? e.message : String(e));
      progress(`run ${run} rr: FAILED ${s.errors.at(-1)}`);
    }
  }
  return s;
}

// ---------------------------------------------------------------------------------------
// Idle connections

/** Medians come from `runs`; `last` keeps the last run's fields (RSS before and after). */
interface ConnsSide {
  open: number[];
  perConnKiB: number[];
  last?: Record<string, number>;
}

interface ConnsResult {
  n: number;
  kernel: ConnsSide;
  tcptun: ConnsSide;
  errors: string[];
  note?: string;
}

async function connsOnce(
  tag: string,
  n: number,
  server: (ns: Netns) => Promise<Proc>,
  host: string,
  side: ConnsSide,
): Promise<void> {
  await inNetns(tag, async (ns) => {
    const srv = await server(ns);
    const c = ns.spawn("conns client", "python3", [
      `${SCRIPTS}conns.py`,
      "client",
      host,
      "4444",
      String(n),
      String(srv.child.pid),
      String(CONNS_WARMUP),
    ], { timeoutMs: 310_000 });
    await c.wait(305_000);
    const line = c.find(/^RESULT conns/);
    await srv.stop("SIGINT", 10_000);
    const f = resultFields(line);
    if (!(f.open_per_s > 0)) {
      throw new Error(`${tag} ${n}: ${line ?? c.lines.err.slice(-3).join(" ")}`);
    }
    side.open.push(f.open_per_s);
    side.perConnKiB.push(f.per_conn_kib);
    side.last = f;
  });
}

async function runConns(opts: Options): Promise<ConnsResult[]> {
  const hard = hardNofile();
  const python = await new Deno.Command("python3", { args: ["--version"], stdout: "null" })
    .output().then((o) => o.success, () => false);
  const out: ConnsResult[] = [];
  for (const n of opts.conns) {
    const r: ConnsResult = {
      n,
      kernel: { open: [], perConnKiB: [] },
      tcptun: { open: [], perConnKiB: [] },
      errors: [],
    };
    out.push(r);
    const nofile = n + 64;
    if (!python) r.note = "skipped: the client needs python3";
    else if (nofile > hard) r.note = `skipped: needs RLIMIT_NOFILE ${nofile}, hard limit ${hard}`;
    if (r.note) {
      progress(`conns ${n}: ${r.note}`);
      continue;
    }
    for (let run = 1; run <= opts.runs; run++) {
      try {
        await connsOnce(
          "connk",
          n,
          async (ns) => {
            const p = ns.spawn("kernel server", "python3", [
              `${SCRIPTS}conns.py`,
              "serve",
              "127.0.0.1",
              "4444",
            ], { timeoutMs: 320_000 });
            await p.waitFor(/^ready/, 20_000);
            return p;
          },
          "127.0.0.1",
          r.kernel,
        );
        await connsOnce(
          "connt",
          n,
          async (ns) => {
            const p = ns.spawn("tcptun listen --discard", DENO, [
              "run",
              "-A",
              MAIN,
              "listen",
              "--discard",
              "--port",
              "4444",
              "--tun-ip",
              STACK_IP,
            ], { timeoutMs: 320_000, cwd: ROOT });
            await p.waitFor(/listening on/, 20_000);
            return p;
          },
          STACK_IP,
          r.tcptun,
        );
        progress(
          `run ${run} conns ${n}: kernel ${r.kernel.open.at(-1)}/s, tcptun ` +
            `${r.tcptun.open.at(-1)}/s, ${r.tcptun.perConnKiB.at(-1)} KiB/conn`,
        );
      } catch (e) {
        r.errors.push(e instanceof Error ? e.message : String(e));
        progress(`run ${run} conns ${n}: FAILED ${r.errors.at(-1)}`);
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// Report

function progress(line: string): void {
  console.error(`bench: ${line}`);
}

function f2(x: number | undefined): string {
  return x === undefined || !Number.isFinite(x) ? "n/a" : x.toFixed(2);
}

function ratio(a: number | undefined, b: number | undefined): string {
  return a === undefined || b === undefined || !(b > 0) || !Number.isFinite(a)
    ? "n/a"
    : (a / b).toFixed(2);
}

/** One line of the report's table. */
interface Line {
  part: string;
  row: string;
  value: string;
  unit: string;
  runs: string;
  ratio: string;
  detail: string;
}

const COLUMNS: [keyof Line, string, "l" | "r"][] = [
  ["part", "part", "l"],
  ["row", "peer / server", "l"],
  ["value", "median", "r"],
  ["unit", "unit", "l"],
  ["runs", "each run", "l"],
  ["ratio", "ratio", "l"],
  ["detail", "also", "l"],
];

/** The table: a header, a rule, and a blank line between parts. */
function table(lines: Line[]): string {
  const w = COLUMNS.map(([k, h]) => Math.max(h.length, ...lines.map((l) => l[k].length)));
  const fmt = (cells: string[]) =>
    cells.map((c, i) => COLUMNS[i][2] === "l" ? c.padEnd(w[i]) : c.padStart(w[i])).join("  ")
      .trimEnd();
  const out = [fmt(COLUMNS.map(([, h]) => h)), w.map((n) => "-".repeat(n)).join("  ")];
  let part = "";
  for (const l of lines) {
    if (part && l.part !== part) out.push("");
    part = l.part;
    out.push(fmt(COLUMNS.map(([k]) => l[k])));
  }
  return out.join("\n");
}

function bulkLines(bulk: BulkStats[], summary: string[]): Line[] {
  const g = new Map(bulk.filter((s) => s.gbps.length).map((s) => [s.row.key, median(s.gbps)]));
  /** "0.45 × C peer vnet, 3.4 × --no-offload" for the references that were measured. */
  const vs = (key: string, refs: [string, string][]) =>
    refs.filter(([, k]) => g.has(k) && g.has(key)).map(([name, k]) =>
      `${ratio(g.get(key), g.get(k))} × ${name}`
    ).join(", ");
  const refs: Record<string, [string, string][]> = {
    "rx plain": [["C peer", "rx c"], ["lwIP", "rx lwip"]],
    "rx offload": [["C peer vnet", "rx c_vnet"], ["no-offload", "rx plain"]],
    "tx plain": [["C peer", "tx c"]],
    "tx offload": [["C peer vnet", "tx c_vnet"], ["no-offload", "tx plain"]],
  };
  const lines: Line[] = bulk.map((s) => ({
    part: s.row.dir,
    row: s.row.label,
    value: s.gbps.length ? f2(median(s.gbps)) : "failed",
    unit: "Gbit/s",
    runs: s.gbps.map((x) => x.toFixed(2)).join(" ") +
      (s.errors.length ? ` (${s.errors.length} failed)` : ""),
    ratio: vs(s.row.key, refs[s.row.key] ?? []),
    detail: s.errors.length ? s.errors[0].split("\n")[0].slice(0, 100) : "",
  }));
  const r = (a: string, b: string, name: string) => {
    if (g.has(a) && g.has(b)) summary.push(`${name}=${ratio(g.get(a), g.get(b))}`);
  };
  r("rx plain", "rx c", "rx_plain/c");
  r("rx plain", "rx lwip", "rx_plain/lwip");
  r("rx offload", "rx c_vnet", "rx_offload/c_vnet");
  r("tx plain", "tx c", "tx_plain/c");
  r("tx offload", "tx c_vnet", "tx_offload/c_vnet");
  r("rx offload", "rx plain", "rx_offload/plain");
  r("tx offload", "tx plain", "tx_offload/plain");

  for (const s of bulk) {
    if (!s.row.key.endsWith("plain") && !s.row.key.endsWith("offload")) continue;
    const gib = s.bytes / GIB;
    const part = "gc";
    const row = `${s.row.dir} ${s.row.label}`;
    if (!s.gc.runs || !(gib > 0)) {
      lines.push({ part, row, value: "n/a", unit: "", runs: "", ratio: "", detail: "" });
      continue;
    }
    const perPacket = s.gc.allocatedBytes / (s.bytes / PACKET_PAYLOAD);
    lines.push({
      part,
      row,
      value: perPacket.toFixed(1),
      unit: "heap B/packet",
      runs: `${gib.toFixed(2)} GiB, ${s.gc.runs} run(s)`,
      ratio: "",
      detail: `per GiB: ${(s.gc.scavenges / gib).toFixed(0)} scavenges, ` +
        `${(s.gc.markCompacts / gib).toFixed(1)} mark-compacts, ` +
        `${(s.gc.pauseMs / gib).toFixed(0)} ms paused, ` +
        `${(s.gc.allocatedBytes / 1024 ** 2 / gib).toFixed(0)} MiB allocated`,
    });
    summary.push(`gc_${s.row.dir}_${s.row.key.split(" ")[1]}_B/pkt=${perPacket.toFixed(1)}`);
  }
  return lines;
}

/** Two decimals, three below 0.1. */
function small(x: number): string {
  return x.toFixed(x < 0.1 ? 3 : 2);
}

/** Heap bytes allocated per MTU-sized packet over a row's framed GC windows, or undefined. */
function heapPerPacket(s: BulkStats): number | undefined {
  return s.gc.runs && s.bytes > 0 ? s.gc.allocatedBytes / (s.bytes / PACKET_PAYLOAD) : undefined;
}

/**
 * The trace part: per group, tracing off, into a sink without I/O, into a file; ratios to off
 * (of the medians, and the spread of the ratios of runs made side by side).
 */
function traceLines(stats: BulkStats[], summary: string[]): Line[] {
  const lines: Line[] = [];
  const byKey = new Map(stats.map((s) => [s.row.key, s]));
  const groups = [...new Set(stats.map((s) => s.row.key.replace(/ (off|sink|file)$/, "")))];
  for (const g of groups) {
    const off = byKey.get(`${g} off`)!;
    const part = g.endsWith(" plain") ? `${g.slice(0, -6)} --no-offload` : g;
    const name = g.replace(/ /g, "_");
    const offMedian = median(off.gbps);
    for (const mode of ["off", "sink", "file"] as const) {
      const s = byKey.get(`${g} ${mode}`)!;
      const m = median(s.gbps);
      const err = s.errors.length ? ` (${s.errors.length} failed)` : "";
      const heap = heapPerPacket(s);
      const details: string[] = [];
      let ratioText = "";
      if (mode !== "off") {
        const paired = s.byRun.map((x, i) => x / off.byRun[i]).filter(Number.isFinite);
        const lo = Math.min(...paired), hi = Math.max(...paired);
        ratioText = `${ratio(m, offMedian)} × off`;
        if (paired.length > 1) ratioText += ` (runs ${lo.toFixed(2)}–${hi.toFixed(2)})`;
        summary.push(`${name}_${mode}/off=${ratio(m, offMedian)}`);
      }
      if (mode !== "off" && s.traces.length) {
        const t = s.traces;
        const perPacket = (n: number, x: { bytes: number }) => n / (x.bytes / PACKET_PAYLOAD);
        const evPerPacket = median(t.map((x) => perPacket(x.windowEvents, x)));
        const evPerSec = median(t.map((x) => x.windowEvents / x.secs));
        let text = `${small(evPerPacket)} events/packet`;
        if (mode === "file") {
          // Segments, RTT samples and cwnd changes by name; the few per connection as "other".
          const named = ["seg in", "seg out", "rtt", "cc"];
          const perType = [...named, "other"].flatMap((k) => {
            const count = (x: TraceResult) =>
              Object.entries(x.byType ?? {})
                .filter(([n]) => k === "other" ? !named.includes(n) : n === k)
                .reduce((a, [, c]) => a + c, 0);
            const v = median(t.map((x) => perPacket(count(x), x)));
            return v >= 0.0005 ? [`${k} ${small(v)}`] : [];
          });
          text += ` (${perType.join(", ")})`;
        }
        text += `, ${(evPerSec / 1e3).toFixed(0)}k events/s`;
        if (mode === "file") {
          const fileMB = median(t.map((x) => (x.fileBytes ?? 0) / 1e6));
          const bytesPerEvent = median(t.map((x) => (x.fileBytes ?? 0) / x.events));
          text += `, file ${fileMB.toFixed(0)} MB (${bytesPerEvent.toFixed(0)} B/event)`;
        }
        details.push(text);
        // What one event costs, if the slowdown is all the events' doing: the extra time per
        // byte over off, times the bytes per event. Noise makes it negative at times: omitted.
        const extraUs = (1 / m - 1 / offMedian) / 1e9 * 8 * 1e6 *
          median(t.map((x) => x.bytes / x.windowEvents));
        if (extraUs > 0) details.push(`≈ ${extraUs.toFixed(1)} µs/event over off`);
        if (mode === "file") summary.push(`${name}_events/pkt=${small(evPerPacket)}`);
      }
      if (heap !== undefined) details.push(`heap ${heap.toFixed(0)} B/packet`);
      if (s.errors.length) details.push(s.errors[0].split("\n")[0].slice(0, 100));
      lines.push({
        part,
        row: s.row.label,
        value: s.gbps.length ? f2(m) : "failed",
        unit: "Gbit/s",
        runs: s.gbps.map((x) => x.toFixed(2)).join(" ") + err,
        ratio: ratioText,
        detail: details.join("; "),
      });
    }
  }
  return lines;
}

function rrLines(rr: RrStats, summary: string[]): Line[] {
  const k = median(rr.kernel);
  const t = median(rr.tcptun);
  const part = "rr";
  const val = (x: number) => Number.isFinite(x) ? x.toFixed(0) : "failed";
  const us = (x: number) => Number.isFinite(x) ? `mean ${(1e6 / x).toFixed(1)} µs` : "";
  summary.push(`rr/kernel=${ratio(t, k)}`);
  const err = rr.errors.length ? ` (${rr.errors.length} failed)` : "";
  return [
    {
      part,
      row: "kernel echo server, loopback",
      value: val(k),
      unit: "round trips/s",
      runs: rr.kernel.join(" ") + err,
      ratio: "",
      detail: us(k),
    },
    {
      part,
      row: "tcptun listen --echo --no-delay",
      value: val(t),
      unit: "round trips/s",
      runs: rr.tcptun.join(" ") + err,
      ratio: `${ratio(t, k)} × kernel`,
      detail: us(t) + (rr.errors.length ? `; ${rr.errors[0].split("\n")[0].slice(0, 80)}` : ""),
    },
  ];
}

function connsLines(conns: ConnsResult[], summary: string[]): Line[] {
  const lines: Line[] = [];
  for (const c of conns) {
    const part = `conns ${c.n}`;
    if (!c.kernel.open.length || !c.tcptun.open.length) {
      lines.push({
        part,
        row: "kernel server / tcptun",
        value: "n/a",
        unit: "",
        runs: "",
        ratio: "",
        detail: (c.note ?? c.errors[0] ?? "").split("\n")[0].slice(0, 120),
      });
      continue;
    }
    const k = median(c.kernel.open);
    const t = median(c.tcptun.open);
    const rss = (side: ConnsSide) =>
      `RSS ${f2(median(side.perConnKiB))} KiB/conn` +
      (side.last
        ? ` (last run ${(side.last.rss_before_kib / 1024).toFixed(0)} → ` +
          `${(side.last.rss_after_kib / 1024).toFixed(0)} MiB)`
        : "");
    const err = c.errors.length ? ` (${c.errors.length} failed)` : "";
    lines.push({
      part,
      row: "kernel, Python accept loop, loopback",
      value: k.toFixed(0),
      unit: "opens/s",
      runs: c.kernel.open.join(" ") + err,
      ratio: "",
      detail: rss(c.kernel),
    });
    lines.push({
      part,
      row: "tcptun listen --discard",
      value: t.toFixed(0),
      unit: "opens/s",
      runs: c.tcptun.open.join(" ") + err,
      ratio: `${ratio(t, k)} × kernel`,
      detail: rss(c.tcptun),
    });
    summary.push(`open${c.n}/kernel=${ratio(t, k)}`);
    summary.push(`rss${c.n}_KiB/conn=${f2(median(c.tcptun.perConnKiB))}`);
  }
  return lines;
}

function report(
  opts: Options,
  peers: Peers,
  bulk: BulkStats[] | undefined,
  rr: RrStats | undefined,
  conns: ConnsResult[] | undefined,
  trace: BulkStats[] | undefined,
): void {
  const summary: string[] = [];
  const out: string[] = [
    `tcptun bench: ${opts.runs} run(s) alternated, medians, one network namespace per measurement`,
    `  rx     kernel → peer, ${opts.secs} s, MTU ${MTU}, TUN txqueuelen 10000; at the receiving peer`,
    `  tx     peer → kernel, the same; at the kernel receiver`,
    `         kernel side: ${kernelSide(peers).name}, a process apart from the peer`,
    `  gc     collections in tcptun's process while the bytes moved (V8 --trace-gc-nvp, between`,
    `         two forced GCs that frame the transfer); packet = ${PACKET_PAYLOAD} payload bytes`,
    `  rr     ${opts.rrN} round trips of 1 byte, Deno kernel-socket client with TCP_NODELAY`,
    `  conns  N idle connections opened one after another (1 byte each) by a Python client, after`,
    `         ${CONNS_WARMUP} opened and closed; RSS of the server process 1.5 s after the last open`,
    `         (kernel socket memory is not in a process's RSS)`,
  ];
  if (trace) {
    const also = opts.traceNoOffload ? ", then off" : "";
    out.push(
      `  trace  tcptun's bulk rx and tx as above (offloads on${also}), three ways alternated:`,
      `         tracing off (no \`trace\` option: the default, as in every other row); on into a`,
      `         sink without I/O that counts the events and keeps the last (events built, nothing`,
      `         written; \`() => {}\` would let V8 skip building them); on into a TraceFile on /tmp`,
      `         (JSON lines in 256 KiB writes, deleted after each run). Off costs one null test per`,
      `         trace site reached, \`if (this.tracer)\` in src/tcp/connection.ts: per segment`,
      `         received, per segment sent, per new ACK (cwnd) and per RTT sample; no event,`,
      `         string or closure is made. "runs" after a ratio: the spread of the runs' ratios;`,
      `         packet = ${PACKET_PAYLOAD} payload bytes; µs/event = time over off ÷ events`,
    );
  }
  if (peers.ksock) out.push(`reference peers: ${opts.peers}`);
  for (const n of peers.notes) out.push(`note: ${n}`);
  const lines = [
    ...(bulk ? bulkLines(bulk, summary) : []),
    ...(rr ? rrLines(rr, summary) : []),
    ...(conns ? connsLines(conns, summary) : []),
    ...(trace ? traceLines(trace, summary) : []),
  ];
  out.push("", table(lines));
  for (const s of bulk ?? []) {
    if (!s.allocSites?.length) continue;
    out.push("", `allocation sites, ${s.row.dir} ${s.row.label} (share of sampled heap bytes):`);
    for (const a of s.allocSites) out.push(`  ${a.percent.toFixed(1).padStart(5)} %  ${a.site}`);
  }
  if (opts.allocSites) {
    out.push("(--alloc-sites: the sampling profiler slowed tcptun's bulk rows down in this run)");
  }
  out.push("", `RESULT bench ${summary.join(" ") || "nothing measured"}`);
  console.log(out.join("\n"));
}

// ---------------------------------------------------------------------------------------

async function main(): Promise<void> {
  let opts: Options;
  try {
    opts = parseOptions(Deno.args);
  } catch (e) {
    console.error(`bench: ${e instanceof Error ? e.message : e}\n\n${HELP}`);
    Deno.exit(2);
  }
  if (Deno.build.os !== "linux" || Deno.uid() !== 0) {
    console.error("bench: needs Linux and root (network namespaces, TUN devices)");
    Deno.exit(2);
  }
  const peers = findPeers(opts.peers);
  for (const n of peers.notes) progress(n);
  const removeSignals = cleanupOnSignals();
  let bulk: BulkStats[] | undefined;
  let rr: RrStats | undefined;
  let conns: ConnsResult[] | undefined;
  let trace: BulkStats[] | undefined;
  try {
    if (opts.parts.has("rx") || opts.parts.has("tx")) {
      bulk = await runBulk(opts, bulkRows(opts, peers));
    }
    if (opts.parts.has("rr")) rr = await runRr(opts);
    if (opts.parts.has("conns")) conns = await runConns(opts);
    if (opts.parts.has("trace")) trace = await runBulk(opts, traceRows(opts, peers), 3);
  } finally {
    await cleanupAll();
    removeSignals();
  }
  report(opts, peers, bulk, rr, conns, trace);
}

await main();
