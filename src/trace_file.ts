/**
 * Writes connection trace events as JSON lines (docs/trace.md): a header line, then one line
 * per event, `{"t":12.345,"c":1,"ev":"seg",...}`. Lines are gathered in memory and written in
 * blocks, so tracing a bulk transfer costs one write per block, not per event.
 * @module
 */

import { TRACE_VERSION, type TraceEvent } from "./tcp/trace.ts";

/** Bytes gathered before they are written. */
const FLUSH_BYTES = 256 * 1024;

/**
 * A trace file being written.
 *
 * @example
 * ```ts ignore
 * import { openStack } from "./stack.ts";
 * import { TraceFile } from "./trace_file.ts";
 * const trace = TraceFile.create("session.trace.jsonl");
 * const stack = await openStack({ trace: trace.sink });
 * // ... later
 * await stack.close();
 * trace.close();
 * ```
 */
export class TraceFile {
  readonly #file: Deno.FsFile;
  readonly #encoder = new TextEncoder();
  #lines: string[] = [];
  #bytes = 0;
  #closed = false;
  /** Events written so far. */
  events = 0;

  /** Pass this to `openStack({ trace })` (or `StackCore`). */
  readonly sink = (conn: number, event: TraceEvent, nowMs: number): void => {
    if (this.#closed) return;
    const line = `{"t":${round3(nowMs)},"c":${conn},${JSON.stringify(event).slice(1)}\n`;
    this.#lines.push(line);
    this.#bytes += line.length;
    this.events++;
    if (this.#bytes >= FLUSH_BYTES) this.flush();
  };

  private constructor(file: Deno.FsFile) {
    this.#file = file;
    const header = {
      trace: "tcptun",
      v: TRACE_VERSION,
      start: new Date().toISOString(),
    };
    this.#lines.push(JSON.stringify(header) + "\n");
  }

  /** Creates (or truncates) `path` for writing. */
  static create(path: string | URL): TraceFile {
    return new TraceFile(Deno.openSync(path, { write: true, create: true, truncate: true }));
  }

  /** Writes what is gathered. */
  flush(): void {
    if (this.#lines.length === 0) return;
    const data = this.#encoder.encode(this.#lines.join(""));
    this.#lines = [];
    this.#bytes = 0;
    let off = 0;
    while (off < data.length) off += this.#file.writeSync(data.subarray(off));
  }

  /** Writes what is gathered and closes the file. */
  close(): void {
    if (this.#closed) return;
    this.flush();
    this.#closed = true;
    this.#file.close();
  }
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}
