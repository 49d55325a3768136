/**
 * A deterministic discrete-event network simulator with a virtual clock, for property tests of
 * the TCP stack over hundreds of seeds.
 *
 * Two endpoints, "a" and "b", are joined by two one-way paths, each with its own seeded
 * `FaultModel`. Nothing here reads the real clock or sets a timer: time only advances from event
 * to event inside `run`, so the same seeds and the same endpoint behavior give the same trace.
 * The simulator knows nothing of TCP: an endpoint is anything with `input`, `poll` and
 * `nextDeadline`, and sends by writing to the `Link` it got from `link(side)`.
 *
 * With `frames`, the links carry virtio-net frames as a Linux TUN device with offloads does
 * (`src/link_frames.ts`): an endpoint writes partial checksums and TCP super-segments, each
 * direction delivers them whole or cut into MSS-sized packets, and the fault model applies to
 * each frame delivered; the receiving endpoint gets them through `inputFrame`.
 * @module
 */

import { TimeHeap } from "../../src/tcp/time_heap.ts";
import type { Link, LinkOffloads } from "../../src/link.ts";
import { FaultModel, type FaultOptions, type FaultStats } from "../../src/fault.ts";
import {
  type FrameDelivery,
  FrameShaper,
  type FrameStats,
  offloadsFor,
} from "../../src/link_frames.ts";
import { VIRTIO_NET_HDR_LENGTH } from "../../src/wire/virtio.ts";

/** One side of the simulation, e.g. a stack driven in virtual time. */
export interface SimEndpoint {
  /** A packet arrived at virtual time `nowMs`. The endpoint owns `packet`. */
  input(packet: Uint8Array, nowMs: number): void;
  /**
   * A frame (virtio-net header, then the packet) arrived on a frame link; the endpoint owns it.
   * Needed when the network has `frames`.
   */
  inputFrame?(frame: Uint8Array, length: number, nowMs: number): void;
  /** The endpoint's deadline was reached: fire timers due at `nowMs`. */
  poll(nowMs: number): void;
  /** Absolute virtual ms the endpoint next needs `poll`, or Infinity. */
  nextDeadline(): number;
}

/** Which side of the simulated link. */
export type SimSide = "a" | "b";

/** Why `SimNetwork.run` returned. */
export type SimStop = "done" | "idle" | "time" | "events";

/** Options for `SimNetwork`. */
export interface SimNetworkOptions {
  /** Faults on packets written by side "a" (stream 0 of its seed). */
  aToB?: FaultOptions;
  /** Faults on packets written by side "b" (stream 1 of its seed). */
  bToA?: FaultOptions;
  /** MTU of both links; larger packets are dropped on write. Default 1500. */
  mtu?: number;
  /**
   * Carry virtio-net frames: what each direction does with the frames written to it (see
   * `FrameDelivery`). Both links then report `frameOffloads` and take `writeFrame`; plain
   * writes become frames with a zeroed header. Default: plain packets.
   */
  frames?: { aToB: FrameDelivery; bToA: FrameDelivery };
}

/** Options for `SimNetwork.run`. */
export interface SimRunOptions {
  /** Stop ("done") as soon as this returns true; checked before every event. */
  until?: () => boolean;
  /** Stop ("time") before any event later than this absolute virtual time; `now` moves to it. */
  maxTimeMs?: number;
  /** Stop ("events") after this many events in this call. Default 10 000 000. */
  maxEvents?: number;
}

/** Counters for one direction of the simulated link. */
export interface SimDirectionStats extends FaultStats {
  /** Packets handed to the receiving endpoint's `input`. */
  delivered: number;
  /** Packets dropped on write because they were larger than the MTU. */
  oversize: number;
  /** Packets dropped on arrival because the receiver was missing or its link closed. */
  undeliverable: number;
}

const DEFAULT_MAX_EVENTS = 10_000_000;

