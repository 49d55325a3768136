/**
 * Shared parts of the scenario scripts that run inside a fresh network namespace (see
 * `tests/netns.ts`): entering the namespace safely, a watchdog, the JSON result line, byte
 * helpers for kernel sockets, and a handle on a `main.ts` child process.
 * @module
 */

/** `main.ts` of the repository. */
export const MAIN_TS: string = new URL("../../../main.ts", import.meta.url).pathname;

/** Processes to kill when the watchdog fires. */
const children = new Set<Deno.ChildProcess>();

/** Refuses to run outside a namespace made for us, then brings `lo` up. */
export async function enterNetns(): Promise<void> {
  if (Deno.env.get("TCPTUN_IN_NETNS") !== "1") {
    throw new Error(
      "refusing to run: not inside a throw-away network namespace (run through tests/netns.ts)",
    );
  }
  const out = await new Deno.Command("ip", {
    args: ["link", "set", "lo", "up"],
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(`ip link set lo up: ${new TextDecoder().decode(out.stderr).trim()}`);
  }
}

/**
 * Runs a scenario: enters the namespace, runs `fn` under a watchdog of `budgetMs`, prints its
 * result as one JSON line and exits (0 on success; 1 with `{"error": ...}` on failure).
 */
export async function scenario(
  budgetMs: number,
  fn: () => Promise<Record<string, unknown>>,
): Promise<never> {
  const watchdog = setTimeout(() => {
    for (const c of children) killQuietly(c, "SIGKILL");
    console.log(JSON.stringify({ error: `scenario watchdog fired after ${budgetMs} ms` }));
    Deno.exit(3);
  }, budgetMs);
  let code = 0;
  try {
    await enterNetns();
    const result = await fn();
    console.log(JSON.stringify(result));
  } catch (e) {
    code = 1;
    console.error(e instanceof Error ? e.stack ?? e.message : String(e));
    console.log(JSON.stringify({ error: e instanceof Error ? `${e.name}: ${e.message}` : e }));
  } finally {
    clearTimeout(watchdog);
    for (const c of children) killQuietly(c, "SIGKILL");
  }
  Deno.exit(code);
}

/**
 * Kills `child` with SIGKILL when the scenario ends or its watchdog fires, unless it exited
 * first (for helper processes other than `main.ts`, e.g. the packet crafter).
 */
export function killAtExit(child: Deno.ChildProcess): void {
  children.add(child);
  child.status.then(() => children.delete(child), () => children.delete(child));
}

function killQuietly(c: Deno.ChildProcess, signal: Deno.Signal): void {
  try {
    c.kill(signal);
  } catch {
    // already exited
  }
}

/** Rejects with a `TimedOut` error naming `what` when `p` takes longer than `ms`. */
export async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Deno.errors.TimedOut(`${what}: no outcome within ${ms} ms`)),
          ms,
        );
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** `n` random bytes (`crypto.getRandomValues` fills at most 64 KiB per call). */
export function randomBytes(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let off = 0; off < n; off += 65536) {
    crypto.getRandomValues(out.subarray(off, Math.min(n, off + 65536)));
  }
  return out;
}

/** Lower-case hex SHA-256 of `data`. */
export async function sha256(data: Uint8Array): Promise<string> {
  const digest = new Uint8Array(
    await crypto.subtle.digest("SHA-256", data as Uint8Array<ArrayBuffer>),
  );
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Joins chunks into one array. */
export function concat(chunks: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const c of chunks) n += c.length;
  const out = new Uint8Array(n);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}

/** Writes all of `data` to a kernel socket. */
export async function writeAll(conn: Deno.Conn, data: Uint8Array): Promise<void> {
  for (let off = 0; off < data.length;) off += await conn.write(data.subarray(off));
}

/** Reads a kernel socket until EOF (read returns null). */
export async function readToEnd(conn: Deno.Conn): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  const buf = new Uint8Array(65536);
  for (;;) {
    const n = await conn.read(buf);
    if (n === null) return concat(chunks);
    chunks.push(buf.slice(0, n));
  }
}

/** Reads exactly `n` bytes from a kernel socket; throws at an early EOF. */
export async function readExactly(conn: Deno.Conn, n: number): Promise<Uint8Array> {
  const out = new Uint8Array(n);
  let off = 0;
  while (off < n) {
    const got = await conn.read(out.subarray(off));
    if (got === null) throw new Error(`EOF after ${off} of ${n} bytes`);
    off += got;
  }
  return out;
}

/** How a kernel socket read ended: "eof" (read returned null), or the error's class name. */
export async function readOutcome(conn: Deno.Conn): Promise<{ end: string; extra: number }> {
  const buf = new Uint8Array(65536);
  let extra = 0;
  try {
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) return { end: "eof", extra };
      extra += n;
    }
  } catch (e) {
    return { end: e instanceof Error ? e.name : String(e), extra };
  }
}

/** Lines of a child's stdout or stderr, as they come. */
export async function* lines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
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

/** Reads a whole stream (a TcpConn's readable) into one array. */
export async function readStream(readable: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  for await (const c of readable) chunks.push(c);
  return concat(chunks);
}

/**
 * A `deno run -A main.ts ...` child process (or another script, e.g. an example) in this
 * namespace, with its stdout collected, its stderr collected line by line, and its stdin open
 * for writing.
 */
