// Fuzzing the whole input path of the stack (parse → demux → LISTEN / connection state
// machine → output): mutated packets into a `StackCore` that holds connections in every
// state, on a fake clock, with a seeded PRNG. Nothing may throw, every packet the stack writes
// must be well formed, the invariants of `checkInvariants` must hold after every packet, and
// the heap must not grow without bound.
//
// Environment (all optional):
//   TCPTUN_FUZZ_PACKETS    packets per run (default 200000, the CI run); e.g. 5000000 for a long run
//   TCPTUN_FUZZ_SEED       seed (default 20240601); "random" draws one and prints it
//   TCPTUN_FUZZ_EPISODE    episode to start from (repro of a keep-going failure)
//   TCPTUN_FUZZ_KEEP_GOING 1: on a failure, record it, start a fresh stack (next episode) and
//                          go on; the test fails at the end with every distinct failure
//   TCPTUN_FUZZ_IGNORE     comma-separated check tags (e.g. "output,deadline") whose violations
//                          are counted, not failed (to look past a known bug)
//   TCPTUN_FUZZ_VERBOSE    1: print a summary (coverage, counters, heap) at the end
import assert from "node:assert/strict";
import v8 from "node:v8";
import vm from "node:vm";
import {
  type ConnectionDefaults,
  type ConnHandle,
  type CoreListener,
  StackCore,
  type StackCounters,
} from "../../src/stack.ts";
import { State, STATE_NAMES, type TcpConnection } from "../../src/tcp/connection.ts";
import { seqAdd, seqDiff, seqLe } from "../../src/tcp/seq.ts";
import { Prng } from "../../src/prng.ts";
import { ACK, CWR, ECE, FIN, newTcpSegment, PSH, RST, SYN, URG } from "../../src/wire/tcp.ts";
import { emitIpv4, IPPROTO_ICMP } from "../../src/wire/ipv4.ts";
import { internetChecksum } from "../../src/wire/checksum.ts";
import { LINUX_PACKETS } from "../vectors/linux_packets.ts";
import {
  buildTcpPacket,
  fixChecksums,
  hex,
  mutate,
  MUTATIONS,
  newView,
  randomPacket,
  RecordingLink,
  tupleKey,
  unhex,
  type View,
} from "./_packets.ts";

// -----------------------------------------------------------------------------------------
// Configuration

/** The stack's address: the server of the captured Linux corpus, so its packets reach us. */
const US = 0x0a630002; // 10.99.0.2
/** Peers: the corpus client 10.99.0.1 and a few more. */
const PEERS = [0x0a630001, 0x0a630003, 0x0a630004, 0x0a630005];
const MTU = 1500;
/** Scripted passive connections arrive here; the application takes every one. */
const PORT_SCRIPTED = 5000;
/** The corpus's closed port. */
const PORT_CLOSED = 5001;
/** A small backlog; the application takes half of the connections. */
const PORT_SMALL = 5002;
/** Backlog 1, never accepted: a listener that stays full. */
const PORT_FULL = 5003;
const LISTENERS: [number, number][] = [[PORT_SCRIPTED, 64], [PORT_SMALL, 4], [PORT_FULL, 1]];
const SEND_BUFFER = 64 * 1024;
/** Usually large enough that our window scale is 2, so scaled-window rounding is exercised. */
const RECV_BUFFER = 128 * 1024;
/** The application holds at most this many connections; it aborts the oldest beyond. */
const APP_MAX = 96;
/** Hard cap on connections the stack may hold (a leak shows up as unbounded growth). */
const MAX_CONNECTIONS = 1024;
/**
 * Growth of the live heap over a run above this fails the run. What the stack may hold is
 * about 40 connections × (64 KiB send + at most 256 KiB receive) ≈ 12 MiB: room to spare.
 */
const HEAP_GROWTH_LIMIT = 32 * 1024 * 1024;
/** Packets one stack gets before a long run moves on to a fresh one (next episode). */
const EPISODE_PACKETS = 500_000;
/** Scripted states kept alive: when none is in one of these, a connection is scripted into it. */
const WANTED: State[] = [
  State.SynSent,
  State.SynReceived,
  State.Established,
  State.FinWait1,
  State.FinWait2,
  State.CloseWait,
  State.Closing,
  State.LastAck,
  State.TimeWait,
];

function envInt(name: string, dflt: number): number {
  const v = Deno.env.get(name);
  if (v === undefined || v === "") return dflt;
  const n = Number(v);
  if (!Number.isSafeInteger(n)) throw new TypeError(`${name} must be an integer, got ${v}`);
  return n;
}

// -----------------------------------------------------------------------------------------
// Invariants

/** What the invariant checks remember between calls. */
interface CheckMemory {
  /** Per connection: SND.UNA, RCV.NXT and the advertised right edge last seen. */
  seen: WeakMap<TcpConnection, { sndUna: number; rcvNxt: number; rightEdge: number }>;
  /** Counters at the last check. */
  counters: StackCounters | null;
  /** Largest number of connections held. */
  maxConnections: number;
}

/**
 * Every invariant over the stack's state, in one place so it can follow the internals as
 * they change. Returns what is violated (empty when all hold); each message starts with a
 * [tag] naming the check. Called after every packet and every application call, with
 * `now` the time of the `poll` that just ran.
 */
