/**
 * Shared parts of the hostile (black-box attack) scenarios, `hostile_*.ts`: preparing the
 * throw-away namespace for crafted traffic, memory and kernel counters, and a bounded
 * two-way transfer that reports how far it got instead of throwing.
 *
 * Crafted connections use kernel-side ports `CRAFT_PORT_FIRST`..`CRAFT_PORT_LAST`, below the
 * kernel's ephemeral range (32768–60999) so no real socket of the kernel ever gets one.
 * @module
 */

import type { TcpConn } from "../../../src/socket.ts";
import type { TcpStack } from "../../../src/stack.ts";
import { CRAFT_MARK } from "./craft.ts";
import { kernelTcpCounters, randomBytes, sh, sha256Hex } from "./lossy_common.ts";
import { within } from "./common.ts";

/** First kernel-side port of crafted connections. */
export const CRAFT_PORT_FIRST = 20000;
/** Last kernel-side port of crafted connections. */
export const CRAFT_PORT_LAST = 20999;

const MIB = 1024 * 1024;

/** What the namespace looks like: proof that crafted traffic has nowhere else to go. */
export interface Isolation {
  /** Interfaces of the namespace (only `lo` and the stack's TUN). */
  links: string[];
  /** Routes of the main table (no default route). */
  routes: string[];
  /** net.ipv4.ip_forward (0: packets to foreign addresses are dropped, not forwarded). */
  ipForward: string;
}

/**
 * Prepares the namespace for crafted packets on the stack's TUN device:
 * - a longer device queue (`txqueuelen`), so floods are not cut short by the 500-packet ring;
 * - the kernel's own RSTs from crafting ports are dropped on their way to the stack (the
 *   kernel has no socket for a crafted connection and would reset it), while crafted RSTs,
 *   which carry `CRAFT_MARK`, pass;
 * - forwarding off, so the stack's replies to spoofed addresses die in this kernel.
 * Returns the namespace's interfaces and routes; throws if anything but `lo` and the TUN
 * device exists or a default route is present.
 */
export async function prepareHostile(stack: TcpStack): Promise<Isolation> {
  const dev = stack.ifname;
  await sh("ip", "link", "set", "dev", dev, "txqueuelen", "10000");
  await sh(
    "iptables",
    "-w",
    "5",
    "-A",
    "OUTPUT",
    "-o",
    dev,
    "-p",
    "tcp",
    "--sport",
    `${CRAFT_PORT_FIRST}:${CRAFT_PORT_LAST}`,
    "--tcp-flags",
    "RST",
    "RST",
    "-m",
    "mark",
    "!",
    "--mark",
    `0x${CRAFT_MARK.toString(16)}`,
    "-j",
    "DROP",
  );
  Deno.writeTextFileSync("/proc/sys/net/ipv4/ip_forward", "0");
  const iso = await isolation();
  const foreign = iso.links.filter((l) => l !== "lo" && l !== dev);
  if (foreign.length > 0) throw new Error(`namespace has other interfaces: ${foreign}`);
  if (iso.routes.some((r) => r.startsWith("default"))) {
    throw new Error(`namespace has a default route: ${iso.routes}`);
  }
  return iso;
}

/** The namespace's interfaces, routes and forwarding switch. */
export async function isolation(): Promise<Isolation> {
  const links = (await sh("ip", "-o", "link", "show")).split("\n").filter((l) => l.trim())
    .map((l) => l.split(":")[1].trim().split("@")[0]);
  const routes = (await sh("ip", "route", "show")).split("\n").map((l) => l.trim()).filter((
    l,
  ) => l);
  const ipForward = Deno.readTextFileSync("/proc/sys/net/ipv4/ip_forward").trim();
  return { links, routes, ipForward };
}

/** Memory of this process (the stack runs in it), in MiB with two decimals. */
export interface Memory {
  /** Resident set size: what the brief's bounds are about. */
  rssMiB: number;
  /** V8 heap in use. */
  heapUsedMiB: number;
  /** Memory outside the V8 heap held by JS objects (ArrayBuffers). */
  externalMiB: number;
  /** True when a full garbage collection ran first, so heap and external are live data. */
  gc: boolean;
}

/**
 * Memory of this process (the stack runs in it). When the script runs with
 * `--v8-flags=--expose-gc`, a full garbage collection runs first, so that `heapUsedMiB` and
 * `externalMiB` count only what is still referenced (RSS rarely shrinks after one).
 */
export function memory(): Memory {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (typeof gc === "function") gc();
  const m = Deno.memoryUsage();
  const r = (x: number) => Math.round((x / MIB) * 100) / 100;
  return {
    rssMiB: r(m.rss),
    heapUsedMiB: r(m.heapUsed),
    externalMiB: r(m.external),
    gc: typeof gc === "function",
  };
}

/** `after − before` of RSS and of live memory (heap used + external), in MiB. */
export function growth(before: Memory, after: Memory): { rssMiB: number; liveMiB: number } {
  const r = (x: number) => Math.round(x * 100) / 100;
  return {
    rssMiB: r(after.rssMiB - before.rssMiB),
    liveMiB: r(
      after.heapUsedMiB + after.externalMiB - before.heapUsedMiB - before.externalMiB,
    ),
  };
}

