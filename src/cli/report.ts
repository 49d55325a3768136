/**
 * `tcptun report TRACE [-o FILE]`: reads a connection trace (docs/trace.md) and writes the
 * self-contained HTML report of `src/report/`.
 * @module
 */

import type { ReportCommand } from "./args.ts";
import type { Logger } from "./log.ts";
import { parseTrace, TraceError } from "../report/reader.ts";
import { renderReport } from "../report/html.ts";

/** What `runReport` touches outside its arguments. */
export interface ReportEnv {
  /** Where `-o -` writes the page. */
  stdout: WritableStream<Uint8Array>;
  /** Failures, as `error: …` lines. */
  logger: Logger;
  /** Writes one line to stderr whatever the log level (the "wrote FILE" line). */
  announce: (line: string) => void;
}

function baseName(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}

/**
 * Runs `tcptun report`: 0 when the report was written, 1 when the trace cannot be read or
 * is not a valid trace (the first bad line is named), or the output cannot be written.
 *
 * @example
 * ```ts ignore
 * import { runReport } from "./report.ts";
 * import { createLogger } from "./log.ts";
 * const status = await runReport(
 *   { command: "report", trace: "s.jsonl", output: "s.html" },
 *   { stdout: Deno.stdout.writable, logger: createLogger("warn"), announce: console.error },
 * );
 * ```
 */
export async function runReport(cmd: ReportCommand, env: ReportEnv): Promise<number> {
  let text: string;
  try {
    text = await Deno.readTextFile(cmd.trace);
  } catch (err) {
    env.logger.error(`cannot read trace ${cmd.trace}: ${(err as Error).message}`);
    return 1;
  }
  let trace;
  try {
    trace = parseTrace(text);
  } catch (err) {
    if (!(err instanceof TraceError)) throw err;
    env.logger.error(`${cmd.trace}: ${err.message}`);
    return 1;
  }
  const html = renderReport(trace, { source: baseName(cmd.trace) });
  const bytes = new TextEncoder().encode(html);
  if (cmd.output === "-") {
    const w = env.stdout.getWriter();
    try {
      await w.write(bytes);
    } catch (err) {
      // A reader that stops early (`| head`) is not a failure.
      if (!(err instanceof Deno.errors.BrokenPipe)) throw err;
    } finally {
      w.releaseLock();
    }
    return 0;
  }
  try {
    await Deno.writeFile(cmd.output, bytes);
  } catch (err) {
    env.logger.error(`cannot write report ${cmd.output}: ${(err as Error).message}`);
    return 1;
  }
  const conns = new Set(trace.events.map((e) => e.c)).size;
  env.announce(`wrote ${cmd.output} (${conns} connection${conns === 1 ? "" : "s"})`);
  return 0;
}
