/**
 * Builds one self-contained `tcptun` binary per OS and architecture with `deno compile`.
 *
 * Usage: `deno task compile [TARGET ...]` (default: all four targets). Binaries land in
 * `dist/`. `deno compile` downloads the Deno runtime for each target, so this needs network
 * access; CI never runs it (the release workflow does).
 * @module
 */

/** The targets tcptun ships for. */
export const TARGETS = [
  "x86_64-unknown-linux-gnu",
  "aarch64-unknown-linux-gnu",
  "x86_64-apple-darwin",
  "aarch64-apple-darwin",
] as const;

/** The permissions the binary is compiled with: FFI for the device, files for --pcap. */
export const PERMISSIONS = ["--allow-ffi", "--allow-read", "--allow-write", "--allow-env"];

/** The `deno compile` arguments for one target. */
export function compileArgs(target: string): string[] {
  return [
    "compile",
    ...PERMISSIONS,
    "--target",
    target,
    "--output",
    `dist/tcptun-${target}`,
    "main.ts",
  ];
}

if (import.meta.main) {
  const wanted = Deno.args.length > 0 ? Deno.args : [...TARGETS];
  for (const t of wanted) {
    if (!(TARGETS as readonly string[]).includes(t)) {
      console.error(`error: unknown target '${t}' (one of: ${TARGETS.join(", ")})`);
      Deno.exit(2);
    }
  }
  for (const target of wanted) {
    console.error(`compiling ${target}`);
    const { code } = await new Deno.Command(Deno.execPath(), {
      args: compileArgs(target),
      stdout: "inherit",
      stderr: "inherit",
    }).output();
    if (code !== 0) {
      console.error(`error: deno compile failed for ${target}`);
      Deno.exit(1);
    }
  }
}
