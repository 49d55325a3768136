import assert from "node:assert/strict";
import {
  DATAGRAM_OVERHEAD,
  type ExpiredDatagram,
  FRAGMENT_OVERHEAD,
  FragmentKey,
  FragmentReassembler,
  FragmentVerdict as V,
  type ReassemblyOptions,
} from "./reassembly.ts";
import { Prng } from "../prng.ts";

const A = 0x0a000002;
const B = 0x0a000001;
const C = 0xc0a80105;

function v4(id: number, protocol = 17, src = A, dst = B): FragmentKey {
  return new FragmentKey().setV4(src, dst, id, protocol);
}

/** An IPv6 header-shaped buffer: 2001:db8::`s` to 2001:db8::`d`. */
function v6Addresses(s: number, d: number): Uint8Array {
  const h = new Uint8Array(40);
  h[0] = 0x60;
  for (const at of [8, 24]) {
    h[at] = 0x20;
    h[at + 1] = 0x01;
    h[at + 2] = 0x0d;
    h[at + 3] = 0xb8;
  }
  h[23] = s;
  h[39] = d;
  return h;
}

function v6(id: number, nextHeader = 17, s = 2, d = 1): FragmentKey {
  const h = v6Addresses(s, d);
  return new FragmentKey().setV6(h, 8, h, 24, id, nextHeader);
}

function pattern(n: number, seed = 1): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed * 7 + (i >> 8)) & 0xff;
  return b;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** Cuts `payload` into fragments of `size` bytes (a multiple of 8): [offset, more, bytes]. */
function cut(payload: Uint8Array, size: number): [number, boolean, Uint8Array][] {
  const out: [number, boolean, Uint8Array][] = [];
  for (let at = 0; at < payload.length; at += size) {
    const end = Math.min(at + size, payload.length);
    out.push([at, end < payload.length, payload.subarray(at, end)]);
  }
  return out;
}

/** Asserts the reassembler holds nothing beyond `datagrams` remembered records. */
function assertEmpty(r: FragmentReassembler, datagrams = 0): void {
  assert.equal(r.counters.datagrams, datagrams);
  assert.equal(r.counters.memoryBytes, datagrams * DATAGRAM_OVERHEAD);
}

Deno.test("reassembly: IPv4 in order gives header and payload as one buffer (RFC 791 §3.2)", () => {
  const r = new FragmentReassembler();
  const key = v4(0x1234, 6);
  const header = pattern(20, 9);
  const payload = pattern(3000);
  const frags = cut(payload, 1480);
  assert.equal(r.insert(key, 0, true, frags[0][2], 0, header, 17), V.Held);
  assert.equal(r.insert(key, 1480, true, frags[1][2], 1), V.Held);
  assert.equal(
    r.counters.memoryBytes,
    DATAGRAM_OVERHEAD + 2 * FRAGMENT_OVERHEAD + 20 + 2960,
  );
  assert.equal(r.sourceBytes(key), r.counters.memoryBytes);
  assert.equal(r.insert(key, 2960, false, frags[2][2], 2), V.Complete);
  const d = r.completed;
  assert.equal(d.family, 4);
  assert.equal(d.headerLength, 20);
  assert.equal(d.payloadLength, 3000);
  assert.equal(d.protocol, 6);
  assert.equal(d.headerMark, 17);
  assert.deepEqual(d.bytes, concat(header, payload));
  assert.equal(r.counters.reassembled, 1);
  assert.equal(r.counters.fragments, 3);
  assert.equal(r.nextDeadline(), Infinity);
  assertEmpty(r);
  assert.equal(r.sourceBytes(key), 0);
});

Deno.test("reassembly: the caller's packet buffer may be reused after insert (payloads are copied)", () => {
  const r = new FragmentReassembler();
  const key = v4(1);
  const packet = new Uint8Array(64);
  const header = pattern(20, 3);
  packet.set(header);
  packet.fill(0xaa, 20, 36);
  assert.equal(r.insert(key, 0, true, packet.subarray(20, 36), 0, packet.subarray(0, 20)), V.Held);
  packet.fill(0); // the next read overwrites the buffer
  packet.fill(0xbb, 20, 28);
  assert.equal(r.insert(key, 16, false, packet.subarray(20, 28), 0), V.Complete);
  const expected = new Uint8Array(44);
  expected.set(header);
  expected.fill(0xaa, 20, 36);
  expected.fill(0xbb, 36, 44);
  assert.deepEqual(r.completed.bytes, expected);
});

