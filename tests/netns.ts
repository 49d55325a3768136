/**
 * Integration test harness: runs a Deno script inside a fresh, throw-away network namespace
 * (`unshare --net`) so that TUN devices and packets never touch the host's network, and hands
 * back the JSON result line the script printed.
 *
 * Each scenario is one script under `tests/integration/scripts/`; the namespace disappears when
 * the script (and anything it spawned) exits. Tests skip with a clear message when the host
 * cannot run them (not Linux, not root, no /dev/net/tun, no `unshare`), unless
 * `TCPTUN_REQUIRE_INTEGRATION=1` is set (CI), in which case a missing precondition fails.
 * @module
 */

/** Environment variable that turns a missing precondition into a test failure. */
export const REQUIRE_ENV = "TCPTUN_REQUIRE_INTEGRATION";

/** Environment variable set for scripts run in a namespace; they refuse to run without it. */
export const IN_NETNS_ENV = "TCPTUN_IN_NETNS";

/** True when `TCPTUN_REQUIRE_INTEGRATION=1`: a missing precondition is then a failure. */
export function integrationRequired(): boolean {
  return Deno.env.get(REQUIRE_ENV) === "1";
}

/** Runs `cmd args`, bounded in time; undefined on success, else a one-line reason. */
async function probe(cmd: string, args: string[]): Promise<string | undefined> {
  try {
    const out = await new Deno.Command(cmd, {
      args,
      stdin: "null",
      stdout: "null",
      stderr: "piped",
      signal: AbortSignal.timeout(10_000),
    }).output();
    if (out.success) return undefined;
    const err = new TextDecoder().decode(out.stderr).trim();
    return `\`${cmd} ${args.join(" ")}\` failed (exit ${out.code})${err ? `: ${err}` : ""}`;
  } catch (e) {
    return `cannot run \`${cmd}\`: ${e instanceof Error ? e.message : String(e)}`;
  }
}

/**
 * Why TUN integration tests cannot run on this host (not Linux, not root, no /dev/net/tun, no
 * `unshare`, namespaces refused, no `ip`), or undefined when they can.
 */
export async function netnsProblem(): Promise<string | undefined> {
  if (Deno.build.os !== "linux") return `needs Linux (this is ${Deno.build.os})`;
  if (Deno.uid() !== 0) return "needs root (uid 0) to create a network namespace and a TUN device";
  try {
    Deno.statSync("/dev/net/tun");
  } catch {
    return "no /dev/net/tun (load the tun module)";
  }
  return await probe("unshare", ["--net", "true"]) ??
    await probe("unshare", ["--net", "ip", "link", "set", "lo", "up"]);
}

/** Why `tool` (run with `args`, e.g. `--version`) is unusable, or undefined when it works. */
export function toolProblem(
  tool: string,
  args: string[] = ["--version"],
): Promise<string | undefined> {
  return probe(tool, args);
}

/** The outcome of {@linkcode runInNetns}. */
export interface NetnsRun {
  /** Exit code of the script (or of `unshare` when it failed). */
  code: number;
  /** True when the time limit killed the script. */
  timedOut: boolean;
  /** Captured standard output. */
  stdout: string;
  /** Captured standard error. */
  stderr: string;
  /** The last line of stdout that parsed as a JSON object, if any. */
  result: Record<string, unknown> | undefined;
}

/** Options of {@linkcode runInNetns}. */
export interface NetnsRunOptions {
  /** Kill the script after this many milliseconds; default 30000. */
  timeoutMs?: number;
  /** Command words put before `unshare` (e.g. `setpriv` to drop capabilities). */
  prefix?: string[];
  /** Extra `deno run` flags before the script (e.g. `--v8-flags=--expose-gc`). */
  denoFlags?: string[];
}

/** The last stdout line that is a JSON object. */
function lastJsonLine(stdout: string): Record<string, unknown> | undefined {
  const lines = stdout.split("\n");
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i].trim();
    if (!line.startsWith("{")) continue;
    try {
      const v = JSON.parse(line);
      if (v !== null && typeof v === "object" && !Array.isArray(v)) return v;
    } catch {
      // not the result line
    }
  }
  return undefined;
}