interface SimEvent {
  time: number;
  seq: number;
  /** Receiving side for a delivery; undefined for an application callback. */
  to: SimSide | undefined;
  /** The packet, or on a frame network the frame (virtio-net header first). */
  packet: Uint8Array | undefined;
  fn: (() => void) | undefined;
}

function other(side: SimSide): SimSide {
  return side === "a" ? "b" : "a";
}

/** FNV-1a over the bytes: a short fingerprint of a packet for traces. */
function fingerprint(bytes: Uint8Array): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i], 0x01000193);
  return (h >>> 0).toString(16).padStart(8, "0");
}

function formatTime(ms: number): string {
  return ms.toFixed(3);
}

/** The `Link` a simulated endpoint writes to; reading is done by the simulator, not the stack. */
class SimLink implements Link {
  readonly mtu: number;
  readonly frameOffloads: LinkOffloads | null;
  closed = false;
  readonly #net: SimNetwork;
  readonly #side: SimSide;
  readonly #wakers: (() => void)[] = [];

  constructor(net: SimNetwork, side: SimSide, mtu: number, inbound: FrameDelivery | undefined) {
    this.#net = net;
    this.#side = side;
    this.mtu = mtu;
    this.frameOffloads = inbound === undefined ? null : offloadsFor(inbound);
  }

  read(_buf: Uint8Array): number {
    return 0;
  }

  readFrame(_buf: Uint8Array): number {
    return 0;
  }

  write(packet: Uint8Array): void {
    if (!this.closed) this.#net.send(this.#side, packet);
  }

  writeFrame(frame: Uint8Array, length: number): void {
    if (!this.closed) this.#net.sendFrame(this.#side, frame, length);
  }

