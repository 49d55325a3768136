/**
 * The byte pumps behind the CLI's modes, written against plain Web Streams so they run without
 * a stack: bridge a connection with stdin/stdout (netcat-like), echo, discard.
 * @module
 */

/** The part of a connection the pumps use; `TcpConn` satisfies it. */
export interface ByteDuplex {
  /** Bytes from the peer; ends at the peer's FIN, errors on reset or timeout. */
  readonly readable: ReadableStream<Uint8Array>;
  /** Bytes to the peer; closing it sends FIN. */
  readonly writable: WritableStream<Uint8Array>;
}

/** A read result from an `InputSource`; `error` is set when the input failed rather than ended. */
export type InputResult =
  | { done: false; value: Uint8Array }
  | { done: true; value?: undefined; error?: unknown };

/** Bytes read from the input at most per chunk (a stdin pipe is grown to 1 MiB by main.ts). */
const INPUT_CHUNK = 1024 * 1024;

/**
 * One reader over stdin shared by successive connections.
 *
 * A read in progress when a connection ends is not lost: `abandon()` releases the waiting
 * consumer, and the chunk, when it arrives, goes to the next `read()`. At most one read of the
 * underlying stream is in flight.
 */
export class InputSource {
  #reader: ReadableStreamDefaultReader<Uint8Array> | null = null;
  /**
   * With a byte stream (stdin is one), reads go into one reused buffer: a chunk handed out
   * is consumed (written into the connection's send ring) before the next read is asked for.
   */
  #byob: ReadableStreamBYOBReader | null = null;
  #spare: ArrayBuffer | null = null;
  #buffered: InputResult | null = null;
  #inflight = false;
  #waiter: ((r: InputResult | null) => void) | null = null;
  #ended = false;

  /** @param stream the input; locked for the life of the source */
  constructor(stream: ReadableStream<Uint8Array>) {
    try {
      this.#byob = stream.getReader({ mode: "byob" });
    } catch {
      this.#reader = stream.getReader();
    }
  }

  /** True once the input reported its end (or failed), and the end was consumed. */
  get ended(): boolean {
    return this.#ended;
  }

