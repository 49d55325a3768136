/**
 * The slow reader of the window scenarios: drains a byte stream a few hundred bytes at a time
 * with pauses, the same way for a CLI's stdout pipe (`window_stdio.ts`) and for a Linux socket
 * (`window_linux.ts`), so that the two receivers face the same application.
 * @module
 */

import { concat } from "./common.ts";

/** How the slow reader drains: `chunk` bytes per read, a `pauseMs` pause after `readsPerPause` reads. */
export interface DrainPattern {
  /** Largest read, bytes. */
  chunk: number;
  /** Reads between two pauses. */
  readsPerPause: number;
  /** Length of a pause, ms. */
  pauseMs: number;
}

/**
 * The default, a steady trickle: 256-byte reads, a 1 ms pause every 8 reads (at most about
 * 2 MB/s, far below what the sender offers, so the window keeps closing and reopening).
 */
export const DRAIN: DrainPattern = { chunk: 256, readsPerPause: 8, pauseMs: 1 };

/**
 * A stalling reader: 256-byte reads, a 250 ms pause every 128 reads (32 KiB). The window stays
 * closed longer than the sender's retransmission timeout, so it probes the zero window.
 */
export const STALLING: DrainPattern = { chunk: 256, readsPerPause: 128, pauseMs: 250 };

/** `CHUNK,READS,PAUSE_MS`, the command-line form of a pattern (see {@linkcode parsePattern}). */
export function formatPattern(p: DrainPattern): string {
  return `${p.chunk},${p.readsPerPause},${p.pauseMs}`;
}

/** What {@linkcode drainSlowly} read. */
export interface Drained {
  /** The bytes, in order. */
  bytes: Uint8Array;
  /** Read calls that returned bytes. */
  reads: number;
}

/**
 * Reads `readable` (a byte stream: a child's stdout, a `Deno.TcpConn`'s readable) to its end
 * with a BYOB reader, never more than `p.chunk` bytes per read, pausing as `p` says. Stops with
 * an error past `limit` bytes.
 */
export async function drainSlowly(
  readable: ReadableStream<Uint8Array>,
  limit: number,
  p: DrainPattern = DRAIN,
): Promise<Drained> {
  const reader = readable.getReader({ mode: "byob" });
  const chunks: Uint8Array[] = [];
  let total = 0;
  let reads = 0;
  try {
    for (;;) {
      const r = await reader.read(new Uint8Array(p.chunk));
      if (r.done) break;
      if (r.value.length === 0) continue;
      total += r.value.length;
      if (total > limit) throw new Error(`read more than the ${limit} bytes sent`);
      chunks.push(r.value);
      reads++;
      if (reads % p.readsPerPause === 0) await new Promise((res) => setTimeout(res, p.pauseMs));
    }
  } finally {
    reader.releaseLock();
  }
  return { bytes: concat(chunks), reads };
}

/** Parses `CHUNK,READS,PAUSE_MS` (e.g. `256,8,1`); {@linkcode DRAIN} when absent or empty. */
export function parsePattern(text: string | undefined): DrainPattern {
  if (!text) return DRAIN;
  const [chunk, readsPerPause, pauseMs] = text.split(",").map(Number);
  const p = { chunk, readsPerPause, pauseMs };
  if (![chunk, readsPerPause].every((n) => Number.isInteger(n) && n > 0) || !(pauseMs >= 0)) {
    throw new Error(`bad drain pattern "${text}" (want CHUNK,READS,PAUSE_MS)`);
  }
  return p;
}
