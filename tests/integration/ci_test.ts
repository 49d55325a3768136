/**
 * The device smoke test of macOS CI (`.ci/smoke`), run here on Linux in a fresh network
 * namespace so that a broken script shows up before it reaches a Mac.
 * @module
 */

import assert from "node:assert/strict";
import { integrationTest, netnsPreconditions, runScenario } from "../netns.ts";

const problem = await netnsPreconditions();

integrationTest(
  "ci: .ci/smoke echoes through the device and sees a clean exit on SIGINT",
  problem,
  async () => {
    const r = await runScenario(new URL("./scripts/ci_smoke.ts", import.meta.url), [], {
      timeoutMs: 65_000,
    });
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout as string, /^echo check: 65536 bytes from 10\.0\.0\.1:4444 came back/m);
    assert.match(r.stdout as string, /^smoke ok: /m);
    // The listener really served the client (its own log, at -v info) and shut down on SIGINT.
    assert.match(r.stderr as string, /^connection from 10\.0\.0\.2:\d+$/m);
    assert.match(r.stderr as string, /^shutting down$/m);
  },
);