Deno.test("reassembly: IPv6 in reverse order; the offset-zero Next Header wins (RFC 8200 §4.5)", () => {
  const r = new FragmentReassembler();
  const header = concat(v6Addresses(2, 1), pattern(8, 5)); // fixed header + a Destination Options
  const payload = pattern(5000, 2);
  const frags = cut(payload, 1232).reverse();
  for (const [offset, more, bytes] of frags) {
    // Fragments other than the first may carry another Next Header: only the first one counts.
    const key = v6(0xdeadbeef, offset === 0 ? 6 : 59);
    const verdict = r.insert(key, offset, more, bytes, 10, offset === 0 ? header : undefined, 40);
    assert.equal(verdict, offset === 0 ? V.Complete : V.Held);
  }
  const d = r.completed;
  assert.equal(d.family, 6);
  assert.equal(d.protocol, 6);
  assert.equal(d.headerLength, 48);
  assert.equal(d.headerMark, 40);
  assert.deepEqual(d.bytes, concat(header, payload));
  assertEmpty(r);
});

Deno.test("reassembly: every arrival order of four fragments completes once, with the same bytes", () => {
  const payload = pattern(100, 4);
  const header = pattern(24, 8);
  const frags = cut(payload, 32);
  const orders: number[][] = [];
  const permute = (rest: number[], acc: number[]) => {
    if (rest.length === 0) orders.push(acc);
    rest.forEach((x, i) => permute([...rest.slice(0, i), ...rest.slice(i + 1)], [...acc, x]));
  };
  permute([0, 1, 2, 3], []);
  assert.equal(orders.length, 24);
  const r = new FragmentReassembler();
  for (const [n, order] of orders.entries()) {
    const key = v4(n);
    const verdicts = order.map((i) => {
      const [offset, more, bytes] = frags[i];
      return r.insert(key, offset, more, bytes, n, offset === 0 ? header : undefined);
    });
    assert.deepEqual(verdicts, [V.Held, V.Held, V.Held, V.Complete], `order ${order}`);
    assert.deepEqual(r.completed.bytes, concat(header, payload));
  }
  assertEmpty(r);
});

Deno.test("reassembly: an atomic fragment is processed alone, leaving the queue alone (RFC 6946 §4)", () => {
  const r = new FragmentReassembler();
  const key = v6(7);
  const held = pattern(16, 1);
  assert.equal(r.insert(key, 16, false, held, 0), V.Held);
  const memory = r.counters.memoryBytes;
  const header = v6Addresses(2, 1);
  const atomic = pattern(33, 6);
  assert.equal(r.insert(key, 0, false, atomic, 1, header), V.Complete);
  assert.deepEqual(r.completed.bytes, concat(header, atomic));
  assert.equal(r.counters.atomic, 1);
  assert.equal(r.counters.memoryBytes, memory);
  // The queued datagram still completes from its own fragments.
  const first = pattern(16, 2);
  assert.equal(r.insert(key, 0, true, first, 2, header), V.Complete);
  assert.deepEqual(r.completed.bytes, concat(header, concat(first, held)));
});

Deno.test("reassembly: keys separate addresses, ids, families and IPv4 protocols, not IPv6 Next Headers", () => {
  const r = new FragmentReassembler();
  const others = [
    v4(1, 6),
    v4(2, 17),
    v4(1, 17, C),
    v4(1, 17, A, C),
    v6(1),
    v6(1, 17, 3),
    v6(1, 17, 2, 3),
  ];
  for (const k of others) assert.equal(r.insert(k, 8, false, pattern(8), 0), V.Held);
  const key = v4(1, 17);
  assert.equal(r.insert(key, 0, true, pattern(8), 0), V.Held);
  assert.equal(r.counters.datagrams, others.length + 1);
  // Same addresses as a v4 key in the first words, but IPv6: still its own datagram.
  const v6Like = new FragmentKey();
  Object.assign(v6Like, { family: 6, src0: A, dst0: B, id: 1, protocol: 17 });
  assert.equal(r.insert(v6Like, 0, true, pattern(8), 0), V.Held);
  assert.equal(r.insert(key, 8, false, pattern(8), 0), V.Complete);
  // IPv6: another Next Header is the same datagram (RFC 8200 §4.5).
  assert.equal(r.insert(v6(1, 6), 0, true, pattern(8), 0, v6Addresses(2, 1)), V.Complete);
  assert.equal(r.completed.protocol, 6);
  assert.equal(r.counters.reassembled, 2);
});

