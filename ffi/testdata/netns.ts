/**
 * Test helper (ffi tests only): runs a Deno script inside a fresh, throw-away network namespace
 * (`unshare --net`), so that TUN devices and packets never touch the host's network.
 * The namespace disappears when the script exits.
 * @module
 */

/** True when `TCPTUN_REQUIRE_INTEGRATION=1`: a missing precondition is then a failure. */
export function integrationRequired(): boolean {
  return Deno.env.get("TCPTUN_REQUIRE_INTEGRATION") === "1";
}

/**
 * Why TUN integration tests cannot run here (not Linux, not root, no /dev/net/tun, no
 * `unshare`, or namespaces refused), or undefined when they can.
 */
export async function netnsProblem(): Promise<string | undefined> {
  if (Deno.build.os !== "linux") return `needs Linux (this is ${Deno.build.os})`;
  if (Deno.uid() !== 0) return "needs root (uid 0) to create a network namespace and a TUN device";
  try {
    Deno.statSync("/dev/net/tun");
  } catch {
    return "no /dev/net/tun (load the tun module)";
  }
  try {
    const probe = await new Deno.Command("unshare", {
      args: ["--net", "true"],
      stdout: "null",
      stderr: "piped",
      signal: AbortSignal.timeout(10_000),
    }).output();
    if (!probe.success) {
      return `unshare --net failed: ${new TextDecoder().decode(probe.stderr).trim()}`;
    }
  } catch (e) {
    return `cannot run unshare: ${e instanceof Error ? e.message : String(e)}`;
  }
  return undefined;
}

/** The outcome of {@linkcode runInNetns}. */
export interface NetnsRun {
  /** Exit code of the script (or of the wrapper that failed). */
  code: number;
  /** True when the time limit killed it. */
  timedOut: boolean;
  /** Captured standard output. */
  stdout: string;
  /** Captured standard error. */
  stderr: string;
}

/** Options of {@linkcode runInNetns}. */
export interface NetnsRunOptions {
  /** Kill the script after this many milliseconds; default 30000. */
  timeoutMs?: number;
  /** Command words put before `unshare` (e.g. `setpriv` to drop capabilities). */
  prefix?: string[];
}

/**
 * Runs `deno run -A <script> ...args` under `unshare --net`, with `TCPTUN_IN_NETNS=1` set so
 * the script can refuse to run anywhere else. Bounded in time.
 */
export async function runInNetns(
  script: string | URL,
  args: string[] = [],
  opts: NetnsRunOptions = {},
): Promise<NetnsRun> {
  const path = script instanceof URL ? script.pathname : script;
  const words = [
    ...(opts.prefix ?? []),
    "unshare",
    "--net",
    Deno.execPath(),
    "run",
    "-A",
    "--no-prompt",
    path,
    ...args,
  ];
  const signal = AbortSignal.timeout(opts.timeoutMs ?? 30_000);
  const out = await new Deno.Command(words[0], {
    args: words.slice(1),
    env: { TCPTUN_IN_NETNS: "1", NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal,
  }).output();
  const decoder = new TextDecoder();
  return {
    code: out.code,
    timedOut: signal.aborted,
    stdout: decoder.decode(out.stdout),
    stderr: decoder.decode(out.stderr),
  };
}
