/**
 * The `Link` interface: how a stack sends and receives raw IPv4 packets.
 *
 * A TUN device is one `Link`; an in-memory link joining two stacks is another.
 * @module
 */

import { TimeHeap } from "./tcp/time_heap.ts";
import { FaultModel, type FaultOptions, type FaultStats } from "./fault.ts";

/** A packet-level link carrying raw IPv4 packets (no link-layer header). */
export interface Link {
  /** Largest IP packet the link carries, in bytes. */
  readonly mtu: number;
  /**
   * Reads one packet into `buf` without blocking.
   * @returns the packet length, or 0 when no packet is ready now.
   */
  read(buf: Uint8Array): number;
  /** Sends one IP packet. Never blocks; a packet the link cannot take is dropped. */
  write(packet: Uint8Array): void;
  /**
   * Resolves when a packet may be readable, when `timeoutMs` has passed, or when
   * `wake()` was called; whichever is first. A negative timeout waits without limit.
   */
  waitReadable(timeoutMs: number): Promise<void>;
  /** Makes a pending or the next `waitReadable` resolve at once. */
  wake(): void;
  /** Releases the link; further reads return 0 and writes are dropped. */
  close(): void;
  /**
   * Set when every packet on this link travels behind a 10-byte virtio-net header (a Linux
   * TUN device opened with offloads, `src/wire/virtio.ts`): what the link may hand in
   * (partial checksums, TCP super-segments). The stack then uses `readFrame` and
   * `writeFrame`, and may send partial checksums and super-segments itself.
   */
  readonly frameOffloads?: LinkOffloads | null;
  /** Reads one frame (header, then packet) into `buf`; its length, or 0 when none is ready. */
  readFrame?(buf: Uint8Array): number;
  /** Sends `frame[0..length)`: a virtio-net header, then an IP packet. Never blocks. */
  writeFrame?(frame: Uint8Array, length: number): void;
}

/** What a frame link offloads (see `Link.frameOffloads`). */
export interface LinkOffloads {
  /** Packets may arrive with a partial checksum (NEEDS_CSUM). */
  csum: boolean;
  /** IPv4 TCP super-segments may arrive. */
  tso4: boolean;
  /** IPv6 TCP super-segments may arrive. */
  tso6: boolean;
}

/** Counters for one direction of a `MemoryLink` or `FaultyLink`. */
export interface LinkDirectionStats extends FaultStats {
  /** Packets dropped because the bounded delay queue was full. */
  overflow: number;
  /** Packets dropped because they were larger than the MTU (memory links only). */
  oversize: number;
}

/** Default bound on packets held in one direction's delay queue. */
export const DEFAULT_QUEUE_PACKETS = 4096;
/** Default bound on bytes held in one direction's delay queue. */
export const DEFAULT_QUEUE_BYTES = 8 * 1024 * 1024;

interface Delayed {
  /** When the packet is due, ms. */
  time: number;
  seq: number;
  packet: Uint8Array;
}

/**
 * A bounded min-heap of packets by due time; packets due at the same time leave in insertion order.
 */
class DelayQueue {
  readonly #heap = new TimeHeap<Delayed>();
  #seq = 0;
  #bytes = 0;
  readonly #maxPackets: number;
  readonly #maxBytes: number;

  constructor(maxPackets: number, maxBytes: number) {
    this.#maxPackets = maxPackets;
    this.#maxBytes = maxBytes;
  }

  get size(): number {
    return this.#heap.size;
  }

  /** Earliest due time, or Infinity when empty. */
  nextDue(): number {
    return this.#heap.peek()?.time ?? Infinity;
  }

  /** Queues a copy of `packet`; false (nothing queued) when the queue is full. */
  push(due: number, packet: Uint8Array): boolean {
    if (
      this.#heap.size >= this.#maxPackets || this.#bytes + packet.length > this.#maxBytes
    ) return false;
    this.#heap.push({ time: due, seq: this.#seq++, packet: packet.slice() });
    this.#bytes += packet.length;
    return true;
  }

  /** Removes and returns the earliest packet (the queue must not be empty). */
  pop(): Uint8Array {
    const top = this.#heap.pop();
    this.#bytes -= top.packet.length;
    return top.packet;
  }

  clear(): void {
    this.#heap.clear();
    this.#bytes = 0;
  }
}

