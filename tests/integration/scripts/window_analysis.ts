/**
 * Black-box receive-window analysis of one TCP connection in a capture file: `tshark` decodes
 * the packets (an independent decoder, with raw sequence numbers), and {@linkcode analyzeWindow}
 * judges the windows one side advertised and the data segments the other side sent.
 *
 * What is measured, for the receiver R and its sender S:
 * - **right edge moving left**: R's advertised right edge is SEG.ACK + (SEG.WND << wscale)
 *   (SYN windows unscaled, RFC 7323 §2.2), compared in sequence space mod 2^32 with the largest
 *   edge R advertised before. A receiver SHOULD NOT shrink the window (RFC 9293 §3.8.6,
 *   SHLD-14); Linux never does.
 * - **receiver SWS** (RFC 9293 §3.8.6.2.2, MUST-39): the right edge should advance only by
 *   min(Fr·RCV.BUFF, Eff.snd.MSS) or more, Fr = 1/2. Counted: every smaller advance; the
 *   smaller advances made from a closed or nearly closed window (usable window before the advert,
 *   largest edge − SEG.ACK, below that step), which are what makes a sender send tiny segments;
 *   and the pure window updates (no data, SEG.ACK unchanged) that move the edge by less. An
 *   advance by less than one scale unit of a window that is not zero is rounding, counted apart:
 *   a scaled window says whole units only, so a receiver that never moves the edge left must
 *   round the window it keeps up, as Linux does (`ALIGN(cur_win, 1 << rcv_wscale)`).
 * - **zero-window adverts**: R's segments with SEG.WND = 0.
 * - **tiny segments**: S's data segments shorter than 100 bytes, leaving out the one that ends
 *   the stream and 1-byte zero-window probes (sent at or past R's right edge).
 *
 * Usable anywhere (no network): it only reads a file.
 * @module
 */

/** One TCP segment as tshark decoded it. */
export interface Segment {
  /** Frame number in the capture (1-based): the evidence to look at in Wireshark. */
  frame: number;
  src: string;
  dst: string;
  srcPort: number;
  dstPort: number;
  /** Raw sequence number. */
  seq: number;
  /** Raw acknowledgment number (meaningful with ACK). */
  ack: number;
  flags: number;
  /** The 16-bit window field, unscaled. */
  window: number;
  /** Payload bytes. */
  len: number;
  /** Window scale shift option, or -1 when absent. */
  wscale: number;
  /** MSS option, or -1 when absent. */
  mss: number;
  /** True when the segment carries a timestamps option. */
  ts: boolean;
}

const FIN = 0x01;
const SYN = 0x02;
const RST = 0x04;
const ACK = 0x10;

const FIELDS = [
  "frame.number",
  "ip.src",
  "ip.dst",
  "tcp.srcport",
  "tcp.dstport",
  "tcp.seq_raw",
  "tcp.ack_raw",
  "tcp.flags",
  "tcp.window_size_value",
  "tcp.len",
  "tcp.options.wscale.shift",
  "tcp.options.mss_val",
  "tcp.options.timestamp.tsval",
];

/** Parses tshark `-T fields -E separator=/t` rows of {@linkcode FIELDS}; skips non-TCP rows. */
export function parseRows(text: string): Segment[] {
  const out: Segment[] = [];
  for (const row of text.split("\n")) {
    if (row === "") continue;
    const f = row.split("\t");
    if (f.length < FIELDS.length || f[5] === "") continue;
    out.push({
      frame: Number(f[0]),
      src: f[1],
      dst: f[2],
      srcPort: Number(f[3]),
      dstPort: Number(f[4]),
      seq: Number(f[5]) >>> 0,
      ack: Number(f[6] || "0") >>> 0,
      flags: parseInt(f[7], 16),
      window: Number(f[8]),
      len: Number(f[9] || "0"),
      wscale: f[10] === "" ? -1 : Number(f[10]),
      mss: f[11] === "" ? -1 : Number(f[11]),
      ts: f[12] !== "",
    });
  }
  return out;
}

