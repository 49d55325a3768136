// RFC 9293 Appendix B requirements on the TCP header as tcptun writes it. Each test is named
// after the labels it checks; `scripts/conformance.ts` builds docs/conformance.md from them.
import assert from "node:assert/strict";
import { ACK, emitTcp, newTcpSegment, parseTcp, SYN, TCP_HEADER_LENGTH } from "./tcp.ts";

const SRC = 0x0a000001;
const DST = 0x0a000002;

Deno.test("tcp: MUST-69 the header after the last option is zero padding to a 32-bit boundary", () => {
  let checked = 0;
  // Every combination of the options tcptun emits, with 0 to 4 SACK blocks, each written
  // into a buffer full of junk so that a byte left unwritten would show.
  for (let mask = 0; mask < 16; mask++) {
    for (let blocks = 0; blocks <= 4; blocks++) {
      const seg = newTcpSegment();
      seg.srcPort = 4444;
      seg.dstPort = 5555;
      seg.seq = 1;
      seg.ack = 2;
      seg.flags = blocks > 0 ? ACK : SYN;
      seg.window = 1000;
      const o = seg.options;
      if (mask & 1) o.mss = 1460;
      if (mask & 2) o.wscale = 7;
      if (mask & 4) o.sackPermitted = true;
      if (mask & 8) {
        o.hasTimestamps = true;
        o.tsVal = 0x01020304;
        o.tsEcr = 0x05060708;
      }
      for (let b = 0; b < blocks; b++) o.sackBlocks.push(100 + 20 * b, 110 + 20 * b);
      seg.payload = new Uint8Array([0xaa, 0xbb]);
      const buf = new Uint8Array(128).fill(0xee);
      const n = emitTcp(seg, SRC, DST, buf);
      const dataOffset = (buf[12] >> 4) * 4;
      const what = `options ${mask}, ${blocks} SACK blocks`;
      assert.equal(dataOffset % 4, 0, what);
      assert.ok(dataOffset >= TCP_HEADER_LENGTH && dataOffset <= 60, what);
      assert.equal(n, dataOffset + 2, what);
      assert.deepEqual([...buf.subarray(dataOffset, n)], [0xaa, 0xbb], `${what}: data after`);
      // Walk the option list (RFC 9293 §3.1): NOP is one byte, EOL ends the list, every
      // other kind has a length. Whatever follows the list up to the data must be zeros.
      let i = TCP_HEADER_LENGTH;
      while (i < dataOffset) {
        const kind = buf[i];
        if (kind === 0) break;
        if (kind === 1) {
          i++;
          continue;
        }
        const len = buf[i + 1];
        assert.ok(len >= 2 && i + len <= dataOffset, `${what}: option ${kind} length ${len}`);
        i += len;
      }
      assert.ok(i <= dataOffset, what);
      assert.deepEqual(
        [...buf.subarray(i, dataOffset)],
        new Array(dataOffset - i).fill(0),
        `${what}: padding after the options`,
      );
      // And it reads back as written.
      const back = newTcpSegment();
      assert.equal(parseTcp(buf.subarray(0, n), SRC, DST, back), 0, what);
      assert.equal(back.options.mss, o.mss, what);
      assert.equal(back.options.wscale, o.wscale, what);
      assert.equal(back.options.sackPermitted, o.sackPermitted, what);
      assert.equal(back.options.hasTimestamps, o.hasTimestamps, what);
      checked++;
    }
  }
  assert.equal(checked, 80);
});
