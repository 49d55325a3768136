// A test harness for the connection state machine: one connection, a clock advanced by
// hand, and every segment, delivery and event it produces captured. Test code only.
import assert from "node:assert/strict";
import { ACK, newTcpSegment, SYN, type TcpSegment } from "../wire/tcp.ts";
import {
  type ConnectionOptions,
  type ConnError,
  type ConnEvent,
  State,
  TcpConnection,
} from "./connection.ts";

export const LOCAL = 0x0a000001;
export const REMOTE = 0x0a000002;
export const ISS = 1000;
export const IRS = 5000;

/** A segment the connection sent, copied out of the reused object. */
export interface Sent {
  seq: number;
  urgent: number;
  ack: number;
  flags: number;
  window: number;
  len: number;
  payload: Uint8Array;
  mss: number;
  wscale: number;
  sackPermitted: boolean;
  ts: boolean;
  tsVal: number;
  tsEcr: number;
  sack: number[];
}

/** One connection under a hand-driven clock, with every output captured. */
export class Harness {
  sent: Sent[] = [];
  delivered: number[] = [];
  events: string[] = [];
  error: ConnError | undefined;
  conn: TcpConnection;
  now = 0;
  /** When false, payloads are not copied and `delivered` stays empty (fast bulk runs). */
  record = true;
  deliveredBytes = 0;

  constructor(
    active: boolean,
    opts: Partial<ConnectionOptions> = {},
    iss = ISS,
    replyBudget?: () => boolean,
  ) {
    this.conn = new TcpConnection(
      { localAddr: LOCAL, localPort: 4444, remoteAddr: REMOTE, remotePort: 5555, iss },
      active,
      { mss: 1460, mslMs: 1000, ...opts },
      {
        transmit: (s) =>
          this.sent.push({
            seq: s.seq,
            urgent: s.urgent,
            ack: s.ack,
            flags: s.flags,
            window: s.window,
            len: s.payload.length,
            payload: this.record ? s.payload.slice() : s.payload.subarray(0, 0),
            mss: s.options.mss,
            wscale: s.options.wscale,
            sackPermitted: s.options.sackPermitted,
            ts: s.options.hasTimestamps,
            tsVal: s.options.tsVal,
            tsEcr: s.options.tsEcr,
            sack: [...s.options.sackBlocks],
          }),
        readable: () => {
          // Copy what arrived since the last time, without reading it: the bytes stay
          // unread (and keep the window closed) until the test calls `read`.
          const c = this.conn;
          const unread = c.rcvBuf.unread;
          const readSoFar = c.bytesReceived - unread;
          const fresh = c.bytesReceived - this.deliveredBytes;
          if (fresh <= 0) return;
          if (this.record) {
            const tmp = new Uint8Array(fresh);
            c.rcvBuf.peek(tmp, this.deliveredBytes - readSoFar);
            for (const b of tmp) this.delivered.push(b);
          }
          this.deliveredBytes += fresh;
        },
        event: (ev: ConnEvent, err?: ConnError) => {
          this.events.push(ev);
          if (err) this.error = err;
        },
        replyBudget,
      },
    );
  }

  /** Takes the segments sent since the last call. */
  take(): Sent[] {
    const s = this.sent;
    this.sent = [];
    return s;
  }

  one(): Sent {
    const s = this.take();
    assert.equal(s.length, 1, `expected exactly one segment, got ${s.length}`);
    return s[0];
  }

  input(s: Partial<TcpSegment> & { opts?: Partial<TcpSegment["options"]> }): void {
    const seg = newTcpSegment();
    seg.srcPort = 5555;
    seg.dstPort = 4444;
    seg.seq = s.seq ?? 0;
    seg.ack = s.ack ?? 0;
    seg.flags = s.flags ?? ACK;
    seg.window = s.window ?? 65535;
    seg.urgent = s.urgent ?? 0;
    seg.payload = s.payload ?? new Uint8Array(0);
    Object.assign(seg.options, s.opts ?? {});
    this.conn.handle(seg, this.now);
  }

  /** The application reads `n` bytes (or all that is unread); returns how many. */
  read(n = Infinity): number {
    return this.conn.read(new Uint8Array(Math.min(n, this.conn.rcvBuf.unread)), this.now);
  }

  advance(ms: number): void {
    this.now += ms;
    for (let i = 0; i < 10_000 && this.conn.nextDeadline() <= this.now; i++) {
      this.conn.onTimer(this.now);
    }
  }
}

/** `n` bytes of `fill`. */
export const bytes = (n: number, fill = 0x61) => new Uint8Array(n).fill(fill);

/** An active connection in ESTABLISHED; the peer offered MSS 1460 and nothing else. */
export function established(
  opts: Partial<ConnectionOptions> = {},
  peerOpts = {},
  window = 65535,
): Harness {
  const h = new Harness(true, opts);
  h.conn.open(h.now);
  h.take();
  h.input({ seq: IRS, ack: ISS + 1, flags: SYN | ACK, window, opts: { mss: 1460, ...peerOpts } });
  h.take();
  assert.equal(h.conn.state, State.Established);
  return h;
}
