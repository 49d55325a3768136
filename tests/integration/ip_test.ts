/**
 * Integration tests of the IP layer against the Linux kernel: fragments both ways. Each test
 * runs one script of `scripts/` in a fresh network namespace (see `tests/netns.ts`).
 * @module
 */

import assert from "node:assert/strict";
import { integrationTest, netnsPreconditions, runScenario } from "../netns.ts";

const problem = await netnsPreconditions();

function script(name: string): URL {
  return new URL(`./scripts/${name}`, import.meta.url);
}

integrationTest(
  "integration: the kernel's fragmented 4000-byte pings are reassembled and answered in fragments",
  problem,
  async () => {
    const r = await runScenario(script("ping_fragments.ts"), ["4000"]);
    console.log(`  ping: ${r.pingOutput}`);
    assert.equal(r.pingExit, 0, String(r.pingOutput));
    assert.equal(r.received, 3);
    assert.equal(r.replyBytes, 4008, "the whole request came back: 4000 bytes of data + 8");
    assert.equal(r.reassembled, 3);
    assert.equal(r.fragments, 9, "three fragments per request at MTU 1500");
    assert.equal(r.heldBytes, 0);
    assert.ok((r.packetsOut as number) >= 9, "replies went out in fragments");
  },
);
