// Sequence numbers past 2^31 and 2^32 on the send side (RFC 9293 §3.4): a bulk transfer of
// more than 2 GiB through one connection, with large segments to keep it quick.
import assert from "node:assert/strict";
import { ACK, FIN, SYN } from "../wire/tcp.ts";
import { State } from "./connection.ts";
import { Harness, IRS, ISS } from "./_harness.ts";

const MSS = 65495; // loopback-sized segments keep the 2 GiB run short (~1 s)

function openBulk(): Harness {
  const h = new Harness(true, { mss: MSS, timestamps: false, sack: false, noDelay: true });
  h.record = false;
  h.conn.open(h.now);
  h.take();
  h.input({
    seq: IRS,
    ack: ISS + 1,
    flags: SYN | ACK,
    window: 65535,
    opts: { mss: MSS, wscale: 7 },
  });
  h.take();
  assert.equal(h.conn.state, State.Established);
  return h;
}

Deno.test("tcp: the sender never sends more bytes than were written (2 GiB past ISS)", () => {
  const h = openBulk();
  const chunk = new Uint8Array(1 << 20);
  let written = 0;
  for (let it = 0; it < 2100; it++) {
    written += h.conn.send(chunk, h.now);
    h.take();
    const sentBytes = (h.conn.sndNxt - (ISS + 1)) >>> 0;
    assert.ok(
      sentBytes <= written,
      `iteration ${it}: sent up to stream offset ${sentBytes} but only ${written} bytes were written`,
    );
    h.now += 1;
    h.input({ seq: IRS + 1, ack: h.conn.sndNxt, flags: ACK, window: 65535 });
  }
});

Deno.test("tcp: after 2 GiB, new data goes out and the FIN follows it", () => {
  const h = openBulk();
  const chunk = new Uint8Array(1 << 20);
  // Acknowledge exactly 2^31 + 2 MiB bytes (the stream is then past the 2^31 mark).
  let written = 0;
  const target = 2 ** 31 + (2 << 20);
  while (written < target) {
    written += h.conn.send(chunk.subarray(0, Math.min(chunk.length, target - written)), h.now);
    h.take();
    h.now += 1;
    h.input({ seq: IRS + 1, ack: h.conn.sndNxt, flags: ACK, window: 65535 });
    if (h.conn.sndNxt === h.conn.sndUna && h.conn.sendBuf.length > 0) break; // stalled
  }
  h.record = true;
  const una = h.conn.sndUna;
  const pattern = new Uint8Array(5000).map((_, i) => (i * 7) & 0xff);
  h.conn.send(pattern, h.now);
  h.conn.closeWrite(h.now);
  const out = h.take();
  const data = out.filter((s) => s.len > 0);
  const fin = out.find((s) => s.flags & FIN);
  assert.ok(fin, "a FIN was sent");
  assert.equal((fin.seq + fin.len - una) >>> 0, 5000, "FIN must come after the 5000 new bytes");
  const got = new Uint8Array(data.reduce((a, s) => a + s.len, 0));
  let off = 0;
  for (const s of data) got.set(s.payload, off), off += s.len;
  assert.deepEqual(got, pattern, "the bytes sent are the bytes written");
});

Deno.test("tcp: fast retransmit still works after 2 GiB without loss (RFC 6582 §3.2)", () => {
  const h = openBulk();
  const chunk = new Uint8Array(1 << 20);
  let written = 0;
  const target = 2 ** 31 + (4 << 20);
  while (written < target) {
    written += h.conn.send(chunk, h.now);
    h.take();
    h.now += 1;
    h.input({ seq: IRS + 1, ack: h.conn.sndNxt, flags: ACK, window: 65535 });
  }
  // Now three segments in flight; the first is lost and three duplicate ACKs come back.
  h.conn.send(new Uint8Array(3 * MSS), h.now);
  const sent = h.take().filter((s) => s.len > 0);
  assert.equal(sent.length, 3);
  const una = h.conn.sndUna;
  for (let i = 0; i < 3; i++) h.input({ seq: IRS + 1, ack: una, flags: ACK, window: 65535 });
  assert.ok(h.take().some((s) => s.len > 0 && s.seq === una), "SND.UNA is sent again");
  assert.equal(h.conn.fastRetransmits, 1);
});
