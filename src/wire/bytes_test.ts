import assert from "node:assert/strict";
import { readU16, readU32, writeU16, writeU32 } from "./bytes.ts";

Deno.test("bytes: 16- and 32-bit fields are big-endian at any offset", () => {
  const b = new Uint8Array(8);
  writeU16(b, 1, 0xabcd);
  writeU32(b, 3, 0x01020304);
  assert.deepEqual([...b], [0, 0xab, 0xcd, 1, 2, 3, 4, 0]);
  assert.equal(readU16(b, 1), 0xabcd);
  assert.equal(readU32(b, 3), 0x01020304);
});

Deno.test("bytes: a 32-bit read with the top bit set is unsigned, a write keeps the low bits", () => {
  const b = new Uint8Array(6);
  writeU32(b, 0, -1); // the low 32 bits of -1
  assert.equal(readU32(b, 0), 0xffffffff);
  writeU32(b, 0, 0x1_8000_0001); // above 2^32: the low 32 bits
  assert.equal(readU32(b, 0), 0x80000001);
  writeU16(b, 4, 0x12345);
  assert.equal(readU16(b, 4), 0x2345);
});
