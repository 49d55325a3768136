import assert from "node:assert/strict";
import { TimerQueue } from "./timer_queue.ts";
import { Prng } from "./prng.ts";

interface E {
  timerAt: number;
  timerIndex: number;
  id: number;
}

Deno.test("timer queue: always yields the earliest deadline as entries move, come and go (model check)", () => {
  const r = new Prng(11);
  const q = new TimerQueue<E>();
  const all: E[] = Array.from(
    { length: 300 },
    (_, id) => ({ timerAt: Infinity, timerIndex: -1, id }),
  );
  const model = new Map<number, number>();
  for (let step = 0; step < 20_000; step++) {
    const e = all[r.int(0, all.length)];
    const x = r.next();
    if (x < 0.6) {
      const at = r.int(0, 100_000);
      q.update(e, at);
      model.set(e.id, at);
    } else if (x < 0.8) {
      q.update(e, Infinity);
      model.delete(e.id);
    } else {
      q.remove(e);
      model.delete(e.id);
    }
    assert.equal(q.size, model.size);
    const min = Math.min(...model.values());
    assert.equal(q.next(), model.size ? min : Infinity);
    if (model.size) assert.equal(model.get(q.peek()!.id), min);
  }
});

/** An entry that counts how often its deadline is read: the work a queue operation does. */
class Counted {
  static reads = 0;
  #at = Infinity;
  timerIndex = -1;
  constructor(readonly id: number) {}
  get timerAt(): number {
    Counted.reads++;
    return this.#at;
  }
  set timerAt(at: number) {
    this.#at = at;
  }
}

Deno.test("timer queue: a wake-up touches only the due entries (O(due · log n))", () => {
  const q = new TimerQueue<Counted>();
  const n = 10_000;
  const idle = Array.from({ length: n }, (_, id) => new Counted(id));
  for (const e of idle) q.update(e, 7_200_000 + e.id); // keep-alive, hours away
  const busy = new Counted(-1);
  q.update(busy, 40);
  Counted.reads = 0;
  let touched = 0;
  while (q.next() <= 40) {
    const e = q.peek()!;
    touched++;
    q.update(e, e.timerAt + 1000);
  }
  assert.equal(touched, 1);
  assert.equal(q.size, n + 1);
  // Sifting the one due entry down compares along one path of the heap: a few reads per
  // level (log2 n ≈ 14), where a scan of the entries would read every one of them.
  const bound = 8 * Math.ceil(Math.log2(n + 1));
  assert.ok(Counted.reads <= bound, `${Counted.reads} deadline reads (bound ${bound})`);
});
