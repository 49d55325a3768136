/**
 * The `tcptun` command: `tcptun listen ...`, `tcptun connect [HOST:]PORT ...` and
 * `tcptun report TRACE [-o FILE]`.
 *
 * Exit status: 0 success, 1 runtime error (one `error: ...` line), 2 bad usage.
 * @module
 */

import denoConfig from "./deno.json" with { type: "json" };
import { type Command, helpText, parseCli, SYNOPSIS, UsageError } from "./src/cli/args.ts";
import type { CliEnv, OpenStack } from "./src/cli/common.ts";
import { runConnect } from "./src/cli/connect.ts";
import { runListen } from "./src/cli/listen.ts";
import { runReport } from "./src/cli/report.ts";
import { createLogger, type Logger, writeStderr } from "./src/cli/log.ts";
import { onShutdownSignal } from "./src/cli/signals.ts";
import { createTap, createTraceSink } from "./src/cli/tap.ts";
import { TraceFile } from "./src/trace_file.ts";
import { PcapWriter } from "./src/pcap.ts";

/** The program's version, from `deno.json`. */
export const VERSION: string = denoConfig.version;

/** Exit status for bad usage. */
export const EXIT_USAGE = 2;
/** Exit status for a runtime failure. */
export const EXIT_FAILURE = 1;

/** Replaceable parts of the program's surroundings, for tests. */
export interface MainOverrides {
  /** Used instead of `openStack` from `src/stack.ts`. */
  openStack?: OpenStack;
  /** Used instead of `Deno.stdin.readable`. */
  stdin?: ReadableStream<Uint8Array>;
  /** Used instead of `Deno.stdout.writable`. */
  stdout?: WritableStream<Uint8Array>;
  /** Receives stderr lines (without newline) instead of stderr. */
  stderr?: (line: string) => void;
  /** Resolves to request a shutdown, instead of SIGINT/SIGTERM. */
  shutdown?: Promise<unknown>;
}

const PERMISSION_CODES = new Set(["EPERM", "EACCES"]);