/** Copies `packet` into `buf`, truncating like a TUN read into a short buffer. */
function copyInto(buf: Uint8Array, packet: Uint8Array): number {
  const n = Math.min(buf.length, packet.length);
  buf.set(n === packet.length ? packet : packet.subarray(0, n));
  return n;
}

function newDirectionStats(): LinkDirectionStats {
  return {
    sent: 0,
    dropped: 0,
    duplicated: 0,
    reordered: 0,
    queueDrops: 0,
    overflow: 0,
    oversize: 0,
  };
}

/** Options for `createMemoryLinkPair`. */
export interface MemoryLinkOptions {
  /** MTU of both sides; larger packets are dropped on write. Default 1500. */
  mtu?: number;
  /** Faults applied to each direction (independent random streams). Default: none. */
  faults?: FaultOptions;
  /** Faults for the second side to the first, when they differ from `faults`. */
  faultsBToA?: FaultOptions;
  /** Bound on packets in flight towards one side, including unread ones. Default 4096. */
  queuePackets?: number;
  /** Bound on bytes in flight towards one side, including unread ones. Default 8 MiB. */
  queueBytes?: number;
}

interface Waiter {
  resolve: () => void;
  deadline: number;
}

/**
 * One side of an in-memory link made by `createMemoryLinkPair`. Runs in real time
 * (`performance.now()` and one timer at most, only while someone waits).
 */
export class MemoryLink implements Link {
  /** Largest packet accepted by `write`. */
  readonly mtu: number;
  #peer: MemoryLink | undefined;
  readonly #model: FaultModel;
  readonly #perfect: boolean;
  readonly #inbox: DelayQueue;
  readonly #times: number[] = [0, 0];
  #overflow = 0;
  #oversize = 0;
  #closed = false;
  #woken = false;
  readonly #waiters: Waiter[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;
  readonly #onTimer = () => this.#fire();

  /** Use `createMemoryLinkPair`; a lone `MemoryLink` has no peer and drops what it writes. */
  constructor(mtu: number, model: FaultModel, queuePackets: number, queueBytes: number) {
    this.mtu = mtu;
    this.#model = model;
    this.#perfect = model.isPerfect;
    this.#inbox = new DelayQueue(queuePackets, queueBytes);
  }

  /** Joins two links back to back. */
  static connect(a: MemoryLink, b: MemoryLink): void {
    a.#peer = b;
    b.#peer = a;
  }