/** Decodes every TCP segment of `file` with tshark (bounded to 60 s). */
export async function readCapture(file: string): Promise<Segment[]> {
  const args = ["-n", "-r", file, "-Y", "tcp", "-T", "fields", "-E", "separator=/t"];
  for (const f of FIELDS) args.push("-e", f);
  const out = await new Deno.Command("tshark", {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(60_000),
  }).output();
  if (!out.success) {
    throw new Error(
      `tshark -r ${file} failed (${out.code}): ${new TextDecoder().decode(out.stderr)}`,
    );
  }
  return parseRows(new TextDecoder().decode(out.stdout));
}

/** `a - b` in sequence space, as a signed 32-bit difference. */
function seqDiff(a: number, b: number): number {
  return (a - b) | 0;
}

/** A right-edge move to the left: the evidence. */
export interface LeftMove {
  frame: number;
  ack: number;
  window: number;
  /** The edge this segment advertised (raw sequence number). */
  edge: number;
  /** The largest edge advertised before. */
  maxEdge: number;
  /** Bytes the edge moved left by. */
  by: number;
}

/** A right-edge advance smaller than the SWS step: the evidence. */
export interface SmallAdvance {
  frame: number;
  /** Raw acknowledgment number of the advert. */
  ack: number;
  /** Usable window before this advert (largest earlier edge − SEG.ACK). */
  windowBefore: number;
  /** Bytes the edge moved right by. */
  advance: number;
  /** The window this segment offers (SEG.WND << wscale). */
  window: number;
}

/** A tiny data segment of the sender: the evidence. */
export interface TinySegment {
  frame: number;
  /** Sequence number relative to the sender's ISN. */
  relSeq: number;
  len: number;
}

/** What {@linkcode analyzeWindow} found. */
export interface WindowReport {
  /** The connection judged: `S:port → R:port`. */
  connection: string;
  /** R's window scale shift in effect (0 without scaling). */
  wscale: number;
  /** R's MSS option. */
  mss: number;
  /** min(RCV.BUFF/2, Eff.snd.MSS): the smallest worthwhile advance of the right edge. */
  swsStep: number;
  /** Segments R sent on the connection (RSTs left out). */
  receiverSegments: number;
  /** The largest window R advertised, bytes. */
  maxWindow: number;
  /** Times R's right edge moved left. */
  rightEdgeLeft: number;
  /** Largest move to the left, bytes. */
  rightEdgeLeftMax: number;
  /** Times R's right edge moved right. */
  advances: number;
  /** Advances smaller than `swsStep`, whatever their cause. */
  smallAdvances: number;
  /**
   * Advances by less than one scale unit (1 << wscale) of a window that was not zero: a
   * scaled window field can only say whole units, so a receiver that never moves the edge left
   * rounds the window it keeps up (Linux's `ALIGN(cur_win, 1 << rcv_wscale)` does the same).
   */
  roundingAdvances: number;
  /** Advances made when the usable window was below `swsStep` (closed or nearly closed). */
  reopenings: number;
  /**
   * Of those, the ones smaller than `swsStep` other than rounding (`roundingAdvances`):
   * receiver silly-window syndrome (RFC 9293 §3.8.6.2.2).
   */
  smallReopenings: number;
  /** Pure window updates: no data, the same SEG.ACK as R's segment before, the edge moved right. */
  windowUpdates: number;
  /** Window updates moving the edge by less than `swsStep`: receiver SWS. */
  smallWindowUpdates: number;
  /** R's segments with a zero window. */
  zeroWindowAdverts: number;
  /** Data segments S sent (retransmissions included). */
  senderDataSegments: number;
  /** Payload bytes in S's data segments (retransmissions included). */
  senderDataBytes: number;
  /** S's 1-byte segments at or past R's right edge (zero-window probes). */
  zeroWindowProbes: number;
  /** S's data segments < 100 bytes, but for the stream's last one and zero-window probes. */
  tinySegments: number;
  /** Lengths of the tiny segments → how many. */
  tinyLengths: Record<string, number>;
  /** The first few of each kind, for a look in Wireshark (frame numbers of the capture). */
  evidence: {
    leftMoves: LeftMove[];
    smallReopenings: SmallAdvance[];
    smallWindowUpdates: SmallAdvance[];
    tinySegments: TinySegment[];
  };
}