function checkInvariants(
  core: StackCore,
  listeners: CoreListener[],
  mem: CheckMemory,
  now: number,
): string[] {
  const bad: string[] = [];
  let count = 0;
  const unaccepted = new Map<CoreListener, number>();
  const tuples = new Set<string>();
  for (const h of core.connections()) {
    count++;
    const c = h.conn;
    const id = () =>
      `${fmtAddr(c.remoteAddr)}:${c.remotePort}->${c.localPort} ${STATE_NAMES[c.state] ?? c.state}`;
    // One connection per 4-tuple (RFC 9293 §3.10.7: segments are demultiplexed by it).
    const tuple = `${c.remoteAddr}:${c.remotePort}:${c.localPort}`;
    if (tuples.has(tuple)) bad.push(`[tuple] ${id()}: a second connection on this 4-tuple`);
    tuples.add(tuple);
    // A held connection is in a state of RFC 9293 §3.3.2 other than CLOSED and LISTEN.
    if (!(c.state >= State.SynSent && c.state <= State.TimeWait)) {
      bad.push(`[state] ${id()}: held in state ${c.state}`);
    }
    // RFC 9293 §3.3.1: SND.UNA =< SND.NXT.
    if (!seqLe(c.sndUna, c.sndNxt)) {
      bad.push(`[snd-una] ${id()}: SND.UNA ${c.sndUna} > SND.NXT ${c.sndNxt}`);
    }
    if (c.sendBuf.length > c.sendBuf.capacity || c.sendBuf.length < 0) {
      bad.push(`[send-buffer] ${id()}: ${c.sendBuf.length} bytes, capacity ${c.sendBuf.capacity}`);
    }
    // The receive ring holds unread and out-of-order bytes within its limit: the buffer
    // plus the slack for rounding the window up to a scale unit.
    const rcvLimit = c.rcvBuf.limit;
    const held = c.rcvQueued + c.rcvBuf.heldBeyond;
    if (c.rcvQueued < 0 || held > rcvLimit || c.rcvBuf.allocated > rcvLimit) {
      bad.push(
        `[receive-buffer] ${id()}: ${c.rcvQueued} unread + ${c.rcvBuf.heldBeyond} beyond, ` +
          `ring ${c.rcvBuf.allocated} > ${rcvLimit}`,
      );
    }
    // RFC 9293 §3.3.1: SND.UNA and RCV.NXT only move forward.
    let prev = mem.seen.get(c);
    if (!prev) mem.seen.set(c, prev = { sndUna: c.sndUna, rcvNxt: -1, rightEdge: -1 });
    if (seqDiff(c.sndUna, prev.sndUna) < 0) {
      bad.push(`[snd-una] ${id()}: SND.UNA moved back from ${prev.sndUna} to ${c.sndUna}`);
    }
    prev.sndUna = c.sndUna;
    if (c.state >= State.SynReceived) {
      if (prev.rcvNxt !== -1 && seqDiff(c.rcvNxt, prev.rcvNxt) < 0) {
        bad.push(`[rcv-nxt] ${id()}: RCV.NXT moved back from ${prev.rcvNxt} to ${c.rcvNxt}`);
      }
      prev.rcvNxt = c.rcvNxt;
      // RFC 9293 §3.10.7.4: only what lies inside the window offered is accepted (a FIN may
      // take the one sequence number just past a closed window's edge).
      if (seqDiff(c.rcvNxt, c.rcvAdvRight) > 1) {
        bad.push(`[rcv-window] ${id()}: RCV.NXT ${c.rcvNxt} past the right edge ${c.rcvAdvRight}`);
      }
      // The window offered fits in the ring, so what arrives inside it can be kept.
      const offered = Math.max(0, seqDiff(c.rcvAdvRight, c.rcvNxt));
      if (offered + c.rcvQueued > rcvLimit) {
        bad.push(
          `[window-promise] ${id()}: window ${offered} + ${c.rcvQueued} unread > ${rcvLimit}`,
        );
      }
      // RFC 9293 §3.8.6.2.2 (SHLD-14): the right edge never moves left; a scaled window is
      // rounded up, never down (see #windowField).
      if (prev.rightEdge !== -1 && seqDiff(c.rcvAdvRight, prev.rightEdge) < 0) {
        bad.push(
          `[right-edge] ${id()}: right edge moved left from ${prev.rightEdge} to ` +
            `${c.rcvAdvRight}`,
        );
      }
      prev.rightEdge = c.rcvAdvRight;
    }
    // TIME-WAIT is a record, not a connection (findings 6 and 7 of the hardening issue).
    if (c.state === State.TimeWait || c.timeWaitAt !== Infinity) {
      bad.push(`[time-wait] ${id()}: held as a connection (timer ${c.timeWaitAt})`);
    }
    // After poll(now) nothing is overdue (a device loop would spin, or a timer is lost).
    const d = c.nextDeadline();
    if (!(d > now)) {
      bad.push(
        `[deadline] ${id()}: deadline ${d} still due after poll(${now}) (rto ${c.rtoAt} ` +
          `pto ${c.ptoAt} persist ${c.persistAt} delack ${c.delAckAt} keepalive ` +
          `${c.keepAliveAt} fin-wait-2 ${c.finWait2At} time-wait ${c.timeWaitAt})`,
      );
    }
    if (h.listener && !h.accepted) {
      unaccepted.set(h.listener, (unaccepted.get(h.listener) ?? 0) + 1);
    }
  }
  const cur = core.counters;
  if (count + cur.timeWait !== core.connectionCount) {
    bad.push(
      `[count] connectionCount ${core.connectionCount} but ${count} connections and ` +
        `${cur.timeWait} TIME-WAIT records`,
    );
  }
  if (cur.connectionsOpened - cur.connectionsClosed !== count + cur.timeWait) {
    bad.push(
      `[count] ${cur.connectionsOpened} opened - ${cur.connectionsClosed} closed != ` +
        `${count} held + ${cur.timeWait} in TIME-WAIT`,
    );
  }
  if (count > mem.maxConnections) mem.maxConnections = count;
  if (count > MAX_CONNECTIONS) bad.push(`[connections] ${count} held > ${MAX_CONNECTIONS}`);
  // The accept queue holds only live connections and never more than the backlog; the
  // half-open table stays within its bound.
  const live = new Set(core.connections());
  for (const l of listeners) {
    const q = l.acceptQueue;
    if (q.length > l.backlog) {
      bad.push(`[backlog] port ${l.port}: ${q.length} queued > backlog ${l.backlog}`);
    }
    for (const h of q) {
      if (!live.has(h)) bad.push(`[backlog] port ${l.port}: a dead connection is queued`);
      if (h.accepted) bad.push(`[backlog] port ${l.port}: an accepted connection is queued`);
    }
    if (l.halfOpen > l.maxHalfOpen || l.halfOpen < 0) {
      bad.push(`[half-open] port ${l.port}: ${l.halfOpen} records, bound ${l.maxHalfOpen}`);
    }
    if ((unaccepted.get(l) ?? 0) < q.length) {
      bad.push(
        `[backlog] port ${l.port}: queue ${q.length} longer than its unaccepted connections`,
      );
    }
  }
  // Counters only grow.
  if (mem.counters) {
    for (const k of Object.keys(cur) as (keyof StackCounters)[]) {
      if (GAUGES.has(k)) continue;
      if (cur[k] < mem.counters[k]) {
        bad.push(`[counters] ${k} went down: ${mem.counters[k]} -> ${cur[k]}`);
      }
    }
  }
  mem.counters = { ...cur };
  return bad;
}

