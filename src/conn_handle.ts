/**
 * Connection handles: a connection as the application (the socket layer, or a test) sees it
 * inside the core, and a listening port with its accept queue (the LISTEN state of RFC 9293
 * §3.10.7.2; half-open records live in `src/tcp/listen_queue.ts`). A handle is also its
 * connection's output port (`ConnectionOutput`): segments, data and events go through it to the
 * `StackCore` that owns it, with methods rather than closures so that a connection costs no
 * function objects.
 * @module
 */

import type {
  ConnectionOutput,
  ConnError,
  ConnEvent,
  ConnStats,
  KeepAliveOptions,
  TcpConnection,
} from "./tcp/connection.ts";
import { PassiveListener } from "./tcp/listen_queue.ts";
import type { TcpSegment } from "./wire/tcp.ts";
import { formatIpv4Address } from "./wire/ipv4.ts";
import { formatIpv6Address, type Ipv6Address } from "./wire/ipv6_address.ts";
import type { ConnectionDefaults, StackCore } from "./core.ts";

/** What a connection handle reports to its user (the socket layer, or a test). */
export interface ConnHandler {
  /** In-order bytes arrived: `ConnHandle.read` returns them. */
  onReadable(): void;
  /** A state event; `error` set for "error". */
  onEvent(ev: ConnEvent, error?: ConnError): void;
}

/**
 * What a connection's objects cost beyond its buffers (the state machine, its handle, its
 * socket and streams), counted in `memoryBytes`. Measured with a heap snapshot of 10,000
 * idle connections (see `bench/`).
 */
export const CONNECTION_OVERHEAD_BYTES = 2048;

/**
 * A connection as the application sees it inside the core: bytes in, bytes out. Each call
 * runs the state machine at the core's current time and flushes what it produces.
 */
export class ConnHandle implements ConnectionOutput {
  /** The state machine; set once, right after the handle is made. */
  conn!: TcpConnection;
  readonly #core: StackCore;
  /** Receives data and events; replaceable (the socket layer attaches on accept). */
  handler: ConnHandler | null = null;
  /** Events reported before a handler was attached (data simply waits in the buffer). */
  #earlyEvents: [ConnEvent, ConnError | undefined][] | null = null;
  /** Set once the application has taken this connection from its listener's accept queue. */
  accepted = false;
  /** @internal Its deadline in the core's timer queue (see timer_queue.ts). */
  timerAt = Infinity;
  /** @internal Its place in the core's timer queue. */
  timerIndex = -1;
  listener: CoreListener | null = null;
  /**
   * The peer's IPv6 address, or null for an IPv4 connection (whose peer is
   * `conn.remoteAddr`; for IPv6 that number is only a key).
   */
  remote6: Ipv6Address | null = null;

  /** @internal */
  constructor(core: StackCore) {
    this.#core = core;
  }

  /** The connection's IP version. */
  get family(): 4 | 6 {
    return this.remote6 === null ? 4 : 6;
  }

