/**
 * What a user holds: `TcpListener` and `TcpConn`, with Web Streams and backpressure.
 *
 * Reading: bytes reach `readable` only as fast as the application reads them, and the
 * receive window the peer sees opens only when they are read. Writing: a `write` on
 * `writable` resolves once the bytes are in the send buffer, so a slow peer slows the
 * writer instead of growing memory.
 * @module
 */

import { type ConnError, type ConnEvent, type ConnStats, State } from "./tcp/connection.ts";
import type { ConnectionDefaults, ConnHandle, CoreListener, TcpStack } from "./stack.ts";
import type { KeepAliveOptions } from "./tcp/connection.ts";
import { formatIpv4Address } from "./wire/ipv4.ts";

/** Turns a connection failure into the Deno error class a user already knows. */
export function connectionError(e: ConnError): Error {
  switch (e) {
    case "refused":
      return new Deno.errors.ConnectionRefused("connection refused");
    case "reset":
      return new Deno.errors.ConnectionReset("connection reset by peer");
    case "timeout":
      return new Deno.errors.TimedOut("connection timed out");
  }
}

/** Bytes per chunk handed to a default reader of `readable`. */
const READ_CHUNK = 64 * 1024;

interface Deferred<T> {
  promise: Promise<T>;
  resolve: (v: T) => void;
  reject: (e: unknown) => void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/**
 * A TCP connection of a tcptun stack.
 *
 * It is an `EventTarget` for two asynchronous reports of RFC 9293: `"urgent"` when the peer
 * marks data urgent that has not been read yet (§3.8.5, MUST-32; `urgentPending` says how
 * much), and `"stalled"` when a segment has gone unanswered R1 times, so the peer or the
 * path may be failing (§3.8.3; the connection goes on until its timeout).
 *
 * @example
 * ```ts ignore
 * const conn = await stack.connect({ port: 80 });
 * conn.addEventListener("stalled", () => console.error("the peer is not answering"));
 * const w = conn.writable.getWriter();
 * await w.write(new TextEncoder().encode("GET / HTTP/1.0\r\n\r\n"));
 * await w.close(); // FIN
 * for await (const chunk of conn.readable) console.log(chunk.length);
 * ```
 */
export class TcpConn extends EventTarget {
  /** Our end of the connection. */
  readonly localAddr: Deno.NetAddr;
  /** The peer's end. */
  readonly remoteAddr: Deno.NetAddr;
  /** Bytes from the peer; ends at the peer's FIN, errors on reset or timeout. */
  readonly readable: ReadableStream<Uint8Array>;
  /** Bytes to the peer; `close()` sends FIN after the queued data, `abort()` resets. */
  readonly writable: WritableStream<Uint8Array>;
  /** Settles when the connection has finished: resolves after a clean close, rejects on failure. */
  readonly closed: Promise<void>;

  readonly #stack: TcpStack;
  readonly #h: ConnHandle;
  #eof = false;
  #error: Error | null = null;
  #pullWaiter: Deferred<void> | null = null;
  #spaceWaiter: Deferred<void> | null = null;
  /** A write is being copied into the send buffer. */
  #writing = false;
  /** closeWrite() arrived during a write: FIN once that write is queued. */
  #finAfterWrite: Deferred<void> | null = null;
  readonly #established = deferred<void>();
  readonly #closed = deferred<void>();

  /** @internal Connections come from `TcpStack.connect` and `TcpListener.accept`. */
  constructor(stack: TcpStack, h: ConnHandle) {
    super();
    this.#stack = stack;
    this.#h = h;
    const c = h.conn;
    this.localAddr = {
      transport: "tcp",
      hostname: formatIpv4Address(c.localAddr),
      port: c.localPort,
    };
    this.remoteAddr = {
      transport: "tcp",
      hostname: formatIpv4Address(c.remoteAddr),
      port: c.remotePort,
    };
    this.closed = this.#closed.promise;
    this.closed.catch(() => {});
    this.#established.promise.catch(() => {});
    // A byte stream (WHATWG Streams "bytes"): BYOB readers get the received bytes copied
    // straight from the receive ring into their buffer; default readers get one chunk of
    // exactly what is there (up to READ_CHUNK bytes), allocated only when bytes are there, so
    // an idle connection with a pending read holds no buffer. Nothing is buffered here:
    // bytes wait in the ring, where they count against the window the peer sees.
    this.readable = new ReadableStream({
      type: "bytes",
      pull: (controller) => this.#pull(controller),
      cancel: () => {
        // The application will read no more: consume whatever comes.
        this.#h.discardInput();
      },
    }, { highWaterMark: 0 });
    this.writable = new WritableStream<Uint8Array>({
      write: (chunk) => this.#write(chunk),
      close: () => {
        this.#h.closeWrite();
      },
      abort: () => this.abort(),
    });
    stack._track(this);
    h.attach({
      readable: () => this.#wakePull(),
      event: (ev, err) => this.#onEvent(ev, err),
    });
    if (c.state >= State.Established) this.#established.resolve(); // accepted ones are
  }

