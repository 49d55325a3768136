/**
 * Command-line parsing for `tcptun listen`, `tcptun connect` and `tcptun report`.
 *
 * `parseCli` turns `Deno.args` into a typed command or throws a `UsageError` whose message is one
 * line; the caller prints `error: <message>` and the usage hint, and exits with status 2.
 * @module
 */

import { type FaultOptions, parseFaultSpec } from "../fault.ts";
import { parseArgs } from "node:util";
import { parseIpv4Address } from "../wire/ipv4.ts";
import {
  formatIpv6Address,
  HostPortError,
  isIpv6UnicastAddress,
  newHostPort,
  parseHostPort,
  parseIpv6Address,
} from "../wire/ipv6_address.ts";

/** Log levels, from the fewest messages to the most. */
export const LOG_LEVELS = ["error", "warn", "info", "debug", "trace"] as const;
/** One of `LOG_LEVELS`. */
export type LogLevel = typeof LOG_LEVELS[number];
/** Congestion control algorithms the stack offers. */
export const CONGESTION_ALGORITHMS = ["cubic", "newreno"] as const;
/** One of `CONGESTION_ALGORITHMS`. */
export type Congestion = typeof CONGESTION_ALGORITHMS[number];

/** Address `listen` owns when `--tun-ip` is not given. */
export const DEFAULT_LISTEN_IP = "10.0.0.1";
/** Address `connect` owns when `--tun-ip` is not given. */
export const DEFAULT_CONNECT_IP = "10.0.0.2";
/** IPv6 address the stack owns when `--tun-ip6` is not given (the TUN device's default). */
export const DEFAULT_TUN_IP6 = "fdac:1194:20dc::1";
/** Port `listen` accepts on when `--port` is not given. */
export const DEFAULT_PORT = 4444;
/** Log level when `-v` is not given: quiet, so pipes stay clean. */
export const DEFAULT_LOG_LEVEL: LogLevel = "warn";

/** Options shared by both subcommands. */
export interface CommonOptions {
  /** Address the stack owns on the TUN link. */
  tunIp: string;
  /** --tun-ip6: IPv6 address the stack owns, or undefined for the device's default. */
  tunIp6: string | undefined;
  /** IP versions to use: 4 (--ipv4-only), 6 (--ipv6-only) or 0 for both. */
  family: 0 | 4 | 6;
  /** TUN interface name, or undefined for the kernel's choice. */
  ifname: string | undefined;
  /** Link MTU, or undefined for the stack's default. */
  mtu: number | undefined;
  /** Capture file path, or undefined for no capture. */
  pcap: string | undefined;
  /** --trace FILE: every connection's events as JSON lines (docs/trace.md). */
  trace: string | undefined;
  /** How much to log on stderr. */
  logLevel: LogLevel;
  /** Congestion control algorithm, or undefined for the stack's default. */
  congestion: Congestion | undefined;
  /** Disable Nagle's algorithm (RFC 9293 §3.7.4) on every connection. */
  noDelay: boolean;
  /** --no-offload: plain packets on the TUN device (no segmentation or checksum offload). */
  noOffload: boolean;
  /** Seeded faults injected between the device and the stack, both ways, or undefined. */
  faults: FaultOptions | undefined;
}

/** What a listening server does with each connection. */
export type ListenMode = "stdio" | "echo" | "discard";

/** `tcptun listen ...` */
export interface ListenCommand extends CommonOptions {
  /** Discriminant. */
  command: "listen";
  /** Port to accept on. */
  port: number;
  /** `stdio` bridges one connection at a time; `echo` and `discard` serve many at once. */
  mode: ListenMode;
  /** Exit after the first connection closes. */
  once: boolean;
}

/** `tcptun connect [HOST:]PORT ...` */
export interface ConnectCommand extends CommonOptions {
  /** Discriminant. */
  command: "connect";
  /**
   * Peer address in canonical text, IPv6 without brackets ("10.0.0.3", "fd00::3"), or
   * undefined for the stack's companion (kernel) address: IPv4, or IPv6 with --ipv6-only.
   */
  host: string | undefined;
  /** Peer port. */
  port: number;
}

/** `tcptun report TRACE [-o FILE]` */
export interface ReportCommand {
  /** Discriminant. */
  command: "report";
  /** The trace file (JSON lines, docs/trace.md). */
  trace: string;
  /** Where the HTML goes: a path, or "-" for stdout. */
  output: string;
}

/** A subcommand, for its help text and usage line. */
export type Topic = "listen" | "connect" | "report";