export class Cli {
  readonly #name: string;
  readonly #child: Deno.ChildProcess;
  readonly #stdin: WritableStreamDefaultWriter<Uint8Array>;
  readonly #stdoutChunks: Uint8Array[] = [];
  #stdoutBytes = 0;
  #stderr = "";
  readonly #pumps: Promise<void>;
  #waiters: (() => void)[] = [];
  #status: Deno.CommandStatus | undefined;

  /** Starts `script` (default `main.ts`) with `args`. */
  constructor(args: string[], script: string = MAIN_TS) {
    this.#name = script.split("/").pop() ?? script;
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--no-prompt", script, ...args],
      env: { NO_COLOR: "1" },
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#child = child;
    children.add(child);
    this.#stdin = child.stdin.getWriter();
    const out = (async () => {
      for await (const c of child.stdout) {
        this.#stdoutChunks.push(c);
        this.#stdoutBytes += c.length;
        this.#notify();
      }
    })();
    const err = (async () => {
      for await (const c of child.stderr.pipeThrough(new TextDecoderStream())) {
        this.#stderr += c;
        this.#notify();
      }
    })();
    this.#pumps = Promise.all([out, err]).then(() => {});
    child.status.then((s) => {
      this.#status = s;
      children.delete(child);
      this.#notify();
    });
  }

  #notify(): void {
    const w = this.#waiters;
    this.#waiters = [];
    for (const f of w) f();
  }

  async #until(ok: () => boolean, ms: number, what: string): Promise<void> {
    const deadline = performance.now() + ms;
    while (!ok()) {
      if (this.#status !== undefined && !ok()) {
        // Give the pumps a last chance to collect output written just before exit.
        await within(this.#pumps, 2000, "cli output").catch(() => {});
        if (ok()) return;
        throw new Error(
          `${what}: ${this.#name} exited (code ${this.#status.code}) first; stderr:\n${this.#stderr}`,
        );
      }
      const left = deadline - performance.now();
      if (left <= 0) throw new Error(`${what}: not within ${ms} ms; stderr:\n${this.#stderr}`);
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((r) => {
        this.#waiters.push(r);
        timer = setTimeout(r, left);
      });
      clearTimeout(timer);
    }
  }

  /** Waits until stderr contains `text`. */
  waitStderr(text: string, ms = 10_000): Promise<void> {
    return this.#until(() => this.#stderr.includes(text), ms, `waiting for "${text}" on stderr`);
  }

  /** Waits until stdout holds at least `n` bytes. */
  waitStdout(n: number, ms = 10_000): Promise<void> {
    return this.#until(() => this.#stdoutBytes >= n, ms, `waiting for ${n} bytes on stdout`);
  }

  /** Everything written to stdout so far. */
  stdout(): Uint8Array {
    return concat(this.#stdoutChunks);
  }

  /** Everything written to stderr so far. */
  get stderr(): string {
    return this.#stderr;
  }

  /** Writes bytes to the child's stdin. */
  async write(data: Uint8Array): Promise<void> {
    await this.#stdin.write(data);
  }

  /** Closes the child's stdin (EOF). */
  async closeStdin(): Promise<void> {
    await this.#stdin.close();
  }

  /** Sends a signal. */
  kill(signal: Deno.Signal): void {
    this.#child.kill(signal);
  }

  /** Waits for the exit (bounded) and for all output; returns the exit code. */
  async exit(ms = 10_000): Promise<number> {
    const status = await within(this.#child.status, ms, `${this.#name} exit`);
    await within(this.#pumps, 2000, `${this.#name} output`);
    try {
      await this.#stdin.close();
    } catch {
      // already closed, or the child is gone
    }
    return status.code;
  }
}

/** What one run of the kernel's `ping` reported. */
export interface PingOutcome {
  /** ping's exit code (0: every request answered). */
  exit: number;
  /** The replies ping counted (−1: no summary line). */
  received: number;
  /** The size ping printed for the first reply ("N bytes from"), −1 for none. */
  replyBytes: number;
  /** stdout and stderr. */
  text: string;
}

/**
 * Runs the kernel's `ping` (`-6` when `ipv6`): three echo requests with `bytes` of data each,
 * 0.2 s apart, each waited for at most 2 s.
 */
export async function kernelPing(host: string, bytes: number, ipv6 = false): Promise<PingOutcome> {
  const out = await new Deno.Command("ping", {
    args: [
      ...ipv6 ? ["-6"] : [],
      "-n",
      "-c",
      "3",
      "-i",
      "0.2",
      "-W",
      "2",
      "-s",
      String(bytes),
      host,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(15_000),
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  return {
    exit: out.code,
    received: Number(text.match(/(\d+) (?:packets )?received/)?.[1] ?? -1),
    replyBytes: Number(text.match(/(\d+) bytes from /)?.[1] ?? -1),
    text,
  };
}

/** Sets a per-namespace sysctl (e.g. `net/ipv4/ip_nonlocal_bind`). */
export function sysctl(key: string, value: string): void {
  Deno.writeTextFileSync(`/proc/sys/${key}`, value);
}

/** Closes a kernel socket that may already be closed. */
export function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // already closed
  }
}
