/**
 * The Deno side of the packet crafter `tests/integration/craft.py`: a `Crafter` drives one
 * `craft.py session` process (raw-socket sender and AF_PACKET sniffer on the kernel side of
 * the stack's TUN link) over JSON lines, and `connectRst` runs its one-shot `connect-rst`
 * mode. Both run only inside the scenario's throw-away namespace; the child is killed when
 * the scenario ends.
 * @module
 */

import { killAtExit, lines, within } from "./common.ts";

/** `tests/integration/craft.py`. */
export const CRAFT_PY: string = new URL("../craft.py", import.meta.url).pathname;

/** The fwmark on every crafted packet (`CRAFT_MARK` in craft.py). */
export const CRAFT_MARK = 0x7c0de;

/** One TCP segment to craft; addresses default to kernel → stack. */
export interface SegmentSpec {
  src?: string;
  dst?: string;
  sport: number;
  dport: number;
  seq?: number;
  ack?: number;
  /** Flag letters: "S", "SA", "A", "PA", "R", "RA", "FA". */
  flags?: string;
  /** Raw window field. */
  win?: number;
  mss?: number;
  wscale?: number;
  sackOk?: boolean;
  /** RFC 7323 timestamps option: [TSval, TSecr]. */
  ts?: [number, number];
  /** Payload as hex. */
  payload?: string;
  /** Or that many "x" bytes. */
  payloadLen?: number;
}

/** A connection between a peer (possibly spoofed) and the stack, as the sniffer keys it. */
export interface FlowKey {
  /** Peer address (default: the kernel's address on the link). */
  peer?: string;
  peerPort: number;
  stackPort: number;
}

/** What the sniffer saw of one direction of a watched connection. */
export interface DirectionSeen {
  packets: number;
  /** SEG.SEQ of the latest segment. */
  seq: number | null;
  /** Highest SEG.SEQ + SEG.LEN seen (SYN and FIN count). */
  end: number | null;
  /** Latest SEG.ACK. */
  ack: number | null;
  /** Latest raw window field. */
  win: number | null;
  /** True when `win` came from a SYN (never scaled). */
  winUnscaled: boolean;
  /** Latest [TSval, TSecr]. */
  ts: [number, number] | null;
  /** Segments by kind: syn, synack, rst, fin, data, ack. */
  kinds: Record<string, number>;
  /** Options of the SYN or SYN-ACK with its `seq` and `win`. */
  syn: Record<string, unknown> | null;
}

/** Both directions of a watched connection. */
export interface FlowSeen {
  toStack: DirectionSeen;
  fromStack: DirectionSeen;
}

/** Packets seen on the device, by kind (see craft.py `op_counters`). */
export interface SniffCounters {
  counters: Record<string, number>;
  sniffed: number;
  sniffDrops: number;
  sendRetries: number;
}

/** The outcome of a crafted handshake. */
export interface Handshake {
  isn: number;
  stackIsn: number;
  /** Our next sequence number (ISN + 1). */
  sndNxt: number;
  /** The stack's next sequence number (its ISN + 1). */
  rcvNxt: number;
  synAck: { seq: number; win: number; mss?: number; wscale?: number; ts?: number[] };
  timestamps: boolean;
}

/** Outcome of a `stream`. */
export interface StreamResult {
  outcome: "done" | "time" | "window-closed";
  segmentsSent: number;
  segmentsResent: number;
  bytesAcked: number;
  bytesSentHighest: number;
  windowStalls: number;
  lastWindow: number | null;
  elapsedMs: number;
}

/** Outcome of a `burst` or `synFlood`. */
export interface BurstResult {
  sent: number;
  /** Crafter clock (ms since its start) when the first packet left. */
  startMs: number;
  elapsedMs: number;
  maxLagMs?: number;
}

/** Sequence-space addition modulo 2^32. */
export function seqAdd(a: number, b: number): number {
  return (((a + b) % 0x1_0000_0000) + 0x1_0000_0000) % 0x1_0000_0000;
}

/** a − b as a signed 32-bit distance. */
export function seqDiff(a: number, b: number): number {
  return ((a - b) | 0);
}

/** A running `craft.py session`. */
export class Crafter {
  readonly #child: Deno.ChildProcess;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #lines: AsyncIterator<string>;
  #nextId = 1;
  #stderr = "";

  private constructor(child: Deno.ChildProcess) {
    this.#child = child;
    this.#writer = child.stdin.getWriter();
    this.#lines = lines(child.stdout)[Symbol.asyncIterator]();
    (async () => {
      for await (const c of child.stderr.pipeThrough(new TextDecoderStream())) {
        this.#stderr += c;
      }
    })().catch(() => {});
  }