/** Whether `err` (or its cause) says the device could not be opened for lack of privilege. */
function isPermissionError(err: unknown): boolean {
  for (let e = err, depth = 0; e !== undefined && e !== null && depth < 3; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && PERMISSION_CODES.has(code)) return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

function tunDeviceName(): string {
  return Deno.build.os === "darwin" ? "the utun device" : "/dev/net/tun";
}

/** The capacity asked for a stdin pipe (Linux's default /proc/sys/fs/pipe-max-size). */
const STDIN_PIPE_BYTES = 1 << 20;

async function loadOpenStack(): Promise<OpenStack> {
  // Loaded on demand: `--help` and usage errors never load the stack or its FFI bindings.
  const mod = await import("./src/stack.ts");
  const openStack: OpenStack = mod.openStack;
  return openStack;
}

/**
 * The process's stdin as a stream. When it is a pipe (`head -c … | tcptun connect`), the pipe is
 * first grown to 1 MiB, so that each read brings up to 1 MiB instead of 64 KiB.
 */
async function processStdin(): Promise<ReadableStream<Uint8Array>> {
  try {
    const { growPipe } = await import("./ffi/libc.ts");
    growPipe(0, STDIN_PIPE_BYTES);
  } catch {
    // Best effort: no FFI (permission) or no libc; the pipe keeps its size.
  }
  return Deno.stdin.readable;
}

/** Parses `args`, or prints the one-line error and the usage hint and returns undefined. */
function parseOrReport(args: string[], stderrLine: (line: string) => void): Command | undefined {
  try {
    return parseCli(args);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    stderrLine(`error: ${err.message}`);
    stderrLine(`usage: ${SYNOPSIS[err.topic ?? "general"]}`);
    return undefined;
  }
}

/**
 * Runs the command line `args` (without the program name) and returns the exit status.
 * @example
 * ```ts
 * import { main } from "./main.ts";
 * const status = await main(["--version"]); // prints "tcptun 0.1.0"
 * console.log(status); // 0
 * ```
 */
export async function main(args: string[], overrides: MainOverrides = {}): Promise<number> {
  const stderrLine = overrides.stderr ?? ((line: string) => writeStderr(line + "\n"));
  const color = overrides.stderr === undefined && !Deno.noColor && Deno.stderr.isTerminal();
  const cmd = parseOrReport(args, stderrLine);
  if (cmd === undefined) return EXIT_USAGE;
  if (cmd.command === "report") {
    return await runReport(cmd, {
      stdout: overrides.stdout ?? Deno.stdout.writable,
      logger: createLogger("warn", { color, write: stderrLine }),
      announce: stderrLine,
    });
  }
  if (cmd.command !== "listen" && cmd.command !== "connect") {
    const text = cmd.command === "help" ? helpText(cmd.topic) : `tcptun ${VERSION}`;
    const out = new TextEncoder().encode(text + "\n");
    if (overrides.stdout !== undefined) {
      const w = overrides.stdout.getWriter();
      await w.write(out);
      w.releaseLock();
    } else {
      for (let off = 0; off < out.length;) off += Deno.stdout.writeSync(out.subarray(off));
    }
    return 0;
  }

  const logger: Logger = createLogger(cmd.logLevel, { color, write: stderrLine });
  let pcap: PcapWriter | undefined;
  if (cmd.pcap !== undefined) {
    try {
      pcap = PcapWriter.create(cmd.pcap);
    } catch (err) {
      logger.error(`cannot open capture file ${cmd.pcap}: ${(err as Error).message}`);
      return EXIT_FAILURE;
    }
  }
  let traceFile: TraceFile | undefined;
  if (cmd.trace !== undefined) {
    try {
      traceFile = TraceFile.create(cmd.trace);
    } catch (err) {
      pcap?.close();
      logger.error(`cannot open trace file ${cmd.trace}: ${(err as Error).message}`);
      return EXIT_FAILURE;
    }
  }
  const signals = overrides.shutdown === undefined ? onShutdownSignal() : undefined;
  try {
    const env: CliEnv = {
      openStack: overrides.openStack ?? await loadOpenStack(),
      stdin: overrides.stdin ?? await processStdin(),
      stdout: overrides.stdout ?? Deno.stdout.writable,
      logger,
      announce: stderrLine,
      shutdown: overrides.shutdown ?? signals!.requested,
      tap: createTap({ logger, color, pcap }),
      trace: createTraceSink({ logger, file: traceFile }),
    };
    return cmd.command === "listen" ? await runListen(cmd, env) : await runConnect(cmd, env);
  } catch (err) {
    if (isPermissionError(err)) {
      logger.error(
        `cannot open ${tunDeviceName()}: permission denied (run as root or with CAP_NET_ADMIN)`,
      );
    } else {
      logger.error(err instanceof Error ? err.message : String(err));
      if (err instanceof Error && err.stack) logger.debug(err.stack);
    }
    return EXIT_FAILURE;
  } finally {
    signals?.dispose();
    if (traceFile !== undefined) {
      try {
        traceFile.close();
        logger.info(`wrote ${traceFile.events} trace events to ${cmd.trace}`);
      } catch (err) {
        logger.error(`cannot write trace file ${cmd.trace}: ${(err as Error).message}`);
      }
    }
    if (pcap !== undefined) {
      try {
        pcap.close();
        logger.info(`wrote ${pcap.packets} packets to ${cmd.pcap}`);
      } catch (err) {
        logger.error(`cannot write capture file ${cmd.pcap}: ${(err as Error).message}`);
      }
    }
  }
}

if (import.meta.main) {
  // Exit explicitly: a pending stdin read must not keep the process alive after shutdown.
  Deno.exit(await main(Deno.args));
}
