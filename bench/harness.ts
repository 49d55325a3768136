/**
 * Process and namespace plumbing for `bench/bench.ts`: network namespaces created with
 * `ip netns add` and always deleted, child processes read line by line and bounded in time,
 * and the cleanup that runs on exit, on error and on SIGINT/SIGTERM.
 * @module
 */

const decoder = new TextDecoder();

/** Every process, namespace and temporary file still alive, for the cleanup on a signal or an error. */
const live = { procs: new Set<Proc>(), namespaces: new Set<string>(), files: new Set<string>() };

/** A line handler: called with each complete line of a stream, without its newline. */
export type LineHandler = (line: string) => void;

/** A spawned child process whose stdout and stderr are read line by line. */
export class Proc {
  readonly child: Deno.ChildProcess;
  readonly name: string;
  /** Lines kept from stdout and stderr (stdout only when no handler consumes it). */
  readonly lines: { out: string[]; err: string[] } = { out: [], err: [] };
  /** Resolves with the exit status; the streams are fully read by then. */
  readonly status: Promise<Deno.CommandStatus>;
  #waiters: { re: RegExp; resolve: (line: string) => void }[] = [];
  #exited = false;

  /**
   * Spawns `cmd args`. `onStdout`, when given, receives every stdout line instead of `lines.out`
   * (for large outputs such as V8's GC trace). The process is killed after `timeoutMs`.
   */
  constructor(
    name: string,
    cmd: string,
    args: string[],
    opts: {
      timeoutMs: number;
      onStdout?: LineHandler;
      stdin?: "null" | "piped";
      env?: Record<string, string>;
      cwd?: string;
    },
  ) {
    this.name = name;
    const child = new Deno.Command(cmd, {
      args,
      stdin: opts.stdin ?? "null",
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1", ...opts.env },
      cwd: opts.cwd,
      signal: AbortSignal.timeout(opts.timeoutMs),
    }).spawn();
    this.child = child;
    live.procs.add(this);
    const out = this.#pump(child.stdout, opts.onStdout ?? ((l) => this.#keep("out", l)));
    const err = this.#pump(child.stderr, (l) => this.#keep("err", l));
    this.status = (async () => {
      const s = await child.status;
      await Promise.all([out, err]);
      this.#exited = true;
      live.procs.delete(this);
      for (const w of this.#waiters.splice(0)) w.resolve("");
      return s;
    })();
  }

  #keep(which: "out" | "err", line: string): void {
    this.lines[which].push(line);
    for (let i = 0; i < this.#waiters.length; i++) {
      const w = this.#waiters[i];
      if (w.re.test(line)) {
        this.#waiters.splice(i--, 1);
        w.resolve(line);
      }
    }
  }

  async #pump(stream: ReadableStream<Uint8Array>, onLine: LineHandler): Promise<void> {
    let rest = "";
    for await (const chunk of stream) {
      const text = rest + decoder.decode(chunk, { stream: true });
      const parts = text.split("\n");
      rest = parts.pop()!;
      for (const p of parts) onLine(p);
    }
    if (rest) onLine(rest);
  }

  /** The first line (stdout or stderr) already seen or still to come that matches `re`. */
  waitFor(re: RegExp, timeoutMs: number): Promise<string> {
    const seen = [...this.lines.out, ...this.lines.err].find((l) => re.test(l));
    if (seen !== undefined) return Promise.resolve(seen);
    if (this.#exited) return Promise.reject(this.#failure(`exited before printing ${re}`));
    return new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w.resolve !== done);
        reject(this.#failure(`no ${re} within ${timeoutMs} ms`));
      }, timeoutMs);
      const done = (line: string) => {
        clearTimeout(timer);
        if (line === "" && this.#exited) reject(this.#failure(`exited before printing ${re}`));
        else resolve(line);
      };
      this.#waiters.push({ re, resolve: done });
    });
  }

  #failure(why: string): Error {
    const tail = [...this.lines.out, ...this.lines.err].slice(-8).join("\n  ");
    return new Error(`${this.name}: ${why}${tail ? `\n  ${tail}` : ""}`);
  }

  /** The last line matching `re`, or undefined. */
  find(re: RegExp): string | undefined {
    return [...this.lines.out, ...this.lines.err].reverse().find((l) => re.test(l));
  }

  /** Sends `signal`, then SIGKILL if the process is still alive after `graceMs`. */
  async stop(signal: Deno.Signal = "SIGINT", graceMs = 5000): Promise<Deno.CommandStatus> {
    if (!this.#exited) {
      try {
        this.child.kill(signal);
      } catch { /* already gone */ }
      const timer = setTimeout(() => {
        try {
          this.child.kill("SIGKILL");
        } catch { /* already gone */ }
      }, graceMs);
      try {
        return await this.status;
      } finally {
        clearTimeout(timer);
      }
    }
    return await this.status;
  }

  /** Waits for the exit, killing the process after `timeoutMs`. */
  async wait(timeoutMs: number): Promise<Deno.CommandStatus> {
    const timer = setTimeout(() => {
      try {
        this.child.kill("SIGKILL");
      } catch { /* already gone */ }
    }, timeoutMs);
    try {
      return await this.status;
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Runs `cmd args` to completion (bounded in time); throws with its stderr on failure. */
export async function sh(cmd: string, ...args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(30_000),
  }).output();
  if (!out.success) {
    throw new Error(`${cmd} ${args.join(" ")}: ${decoder.decode(out.stderr).trim()}`);
  }
  return decoder.decode(out.stdout);
}