/** `--help` (optionally for one subcommand) or `--version`. */
export interface InfoCommand {
  /** Discriminant. */
  command: "help" | "version";
  /** The subcommand whose help was asked for, if any. */
  topic?: Topic;
}

/** Any parsed command line. */
export type Command = ListenCommand | ConnectCommand | ReportCommand | InfoCommand;

/** Bad command-line usage. The message is one line without the `error: ` prefix. */
export class UsageError extends Error {
  /** The subcommand whose usage line fits the error, if one was recognised. */
  readonly topic: Topic | undefined;
  /**
   * @param message one line describing the mistake
   * @param topic the subcommand being parsed, for a targeted usage hint
   */
  constructor(message: string, topic?: Topic) {
    super(message);
    this.name = "UsageError";
    this.topic = topic;
  }
}

/** One-line synopses, shown after a usage error. */
export const SYNOPSIS = {
  general: "tcptun <listen|connect|report> [options]   (tcptun --help for details)",
  listen: "tcptun listen [--tun-ip IP] [--tun-ip6 IP6] [--ipv4-only | --ipv6-only] [--port N] " +
    "[--echo | --discard] [--once] [--ifname NAME] [--mtu N] [--pcap FILE] [--trace FILE] " +
    "[-v LEVEL] [--congestion cubic|newreno] [--no-delay] [--no-offload] [--faults SPEC]",
  connect: "tcptun connect [HOST:]PORT [--tun-ip IP] [--tun-ip6 IP6] [--ipv4-only | --ipv6-only] " +
    "[--ifname NAME] [--mtu N] [--pcap FILE] [--trace FILE] " +
    "[-v LEVEL] [--congestion cubic|newreno] [--no-delay] [--no-offload] [--faults SPEC]",
  report: "tcptun report TRACE [-o FILE]",
} as const;

const COMMON_HELP = `  --tun-ip IP            address this stack owns on the TUN link
  --tun-ip6 IP6          IPv6 address this stack owns (default: ${DEFAULT_TUN_IP6});
                         the kernel's side gets its companion (…::2 for …::1).
                         Without it, IPv6 is set up if the system allows, else IPv4 only
  --ipv4-only            IPv4 only: no IPv6 on the TUN device
  --ipv6-only            IPv6 only (listen: accept IPv6 only; connect: default HOST is
                         the kernel's IPv6 address); fails if IPv6 cannot be set up
  --ifname NAME          TUN interface name (default: chosen by the kernel)
  --mtu N                link MTU, 576..65535 (default: 1500)
  --pcap FILE            write every packet read or written to FILE (pcap, LINKTYPE_RAW)
  --trace FILE           write every connection's events to FILE, one JSON object a line
                         (segments, states, RTT, cwnd, recovery; see docs/trace.md);
                         tcptun report FILE turns it into an HTML report
  -v, --log-level LEVEL  error | warn | info | debug | trace (default: warn);
                         debug logs one line per segment (→ sent, ← received)
  --congestion ALGO      cubic | newreno (default: cubic)
  --no-delay             disable Nagle's algorithm
  --no-offload           plain packets on the TUN device: no TCP segmentation or checksum
                         offload (Linux; by default on where the kernel accepts it)
  --faults SPEC          inject seeded faults between the device and the stack, both ways,
                         e.g. loss=1%,reorder=2%,dup=1%,delay=20,jitter=2,seed=7
  -h, --help             show this help`;

