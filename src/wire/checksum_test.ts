import assert from "node:assert/strict";
import { checksumAdd, checksumFinish, internetChecksum, pseudoHeaderSum } from "./checksum.ts";
import { LINUX_PACKETS } from "../../tests/vectors/linux_packets.ts";
import { addr, fromHex, seededRandom } from "../../tests/vectors/util.ts";

/** Straightforward RFC 1071 reference: 16-bit big-endian words, odd byte padded, end-around carry. */
function referenceSum(b: Uint8Array, start: number, end: number): number {
  let sum = 0;
  for (let i = start; i < end; i += 2) {
    sum += (b[i] << 8) | (i + 1 < end ? b[i + 1] : 0);
    sum = (sum & 0xffff) + (sum >>> 16);
  }
  return sum;
}

Deno.test("checksum: RFC 1071 §3 worked example", () => {
  const bytes = new Uint8Array([0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]);
  assert.equal(checksumAdd(0, bytes, 0, bytes.length), 0xddf2);
  assert.equal(internetChecksum(bytes), 0x220d);
});

Deno.test("checksum: matches the reference for random lengths, offsets and views", () => {
  const rand = seededRandom(1071);
  const backing = new Uint8Array(4096);
  for (let i = 0; i < backing.length; i++) backing[i] = rand() & 0xff;
  for (let iter = 0; iter < 2000; iter++) {
    // A view with an arbitrary byteOffset (odd or unaligned) over the same buffer,
    // alternating with a separate buffer so the cached DataView is replaced.
    const viewOffset = rand() % 64;
    const view = iter % 3 === 2
      ? backing.slice(viewOffset, viewOffset + 2048)
      : backing.subarray(viewOffset, viewOffset + 2048);
    const start = rand() % 1024;
    const end = start + (rand() % 1024);
    assert.equal(checksumAdd(0, view, start, end), referenceSum(view, start, end));
  }
});

Deno.test("checksum: odd length pads the last byte with zero", () => {
  const odd = new Uint8Array([0x12, 0x34, 0x56]);
  assert.equal(checksumAdd(0, odd, 0, 3), 0x1234 + 0x5600);
  assert.equal(checksumAdd(0, odd, 2, 3), 0x5600);
  assert.equal(checksumAdd(0, odd, 1, 1), 0);
});

Deno.test("checksum: incremental sums over even chunks equal the whole", () => {
  const rand = seededRandom(7);
  const bytes = new Uint8Array(1501);
  for (let i = 0; i < bytes.length; i++) bytes[i] = rand() & 0xff;
  const whole = internetChecksum(bytes);
  for (const split of [0, 2, 20, 40, 1000, 1500]) {
    const acc = checksumAdd(checksumAdd(0, bytes, 0, split), bytes, split, bytes.length);
    assert.equal(checksumFinish(acc), whole, `split at ${split}`);
  }
});

Deno.test("checksum: a 64 KiB run of 0xff stays exact", () => {
  const bytes = new Uint8Array(65535).fill(0xff);
  assert.equal(checksumAdd(0, bytes, 0, bytes.length), referenceSum(bytes, 0, bytes.length));
  assert.equal(internetChecksum(bytes), ~referenceSum(bytes, 0, bytes.length) & 0xffff);
  const even = bytes.subarray(0, 65534);
  assert.equal(checksumAdd(0, even, 0, even.length), 0xffff); // one's complement "negative zero"
});

Deno.test("checksum: finish complements and folds", () => {
  assert.equal(checksumFinish(0), 0xffff);
  assert.equal(checksumFinish(0xffff), 0);
  assert.equal(checksumFinish(0x1fffe), 0); // 0xfffe + 1 carry
  assert.equal(checksumFinish(0x12345), ~(0x2345 + 1) & 0xffff);
});

Deno.test("checksum: pseudo-header sum equals summing the 12 pseudo-header bytes", () => {
  const rand = seededRandom(768);
  for (let i = 0; i < 200; i++) {
    const src = rand();
    const dst = rand();
    const proto = rand() & 0xff;
    const length = rand() & 0xffff;
    const ph = new Uint8Array(12);
    const dv = new DataView(ph.buffer);
    dv.setUint32(0, src);
    dv.setUint32(4, dst);
    ph[9] = proto;
    dv.setUint16(10, length);
    assert.equal(pseudoHeaderSum(src, dst, proto, length), referenceSum(ph, 0, 12));
  }
});

Deno.test("checksum: captured Linux packets verify to 0 (IP header and TCP/ICMP part)", () => {
  for (const p of LINUX_PACKETS) {
    const bytes = fromHex(p.hex);
    const ihl = (bytes[0] & 0x0f) * 4;
    assert.equal(internetChecksum(bytes, 0, ihl), 0, `${p.name} IP header`);
    const l4 = bytes.subarray(ihl);
    if (p.ip.protocol === 6) {
      const acc = pseudoHeaderSum(addr(p.ip.src), addr(p.ip.dst), 6, l4.length);
      assert.equal(checksumFinish(checksumAdd(acc, l4, 0, l4.length)), 0, `${p.name} TCP`);
    } else {
      assert.equal(internetChecksum(l4), 0, `${p.name} ICMP`);
    }
  }
});
