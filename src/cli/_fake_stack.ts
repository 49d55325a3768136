/**
 * Test doubles for the CLI's view of the stack (`CliStack`, `CliListener`, `CliConn`): the test
 * plays the peer by hand. Used only by tests.
 * @module
 */

import type { CliConn, CliConnStats, CliListener, CliStack, CliStackOptions } from "./common.ts";

/** A connection whose peer side the test drives. */
export class FakeConn implements CliConn {
  readonly remoteAddr: Deno.NetAddr;
  readonly readable: ReadableStream<Uint8Array>;
  readonly writable: WritableStream<Uint8Array>;
  readonly closed: Promise<void>;
  /** Bytes the CLI sent to the peer. */
  readonly sent: Uint8Array[] = [];
  /** Resolves when the CLI sent FIN (closed the writable or called close()). */
  readonly finSent: Promise<void>;
  /** Whether FIN was sent. */
  finSentFlag = false;
  /** Whether the peer sent FIN. */
  peerFinned = false;
  closeCalls = 0;
  #peer!: ReadableStreamDefaultController<Uint8Array>;
  #resolveClosed!: () => void;
  #rejectClosed!: (e: unknown) => void;
  #resolveFin!: () => void;
  #error: unknown = undefined;
  #onSent: (() => void)[] = [];

