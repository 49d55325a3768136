/**
 * A kernel peer in a second network namespace, nested in the scenario's own and joined to it by
 * a veth pair, and a `tcpdump` capture on that pair: the scaffolding the router scenarios share
 * (`offload_forward.ts`, `pmtu_router.ts`, `window_linux.ts`).
 *
 * The scenario starts itself again under `unshare --net` as the peer; the peer listens, prints
 * `ready` on stdout and then serves. The nested namespace is a child of the scenario's own
 * throw-away namespace and is gone when the peer exits, veth end included.
 * @module
 */

import { killAtExit, lines, within } from "./common.ts";
import { sh } from "./lossy_common.ts";

/** Runs a command (`ip`, `ethtool`, ...) inside the network namespace of process `pid`. */
export function inNs(pid: number, cmd: string, ...args: string[]): Promise<string> {
  return sh("nsenter", `--net=/proc/${pid}/ns/net`, cmd, ...args);
}

/** A peer started by {@linkcode spawnPeer}, past its `ready` line. */
export interface Peer {
  child: Deno.ChildProcess;
  /** The peer's process, whose network namespace is the nested one (`unshare` execs it). */
  pid: number;
  /** The peer's stdout lines after `ready`. */
  out: AsyncGenerator<string>;
  /** The peer's whole stderr, once it has exited. */
  err: Promise<string>;
  /**
   * The peer's next stdout line as its JSON result, within `ms`; throws when the peer ended
   * without one or reported `{"error": ...}` (with its stderr).
   */
  result(ms: number): Promise<Record<string, unknown>>;
}

/**
 * Starts `deno run -A script ...args` under `unshare --net` (killed when the scenario ends) and
 * waits up to `readyMs` for its `ready` line. `stdin: "piped"` lets the parent hold the peer
 * (and with it the veth pair) until it closes the pipe.
 */
export async function spawnPeer(
  script: string,
  args: string[],
  opts: { stdin: "piped" | "null"; readyMs: number },
): Promise<Peer> {
  const child = new Deno.Command("unshare", {
    args: ["--net", Deno.execPath(), "run", "-A", "--no-prompt", script, ...args],
    // No update check: from a peer routed through the scenario's namespace, it would send DNS
    // queries through the router.
    env: { TCPTUN_IN_NETNS: "1", NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" },
    stdin: opts.stdin,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  killAtExit(child);
  const err = new Response(child.stderr).text();
  const out = lines(child.stdout);
  const first = await within(out.next(), opts.readyMs, "peer ready");
  if (first.done || first.value !== "ready") {
    throw new Error(`the peer did not start: ${first.value}\n${await err}`);
  }
  return {
    child,
    pid: child.pid,
    out,
    err,
    async result(ms: number): Promise<Record<string, unknown>> {
      const line = await within(out.next(), ms, "peer result");
      if (line.done) throw new Error(`the peer ended without a result:\n${await err}`);
      const result = JSON.parse(line.value);
      if (result.error !== undefined) throw new Error(`peer: ${result.error}\n${await err}`);
      return result;
    },
  };
}

/** The two ends of the veth pair {@linkcode vethToPeer} makes. */
export const VETH_HERE = "wa";
export const VETH_PEER = "wb";

/**
 * Joins this namespace to the peer's (process `pid`) with a veth pair: {@linkcode VETH_HERE}
 * here with address `here`, {@linkcode VETH_PEER} there with `peer` (both "addr/prefix"), both
 * up, at `mtu` when given; the peer's `lo` up too. `nodad` skips IPv6 duplicate address
 * detection so the addresses are usable at once.
 */
export async function vethToPeer(
  pid: number,
  o: { here: string; peer: string; mtu?: number; nodad?: boolean },
): Promise<void> {
  const nodad = o.nodad ? ["nodad"] : [];
  const mtu = o.mtu === undefined ? [] : ["mtu", String(o.mtu)];
  await sh(
    "ip",
    "link",
    "add",
    VETH_HERE,
    "type",
    "veth",
    "peer",
    "name",
    VETH_PEER,
    "netns",
    String(pid),
  );
  await sh("ip", "addr", "add", o.here, "dev", VETH_HERE, ...nodad);
  await sh("ip", "link", "set", VETH_HERE, ...mtu, "up");
  await inNs(pid, "ip", "link", "set", "lo", "up");
  await inNs(pid, "ip", "addr", "add", o.peer, "dev", VETH_PEER, ...nodad);
  await inNs(pid, "ip", "link", "set", VETH_PEER, ...mtu, "up");
}

/** A running `tcpdump`, from {@linkcode startTcpdump}. */
export interface Tcpdump {
  /**
   * Gives the last packets (a FIN exchange) 300 ms, stops the capture with SIGINT and returns
   * tcpdump's closing summary ("N packets captured ..."). Call it while the device exists.
   */
  stop(): Promise<string>;
}

/**
 * Captures TCP on `iface` into `file` (`extra`: more tcpdump flags, e.g. a snap length),
 * inside the namespace of process `nsPid` when given; resolves once tcpdump is listening.
 */
export async function startTcpdump(
  iface: string,
  file: string,
  opts: { nsPid?: number; extra?: string[] } = {},
): Promise<Tcpdump> {
  const args = ["-i", iface, "-n", "-U", "--immediate-mode", ...opts.extra ?? []];
  args.push("-Z", "root", "-w", file, "tcp");
  const dump = opts.nsPid === undefined
    ? new Deno.Command("tcpdump", { args, stdin: "null", stdout: "null", stderr: "piped" })
    : new Deno.Command("nsenter", {
      args: [`--net=/proc/${opts.nsPid}/ns/net`, "tcpdump", ...args],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    });
  const child = dump.spawn();
  killAtExit(child);
  const err = lines(child.stderr);
  const started = await within(err.next(), 10_000, "tcpdump start");
  if (started.done || !started.value.includes("listening on")) {
    throw new Error(`tcpdump did not start: ${started.value}`);
  }
  const rest = (async () => {
    const rest: string[] = [];
    for await (const l of err) rest.push(l);
    return rest.join("\n");
  })();
  return {
    async stop(): Promise<string> {
      await new Promise((r) => setTimeout(r, 300));
      child.kill("SIGINT");
      await within(child.status, 5000, "tcpdump exit");
      return await within(rest, 2000, "tcpdump stderr");
    },
  };
}
