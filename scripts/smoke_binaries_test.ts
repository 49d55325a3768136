import assert from "node:assert/strict";
import { smokeBinaries } from "./smoke_binaries.ts";
import denoConfig from "../deno.json" with { type: "json" };

// Stand-ins for compiled binaries: shell scripts that run main.ts (the code a binary carries),
// or that misbehave. The host's target is the one that runs; the others are skipped.
const MAIN_TS = new URL("../main.ts", import.meta.url).pathname;
const HOST = "x86_64-unknown-linux-gnu";
const OTHER = "aarch64-apple-darwin";

function fake(dir: string, target: string, body: string): void {
  const path = `${dir}/tcptun-${target}`;
  Deno.writeTextFileSync(path, `#!/bin/sh\n${body}\n`);
  Deno.chmodSync(path, 0o755);
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = Deno.makeTempDirSync({ prefix: "tcptun-smoke-" });
  try {
    await fn(dir);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

const realMain = `exec "${Deno.execPath()}" run --allow-read --allow-env "${MAIN_TS}" "$@"`;

Deno.test({
  name: "smoke_binaries: runs the binary for this machine, skips the others",
  ignore: Deno.build.os === "windows",
  fn: () =>
    withDir(async (dir) => {
      fake(dir, HOST, realMain);
      fake(dir, OTHER, "exit 99");
      const r = await smokeBinaries(dir, HOST);
      assert.deepEqual(r.ran, [`${dir}/tcptun-${HOST}`]);
      assert.deepEqual(r.skipped, [`${dir}/tcptun-${OTHER}`]);
    }),
});

Deno.test({
  name: "smoke_binaries: a version other than deno.json's fails",
  ignore: Deno.build.os === "windows",
  fn: () =>
    withDir(async (dir) => {
      fake(dir, HOST, realMain);
      await assert.rejects(smokeBinaries(dir, HOST, "9.9.9"), /expected "tcptun 9\.9\.9"/);
      fake(dir, HOST, `echo "tcptun ${denoConfig.version}-dirty"`);
      await assert.rejects(smokeBinaries(dir, HOST), /--version/);
    }),
});

Deno.test({
  name: "smoke_binaries: a binary whose --help fails is caught",
  ignore: Deno.build.os === "windows",
  fn: () =>
    withDir(async (dir) => {
      fake(dir, HOST, `[ "$1" = --version ] && echo "tcptun ${denoConfig.version}"; exit 0`);
      await assert.rejects(smokeBinaries(dir, HOST), /--help/);
    }),
});

Deno.test("smoke_binaries: nothing to run for this machine is a failure", async () => {
  await withDir(async (dir) => {
    fake(dir, OTHER, "exit 0");
    await assert.rejects(smokeBinaries(dir, HOST), /no binary .* to run/);
  });
});
