/**
 * Benchmark worker for the kernel → kernel baseline, run INSIDE a network namespace the
 * benchmark created (`ip netns exec`): one end of a bulk transfer over a veth pair.
 *
 * Usage: `kernel.ts recv <host> <port> <bytes>` listens, reads to end of stream and prints
 * `{received, ms, mibps}` (timed from accept to end of stream); `kernel.ts send <host> <port>
 * <bytes>` connects (retrying while the receiver starts), sends and prints the sending
 * namespace's retransmitted segments.
 * @module
 */

import {
  CHUNK,
  kernelDelta,
  kernelTcpCounters,
  randomBytes,
  runScript,
  within,
} from "../../tests/integration/scripts/lossy_common.ts";

const MIB = 1024 * 1024;

async function receive(hostname: string, port: number, size: number) {
  const l = Deno.listen({ hostname, port });
  console.log("ready");
  const k = await within(l.accept(), 30_000, "accept");
  l.close();
  const t0 = performance.now();
  const buf = new Uint8Array(CHUNK);
  let received = 0;
  for (;;) {
    const n = await k.read(buf);
    if (n === null) break;
    received += n;
  }
  const ms = performance.now() - t0;
  k.close();
  return {
    received,
    ok: received === size,
    ms: Math.round(ms),
    mibps: Math.round(received / MIB / (ms / 1000) * 100) / 100,
  };
}

async function send(hostname: string, port: number, size: number) {
  const data = randomBytes(Math.min(size, 4 * MIB));
  const before = kernelTcpCounters();
  let k: Deno.TcpConn | undefined;
  for (let attempt = 0; attempt < 100 && !k; attempt++) {
    try {
      k = await Deno.connect({ hostname, port });
    } catch (e) {
      if (!(e instanceof Deno.errors.ConnectionRefused)) throw e;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  if (!k) throw new Error("receiver never listened");
  let sent = 0;
  while (sent < size) {
    const off = sent % data.length;
    sent += await k.write(data.subarray(off, Math.min(data.length, off + (size - sent))));
  }
  await k.closeWrite();
  while (await k.read(new Uint8Array(16)) !== null) { /* the receiver's FIN */ }
  k.close();
  return { sent, retransSegs: kernelDelta(before, kernelTcpCounters()).RetransSegs };
}

await runScript(async () => {
  const [mode, host, port, bytes] = Deno.args;
  const size = Number(bytes);
  if (mode === "recv") return await within(receive(host, Number(port), size), 100_000, "recv");
  if (mode === "send") return await within(send(host, Number(port), size), 100_000, "send");
  throw new Error("usage: kernel.ts <recv|send> <host> <port> <bytes>");
});