  /** Virtual time has no real timers: resolves at once for a zero timeout, else on wake/close. */
  waitReadable(timeoutMs: number): Promise<void> {
    if (this.closed || timeoutMs === 0) return Promise.resolve();
    return new Promise((resolve) => this.#wakers.push(resolve));
  }

  wake(): void {
    for (const resolve of this.#wakers.splice(0)) resolve();
  }

  close(): void {
    this.closed = true;
    this.wake();
  }
}

/**
 * Two endpoints joined by a simulated, seeded, faulty link, run in virtual time.
 *
 * Events at equal times run in the order they were scheduled. After every event the simulator
 * re-reads both endpoints' `nextDeadline()`; a deadline runs after the packets and callbacks
 * scheduled for the same time, side "a" before side "b".
 *
 * @example
 * ```ts
 * import { SimNetwork } from "./network.ts";
 * const sim = new SimNetwork({ aToB: { delayMs: 10, loss: 0.1, seed: 42 } });
 * let got = 0;
 * sim.attach("b", { input: () => got++, poll: () => {}, nextDeadline: () => Infinity });
 * for (let i = 0; i < 10; i++) sim.at(i, () => sim.link("a").write(new Uint8Array(100)));
 * sim.run({ maxTimeMs: 1000 });
 * console.log(got, "of 10 arrived by", sim.now);
 * ```
 */
export class SimNetwork {
  /** Virtual time in ms; starts at 0 and never decreases. */
  now = 0;
  /** Called with one line per packet sent, dropped or delivered, when set. */
  trace?: (event: string) => void;
  readonly #heap = new TimeHeap<SimEvent>();
  #seq = 0;
  readonly #links: Record<SimSide, SimLink>;
  readonly #models: Record<SimSide, FaultModel>;
  readonly #endpoints: Record<SimSide, SimEndpoint | undefined> = { a: undefined, b: undefined };
  readonly #extra: Record<SimSide, { delivered: number; oversize: number; undeliverable: number }> =
    {
      a: { delivered: 0, oversize: 0, undeliverable: 0 },
      b: { delivered: 0, oversize: 0, undeliverable: 0 },
    };
  readonly #times: number[] = [0, 0];
  /** Per sending side, on a frame network. */
  readonly #shapers: Record<SimSide, FrameShaper> | null;

  /** @throws RangeError when the MTU or a fault option is out of range. */
  constructor(opts: SimNetworkOptions = {}) {
    const mtu = opts.mtu ?? 1500;
    if (!Number.isInteger(mtu) || mtu < 1) throw new RangeError(`invalid mtu ${mtu}`);
    const f = opts.frames;
    this.#links = {
      a: new SimLink(this, "a", mtu, f?.bToA),
      b: new SimLink(this, "b", mtu, f?.aToB),
    };
    this.#models = { a: new FaultModel(opts.aToB, 0), b: new FaultModel(opts.bToA, 1) };
    this.#shapers = f ? { a: new FrameShaper(f.aToB, mtu), b: new FrameShaper(f.bToA, mtu) } : null;
  }

  /** Counters of the frames each side wrote (checks, cuts, drops); null without `frames`. */
  get frameStats(): { aToB: FrameStats; bToA: FrameStats } | null {
    const s = this.#shapers;
    return s ? { aToB: { ...s.a.stats }, bToA: { ...s.b.stats } } : null;
  }

  /** The `Link` to hand to the stack on `side`; its writes go to the other side. */
  link(side: SimSide): Link {
    return this.#links[side];
  }

  /** Sets (or replaces) the endpoint on `side`. */
  attach(side: SimSide, endpoint: SimEndpoint): void {
    this.#endpoints[side] = endpoint;
  }

  /** Counters per direction, by sending side ("aToB" counts what "a" wrote). */
  get stats(): { aToB: SimDirectionStats; bToA: SimDirectionStats } {
    // On a frame network, oversize frames are counted by the shapers.
    const oversize = (side: SimSide) =>
      this.#extra[side].oversize + (this.#shapers?.[side].stats.oversize ?? 0);
    return {
      aToB: { ...this.#models.a.stats, ...this.#extra.a, oversize: oversize("a") },
      bToA: { ...this.#models.b.stats, ...this.#extra.b, oversize: oversize("b") },
    };
  }

  /** Number of scheduled packet deliveries and callbacks not yet run. */
  get pendingEvents(): number {
    return this.#heap.size;
  }

  /** Schedules `fn` at absolute virtual time `timeMs` (a past time means now). */
  at(timeMs: number, fn: () => void): void {
    if (Number.isNaN(timeMs)) throw new RangeError("SimNetwork.at: time is NaN");
    this.#push({
      time: Math.max(this.now, timeMs),
      seq: this.#seq++,
      to: undefined,
      packet: undefined,
      fn,
    });
  }

  /**
   * Sends `packet` from `from` at the current virtual time through that direction's fault model.
   * Called by the side's link; the bytes are copied at once.
   */
  send(from: SimSide, packet: Uint8Array): void {
    const shaper = this.#shapers?.[from];
    if (shaper !== undefined) {
      for (const f of shaper.shapePacket(packet)) {
        this.#schedule(from, f, f.length - VIRTIO_NET_HDR_LENGTH);
      }
      return;
    }
    const trace = this.trace;
    if (packet.length > this.#links[from].mtu) {
      this.#extra[from].oversize++;
      trace?.(
        `${formatTime(this.now)} ${from}>${other(from)} send len=${packet.length} h=${
          fingerprint(packet)
        } drop=oversize`,
      );
      return;
    }
    this.#schedule(from, packet.slice(), packet.length);
  }

  /**
   * Sends the frame `frame[0..length)` from `from` on a frame network: checked and shaped
   * (delivered whole or cut, see `FrameDelivery`), then each resulting frame through the
   * direction's fault model. Called by the side's link; the bytes are copied at once.
   */
  sendFrame(from: SimSide, frame: Uint8Array, length: number): void {
    const shaper = this.#shapers?.[from];
    if (shaper === undefined) throw new Error("SimNetwork: frames written on a plain network");
    for (const f of shaper.shape(frame, length)) {
      this.#schedule(from, f, f.length - VIRTIO_NET_HDR_LENGTH);
    }
  }

  /** Puts `bytes` (owned; `length` bytes of packet for the bottleneck) through the faults. */
  #schedule(from: SimSide, bytes: Uint8Array, length: number): void {
    const to = other(from);
    const trace = this.trace;
    const label = trace === undefined
      ? ""
      : `${formatTime(this.now)} ${from}>${to} send len=${bytes.length} h=${fingerprint(bytes)}`;
    const model = this.#models[from];
    const queueDropsBefore = model.stats.queueDrops;
    const times = this.#times;
    const n = model.schedule(this.now, length, times);
    for (let i = 0; i < n; i++) {
      const packet = i === 0 ? bytes : bytes.slice();
      this.#push({ time: times[i], seq: this.#seq++, to, packet, fn: undefined });
    }
    if (trace !== undefined) {
      if (n === 0) {
        trace(`${label} drop=${model.stats.queueDrops !== queueDropsBefore ? "queue" : "loss"}`);
      } else {
        trace(`${label} at=${times.slice(0, n).map(formatTime).join(",")}`);
      }
    }
  }

