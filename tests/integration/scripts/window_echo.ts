/**
 * Scenario (in a fresh namespace): a plain echo of SIZE random bytes (default 1 MiB) — a kernel
 * client (`Deno.connect`) to a tcptun listener doing `conn.readable.pipeTo(conn.writable)` —
 * captured by the stack's `tap` into a pcap file, then judged by `window_analysis.ts`: the
 * windows tcptun advertised (right edge moving left, small reopenings, zero windows) and the
 * kernel's segment sizes. Usage: `window_echo.ts [SIZE]`. Prints one JSON result line.
 * @module
 */

import { openStack } from "../../../src/stack.ts";
import { PcapWriter } from "../../../src/pcap.ts";
import {
  closeQuietly,
  randomBytes,
  readToEnd,
  scenario,
  sha256,
  within,
  writeAll,
} from "./common.ts";
import { analyzeWindow, readCapture } from "./window_analysis.ts";

const size = Number(Deno.args[0] ?? 1024 * 1024);
const STACK_IP = "10.0.0.1";
const PORT = 4444;
/** The stack's default receive buffer (`ConnOptions.recvBufferSize`), set explicitly here. */
const RECV_BUFFER = 1024 * 1024;

await scenario(30_000, async () => {
  const dir = await Deno.makeTempDir({ prefix: "tcptun_window_" });
  const file = `${dir}/echo.pcap`;
  try {
    const pcap = PcapWriter.create(file);
    const base = Date.now() - performance.now();
    const stack = await openStack({
      tunIp: STACK_IP,
      tap: (_dir, packet) => pcap.write(packet, base + performance.now()),
    });
    let echoed: Uint8Array;
    const data = randomBytes(size);
    try {
      const listener = stack.listen({ port: PORT, recvBufferSize: RECV_BUFFER });
      const accepted = listener.accept();
      const k = await within(
        Deno.connect({ hostname: STACK_IP, port: PORT }),
        5000,
        "kernel connect",
      );
      try {
        const conn = await within(accepted, 5000, "accept");
        listener.close();
        const serving = conn.readable.pipeTo(conn.writable);
        const [, got] = await within(
          Promise.all([writeAll(k, data).then(() => k.closeWrite()), readToEnd(k), serving]),
          20_000,
          "echo",
        );
        echoed = got;
        await within(conn.closed, 5000, "close");
      } finally {
        closeQuietly(k);
      }
    } finally {
      await stack.close();
      pcap.close();
    }
    const report = analyzeWindow(await readCapture(file), {
      receiver: STACK_IP,
      receiverPort: PORT,
      receiveBuffer: RECV_BUFFER,
    });
    return {
      size,
      echoed: echoed.length,
      echoMatches: (await sha256(echoed)) === (await sha256(data)),
      packets: pcap.packets,
      report,
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