/**
 * Runs `deno run -A <script> ...args` under `unshare --net` (a new, empty network namespace),
 * with `TCPTUN_IN_NETNS=1` set so the script can refuse to run anywhere else. Bounded in time:
 * the script is killed at `timeoutMs`. Awaits the process fully.
 * @example
 * ```ts ignore
 * const run = await runInNetns(new URL("./integration/scripts/echo.ts", import.meta.url), ["1048576"]);
 * console.log(run.result);
 * ```
 */
export async function runInNetns(
  script: string | URL,
  args: string[] = [],
  opts: NetnsRunOptions = {},
): Promise<NetnsRun> {
  const path = script instanceof URL ? script.pathname : script;
  const signal = AbortSignal.timeout(opts.timeoutMs ?? 30_000);
  const words = [
    ...(opts.prefix ?? []),
    "unshare",
    "--net",
    Deno.execPath(),
    "run",
    "-A",
    "--no-prompt",
    ...(opts.denoFlags ?? []),
    path,
    ...args,
  ];
  const out = await new Deno.Command(words[0], {
    args: words.slice(1),
    env: { [IN_NETNS_ENV]: "1", NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal,
  }).output();
  const decoder = new TextDecoder();
  const stdout = decoder.decode(out.stdout);
  return {
    code: out.code,
    timedOut: signal.aborted,
    stdout,
    stderr: decoder.decode(out.stderr),
    result: lastJsonLine(stdout),
  };
}

/**
 * Runs a script like {@linkcode runInNetns} and returns its JSON result, throwing an error that
 * carries the script's output when it failed, timed out, reported `error`, or printed no result.
 */
export async function runScenario(
  script: string | URL,
  args: string[] = [],
  opts: NetnsRunOptions = {},
): Promise<Record<string, unknown>> {
  const run = await runInNetns(script, args, opts);
  const r = run.result;
  if (run.timedOut || run.code !== 0 || r === undefined || r.error !== undefined) {
    const name = script instanceof URL ? script.pathname.split("/").pop() : script;
    const why = run.timedOut
      ? `timed out after ${opts.timeoutMs ?? 30_000} ms`
      : r?.error !== undefined
      ? `reported error: ${r.error}`
      : `exited ${run.code}${r === undefined ? " without a result line" : ""}`;
    throw new Error(
      `${name} ${args.join(" ")}: ${why}\n--- stdout ---\n${tail(run.stdout)}\n--- stderr ---\n${
        tail(run.stderr)
      }`,
    );
  }
  return r;
}

function tail(text: string, max = 4000): string {
  return text.length <= max ? text : "..." + text.slice(text.length - max);
}

let preconditions: Promise<string | undefined> | undefined;

/** {@linkcode netnsProblem}, computed once per process. */
export function netnsPreconditions(): Promise<string | undefined> {
  preconditions ??= netnsProblem();
  return preconditions;
}

const warned = new Set<string>();

/**
 * Registers an integration test. When `problem` is set (a missing precondition), the test is
 * skipped with a message, or, with `TCPTUN_REQUIRE_INTEGRATION=1`, registered as a failure.
 */
export function integrationTest(
  name: string,
  problem: string | undefined,
  fn: (t: Deno.TestContext) => Promise<void>,
): void {
  if (problem === undefined) {
    Deno.test({ name, fn });
    return;
  }
  if (integrationRequired()) {
    Deno.test(name, () => {
      throw new Error(`integration precondition not met (${REQUIRE_ENV}=1): ${problem}`);
    });
    return;
  }
  if (!warned.has(problem)) {
    warned.add(problem);
    console.error(
      `skipping integration tests: ${problem} (set ${REQUIRE_ENV}=1 to make this a failure)`,
    );
  }
  Deno.test({ name, ignore: true, fn });
}