  /**
   * The next chunk, the end of input, or `null` when `abandon()` released this read.
   * Only one read may wait at a time.
   */
  read(): Promise<InputResult | null> {
    if (this.#ended) return Promise.resolve({ done: true });
    if (this.#buffered !== null) {
      const r = this.#buffered;
      this.#buffered = null;
      if (r.done) this.#ended = true;
      return Promise.resolve(r);
    }
    if (this.#waiter !== null) throw new Error("InputSource: a read is already waiting");
    return new Promise((resolve) => {
      this.#waiter = resolve;
      if (!this.#inflight) this.#pull();
    });
  }

  #pull(): void {
    this.#inflight = true;
    let next: Promise<ReadableStreamReadResult<Uint8Array>>;
    if (this.#byob) {
      const buf = this.#spare ?? new ArrayBuffer(INPUT_CHUNK);
      this.#spare = null;
      next = this.#byob.read(new Uint8Array(buf));
    } else {
      next = this.#reader!.read();
    }
    next.then(
      (r): InputResult => {
        if (r.done) return { done: true };
        if (this.#byob) this.#spare = r.value.buffer as ArrayBuffer; // lent until the next read
        return { done: false, value: r.value };
      },
      (error): InputResult => ({ done: true, error }),
    ).then((r) => {
      this.#inflight = false;
      const w = this.#waiter;
      this.#waiter = null;
      if (w === null) {
        this.#buffered = r;
      } else {
        if (r.done) this.#ended = true;
        w(r);
      }
    });
  }

  /** Releases a waiting `read()` with `null`; the chunk it waited for stays for the next read. */
  abandon(): void {
    const w = this.#waiter;
    this.#waiter = null;
    w?.(null);
  }

  /** Stops reading: cancels the underlying stream without waiting for it. */
  cancel(): void {
    this.abandon();
    this.#ended = true;
    (this.#byob ?? this.#reader)!.cancel().catch(() => {});
  }
}

/**
 * Copies `conn.readable` into `out` until the peer's FIN.
 * @returns bytes copied
 * @throws the connection's error (reset, timeout) or the output's
 */
export async function copyToOutput(
  readable: ReadableStream<Uint8Array>,
  out: WritableStreamDefaultWriter<Uint8Array>,
): Promise<number> {
  const reader = readable.getReader();
  let bytes = 0;
  try {
    for (;;) {
      const r = await reader.read();
      if (r.done) return bytes;
      bytes += r.value.length;
      await out.write(r.value);
    }
  } finally {
    reader.releaseLock();
  }
}

/**
 * Copies the shared input into `writer` until the input ends (then closes `writer`: FIN) or a
 * read is abandoned.
 * @returns `"eof"` when the input ended and FIN was queued, `"abandoned"` otherwise
 */
export async function copyFromInput(
  input: InputSource,
  writer: WritableStreamDefaultWriter<Uint8Array>,
): Promise<"eof" | "abandoned"> {
  for (;;) {
    const r = await input.read();
    if (r === null) return "abandoned";
    if (r.done) {
      await writer.close();
      return "eof";
    }
    await writer.write(r.value);
  }
}

/** How a bridged connection ended. */
export interface BridgeResult {
  /** Bytes from the peer to the output. */
  bytesOut: number;
  /** Whether the input ended (and FIN was sent) during this connection. */
  inputEnded: boolean;
}

/**
 * Bridges one connection with the shared input and the output, for `listen` in stdio mode.
 *
 * When the peer closes its side, this returns at once (the caller then closes the connection:
 * CLOSE-WAIT → LAST-ACK, RFC 9293 §3.6), leaving any pending input read for the next
 * connection. When the input ends first, FIN goes out and the peer's remaining data is still
 * copied until its FIN.
 * @throws the connection's error (reset, timeout)
 */
export async function bridgeUntilPeerCloses(
  conn: ByteDuplex,
  input: InputSource,
  out: WritableStreamDefaultWriter<Uint8Array>,
): Promise<BridgeResult> {
  const writer = conn.writable.getWriter();
  let inputEnded = false;
  const up = copyFromInput(input, writer).then((how) => {
    inputEnded = how === "eof";
  });
  // Errors writing to a dying connection show up on the readable side too.
  up.catch(() => {});
  try {
    const bytesOut = await copyToOutput(conn.readable, out);
    return { bytesOut, inputEnded };
  } finally {
    input.abandon();
  }
}

/**
 * Bridges one connection with the input and the output until both directions are closed, for
 * `connect`: input EOF sends FIN (half-close, RFC 9293 §3.6), the peer's FIN ends the output
 * copy, and the connection may stay half-open in either direction meanwhile.
 * @throws the first error of either direction (reset, timeout, output failure)
 */
export async function bridgeBothWays(
  conn: ByteDuplex,
  input: InputSource,
  out: WritableStreamDefaultWriter<Uint8Array>,
): Promise<{ bytesIn: number; bytesOut: number }> {
  const writer = conn.writable.getWriter();
  let bytesIn = 0;
  const up = (async () => {
    for (;;) {
      const r = await input.read();
      if (r === null) return;
      if (r.done) {
        if (r.error !== undefined) throw r.error;
        await writer.close();
        return;
      }
      bytesIn += r.value.length;
      await writer.write(r.value);
    }
  })();
  const down = copyToOutput(conn.readable, out);
  const [, bytesOut] = await Promise.all([up, down]);
  return { bytesIn, bytesOut };
}

/** What `echo` needs of a connection: `Deno.Conn`-style reads and writes, and a half close. */
export interface Echoable extends Discardable {
  /** Writes bytes of `p`; resolves with how many were taken (at least one). */
  write(p: Uint8Array): Promise<number>;
}

/**
 * Echo service (RFC 862 in spirit): every byte back to the sender; the peer's FIN is answered
 * with ours once everything was echoed. Reads and writes go straight between the connection's
 * rings through one buffer, with no stream in between: a round trip costs few turns of the
 * event loop.
 * @returns bytes echoed
 */
export async function echo(conn: Echoable): Promise<number> {
  const buf = new Uint8Array(ECHO_CHUNK);
  let bytes = 0;
  for (;;) {
    const n = await conn.read(buf);
    if (n === null) break;
    bytes += n;
    for (let off = 0; off < n;) off += await conn.write(buf.subarray(off, n));
  }
  await conn.closeWrite();
  return bytes;
}

/** Bytes an echo moves per read. */
const ECHO_CHUNK = 16 * 1024;

/** What `discard` needs of a connection: `Deno.Conn`-style reads and a half close. */
export interface Discardable {
  /** Reads into `p`: the count, or null at the peer's FIN. */
  read(p: Uint8Array): Promise<number | null>;
  /** Sends FIN. */
  closeWrite(): Promise<void>;
}

/**
 * One buffer for every discarding connection: the bytes are dropped as soon as they are
 * counted, so connections can share it, and an idle one holds no buffer of its own.
 */
const DISCARD_SCRATCH = new Uint8Array(64 * 1024);

/**
 * Discard service (RFC 863 in spirit): read and drop everything until the peer's FIN, then close
 * our side.
 * @returns bytes read
 */
export async function discard(conn: Discardable): Promise<number> {
  let bytes = 0;
  for (;;) {
    const n = await conn.read(DISCARD_SCRATCH);
    if (n === null) break;
    bytes += n;
  }
  await conn.closeWrite();
  return bytes;
}
