import assert from "node:assert/strict";
import { compileArgs, TARGETS } from "./compile.ts";

Deno.test("compile: four targets, each with the device permissions and its own output", () => {
  assert.equal(TARGETS.length, 4);
  const outputs = new Set(TARGETS.map((t) => compileArgs(t).at(-2)));
  assert.equal(outputs.size, 4);
  for (const t of TARGETS) {
    const args = compileArgs(t);
    assert.equal(args[0], "compile");
    assert.ok(args.includes("--allow-ffi"));
    assert.equal(args[args.indexOf("--target") + 1], t);
    assert.equal(args.at(-1), "main.ts");
  }
});
