import assert from "node:assert/strict";
import { ViewCache } from "./views.ts";

Deno.test("views: the same window of the same array is the same view; others are their own", () => {
  const views = new ViewCache(4);
  const a = new Uint8Array(64).map((_, i) => i);
  const b = new Uint8Array(64).map((_, i) => 100 + i);
  const v = views.get(a, 8, 20);
  assert.equal(views.get(a, 8, 20), v);
  // Another array, or another window, never gets that view, whatever entry it maps to.
  for (let start = 0; start < 32; start++) {
    const w = views.get(b, start, start + 12);
    assert.deepEqual([...w], [...b.subarray(start, start + 12)]);
    const x = views.get(a, start, start + 13);
    assert.deepEqual([...x], [...a.subarray(start, start + 13)]);
  }
  // A view shows the array's current bytes.
  a[8] = 0xee;
  assert.equal(views.get(a, 8, 20)[0], 0xee);
});