  /** @internal Resolves when the handshake completes. */
  get _established(): Promise<void> {
    return this.#established.promise;
  }

  /** Sends FIN once the data written so far has been queued; reading goes on. */
  async closeWrite(): Promise<void> {
    if (!this.writable.locked) {
      await this.writable.close();
      return;
    }
    // Someone holds the writer (a pipe, say): the FIN follows the chunk being written now;
    // chunks written after this call are refused.
    if (this.#writing) {
      this.#finAfterWrite ??= deferred<void>();
      await this.#finAfterWrite.promise;
    } else {
      this.#h.closeWrite();
    }
  }

  /** Closes both directions: FIN after queued data; unread and later data are discarded. */
  close(): void {
    this.#h.discardInput();
    this.#h.close();
    this.#eof = true;
    this.#wakePull();
    this.#failPendingWrite(new Deno.errors.BrokenPipe("connection closed"));
  }

  /** Resets the connection (RST) at once. */
  abort(): void {
    // A local abort is a failure for whoever still reads, writes or awaits `closed`.
    this.#setError(new Deno.errors.ConnectionAborted("connection aborted"));
    this.#h.abort();
  }

  /** Counters of the connection: bytes, segments, retransmissions, RTT, cwnd, state. */
  stats(): ConnStats {
    return this.#h.stats();
  }

  /**
   * Urgent bytes the peer sent that have not been read yet (RFC 9293 §3.8.5, MUST-33). The
   * bytes themselves come inline in `readable`, in order (RFC 6093).
   */
  get urgentPending(): number {
    return this.#h.conn.urgentPending;
  }

  /**
   * Writes `data` as urgent data: the urgent pointer goes after its last byte (RFC 9293
   * §3.8.5, MUST-62). Resolves when it is in the send buffer. New applications should not
   * need this (SHLD-13); it exists for protocols such as Telnet.
   */
  async writeUrgent(data: Uint8Array): Promise<void> {
    await this.#writeAll(data, true);
  }

  /** Turns Nagle's algorithm off (`true`) or on (RFC 9293 §3.7.4, MUST-17). */
  setNoDelay(noDelay = true): void {
    this.#h.conn.opts.noDelay = noDelay;
  }

  /**
   * Turns keep-alive probes on, with optional settings, or off (RFC 9293 §3.8.4, MUST-24).
   * Defaults: first probe after two hours idle (MUST-28), then every 75 s, 9 probes.
   */
  setKeepAlive(keepAlive: boolean | KeepAliveOptions = true): void {
    this.#h.setKeepAlive(keepAlive === false ? null : keepAlive === true ? {} : keepAlive);
  }

  /** Sets the IP Differentiated Services byte of later segments (MUST-48, SHLD-21). */
  setTos(tos: number): void {
    if (!Number.isInteger(tos) || tos < 0 || tos > 255) {
      throw new RangeError(`tos must be an integer from 0 to 255, got ${tos}`);
    }
    this.#h.conn.opts.tos = tos;
  }

  /** Sets the IP time to live of later segments (MUST-49). */
  setTtl(ttl: number): void {
    if (!Number.isInteger(ttl) || ttl < 1 || ttl > 255) {
      throw new RangeError(`ttl must be an integer from 1 to 255, got ${ttl}`);
    }
    this.#h.conn.opts.ttl = ttl;
  }

  /** @internal The application took this connection from the accept queue. */
  _take(): void {
    this.#h.take();
  }

  /** @internal The stack failed or closed under this connection. */
  _fail(e: unknown): void {
    const err = e instanceof Error ? e : new Error(String(e));
    this.#setError(err);
  }

  #onEvent(ev: ConnEvent, err?: ConnError): void {
    switch (ev) {
      case "urgent":
      case "stalled":
        this.dispatchEvent(new Event(ev));
        break;
      case "established":
        this.#established.resolve();
        break;
      case "remote-closed":
        this.#eof = true;
        this.#wakePull();
        break;
      case "send-space":
        this.#spaceWaiter?.resolve();
        this.#spaceWaiter = null;
        break;
      case "finished":
        this.#eof = true;
        this.#wakePull();
        this.#established.reject(new Deno.errors.ConnectionAborted("connection closed"));
        this.#spaceWaiter?.reject(new Deno.errors.BrokenPipe("connection closed"));
        this.#spaceWaiter = null;
        this.#closed.resolve();
        this.#stack._untrack(this);
        break;
      case "error":
        this.#setError(connectionError(err ?? "reset"));
        break;
    }
  }

