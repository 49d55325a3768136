/**
 * Helpers shared by the reliability scripts (`lossy_*.ts`) and the benchmark scripts: commands
 * run inside the current (throw-away) network namespace, iptables/tc impairments, random payloads,
 * SHA-256, bulk transfers between a tcptun `TcpConn` and a kernel `Deno.TcpConn`, and the
 * kernel's own TCP counters (`/proc/net/snmp`, which are per network namespace).
 *
 * Everything here that touches the network must run inside a namespace created for the run:
 * {@linkcode requireNetns} refuses to go on otherwise.
 * @module
 */

import type { TcpConn } from "../../../src/socket.ts";

/** The stack's address inside the namespace. */
export const STACK_IP = "10.0.0.1";
/** The kernel's address on the TUN link inside the namespace. */
export const KERNEL_IP = "10.0.0.2";
/** Bytes per write call of a bulk sender. */
export const CHUNK = 64 * 1024;
const MIB = 1024 * 1024;

/** Throws unless the script runs in a namespace made for it (`TCPTUN_IN_NETNS=1`). */
export function requireNetns(): void {
  if (Deno.env.get("TCPTUN_IN_NETNS") !== "1") {
    throw new Error("refusing to run outside a throw-away network namespace (TCPTUN_IN_NETNS=1)");
  }
}

/** Runs `cmd args` (bounded to 20 s) and returns its stdout; throws with stderr on failure. */
export async function sh(cmd: string, ...args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(20_000),
  }).output();
  const dec = new TextDecoder();
  if (!out.success) {
    throw new Error(
      `${cmd} ${args.join(" ")} failed (exit ${out.code}): ${dec.decode(out.stderr)}`,
    );
  }
  return dec.decode(out.stdout);
}

/** Brings the namespace's loopback up (a fresh namespace starts with it down). */
export async function prepareNamespace(): Promise<void> {
  await sh("ip", "link", "set", "lo", "up");
}

/**
 * Drops packets at random with probability `p` in both directions of `ifname`, in the kernel:
 * INPUT (from the device) and OUTPUT (to the device).
 */
export async function iptablesLoss(ifname: string, p: number, ipv6 = false): Promise<void> {
  const prob = String(p);
  for (const [chain, dir] of [["INPUT", "-i"], ["OUTPUT", "-o"]]) {
    await sh(
      ipv6 ? "ip6tables" : "iptables",
      "-w",
      "5",
      "-A",
      chain,
      dir,
      ifname,
      "-m",
      "statistic",
      "--mode",
      "random",
      "--probability",
      prob,
      "-j",
      "DROP",
    );
  }
}

/** Packets dropped by the DROP rules of `iptablesLoss`, per chain. */
export async function iptablesDrops(ipv6 = false): Promise<{ input: number; output: number }> {
  const text = await sh(ipv6 ? "ip6tables" : "iptables", "-w", "5", "-L", "-n", "-v", "-x");
  const res = { input: 0, output: 0 };
  let chain = "";
  for (const line of text.split("\n")) {
    const m = /^Chain (\w+)/.exec(line);
    if (m) {
      chain = m[1];
      continue;
    }
    const f = line.trim().split(/\s+/);
    if (f.length > 2 && f[2] === "DROP") {
      if (chain === "INPUT") res.input += Number(f[0]);
      if (chain === "OUTPUT") res.output += Number(f[0]);
    }
  }
  return res;
}

/** Puts a token-bucket bottleneck on the egress (kernel → stack) of `ifname`. */
export async function tbf(ifname: string, rate: string, burst: string, latency: string) {
  await sh(
    "tc",
    "qdisc",
    "add",
    "dev",
    ifname,
    "root",
    "tbf",
    "rate",
    rate,
    "burst",
    burst,
    "latency",
    latency,
  );
}

/** The kernel's TCP MIB counters of this namespace (`/proc/net/snmp` "Tcp:" lines). */
export function kernelTcpCounters(): Record<string, number> {
  const lines = Deno.readTextFileSync("/proc/net/snmp").split("\n").filter((l) =>
    l.startsWith("Tcp:")
  );
  const out: Record<string, number> = {};
  if (lines.length < 2) return out;
  const names = lines[0].split(/\s+/).slice(1);
  const values = lines[1].split(/\s+/).slice(1);
  for (let i = 0; i < names.length; i++) out[names[i]] = Number(values[i]);
  // TcpExt (/proc/net/netstat): the D-SACKs the kernel sent for duplicate data (RFC 2883).
  const ext = Deno.readTextFileSync("/proc/net/netstat").split("\n").filter((l) =>
    l.startsWith("TcpExt:")
  );
  if (ext.length >= 2) {
    const n = ext[0].split(/\s+/).slice(1);
    const v = ext[1].split(/\s+/).slice(1);
    for (let i = 0; i < n.length; i++) {
      if (n[i].startsWith("TCPDSACK")) out[n[i]] = Number(v[i]);
    }
  }
  return out;
}