  constructor(port = 51234, hostname = "10.0.0.2") {
    this.remoteAddr = { transport: "tcp", hostname, port };
    this.closed = new Promise((res, rej) => {
      this.#resolveClosed = res;
      this.#rejectClosed = rej;
    });
    this.closed.catch(() => {});
    this.finSent = new Promise((r) => this.#resolveFin = r);
    this.readable = new ReadableStream({ start: (c) => this.#peer = c });
    this.writable = new WritableStream({
      write: (chunk) => {
        if (this.#error !== undefined) throw this.#error;
        if (this.finSentFlag) throw new Deno.errors.BadResource("write after FIN");
        this.sent.push(chunk.slice());
        for (const f of this.#onSent.splice(0)) f();
      },
      close: () => this.#fin(),
    });
  }

  #reader: ReadableStreamDefaultReader<Uint8Array> | null = null;
  #pending: Uint8Array | null = null;

  /** Reads what the peer sent, as `Deno.Conn.read`. */
  async read(p: Uint8Array): Promise<number | null> {
    if (!this.#pending) {
      this.#reader ??= this.readable.getReader();
      const r = await this.#reader.read();
      if (r.done) return null;
      this.#pending = r.value;
    }
    const n = Math.min(p.length, this.#pending.length);
    p.set(this.#pending.subarray(0, n));
    this.#pending = n === this.#pending.length ? null : this.#pending.subarray(n);
    return n;
  }

  /** Sends bytes to the peer, as `Deno.Conn.write`. */
  write(p: Uint8Array): Promise<number> {
    if (this.#error !== undefined) return Promise.reject(this.#error);
    if (this.finSentFlag) return Promise.reject(new Deno.errors.BadResource("write after FIN"));
    this.sent.push(p.slice());
    for (const f of this.#onSent.splice(0)) f();
    return Promise.resolve(p.length);
  }

  /** Sends FIN. */
  closeWrite(): Promise<void> {
    this.#fin();
    return Promise.resolve();
  }

  #fin(): void {
    if (this.finSentFlag) return;
    this.finSentFlag = true;
    this.#resolveFin();
    this.#maybeClosed();
  }

  #maybeClosed(): void {
    if (this.finSentFlag && this.peerFinned && this.#error === undefined) this.#resolveClosed();
  }

  /** All bytes the CLI sent, as text. */
  sentText(): string {
    return new TextDecoder().decode(concat(this.sent));
  }

  /** Resolves once the CLI has sent at least `n` bytes in total. */
  async waitSent(n: number): Promise<void> {
    while (concat(this.sent).length < n) {
      await new Promise<void>((r) => this.#onSent.push(r));
    }
  }

  /** The peer sends `text`. */
  peerSend(text: string): void {
    this.#peer.enqueue(new TextEncoder().encode(text));
  }

  /** The peer sends FIN. */
  peerFin(): void {
    this.peerFinned = true;
    this.#peer.close();
    this.#maybeClosed();
  }

  /** The peer resets the connection. */
  peerReset(): void {
    this.#error = new Deno.errors.ConnectionReset("connection reset by peer");
    this.#peer.error(this.#error);
    this.#rejectClosed(this.#error);
  }

  close(): void {
    this.closeCalls++;
    this.#fin();
  }

  stats(): CliConnStats {
    let bytes = 0;
    for (const c of this.sent) bytes += c.length;
    return {
      state: this.finSentFlag && this.peerFinned ? "CLOSED" : "ESTABLISHED",
      bytesSent: bytes,
      bytesReceived: 0,
      segmentsSent: this.sent.length,
      segmentsReceived: 0,
      retransmissions: 0,
      srttMs: 1.5,
      cwnd: 14600,
    };
  }
}

/** A listener the test feeds with `push`. */
export class FakeListener implements CliListener {
  #queue: FakeConn[] = [];
  #waiters: { resolve: (c: FakeConn) => void; reject: (e: unknown) => void }[] = [];
  closed = false;
  accepted = 0;

  /** A connection arrives. */
  push(conn: FakeConn): void {
    const w = this.#waiters.shift();
    if (w) {
      this.accepted++;
      w.resolve(conn);
    } else {
      this.#queue.push(conn);
    }
  }

  accept(): Promise<FakeConn> {
    if (this.closed) return Promise.reject(new Deno.errors.BadResource("listener closed"));
    const c = this.#queue.shift();
    if (c) {
      this.accepted++;
      return Promise.resolve(c);
    }
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }

  close(): void {
    this.closed = true;
    for (const w of this.#waiters.splice(0)) w.reject(new Deno.errors.BadResource("closed"));
  }
}

/** A stack whose listener and outgoing connection the test controls. */
export class FakeStack implements CliStack {
  readonly tunIp: string;
  readonly peerIp = "10.0.0.2";
  readonly tunIp6: string | undefined;
  readonly peerIp6: string | undefined;
  readonly ipv6Problem: string | undefined;
  readonly ifname = "tun0";
  readonly mtu = 1500;
  readonly listener = new FakeListener();
  listenPort = -1;
  /** The `family` option of the last `listen` (undefined: both). */
  listenFamily: 4 | 6 | undefined;
  connectOpts: { hostname?: string; port: number; noDelay?: boolean } | undefined;
  /** What `connect` returns. */
  connectResult: Promise<FakeConn> = Promise.resolve(new FakeConn(4444, "10.0.0.2"));
  closeCalls = 0;

  /**
   * @param opts what the CLI asked of `openStack`
   * @param ipv6Problem set: the "device" could not configure IPv6 (when it was not asked
   *   for explicitly), as a real one reports in `ipv6Problem`
   */
  constructor(readonly opts: CliStackOptions, ipv6Problem?: string) {
    this.tunIp = opts.tunIp ?? "10.0.0.1";
    if (opts.tunIp6 === false) return;
    if (ipv6Problem !== undefined && opts.tunIp6 === undefined) {
      this.ipv6Problem = ipv6Problem;
      return;
    }
    this.tunIp6 = opts.tunIp6 ?? "fdac:1194:20dc::1";
    this.peerIp6 = this.tunIp6.replace(/1$/, "2");
  }

  listen(opts: { port: number; family?: 4 | 6 }): FakeListener {
    this.listenPort = opts.port;
    this.listenFamily = opts.family;
    return this.listener;
  }

  connect(opts: { hostname?: string; port: number; noDelay?: boolean }): Promise<FakeConn> {
    this.connectOpts = opts;
    return this.connectResult;
  }

  close(): Promise<void> {
    this.closeCalls++;
    return Promise.resolve();
  }
}

/** Concatenates chunks. */
export function concat(chunks: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const c of chunks) n += c.length;
  const out = new Uint8Array(n);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}

/** A stdin the test writes to; `cancelled` tells whether the CLI cancelled it. */
export class FakeInput {
  readonly stream: ReadableStream<Uint8Array>;
  cancelled = false;
  #ctl!: ReadableStreamDefaultController<Uint8Array>;
  constructor() {
    this.stream = new ReadableStream({
      start: (c) => this.#ctl = c,
      cancel: () => {
        this.cancelled = true;
      },
    }, { highWaterMark: 0 });
  }
  /** Types `text`. */
  send(text: string): void {
    this.#ctl.enqueue(new TextEncoder().encode(text));
  }
  /** Ctrl+D. */
  end(): void {
    this.#ctl.close();
  }
}

/** A stdout that collects what the CLI writes. */
export class FakeOutput {
  readonly chunks: Uint8Array[] = [];
  readonly stream: WritableStream<Uint8Array>;
  #waiters: (() => void)[] = [];
  constructor() {
    this.stream = new WritableStream({
      write: (c) => {
        this.chunks.push(c.slice());
        for (const f of this.#waiters.splice(0)) f();
      },
    });
  }
  /** Everything written, as text. */
  text(): string {
    return new TextDecoder().decode(concat(this.chunks));
  }
  /** Resolves once `text()` contains `s`. */
  async waitFor(s: string): Promise<void> {
    while (!this.text().includes(s)) await new Promise<void>((r) => this.#waiters.push(r));
  }
}

/** Resolves after the pending microtasks and a macrotask turn. */
export function tick(ms = 0): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