Deno.test("reassembly: exact duplicates are ignored, and the datagram survives them", () => {
  const r = new FragmentReassembler();
  const key = v4(9);
  const payload = pattern(48);
  assert.equal(r.insert(key, 16, true, payload.subarray(16, 32), 0), V.Held);
  const memory = r.counters.memoryBytes;
  assert.equal(r.insert(key, 16, true, payload.subarray(16, 32), 1), V.Duplicate);
  assert.equal(r.counters.memoryBytes, memory);
  assert.equal(r.insert(key, 0, true, payload.subarray(0, 16), 2, pattern(20)), V.Held);
  assert.equal(r.insert(key, 0, true, payload.subarray(0, 16), 3, pattern(20)), V.Duplicate);
  assert.equal(r.insert(key, 32, false, payload.subarray(32), 4), V.Complete);
  assert.deepEqual(r.completed.bytes.subarray(20), payload);
  assert.equal(r.counters.duplicates, 2);
});

Deno.test("reassembly: a duplicate that is the last fragment sets the end and can complete", () => {
  const r = new FragmentReassembler();
  const key = v6(3);
  const payload = pattern(16);
  assert.equal(r.insert(key, 8, true, payload.subarray(8), 0), V.Held);
  assert.equal(r.insert(key, 0, true, payload.subarray(0, 8), 0, v6Addresses(2, 1)), V.Held);
  assert.equal(r.insert(key, 8, false, payload.subarray(8), 0), V.Complete);
  assert.deepEqual(r.completed.bytes.subarray(40), payload);
  assert.equal(r.counters.duplicates, 1);
});

Deno.test("reassembly: overlaps of every kind drop the datagram and what follows (RFC 5722 §4)", async (t) => {
  // Held: [16, 32) and [48, 64). The new fragment, and its name.
  const cases: [string, number, number][] = [
    ["partial, from the left", 8, 24],
    ["partial, from the right", 24, 40],
    ["contained", 16, 24],
    ["containing", 8, 40],
    ["spanning two", 24, 56],
    ["same range, other bytes", 16, 32],
  ];
  for (const [name, start, end] of cases) {
    await t.step(name, () => {
      const r = new FragmentReassembler({ ipv4TimeoutMs: 1000 });
      const key = v4(5);
      assert.equal(r.insert(key, 16, true, pattern(16, 1), 0), V.Held);
      assert.equal(r.insert(key, 48, true, pattern(16, 2), 0), V.Held);
      assert.equal(r.insert(key, start, true, pattern(end - start, 3), 1), V.Overlap);
      assert.equal(r.counters.overlaps, 1);
      // The data is freed; the record stays to discard the rest of the datagram.
      assertEmpty(r, 1);
      assert.equal(r.insert(key, 0, true, pattern(16), 2, pattern(20)), V.Discarded);
      assert.equal(r.insert(key, 64, false, pattern(8), 3), V.Discarded);
      assert.equal(r.counters.discarded, 2);
      // At the end of its lifetime it goes silently (no Time Exceeded for it).
      let seen = 0;
      assert.equal(r.poll(1000, () => seen++), 0);
      assert.equal(seen, 0);
      assert.equal(r.counters.timeouts, 0);
      assertEmpty(r);
      // The key is free again.
      assert.equal(r.insert(key, 0, true, pattern(8), 2000, pattern(20)), V.Held);
      assert.equal(r.insert(key, 8, false, pattern(8), 2000), V.Complete);
    });
  }
});