  /** Our address on this connection, as text ("10.0.0.1", "fdac:1194:20dc::1"). */
  get localHostname(): string {
    return this.remote6 === null
      ? formatIpv4Address(this.#core.addr)
      : formatIpv6Address(this.#core.addr6!);
  }

  /** The peer's address, as text. */
  get remoteHostname(): string {
    return this.remote6 === null
      ? formatIpv4Address(this.conn.remoteAddr)
      : formatIpv6Address(this.remote6);
  }

  // The connection's output port (ConnectionOutput): methods, not closures, so that a
  // connection costs no function objects.

  /** @internal */
  transmit(seg: TcpSegment): void {
    this.#core._transmit(this, seg);
  }

  /** @internal */
  readable(): void {
    this.handler?.onReadable();
  }

  /** @internal */
  event(ev: ConnEvent, err?: ConnError): void {
    this.#core._onEvent(this, ev, err);
  }

  /** @internal */
  replyBudget(): boolean {
    return this.#core._replyBudget();
  }

  /** @internal */
  deferAck(): boolean {
    return this.#core._deferAck(this);
  }

  /** @internal Queued for the end-of-batch ACK flush. */
  ackQueued = false;

  /** Attaches the receiver of data and events, replaying anything that came before. */
  attach(handler: ConnHandler): void {
    this.handler = handler;
    const events = this.#earlyEvents;
    this.#earlyEvents = null;
    if (this.conn.rcvQueued > 0) handler.onReadable();
    if (events) { for (const [ev, err] of events) handler.onEvent(ev, err); }
  }

  /** @internal */
  dispatchEvent(ev: ConnEvent, err?: ConnError): void {
    if (this.handler) this.handler.onEvent(ev, err);
    else (this.#earlyEvents ??= []).push([ev, err]);
  }

  /** The application takes this connection from its listener's accept queue. */
  take(): void {
    if (this.accepted) return;
    this.accepted = true;
    const q = this.listener?.acceptQueue;
    if (q) {
      const i = q.indexOf(this);
      if (i >= 0) q.splice(i, 1);
    }
  }

  /**
   * Queues bytes to send; returns how many the send buffer took. `urgent` marks them as
   * urgent data (RFC 9293 §3.8.5).
   */
  write(bytes: Uint8Array, urgent = false): number {
    const n = this.conn.send(bytes, this.#core.now(), urgent);
    this.#core.afterCall(this);
    return n;
  }

  /** Copies received bytes into `into` (freeing buffer space); returns how many. */
  read(into: Uint8Array): number {
    const n = this.conn.read(into, this.#core.now());
    if (n > 0) this.#core.afterCall(this);
    return n;
  }

  /** The application reads nothing more: held and future input is acknowledged and dropped. */
  discardInput(): void {
    this.conn.discardInput(this.#core.now());
    this.#core.afterCall(this);
  }

  /** Turns Nagle's algorithm off (`true`) or on. */
  setNoDelay(noDelay: boolean): void {
    this.conn.setNoDelay(noDelay, this.#core.now());
    this.#core.afterCall(this);
  }

  /** Turns keep-alive on (with these settings) or off (`null`). */
  setKeepAlive(ka: KeepAliveOptions | null): void {
    this.conn.setKeepAlive(ka, this.#core.now());
    this.#core.afterCall(this);
  }

  /** Sends FIN after the queued data. */
  closeWrite(): void {
    this.conn.closeWrite(this.#core.now());
    this.#core.afterCall(this);
  }

  /** Full close: FIN, and nothing more is read. */
  close(): void {
    this.conn.close(this.#core.now());
    this.#core.afterCall(this);
  }

  /** Resets the connection. */
  abort(): void {
    this.conn.abort(this.#core.now());
    this.#core.afterCall(this);
  }

  /** Counters of the connection. */
  stats(): ConnStats {
    return this.conn.stats();
  }
}

/** A listening port inside the core (the LISTEN state, RFC 9293 §3.10.7.2). */
export class CoreListener extends PassiveListener<ConnHandle> {
  /** Called when a connection completes its handshake and joins the accept queue. */
  onConnection: (h: ConnHandle) => void;
  /** Options of every connection it accepts (beyond the stack's defaults). */
  readonly options: ConnectionDefaults;
  /** TTL and TOS of its SYN,ACKs (those of the connections to be). */
  readonly ttl: number;
  readonly tos: number;
  /** The IP versions it accepts: 4, 6, or 0 for both. */
  readonly family: 0 | 4 | 6;

  /** @internal */
  constructor(
    port: number,
    backlog: number,
    maxHalfOpen: number,
    synCookies: boolean,
    settings: ConstructorParameters<typeof PassiveListener>[4],
    onConnection: (h: ConnHandle) => void,
    options: ConnectionDefaults,
    ttl: number,
    tos: number,
    family: 0 | 4 | 6 = 0,
  ) {
    super(port, backlog, maxHalfOpen, synCookies, settings);
    this.onConnection = onConnection;
    this.options = options;
    this.ttl = ttl;
    this.tos = tos;
    this.family = family;
  }
}