/** `after - before` for the counters that matter to a transfer. */
export function kernelDelta(
  before: Record<string, number>,
  after: Record<string, number>,
): Record<string, number> {
  const keys = [
    "RetransSegs",
    "OutRsts",
    "EstabResets",
    "InErrs",
    "InCsumErrors",
    "AttemptFails",
    "TCPDSACKOldSent",
    "TCPDSACKOfoSent",
  ];
  const d: Record<string, number> = {};
  for (const k of keys) d[k] = (after[k] ?? 0) - (before[k] ?? 0);
  return d;
}

/** `n` random bytes (crypto quality, so no period can hide a misplaced chunk). */
export function randomBytes(n: number): Uint8Array<ArrayBuffer> {
  const b = new Uint8Array(n);
  for (let off = 0; off < n; off += 65536) {
    crypto.getRandomValues(b.subarray(off, Math.min(n, off + 65536)));
  }
  return b;
}

/** SHA-256 of `b` as lowercase hex. */
export async function sha256Hex(b: Uint8Array<ArrayBuffer>): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", b));
  return Array.from(d, (x) => x.toString(16).padStart(2, "0")).join("");
}

/** Receives at most `limit` bytes into one buffer; an overflow is an error. */
class Sink {
  readonly buf: Uint8Array<ArrayBuffer>;
  got = 0;
  constructor(limit: number) {
    this.buf = new Uint8Array(limit);
  }
  add(chunk: Uint8Array): void {
    if (this.got + chunk.length > this.buf.length) {
      throw new Error(`received more than the ${this.buf.length} bytes sent`);
    }
    this.buf.set(chunk, this.got);
    this.got += chunk.length;
  }
}

/** One direction of a transfer. */
export interface DirectionResult {
  /** Bytes sent. */
  bytes: number;
  /** Bytes received before end of stream. */
  received: number;
  /** Milliseconds from the start to the receiver's end of stream. */
  ms: number;
  /** Goodput in MiB/s. */
  mibps: number;
  sha256Sent: string;
  sha256Received: string;
}

async function direction(
  data: Uint8Array<ArrayBuffer>,
  t0: number,
  send: () => Promise<void>,
  recv: (sink: Sink) => Promise<void>,
): Promise<DirectionResult> {
  const sink = new Sink(data.length);
  let doneAt = 0;
  await Promise.all([
    send(),
    recv(sink).then(() => {
      doneAt = performance.now();
    }),
  ]);
  const ms = doneAt - t0;
  return {
    bytes: data.length,
    received: sink.got,
    ms: Math.round(ms),
    mibps: Math.round((data.length / MIB) / (ms / 1000) * 100) / 100,
    sha256Sent: await sha256Hex(data),
    sha256Received: await sha256Hex(sink.buf.subarray(0, sink.got)),
  };
}

/** Writes `data` to a tcptun connection in `CHUNK` pieces, then FIN. */
export async function sendStack(conn: TcpConn, data: Uint8Array): Promise<void> {
  const w = conn.writable.getWriter();
  for (let off = 0; off < data.length; off += CHUNK) {
    await w.write(data.subarray(off, Math.min(data.length, off + CHUNK)));
  }
  await w.close();
}

async function recvStack(conn: TcpConn, sink: Sink): Promise<void> {
  for await (const chunk of conn.readable) sink.add(chunk);
}

/** Writes `data` to a kernel socket, then shuts down its write side (FIN). */
export async function sendKernel(k: Deno.TcpConn, data: Uint8Array): Promise<void> {
  for (let off = 0; off < data.length;) {
    off += await k.write(data.subarray(off, Math.min(data.length, off + CHUNK)));
  }
  await k.closeWrite();
}

async function recvKernel(k: Deno.TcpConn, sink: Sink, pauseAfter = 0, pauseMs = 0) {
  const buf = new Uint8Array(CHUNK);
  let paused = pauseMs <= 0;
  for (;;) {
    const n = await k.read(buf);
    if (n === null) return;
    sink.add(buf.subarray(0, n));
    if (!paused && sink.got >= pauseAfter) {
      paused = true;
      await new Promise((r) => setTimeout(r, pauseMs));
    }
  }
}

/** Receives to end of stream from a kernel socket; after `pauseAfter` bytes, stops for `pauseMs`. */
export async function kernelToBuffer(
  k: Deno.TcpConn,
  limit: number,
  pauseAfter = 0,
  pauseMs = 0,
): Promise<Uint8Array<ArrayBuffer>> {
  const sink = new Sink(limit);
  await recvKernel(k, sink, pauseAfter, pauseMs);
  return sink.buf.subarray(0, sink.got);
}

