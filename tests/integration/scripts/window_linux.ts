/**
 * Scenario (in a fresh namespace): the Linux baseline of `window_stdio.ts`. A kernel client
 * sends SIZE random bytes over a veth pair (MTU 1500, offloads off so the wire carries
 * MSS-sized segments as on the TUN link) to a kernel socket in a second, nested namespace that
 * a Deno reader drains in the same slow pattern (`window_drain.ts`). `tcpdump` captures the
 * veth, and `window_analysis.ts` judges Linux's advertised windows and the sender's segments.
 *
 * Usage: `window_linux.ts [SIZE [CHUNK,READS,PAUSE_MS [KEEP.pcap]]]`; the parent starts itself
 * again as `window_linux.ts --reader SIZE PATTERN` for the nested reader. Prints one JSON line.
 * @module
 */

import {
  closeQuietly,
  killAtExit,
  randomBytes,
  scenario,
  sha256,
  within,
  writeAll,
} from "./common.ts";
import { analyzeWindow, readCapture } from "./window_analysis.ts";
import { drainSlowly, formatPattern, parsePattern } from "./window_drain.ts";
import { sh } from "./lossy_common.ts";

const SENDER_IP = "10.9.0.1";
const RECEIVER_IP = "10.9.0.2";
const PORT = 5555;
const SCRIPT = new URL(import.meta.url).pathname;

if (Deno.args[0] === "--reader") {
  // The receiver, alone in its nested namespace: one connection, drained slowly.
  const size = Number(Deno.args[1]);
  const pattern = parsePattern(Deno.args[2]);
  await scenario(30_000, async () => {
    const listener = Deno.listen({ hostname: "0.0.0.0", port: PORT });
    console.log("ready");
    const conn = await within(listener.accept(), 15_000, "accept");
    listener.close();
    try {
      const drained = await within(drainSlowly(conn.readable, size, pattern), 25_000, "slow read");
      console.log(JSON.stringify({
        received: drained.bytes.length,
        reads: drained.reads,
        sha256: await sha256(drained.bytes),
        tcpRmem: Deno.readTextFileSync("/proc/sys/net/ipv4/tcp_rmem").trim(),
      }));
      // The veth pair dies with this namespace: stay until the parent has stopped its capture.
      await within(new Response(Deno.stdin.readable).arrayBuffer(), 10_000, "parent done");
      return {};
    } finally {
      closeQuietly(conn);
    }
  });
}

/** Lines of a child's stdout, as they come. */
async function* lines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  let rest = "";
  for await (const c of stream.pipeThrough(new TextDecoderStream())) {
    rest += c;
    let i;
    while ((i = rest.indexOf("\n")) >= 0) {
      yield rest.slice(0, i);
      rest = rest.slice(i + 1);
    }
  }
  if (rest !== "") yield rest;
}

/** Runs `ip`, `ethtool` etc. inside the namespace of process `pid`. */
function inNs(pid: number, cmd: string, ...args: string[]): Promise<string> {
  return sh("nsenter", `--net=/proc/${pid}/ns/net`, cmd, ...args);
}

const size = Number(Deno.args[0] ?? 1024 * 1024);
const pattern = parsePattern(Deno.args[1]);
const keep = Deno.args[2];

await scenario(30_000, async () => {
  const dir = await Deno.makeTempDir({ prefix: "tcptun_window_linux_" });
  const file = `${dir}/linux.pcap`;
  try {
    // The reader's namespace is a child of this one, gone when the reader exits.
    const reader = new Deno.Command("unshare", {
      args: [
        "--net",
        Deno.execPath(),
        "run",
        "-A",
        "--no-prompt",
        SCRIPT,
        "--reader",
        String(size),
        formatPattern(pattern),
      ],
      env: { TCPTUN_IN_NETNS: "1", NO_COLOR: "1" },
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    killAtExit(reader);
    const readerErr = new Response(reader.stderr).text();
    const out = lines(reader.stdout);
    const first = await within(out.next(), 10_000, "reader ready");
    if (first.done || first.value !== "ready") {
      throw new Error(`the reader did not start: ${first.value}\n${await readerErr}`);
    }
    const pid = reader.pid; // `unshare` execs the reader: same process, new namespace
    await sh("ip", "link", "add", "wa", "type", "veth", "peer", "name", "wb", "netns", String(pid));
    await sh("ip", "addr", "add", `${SENDER_IP}/24`, "dev", "wa");
    await sh("ip", "link", "set", "wa", "up");
    await inNs(pid, "ip", "addr", "add", `${RECEIVER_IP}/24`, "dev", "wb");
    await inNs(pid, "ip", "link", "set", "wb", "up");
    // Segments on the wire as on the TUN link: no TSO/GSO super-packets, no GRO merging.
    await sh("ethtool", "-K", "wa", "tso", "off", "gso", "off", "gro", "off");
    await inNs(pid, "ethtool", "-K", "wb", "tso", "off", "gso", "off", "gro", "off");

    const dump = new Deno.Command("tcpdump", {
      args: [
        "-i",
        "wa",
        "-n",
        "-U",
        "--immediate-mode",
        "-Z",
        "root",
        "-s",
        "200",
        "-w",
        file,
        "tcp",
      ],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    killAtExit(dump);
    const dumpErr = lines(dump.stderr);
    const started = await within(dumpErr.next(), 10_000, "tcpdump start");
    if (started.done || !started.value.includes("listening on")) {
      throw new Error(`tcpdump did not start: ${started.value}`);
    }
    const dumpRest = (async () => {
      const rest: string[] = [];
      for await (const l of dumpErr) rest.push(l);
      return rest.join("\n");
    })();

    const data = randomBytes(size);
    const k = await within(
      Deno.connect({ hostname: RECEIVER_IP, port: PORT }),
      5000,
      "kernel connect",
    );
    let result: Record<string, unknown>;
    try {
      await within(writeAll(k, data).then(() => k.closeWrite()), 25_000, "send");
      const line = await within(out.next(), 25_000, "reader result");
      if (line.done) throw new Error(`the reader ended without a result:\n${await readerErr}`);
      result = JSON.parse(line.value);
      if (result.error !== undefined) {
        throw new Error(`reader: ${result.error}\n${await readerErr}`);
      }
    } finally {
      closeQuietly(k);
    }
    // A last look for the FIN exchange, then stop the capture while the veth pair still exists.
    await new Promise((r) => setTimeout(r, 300));
    dump.kill("SIGINT");
    await within(dump.status, 5000, "tcpdump exit");
    const dumpSummary = await within(dumpRest, 2000, "tcpdump stderr");
    await reader.stdin.close();
    await within(reader.status, 5000, "reader exit");
    if (keep) await Deno.copyFile(file, keep);
    const report = analyzeWindow(await readCapture(file), {
      receiver: RECEIVER_IP,
      receiverPort: PORT,
    });
    return {
      receiver: "linux",
      size,
      drain: pattern,
      received: result.received,
      reads: result.reads,
      matches: result.sha256 === await sha256(data),
      tcpRmem: result.tcpRmem,
      tcpdump: dumpSummary,
      report,
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