/** Full help text for `--help`, per topic. */
export function helpText(topic?: Topic): string {
  const listen = `usage: ${SYNOPSIS.listen}

Accept TCP connections on a user-space TCP/IP stack over a TUN device.
By default bridges stdin/stdout with one connection at a time (like netcat),
accepting the next connection after each one closes. Accepts over IPv4 and IPv6
(when the system allows IPv6): prints "listening on IP:PORT", then
"listening on [IP6]:PORT".

  --tun-ip IP            address this stack owns (default: ${DEFAULT_LISTEN_IP})
  --port N               port to accept on (default: ${DEFAULT_PORT})
  --echo                 send every byte back; many connections at once
  --discard              read and drop everything, log bytes and rate at close
  --once                 exit after the first connection closes
${COMMON_HELP.split("\n").slice(1).join("\n")}`;
  const connect = `usage: ${SYNOPSIS.connect}

Open one TCP connection from a user-space TCP/IP stack over a TUN device and bridge it
with stdin/stdout. stdin EOF sends FIN; exits 0 once both directions are closed.
HOST is an IPv4 address or an IPv6 address in brackets ([fdac:1194:20dc::2]:80);
it defaults to the kernel's address on the link.

  --tun-ip IP            address this stack owns (default: ${DEFAULT_CONNECT_IP})
${COMMON_HELP.split("\n").slice(1).join("\n")}`;
  const report = `usage: ${SYNOPSIS.report}

Turn a connection trace (written with --trace FILE) into one self-contained HTML page: per
connection a summary, time-sequence graphs, congestion window, RTT and RTO, and a ladder
diagram of the first and last segments. Nothing in the page is fetched from anywhere.

  -o, --output FILE      where the HTML goes; - for stdout (default: TRACE with its .jsonl
                         extension, if any, replaced by .html)
  -h, --help             show this help`;
  if (topic === "listen") return listen;
  if (topic === "connect") return connect;
  if (topic === "report") return report;
  return `tcptun: a TCP/IP stack in TypeScript over a TUN device

usage: tcptun listen [options]
       tcptun connect [HOST:]PORT [options]
       tcptun report TRACE [-o FILE]
       tcptun --version

${listen}

${connect}

${report}

Exit status: 0 success, 1 runtime error, 2 bad usage.`;
}

const COMMON_OPTIONS = {
  "tun-ip": { type: "string" },
  "tun-ip6": { type: "string" },
  "ipv4-only": { type: "boolean" },
  "ipv6-only": { type: "boolean" },
  ifname: { type: "string" },
  mtu: { type: "string" },
  pcap: { type: "string" },
  trace: { type: "string" },
  "log-level": { type: "string", short: "v" },
  congestion: { type: "string" },
  "no-delay": { type: "boolean" },
  "no-offload": { type: "boolean" },
  faults: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

const LISTEN_OPTIONS = {
  ...COMMON_OPTIONS,
  port: { type: "string" },
  echo: { type: "boolean" },
  discard: { type: "boolean" },
  once: { type: "boolean" },
} as const;

const REPORT_OPTIONS = {
  output: { type: "string", short: "o" },
  help: { type: "boolean", short: "h" },
} as const;

/** Node's parseArgs error codes, turned into one short line each. */
function rephrase(err: unknown, topic: Topic): UsageError {
  const e = err as { code?: string; message?: string };
  const message = String(e.message ?? err);
  const option = /Option '([^' ,<]+)/.exec(message)?.[1] ??
    /option '([^']+)'/i.exec(message)?.[1];
  const arg = /argument '([^']*)'/.exec(message)?.[1];
  switch (e.code) {
    case "ERR_PARSE_ARGS_UNKNOWN_OPTION":
      return new UsageError(`unknown option '${option ?? "?"}'`, topic);
    case "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL":
      return new UsageError(`unexpected argument '${arg ?? "?"}'`, topic);
    case "ERR_PARSE_ARGS_INVALID_OPTION_VALUE":
      if (message.includes("does not take an argument")) {
        return new UsageError(`option '${option}' does not take a value`, topic);
      }
      return new UsageError(`option '${option}' needs a value`, topic);
    default:
      return new UsageError(message.split("\n")[0], topic);
  }
}

function parseIntIn(
  text: string,
  min: number,
  max: number,
  what: string,
  topic: "listen" | "connect",
): number {
  if (!/^[0-9]+$/.test(text)) {
    throw new UsageError(`${what} must be a number, got '${text}'`, topic);
  }
  const n = Number(text);
  if (n < min || n > max) {
    throw new UsageError(`${what} ${text} out of range ${min}..${max}`, topic);
  }
  return n;
}

function parsePort(text: string, topic: "listen" | "connect"): number {
  return parseIntIn(text, 1, 65535, "port", topic);
}

function parseFaults(
  spec: string | undefined,
  topic: "listen" | "connect",
): FaultOptions | undefined {
  if (spec === undefined) return undefined;
  try {
    return parseFaultSpec(spec);
  } catch (e) {
    throw new UsageError(`bad --faults: ${e instanceof Error ? e.message : String(e)}`, topic);
  }
}