/** Results of a transfer in both directions at once over one connection. */
export interface BidirectionalResult {
  /** Kernel → tcptun. */
  k2t: DirectionResult;
  /** tcptun → kernel. */
  t2k: DirectionResult;
}

/**
 * Moves `size` random bytes each way at the same time over one connection (`conn` on the
 * stack, `k` its kernel end), each side closing its write half when done, each side reading
 * to end of stream.
 */
export async function bidirectional(
  conn: TcpConn,
  k: Deno.TcpConn,
  size: number,
): Promise<BidirectionalResult> {
  const k2tData = randomBytes(size);
  const t2kData = randomBytes(size);
  const t0 = performance.now();
  const [k2t, t2k] = await Promise.all([
    direction(k2tData, t0, () => sendKernel(k, k2tData), (s) => recvStack(conn, s)),
    direction(t2kData, t0, () => sendStack(conn, t2kData), (s) => recvKernel(k, s)),
  ]);
  return { k2t, t2k };
}

/** One-way bulk transfer of `size` bytes; `dir` says who sends. Returns the direction's result. */
export function oneWay(
  conn: TcpConn,
  k: Deno.TcpConn,
  size: number,
  dir: "k2t" | "t2k",
): Promise<DirectionResult> {
  const data = randomBytes(size);
  const t0 = performance.now();
  if (dir === "k2t") {
    return direction(data, t0, () => sendKernel(k, data), async (s) => {
      await recvStack(conn, s);
      await conn.writable.close();
    });
  }
  return direction(data, t0, () => sendStack(conn, data), async (s) => {
    await recvKernel(k, s);
    await k.closeWrite();
  });
}

/** RSTs seen by a stack's tap, split by whether their connection was still open. */
export interface ResetCounts {
  /** RSTs on a tracked connection before it reached CLOSED or TIME-WAIT: failures. */
  whileOpen: { out: number; in: number };
  /**
   * RSTs after the connection ended. Legitimate when a segment the fault layer held back
   * (reorder, duplicate, delay) arrives after CLOSED: RFC 9293 §3.10.7.1 answers it with RST.
   */
  afterClose: { out: number; in: number };
  /** RSTs on no tracked connection (before accept, or other ports). */
  untracked: { out: number; in: number };
}

/**
 * Classifies every RST the stack sends or receives at the moment it passes the tap, which runs
 * synchronously inside the stack, so the connection's state is exact.
 */
export class ResetWatch {
  readonly counts: ResetCounts = {
    whileOpen: { out: 0, in: 0 },
    afterClose: { out: 0, in: 0 },
    untracked: { out: 0, in: 0 },
  };
  readonly #conns: TcpConn[] = [];

  /** Starts classifying RSTs of `conn`. */
  track(conn: TcpConn): void {
    this.#conns.push(conn);
  }

  /** The stack's `tap`: looks at TCP RSTs only. */
  tap(dir: "in" | "out", p: Uint8Array): void {
    const v6 = p.length >= 40 && p[0] >> 4 === 6;
    if (v6 ? p[6] !== 6 : p.length < 20 || (p[0] >> 4) !== 4 || p[9] !== 6) return;
    const ihl = v6 ? 40 : (p[0] & 0x0f) * 4;
    if (p.length < ihl + 20 || !(p[ihl + 13] & 0x04)) return;
    const src = (p[ihl] << 8) | p[ihl + 1];
    const dst = (p[ihl + 2] << 8) | p[ihl + 3];
    const local = dir === "out" ? src : dst;
    const remote = dir === "out" ? dst : src;
    const conn = this.#conns.find((c) =>
      c.localAddr.port === local && c.remoteAddr.port === remote
    );
    if (!conn) {
      this.counts.untracked[dir]++;
      return;
    }
    const state = conn.stats().state;
    if (state === "CLOSED" || state === "TIME-WAIT") this.counts.afterClose[dir]++;
    else this.counts.whileOpen[dir]++;
  }
}

/** Rejects after `ms` with `what` in the message, unless `p` settles first. */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const t = new Promise<never>((_, rej) => {
    timer = setTimeout(() => rej(new Error(`${what}: not done within ${ms} ms`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

/** Prints the one JSON result line the harness reads, and for an error exits with status 1. */
export function report(result: Record<string, unknown>): void {
  console.log(JSON.stringify(result));
}

/** Runs `main`, printing `{"error": ...}` and exiting 1 when it throws. */
export async function runScript(main: () => Promise<Record<string, unknown>>): Promise<void> {
  try {
    requireNetns();
    report(await main());
  } catch (e) {
    const msg = e instanceof Error ? `${e.name}: ${e.message}\n${e.stack ?? ""}` : String(e);
    report({ error: msg });
    Deno.exit(1);
  }
}