/** Counters that are gauges (they go down as well as up). */
const GAUGES = new Set<string>(["connections", "halfOpen", "timeWait", "memoryBytes"]);

function fmtAddr(a: number): string {
  return `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
}

// -----------------------------------------------------------------------------------------
// The world: a stack, its application, and the peers the fuzzer plays

/** A connection the fuzzer scripted and now plays the peer of. */
interface Tracked {
  addr: number;
  port: number;
  localPort: number;
  view: View;
  h: ConnHandle;
  irs: number;
  ts: boolean;
  tsVal: number;
  sack: boolean;
  wscale: number;
  mss: number;
  /** The highest ACK the peer sent (the stack's SND.UNA as far as the peer knows). */
  acked: number;
}

/** The application's side of a connection. */
interface App {
  h: ConnHandle;
  unread: number;
  /** Never reads: its receive window fills up and closes. */
  slow: boolean;
}

/** A failure found by the fuzzer. */
class FuzzFailure extends Error {}

/** How often each thing happened, for the summary. */
interface Coverage {
  targetedByState: number[];
  mutations: number[];
  sources: Record<string, number>;
  spawned: number[];
  spawnFailed: number;
  maxOutPerInput: number;
  /** Bytes delivered to the application. */
  delivered: number;
  /** Sums of connection statistics of the scripted connections, taken when forgotten. */
  conn: Record<string, number>;
}

/** Connection statistics summed for the coverage summary. */
const STAT_KEYS = [
  "bytesSent",
  "bytesReceived",
  "retransmissions",
  "fastRetransmits",
  "timeouts",
  "dupAcksReceived",
  "outOfOrderSegments",
  "zeroWindowProbes",
  "lossProbes",
];

const CORPUS = LINUX_PACKETS.map((p) => unhex(p.hex));
const WRITE_DATA = new Uint8Array(8192).map((_, i) => (i * 31 + 7) & 0xff);

class World {
  readonly r: Prng;
  readonly core: StackCore;
  readonly link: RecordingLink;
  readonly listeners: CoreListener[] = [];
  readonly tracked: Tracked[] = [];
  readonly app = new Map<ConnHandle, App>();
  readonly unread = new Set<App>();
  readonly mem: CheckMemory = { seen: new WeakMap(), counters: null, maxConnections: 0 };
  readonly history: Uint8Array[] = [];
  readonly cov: Coverage = {
    targetedByState: new Array(11).fill(0),
    mutations: new Array(MUTATIONS.length).fill(0),
    sources: {},
    spawned: new Array(11).fill(0),
    spawnFailed: 0,
    maxOutPerInput: 0,
    delivered: 0,
    conn: {},
  };
  now = 1000;
  /** Packets fed to the stack (the index a failure reports). */
  index = 0;
  /** The last packets fed, for failure reports. */
  readonly recent: { index: number; now: number; bytes: Uint8Array; source: string }[] = [];
  readonly seed: number;
  readonly episode: number;
  /** What is being done (for failure reports): the input of a packet or an application call. */
  #doing = "";
  /** Tags of checks whose violations are only counted (known bugs, while exploring). */
  readonly ignore: Set<string>;
  /** Violations of ignored checks, by tag. */
  readonly ignored = new Map<string, number>();
  #nextPort = 1024;
  #nextLocal = 49152;
  #ipId = 0;
  readonly #seg = newTcpSegment();

  constructor(seed: number, episode: number, ignore: Set<string>) {
    this.seed = seed;
    this.episode = episode;
    this.ignore = ignore;
    this.r = new Prng(seed, episode);
    const r = this.r;
    this.link = new RecordingLink(US, MTU);
    const isnKey = new Uint8Array(16).map(() => r.int(0, 256));
    const random = r.fork();
    this.core = new StackCore({
      addr: US,
      link: this.link,
      now: () => this.now,
      isnKey,
      random: () => random.nextU32(),
      connection: {
        // Mostly the defaults below; sometimes tiny buffers (zero windows, SWS avoidance) or
        // options off (the paths without SACK, timestamps or window scaling).
        sendBufferSize: r.chance(0.8) ? SEND_BUFFER : 8192,
        recvBufferSize: r.chance(0.7) ? RECV_BUFFER : [4096, 65535, 256 * 1024][r.int(0, 3)],
        timestamps: r.chance(0.85),
        sack: r.chance(0.85),
        windowScaling: r.chance(0.85),
        noDelay: r.chance(0.5),
        delayedAckMs: r.chance(0.8) ? 40 : 200,
        congestion: r.chance(0.5) ? "cubic" : "newreno",
        mslMs: 1000,
        keepAlive: { idleMs: 5000, intervalMs: 1000, count: 3 },
        synRetries: 3,
        maxRetries: 5,
        maxRtoMs: 4000,
        finWait2TimeoutMs: 3000,
      },
    });
    for (const [port, backlog] of LISTENERS) {
      this.listeners.push(this.core.listen(port, backlog, (h) => this.#accept(port, h)));
    }
  }

  #accept(port: number, h: ConnHandle): void {
    if (port === PORT_FULL) return; // never taken: the listener stays full
    if (port === PORT_SMALL && this.r.chance(0.5)) return;
    h.take();
    this.#own(h);
  }

  /** The application takes charge of `h`: reads (or not) what arrives. */
  #own(h: ConnHandle): void {
    if (this.app.has(h)) return;
    if (this.app.size >= APP_MAX) {
      const [oldest] = this.app.values();
      this.#drop(oldest);
      oldest.h.abort();
    }
    const a: App = { h, unread: 0, slow: this.r.chance(0.2) };
    this.app.set(h, a);
    h.attach({
      onReadable: () => {
        if (!a.slow) this.unread.add(a);
      },
      onEvent: () => {},
    });
  }

  #drop(a: App): void {
    this.app.delete(a.h);
    this.unread.delete(a);
  }

  // ---------------------------------------------------------------------------------------
  // Feeding packets

  /** Feeds one packet at the current time, polls, and checks everything. */
  feed(p: Uint8Array, source: string): void {
    const index = this.index++;
    this.recent.push({ index, now: this.now, bytes: p, source });
    if (this.recent.length > 8) this.recent.shift();
    this.cov.sources[source] = (this.cov.sources[source] ?? 0) + 1;
    this.link.take();
    this.#doing = `the input of packet ${index}`;
    try {
      this.core.input(p, this.now);
    } catch (e) {
      this.report([`[exception] core.input threw: ${errText(e)}`]);
    }
    this.afterStep(`input`);
  }

  /** After an input or an application call: poll, then check the output and invariants. */
  afterStep(what: string): void {
    try {
      this.core.poll(this.now);
    } catch (e) {
      this.report([`[exception] core.poll threw after ${what}: ${errText(e)}`]);
    }
    const out = this.link.take();
    if (out > this.cov.maxOutPerInput) this.cov.maxOutPerInput = out;
    if (this.link.errors.length > 0) {
      const errors = this.link.errors.map((e) => `[output] ${e}`);
      this.link.errors = [];
      this.report(errors);
    }
    const bad = checkInvariants(this.core, this.listeners, this.mem, this.now);
    if (bad.length > 0) this.report(bad);
  }

  /**
   * Throws a `FuzzFailure` for the violations whose tag is not ignored; ignored ones are
   * counted. The message names the packet and the packets before it.
   */
  report(violations: string[]): void {
    const kept: string[] = [];
    for (const v of violations) {
      const tag = /^\[([a-z-]+)\]/.exec(v)?.[1] ?? "";
      if (this.ignore.has(tag)) this.ignored.set(tag, (this.ignored.get(tag) ?? 0) + 1);
      else kept.push(v);
    }
    if (kept.length === 0) return;
    const lines = [
      ...kept,
      `  after packet ${this.index - 1}, time ${this.now} ms, in ${this.#doing}`,
      `  repro: TCPTUN_FUZZ_SEED=${this.seed} TCPTUN_FUZZ_EPISODE=${this.episode} ` +
      `TCPTUN_FUZZ_PACKETS=${this.index + 1} deno test -A tests/fuzz/input_fuzz_test.ts`,
      `  last packets (index time source hex):`,
      ...this.recent.map((p) => `    #${p.index} t=${p.now} ${p.source} ${hex(p.bytes)}`),
    ];
    throw new FuzzFailure(lines.join("\n"));
  }

  /** An application call on a connection, checked like a packet. */
  appCall(what: string, fn: () => void): void {
    this.#doing = `application call ${what}`;
    try {
      fn();
    } catch (e) {
      this.report([`[exception] application ${what} threw: ${errText(e)}`]);
    }
    this.afterStep(what);
  }

  tcp(
    t: Tracked,
    flags: number,
    seq: number,
    ack: number,
    payload: Uint8Array,
    window: number,
    syn = false,
  ): Uint8Array {
    const s = this.#seg;
    const o = s.options;
    s.srcPort = t.port;
    s.dstPort = t.localPort;
    s.seq = seq >>> 0;
    s.ack = ack >>> 0;
    s.flags = flags;
    s.window = window;
    s.urgent = 0;
    s.payload = payload;
    o.mss = syn ? t.mss : -1;
    o.wscale = syn ? t.wscale : -1;
    o.sackPermitted = syn && t.sack;
    o.hasTimestamps = t.ts;
    t.tsVal = (t.tsVal + 1) >>> 0;
    o.tsVal = t.tsVal;
    o.tsEcr = t.view.tsVal >= 0 ? t.view.tsVal : 0;
    o.sackBlocks.length = 0;
    return buildTcpPacket(t.addr, US, s, this.#ipId++ & 0xffff);
  }

  // ---------------------------------------------------------------------------------------
  // Scripting connections into states

  /** Scripts a new connection into `want`; returns it, or null when the stack refused. */
  spawn(want: State): Tracked | null {
    const r = this.r;
    const addr = PEERS[r.int(0, PEERS.length)];
    const port = this.#nextPort = this.#nextPort >= 65000 ? 1024 : this.#nextPort + 1;
    const active = want === State.SynSent || (want !== State.SynReceived && r.chance(0.5));
    const localPort = active
      ? (this.#nextLocal = this.#nextLocal >= 65535 ? 49152 : this.#nextLocal + 1)
      : PORT_SCRIPTED;
    for (const h of this.core.connections()) {
      const c = h.conn;
      if (c.remoteAddr === addr && c.remotePort === port && c.localPort === localPort) return null;
    }
    const key = tupleKey(addr, port, localPort);
    const view = newView();
    this.link.views.set(key, view);
    const irs = r.nextU32();
    const t: Tracked = {
      addr,
      port,
      localPort,
      view,
      h: null as unknown as ConnHandle,
      irs,
      ts: r.chance(0.7),
      tsVal: r.nextU32(),
      sack: r.chance(0.7),
      wscale: r.chance(0.7) ? r.int(0, 15) : -1,
      mss: r.chance(0.8) ? 1460 : r.int(1, 2000),
      acked: 0,
    };
    const win = 65535;
    const none = new Uint8Array(0);
    if (active) {
      let h: ConnHandle | null = null;
      // Some active opens get a tiny receive buffer, so that segments meet the window's edge.
      const extra: ConnectionDefaults = {
        noDelay: r.chance(0.5),
        congestion: r.chance(0.5) ? "cubic" : "newreno",
      };
      if (r.chance(0.3)) extra.recvBufferSize = r.int(512, 8193);
      this.appCall("connect", () => {
        h = this.core.connect(addr, port, localPort, extra);
      });
      t.h = h!;
      this.#own(t.h);
      if (want !== State.SynSent) {
        this.feed(this.tcp(t, SYN | ACK, irs, seqAdd(view.iss, 1), none, win, true), "script");
      }
    } else {
      this.feed(this.tcp(t, SYN, irs, 0, none, win, true), "script");
      if (view.iss < 0) return this.#spawnFailed(key);
      for (const h of this.core.connections()) {
        const c = h.conn;
        if (c.remoteAddr === addr && c.remotePort === port && c.localPort === localPort) t.h = h;
      }
      if (want !== State.SynReceived) {
        this.feed(this.tcp(t, ACK, irs + 1, seqAdd(view.iss, 1), none, win), "script");
      }
    }
    if (!t.h || t.h.conn.state === State.Closed) return this.#spawnFailed(key);
    t.acked = seqAdd(view.iss, 1);
    const sndAll = () => view.sndMax;
    switch (want) {
      case State.Established:
        if (r.chance(0.7)) {
          this.appCall("write", () => t.h.write(WRITE_DATA.subarray(0, r.int(1, 4000))));
        }
        break;
      case State.FinWait1:
        if (r.chance(0.7)) {
          this.appCall("write", () => t.h.write(WRITE_DATA.subarray(0, r.int(1, 4000))));
        }
        this.appCall("closeWrite", () => t.h.closeWrite());
        break;
      case State.FinWait2:
      case State.TimeWait:
        this.appCall("closeWrite", () => t.h.closeWrite());
        this.feed(this.tcp(t, ACK, irs + 1, sndAll(), none, win), "script");
        if (want === State.TimeWait) {
          this.feed(this.tcp(t, FIN | ACK, irs + 1, sndAll(), none, win), "script");
        }
        break;
      case State.Closing:
        this.appCall("closeWrite", () => t.h.closeWrite());
        // Our FIN crosses theirs: their FIN does not acknowledge ours (RFC 9293 Figure 13).
        this.feed(this.tcp(t, FIN | ACK, irs + 1, view.finSeq, none, win), "script");
        break;
      case State.CloseWait:
      case State.LastAck:
        this.feed(this.tcp(t, FIN | ACK, irs + 1, sndAll(), none, win), "script");
        if (want === State.LastAck) this.appCall("closeWrite", () => t.h.closeWrite());
        break;
    }
    if (t.h.conn.state !== want) {
      this.report([
        `[script] scripting ${STATE_NAMES[want]} (${active ? "active" : "passive"}) ended in ${
          STATE_NAMES[t.h.conn.state]
        }`,
      ]);
    }
    this.cov.spawned[want]++;
    this.tracked.push(t);
    return t;
  }

  #spawnFailed(key: string): null {
    this.link.views.delete(key);
    this.cov.spawnFailed++;
    return null;
  }

  /** Stops playing the peer of `tracked[i]`, adding its statistics to the coverage. */
  #forget(i: number): void {
    const t = this.tracked[i];
    this.link.views.delete(tupleKey(t.addr, t.port, t.localPort));
    this.tracked.splice(i, 1);
    const st = t.h.stats() as unknown as Record<string, unknown>;
    for (const k of STAT_KEYS) this.cov.conn[k] = (this.cov.conn[k] ?? 0) + (st[k] as number);
  }

  /** A tracked connection that is not CLOSED (forgetting closed ones), or null. */
  #pickTracked(): Tracked | null {
    while (this.tracked.length > 0) {
      const i = this.r.int(0, this.tracked.length);
      const t = this.tracked[i];
      if (t.h.conn.state !== State.Closed) return t;
      this.#forget(i);
    }
    return null;
  }

  /** Forgets connections the stack no longer holds; scripts the states nobody is in. */
  maintain(): void {
    const live = new Set(this.core.connections());
    for (let i = this.tracked.length - 1; i >= 0; i--) {
      const t = this.tracked[i];
      if (!live.has(t.h)) {
        this.#forget(i);
      }
    }
    for (const a of [...this.app.values()]) if (!live.has(a.h)) this.#drop(a);
    if (this.tracked.length >= 48) return;
    const present = new Set(this.tracked.map((t) => t.h.conn.state));
    for (const s of WANTED) if (!present.has(s)) this.spawn(s);
  }

  // ---------------------------------------------------------------------------------------
  // Generating packets

  /** A segment aimed at a live connection, its fields near the connection's numbers. */
  targeted(t: Tracked): Uint8Array {
    const r = this.r;
    const v = t.view;
    const rcvNxt = v.ack >= 0 ? v.ack : seqAdd(t.irs, 1);
    const scale = v.wscale > 0 && t.wscale >= 0 ? v.wscale : 0;
    const wnd = v.window * (1 << scale);
    const sndMax = v.sndMax >= 0 ? v.sndMax : t.acked;
    const x = r.next();
    let len = x < 0.45 ? 0 : x < 0.75 ? r.int(1, 100) : x < 0.95 ? r.int(1, 1461) : r.int(1, 1480);
    let seq: number;
    const y = r.next();
    if (wnd < 1460 && r.chance(0.2)) {
      // In order, up to the right edge of the window or a little past it.
      seq = rcvNxt;
      len = Math.max(1, wnd + r.int(-2, 4));
    } else if (y < 0.5) seq = rcvNxt;
    else if (y < 0.7) seq = seqAdd(rcvNxt, r.int(-4, 5));
    else if (y < 0.85) seq = seqAdd(rcvNxt, wnd + r.int(-2, 3) - (r.chance(0.5) ? len : 0));
    else if (y < 0.95) seq = seqAdd(rcvNxt, r.int(-70000, 70000));
    else seq = r.nextU32();
    let ack: number;
    const z = r.next();
    if (z < 0.45) ack = sndMax;
    else if (z < 0.7) ack = seqAdd(t.acked, r.int(0, Math.max(1, seqDiff(sndMax, t.acked) + 1)));
    else if (z < 0.8) ack = seqAdd(sndMax, r.int(1, 10));
    else if (z < 0.9) ack = seqAdd(t.acked, -r.int(1, 3));
    else ack = r.nextU32();
    const f = r.next();
    let flags: number;
    if (f < 0.5) flags = ACK | (len > 0 && r.chance(0.5) ? PSH : 0);
    else if (f < 0.6) flags = FIN | ACK;
    else if (f < 0.7) flags = RST | (r.chance(0.5) ? ACK : 0);
    else if (f < 0.76) flags = SYN;
    else if (f < 0.82) flags = SYN | ACK;
    else if (f < 0.86) flags = ACK | URG | (r.chance(0.5) ? ECE | CWR : 0);
    else if (f < 0.9) flags = 0;
    else flags = r.int(0, 256);
    if (flags & RST && r.chance(0.6)) len = 0;
    const payload = WRITE_DATA.subarray(0, len);
    const window = r.chance(0.8) ? 65535 : [0, 1, 2, 100, 0x8000][r.int(0, 5)];
    const p = this.tcp(t, flags, seq, ack, payload, window, (flags & SYN) !== 0 && r.chance(0.7));
    if (t.ts && r.chance(0.1)) this.#lieTimestamp(p, r);
    if (t.sack && flags & ACK && r.chance(0.3)) return this.#withSack(t, p, sndMax);
    if ((flags & (ACK | RST)) === ACK && seqDiff(ack, t.acked) > 0 && seqLe(ack, sndMax)) {
      t.acked = ack;
    }
    return p;
  }

  /**
   * Three to six duplicate ACKs for data the stack has outstanding, with SACK blocks
   * growing above SND.UNA when SACK is on: fast retransmit and recovery
   * (RFC 5681 §3.2, RFC 6675), sometimes with a partial or full ACK to end it.
   */
  #dupAcks(t: Tracked): void {
    const r = this.r;
    const v = t.view;
    const rcvNxt = v.ack >= 0 ? v.ack : seqAdd(t.irs, 1);
    const una = t.acked;
    const span = seqDiff(v.sndMax, una);
    const mss = Math.max(64, Math.min(t.mss, 1460) - (t.ts ? 12 : 0));
    const n = r.int(3, 7);
    const none = new Uint8Array(0);
    for (let i = 0; i < n; i++) {
      const p = this.tcp(t, ACK, rcvNxt, una, none, 65535);
      if (t.sack && span > mss) {
        const right = seqAdd(una, Math.min(span, mss * (i + 2)));
        this.#seg.options.sackBlocks.push(seqAdd(una, mss), right);
        this.feed(buildTcpPacket(t.addr, US, this.#seg, this.#ipId++ & 0xffff), "dupack");
      } else {
        this.feed(p, "dupack");
      }
    }
    if (r.chance(0.5)) {
      const ack = seqAdd(una, r.int(1, span + 1));
      t.acked = ack;
      this.feed(this.tcp(t, ACK, rcvNxt, ack, none, 65535), "dupack");
    }
  }

  /** Rewrites TSval to an old, equal or random value (PAWS, RFC 7323 §5). */
  #lieTimestamp(p: Uint8Array, r: Prng): void {
    // Our segments without SYN carry NOP NOP TS first: TSval at TCP offset 24.
    const at = 20 + 24;
    if (p.length < at + 4 || p[20 + 22] !== 8) return;
    const old = ((p[at] << 24) | (p[at + 1] << 16) | (p[at + 2] << 8) | p[at + 3]) >>> 0;
    const v = r.chance(0.5) ? (old - r.int(1, 0x80000000)) >>> 0 : r.nextU32();
    p[at] = v >>> 24;
    p[at + 1] = v >>> 16;
    p[at + 2] = v >>> 8;
    p[at + 3] = v;
    fixChecksums(p);
  }

  /** Rebuilds `p` with SACK blocks around the stack's outstanding data (RFC 2018). */
  #withSack(t: Tracked, p: Uint8Array, sndMax: number): Uint8Array {
    const r = this.r;
    const s = this.#seg; // still holds the fields of `p`
    const span = Math.max(1, seqDiff(sndMax, t.acked));
    const n = r.int(1, t.ts ? 4 : 5);
    for (let i = 0; i < n; i++) {
      const l = r.chance(0.85) ? seqAdd(t.acked, r.int(-10, span + 10)) : r.nextU32();
      const e = r.chance(0.85) ? seqAdd(l, r.int(1, Math.max(2, span))) : r.nextU32();
      s.options.sackBlocks.push(l, e);
    }
    return buildTcpPacket(t.addr, US, s, ((p[4] << 8) | p[5]) + 1);
  }

  /** A captured Linux packet: as captured, turned around, or retargeted at a live connection. */
  corpus(): [Uint8Array, number] {
    const r = this.r;
    const p = CORPUS[r.int(0, CORPUS.length)].slice();
    const how = r.next();
    if (how < 0.25) return [p, 0];
    // Swapping the addresses keeps both checksums valid (their sums commute).
    if (p.length >= 20 && p[16] === 10 && p[19] === 1) {
      const src = p.slice(12, 16);
      p.copyWithin(12, 16, 20);
      p.set(src, 16);
    }
    const t = how < 0.45 || p[9] !== 6 || p.length < 40 ? null : this.#pickTracked();
    if (!t) return [p, 0];
    const v = t.view;
    p.set([t.addr >>> 24, (t.addr >>> 16) & 255, (t.addr >>> 8) & 255, t.addr & 255], 12);
    p.set([US >>> 24, (US >>> 16) & 255, (US >>> 8) & 255, US & 255], 16);
    p.set([t.port >>> 8, t.port & 255, t.localPort >>> 8, t.localPort & 255], 20);
    const seq = v.ack >= 0 ? seqAdd(v.ack, r.chance(0.7) ? 0 : r.int(-3000, 3000)) : t.irs;
    const ack = v.sndMax >= 0 ? v.sndMax : 0;
    p.set([seq >>> 24, (seq >>> 16) & 255, (seq >>> 8) & 255, seq & 255], 24);
    p.set([ack >>> 24, (ack >>> 16) & 255, (ack >>> 8) & 255, ack & 255], 28);
    fixChecksums(p);
    return [p, seq];
  }

  /** A segment for a listener or a closed port, from anyone: SYNs and strays. */
  stranger(): Uint8Array {
    const r = this.r;
    const s = this.#seg;
    const o = s.options;
    const ports = [PORT_SCRIPTED, PORT_SMALL, PORT_FULL, PORT_CLOSED, r.int(1, 65536)];
    s.srcPort = r.int(1, 65536);
    s.dstPort = ports[r.int(0, ports.length)];
    s.seq = r.nextU32();
    s.ack = r.chance(0.5) ? 0 : r.nextU32();
    const f = r.next();
    s.flags = f < 0.6 ? SYN : f < 0.7 ? ACK : f < 0.75 ? RST : f < 0.8 ? FIN : r.int(0, 256);
    s.window = r.int(0, 65536);
    s.urgent = 0;
    s.payload = WRITE_DATA.subarray(0, r.chance(0.8) ? 0 : r.int(1, 1400));
    o.mss = r.chance(0.8) ? r.int(0, 65536) : -1;
    o.wscale = r.chance(0.7) ? r.int(0, 256) & 0x1f : -1;
    o.sackPermitted = r.chance(0.6);
    o.hasTimestamps = r.chance(0.6);
    o.tsVal = r.nextU32();
    o.tsEcr = r.chance(0.7) ? 0 : r.nextU32();
    o.sackBlocks.length = 0;
    const src = r.chance(0.5)
      ? PEERS[r.int(0, PEERS.length)]
      : (0x0a630000 | r.int(0, 65536)) >>> 0;
    return buildTcpPacket(src, US, s, this.#ipId++ & 0xffff);
  }

  /** An ICMP echo request (sometimes odd-sized or huge) or another protocol. */
  icmp(): Uint8Array {
    const r = this.r;
    const n = r.chance(0.9) ? r.int(8, 100) : r.int(8, 1600);
    const p = new Uint8Array(20 + n);
    for (let i = 28; i < p.length; i++) p[i] = r.int(0, 256);
    p[20] = r.chance(0.8) ? 8 : r.int(0, 256);
    p[21] = r.chance(0.9) ? 0 : r.int(0, 256);
    const c = internetChecksum(p, 20, p.length);
    p[22] = c >>> 8;
    p[23] = c;
    emitIpv4(p, {
      src: PEERS[r.int(0, PEERS.length)],
      dst: US,
      protocol: r.chance(0.85) ? IPPROTO_ICMP : r.int(0, 256),
      ttl: 64,
      id: 0,
      payloadLength: n,
    });
    return p;
  }

  /** One fuzzing step: time passes, maybe the application acts, then one packet. */
  step(): void {
    const r = this.r;
    const tick = r.next();
    if (tick < 0.01) this.now += r.int(200, 3000);
    else if (tick < 0.015) {
      const d = this.core.nextDeadline();
      if (d !== Infinity && d > this.now) this.now = Math.ceil(d);
    } else this.now += r.int(0, 25);
    if ((this.index & 127) === 0) this.maintain();
    this.#application();

    if (r.chance(0.03)) {
      const t = this.#pickTracked();
      if (t && t.view.sndMax >= 0 && seqDiff(t.view.sndMax, t.acked) > 0) {
        this.#dupAcks(t);
        return;
      }
    }
    let p: Uint8Array;
    let near = 0;
    let source: string;
    let mutateChance = 0.6;
    const x = r.next();
    const t = x < 0.55 ? this.#pickTracked() : null;
    if (t) {
      this.cov.targetedByState[t.h.conn.state]++;
      p = this.targeted(t);
      near = t.view.ack >= 0 ? t.view.ack : t.irs;
      source = "targeted";
      mutateChance = 0.4;
      this.history.push(p);
      if (this.history.length > 64) this.history.shift();
    } else if (x < 0.65) {
      [p, near] = this.corpus();
      source = "corpus";
    } else if (x < 0.75 && this.history.length > 0) {
      // A duplicate, or a late (reordered) segment.
      p = this.history[r.chance(0.5) ? this.history.length - 1 : r.int(0, this.history.length)];
      source = "replay";
      mutateChance = 0.3;
    } else if (x < 0.88) {
      p = this.stranger();
      source = "stranger";
    } else if (x < 0.93) {
      p = this.icmp();
      source = "icmp";
    } else {
      p = randomPacket(r, PEERS[r.int(0, PEERS.length)], US);
      source = "random";
      mutateChance = 0;
    }
    if (r.chance(mutateChance)) {
      p = mutate(p, r, near, this.cov.mutations);
      source += "+mutated";
      if (r.chance(0.85)) fixChecksums(p);
    }
    this.feed(p, source);
  }

  /** The application: reads, writes, closes and aborts now and then. */
  #application(): void {
    const r = this.r;
    for (const a of this.unread) {
      if (!r.chance(0.5)) continue;
      const unread = a.h.conn.rcvQueued;
      const n = r.chance(0.8) ? unread : r.int(0, unread + 1);
      if (n === unread) this.unread.delete(a);
      this.appCall("read", () => {
        const got = a.h.read(new Uint8Array(n));
        this.cov.delivered += got;
      });
    }
    if (this.app.size === 0 || !r.chance(0.08)) return;
    const list = [...this.app.values()];
    const a = list[r.int(0, list.length)];
    const x = r.next();
    if (x < 0.6) {
      this.appCall("write", () => a.h.write(WRITE_DATA.subarray(0, r.int(1, WRITE_DATA.length))));
    } else if (x < 0.8) {
      this.appCall("closeWrite", () => a.h.closeWrite());
    } else if (x < 0.93) {
      this.#drop(a);
      this.appCall("close", () => a.h.close());
    } else {
      this.#drop(a);
      this.appCall("abort", () => a.h.abort());
    }
  }
}