Deno.test("reassembly: fragments that disagree on the end drop the datagram", async (t) => {
  const cases: [string, [number, boolean, number][]][] = [
    // [offset, more, length] of three fragments of one datagram; the third breaks the rules.
    ["a second last fragment with another end", [[0, true, 8], [16, false, 8], [24, false, 8]]],
    ["data past the known end", [[0, true, 8], [16, false, 8], [32, true, 8]]],
    ["a last fragment ending before data held", [[0, true, 8], [32, true, 8], [16, false, 8]]],
    ["a last duplicate ending before data held", [[8, true, 8], [24, true, 8], [8, false, 8]]],
  ];
  for (const [name, frags] of cases) {
    await t.step(name, () => {
      const r = new FragmentReassembler();
      const key = v4(11);
      const verdicts = frags.map(([offset, more, len]) =>
        r.insert(key, offset, more, pattern(len, offset), 0)
      );
      assert.deepEqual(verdicts, [V.Held, V.Held, V.BadEnd]);
      assert.equal(r.counters.badEnd, 1);
      assertEmpty(r, 1);
      assert.equal(r.insert(key, 8, true, pattern(8), 0), V.Discarded);
    });
  }
});

Deno.test("reassembly: bad lengths and offsets drop the fragment, not the datagram", () => {
  const r = new FragmentReassembler();
  const key = v6(12);
  assert.equal(r.insert(key, 0, true, pattern(16), 0, v6Addresses(2, 1)), V.Held);
  // RFC 8200 §4.5: More Fragments set and a length that is not a multiple of 8.
  assert.equal(r.insert(key, 16, true, pattern(12), 0), V.BadLength);
  assert.equal(r.insert(key, 16, true, pattern(0), 0), V.BadLength);
  assert.equal(r.insert(key, 16, false, pattern(0), 0), V.BadLength);
  assert.equal(r.insert(key, 20, false, pattern(4), 0), V.BadLength);
  assert.equal(r.counters.badLength, 4);
  // A last fragment may have any length.
  assert.equal(r.insert(key, 16, false, pattern(5), 0), V.Complete);
  assert.equal(r.completed.payloadLength, 21);
});

Deno.test("reassembly: nothing longer than 65535 bytes of IPv4 datagram (RFC 791 §3.1)", () => {
  const r = new FragmentReassembler();
  const header = pattern(20);
  const payload = pattern(65535 - 20);
  const key = v4(13);
  const frags = cut(payload, 8192);
  for (const [offset, more, bytes] of frags) {
    const verdict = r.insert(key, offset, more, bytes, 0, offset === 0 ? header : undefined);
    assert.equal(verdict, more ? V.Held : V.Complete);
  }
  assert.equal(r.completed.bytes.length, 65535);
  assert.deepEqual(r.completed.bytes, concat(header, payload));
  // One byte more does not fit the minimum header.
  const big = v4(14);
  assert.equal(r.insert(big, 65512, false, pattern(4), 0), V.TooBig);
  assert.equal(r.counters.tooBig, 1);
  assertEmpty(r);
  // With options in the first fragment's header the room shrinks accordingly.
  assert.equal(r.insert(big, 65504, false, pattern(11), 0), V.Held);
  assert.equal(r.insert(big, 0, true, pattern(8), 0, pattern(24)), V.TooBig);
  assert.equal(r.insert(big, 0, true, pattern(8), 0, pattern(20)), V.Held);
  assert.equal(r.insert(big, 65496, true, pattern(8), 0), V.Held);
  assert.equal(r.counters.tooBig, 2);
  // An atomic fragment is bound too.
  assert.equal(r.insert(v4(15), 0, false, pattern(65516), 0, pattern(20)), V.TooBig);
});

Deno.test("reassembly: an IPv6 Payload Length above 65535 is refused (RFC 8200 §4.5)", () => {
  const r = new FragmentReassembler();
  const key = v6(16);
  assert.equal(r.insert(key, 65528, false, pattern(8), 0), V.TooBig);
  assert.equal(r.insert(key, 65528, false, pattern(7), 0), V.Held);
  // With 8 bytes of extension headers before the Fragment header, the same end is too far.
  assert.equal(r.insert(key, 0, true, pattern(8), 0, pattern(48)), V.TooBig);
  assert.equal(r.insert(key, 0, true, pattern(8), 0, pattern(40)), V.Held);
  assert.equal(r.counters.tooBig, 2);
});