let nsCounter = 0;

/**
 * A network namespace made with `ip netns add` for one measurement, loopback up, deleted by
 * `close()` (or by the cleanup on a signal). Nothing it runs touches the host's network.
 */
export class Netns {
  readonly name: string;

  private constructor(name: string) {
    this.name = name;
  }

  /** Creates a fresh namespace named after this process and `tag`. */
  static async create(tag: string): Promise<Netns> {
    const name = `tcptun-bench-${Deno.pid}-${++nsCounter}-${tag}`;
    await sh("ip", "netns", "add", name);
    live.namespaces.add(name);
    const ns = new Netns(name);
    await sh("ip", "-n", name, "link", "set", "lo", "up");
    return ns;
  }

  /** `ip netns exec` arguments that run `cmd args` inside this namespace. */
  argv(cmd: string, ...args: string[]): string[] {
    return ["netns", "exec", this.name, cmd, ...args];
  }

  /** Spawns `cmd args` inside the namespace (`ip netns exec` execs, so the PID is the command's). */
  spawn(
    name: string,
    cmd: string,
    args: string[],
    opts: ConstructorParameters<typeof Proc>[3],
  ): Proc {
    return new Proc(name, "ip", this.argv(cmd, ...args), opts);
  }

  /** Runs `ip args` against this namespace (`ip -n NS args`). */
  async ip(...args: string[]): Promise<void> {
    await sh("ip", "-n", this.name, ...args);
  }

  /** Deletes the namespace. Processes still inside must have been stopped first. */
  async close(): Promise<void> {
    if (!live.namespaces.delete(this.name)) return;
    await sh("ip", "netns", "delete", this.name).catch(() => undefined);
  }
}

/**
 * Runs `fn` in a fresh namespace and deletes it afterwards; every process started with
 * `ns.spawn` inside `fn` that is still running is killed first.
 */
export async function inNetns<T>(tag: string, fn: (ns: Netns) => Promise<T>): Promise<T> {
  const before = new Set(live.procs);
  const ns = await Netns.create(tag);
  try {
    return await fn(ns);
  } finally {
    for (const p of [...live.procs]) if (!before.has(p)) await p.stop("SIGKILL", 2000);
    await ns.close();
  }
}

/**
 * A path for a temporary file a child writes, `/tmp/tcptun-bench-PID-N-TAG`; it is deleted by
 * `removeTempFile` or by the cleanup on exit, error or signal.
 */
export function tempFile(tag: string): string {
  const path = `/tmp/tcptun-bench-${Deno.pid}-${++fileCounter}-${tag}`;
  live.files.add(path);
  return path;
}

let fileCounter = 0;

/** Deletes a file made by `tempFile` (if it exists). */
export async function removeTempFile(path: string): Promise<void> {
  live.files.delete(path);
  await Deno.remove(path).catch(() => undefined);
}

/** Kills every live child and deletes every namespace and temporary file this process created. */
export async function cleanupAll(): Promise<void> {
  for (const p of [...live.procs]) await p.stop("SIGKILL", 2000).catch(() => undefined);
  for (const name of [...live.namespaces]) {
    live.namespaces.delete(name);
    await sh("ip", "netns", "delete", name).catch(() => undefined);
  }
  for (const path of [...live.files]) await removeTempFile(path);
}

/** Installs SIGINT/SIGTERM handlers that clean up and exit 130; returns their remover. */
export function cleanupOnSignals(): () => void {
  const onSignal = () => {
    console.error("bench: interrupted, cleaning up");
    cleanupAll().finally(() => Deno.exit(130));
  };
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  return () => {
    Deno.removeSignalListener("SIGINT", onSignal);
    Deno.removeSignalListener("SIGTERM", onSignal);
  };
}

/** `key=value` fields of a `RESULT ...` line, numbers parsed. */
export function resultFields(line: string | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of (line ?? "").matchAll(/([a-z_]+)=(-?[0-9.]+)/g)) out[m[1]] = Number(m[2]);
  return out;
}

/** The median of the finite values, or NaN when there are none. */
export function median(xs: number[]): number {
  const v = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

/** Sleeps `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Resident set size of process `pid` in KiB, from /proc (any namespace). */
export function rssKiB(pid: number): number {
  const m = Deno.readTextFileSync(`/proc/${pid}/status`).match(/^VmRSS:\s+(\d+)/m);
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]);
}

/** The hard RLIMIT_NOFILE of this process (children inherit it), from /proc. */
export function hardNofile(): number {
  const m = Deno.readTextFileSync("/proc/self/limits").match(
    /^Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/m,
  );
  if (!m) return 1024;
  return m[2] === "unlimited" ? 1 << 20 : Number(m[2]);
}
