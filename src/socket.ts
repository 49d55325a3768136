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

/** Turns a connection failure into the Deno error class a user already knows. */
export function connectionError(e: ConnError, softError?: string | null): Error {
  switch (e) {
    case "refused":
      return new Deno.errors.ConnectionRefused("connection refused");
    case "reset":
      return new Deno.errors.ConnectionReset("connection reset by peer");
    case "timeout":
      // RFC 9293 §3.9.2.2: a soft error the connection kept explains the timeout.
      return new Deno.errors.TimedOut(
        softError
          ? `connection timed out (${softError.replaceAll("-", " ")})`
          : "connection timed out",
      );
    case "network-unreachable":
      return new Deno.errors.NetworkUnreachable("network unreachable");
    case "host-unreachable":
      return new Deno.errors.NetworkUnreachable("host unreachable");
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
 * Read and write it as Web Streams (`readable`, `writable`) or, as a `Deno.Conn`, with
 * `read(p)` and `write(p)`; both ways take bytes straight from the receive ring and put them
 * straight into the send ring. It is an `EventTarget` for the asynchronous reports of RFC
 * 9293: `"urgent"` when the peer marks data urgent that has not been read yet (§3.8.5,
 * MUST-32; `urgentPending` says how much), `"stalled"` when a segment has gone unanswered R1
 * times, so the peer or the path may be failing (§3.8.3), and `"softerror"` when an ICMP
 * error about data in flight was believed (§3.9.1.8, MUST-47; `softError` names it). The
 * connection goes on after each until its timeout. Reports reach listeners only: an
 * application that adds none (or removes it) has them off (SHLD-20).
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
  readonly #stack: TcpStack;
  readonly #h: ConnHandle;
  // Made on first use: many connections never need them.
  #readable: ReadableStream<Uint8Array> | null = null;
  #writable: WritableStream<Uint8Array> | null = null;
  #localAddr: Deno.NetAddr | null = null;
  #remoteAddr: Deno.NetAddr | null = null;
  #eof = false;
  #error: Error | null = null;
  /** Wakes a reader waiting for bytes, EOF or an error. */
  #readWaiter: (() => void) | null = null;
  #spaceWaiter: Deferred<void> | null = null;
  /** A write is being copied into the send buffer. */
  #writing = false;
  /** closeWrite() arrived during a write: FIN once that write is queued. */
  #finAfterWrite: Deferred<void> | null = null;
  /** Only a connection being opened (`connect`) waits for its handshake. */
  #established: Deferred<void> | null = null;
  /** `closed`, made on first use; until then `#finished` records how it ended. */
  #closed: Deferred<void> | null = null;
  #finished = false;
  /** A microtask to serve the pending `read` is queued. */
  #serveQueued = false;
  /** That microtask's function, made on the first wake-up of a `read`. */
  #serveTask: (() => void) | null = null;
  /** A pending `read` call: its buffer and how to settle it. */
  #reader:
    | { p: Uint8Array; resolve: (n: number | null) => void; reject: (e: unknown) => void }
    | null = null;

  /** @internal Connections come from `TcpStack.connect` and `TcpListener.accept`. */
  constructor(stack: TcpStack, h: ConnHandle) {
    super();
    this.#stack = stack;
    this.#h = h;
    stack._track(this);
    h.attach(this);
  }

  /** Settles when the connection has finished: resolves after a clean close, rejects on failure. */
  get closed(): Promise<void> {
    if (!this.#closed) {
      this.#closed = deferred<void>();
      this.#closed.promise.catch(() => {});
      if (this.#error) this.#closed.reject(this.#error);
      else if (this.#finished) this.#closed.resolve();
    }
    return this.#closed.promise;
  }

  /** The IP version of the connection: 4 or 6. */
  get family(): 4 | 6 {
    return this.#h.family;
  }

  /**
   * Our end of the connection. The hostname is the address in canonical text, without
   * brackets: `"10.0.0.1"` or `"fdac:1194:20dc::1"` (RFC 5952), as `Deno.Conn` has it.
   */
  get localAddr(): Deno.NetAddr {
    return this.#localAddr ??= {
      transport: "tcp",
      hostname: this.#h.localHostname,
      port: this.#h.conn.localPort,
    };
  }

  /** The peer's end (hostname as in `localAddr`). */
  get remoteAddr(): Deno.NetAddr {
    return this.#remoteAddr ??= {
      transport: "tcp",
      hostname: this.#h.remoteHostname,
      port: this.#h.conn.remotePort,
    };
  }

  /**
   * Bytes from the peer; ends at the peer's FIN, errors on reset or timeout. A byte stream
   * (WHATWG Streams "bytes"): BYOB readers get the bytes copied straight from the receive
   * ring into their buffer; default readers get one chunk of exactly what is there (up to
   * 64 KiB), allocated only then. Nothing is buffered here: bytes wait in the ring, where
   * they count against the window the peer sees.
   */
  get readable(): ReadableStream<Uint8Array> {
    return this.#readable ??= new ReadableStream({
      type: "bytes",
      pull: (controller) => this.#pull(controller),
      cancel: () => {
        // The application will read no more: consume whatever comes.
        this.#h.discardInput();
      },
    }, { highWaterMark: 0 });
  }

  /** Bytes to the peer; `close()` sends FIN after the queued data, `abort()` resets. */
  get writable(): WritableStream<Uint8Array> {
    return this.#writable ??= new WritableStream<Uint8Array>({
      write: (chunk) => this.#write(chunk),
      close: () => {
        this.#h.closeWrite();
      },
      abort: () => this.abort(),
    });
  }

  /** @internal Resolves when the handshake completes. */
  get _established(): Promise<void> {
    if (this.#h.conn.state >= State.Established) return Promise.resolve();
    if (this.#error) return Promise.reject(this.#error);
    this.#established ??= deferred<void>();
    return this.#established.promise;
  }

  /**
   * Reads up to `p.length` bytes into `p`, as `Deno.Conn.read`: resolves with the count, or
   * `null` at the peer's FIN; rejects on reset or timeout.
   */
  read(p: Uint8Array): Promise<number | null> {
    if (this.#reader) return Promise.reject(new Deno.errors.Busy("a read is already pending"));
    const now = this.#tryRead(p);
    if (now !== undefined) return now;
    // Nothing yet: one promise, settled by onReadable/onEvent (no async function frame, so
    // an idle connection with a pending read costs little).
    return new Promise((resolve, reject) => this.#reader = { p, resolve, reject });
  }

  /** The outcome of a read now, or undefined when it has to wait. */
  #tryRead(p: Uint8Array): Promise<number | null> | undefined {
    if (this.#h.conn.rcvQueued > 0) return Promise.resolve(p.length === 0 ? 0 : this.#h.read(p));
    if (this.#error) return Promise.reject(this.#error);
    if (this.#eof) return Promise.resolve(null);
    return undefined;
  }

  /** Settles a pending `read` if it can be now. */
  #serveReader(): void {
    const r = this.#reader;
    if (!r) return;
    if (this.#h.conn.rcvQueued > 0) {
      this.#reader = null;
      r.resolve(r.p.length === 0 ? 0 : this.#h.read(r.p));
    } else if (this.#error) {
      this.#reader = null;
      r.reject(this.#error);
    } else if (this.#eof) {
      this.#reader = null;
      r.resolve(null);
    }
  }

  /**
   * Writes bytes of `p`, as `Deno.Conn.write`: resolves with how many went into the send
   * buffer (at least one, waiting for room when it is full).
   */
  async write(p: Uint8Array): Promise<number> {
    for (;;) {
      if (this.#error) throw this.#error;
      if (p.length === 0) return 0;
      const n = this.#h.write(p);
      if (n > 0) return n;
      if (!this.#h.conn.canSend) {
        throw new Deno.errors.BrokenPipe("connection is closed for writing");
      }
      this.#spaceWaiter = deferred<void>();
      await this.#spaceWaiter.promise;
    }
  }

  /** Sends FIN once the data written so far has been queued; reading goes on. */
  async closeWrite(): Promise<void> {
    if (this.#writable === null) {
      this.#h.closeWrite();
      return;
    }
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
    this.#wakeReader();
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
   * The last ICMP soft error believed for this connection (RFC 9293 §3.9.1.8, MUST-47), such
   * as `"host-unreachable"` or `"network-unreachable"`, or null; a `"softerror"` event tells
   * when it is set.
   */
  get softError(): string | null {
    return this.#h.conn.softError;
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
    this.#h.setNoDelay(noDelay);
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
    this.#h.conn.setIpOptions(this.#h.conn.opts.ttl, tos);
  }

  /** Sets the IP time to live of later segments (MUST-49). */
  setTtl(ttl: number): void {
    if (!Number.isInteger(ttl) || ttl < 1 || ttl > 255) {
      throw new RangeError(`ttl must be an integer from 1 to 255, got ${ttl}`);
    }
    this.#h.conn.setIpOptions(ttl, this.#h.conn.opts.tos);
  }

  /** @internal The stack failed or closed under this connection. */
  _fail(e: unknown): void {
    const err = e instanceof Error ? e : new Error(String(e));
    this.#setError(err);
  }

  /** @internal Bytes arrived (ConnHandler). */
  onReadable(): void {
    this.#wakeReader();
  }

  /** @internal A state event (ConnHandler). */
  onEvent(ev: ConnEvent, err?: ConnError): void {
    switch (ev) {
      case "urgent":
      case "stalled":
        this.dispatchEvent(new Event(ev));
        break;
      case "soft-error":
        this.dispatchEvent(new Event("softerror"));
        break;
      case "established":
        this.#established?.resolve();
        break;
      case "remote-closed":
        this.#eof = true;
        this.#wakeReader();
        break;
      case "send-space":
        this.#spaceWaiter?.resolve();
        this.#spaceWaiter = null;
        break;
      case "finished":
        this.#eof = true;
        this.#wakeReader();
        this.#established?.reject(new Deno.errors.ConnectionAborted("connection closed"));
        this.#spaceWaiter?.reject(new Deno.errors.BrokenPipe("connection closed"));
        this.#spaceWaiter = null;
        this.#finished = true;
        this.#closed?.resolve();
        this.#stack._untrack(this);
        break;
      case "error":
        this.#setError(connectionError(err ?? "reset", this.#h.conn.softError));
        break;
    }
  }

  #setError(e: Error): void {
    if (this.#error) return;
    this.#error = e;
    this.#established?.reject(e);
    this.#spaceWaiter?.reject(e);
    this.#spaceWaiter = null;
    this.#wakeReader();
    this.#closed?.reject(e);
    this.#stack._untrack(this);
  }

  #wakeReader(): void {
    const w = this.#readWaiter;
    if (w) {
      this.#readWaiter = null;
      w();
    }
    // Called from inside the state machine (bytes arrived, FIN, reset): the read runs after
    // it returns, never re-entering it. One microtask serves every wake-up until it runs (a
    // batch of segments read from the device is one), and its function is made once.
    if (this.#reader && !this.#serveQueued) {
      this.#serveQueued = true;
      queueMicrotask(this.#serveTask ?? this.#makeServeTask());
    }
  }

  /**
   * The microtask that serves a pending `read`, made once. (Made here, not inline in
   * #wakeReader: a function holding a closure over `this` allocates a context on every call,
   * and #wakeReader runs for every segment that brings bytes.)
   */
  #makeServeTask(): () => void {
    return this.#serveTask = () => {
      this.#serveQueued = false;
      this.#serveReader();
    };
  }

  #waitReadable(): Promise<void> {
    return new Promise<void>((resolve) => this.#readWaiter = resolve);
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
      await this.#waitReadable();
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
 * A listening port of a tcptun stack: an async iterable of accepted connections, of either
 * IP version unless the listener was opened for one.
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
  /**
   * The address and port listened on: the IPv4 one, or the IPv6 one for a listener of
   * `family: 6`. `addrs` lists every address.
   */
  readonly addr: Deno.NetAddr;
  /** Every address listened on: IPv4 first, then IPv6 when the stack and listener have it. */
  readonly addrs: readonly Deno.NetAddr[];
  /** 4 or 6: the only IP version accepted; 0: both. */
  readonly family: 0 | 4 | 6;
  readonly #stack: TcpStack;
  readonly #core: CoreListener;
  #waiters: Deferred<TcpConn>[] = [];
  #closed = false;

  /** @internal Use `TcpStack.listen`. */
  constructor(
    stack: TcpStack,
    port: number,
    backlog: number,
    options: ConnectionDefaults = {},
    family: 0 | 4 | 6 = 0,
  ) {
    this.#stack = stack;
    this.family = family;
    const addrs: Deno.NetAddr[] = [];
    if (family !== 6) addrs.push({ transport: "tcp", hostname: stack.tunIp, port });
    if (family !== 4 && stack.tunIp6 !== undefined) {
      addrs.push({ transport: "tcp", hostname: stack.tunIp6, port });
    }
    this.addrs = addrs;
    this.addr = addrs[0];
    this.#core = stack.core.listen(port, backlog, () => this.#serveWaiter(), options, family);
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
