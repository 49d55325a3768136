/**
 * An HTTP/1.1 GET client on tcptun: the stack opens a TCP connection over the TUN link to a
 * server on the host (the kernel's side of the link), sends one request, and prints the
 * response's status line and body length; `--output FILE` saves the body.
 *
 * Run (Linux as root, or macOS with sudo), with a server listening on the host:
 *
 * ```sh
 * python3 -m http.server 8000 &                                # serves the current directory
 * sudo deno run -A examples/http_get.ts http://10.0.0.3:8000/README.md
 * ```
 *
 * The stack owns `--tun-ip` (10.0.0.2); the kernel's end of the link, 10.0.0.3, is the only
 * host the stack can reach, so the URL's host is an IPv4 address: there is no DNS here.
 *
 * Options (flag, else environment variable, else default): the URL / `TCPTUN_URL`
 * (`http://<kernel's address>:8000/`), `--tun-ip` / `TCPTUN_TUN_IP` (10.0.0.2),
 * `--output FILE` / `TCPTUN_OUTPUT` (none), `--timeout-ms` / `TCPTUN_TIMEOUT_MS` (30000, for
 * the whole exchange).
 *
 * Exit status: 0 with a complete response (whatever its status code, as curl), 1 on a
 * connection or protocol error, 2 for bad usage, 130 on SIGINT/SIGTERM (the connection and the
 * device are closed first).
 * @module
 */

import { parseArgs } from "node:util";
import { openStack, type TcpConn, type TcpStack } from "../src/mod.ts";

const { values, positionals } = parseArgs({
  args: Deno.args,
  allowPositionals: true,
  options: {
    "tun-ip": { type: "string", default: Deno.env.get("TCPTUN_TUN_IP") ?? "10.0.0.2" },
    output: { type: "string", default: Deno.env.get("TCPTUN_OUTPUT") },
    "timeout-ms": { type: "string", default: Deno.env.get("TCPTUN_TIMEOUT_MS") ?? "30000" },
  },
});

function usage(message: string): never {
  console.error(`error: ${message}`);
  console.error("usage: http_get.ts [URL] [--tun-ip IP] [--output FILE] [--timeout-ms N]");
  Deno.exit(2);
}

const tunIp = values["tun-ip"];
// Without a URL: the kernel's end of the link (known once the stack is open), port 8000.
const urlText = positionals[0] ?? Deno.env.get("TCPTUN_URL");
if (urlText !== undefined && !URL.canParse(urlText)) usage(`invalid URL ${urlText}`);
if (urlText !== undefined && new URL(urlText).protocol !== "http:") {
  usage(`only http:// URLs, got ${urlText}`);
}
const timeoutMs = Number(values["timeout-ms"]);
if (!(timeoutMs > 0)) usage(`--timeout-ms must be a positive number, got ${values["timeout-ms"]}`);

const CRLF = "\r\n";
const MAX_HEADER_BYTES = 64 * 1024;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Reads from a connection through one buffer: header lines first, then body bytes. The
 * buffer grows only to hold a whole header section (bounded by MAX_HEADER_BYTES).
 */
class BufferedReader {
  #buf = new Uint8Array(64 * 1024);
  #start = 0;
  #end = 0;
  constructor(readonly conn: TcpConn) {}

  /** Bytes buffered and not yet consumed. */
  get buffered(): number {
    return this.#end - this.#start;
  }

