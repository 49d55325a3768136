/**
 * Reads a connection trace (JSON lines, docs/trace.md): checks the header's version and every
 * event line with `validateTraceEvent`, and stops at the first bad line with its number.
 * @module
 */

import { TRACE_VERSION, type TraceEvent, validateTraceEvent } from "../tcp/trace.ts";

/** The event types this reader knows; newer ones are skipped (docs/trace.md). */
const KNOWN = new Set([
  "open",
  "seg",
  "state",
  "rtt",
  "cc",
  "recovery",
  "rto",
  "probe",
  "mss",
  "close",
]);

/** A trace event with the time and connection number the writer added. */
export type TimedEvent = TraceEvent & {
  /** Milliseconds since the stack started. */
  t: number;
  /** The connection's number, from 1. */
  c: number;
};

/** A parsed trace. */
export interface Trace {
  /** Schema version from the header. */
  version: number;
  /** The header's start time (ISO 8601), as written. */
  start: string;
  /** Every event of a known type, in file order. */
  events: TimedEvent[];
  /** Events of types this reader does not know (a newer writer), skipped. */
  skipped: number;
}

/** A trace that cannot be read: `line` is the 1-based line number of the first problem. */
export class TraceError extends Error {
  /** 1-based line number of the bad line. */
  readonly line: number;
  /**
   * @param line 1-based line number
   * @param reason what is wrong with it
   */
  constructor(line: number, reason: string) {
    super(`line ${line}: ${reason}`);
    this.name = "TraceError";
    this.line = line;
  }
}

function excerpt(text: string): string {
  return text.length <= 80 ? text : text.slice(0, 77) + "...";
}

/**
 * Parses the text of a trace file. Blank lines are ignored; anything else that is not a
 * valid header (first line) or event throws a `TraceError` naming the line.
 *
 * @example
 * ```ts
 * import { parseTrace } from "./reader.ts";
 * const trace = parseTrace(
 *   '{"trace":"tcptun","v":1,"start":"2026-11-26T17:00:00.000Z"}\n' +
 *     '{"t":1.5,"c":1,"ev":"close","reason":"finished"}\n',
 * );
 * console.log(trace.events.length); // 1
 * ```
 */
export function parseTrace(text: string): Trace {
  const lines = text.split("\n");
  let header: Record<string, unknown> | undefined;
  const events: TimedEvent[] = [];
  let skipped = 0;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].endsWith("\r") ? lines[i].slice(0, -1) : lines[i];
    if (line.trim() === "") continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (e) {
      throw new TraceError(i + 1, `not JSON (${(e as Error).message}): ${excerpt(line)}`);
    }
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      throw new TraceError(i + 1, `not a JSON object: ${excerpt(line)}`);
    }
    const obj = value as Record<string, unknown>;
    if (header === undefined) {
      if (obj.trace !== "tcptun") {
        throw new TraceError(
          i + 1,
          `not a tcptun trace (the first line must be {"trace":"tcptun","v":${TRACE_VERSION},...})`,
        );
      }
      if (obj.v !== TRACE_VERSION) {
        throw new TraceError(
          i + 1,
          `trace version ${
            JSON.stringify(obj.v)
          } is not supported (this reader knows ${TRACE_VERSION})`,
        );
      }
      header = obj;
      continue;
    }
    const bad = validateTraceEvent(obj);
    if (bad !== null) throw new TraceError(i + 1, `${bad}: ${excerpt(line)}`);
    if (!KNOWN.has(obj.ev as string)) {
      skipped++;
      continue;
    }
    events.push(obj as unknown as TimedEvent);
  }
  if (header === undefined) throw new TraceError(1, "empty file: no trace header");
  return {
    version: header.v as number,
    start: typeof header.start === "string" ? header.start : "",
    events,
    skipped,
  };
}

/**
 * Reads and parses the trace file at `path` (see `parseTrace`).
 *
 * @example
 * ```ts ignore
 * import { readTrace } from "./reader.ts";
 * const trace = await readTrace("session.trace.jsonl");
 * console.log(trace.events.length);
 * ```
 */
export async function readTrace(path: string | URL): Promise<Trace> {
  return parseTrace(await Deno.readTextFile(path));
}
