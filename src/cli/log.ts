/**
 * A small leveled logger writing one line per message to stderr, with ANSI colours only when
 * asked for (the CLI asks when stderr is a terminal).
 *
 * Callers on hot paths check `enabled(level)` before building a message, so a quiet logger costs
 * one comparison per call site.
 * @module
 */

import { LOG_LEVELS, type LogLevel } from "./args.ts";

export type { LogLevel } from "./args.ts";

/** The logger the CLI hands to the stack (`StackOptions.logger`) and uses itself. */
export interface Logger {
  /** The most verbose level that is written. */
  readonly level: LogLevel;
  /** Whether messages at `level` are written. */
  enabled(level: LogLevel): boolean;
  /** A failure the user must see. Written as `error: <msg>`. */
  error(msg: string): void;
  /** Something odd that did not stop the program. Written as `warning: <msg>`. */
  warn(msg: string): void;
  /** Connection life cycle and per-connection statistics. */
  info(msg: string): void;
  /** One line per segment, and other detail. */
  debug(msg: string): void;
  /** Everything. */
  trace(msg: string): void;
}

/** Options for `createLogger`. */
export interface LoggerOptions {
  /** Use ANSI colours (only when stderr is a terminal). Default false. */
  color?: boolean;
  /** Where lines go (without a trailing newline). Default: stderr, synchronously. */
  write?: (line: string) => void;
}

const RANK: Record<LogLevel, number> = { error: 0, warn: 1, info: 2, debug: 3, trace: 4 };

/** ANSI SGR sequences the CLI uses. */
export const ANSI = {
  reset: "\x1b[0m",
  red: "\x1b[31m",
  yellow: "\x1b[33m",
  green: "\x1b[32m",
  cyan: "\x1b[36m",
  dim: "\x1b[2m",
  bold: "\x1b[1m",
} as const;

const encoder = new TextEncoder();

/** Writes `text` to stderr synchronously, retrying partial writes. */
export function writeStderr(text: string): void {
  const bytes = encoder.encode(text);
  let off = 0;
  while (off < bytes.length) off += Deno.stderr.writeSync(bytes.subarray(off));
}

/** The default sink: one line to stderr. */
function stderrLine(line: string): void {
  writeStderr(line + "\n");
}

/**
 * Creates a logger that writes messages at `level` and below.
 * @example
 * ```ts
 * import { createLogger } from "./log.ts";
 * const lines: string[] = [];
 * const log = createLogger("info", { write: (l) => lines.push(l) });
 * log.info("listening");
 * log.debug("not written");
 * if (log.enabled("debug")) log.debug(`expensive ${JSON.stringify({})}`);
 * console.log(lines); // ["listening"]
 * ```
 */
export function createLogger(level: LogLevel, opts: LoggerOptions = {}): Logger {
  if (!(LOG_LEVELS as readonly string[]).includes(level)) {
    throw new RangeError(`unknown log level '${level}'`);
  }
  const rank = RANK[level];
  const write = opts.write ?? stderrLine;
  const color = opts.color === true;
  const paint = (sgr: string, text: string) => color ? sgr + text + ANSI.reset : text;
  return {
    level,
    enabled: (l) => RANK[l] <= rank,
    // Errors are always written: "error" is the quietest level there is.
    error: (msg) => write(paint(ANSI.red + ANSI.bold, "error:") + " " + msg),
    warn: (msg) => {
      if (rank >= 1) write(paint(ANSI.yellow, "warning:") + " " + msg);
    },
    info: (msg) => {
      if (rank >= 2) write(msg);
    },
    debug: (msg) => {
      if (rank >= 3) write(msg);
    },
    trace: (msg) => {
      if (rank >= 4) write(paint(ANSI.dim, msg));
    },
  };
}

/** Formats a byte count with binary units: `512 B`, `1.5 KiB`, `12.0 MiB`. */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(1)} ${units[i]}`;
}

/** Formats a transfer rate in bits per second: `8.0 kbit/s`, `940.1 Mbit/s`. */
export function formatRate(bytes: number, ms: number): string {
  if (ms <= 0) return "- bit/s";
  const bps = bytes * 8 * 1000 / ms;
  if (bps < 1000) return `${bps.toFixed(0)} bit/s`;
  const units = ["kbit/s", "Mbit/s", "Gbit/s"];
  let v = bps / 1000;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${v.toFixed(1)} ${units[i]}`;
}
