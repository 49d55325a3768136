import assert from "node:assert/strict";
import plugin from "./fence.ts";

function ids(file: string, source: string): string[] {
  return Deno.lint.runPlugin(plugin, file, source).map((d) => d.id);
}

Deno.test("lint: src/tcp/ may not read clocks, draw randomness or use Deno", () => {
  const file = "/repo/src/tcp/x.ts";
  assert.deepEqual(ids(file, "export const t = Date.now();"), ["tcptun/tcp-pure"]);
  assert.deepEqual(ids(file, "export const r = Math.random();"), ["tcptun/tcp-pure"]);
  assert.deepEqual(ids(file, "setTimeout(() => {}, 1);"), ["tcptun/tcp-pure"]);
  assert.deepEqual(ids(file, "export const e = Deno.env;"), ["tcptun/tcp-pure"]);
  assert.deepEqual(ids(file, "export const n = (now: number) => now + 1;"), []);
  // The IP layer is fenced the same way.
  assert.deepEqual(ids("/repo/src/ip/x.ts", "export const t = Date.now();"), ["tcptun/tcp-pure"]);
  // The same code elsewhere is fine.
  assert.deepEqual(ids("/repo/src/stack.ts", "export const t = performance.now();"), []);
});

Deno.test("lint: pointer APIs only under ffi/", () => {
  const code = "export const p = Deno.UnsafePointer.of(new Uint8Array(1));";
  assert.deepEqual(ids("/repo/src/stack.ts", code), ["tcptun/ffi-only"]);
  assert.deepEqual(ids("/repo/ffi/libc.ts", code), []);
});
