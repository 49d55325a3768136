/**
 * What every script under `ffi/testdata/` does first: refuse to run anywhere but the fresh
 * network namespace `runInNetns` (tests/netns.ts) made for it, and set the namespace up the
 * same way (IPv6 off by default, as on some hosts). Also the one synchronous command runner
 * the scripts share.
 * @module
 */

const decoder = new TextDecoder();

/** Runs `cmd args` to completion; its exit code and its stdout and stderr together. */
export function run(cmd: string, ...args: string[]): { code: number; out: string } {
  const r = new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).outputSync();
  return { code: r.code, out: decoder.decode(r.stdout) + decoder.decode(r.stderr) };
}

/**
 * Exits 2 unless started by `runInNetns` (`TCPTUN_IN_NETNS=1`) in a namespace that holds
 * nothing but `lo`: no TUN device is made and no packet is sent on the host's network.
 */
export function assertFreshNamespace(): void {
  if (Deno.env.get("TCPTUN_IN_NETNS") !== "1") {
    console.error("refusing to run: not started by runInNetns (TCPTUN_IN_NETNS != 1)");
    Deno.exit(2);
  }
  const links = run("ip", "-o", "link", "show").out.trim().split("\n").filter((l) => l !== "");
  if (links.length !== 1 || !/^\d+: lo:/.test(links[0])) {
    console.error(`refusing to run: this is not a fresh network namespace:\n${links.join("\n")}`);
    Deno.exit(2);
  }
}

/**
 * Turns IPv6 off by default in the namespace (`all` and `default` `disable_ipv6 = 1`), as some
 * hosts have it: `openTun` must cope (enable it on its own interface when it configures IPv6,
 * leave it off with `tunIp6: false`), and new interfaces stay quiet (no router solicitations or
 * MLD reports).
 */
export function disableIpv6(): void {
  for (const scope of ["all", "default"]) {
    try {
      Deno.writeTextFileSync(`/proc/sys/net/ipv6/conf/${scope}/disable_ipv6`, "1");
    } catch {
      // no IPv6 in this kernel: nothing to turn off
    }
  }
}
