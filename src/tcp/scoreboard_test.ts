import assert from "node:assert/strict";
import { R_LOST, Scoreboard } from "./scoreboard.ts";

Deno.test("scoreboard: records leave in order through many acknowledgments and refills", () => {
  const sb = new Scoreboard();
  let next = 1000; // sequence number of the next record
  let una = 1000;
  for (let round = 0; round < 20; round++) {
    for (let i = 0; i < 150; i++, next += 100) sb.push(next, 100, 0, round);
    // Acknowledge in uneven steps, sometimes inside a record (a partial ACK).
    while (una < next - 1000) {
      una += 130 + (round % 3) * 70;
      sb.ack(una, round + 1);
      assert.equal(sb.head()!.seq, una, `round ${round}`); // a partly acknowledged record is trimmed
    }
  }
  // What is left is exactly una..next, record after record.
  let at = una;
  for (let r = sb.head(); r !== null; r = sb.head()) {
    assert.equal(r.seq, at);
    at += r.len;
    sb.ack(at, 99);
  }
  assert.equal(at, next);
  assert(sb.isEmpty);
});

Deno.test("scoreboard: marks survive the records moving down", () => {
  const sb = new Scoreboard();
  for (let i = 0; i < 300; i++) sb.push(i * 10, 10, 0, 0);
  sb.markLost(1, 10); // nothing SACKed: nothing lost
  assert.equal(sb.lostOut, 0);
  sb.ack(2000, 1); // 200 records acknowledged: the other 100 move down
  sb.mark(sb.head()!, R_LOST);
  assert.equal(sb.lostOut, 10);
  assert.equal(sb.firstLostUnsent()!.seq, 2000);
  sb.ack(3000, 2);
  assert.equal(sb.lostOut, 0);
  assert(sb.isEmpty);
});
