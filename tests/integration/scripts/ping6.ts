/**
 * Scenario (in a fresh namespace): the kernel pings the stack's IPv6 address (RFC 4443 §4.1)
 * with a small echo request and with one larger than the MTU, which the kernel sends in
 * fragments (RFC 8200 §4.5); the stack reassembles it and answers it whole, in fragments.
 * Reports ping's outcome and the stack's counters. Usage: `ping6.ts [SIZE]`.
 * @module
 */

import { openStack } from "../../../src/stack.ts";
import { kernelPing, scenario } from "./common.ts";

const size = Number(Deno.args[0] ?? 4000);

await scenario(40_000, async () => {
  const stack = await openStack({ tunIp: "10.0.0.1" });
  try {
    const host = stack.tunIp6;
    if (!host) throw new Error(`no IPv6 on the device: ${stack.ipv6Problem}`);
    // A first exchange settles the kernel's side of a device that has just come up (under
    // load its first IPv6 packet can be late); what the test counts comes after it.
    await kernelPing(host, 56, true);
    const repliesBefore = stack.counters.icmpEchoReplies;
    const small = await kernelPing(host, 56, true);
    const large = await kernelPing(host, size, true);
    const c = stack.counters;
    return {
      host,
      smallExit: small.exit,
      smallReceived: small.received,
      largeExit: large.exit,
      largeReceived: large.received,
      largeReplyBytes: large.replyBytes,
      fragments: c.fragments,
      reassembled: c.reassembly.reassembled,
      echoReplies: c.icmpEchoReplies - repliesBefore,
      ipv6PacketsIn: c.ipv6PacketsIn,
      ndIgnored: c.ndIgnored,
      output: [small.text, large.text].map((t) => t.trim().split("\n").slice(-2).join(" | ")),
    };
  } finally {
    await stack.close();
  }
});