  /**
   * Runs events in time order until `until()` is true ("done"), nothing is left ("idle"), the next
   * event is later than `maxTimeMs` ("time"), or `maxEvents` events ran ("events").
   */
  run(opts: SimRunOptions = {}): SimStop {
    const maxTime = opts.maxTimeMs ?? Infinity;
    const maxEvents = opts.maxEvents ?? DEFAULT_MAX_EVENTS;
    const until = opts.until;
    let events = 0;
    for (;;) {
      if (until !== undefined && until()) return "done";
      const top = this.#heap.peek()?.time ?? Infinity;
      const deadlineA = this.#deadline("a");
      const deadlineB = this.#deadline("b");
      const next = Math.min(top, deadlineA, deadlineB);
      if (next === Infinity) return "idle";
      if (next > maxTime) {
        this.now = Math.max(this.now, maxTime);
        return "time";
      }
      if (events >= maxEvents) return "events";
      events++;
      this.now = Math.max(this.now, next);
      if (top === next) {
        this.#runEvent(this.#pop());
      } else if (deadlineA === next) {
        this.#endpoints.a!.poll(this.now);
      } else {
        this.#endpoints.b!.poll(this.now);
      }
    }
  }

  #deadline(side: SimSide): number {
    const endpoint = this.#endpoints[side];
    if (endpoint === undefined) return Infinity;
    const deadline = endpoint.nextDeadline();
    if (Number.isNaN(deadline)) throw new Error(`SimNetwork: endpoint ${side} deadline is NaN`);
    return deadline;
  }

  #runEvent(event: SimEvent): void {
    if (event.fn !== undefined) {
      event.fn();
      return;
    }
    const to = event.to!;
    const from: SimSide = to === "a" ? "b" : "a";
    const packet = event.packet!;
    const endpoint = this.#endpoints[to];
    if (endpoint === undefined || this.#links[to].closed) {
      this.#extra[from].undeliverable++;
      this.trace?.(
        `${formatTime(this.now)} ${from}>${to} drop=undeliverable len=${packet.length} h=${
          fingerprint(packet)
        }`,
      );
      return;
    }
    this.#extra[from].delivered++;
    this.trace?.(
      `${formatTime(this.now)} ${from}>${to} recv len=${packet.length} h=${fingerprint(packet)}`,
    );
    if (this.#shapers === null) endpoint.input(packet, this.now);
    else if (endpoint.inputFrame) endpoint.inputFrame(packet, packet.length, this.now);
    else throw new Error(`SimNetwork: endpoint ${to} takes no frames`);
  }

  #push(event: SimEvent): void {
    this.#heap.push(event);
  }

  #pop(): SimEvent {
    return this.#heap.pop();
  }
}
