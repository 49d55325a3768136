/**
 * The `Link` interface: how a stack sends and receives raw IPv4 packets.
 *
 * A TUN device is one `Link`; an in-memory link joining two stacks is another.
 * @module
 */

import { TimeHeap } from "./tcp/time_heap.ts";
import { FaultModel, type FaultOptions, type FaultStats } from "./fault.ts";
import {
  type FrameDelivery,
  FrameShaper,
  type FrameStats,
  offloadsFor,
  packetsOfFrame,
} from "./link_frames.ts";
import { VIRTIO_NET_HDR_LENGTH } from "./wire/virtio.ts";

export { type FrameDelivery, type FrameStats } from "./link_frames.ts";

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

  /**
   * Queues a copy of `packet` (or `packet` itself, when `owned`); false (nothing queued) when
   * the queue is full.
   */
  push(due: number, packet: Uint8Array, owned = false): boolean {
    if (
      this.#heap.size >= this.#maxPackets || this.#bytes + packet.length > this.#maxBytes
    ) return false;
    this.#heap.push({ time: due, seq: this.#seq++, packet: owned ? packet : packet.slice() });
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

/**
 * Copies a plain `packet` into `buf` as a frame with a zeroed virtio-net header (as a TUN
 * device without one does for `readFrame`), truncating like a short read.
 */
function copyFrameInto(buf: Uint8Array, packet: Uint8Array): number {
  if (buf.length < VIRTIO_NET_HDR_LENGTH) return 0;
  buf.fill(0, 0, VIRTIO_NET_HDR_LENGTH);
  return VIRTIO_NET_HDR_LENGTH + copyInto(buf.subarray(VIRTIO_NET_HDR_LENGTH), packet);
}

/** A frame with a zeroed virtio-net header around a copy of `packet`: a plain packet. */
function zeroHeaderFrame(packet: Uint8Array): Uint8Array {
  const f = new Uint8Array(VIRTIO_NET_HDR_LENGTH + packet.length);
  f.set(packet, VIRTIO_NET_HDR_LENGTH);
  return f;
}

/** Most delivered frames a plain `read` skips because they held no packet. */
const MAX_SKIPPED_FRAMES = 64;

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
  /**
   * Carry virtio-net frames, as a Linux TUN device with offloads does: both sides get
   * `frameOffloads`, and a stack on them writes partial checksums and TCP super-segments.
   * The value says what the link does with the frames the first side writes (see
   * `FrameDelivery`: delivered whole, marked checked, or cut into MSS-sized packets); the fault
   * model then applies to each frame delivered. Default: plain packets.
   */
  frames?: FrameDelivery;
  /** What the link does with the frames the second side writes, when it differs from `frames`. */
  framesBToA?: FrameDelivery;
}

/** How one side of a frame memory link treats frames: its writes, and what it may read. */
interface MemoryFrames {
  /** What happens to what this side writes. */
  out: FrameDelivery;
  /** What happens to what the peer writes (and so what this side reads). */
  in: FrameDelivery;
}

interface Waiter {
  resolve: () => void;
  deadline: number;
}

/**
 * One side of an in-memory link made by `createMemoryLinkPair`. Runs in real time
 * (`performance.now()` and one timer at most, only while someone waits).
 *
 * A frame link (option `frames`) carries virtio-net frames: what `writeFrame` is given goes
 * through a `FrameShaper` (checked, and delivered whole or cut), `readFrame` hands out frames
 * as delivered, and plain `read`/`write` still work (cutting and completing checksums, as a
 * TUN device does). On a plain link `readFrame` and `writeFrame` work too, with zeroed headers
 * and super-segments cut in software. Use one pair or the other on a side.
 */