  /**
   * Starts a session sniffing `ifname`. `outgoing: false` ignores packets written to the
   * device (the crafter's own and the kernel's): cheaper during floods.
   */
  static async start(
    opts: { ifname: string; stackIp?: string; kernelIp?: string; outgoing?: boolean },
  ): Promise<Crafter> {
    const args = [
      CRAFT_PY,
      "session",
      "--ifname",
      opts.ifname,
      "--stack-ip",
      opts.stackIp ?? "10.0.0.1",
      "--kernel-ip",
      opts.kernelIp ?? "10.0.0.2",
    ];
    if (opts.outgoing === false) args.push("--no-outgoing");
    const child = new Deno.Command("python3", {
      args,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    killAtExit(child);
    const c = new Crafter(child);
    const first = await within(c.#lines.next(), 10_000, "crafter start");
    if (first.done || !JSON.parse(first.value).ready) {
      throw new Error(`craft.py did not start: ${first.value ?? ""} ${c.#stderr}`);
    }
    return c;
  }

  /** Sends one request and waits (at most `timeoutMs`) for its reply. */
  async call<T = Record<string, unknown>>(
    op: string,
    args: Record<string, unknown> = {},
    timeoutMs = 45_000,
  ): Promise<T> {
    const id = this.#nextId++;
    await this.#writer.write(new TextEncoder().encode(JSON.stringify({ id, op, ...args }) + "\n"));
    const next = await within(this.#lines.next(), timeoutMs, `crafter ${op}`);
    if (next.done) throw new Error(`craft.py exited during ${op}: ${this.#stderr}`);
    const reply = JSON.parse(next.value);
    if (reply.id !== id) throw new Error(`craft.py answered ${reply.id} to ${id}`);
    if (!reply.ok) throw new Error(`craft.py ${op}: ${reply.error}`);
    return reply as T;
  }

  /** Starts tracking a connection (forgets what was seen of it before). */
  watch(flow: FlowKey): Promise<unknown> {
    return this.call("watch", { ...flow });
  }

  /** What the sniffer saw of a watched connection. */
  flow(flow: FlowKey): Promise<FlowSeen> {
    return this.call<FlowSeen>("flow", { ...flow });
  }

  /** Packets seen on the device by kind. */
  counters(): Promise<SniffCounters> {
    return this.call<SniffCounters>("counters");
  }

  /** Sends crafted segments back to back. */
  send(segments: SegmentSpec[]): Promise<{ sent: number; atMs: number }> {
    return this.call("send", { segments });
  }

  /** `count` copies of `segment`, the k-th at seq + k·seqStep, spread over `durationMs`. */
  burst(
    segment: SegmentSpec,
    count: number,
    opts: { seqStep?: number; seqModulo?: number; durationMs?: number } = {},
  ): Promise<BurstResult> {
    return this.call<BurstResult>("burst", { segment, count, ...opts });
  }

  /** A crafted three-way handshake (the connection is watched from then on). */
  handshake(
    flow: FlowKey & {
      isn?: number;
      mss?: number;
      wscale?: number;
      sackOk?: boolean;
      timestamps?: boolean;
      win?: number;
    },
  ): Promise<Handshake> {
    return this.call<Handshake>("handshake", { ...flow });
  }

  /** Self-clocked in-order data segments on a watched connection (see craft.py). */
  stream(
    flow: FlowKey & {
      seq: number;
      ack: number;
      count: number;
      size?: number;
      maxInFlight?: number;
      wscale?: number;
      seconds?: number;
      stallMs?: number;
      win?: number;
    },
  ): Promise<StreamResult> {
    return this.call<StreamResult>("stream", { ...flow });
  }

  /** Exactly `rate`·`seconds` spoofed SYNs from random 10.0.X.Y addresses. */
  synFlood(
    opts: { dport: number; rate: number; seconds: number; seed?: number },
  ): Promise<BurstResult> {
    return this.call<BurstResult>("synflood", { ...opts });
  }

  /** Sniffs for `ms`. */
  async sleep(ms: number): Promise<void> {
    await this.call("sleep", { ms });
  }

  /** Ends the session and waits for the process. */
  async close(): Promise<void> {
    try {
      await this.#writer.close();
    } catch {
      // already gone
    }
    try {
      await within(this.#child.status, 5000, "crafter exit");
    } catch {
      try {
        this.#child.kill("SIGKILL");
      } catch {
        // exited meanwhile
      }
    }
  }
}

/** One-shot `craft.py connect-rst`: kernel connect() then abortive close, `count` times. */
export async function connectRst(
  opts: { port: number; count: number; seconds: number; dst?: string; timeoutS?: number },
): Promise<
  {
    cycles: number;
    connected: number;
    failed: number;
    errors: Record<string, number>;
    elapsedMs: number;
  }
> {
  const child = new Deno.Command("python3", {
    args: [
      CRAFT_PY,
      "connect-rst",
      "--dst",
      opts.dst ?? "10.0.0.1",
      "--port",
      String(opts.port),
      "--count",
      String(opts.count),
      "--seconds",
      String(opts.seconds),
      "--timeout",
      String(opts.timeoutS ?? 0.5),
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  killAtExit(child);
  const out = await within(child.output(), (opts.seconds + 15) * 1000, "connect-rst");
  const text = new TextDecoder().decode(out.stdout).trim();
  if (!out.success) {
    throw new Error(
      `connect-rst exited ${out.code}: ${text} ${new TextDecoder().decode(out.stderr)}`,
    );
  }
  return JSON.parse(text.split("\n").pop()!);
}
