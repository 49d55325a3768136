/**
 * Scenario (in a fresh namespace): `main.ts listen --echo --once --pcap FILE` serves one kernel
 * client (SIZE bytes echoed); then `tshark` reads the capture with IP and TCP checksum
 * validation on, and the status of every packet is reported. Usage: `cli_pcap.ts [SIZE]`.
 * @module
 */

import {
  Cli,
  closeQuietly,
  randomBytes,
  readToEnd,
  scenario,
  sha256,
  within,
  writeAll,
} from "./common.ts";

const size = Number(Deno.args[0] ?? 64 * 1024);
/** Extra CLI flags (e.g. --no-offload). */
const extra = Deno.args.slice(1);

/** tshark's `*.checksum.status` values. */
const STATUS: Record<string, string> = { "0": "Bad", "1": "Good", "2": "Unverified" };

await scenario(40_000, async () => {
  const dir = await Deno.makeTempDir({ prefix: "tcptun_pcap_" });
  const file = `${dir}/capture.pcap`;
  try {
    const cli = new Cli(["listen", "--echo", "--once", "--pcap", file, ...extra]);
    await cli.waitStderr("listening on 10.0.0.1:4444");
    const k = await within(
      Deno.connect({ hostname: "10.0.0.1", port: 4444 }),
      5000,
      "kernel connect",
    );
    let echoed: Uint8Array;
    const data = randomBytes(size);
    try {
      const [, got] = await within(
        Promise.all([writeAll(k, data).then(() => k.closeWrite()), readToEnd(k)]),
        10_000,
        "echo",
      );
      echoed = got;
    } finally {
      closeQuietly(k);
    }
    const code = await cli.exit();
    const out = await new Deno.Command("tshark", {
      args: [
        "-n",
        "-r",
        file,
        "-o",
        "ip.check_checksum:TRUE",
        "-o",
        "tcp.check_checksum:TRUE",
        "-T",
        "fields",
        "-E",
        "separator=,",
        "-e",
        "frame.number",
        "-e",
        "frame.protocols",
        "-e",
        "ip.checksum.status",
        "-e",
        "tcp.checksum.status",
        "-e",
        "tcp.flags",
      ],
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(20_000),
    }).output();
    const rows = new TextDecoder().decode(out.stdout).split("\n").filter((l) => l !== "");
    const packets = rows.map((row) => {
      const [frame, protocols, ipStatus, tcpStatus, flags] = row.split(",");
      return {
        frame: Number(frame),
        protocols,
        ip: STATUS[ipStatus] ?? `?${ipStatus}`,
        tcp: STATUS[tcpStatus] ?? `?${tcpStatus}`,
        flags: flags ? parseInt(flags, 16) : -1,
      };
    });
    const ipv4 = packets.filter((p) => p.protocols.includes(":ip:"));
    const tcp = ipv4.filter((p) => p.protocols.includes(":tcp"));
    return {
      code,
      echoMatches: (await sha256(echoed)) === (await sha256(data)),
      tsharkCode: out.code,
      tsharkStderr: new TextDecoder().decode(out.stderr).replace(/^Running as user.*\n/m, ""),
      packetCount: packets.length,
      ipv4Count: ipv4.length,
      tcpCount: tcp.length,
      // IPv4 header checksums of every IPv4 packet, TCP checksums of every TCP segment.
      notGood: ipv4.filter((p) =>
        p.ip !== "Good" || (p.protocols.includes(":tcp") && p.tcp !== "Good")
      ),
      others: packets.filter((p) => !p.protocols.includes(":ip:")).map((p) => p.protocols),
      syn: tcp.filter((p) => p.flags & 0x02).length,
      fin: tcp.filter((p) => p.flags & 0x01).length,
      rst: tcp.filter((p) => p.flags & 0x04).length,
      stderr: cli.stderr,
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
