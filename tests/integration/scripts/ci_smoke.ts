/**
 * Scenario (in a fresh namespace): runs `.ci/smoke`, the device smoke test macOS CI runs on a
 * utun device, here on a Linux TUN device with the same addresses, and reports its exit code
 * and output. Usage: `ci_smoke.ts`.
 * @module
 */

import { scenario } from "./common.ts";

const SMOKE = new URL("../../../.ci/smoke", import.meta.url).pathname;

await scenario(60_000, async () => {
  const out = await new Deno.Command("bash", {
    args: [SMOKE],
    env: { DENO: Deno.execPath(), NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(50_000),
  }).output();
  const decoder = new TextDecoder();
  return {
    code: out.code,
    stdout: decoder.decode(out.stdout),
    stderr: decoder.decode(out.stderr),
  };
});