  #setError(e: Error): void {
    if (this.#error) return;
    this.#error = e;
    this.#established.reject(e);
    this.#spaceWaiter?.reject(e);
    this.#spaceWaiter = null;
    this.#wakePull();
    this.#closed.reject(e);
    this.#stack._untrack(this);
  }

  #wakePull(): void {
    const w = this.#pullWaiter;
    if (w) {
      this.#pullWaiter = null;
      w.resolve();
    }
  }

  async #pull(controller: ReadableByteStreamController): Promise<void> {
    for (;;) {
      const unread = this.#h.conn.rcvQueued;
      if (unread > 0) {
        const req = controller.byobRequest;
        if (req?.view) {
          const v = req.view;
          req.respond(this.#h.read(new Uint8Array(v.buffer, v.byteOffset, v.byteLength)));
        } else {
          const chunk = new Uint8Array(Math.min(unread, READ_CHUNK));
          controller.enqueue(chunk.subarray(0, this.#h.read(chunk)));
        }
        return;
      }
      if (this.#error) {
        controller.error(this.#error);
        return;
      }
      if (this.#eof && this.#h.conn.rcvQueued === 0) {
        controller.close();
        controller.byobRequest?.respond(0);
        return;
      }
      this.#pullWaiter = deferred<void>();
      await this.#pullWaiter.promise;
    }
  }

  #failPendingWrite(e: Error): void {
    this.#spaceWaiter?.reject(e);
    this.#spaceWaiter = null;
  }

  async #write(chunk: Uint8Array): Promise<void> {
    this.#writing = true;
    try {
      await this.#writeAll(chunk, false);
    } finally {
      this.#writing = false;
      const fin = this.#finAfterWrite;
      if (fin) {
        this.#finAfterWrite = null;
        this.#h.closeWrite();
        fin.resolve();
      }
    }
  }

  async #writeAll(chunk: Uint8Array, urgent: boolean): Promise<void> {
    let off = 0;
    while (off < chunk.length) {
      if (this.#error) throw this.#error;
      const n = this.#h.write(off === 0 ? chunk : chunk.subarray(off), urgent);
      off += n;
      if (off < chunk.length) {
        if (!this.#h.conn.canSend) {
          throw this.#error ?? new Deno.errors.BrokenPipe("connection is closed for writing");
        }
        if (n === 0) {
          this.#spaceWaiter = deferred<void>();
          await this.#spaceWaiter.promise;
        }
      }
    }
  }
}

/**
 * A listening port of a tcptun stack: an async iterable of accepted connections.
 *
 * @example
 * ```ts ignore
 * const listener = stack.listen({ port: 4444 });
 * for await (const conn of listener) {
 *   conn.readable.pipeTo(conn.writable).catch(() => {});
 * }
 * ```
 */
export class TcpListener implements AsyncIterable<TcpConn> {
  /** The address and port listened on. */
  readonly addr: Deno.NetAddr;
  readonly #stack: TcpStack;
  readonly #core: CoreListener;
  #waiters: Deferred<TcpConn>[] = [];
  #closed = false;

  /** @internal Use `TcpStack.listen`. */
  constructor(stack: TcpStack, port: number, backlog: number, options: ConnectionDefaults = {}) {
    this.#stack = stack;
    this.addr = { transport: "tcp", hostname: stack.tunIp, port };
    this.#core = stack.core.listen(port, backlog, () => this.#serveWaiter(), options);
  }

  /**
   * Connections that completed their handshake and wait for `accept` (at most the backlog;
   * one that closes before it is accepted leaves the queue).
   */
  get pending(): number {
    return this.#core.acceptQueue.length;
  }

  /** The next connection whose handshake completed. Rejects with `BadResource` once closed. */
  accept(): Promise<TcpConn> {
    const h = this.#stack.core.accept(this.#core);
    if (h) return Promise.resolve(new TcpConn(this.#stack, h));
    if (this.#closed) return Promise.reject(new Deno.errors.BadResource("listener is closed"));
    const d = deferred<TcpConn>();
    this.#waiters.push(d);
    return d.promise;
  }

  #serveWaiter(): void {
    const w = this.#waiters.shift();
    if (!w) return;
    const h = this.#stack.core.accept(this.#core);
    if (h) w.resolve(new TcpConn(this.#stack, h));
    else this.#waiters.unshift(w);
  }

  /** Stops listening; connections not yet accepted are reset. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#stack.core.unlisten(this.#core);
    for (const w of this.#waiters) w.reject(new Deno.errors.BadResource("listener is closed"));
    this.#waiters = [];
    this.#stack._unlisten(this);
  }

  /** Accepted connections, one after another, until the listener is closed. */
  async *[Symbol.asyncIterator](): AsyncIterableIterator<TcpConn> {
    while (true) {
      try {
        yield await this.accept();
      } catch (e) {
        if (e instanceof Deno.errors.BadResource) return;
        throw e;
      }
    }
  }
}
