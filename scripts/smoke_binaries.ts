/**
 * Smoke test of compiled binaries: runs each `tcptun-<target>` in a directory that this machine
 * can execute (the one built for `Deno.build.target`) with `--version` and `--help`, and checks
 * that the version is the one in `deno.json` and that the help text is tcptun's. The others are
 * listed as skipped. Fails when no binary could be run, so a release never ships untried.
 *
 * Usage: `deno run -A scripts/smoke_binaries.ts [DIR]` (DIR: `dist`). The release workflow runs
 * it after `deno task compile`.
 * @module
 */

import denoConfig from "../deno.json" with { type: "json" };
import { TARGETS } from "./compile.ts";

/** What {@linkcode smokeBinaries} did. */
export interface SmokeResult {
  /** Binaries run and found good. */
  ran: string[];
  /** Binaries for other targets, not run. */
  skipped: string[];
}

async function run(path: string, args: string[]): Promise<{ code: number; stdout: string }> {
  const out = await new Deno.Command(path, {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(60_000),
  }).output();
  return { code: out.code, stdout: new TextDecoder().decode(out.stdout) };
}

/**
 * Runs the binaries of `dir` built for `target` (`--version`, `--help`); throws an error naming
 * the first one that misbehaves, or when there is none to run.
 * @example
 * ```ts ignore
 * import { smokeBinaries } from "./smoke_binaries.ts";
 * const { ran, skipped } = await smokeBinaries("dist");
 * ```
 */
export async function smokeBinaries(
  dir: string,
  target: string = Deno.build.target,
  version: string = denoConfig.version,
): Promise<SmokeResult> {
  const result: SmokeResult = { ran: [], skipped: [] };
  for (const t of TARGETS) {
    const path = `${dir}/tcptun-${t}`;
    try {
      Deno.statSync(path);
    } catch {
      continue;
    }
    if (t !== target) {
      result.skipped.push(path);
      continue;
    }
    const v = await run(path, ["--version"]);
    if (v.code !== 0 || v.stdout !== `tcptun ${version}\n`) {
      throw new Error(
        `${path} --version: exit ${v.code}, printed ${JSON.stringify(v.stdout)}, ` +
          `expected "tcptun ${version}"`,
      );
    }
    const h = await run(path, ["--help"]);
    if (h.code !== 0 || !h.stdout.includes("tcptun listen") || !h.stdout.includes("connect")) {
      throw new Error(`${path} --help: exit ${h.code}, printed ${JSON.stringify(h.stdout)}`);
    }
    result.ran.push(path);
  }
  if (result.ran.length === 0) {
    throw new Error(`no binary in ${dir} for this machine (${target}) to run`);
  }
  return result;
}

if (import.meta.main) {
  const dir = Deno.args[0] ?? "dist";
  try {
    const { ran, skipped } = await smokeBinaries(dir);
    for (const p of ran) console.log(`ok: ${p} (--version, --help)`);
    for (const p of skipped) console.log(`skipped (another OS or CPU): ${p}`);
  } catch (e) {
    console.error(`error: ${e instanceof Error ? e.message : e}`);
    Deno.exit(1);
  }
}
