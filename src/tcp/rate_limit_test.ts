import assert from "node:assert/strict";
import { TokenBucket } from "./rate_limit.ts";

Deno.test("rate limit: a burst, then the long-run rate, never more", () => {
  const b = new TokenBucket(1000, 50);
  let n = 0;
  for (let i = 0; i < 200; i++) if (b.take(0)) n++;
  assert.equal(n, 50);
  assert.equal(b.refused, 150);
  // One second of a flood at 10 per ms: about 1000 more pass.
  n = 0;
  for (let t = 1; t <= 1000; t++) for (let i = 0; i < 10; i++) if (b.take(t)) n++;
  assert.ok(n >= 999 && n <= 1001, `${n} passed in one second`);
});

Deno.test("rate limit: an idle bucket refills only up to its burst", () => {
  const b = new TokenBucket(10, 3);
  b.take(0);
  let n = 0;
  for (let i = 0; i < 10; i++) if (b.take(60_000)) n++;
  assert.equal(n, 3);
});