Deno.test("reassembly: too many fragments drop the datagram", () => {
  const r = new FragmentReassembler({ maxFragments: 4 });
  const key = v4(17);
  for (let i = 0; i < 4; i++) assert.equal(r.insert(key, i * 16, true, pattern(8), 0), V.Held);
  assert.equal(r.insert(key, 64, true, pattern(8), 0), V.TooManyFragments);
  assert.equal(r.counters.tooManyFragments, 1);
  assertEmpty(r, 1);
  assert.equal(r.insert(key, 8, true, pattern(8), 0), V.Discarded);
  // Four fragments are fine.
  const ok = v4(18);
  for (let i = 0; i < 3; i++) r.insert(ok, i * 8, true, pattern(8), 0);
  assert.equal(r.insert(ok, 24, false, pattern(8), 0), V.Complete);
});

Deno.test("reassembly: lifetimes count from the first-arriving fragment; Time Exceeded facts", () => {
  const r = new FragmentReassembler();
  assert.equal(r.nextDeadline(), Infinity);
  const withFirst = v6(20);
  const header = concat(v6Addresses(2, 1), pattern(8));
  const first = pattern(16, 4);
  r.insert(withFirst, 0, true, first, 1000, header, 6);
  const noFirst = v4(21, 6);
  r.insert(noFirst, 8, true, pattern(8), 2000);
  // IPv4: 30 s; IPv6: 60 s (RFC 8200 §4.5). Later fragments do not extend the lifetime.
  assert.equal(r.nextDeadline(), 32_000);
  r.insert(noFirst, 32, true, pattern(8), 31_000);
  assert.equal(r.poll(31_999), 0);
  const seen: ExpiredDatagram[] = [];
  const record = (e: Readonly<ExpiredDatagram>) =>
    seen.push({ ...e, key: Object.assign(new FragmentKey(), e.key) });
  assert.equal(r.poll(32_000, record), 1);
  assert.equal(seen.length, 1);
  assert.equal(seen[0].firstFragmentReceived, false);
  assert.equal(seen[0].key.family, 4);
  assert.equal(seen[0].key.src0, A);
  assert.equal(seen[0].key.id, 21);
  assert.equal(seen[0].header.length, 0);
  assert.equal(r.nextDeadline(), 61_000);
  assert.equal(r.poll(61_000, record), 1);
  const e = seen[1];
  assert.equal(e.firstFragmentReceived, true);
  assert.equal(e.key.family, 6);
  assert.equal(e.key.src3, 2);
  assert.equal(e.key.dst3, 1);
  assert.equal(e.key.id, 20);
  assert.equal(e.key.protocol, 17);
  assert.deepEqual(e.header, header);
  assert.equal(e.headerMark, 6);
  assert.deepEqual(e.firstPayload, first);
  assert.equal(r.counters.timeouts, 2);
  assert.equal(r.nextDeadline(), Infinity);
  assertEmpty(r);
});

Deno.test("reassembly: timeouts are configurable per family", () => {
  const r = new FragmentReassembler({ ipv4TimeoutMs: 15_000, ipv6TimeoutMs: 5_000 });
  r.insert(v4(1), 8, true, pattern(8), 0);
  r.insert(v6(1), 8, true, pattern(8), 100);
  assert.equal(r.nextDeadline(), 5_100);
  assert.equal(r.poll(5_100), 1);
  assert.equal(r.nextDeadline(), 15_000);
  assert.equal(r.poll(15_000), 1);
});

Deno.test("reassembly: over a source's budget its oldest datagrams go, not other sources'", () => {
  const each = DATAGRAM_OVERHEAD + FRAGMENT_OVERHEAD + 1000;
  const r = new FragmentReassembler({ maxBytesPerSource: 3 * each + 100 });
  const other = v4(1, 17, C);
  r.insert(other, 8, true, pattern(1000), 0);
  for (let id = 1; id <= 3; id++) {
    assert.equal(r.insert(v4(id), 8, true, pattern(1000), id), V.Held);
  }
  assert.equal(r.sourceBytes(v4(0)), 3 * each);
  assert.equal(r.insert(v4(4), 8, true, pattern(1000), 4), V.Held);
  assert.equal(r.counters.overSourceBudget, 1);
  assert.equal(r.sourceBytes(v4(0)), 3 * each);
  assert.equal(r.sourceBytes(other), each);
  // Datagram 1 is gone (a new one starts under its key); 2 is still held.
  assert.equal(r.insert(v4(2), 0, true, pattern(8), 5), V.Held);
  assert.equal(r.counters.datagrams, 4);
  assert.equal(r.insert(v4(1), 0, false, pattern(8), 6), V.Complete); // atomic: no queue needed
  // A datagram that cannot fit even alone is dropped whole; the others go first.
  const huge = v4(5);
  let verdict = V.Held;
  for (let at = 0; verdict === V.Held && at < 8 * 1000; at += 1000) {
    verdict = r.insert(huge, at, true, pattern(1000), 7);
  }
  assert.equal(verdict, V.OverSourceBudget);
  assert.equal(r.sourceBytes(huge), 0);
  assert.equal(r.sourceBytes(other), each);
  assert.equal(r.counters.overSourceBudget, 5); // 2, 3, 4, then "huge" itself, counted once each
});

