/**
 * Small helpers for the wire tests and the vector extractors: hex conversion, a seeded PRNG and
 * a minimal pcap reader.
 * @module
 */

/** Decodes a hex string (no separators) into bytes. */
export function fromHex(hex: string): Uint8Array {
  if (hex.length % 2 !== 0) throw new Error(`odd-length hex: ${hex.length}`);
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) {
    const byte = parseInt(hex.substr(i * 2, 2), 16);
    if (Number.isNaN(byte)) throw new Error(`bad hex at ${i * 2}`);
    out[i] = byte;
  }
  return out;
}

/** Encodes bytes as lowercase hex. */
export function toHex(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += b.toString(16).padStart(2, "0");
  return s;
}

/** A seeded PRNG (mulberry32) returning uint32 values; the same seed gives the same sequence. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

/** Parses "a.b.c.d" into a uint32 without using src/wire (an independent oracle for tests). */
export function addr(dotted: string): number {
  const p = dotted.split(".").map(Number);
  return ((p[0] << 24) | (p[1] << 16) | (p[2] << 8) | p[3]) >>> 0;
}

/**
 * Minimal pcap reader for the vector extractors: the link type and each record's bytes
 * (microsecond or nanosecond timestamps, either byte order).
 */
export function readPcap(file: Uint8Array): { linkType: number; records: Uint8Array[] } {
  const dv = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const magic = dv.getUint32(0, true);
  let le: boolean;
  if (magic === 0xa1b2c3d4 || magic === 0xa1b23c4d) le = true;
  else if (magic === 0xd4c3b2a1 || magic === 0x4d3cb2a1) le = false;
  else throw new Error(`not a pcap file (magic 0x${magic.toString(16)})`);
  const linkType = dv.getUint32(20, le);
  const records: Uint8Array[] = [];
  let off = 24;
  while (off + 16 <= file.length) {
    const inclLen = dv.getUint32(off + 8, le);
    off += 16;
    records.push(file.subarray(off, off + inclLen));
    off += inclLen;
  }
  return { linkType, records };
}