function parseCommon(
  values: Record<string, string | boolean | undefined>,
  topic: "listen" | "connect",
  defaultIp: string,
): CommonOptions {
  const tunIpText = values["tun-ip"] as string | undefined;
  let tunIp = defaultIp;
  if (tunIpText !== undefined) {
    if (parseIpv4Address(tunIpText) === null) {
      throw new UsageError(`bad IPv4 address '${tunIpText}'`, topic);
    }
    tunIp = tunIpText;
  }
  const ipv4Only = values["ipv4-only"] === true;
  const ipv6Only = values["ipv6-only"] === true;
  if (ipv4Only && ipv6Only) {
    throw new UsageError("--ipv4-only and --ipv6-only cannot be used together", topic);
  }
  const tunIp6Text = values["tun-ip6"] as string | undefined;
  let tunIp6: string | undefined;
  if (tunIp6Text !== undefined) {
    if (ipv4Only) throw new UsageError("--tun-ip6 and --ipv4-only cannot be used together", topic);
    const a = parseIpv6Address(tunIp6Text);
    if (a === null) throw new UsageError(`bad IPv6 address '${tunIp6Text}'`, topic);
    // RFC 4291: the stack's own address is a unicast one (not ::, ::1, ff00::/8, ::ffff:0:0/96).
    if (!isIpv6UnicastAddress(a)) {
      throw new UsageError(`--tun-ip6 must be a unicast IPv6 address, got '${tunIp6Text}'`, topic);
    }
    tunIp6 = formatIpv6Address(a);
  }
  const ifname = values.ifname as string | undefined;
  // IFNAMSIZ is 16 including the terminating NUL; '/' and whitespace are not allowed in names.
  if (ifname !== undefined && !/^[^/\s:]{1,15}$/.test(ifname)) {
    throw new UsageError(
      `bad interface name '${ifname}' (1..15 characters, no '/', ':' or spaces)`,
      topic,
    );
  }
  const mtuText = values.mtu as string | undefined;
  // RFC 791 §3.1: every host must accept 576-byte datagrams; the stack needs at least that.
  const mtu = mtuText === undefined ? undefined : parseIntIn(mtuText, 576, 65535, "MTU", topic);
  const pcap = values.pcap as string | undefined;
  if (pcap === "") throw new UsageError("--pcap needs a file name", topic);
  const trace = values.trace as string | undefined;
  if (trace === "") throw new UsageError("--trace needs a file name", topic);
  const levelText = values["log-level"] as string | undefined;
  let logLevel = DEFAULT_LOG_LEVEL;
  if (levelText !== undefined) {
    if (!(LOG_LEVELS as readonly string[]).includes(levelText)) {
      throw new UsageError(
        `bad log level '${levelText}' (one of ${LOG_LEVELS.join(", ")})`,
        topic,
      );
    }
    logLevel = levelText as LogLevel;
  }
  const congestionText = values.congestion as string | undefined;
  if (
    congestionText !== undefined &&
    !(CONGESTION_ALGORITHMS as readonly string[]).includes(congestionText)
  ) {
    throw new UsageError(
      `bad congestion algorithm '${congestionText}' (one of ${CONGESTION_ALGORITHMS.join(", ")})`,
      topic,
    );
  }
  return {
    tunIp,
    tunIp6,
    family: ipv4Only ? 4 : ipv6Only ? 6 : 0,
    ifname,
    mtu,
    pcap,
    trace,
    logLevel,
    congestion: congestionText as Congestion | undefined,
    noDelay: values["no-delay"] === true,
    noOffload: values["no-offload"] === true,
    faults: parseFaults(values.faults as string | undefined, topic),
  };
}

function parseListen(args: string[]): Command {
  let parsed;
  try {
    parsed = parseArgs({ args, options: LISTEN_OPTIONS, strict: true, allowPositionals: false });
  } catch (err) {
    throw rephrase(err, "listen");
  }
  const v = parsed.values;
  if (v.help) return { command: "help", topic: "listen" };
  const common = parseCommon(v, "listen", DEFAULT_LISTEN_IP);
  if (v.echo && v.discard) {
    throw new UsageError("--echo and --discard cannot be used together", "listen");
  }
  const port = v.port === undefined ? DEFAULT_PORT : parsePort(v.port, "listen");
  const mode: ListenMode = v.echo ? "echo" : v.discard ? "discard" : "stdio";
  return { command: "listen", ...common, port, mode, once: v.once === true };
}

function parseConnect(args: string[]): Command {
  let parsed;
  try {
    parsed = parseArgs({ args, options: COMMON_OPTIONS, strict: true, allowPositionals: true });
  } catch (err) {
    throw rephrase(err, "connect");
  }
  if (parsed.values.help) return { command: "help", topic: "connect" };
  const common = parseCommon(parsed.values, "connect", DEFAULT_CONNECT_IP);
  const positionals = parsed.positionals;
  if (positionals.length === 0) throw new UsageError("missing [HOST:]PORT", "connect");
  if (positionals.length > 1) {
    throw new UsageError(`unexpected argument '${positionals[1]}'`, "connect");
  }
  const { host, port } = parseTarget(positionals[0]);
  if (host !== undefined) {
    const v6 = host.includes(":");
    if (v6 && common.family === 4) {
      throw new UsageError(`--ipv4-only cannot connect to an IPv6 address ([${host}])`, "connect");
    }
    if (!v6 && common.family === 6) {
      throw new UsageError(`--ipv6-only cannot connect to an IPv4 address (${host})`, "connect");
    }
  }
  return { command: "connect", ...common, host, port };
}