Deno.test("reassembly: over the total budget the oldest datagrams of any source and family go", () => {
  const each = DATAGRAM_OVERHEAD + FRAGMENT_OVERHEAD + 1000;
  const r = new FragmentReassembler({ maxBytes: 3 * each });
  r.insert(v6(1, 17, 9), 8, true, pattern(1000), 0);
  r.insert(v4(1, 17, C), 8, true, pattern(1000), 1);
  r.insert(v6(2, 17, 7), 8, true, pattern(1000), 2);
  assert.equal(r.counters.memoryBytes, 3 * each);
  assert.equal(r.insert(v4(3), 8, true, pattern(1000), 3), V.Held);
  assert.equal(r.counters.overTotalBudget, 1);
  assert.equal(r.sourceBytes(v6(1, 17, 9)), 0); // the oldest, an IPv6 one
  assert.equal(r.insert(v4(4), 8, true, pattern(1000), 4), V.Held);
  assert.equal(r.sourceBytes(v4(1, 17, C)), 0); // then the IPv4 one
  assert.equal(r.counters.overTotalBudget, 2);
  assert.equal(r.counters.memoryBytes, 3 * each);
  // Growing one datagram past the whole budget evicts the rest, then drops it.
  const key = v4(4);
  assert.equal(r.insert(key, 1008, true, pattern(1000), 5), V.Held);
  assert.equal(r.counters.datagrams, 2);
  assert.equal(r.insert(key, 2008, true, pattern(1000), 5), V.Held);
  assert.equal(r.insert(key, 3008, true, pattern(1000), 5), V.OverTotalBudget);
  assertEmpty(r);
  assert.equal(r.counters.overTotalBudget, 5);
});

Deno.test("reassembly: over the datagram count the oldest one goes", () => {
  const r = new FragmentReassembler({ maxDatagrams: 3 });
  for (let id = 1; id <= 3; id++) r.insert(v4(id), 8, true, pattern(8), id);
  assert.equal(r.insert(v4(4), 8, true, pattern(8), 4), V.Held);
  assert.equal(r.counters.overDatagramLimit, 1);
  assert.equal(r.counters.datagrams, 3);
  assert.equal(r.nextDeadline(), 30_002);
  // Remembered records of dropped datagrams count, and go first when old, uncounted.
  assert.equal(r.insert(v4(2), 8, true, pattern(16), 5), V.Overlap);
  assert.equal(r.insert(v4(5), 8, true, pattern(8), 6), V.Held);
  assert.equal(r.counters.overDatagramLimit, 1);
  assert.equal(r.insert(v4(3), 0, true, pattern(8), 7, pattern(20)), V.Held);
  assert.equal(r.insert(v4(3), 16, false, pattern(8), 7), V.Complete);
});

Deno.test("reassembly: completed datagrams go into the caller's buffer when given", () => {
  const output = new Uint8Array(70_000);
  const r = new FragmentReassembler({ output });
  r.insert(v4(1), 8, false, pattern(8), 0);
  assert.equal(r.insert(v4(1), 0, true, pattern(8), 0, pattern(20)), V.Complete);
  assert.equal(r.completed.bytes.buffer, output.buffer);
  assert.throws(() => new FragmentReassembler({ output: new Uint8Array(65535) }), RangeError);
  assert.throws(() => new FragmentReassembler({ maxFragments: 0 }), RangeError);
  assert.throws(() => new FragmentReassembler({ hashBits: 0 }), RangeError);
});

Deno.test("reassembly: clear drops everything without counting", () => {
  const r = new FragmentReassembler();
  r.insert(v4(1), 8, true, pattern(8), 0);
  r.insert(v6(1), 8, true, pattern(8), 0);
  r.clear();
  assertEmpty(r);
  assert.equal(r.nextDeadline(), Infinity);
  assert.equal(r.counters.timeouts, 0);
});

