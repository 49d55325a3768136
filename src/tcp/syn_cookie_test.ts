import assert from "node:assert/strict";
import { TupleHasher } from "./isn.ts";
import {
  checkCookie,
  COOKIE_MSS,
  COOKIE_TICK_MS,
  cookieMssIndex,
  type CookieOptions,
  cookieTsOptions,
  cookieTsVal,
  makeCookie,
} from "./syn_cookie.ts";

const h = new TupleHasher(new Uint8Array(16).map((_, i) => i * 7));
const L = 0x0a000001, R = 0x0a000002;

Deno.test("syn cookie: the final ACK of a cookie handshake verifies and gives back the MSS", () => {
  for (const mss of [536, 1000, 1220, 1460, 9000]) {
    const iss = makeCookie(h, L, 80, R, 40000, 0xfffffff0, mss, 100_000);
    const got = checkCookie(h, L, 80, R, 40000, 0xfffffff1, (iss + 1) >>> 0, 100_500);
    assert.equal(got, COOKIE_MSS[cookieMssIndex(mss)]);
    assert.ok(got <= mss || mss < 536);
  }
});

Deno.test("syn cookie: another tuple, sequence number or a flipped bit does not verify", () => {
  const iss = makeCookie(h, L, 80, R, 40000, 1000, 1460, 0);
  assert.equal(checkCookie(h, L, 80, R, 40001, 1001, iss + 1, 0), 0);
  assert.equal(checkCookie(h, L, 81, R, 40000, 1001, iss + 1, 0), 0);
  assert.equal(checkCookie(h, L, 80, R + 1, 40000, 1001, iss + 1, 0), 0);
  assert.equal(checkCookie(h, L, 80, R, 40000, 1002, iss + 1, 0), 0);
  for (let bit = 0; bit < 32; bit++) {
    assert.equal(checkCookie(h, L, 80, R, 40000, 1001, ((iss ^ (1 << bit)) + 1) >>> 0, 0), 0);
  }
});

Deno.test("syn cookie: honoured for two ticks, not three", () => {
  const t0 = 10 * COOKIE_TICK_MS + 5;
  const iss = makeCookie(h, L, 80, R, 40000, 1000, 1460, t0);
  assert.equal(checkCookie(h, L, 80, R, 40000, 1001, iss + 1, t0 + COOKIE_TICK_MS), 1460);
  assert.equal(checkCookie(h, L, 80, R, 40000, 1001, iss + 1, t0 + 2 * COOKIE_TICK_MS), 0);
});

Deno.test("syn cookie: window scale and SACK ride in the low TSval bits, never ahead of the clock", () => {
  const out: CookieOptions = { mss: 0, wscale: 0, sackOk: false };
  for (const [ws, sack] of [[7, true], [0, false], [-1, true], [14, false]] as const) {
    for (const now of [0, 63, 64, 1_000_000, 0xffffffff]) {
      const ts = cookieTsVal(now, ws, sack);
      assert.ok(((now - ts) | 0) >= 0 && ((now - ts) | 0) < 128, `TSval ${ts} for clock ${now}`);
      cookieTsOptions(ts, out);
      assert.equal(out.wscale, ws);
      assert.equal(out.sackOk, sack);
    }
  }
});