/** The default report path: the trace's, its `.jsonl` extension (if any) replaced by `.html`. */
export function defaultReportPath(trace: string): string {
  return trace.replace(/\.jsonl$/i, "") + ".html";
}

function parseReport(args: string[]): Command {
  let parsed;
  try {
    parsed = parseArgs({ args, options: REPORT_OPTIONS, strict: true, allowPositionals: true });
  } catch (err) {
    throw rephrase(err, "report");
  }
  if (parsed.values.help) return { command: "help", topic: "report" };
  const positionals = parsed.positionals;
  if (positionals.length === 0) throw new UsageError("missing TRACE file", "report");
  if (positionals.length > 1) {
    throw new UsageError(`unexpected argument '${positionals[1]}'`, "report");
  }
  const trace = positionals[0];
  if (trace === "") throw new UsageError("missing TRACE file", "report");
  const output = parsed.values.output ?? defaultReportPath(trace);
  if (output === "") throw new UsageError("-o needs a file name (or - for stdout)", "report");
  return { command: "report", trace, output };
}

/**
 * `PORT`, `IPV4:PORT` or `[IPV6]:PORT` (RFC 3986 §3.2.2, RFC 5952 §6) into a host in canonical
 * text (undefined for none) and a port, or a one-line UsageError.
 */
function parseTarget(target: string): { host: string | undefined; port: number } {
  const hp = newHostPort();
  const err = parseHostPort(target, hp, true);
  const bracketed = target.startsWith("[");
  const close = target.indexOf("]");
  switch (err) {
    case HostPortError.None:
      return {
        host: hp.family === 6
          ? formatIpv6Address(hp.ipv6)
          : hp.family === 4
          ? target.slice(0, target.indexOf(":"))
          : undefined,
        port: hp.port,
      };
    case HostPortError.BadPort: {
      // The existing port messages: "port must be a number, ..." or "port N out of range ...".
      const portText = bracketed
        ? target.slice(close + 2)
        : target.slice(target.lastIndexOf(":") + 1);
      parsePort(portText, "connect");
      break;
    }
    case HostPortError.MissingPort:
      throw new UsageError(`missing port in '${target}' (HOST:PORT or [IPV6]:PORT)`, "connect");
    case HostPortError.BadIpv4: {
      const colon = target.indexOf(":");
      throw new UsageError(
        `bad IPv4 address '${colon < 0 ? target : target.slice(0, colon)}'`,
        "connect",
      );
    }
    case HostPortError.BadIpv6:
      throw new UsageError(
        `bad IPv6 address '${bracketed ? target.slice(1, close) : target}'`,
        "connect",
      );
    case HostPortError.UnbracketedIpv6:
      throw new UsageError(
        `an IPv6 address needs brackets before a port: [IPV6]:PORT, got '${target}'`,
        "connect",
      );
  }
  throw new UsageError(`bad target '${target}' (PORT, HOST:PORT or [IPV6]:PORT)`, "connect");
}

/**
 * Parses the command line (without the program name).
 * @throws {UsageError} on any mistake; the message is one line.
 * @example
 * ```ts
 * import { parseCli } from "./args.ts";
 * const cmd = parseCli(["listen", "--port", "8080", "--echo"]);
 * if (cmd.command === "listen") console.log(cmd.port, cmd.mode); // 8080 "echo"
 * ```
 */
export function parseCli(args: readonly string[]): Command {
  const [first, ...rest] = args;
  switch (first) {
    case "listen":
      return parseListen(rest);
    case "connect":
      return parseConnect(rest);
    case "report":
      return parseReport(rest);
    case "-h":
    case "--help":
    case "help":
      return { command: "help" };
    case "--version":
    case "-V":
      return { command: "version" };
    case undefined:
      throw new UsageError("missing command (listen, connect or report)");
    default:
      if (first.startsWith("-")) throw new UsageError(`unknown option '${first}'`);
      throw new UsageError(`unknown command '${first}' (listen, connect or report)`);
  }
}