// ---------------------------------------------------------------------------------------------
// The model test: many interleaved datagrams from several sources, shuffled, lost, duplicated.

interface Original {
  key: FragmentKey;
  header: Uint8Array;
  payload: Uint8Array;
  mark: number;
  frags: [number, boolean, Uint8Array][];
  lost: boolean;
  forged: boolean;
  completions: number;
}

interface Arrival {
  time: number;
  dgram: Original;
  /** Index into `frags`, or -1 for a forged overlapping fragment. */
  frag: number;
}

function keyName(k: FragmentKey): string {
  return [k.family, k.src0, k.src1, k.src2, k.src3, k.dst0, k.dst3, k.id].join(",");
}

function runModel(
  seed: number,
  options: ReassemblyOptions,
  shape: { datagrams: number; maxPayload: number; loss: number; dup: number; forge: number },
): { originals: Original[]; r: FragmentReassembler } {
  const rng = new Prng(seed);
  const r = new FragmentReassembler(options);
  const maxFragments = options.maxFragments ?? 64;
  const sources = [A, C, 0x0a000003].map((s) => new FragmentKey().setV4(s, B, 0, 0))
    .concat([2, 3, 4].map((s) => v6(0, 0, s)));
  const originals: Original[] = [];
  const byKey = new Map<string, Original>();
  const arrivals: Arrival[] = [];
  for (let n = 0; n < shape.datagrams; n++) {
    const family = rng.chance(0.5) ? 4 : 6;
    const s = rng.int(0, 3);
    const key = family === 4
      ? v4(n, [1, 6, 17][rng.int(0, 3)], sources[s].src0)
      : v6(0x10000 + n, [6, 17, 58][rng.int(0, 3)], 2 + s);
    const header = pattern(family === 4 ? 20 + 4 * rng.int(0, 11) : 40 + 8 * rng.int(0, 4), n);
    const payload = pattern(rng.int(1, shape.maxPayload + 1), n + 1000);
    // Each fragment its own size, a multiple of 8, with no more fragments than allowed.
    const floor = Math.ceil(payload.length / maxFragments / 8) * 8;
    const frags: [number, boolean, Uint8Array][] = [];
    for (let at = 0; at < payload.length;) {
      const size = Math.max(floor, 8 * rng.int(1, 200));
      const end = Math.min(at + size, payload.length);
      frags.push([at, end < payload.length, payload.subarray(at, end)]);
      at = end;
    }
    const o: Original = {
      key,
      header,
      payload,
      mark: rng.int(0, 100),
      frags,
      lost: false,
      forged: false,
      completions: 0,
    };
    originals.push(o);
    byKey.set(keyName(key), o);
    const start = rng.int(0, 120_000);
    for (let i = 0; i < frags.length; i++) {
      if (rng.chance(shape.loss)) {
        o.lost = true;
        continue;
      }
      arrivals.push({ time: start + rng.int(0, 3000), dgram: o, frag: i });
      if (rng.chance(shape.dup)) {
        arrivals.push({ time: start + rng.int(0, 6000), dgram: o, frag: i });
      }
    }
    if (frags.length > 1 && rng.chance(shape.forge)) {
      o.forged = true;
      arrivals.push({ time: start + rng.int(0, 3000), dgram: o, frag: -1 });
    }
  }
  // Shuffle, then a stable sort by time: equal times arrive in random order.
  for (let i = arrivals.length - 1; i > 0; i--) {
    const j = rng.int(0, i + 1);
    [arrivals[i], arrivals[j]] = [arrivals[j], arrivals[i]];
  }
  arrivals.sort((x, y) => x.time - y.time);

  const onExpire = (e: Readonly<ExpiredDatagram>) => {
    const o = byKey.get(keyName(e.key));
    assert.ok(o, "an expired datagram that was never sent");
    if (e.firstFragmentReceived) {
      assert.deepEqual(e.header, o.header);
      assert.deepEqual(e.firstPayload, o.frags[0][2]);
      assert.equal(e.headerMark, o.mark);
    }
  };
  for (const a of arrivals) {
    r.poll(a.time, onExpire);
    const o = a.dgram;
    let verdict: V;
    if (a.frag < 0) {
      // A forged fragment: random bytes from inside the datagram to past its end, so that it
      // overlaps what is held or contradicts the end, but can never fill a hole exactly.
      const offset = 8 * rng.int(0, Math.ceil(o.payload.length / 8));
      const end = 8 * (Math.ceil(o.payload.length / 8) + rng.int(1, 4));
      const bytes = new Uint8Array(end - offset).map(() => rng.int(0, 256));
      verdict = r.insert(o.key, offset, true, bytes, a.time);
      assert.ok(verdict !== V.Complete && verdict !== V.Duplicate, `forged: ${V[verdict]}`);
    } else {
      const [offset, more, bytes] = o.frags[a.frag];
      // The packet buffer is reused by the caller: pass a copy and then scribble on it.
      const packet = bytes.slice();
      verdict = r.insert(
        o.key,
        offset,
        more,
        packet,
        a.time,
        offset === 0 ? o.header : undefined,
        o.mark,
      );
      packet.fill(0x5a);
    }
    if (verdict === V.Complete) {
      const d = r.completed;
      assert.equal(d.family, o.key.family);
      assert.equal(d.headerLength, o.header.length);
      assert.equal(d.payloadLength, o.payload.length);
      assert.equal(d.protocol, o.key.protocol);
      assert.equal(d.headerMark, o.mark);
      assert.deepEqual(d.bytes, concat(o.header, o.payload));
      o.completions++;
    }
    // The bounds hold at every step, and the books balance.
    const c = r.counters;
    assert.ok(c.memoryBytes <= r.maxBytes, `memory ${c.memoryBytes}`);
    assert.ok(c.datagrams <= r.maxDatagrams, `datagrams ${c.datagrams}`);
    let sum = 0;
    for (const s of sources) {
      const held = r.sourceBytes(s);
      assert.ok(held <= r.maxBytesPerSource, `source ${keyName(s)} holds ${held}`);
      sum += held;
    }
    assert.equal(sum, c.memoryBytes);
    assert.ok(c.memoryBytes >= c.datagrams * DATAGRAM_OVERHEAD);
  }
  r.poll(Infinity, onExpire);
  assertEmpty(r);
  for (const o of originals) {
    if (o.lost) assert.equal(o.completions, 0, `datagram ${keyName(o.key)} had a fragment lost`);
  }
  return { originals, r };
}

