/**
 * Scenario (in a fresh namespace): the kernel pings the stack's IPv6 address (RFC 4443 §4.1)
 * with a small echo request and with one larger than the MTU, which the kernel sends in
 * fragments (RFC 8200 §4.5); the stack reassembles it and answers it whole, in fragments.
 * Reports ping's outcome and the stack's counters. Usage: `ping6.ts [SIZE]`.
 * @module
 */

import { openStack } from "../../../src/stack.ts";
import { scenario } from "./common.ts";

const size = Number(Deno.args[0] ?? 4000);

async function ping(host: string, bytes: number): Promise<{ exit: number; text: string }> {
  const out = await new Deno.Command("ping", {
    args: ["-6", "-n", "-c", "3", "-i", "0.2", "-W", "2", "-s", String(bytes), host],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(15_000),
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  return { exit: out.code, text };
}

function received(text: string): number {
  return Number(text.match(/(\d+) (?:packets )?received/)?.[1] ?? -1);
}

await scenario(40_000, async () => {
  const stack = await openStack({ tunIp: "10.0.0.1" });
  try {
    const host = stack.tunIp6;
    if (!host) throw new Error(`no IPv6 on the device: ${stack.ipv6Problem}`);
    const small = await ping(host, 56);
    const large = await ping(host, size);
    const c = stack.counters;
    return {
      host,
      smallExit: small.exit,
      smallReceived: received(small.text),
      largeExit: large.exit,
      largeReceived: received(large.text),
      largeReplyBytes: Number(large.text.match(/(\d+) bytes from /)?.[1] ?? -1),
      fragments: c.fragments,
      reassembled: c.reassembly.reassembled,
      echoReplies: c.icmpEchoReplies,
      ipv6PacketsIn: c.ipv6PacketsIn,
      ndIgnored: c.ndIgnored,
      output: [small.text, large.text].map((t) => t.trim().split("\n").slice(-2).join(" | ")),
    };
  } finally {
    await stack.close();
  }
});
