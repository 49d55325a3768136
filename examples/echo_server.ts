/**
 * An echo server on tcptun: every byte a client sends comes back to it, and the client's FIN
 * is answered with ours once the echo is through (a half-close is respected: the client may
 * stop sending and go on reading).
 *
 * Run (Linux as root, or macOS with sudo):
 *
 * ```sh
 * sudo deno run -A examples/echo_server.ts --tun-ip 10.0.0.1 --port 4444
 * nc 10.0.0.1 4444          # from the host: the kernel's TCP talks to tcptun
 * ```
 *
 * Options (flag, else environment variable, else default):
 * `--tun-ip` / `TCPTUN_TUN_IP` (10.0.0.1), `--port` / `TCPTUN_PORT` (4444).
 * SIGINT or SIGTERM closes the listener, sends FIN on every connection and exits 0.
 * @module
 */

import { parseArgs } from "node:util";
import { openStack, type TcpConn, type TcpStack } from "../src/mod.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    "tun-ip": { type: "string", default: Deno.env.get("TCPTUN_TUN_IP") ?? "10.0.0.1" },
    port: { type: "string", default: Deno.env.get("TCPTUN_PORT") ?? "4444" },
  },
});
const port = Number(values.port);
if (!Number.isInteger(port) || port < 1 || port > 65535) {
  console.error(`error: --port must be 1..65535, got ${values.port}`);
  Deno.exit(2);
}

/** Opens the stack, or exits 1 with one line saying why (most often: not root). */
async function open(tunIp: string): Promise<TcpStack> {
  try {
    return await openStack({ tunIp });
  } catch (e) {
    console.error(`error: cannot open the TUN device: ${e instanceof Error ? e.message : e}`);
    Deno.exit(1);
  }
}

// Opening the stack creates the TUN device: the stack owns --tun-ip, the kernel gets the
// other end of the point-to-point link (10.0.0.2 for 10.0.0.1).
const stack = await open(values["tun-ip"]);
const listener = stack.listen({ port });
// One line per address: IPv4 first, then IPv6 when the device has it (brackets around IPv6).
for (const a of listener.addrs) {
  console.error(
    `listening on ${a.hostname.includes(":") ? `[${a.hostname}]` : a.hostname}:${a.port}`,
  );
}

// The first SIGINT/SIGTERM stops accepting; the accept loop below then ends.
let stopping = false;
const stop = () => {
  if (stopping) return;
  stopping = true;
  console.error("shutting down");
  listener.close();
};
Deno.addSignalListener("SIGINT", stop);
Deno.addSignalListener("SIGTERM", stop);

/** Echoes one connection until the client's FIN, then sends ours. */
async function echo(conn: TcpConn): Promise<void> {
  const peer = `${conn.remoteAddr.hostname}:${conn.remoteAddr.port}`;
  console.error(`${peer} connected`);
  try {
    // pipeTo closes the writable when the readable ends: the client's FIN makes us send FIN
    // after the last echoed byte. Backpressure runs both ways: a client that does not read
    // fills our send buffer, which stops our reads, which closes the window it sees.
    await conn.readable.pipeTo(conn.writable);
    await conn.closed;
    const s = conn.stats();
    console.error(`${peer} closed after echoing ${s.bytesReceived} bytes`);
  } catch (e) {
    // A reset, a timeout, or the stack closing under us at shutdown.
    if (!stopping) console.error(`${peer}: ${e instanceof Error ? e.message : e}`);
  }
}

const serving = new Set<Promise<void>>();
for await (const conn of listener) {
  const p = echo(conn);
  serving.add(p);
  p.finally(() => serving.delete(p));
}

// FIN on every open connection, a bounded wait for the clients' FINs, then the device closes.
await stack.close();
await Promise.allSettled(serving);
Deno.exit(0);
