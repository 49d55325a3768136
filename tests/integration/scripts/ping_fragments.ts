/**
 * Scenario (in a fresh namespace): the kernel pings the stack with echo requests larger than
 * the MTU, which it sends in fragments; the stack reassembles them (RFC 791 §3.2, RFC 815) and
 * answers each whole, in fragments (RFC 1122 §3.2.2.6). Reports ping's outcome and the stack's
 * reassembly counters. Usage: `ping_fragments.ts [SIZE]`.
 * @module
 */

import { openStack } from "../../../src/stack.ts";
import { kernelPing, scenario } from "./common.ts";

const size = Number(Deno.args[0] ?? 4000);

await scenario(30_000, async () => {
  const stack = await openStack({ tunIp: "10.0.0.1" });
  try {
    const ping = await kernelPing("10.0.0.1", size);
    const c = stack.counters;
    return {
      pingExit: ping.exit,
      received: ping.received,
      replyBytes: ping.replyBytes,
      fragments: c.fragments,
      reassembled: c.reassembly.reassembled,
      heldBytes: c.reassembly.memoryBytes,
      echoReplies: c.icmpEchoReplies,
      packetsOut: c.packetsOut,
      pingOutput: ping.text.trim().split("\n").slice(-2).join(" | "),
    };
  } finally {
    await stack.close();
  }
});
