/**
 * tcptun's benchmark: one run, one table, every figure beside a reference measured in the same
 * run on the same machine, and ratios. It asserts nothing about time.
 *
 * Run: `deno task bench` (Linux, root). `deno task bench -- --help` lists the flags.
 *
 * Parts (`--only rx,tx,rr,conns`; all by default):
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
  resultFields,
  sleep,
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
}

const PARTS = ["rx", "tx", "rr", "conns"];

const HELP = `usage: deno task bench [--] [FLAGS]     (Linux, root)

  --only LIST     parts to run, comma-separated: rx,tx,rr,conns (default all)
  --secs S        seconds per bulk transfer (default 3)
  --runs R        runs of each measurement, alternated; the table shows medians (default 3)
  --rr N          round trips per rr measurement (default 20000)
  --conns LIST    idle-connection counts (default 100,10000)
  --peers DIR     folder of the built reference peers (default $PEERS_BUILD or
                  ~/.cache/tcptun-peers)
  --quick         --secs 1 --runs 1 --rr 5000 --conns 100,1000 unless given
  --alloc-sites   also sample where tcptun allocates during bulk transfers (V8's sampling
                  heap profiler) and list the top sites; slows tcptun's bulk rows down
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
  const parts = new Set((values.only ?? PARTS.join(",")).split(",").map((s) => s.trim()));
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

interface BulkResult {
  gbps: number;
  bytes?: number;
  gc?: GcWindow;
  allocSites?: { site: string; percent: number }[];
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
  allocSites: boolean,
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
      env: allocSites ? { TCPTUN_BENCH_ALLOC_SITES: "1" } : {},
    },
  );
}

/** The `RESULT {json}` line of `scripts/tcptun_bulk.ts`. */
interface TcptunResult {
  gbps: number;
  bytes: number;
  error?: string;
  allocSites?: { site: string; percent: number }[];
}

function tcptunResult(p: Proc): TcptunResult {
  const line = p.find(/^RESULT \{/);
  if (!line) throw new Error(`tcptun: no result\n  ${p.lines.err.slice(-6).join("\n  ")}`);
  const r = JSON.parse(line.slice(7));
  if (r.error) throw new Error(`tcptun: ${r.error}`);
  return r;
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
  const tcptunRx = (key: string, label: string, offload: boolean): BulkRow => ({
    key,
    dir: "rx",
    label,
    run: async (ns) => {
      const events: GcEvent[] = [];
      const w = tcptunWorker(
        ns,
        ["rx", "5001", offload ? "1" : "0"],
        secs,
        events,
        opts.allocSites,
      );
      await w.waitFor(/^ready/, 20_000);
      await sleep(200);
      const send = kernel.send(ns, secs);
      await send.wait((secs + 30) * 1000);
      await w.wait(30_000);
      const r = tcptunResult(w);
      return {
        gbps: r.gbps,
        bytes: r.bytes,
        gc: gcWindow(events),
        allocSites: r.allocSites,
        detail: `${w.find(/^RESULT/)?.slice(0, 400)} | ${send.find(/^RESULT/)}`,
      };
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
  const tcptunTx = (key: string, label: string, offload: boolean): BulkRow => ({
    key,
    dir: "tx",
    label,
    run: async (ns) => {
      const recv = kernel.recv(ns, secs);
      await recv.waitFor(/^ready/, 20_000);
      const events: GcEvent[] = [];
      const w = tcptunWorker(
        ns,
        ["tx", "5002", offload ? "1" : "0", String(secs)],
        secs,
        events,
        opts.allocSites,
      );
      await recv.wait((secs + 40) * 1000);
      await w.wait(30_000);
      const r = tcptunResult(w);
      return {
        gbps: gbpsOf(recv, label),
        bytes: r.bytes,
        gc: gcWindow(events),
        allocSites: r.allocSites,
        detail: `${w.find(/^RESULT/)?.slice(0, 400)} | ${recv.find(/^RESULT/)}`,
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
    rows.push(tcptunRx("rx plain", "tcptun --no-offload", false));
    rows.push(tcptunRx("rx offload", "tcptun (offloads, default)", true));
  }
  if (opts.parts.has("tx")) {
    if (t) {
      rows.push(peerTx("tx c", "C peer (ceiling)", []));
      rows.push(peerTx("tx c_vnet", "C peer, offloads (vnet, 64 KB GSO)", ["vnet", "gso=65000"]));
    }
    rows.push(tcptunTx("tx plain", "tcptun --no-offload", false));
    rows.push(tcptunTx("tx offload", "tcptun (offloads, default)", true));
  }
  return rows;
}

interface BulkStats {
  row: BulkRow;
  gbps: number[];
  errors: string[];
  bytes: number;
  gc: GcWindow & { runs: number };
  /** Top allocation sites of the last run (`--alloc-sites`). */
  allocSites?: { site: string; percent: number }[];
}

async function runBulk(opts: Options, peers: Peers): Promise<BulkStats[]> {
  const rows = bulkRows(opts, peers);
  const stats: BulkStats[] = rows.map((row) => ({
    row,
    gbps: [],
    errors: [],
    bytes: 0,
    gc: { scavenges: 0, markCompacts: 0, pauseMs: 0, allocatedBytes: 0, runs: 0 },
  }));
  for (let run = 1; run <= opts.runs; run++) {
    for (const s of stats) {
      const tag = s.row.key.replace(/[^a-z]+/g, "");
      try {
        const r = await inNetns(tag, (ns) => s.row.run(ns));
        s.gbps.push(r.gbps);
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
        s.errors.push(e instanceof Error ? e.message : String(e));
        progress(`run ${run} ${s.row.key}: FAILED ${s.errors.at(-1)}`);
      }
    }
  }
  return stats;
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
  if (peers.ksock) out.push(`reference peers: ${opts.peers}`);
  for (const n of peers.notes) out.push(`note: ${n}`);
  const lines = [
    ...(bulk ? bulkLines(bulk, summary) : []),
    ...(rr ? rrLines(rr, summary) : []),
    ...(conns ? connsLines(conns, summary) : []),
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
  try {
    if (opts.parts.has("rx") || opts.parts.has("tx")) bulk = await runBulk(opts, peers);
    if (opts.parts.has("rr")) rr = await runRr(opts);
    if (opts.parts.has("conns")) conns = await runConns(opts);
  } finally {
    await cleanupAll();
    removeSignals();
  }
  report(opts, peers, bulk, rr, conns);
}

await main();