  /** Reads more from the connection; false at the server's FIN. */
  async fill(): Promise<boolean> {
    if (this.#start > 0) {
      this.#buf.copyWithin(0, this.#start, this.#end);
      this.#end -= this.#start;
      this.#start = 0;
    }
    if (this.#end === this.#buf.length) {
      const bigger = new Uint8Array(this.#buf.length * 2);
      bigger.set(this.#buf);
      this.#buf = bigger;
    }
    const n = await this.conn.read(this.#buf.subarray(this.#end));
    if (n === null) return false;
    this.#end += n;
    return true;
  }

  /** One line without its CRLF (RFC 9112 §2.2 also allows a bare LF). */
  async line(): Promise<string> {
    for (let scanned = 0;;) {
      const i = this.#buf.subarray(this.#start + scanned, this.#end).indexOf(0x0a);
      if (i >= 0) {
        const end = this.#start + scanned + i;
        const text = decoder.decode(this.#buf.subarray(this.#start, end)).replace(/\r$/, "");
        this.#start = end + 1;
        return text;
      }
      scanned = this.buffered;
      if (scanned > MAX_HEADER_BYTES) throw new Error("response header line too long");
      if (!await this.fill()) throw new Error("connection closed inside the response header");
    }
  }

  /** Up to `max` body bytes (a view, valid until the next call); null at the server's FIN. */
  async chunk(max: number): Promise<Uint8Array | null> {
    if (this.buffered === 0 && !await this.fill()) return null;
    const n = Math.min(max, this.buffered);
    const out = this.#buf.subarray(this.#start, this.#start + n);
    this.#start += n;
    return out;
  }
}

interface Response {
  statusLine: string;
  status: number;
  headers: Map<string, string>;
}

/** Reads a status line and header fields (RFC 9112 §4, §5), skipping 1xx interim responses. */
async function readHead(r: BufferedReader): Promise<Response> {
  for (;;) {
    const statusLine = await r.line();
    const m = /^HTTP\/1\.[01] (\d{3})(?: .*)?$/.exec(statusLine);
    if (m === null) throw new Error(`not an HTTP/1.x status line: ${JSON.stringify(statusLine)}`);
    const headers = new Map<string, string>();
    let size = statusLine.length;
    for (let line = await r.line(); line !== ""; line = await r.line()) {
      size += line.length;
      if (size > MAX_HEADER_BYTES) throw new Error("response header too large");
      const colon = line.indexOf(":");
      if (colon <= 0) throw new Error(`malformed header field: ${JSON.stringify(line)}`);
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      // Repeated fields combine with commas (RFC 9110 §5.3).
      headers.set(name, headers.has(name) ? `${headers.get(name)}, ${value}` : value);
    }
    const status = Number(m[1]);
    if (status >= 100 && status < 200 && status !== 101) continue; // interim: the real one follows
    return { statusLine, status, headers };
  }
}

/**
 * Reads the body as RFC 9112 §6.3 frames it and hands each piece to `sink`: no body for 1xx,
 * 204 and 304; chunked transfer coding; Content-Length; or everything until the server closes.
 * Returns the body length.
 */
async function readBody(
  r: BufferedReader,
  res: Response,
  sink: (bytes: Uint8Array) => Promise<void>,
): Promise<number> {
  if (res.status === 204 || res.status === 304) return 0;
  const te = res.headers.get("transfer-encoding");
  if (te !== undefined && /(^|,)\s*chunked\s*$/i.test(te)) {
    let total = 0;
    for (;;) {
      const sizeLine = (await r.line()).split(";")[0].trim(); // chunk extensions ignored
      if (!/^[0-9a-fA-F]+$/.test(sizeLine)) throw new Error(`bad chunk size ${sizeLine}`);
      const size = parseInt(sizeLine, 16);
      if (size === 0) break;
      total += await copyExactly(r, size, sink);
      if (await r.line() !== "") throw new Error("chunk not followed by CRLF");
    }
    while (await r.line() !== "") {
      // trailer fields: read and dropped
    }
    return total;
  }
  const cl = res.headers.get("content-length");
  if (cl !== undefined) {
    if (!/^\d+$/.test(cl)) throw new Error(`bad Content-Length ${cl}`);
    return await copyExactly(r, Number(cl), sink);
  }
  let total = 0;
  for (let c = await r.chunk(65536); c !== null; c = await r.chunk(65536)) {
    await sink(c);
    total += c.length;
  }
  return total;
}

async function copyExactly(
  r: BufferedReader,
  n: number,
  sink: (bytes: Uint8Array) => Promise<void>,
): Promise<number> {
  for (let left = n; left > 0;) {
    const c = await r.chunk(Math.min(left, 65536));
    if (c === null) throw new Error(`connection closed ${n - left} bytes into a ${n}-byte body`);
    await sink(c);
    left -= c.length;
  }
  return n;
}

/** GETs `url` over `stack`; prints the status line and the body length. */
async function get(stack: TcpStack, url: URL): Promise<void> {
  const port = url.port === "" ? 80 : Number(url.port);
  // Rejects with ConnectionRefused or TimedOut, or a TypeError for a host that is not an
  // IPv4 address.
  const conn = await stack.connect({ hostname: url.hostname, port });
  console.error(`connected to ${url.hostname}:${port} from ${conn.localAddr.hostname}`);
  const file = values.output === undefined
    ? undefined
    : await Deno.open(values.output, { write: true, create: true, truncate: true });
  try {
    // RFC 9112 §3: request line, Host (required in HTTP/1.1), and "Connection: close" so the
    // server ends the exchange after this response.
    const request = [
      `GET ${url.pathname}${url.search} HTTP/1.1`,
      `Host: ${url.host}`,
      "User-Agent: tcptun-example",
      "Accept: */*",
      "Connection: close",
      "",
      "",
    ].join(CRLF);
    const bytes = encoder.encode(request);
    for (let off = 0; off < bytes.length;) off += await conn.write(bytes.subarray(off));

    const r = new BufferedReader(conn);
    const res = await readHead(r);
    console.log(res.statusLine);
    const length = await readBody(r, res, async (c) => {
      if (file !== undefined) {
        for (let off = 0; off < c.length;) off += await file.write(c.subarray(off));
      }
    });
    console.log(`body: ${length} bytes`);
    // FIN from us; the server closes its side too ("Connection: close"), and closing the
    // stack waits (a bounded time) for that.
    conn.close();
  } catch (e) {
    conn.abort(); // leave no half-read connection behind: RST
    throw e;
  } finally {
    file?.close();
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

const stack = await open(tunIp);
const url = new URL(urlText ?? `http://${stack.peerIp}:8000/`);

// One way to stop early, whatever asks first: a signal (exit 130) or the time limit (exit 1).
// Closing the stack fails the pending connect or read with BadResource, and `get` unwinds.
let stopped: { status: number; why: string } | undefined;
let closing: Promise<void> | undefined;
const closeStack = () => closing ??= stack.close();
const stop = (status: number, why: string) => {
  if (stopped !== undefined) return;
  stopped = { status, why };
  console.error(why);
  closeStack().catch(() => {});
};
Deno.addSignalListener("SIGINT", () => stop(130, "interrupted"));
Deno.addSignalListener("SIGTERM", () => stop(130, "interrupted"));
const timer = setTimeout(
  () => stop(1, `error: no complete response within ${timeoutMs} ms`),
  timeoutMs,
);

let status = 0;
try {
  await get(stack, url);
} catch (e) {
  if (stopped === undefined) {
    console.error(`error: ${e instanceof Error ? e.message : e}`);
    status = 1;
  }
}
clearTimeout(timer);
await closeStack();
Deno.exit(stopped?.status ?? status);