Deno.test("reassembly model: with room enough, every datagram whose fragments all arrive completes", () => {
  for (const seed of [1, 2, 3]) {
    const { originals, r } = runModel(seed, { hashBits: 3 }, {
      datagrams: 400,
      maxPayload: 9000,
      loss: 0.02,
      dup: 0.1,
      forge: 0,
    });
    for (const o of originals) {
      if (!o.lost) assert.ok(o.completions >= 1, `seed ${seed}: ${keyName(o.key)} never completed`);
    }
    const c = r.counters;
    assert.ok(c.duplicates > 0 && c.timeouts > 0, `seed ${seed}: ${JSON.stringify(c)}`);
    assert.equal(c.overlaps + c.badEnd + c.badLength + c.tooBig + c.tooManyFragments, 0);
    assert.equal(c.overSourceBudget + c.overTotalBudget + c.overDatagramLimit, 0);
  }
});

Deno.test("reassembly model: under tight bounds and forged overlaps, only exact datagrams come out", () => {
  for (const seed of [4, 5, 6]) {
    const { originals, r } = runModel(seed, {
      maxBytes: 160 << 10,
      maxBytesPerSource: 64 << 10,
      maxDatagrams: 24,
      maxFragments: 16,
      hashBits: 2,
      hashKey: [seed, 77],
    }, { datagrams: 600, maxPayload: 30_000, loss: 0.01, dup: 0.1, forge: 0.1 });
    const c = r.counters;
    const completed = originals.filter((o) => o.completions > 0).length;
    assert.ok(completed > 150, `seed ${seed}: only ${completed} completed`);
    // Every bound was reached at least once, so the test exercised it.
    const bounds = [
      "overlaps",
      "badEnd",
      "overSourceBudget",
      "overTotalBudget",
      "overDatagramLimit",
    ];
    for (const name of bounds as (keyof typeof c)[]) {
      assert.ok(c[name] > 0, `seed ${seed}: ${name} never happened: ${JSON.stringify(c)}`);
    }
  }
});