function errText(e: unknown): string {
  return e instanceof Error ? `${e.name}: ${e.message}\n${e.stack ?? ""}` : String(e);
}

// -----------------------------------------------------------------------------------------
// The run

/**
 * A function that runs a full garbage collection, or null. V8 exposes one when asked
 * (`--expose-gc`); the flag can be set at run time and the function fetched from a new
 * context, which works in Deno as in Node.
 */
function exposeGc(): (() => void) | null {
  const existing = (globalThis as { gc?: () => void }).gc;
  if (typeof existing === "function") return existing;
  try {
    v8.setFlagsFromString("--expose-gc");
    const gc = vm.runInNewContext("gc");
    return typeof gc === "function" ? gc : null;
  } catch {
    return null;
  }
}

/**
 * Watches the heap over a run. With a GC at hand it samples the live heap exactly, 16 times
 * a run; without one it keeps the minimum of each of 20 windows of samples taken every
 * 1024 packets (garbage not yet collected then mostly drops out), with a looser limit.
 */
class HeapMonitor {
  readonly #gc = exposeGc();
  readonly exact = this.#gc !== null;
  readonly samples: number[] = [];
  readonly #every: number;
  readonly #perWindow: number;
  #windowMin = Infinity;
  #taken = 0;
  #next: number;

