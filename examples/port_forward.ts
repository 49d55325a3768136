/**
 * A TCP port forwarder: connections that tcptun accepts on its own address are relayed to a
 * socket on the host side, opened with the host's own TCP (`Deno.connect`). Bytes flow both
 * ways, and a half-close travels through: when one end sends FIN, the forwarder sends FIN to
 * the other end and keeps relaying the opposite direction until it ends too. A reset on one
 * side resets the other.
 *
 * Run (Linux as root, or macOS with sudo), e.g. in front of a local web server:
 *
 * ```sh
 * python3 -m http.server 8000 --bind 127.0.0.1 &
 * sudo deno run -A examples/port_forward.ts --port 8080 --to 127.0.0.1:8000
 * curl http://10.0.0.1:8080/   # kernel → TUN → tcptun → forwarder → kernel → the server
 * ```
 *
 * Options (flag, else environment variable, else default): `--tun-ip` / `TCPTUN_TUN_IP`
 * (10.0.0.1), `--port` / `TCPTUN_PORT` (8080, the port tcptun listens on), `--to` /
 * `TCPTUN_FORWARD_TO` (127.0.0.1:8000, where each connection is relayed).
 * SIGINT or SIGTERM stops accepting, closes every relayed connection and exits 0.
 * @module
 */

import { parseArgs } from "node:util";
import { openStack, type TcpConn, type TcpStack } from "../src/mod.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    "tun-ip": { type: "string", default: Deno.env.get("TCPTUN_TUN_IP") ?? "10.0.0.1" },
    port: { type: "string", default: Deno.env.get("TCPTUN_PORT") ?? "8080" },
    to: { type: "string", default: Deno.env.get("TCPTUN_FORWARD_TO") ?? "127.0.0.1:8000" },
  },
});

function usage(message: string): never {
  console.error(`error: ${message}`);
  console.error("usage: port_forward.ts [--tun-ip IP] [--port N] [--to HOST:PORT]");
  Deno.exit(2);
}

function parsePort(text: string, what: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < 1 || n > 65535) usage(`${what} must be 1..65535, got ${text}`);
  return n;
}

const listenPort = parsePort(values.port, "--port");
const sep = values.to.lastIndexOf(":");
if (sep <= 0) usage(`--to must be HOST:PORT, got ${values.to}`);
const target = {
  hostname: values.to.slice(0, sep).replace(/^\[(.*)\]$/, "$1"), // [::1]:80 works too
  port: parsePort(values.to.slice(sep + 1), "--to's port"),
};

/** What both ends offer: tcptun's `TcpConn` and the host's `Deno.Conn`. */
interface Duplex {
  read(p: Uint8Array): Promise<number | null>;
  write(p: Uint8Array): Promise<number>;
  closeWrite(): Promise<void>;
}

/**
 * Copies `from` to `to` until `from` sends FIN, then half-closes `to` (our FIN follows the
 * last byte). Backpressure: the next read waits until the previous bytes were written, so a
 * slow reader on one side closes the window the fast writer on the other side sees.
 */
async function copy(from: Duplex, to: Duplex): Promise<number> {
  const buf = new Uint8Array(64 * 1024);
  let total = 0;
  for (let n = await from.read(buf); n !== null; n = await from.read(buf)) {
    for (let off = 0; off < n;) off += await to.write(buf.subarray(off, n));
    total += n;
  }
  await to.closeWrite();
  return total;
}

let stopping = false;
/** Open relays: their host-side sockets, closed at shutdown. */
const upstreams = new Set<Deno.Conn>();

/** Relays one accepted connection to `target` until both directions have ended. */
async function relay(conn: TcpConn): Promise<void> {
  const peer = `${conn.remoteAddr.hostname}:${conn.remoteAddr.port}`;
  let upstream: Deno.Conn;
  try {
    upstream = await Deno.connect(target);
  } catch (e) {
    // Nobody at the target: the client sees a reset, as if it had reached a closed port.
    console.error(`${peer}: cannot reach ${values.to}: ${e instanceof Error ? e.message : e}`);
    conn.abort();
    return;
  }
  upstreams.add(upstream);
  console.error(`${peer} ⇄ ${values.to}`);
  try {
    const [up, down] = await Promise.all([
      // An error in one direction (a reset, say) ends the other one too: the peer of the
      // failed side is reset (tcptun side) or closed (host side), which fails its copy.
      copy(conn, upstream).catch((e) => {
        upstream.close();
        throw e;
      }),
      copy(upstream, conn).catch((e) => {
        conn.abort();
        throw e;
      }),
    ]);
    console.error(`${peer} done: ${up} bytes up, ${down} bytes down`);
  } catch (e) {
    if (!stopping) console.error(`${peer}: ${e instanceof Error ? e.message : e}`);
  } finally {
    upstreams.delete(upstream);
    // Both directions are over (or failed): release both ends. Closing an already closed
    // Deno.Conn throws, hence the try.
    conn.close();
    try {
      upstream.close();
    } catch {
      // closed above after an error
    }
  }
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

const stack = await open(values["tun-ip"]);
const listener = stack.listen({ port: listenPort });
// One line per address (IPv4 first, then IPv6 in brackets when the device has it).
for (const a of listener.addrs) {
  const host = a.hostname.includes(":") ? `[${a.hostname}]` : a.hostname;
  console.error(`listening on ${host}:${a.port}, forwarding to ${values.to}`);
}

const stop = () => {
  if (stopping) return;
  stopping = true;
  console.error("shutting down");
  listener.close();
};
Deno.addSignalListener("SIGINT", stop);
Deno.addSignalListener("SIGTERM", stop);

const relays = new Set<Promise<void>>();
for await (const conn of listener) {
  const p = relay(conn);
  relays.add(p);
  p.finally(() => relays.delete(p));
}

// FIN on every tcptun connection (bounded wait for the clients' FINs), then the host sockets.
await stack.close();
for (const u of upstreams) {
  try {
    u.close();
  } catch {
    // already closed by its relay
  }
}
await Promise.allSettled(relays);
Deno.exit(0);