  /** Counters for packets written on this side (towards the peer). */
  get stats(): LinkDirectionStats {
    return { ...this.#model.stats, overflow: this.#overflow, oversize: this.#oversize };
  }

  /** Packets queued towards this side, due or not, not yet read. */
  get queued(): number {
    return this.#inbox.size;
  }

  read(buf: Uint8Array): number {
    if (this.#closed || this.#inbox.nextDue() > performance.now()) return 0;
    return copyInto(buf, this.#inbox.pop());
  }

  write(packet: Uint8Array): void {
    const peer = this.#peer;
    if (this.#closed || peer === undefined || peer.#closed) return;
    if (packet.length > this.mtu) {
      this.#oversize++;
      return;
    }
    const now = performance.now();
    if (this.#perfect) {
      this.#model.stats.sent++;
      if (!peer.#deliver(now, now, packet)) this.#overflow++;
      return;
    }
    const n = this.#model.schedule(now, packet.length, this.#times);
    for (let i = 0; i < n; i++) {
      if (!peer.#deliver(now, this.#times[i], packet)) this.#overflow++;
    }
  }

  /** Queues a copy of `packet` for reading at `due`; false when the inbox is full. */
  #deliver(now: number, due: number, packet: Uint8Array): boolean {
    if (!this.#inbox.push(due, packet)) return false;
    if (this.#waiters.length > 0) {
      if (due <= now) this.#resolveAll();
      else this.#arm(now);
    }
    return true;
  }

  waitReadable(timeoutMs: number): Promise<void> {
    const now = performance.now();
    if (this.#closed || this.#inbox.nextDue() <= now) return Promise.resolve();
    if (this.#woken) {
      this.#woken = false;
      return Promise.resolve();
    }
    if (timeoutMs === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.#waiters.push({ resolve, deadline: timeoutMs < 0 ? Infinity : now + timeoutMs });
      this.#arm(now);
    });
  }

  wake(): void {
    if (this.#waiters.length > 0) this.#resolveAll();
    else this.#woken = true;
  }

  close(): void {
    this.#closed = true;
    this.#inbox.clear();
    this.#resolveAll();
  }

  /** (Re)sets the one timer for the earliest waiter deadline or packet due time. */
  #arm(now: number): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#waiters.length === 0) return;
    let at = this.#inbox.nextDue();
    for (const w of this.#waiters) at = Math.min(at, w.deadline);
    if (at === Infinity) return;
    this.#timer = setTimeout(this.#onTimer, Math.max(0, Math.ceil(at - now)));
  }

  #fire(): void {
    this.#timer = undefined;
    const now = performance.now();
    if (this.#inbox.nextDue() <= now) {
      this.#resolveAll();
      return;
    }
    const waiters = this.#waiters;
    let kept = 0;
    for (let i = 0; i < waiters.length; i++) {
      const w = waiters[i];
      if (w.deadline <= now) w.resolve();
      else waiters[kept++] = w;
    }
    waiters.length = kept;
    this.#arm(now);
  }

  #resolveAll(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    const waiters = this.#waiters.splice(0);
    for (const w of waiters) w.resolve();
  }
}

/**
 * Creates two in-memory links joined back to back: what one side writes, the other reads, after
 * the fault model's delay (real time). For tests of the full async stack without a kernel.
 *
 * @example
 * ```ts
 * import { createMemoryLinkPair } from "./link.ts";
 * const [a, b] = createMemoryLinkPair({ mtu: 1500 });
 * a.write(new Uint8Array([0x45, 0, 0, 20]));
 * await b.waitReadable(100);
 * const buf = new Uint8Array(1500);
 * if (b.read(buf) !== 4) throw new Error("lost");
 * a.close();
 * b.close();
 * ```
 */
export function createMemoryLinkPair(opts: MemoryLinkOptions = {}): [MemoryLink, MemoryLink] {
  const mtu = opts.mtu ?? 1500;
  if (!Number.isInteger(mtu) || mtu < 1) throw new RangeError(`invalid mtu ${mtu}`);
  const packets = opts.queuePackets ?? DEFAULT_QUEUE_PACKETS;
  const bytes = opts.queueBytes ?? DEFAULT_QUEUE_BYTES;
  const a = new MemoryLink(mtu, new FaultModel(opts.faults, 0), packets, bytes);
  const b = new MemoryLink(mtu, new FaultModel(opts.faultsBToA ?? opts.faults, 1), packets, bytes);
  MemoryLink.connect(a, b);
  return [a, b];
}

/** Options for `FaultyLink`. */
export interface FaultyLinkOptions {
  /** Faults on packets read from the inner link. Default: none. */
  inbound?: FaultOptions;
  /** Faults on packets written to the inner link. Default: none. */
  outbound?: FaultOptions;
  /** Bound on packets held back in each direction. Default 4096. */
  queuePackets?: number;
  /** Bound on bytes held back in each direction. Default 8 MiB. */
  queueBytes?: number;
}

/** Most inner packets one `read` consumes while they are all dropped or held back. */
const READ_BATCH = 64;

/**
 * Wraps any `Link` (a TUN device, a memory link) and applies a seeded fault model in both
 * directions, in real time. Held-back packets wait in bounded queues; the outbound queue is
 * drained by one timer, the inbound one by `read` once packets are due.
 *
 * @example
 * ```ts
 * import { createMemoryLinkPair, FaultyLink } from "./link.ts";
 * const [inner, peer] = createMemoryLinkPair();
 * const link = new FaultyLink(inner, { outbound: { seed: 3, loss: 0.5 } });
 * for (let i = 0; i < 100; i++) link.write(new Uint8Array(40));
 * console.log(link.stats.outbound.dropped, "of 100 lost");
 * link.close();
 * peer.close();
 * ```
 */
export class FaultyLink implements Link {
  /** The inner link's MTU. */
  readonly mtu: number;
  readonly #inner: Link;
  readonly #inModel: FaultModel;
  readonly #outModel: FaultModel;
  readonly #inPerfect: boolean;
  readonly #outPerfect: boolean;
  readonly #inQueue: DelayQueue;
  readonly #outQueue: DelayQueue;
  readonly #times: number[] = [0, 0];
  #inOverflow = 0;
  #outOverflow = 0;
  #outTimer: ReturnType<typeof setTimeout> | undefined;
  #outTimerAt = Infinity;
  #closed = false;
  readonly #onOutTimer = () => this.#flushOut();

  /**
   * Wraps `inner`; closing this link closes `inner`.
   * @throws RangeError when a fault option is out of range.
   */
  constructor(inner: Link, opts: FaultyLinkOptions = {}) {
    this.#inner = inner;
    this.mtu = inner.mtu;
    this.#outModel = new FaultModel(opts.outbound, 0);
    this.#inModel = new FaultModel(opts.inbound, 1);
    this.#outPerfect = this.#outModel.isPerfect;
    this.#inPerfect = this.#inModel.isPerfect;
    const packets = opts.queuePackets ?? DEFAULT_QUEUE_PACKETS;
    const bytes = opts.queueBytes ?? DEFAULT_QUEUE_BYTES;
    this.#inQueue = new DelayQueue(packets, bytes);
    this.#outQueue = new DelayQueue(packets, bytes);
  }

  /** Counters per direction: `inbound` for packets read from the inner link, `outbound` written. */
  get stats(): { inbound: LinkDirectionStats; outbound: LinkDirectionStats } {
    return {
      inbound: { ...newDirectionStats(), ...this.#inModel.stats, overflow: this.#inOverflow },
      outbound: { ...newDirectionStats(), ...this.#outModel.stats, overflow: this.#outOverflow },
    };
  }

  read(buf: Uint8Array): number {
    if (this.#closed) return 0;
    if (this.#inPerfect) return this.#inner.read(buf);
    const now = performance.now();
    const times = this.#times;
    for (let i = 0; i < READ_BATCH; i++) {
      if (this.#inQueue.nextDue() <= now) return copyInto(buf, this.#inQueue.pop());
      const n = this.#inner.read(buf);
      if (n === 0) return 0;
      const count = this.#inModel.schedule(now, n, times);
      if (count === 0) continue;
      const packet = buf.subarray(0, n);
      if (times[0] <= now) {
        // Due now: hand it over in place; a duplicate (due at the same time) follows on next read.
        if (count === 2 && !this.#inQueue.push(times[1], packet)) this.#inOverflow++;
        return n;
      }
      for (let k = 0; k < count; k++) {
        if (!this.#inQueue.push(times[k], packet)) this.#inOverflow++;
      }
    }
    return 0;
  }

  write(packet: Uint8Array): void {
    if (this.#closed) return;
    if (this.#outPerfect) {
      this.#inner.write(packet);
      return;
    }
    const now = performance.now();
    const times = this.#times;
    const count = this.#outModel.schedule(now, packet.length, times);
    for (let k = 0; k < count; k++) {
      if (times[k] <= now) this.#inner.write(packet);
      else if (!this.#outQueue.push(times[k], packet)) this.#outOverflow++;
    }
    this.#armOut(now);
  }

  waitReadable(timeoutMs: number): Promise<void> {
    if (this.#closed) return Promise.resolve();
    const due = this.#inQueue.nextDue();
    if (due === Infinity) return this.#inner.waitReadable(timeoutMs);
    const now = performance.now();
    if (due <= now) return Promise.resolve();
    const untilDue = Math.ceil(due - now);
    return this.#inner.waitReadable(timeoutMs < 0 ? untilDue : Math.min(timeoutMs, untilDue));
  }

  wake(): void {
    this.#inner.wake();
  }

  /** Closes the inner link, drops held-back packets and cancels the timer. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#outTimer !== undefined) clearTimeout(this.#outTimer);
    this.#outTimer = undefined;
    this.#inQueue.clear();
    this.#outQueue.clear();
    this.#inner.close();
  }

  #armOut(now: number): void {
    const due = this.#outQueue.nextDue();
    if (due >= this.#outTimerAt) return;
    if (this.#outTimer !== undefined) clearTimeout(this.#outTimer);
    this.#outTimer = undefined;
    this.#outTimerAt = due;
    if (due === Infinity) return;
    this.#outTimer = setTimeout(this.#onOutTimer, Math.max(0, Math.ceil(due - now)));
  }

  #flushOut(): void {
    this.#outTimer = undefined;
    this.#outTimerAt = Infinity;
    if (this.#closed) return;
    const now = performance.now();
    const queue = this.#outQueue;
    while (queue.nextDue() <= now) this.#inner.write(queue.pop());
    this.#armOut(now);
  }
}