  constructor(packets: number) {
    this.#every = this.exact ? Math.max(1024, Math.floor(packets / 16)) : 1024;
    this.#perWindow = Math.max(4, Math.floor(packets / 20 / 1024));
    this.#next = this.#every;
  }

  /** Called after every step with the number of packets so far. */
  tick(total: number): void {
    if (total < this.#next) return;
    this.#next += this.#every;
    if (this.#gc) {
      this.#gc();
      this.samples.push(Deno.memoryUsage().heapUsed);
      return;
    }
    this.#windowMin = Math.min(this.#windowMin, Deno.memoryUsage().heapUsed);
    if (++this.#taken % this.#perWindow === 0) {
      this.samples.push(this.#windowMin);
      this.#windowMin = Infinity;
    }
  }

  /** The growth from early in the run (after warm-up) to its end, or null if too short. */
  growth(): number | null {
    const s = this.samples;
    if (s.length < 4) return null;
    return s[s.length - 1] - Math.min(s[1], s[2]);
  }

  get limit(): number {
    return this.exact ? HEAP_GROWTH_LIMIT : 2 * HEAP_GROWTH_LIMIT;
  }
}

interface RunResult {
  packets: number;
  failures: string[];
  summary: string;
}

/** Runs `packets` packets from `seed`; returns the failures (all of them if keepGoing). */
function run(
  seed: number,
  firstEpisode: number,
  packets: number,
  keepGoing: boolean,
  ignore: Set<string>,
): RunResult {
  const failures = new Map<string, string>();
  let episode = firstEpisode;
  let world = new World(seed, episode, ignore);
  const ignored = new Map<string, number>();
  const addIgnored = (w: World) => {
    for (const [k, n] of w.ignored) ignored.set(k, (ignored.get(k) ?? 0) + n);
  };
  let total = 0;
  const heap = new HeapMonitor(packets);
  let done = 0; // packets of the episodes before this one
  while (total < packets) {
    try {
      while (total < packets) {
        world.step();
        total = done + world.index;
        heap.tick(total);
        if (world.index >= EPISODE_PACKETS && total < packets) {
          // A long run goes on with a fresh stack (and its own random configuration).
          addIgnored(world);
          done = total;
          episode++;
          world = new World(seed, episode, ignore);
        }
      }
    } catch (e) {
      if (!(e instanceof FuzzFailure)) throw e;
      const text = `seed ${seed} episode ${episode}: ${e.message}`;
      const signature = e.message.split("\n")[0].replace(/\d+/g, "N");
      if (!failures.has(signature)) failures.set(signature, text);
      if (!keepGoing) break;
      addIgnored(world);
      done += world.index;
      total = done;
      episode++;
      world = new World(seed, episode, ignore);
    }
  }
  addIgnored(world);
  const growth = heap.growth();
  const heapText = `${heap.exact ? "live heap after GC" : "heap window minima"} (MiB): ${
    heap.samples.map(mib).join(" ")
  }`;
  if (growth !== null && growth > heap.limit) {
    failures.set(
      "heap",
      `seed ${seed}: [heap] heap grew by ${mib(growth)} MiB (limit ${mib(heap.limit)}) over ` +
        `${total} packets; ${heapText}`,
    );
  }
  const c = world.cov;
  const nonZero = (counts: number[]) =>
    STATE_NAMES.map((n, i) => `${n} ${counts[i]}`).filter((_, i) => counts[i] > 0).join(", ");
  const summary = [
    `seed ${seed}: ${total} packets, episodes ${firstEpisode}..${episode} (coverage of the last)`,
    `targeted packets by state: ${nonZero(c.targetedByState)}`,
    `scripted: ${nonZero(c.spawned)}; refused ${c.spawnFailed}`,
    `sources: ${JSON.stringify(c.sources)}`,
    `mutations: ${MUTATIONS.map((m, i) => `${m} ${c.mutations[i]}`).join(", ")}`,
    `counters: ${JSON.stringify(world.core.counters)}`,
    `bytes delivered ${c.delivered}; scripted connections' stats: ${JSON.stringify(c.conn)}`,
    `max connections ${world.mem.maxConnections}, max packets out per step ${c.maxOutPerInput}`,
    heapText,
    `ignored violations: ${JSON.stringify(Object.fromEntries(ignored))}`,
  ].join("\n");
  return { packets: total, failures: [...failures.values()], summary };
}

function mib(n: number): string {
  return (n / 1048576).toFixed(1);
}

Deno.test("fuzz: mutated packets into a stack with connections in every state", () => {
  const packets = envInt("TCPTUN_FUZZ_PACKETS", 200_000);
  const seedText = Deno.env.get("TCPTUN_FUZZ_SEED");
  const seed = seedText === "random"
    ? crypto.getRandomValues(new Uint32Array(1))[0]
    : envInt("TCPTUN_FUZZ_SEED", 20240601);
  if (seedText === "random") console.log(`TCPTUN_FUZZ_SEED=${seed}`);
  const episode = envInt("TCPTUN_FUZZ_EPISODE", 0);
  const keepGoing = Deno.env.get("TCPTUN_FUZZ_KEEP_GOING") === "1";
  const ignore = new Set((Deno.env.get("TCPTUN_FUZZ_IGNORE") ?? "").split(",").filter((t) => t));
  const res = run(seed, episode, packets, keepGoing, ignore);
  if (Deno.env.get("TCPTUN_FUZZ_VERBOSE") === "1" || res.failures.length > 0) {
    console.log(res.summary);
  }
  assert.equal(res.failures.length, 0, `fuzz failures:\n\n${res.failures.join("\n\n")}`);
});