/** Options of {@linkcode analyzeWindow}. */
export interface AnalyzeOptions {
  /** The receiver's address (the side whose windows are judged). */
  receiver: string;
  /** The port the receiver accepted on. */
  receiverPort: number;
  /** The receiver's buffer size when known (RCV.BUFF); otherwise only the MSS bounds the step. */
  receiveBuffer?: number;
  /** How many evidence entries of each kind to keep; default 12. */
  evidence?: number;
}

/**
 * Judges R's advertised windows and S's segment sizes on the first connection to
 * `receiver:receiverPort` in `segments` (capture order).
 * @example
 * ```ts ignore
 * const segments = await readCapture("x.pcap");
 * const r = analyzeWindow(segments, { receiver: "10.0.0.1", receiverPort: 4444 });
 * console.log(r.rightEdgeLeft, r.smallReopenings, r.zeroWindowAdverts);
 * ```
 */
export function analyzeWindow(segments: Segment[], opts: AnalyzeOptions): WindowReport {
  const keep = opts.evidence ?? 12;
  const syn = segments.find((s) =>
    s.dst === opts.receiver && s.dstPort === opts.receiverPort && (s.flags & (SYN | ACK)) === SYN
  );
  if (!syn) throw new Error(`no SYN to ${opts.receiver}:${opts.receiverPort} in the capture`);
  const sender = syn.src;
  const senderPort = syn.srcPort;
  const fromR = (s: Segment) =>
    s.src === opts.receiver && s.srcPort === opts.receiverPort && s.dst === sender &&
    s.dstPort === senderPort;
  const fromS = (s: Segment) =>
    s.src === sender && s.srcPort === senderPort && s.dst === opts.receiver &&
    s.dstPort === opts.receiverPort;
  const conn = segments.filter((s) => fromR(s) || fromS(s));
  const synAck = conn.find((s) => fromR(s) && (s.flags & (SYN | ACK)) === (SYN | ACK));
  if (!synAck) throw new Error("no SYN,ACK from the receiver in the capture");
  // RFC 7323 §2.2: scaling is on only when both SYNs carry the option.
  const wscale = syn.wscale >= 0 && synAck.wscale >= 0 ? synAck.wscale : 0;
  const unit = 2 ** wscale;
  const mss = synAck.mss > 0 ? synAck.mss : 536;
  // RFC 9293 §3.7.1: Eff.snd.MSS leaves out the options every segment carries (timestamps).
  const effMss = mss - (syn.ts && synAck.ts ? 12 : 0);
  const swsStep = Math.min(
    effMss,
    opts.receiveBuffer !== undefined ? opts.receiveBuffer >> 1 : effMss,
  );
  const isnS = syn.seq;

  // The end of the stream: the highest byte S ever sent.
  let finalEnd = 0;
  for (const s of conn) {
    if (fromS(s) && s.len > 0) finalEnd = Math.max(finalEnd, seqDiff(s.seq + s.len, isnS));
  }

  const r: WindowReport = {
    connection: `${sender}:${senderPort} → ${opts.receiver}:${opts.receiverPort}`,
    wscale,
    mss,
    swsStep,
    receiverSegments: 0,
    maxWindow: 0,
    rightEdgeLeft: 0,
    rightEdgeLeftMax: 0,
    advances: 0,
    smallAdvances: 0,
    roundingAdvances: 0,
    reopenings: 0,
    smallReopenings: 0,
    windowUpdates: 0,
    smallWindowUpdates: 0,
    zeroWindowAdverts: 0,
    senderDataSegments: 0,
    senderDataBytes: 0,
    zeroWindowProbes: 0,
    tinySegments: 0,
    tinyLengths: {},
    evidence: { leftMoves: [], smallReopenings: [], smallWindowUpdates: [], tinySegments: [] },
  };
  let maxEdge: number | undefined;
  let prevAck: number | undefined;
  for (const s of conn) {
    if (s.flags & RST) continue;
    if (fromR(s)) {
      r.receiverSegments++;
      if (!(s.flags & ACK)) continue;
      const wnd = (s.flags & SYN) ? s.window : s.window * unit;
      const edge = (s.ack + wnd) >>> 0;
      const sameAck = prevAck === s.ack;
      prevAck = s.ack;
      r.maxWindow = Math.max(r.maxWindow, wnd);
      if (s.window === 0) r.zeroWindowAdverts++;
      if (maxEdge === undefined) {
        maxEdge = edge;
        continue;
      }
      const d = seqDiff(edge, maxEdge);
      if (d < 0) {
        r.rightEdgeLeft++;
        r.rightEdgeLeftMax = Math.max(r.rightEdgeLeftMax, -d);
        if (r.evidence.leftMoves.length < keep) {
          r.evidence.leftMoves.push({
            frame: s.frame,
            ack: s.ack,
            window: s.window,
            edge,
            maxEdge,
            by: -d,
          });
        }
      } else if (d > 0) {
        const windowBefore = seqDiff(maxEdge, s.ack);
        const ev: SmallAdvance = {
          frame: s.frame,
          ack: s.ack,
          windowBefore,
          advance: d,
          window: wnd,
        };
        const small = d < swsStep;
        const rounding = d < unit && windowBefore > 0;
        r.advances++;
        if (small) r.smallAdvances++;
        if (rounding) r.roundingAdvances++;
        if (windowBefore < swsStep) {
          r.reopenings++;
          if (small && !rounding) {
            r.smallReopenings++;
            if (r.evidence.smallReopenings.length < keep) r.evidence.smallReopenings.push(ev);
          }
        }
        if (sameAck && s.len === 0 && !(s.flags & (SYN | FIN))) {
          r.windowUpdates++;
          if (small) {
            r.smallWindowUpdates++;
            if (r.evidence.smallWindowUpdates.length < keep) r.evidence.smallWindowUpdates.push(ev);
          }
        }
        maxEdge = edge;
      }
    } else if (s.len > 0) {
      r.senderDataSegments++;
      r.senderDataBytes += s.len;
      if (s.len >= 100) continue;
      const end = seqDiff(s.seq + s.len, isnS);
      // The stream's last bytes: necessarily as short as what was left.
      if (end === finalEnd) continue;
      if (s.len === 1 && maxEdge !== undefined && seqDiff(s.seq, maxEdge) >= 0) {
        r.zeroWindowProbes++;
        continue;
      }
      r.tinySegments++;
      r.tinyLengths[s.len] = (r.tinyLengths[s.len] ?? 0) + 1;
      if (r.evidence.tinySegments.length < keep) {
        r.evidence.tinySegments.push({ frame: s.frame, relSeq: seqDiff(s.seq, isnS), len: s.len });
      }
    }
  }
  return r;
}

/** One line of the figures that matter, for the test output. */
export function summary(name: string, r: WindowReport): string {
  return `${name}: ${r.connection}, wscale ${r.wscale}, mss ${r.mss}, SWS step ${r.swsStep}, ` +
    `largest window ${r.maxWindow}; receiver segments ${r.receiverSegments}: right edge left ` +
    `${r.rightEdgeLeft}` + (r.rightEdgeLeft > 0 ? ` (up to ${r.rightEdgeLeftMax} B)` : "") +
    `, edge advances ${r.advances} (< step ${r.smallAdvances}, of which rounding < 1 unit ` +
    `${r.roundingAdvances}), reopenings from < step ${r.reopenings} (small ${r.smallReopenings}), ` +
    `window updates ${r.windowUpdates} (small ${r.smallWindowUpdates}), zero-window adverts ` +
    `${r.zeroWindowAdverts}; sender data segments ${r.senderDataSegments} ` +
    `(${r.senderDataBytes} B), tiny ${r.tinySegments}` +
    (r.tinySegments > 0 ? ` ${JSON.stringify(r.tinyLengths)}` : "") +
    `, 1-byte zero-window probes ${r.zeroWindowProbes}`;
}
