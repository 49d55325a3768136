/**
 * Bulk throughput benchmark: tcptun against the Linux kernel over a TUN device, beside the
 * kernel against itself over a veth pair, on a clean link and at 1 % loss each way, measured
 * in the same run. Prints a table of MiB/s; asserts nothing about time.
 *
 * Run: `deno task bench` (root, Linux). Optional arguments: `[cleanMiB] [lossyMiB]`,
 * default 64 and 16.
 *
 * - tcptun rows run `bench/scripts/tcptun.ts` under `unshare --net`: a fresh namespace that
 *   disappears with the process.
 * - The kernel row creates two namespaces with `ip netns add`, joined by a veth pair (MTU 1500,
 *   TSO/GSO/GRO off so that packets are MTU-sized as on the TUN device), and runs
 *   `bench/scripts/kernel.ts` in each; they are deleted in `finally` and on SIGINT/SIGTERM.
 * - "1 % loss" is real loss each way: iptables INPUT drops on the receiving side of each
 *   direction (for tcptun's receive side, the stack's inbound fault layer, because a DROP in
 *   the kernel's OUTPUT chain is a local send error that Linux retries, not a lost packet).
 * @module
 */

const MIB = 1024 * 1024;
const TIMEOUT_MS = 120_000;
const HERE = new URL(".", import.meta.url);
const TCPTUN = new URL("scripts/tcptun.ts", HERE).pathname;
const KERNEL = new URL("scripts/kernel.ts", HERE).pathname;
const LOSS = 0.01;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  result: Record<string, unknown> | undefined;
}

