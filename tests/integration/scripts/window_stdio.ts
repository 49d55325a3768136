/**
 * Scenario (in a fresh namespace): `main.ts listen --once --pcap FILE` in stdio mode receives
 * SIZE random bytes from a kernel client while its stdout (a pipe) is drained slowly, a few
 * hundred bytes at a time with pauses (`window_drain.ts`). The capture is then judged by
 * `window_analysis.ts`: tcptun's advertised windows and the kernel's segment sizes while the
 * window is throttled by the reader.
 *
 * Usage: `window_stdio.ts [SIZE [CHUNK,READS,PAUSE_MS [KEEP.pcap]]]`. Prints one JSON line.
 * @module
 */

import {
  closeQuietly,
  killAtExit,
  MAIN_TS,
  randomBytes,
  readOutcome,
  scenario,
  sha256,
  within,
  writeAll,
} from "./common.ts";
import { analyzeWindow, readCapture } from "./window_analysis.ts";
import { drainSlowly, parsePattern } from "./window_drain.ts";

const size = Number(Deno.args[0] ?? 1024 * 1024);
/** How the test drains the CLI's stdout. */
const pattern = parsePattern(Deno.args[1]);
/** Where to keep a copy of the capture (optional), for a look in Wireshark. */
const keep = Deno.args[2];
const STACK_IP = "10.0.0.1";
const PORT = 4444;
/** The receive buffer of every tcptun connection by default (`ConnOptions.recvBufferSize`). */
const RECV_BUFFER = 1024 * 1024;

await scenario(30_000, async () => {
  const dir = await Deno.makeTempDir({ prefix: "tcptun_window_" });
  const file = `${dir}/stdio.pcap`;
  try {
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--no-prompt", MAIN_TS, "listen", "--once", "--pcap", file, "-v", "info"],
      env: { NO_COLOR: "1" },
      stdin: "piped", // stays open: no FIN from our side before the peer's
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    killAtExit(child);
    let stderr = "";
    let listening!: () => void;
    const ready = new Promise<void>((r) => listening = r);
    const errPump = (async () => {
      for await (const c of child.stderr.pipeThrough(new TextDecoderStream())) {
        stderr += c;
        if (stderr.includes(`listening on ${STACK_IP}:${PORT}`)) listening();
      }
    })();
    await within(Promise.race([ready, child.status]), 10_000, "CLI listening");
    if (!stderr.includes("listening on")) throw new Error(`the CLI did not start:\n${stderr}`);

    const data = randomBytes(size);
    const k = await within(
      Deno.connect({ hostname: STACK_IP, port: PORT }),
      5000,
      "kernel connect",
    );
    let drained;
    let kernelEnd;
    try {
      [, drained, kernelEnd] = await within(
        Promise.all([
          writeAll(k, data).then(() => k.closeWrite()),
          drainSlowly(child.stdout, size, pattern),
          // The CLI closes its side once the peer's FIN has been passed on (stdio mode).
          readOutcome(k),
        ]),
        25_000,
        "slow transfer",
      );
    } finally {
      closeQuietly(k);
    }
    const status = await within(child.status, 5000, "CLI exit");
    await within(errPump, 2000, "CLI stderr");
    await child.stdin.close().catch(() => {});
    if (keep) await Deno.copyFile(file, keep);
    const report = analyzeWindow(await readCapture(file), {
      receiver: STACK_IP,
      receiverPort: PORT,
      receiveBuffer: RECV_BUFFER,
    });
    return {
      receiver: "tcptun",
      size,
      drain: pattern,
      received: drained.bytes.length,
      reads: drained.reads,
      matches: (await sha256(drained.bytes)) === (await sha256(data)),
      kernelEnd,
      code: status.code,
      report,
      stderr,
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