export class MemoryLink implements Link {
  /** Largest packet accepted by `write`. */
  readonly mtu: number;
  /** What this side may read on a frame link (see `Link.frameOffloads`); null on a plain one. */
  readonly frameOffloads: LinkOffloads | null;
  #peer: MemoryLink | undefined;
  readonly #shaper: FrameShaper | null;
  /** Packets cut from a frame for plain `read`, not yet read. */
  readonly #pending: Uint8Array[] = [];
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
  constructor(
    mtu: number,
    model: FaultModel,
    queuePackets: number,
    queueBytes: number,
    frames?: MemoryFrames,
  ) {
    this.mtu = mtu;
    this.frameOffloads = frames ? offloadsFor(frames.in) : null;
    this.#shaper = frames ? new FrameShaper(frames.out, mtu) : null;
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
    const oversize = this.#oversize + (this.#shaper?.stats.oversize ?? 0);
    return { ...this.#model.stats, overflow: this.#overflow, oversize };
  }

  /** Counters of the frames written on this side of a frame link; null on a plain link. */
  get frameStats(): FrameStats | null {
    return this.#shaper ? { ...this.#shaper.stats } : null;
  }

  /** Packets queued towards this side, due or not, not yet read. */
  get queued(): number {
    return this.#inbox.size;
  }

  read(buf: Uint8Array): number {
    if (this.#closed) return 0;
    if (this.#pending.length > 0) return copyInto(buf, this.#pending.shift()!);
    if (this.frameOffloads === null) {
      if (this.#inbox.nextDue() > performance.now()) return 0;
      return copyInto(buf, this.#inbox.pop());
    }
    // A frame link: what a TUN device's plain read gives, super-segments cut.
    for (let i = 0; i < MAX_SKIPPED_FRAMES; i++) {
      if (this.#inbox.nextDue() > performance.now()) return 0;
      const frame = this.#inbox.pop();
      const packets = packetsOfFrame(frame, frame.length);
      if (packets.length === 0) continue;
      for (let k = 1; k < packets.length; k++) this.#pending.push(packets[k]);
      return copyInto(buf, packets[0]);
    }
    return 0;
  }

  /**
   * Reads one frame (a virtio-net header, then the packet) into `buf`; its length, or 0 when
   * none is ready. On a plain link the header is zeroed.
   */
  readFrame(buf: Uint8Array): number {
    if (this.#closed || this.#inbox.nextDue() > performance.now()) return 0;
    const packet = this.#inbox.pop();
    return this.frameOffloads === null ? copyFrameInto(buf, packet) : copyInto(buf, packet);
  }

  write(packet: Uint8Array): void {
    const peer = this.#peer;
    if (this.#closed || peer === undefined || peer.#closed) return;
    if (this.#shaper !== null) {
      this.#send(peer, this.#shaper.shapePacket(packet), VIRTIO_NET_HDR_LENGTH);
      return;
    }
    if (packet.length > this.mtu) {
      this.#oversize++;
      return;
    }
    this.#send(peer, [packet], 0, false);
  }

  /**
   * Sends the frame `frame[0..length)`: on a frame link through its `FrameShaper`; on a plain
   * link as the packets it stands for (checksum completed, super-segment cut).
   */
  writeFrame(frame: Uint8Array, length: number): void {
    const peer = this.#peer;
    if (this.#closed || peer === undefined || peer.#closed) return;
    if (this.#shaper !== null) {
      this.#send(peer, this.#shaper.shape(frame, length), VIRTIO_NET_HDR_LENGTH);
      return;
    }
    for (const p of packetsOfFrame(frame, length)) this.write(p);
  }

  /**
   * Puts each of `packets` through the fault model towards `peer`. `header` bytes of each are
   * not counted as packet length; `owned` packets are queued without a copy.
   */
  #send(peer: MemoryLink, packets: Uint8Array[], header: number, owned = true): void {
    const now = performance.now();
    for (const packet of packets) {
      if (this.#perfect) {
        this.#model.stats.sent++;
        if (!peer.#deliver(now, now, packet, owned)) this.#overflow++;
        continue;
      }
      const n = this.#model.schedule(now, packet.length - header, this.#times);
      for (let i = 0; i < n; i++) {
        // A duplicate is a second copy.
        if (!peer.#deliver(now, this.#times[i], packet, owned && i === 0)) this.#overflow++;
      }
    }
  }

  /** Queues `packet` (a copy unless `owned`) for reading at `due`; false when the inbox is full. */
  #deliver(now: number, due: number, packet: Uint8Array, owned: boolean): boolean {
    if (!this.#inbox.push(due, packet, owned)) return false;
    if (this.#waiters.length > 0) {
      if (due <= now) this.#resolveAll();
      else this.#arm(now);
    }
    return true;
  }

  waitReadable(timeoutMs: number): Promise<void> {
    const now = performance.now();
    if (this.#closed || this.#pending.length > 0 || this.#inbox.nextDue() <= now) {
      return Promise.resolve();
    }
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
    this.#pending.length = 0;
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
 * With `frames`, both sides carry virtio-net frames (checksum and segmentation offloads).
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
  if (opts.framesBToA !== undefined && opts.frames === undefined) {
    throw new TypeError("framesBToA needs frames");
  }
  const aToB = opts.frames;
  const bToA = opts.framesBToA ?? aToB;
  const a = new MemoryLink(
    mtu,
    new FaultModel(opts.faults, 0),
    packets,
    bytes,
    aToB && bToA ? { out: aToB, in: bToA } : undefined,
  );
  const b = new MemoryLink(
    mtu,
    new FaultModel(opts.faultsBToA ?? opts.faults, 1),
    packets,
    bytes,
    aToB && bToA ? { out: bToA, in: aToB } : undefined,
  );
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
  /**
   * The inner link's, when it carries frames (`readFrame` and `writeFrame`): the faults then
   * apply to each frame, a super-segment faring as one packet (as `netem` treats one).
   * Plain `write`s go to the inner link as frames with a zeroed header. Use `read`/`write` or
   * `readFrame`/`writeFrame`, not both.
   */
  readonly frameOffloads: LinkOffloads | null;
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
    const frames = !!inner.frameOffloads && typeof inner.readFrame === "function" &&
      typeof inner.writeFrame === "function";
    this.frameOffloads = frames ? inner.frameOffloads! : null;
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
    return this.#read(buf, false);
  }

  /** Reads one frame from the inner frame link, through the inbound faults (see `frameOffloads`). */
  readFrame(buf: Uint8Array): number {
    if (this.frameOffloads === null) throw new TypeError("the inner link carries no frames");
    return this.#read(buf, true);
  }

  #read(buf: Uint8Array, frames: boolean): number {
    if (this.#closed) return 0;
    const inner = this.#inner;
    if (this.#inPerfect) return frames ? inner.readFrame!(buf) : inner.read(buf);
    const now = performance.now();
    const times = this.#times;
    for (let i = 0; i < READ_BATCH; i++) {
      if (this.#inQueue.nextDue() <= now) return copyInto(buf, this.#inQueue.pop());
      const n = frames ? inner.readFrame!(buf) : inner.read(buf);
      if (n === 0) return 0;
      const count = this.#inModel.schedule(now, frames ? n - VIRTIO_NET_HDR_LENGTH : n, times);
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
    if (this.frameOffloads !== null) {
      const frame = zeroHeaderFrame(packet);
      this.#write(frame, frame.length, true);
      return;
    }
    this.#write(packet, packet.length, false);
  }

  /** Writes one frame to the inner frame link, through the outbound faults. */
  writeFrame(frame: Uint8Array, length: number): void {
    if (this.frameOffloads === null) throw new TypeError("the inner link carries no frames");
    if (this.#closed) return;
    this.#write(frame, length, true);
  }

  #write(bytes: Uint8Array, length: number, frames: boolean): void {
    const inner = this.#inner;
    if (this.#outPerfect) {
      if (frames) inner.writeFrame!(bytes, length);
      else inner.write(bytes);
      return;
    }
    const now = performance.now();
    const times = this.#times;
    const count = this.#outModel.schedule(
      now,
      frames ? length - VIRTIO_NET_HDR_LENGTH : length,
      times,
    );
    for (let k = 0; k < count; k++) {
      if (times[k] > now) {
        if (!this.#outQueue.push(times[k], bytes.subarray(0, length))) this.#outOverflow++;
      } else if (frames) {
        inner.writeFrame!(bytes, length);
      } else {
        inner.write(bytes);
      }
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
    while (queue.nextDue() <= now) {
      const bytes = queue.pop();
      if (this.frameOffloads !== null) this.#inner.writeFrame!(bytes, bytes.length);
      else this.#inner.write(bytes);
    }
    this.#armOut(now);
  }
}