async function run(cmd: string, args: string[], env: Record<string, string> = {}): Promise<Run> {
  const out = await new Deno.Command(cmd, {
    args,
    env: { TCPTUN_IN_NETNS: "1", NO_COLOR: "1", ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(TIMEOUT_MS),
  }).output();
  const dec = new TextDecoder();
  const stdout = dec.decode(out.stdout);
  let result: Record<string, unknown> | undefined;
  for (const line of stdout.split("\n").reverse()) {
    if (!line.startsWith("{")) continue;
    try {
      result = JSON.parse(line);
      break;
    } catch {
      // not the result line
    }
  }
  return { code: out.code, stdout, stderr: dec.decode(out.stderr), result };
}

function resultOf(what: string, r: Run): Record<string, unknown> {
  if (r.code !== 0 || !r.result || r.result.error !== undefined) {
    throw new Error(
      `${what} failed (exit ${r.code}): ${r.result?.error ?? ""}\n${r.stderr.slice(-2000)}`,
    );
  }
  return r.result;
}

async function sh(cmd: string, ...args: string[]): Promise<void> {
  const r = await run(cmd, args);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(" ")}: ${r.stderr.trim()}`);
}

/** One tcptun transfer in a fresh namespace. */
async function tcptun(dir: "k2t" | "t2k", size: number, loss: number) {
  const r = resultOf(
    `tcptun ${dir} loss ${loss}`,
    await run("unshare", [
      "--net",
      Deno.execPath(),
      "run",
      "-A",
      TCPTUN,
      dir,
      String(size),
      String(loss),
    ]),
  );
  if (r.ok !== true) throw new Error(`tcptun ${dir}: data corrupted or short`);
  const t = r.tcptun as Record<string, number>;
  const retrans = dir === "t2k"
    ? `tcptun ${t.retransmissions} (fast ${t.fastRetransmits}, RTO ${t.timeouts})`
    : `kernel ${r.kernelRetransSegs}`;
  return { mibps: r.mibps as number, retrans };
}

/** Namespaces and veth pair for the kernel → kernel baseline. */
class VethPair {
  readonly a = `tcptun-bench-a-${Deno.pid}`;
  readonly b = `tcptun-bench-b-${Deno.pid}`;
  #created: string[] = [];

  async setup(): Promise<void> {
    for (const ns of [this.a, this.b]) {
      await sh("ip", "netns", "add", ns);
      this.#created.push(ns);
    }
    await sh(
      "ip",
      "link",
      "add",
      "tb-a",
      "netns",
      this.a,
      "type",
      "veth",
      "peer",
      "name",
      "tb-b",
      "netns",
      this.b,
    );
    await sh("ip", "-n", this.a, "addr", "add", "10.9.0.1/24", "dev", "tb-a");
    await sh("ip", "-n", this.b, "addr", "add", "10.9.0.2/24", "dev", "tb-b");
    for (const [ns, dev] of [[this.a, "tb-a"], [this.b, "tb-b"]]) {
      await sh("ip", "-n", ns, "link", "set", "lo", "up");
      await sh("ip", "-n", ns, "link", "set", dev, "up");
      // Segment in the sender, one MTU-sized packet at a time, as over the TUN device: with
      // TSO/GSO/GRO a 1 % drop would take 64 KiB bursts, not packets.
      await sh(
        "ip",
        "netns",
        "exec",
        ns,
        "ethtool",
        "-K",
        dev,
        "tso",
        "off",
        "gso",
        "off",
        "gro",
        "off",
      );
    }
  }

  /** Drops `p` of what each side receives from the veth (INPUT), or removes the rules. */
  async setLoss(p: number): Promise<void> {
    for (const [ns, dev] of [[this.a, "tb-a"], [this.b, "tb-b"]]) {
      await sh("ip", "netns", "exec", ns, "iptables", "-w", "5", "-F", "INPUT");
      if (p > 0) {
        await sh(
          "ip",
          "netns",
          "exec",
          ns,
          "iptables",
          "-w",
          "5",
          "-A",
          "INPUT",
          "-i",
          dev,
          "-m",
          "statistic",
          "--mode",
          "random",
          "--probability",
          String(p),
          "-j",
          "DROP",
        );
      }
    }
  }

  /** Sends `size` bytes from namespace a to namespace b. */
  async transfer(size: number, port: number) {
    const deno = Deno.execPath();
    const recv = run("ip", [
      "netns",
      "exec",
      this.b,
      deno,
      "run",
      "-A",
      KERNEL,
      "recv",
      "10.9.0.2",
      String(port),
      String(size),
    ]);
    const send = run("ip", [
      "netns",
      "exec",
      this.a,
      deno,
      "run",
      "-A",
      KERNEL,
      "send",
      "10.9.0.2",
      String(port),
      String(size),
    ]);
    const [rr, sr] = await Promise.all([recv, send]);
    const r = resultOf("kernel recv", rr);
    const s = resultOf("kernel send", sr);
    if (r.ok !== true) throw new Error(`kernel → kernel: received ${r.received} of ${size}`);
    return { mibps: r.mibps as number, retrans: `kernel ${s.retransSegs}` };
  }

  /** Deletes the namespaces (and with them the veth pair). Safe to call twice. */
  async cleanup(): Promise<void> {
    for (const ns of this.#created.splice(0)) {
      await run("ip", ["netns", "delete", ns]).catch(() => undefined);
    }
  }
}

function pad(s: string, n: number): string {
  return s.length >= n ? s : s + " ".repeat(n - s.length);
}

async function main(): Promise<void> {
  if (Deno.build.os !== "linux" || Deno.uid() !== 0) {
    console.error("bench: needs Linux and root (network namespaces, TUN)");
    Deno.exit(2);
  }
  const cleanMiB = Number(Deno.args[0] ?? 64);
  const lossyMiB = Number(Deno.args[1] ?? 16);
  const clean = cleanMiB * MIB;
  const lossy = lossyMiB * MIB;

  const veth = new VethPair();
  const onSignal = () => {
    veth.cleanup().finally(() => Deno.exit(130));
  };
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  const rows: {
    name: string;
    clean: { mibps: number; retrans: string };
    lossy: { mibps: number; retrans: string };
  }[] = [];
  try {
    console.error(`bench: ${cleanMiB} MiB clean, ${lossyMiB} MiB at ${LOSS * 100} % loss each way`);
    rows.push({
      name: "kernel → tcptun (TUN)",
      clean: await tcptun("k2t", clean, 0),
      lossy: await tcptun("k2t", lossy, LOSS),
    });
    rows.push({
      name: "tcptun → kernel (TUN)",
      clean: await tcptun("t2k", clean, 0),
      lossy: await tcptun("t2k", lossy, LOSS),
    });
    await veth.setup();
    const k1 = await veth.transfer(clean, 5201);
    await veth.setLoss(LOSS);
    const k2 = await veth.transfer(lossy, 5202);
    rows.push({ name: "kernel → kernel (veth)", clean: k1, lossy: k2 });
  } finally {
    await veth.cleanup();
    Deno.removeSignalListener("SIGINT", onSignal);
    Deno.removeSignalListener("SIGTERM", onSignal);
  }

  const head = [
    pad("transfer", 24),
    pad(`clean, ${cleanMiB} MiB`, 16),
    pad(`${LOSS * 100} % loss, ${lossyMiB} MiB`, 18),
    "retransmitted segments at loss (sender)",
  ];
  console.log(head.join(" | "));
  console.log(head.map((h) => "-".repeat(h.length)).join("-|-"));
  for (const r of rows) {
    console.log([
      pad(r.name, 24),
      pad(`${r.clean.mibps.toFixed(1)} MiB/s`, 16),
      pad(`${r.lossy.mibps.toFixed(1)} MiB/s`, 18),
      r.lossy.retrans,
    ].join(" | "));
  }
}

await main();