/** The kernel's TCP counters of this namespace: `Tcp:` (snmp) and `TcpExt:` (netstat). */
export function kernelCounters(): Record<string, number> {
  const out: Record<string, number> = { ...kernelTcpCounters() };
  const lines = Deno.readTextFileSync("/proc/net/netstat").split("\n").filter((l) =>
    l.startsWith("TcpExt:")
  );
  if (lines.length >= 2) {
    const names = lines[0].split(/\s+/).slice(1);
    const values = lines[1].split(/\s+/).slice(1);
    for (let i = 0; i < names.length; i++) out[names[i]] = Number(values[i]);
  }
  return out;
}

/** `after − before` for `keys`. */
export function delta(
  before: Record<string, number>,
  after: Record<string, number>,
  keys: string[],
): Record<string, number> {
  const d: Record<string, number> = {};
  for (const k of keys) d[k] = (after[k] ?? 0) - (before[k] ?? 0);
  return d;
}

/**
 * Packet counters of a network device, from `ip -s -j link` (this namespace's `/sys` is the
 * host's). `tx` is towards the stack: crafted and kernel packets; `tx_dropped` counts those
 * the device queue had no room for.
 */
export async function deviceStats(dev: string): Promise<Record<string, number>> {
  const j = JSON.parse(await sh("ip", "-s", "-j", "link", "show", "dev", dev));
  const s = j[0].stats64;
  return {
    tx_packets: s.tx.packets,
    tx_dropped: s.tx.dropped,
    rx_packets: s.rx.packets,
    rx_dropped: s.rx.dropped,
  };
}

/** One direction of an `exchange`. */
export interface Leg {
  bytes: number;
  received: number;
  intact: boolean;
}

/** The outcome of an `exchange`: "ok", or why it stopped, and how far each way got. */
export interface Exchange {
  outcome: string;
  /** Kernel → stack. */
  k2t: Leg;
  /** Stack → kernel. */
  t2k: Leg;
}

/**
 * Moves `k2t` random bytes kernel → stack and `t2k` bytes stack → kernel at the same time
 * over one connection, bounded by `ms`; with `fin`, each side then closes its write half
 * and the receivers read to end of stream. Never throws: a stall, reset or timeout is the
 * `outcome`, and the connection is aborted on both ends. `during` runs once both transfers
 * have started (an attack in the middle of a transfer).
 */
export async function exchange(
  conn: TcpConn,
  k: Deno.TcpConn,
  opts: { k2t: number; t2k: number; ms: number; fin: boolean; during?: () => Promise<void> },
): Promise<Exchange> {
  const a = randomBytes(opts.k2t);
  const b = randomBytes(opts.t2k);
  const gotA = new Uint8Array(opts.k2t);
  const gotB = new Uint8Array(opts.t2k);
  let nA = 0;
  let nB = 0;
  let extra = 0;
  const kernelSend = async () => {
    for (let off = 0; off < a.length;) off += await k.write(a.subarray(off));
    if (opts.fin) await k.closeWrite();
  };
  const stackSend = async () => {
    const w = conn.writable.getWriter();
    for (let off = 0; off < b.length; off += 65536) {
      await w.write(b.subarray(off, Math.min(b.length, off + 65536)));
    }
    if (opts.fin) await w.close();
    else w.releaseLock();
  };
  const stackRecv = async () => {
    const r = conn.readable.getReader();
    while (opts.fin || nA < a.length) {
      const { value, done } = await r.read();
      if (done) break;
      const room = Math.min(value.length, gotA.length - nA);
      gotA.set(value.subarray(0, room), nA);
      nA += room;
      extra += value.length - room;
    }
    r.releaseLock();
  };
  const kernelRecv = async () => {
    const buf = new Uint8Array(65536);
    while (opts.fin || nB < b.length) {
      const n = await k.read(buf);
      if (n === null) break;
      const room = Math.min(n, gotB.length - nB);
      gotB.set(buf.subarray(0, room), nB);
      nB += room;
      extra += n - room;
    }
  };
  let outcome = "ok";
  try {
    const t0 = performance.now();
    const all = Promise.all([kernelSend(), stackSend(), stackRecv(), kernelRecv()]);
    all.catch(() => {}); // awaited below; a reset during `during` must not go unhandled
    if (opts.during) await within(opts.during(), opts.ms, "attack during the transfer");
    await within(all, Math.max(1, opts.ms - (performance.now() - t0)), "transfer");
    if (extra > 0) outcome = `${extra} bytes more than sent`;
  } catch (e) {
    outcome = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    try {
      conn.abort();
    } catch {
      // already gone
    }
    try {
      k.close();
    } catch {
      // already closed
    }
  }
  const leg = async (sent: Uint8Array<ArrayBuffer>, got: Uint8Array<ArrayBuffer>, n: number) => ({
    bytes: sent.length,
    received: n,
    intact: n === sent.length && await sha256Hex(sent) === await sha256Hex(got),
  });
  return {
    outcome,
    k2t: await leg(a, gotA, nA),
    t2k: await leg(b, gotB, nB),
  };
}

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
