import assert from "node:assert/strict";
import { faultsBothWays } from "./common.ts";

Deno.test("common: one fault spec becomes both directions with independent seeds", () => {
  assert.equal(faultsBothWays(undefined), undefined);
  const both = faultsBothWays({ loss: 0.01, seed: 7 })!;
  assert.deepEqual(both.inbound, { loss: 0.01, seed: 7 });
  assert.deepEqual(both.outbound, { loss: 0.01, seed: 8 });
});
