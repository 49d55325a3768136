/**
 * Where a process allocates: V8's sampling heap profiler (through `node:inspector`), counting
 * the objects that were collected as well as the live ones, grouped by the innermost frame in
 * this repository's `src/` or `ffi/` (with the built-in that allocated, e.g. `subarray`).
 * Used by `tcptun_bulk.ts` under `bench.ts --alloc-sites`; the sampling slows the process down,
 * so throughput figures of such a run are not comparable.
 * @module
 */

import { Session } from "node:inspector";

/** One allocation site and its share of the sampled bytes. */
export interface AllocSite {
  site: string;
  percent: number;
}

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  callFrame: CallFrame;
  selfSize: number;
  children: ProfileNode[];
}

function post<T>(s: Session, method: string, params: Record<string, unknown> = {}): Promise<T> {
  return new Promise((resolve, reject) => {
    s.post(method, params, (err: Error | null, result?: unknown) => {
      if (err) reject(err);
      else resolve(result as T);
    });
  });
}

function repoFrame(f: CallFrame): string | undefined {
  const m = f.url.match(/\/((?:src|ffi)\/.*)$/);
  return m ? `${f.functionName || "(anonymous)"} ${m[1]}:${f.lineNumber + 1}` : undefined;
}

/**
 * Starts sampling (one sample per `intervalBytes` allocated on average); the returned function
 * stops it and gives the `top` sites by sampled bytes.
 */
export async function startAllocSampling(
  intervalBytes = 512,
): Promise<(top: number) => Promise<AllocSite[]>> {
  const session = new Session();
  session.connect();
  await post(session, "HeapProfiler.startSampling", {
    samplingInterval: intervalBytes,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true,
  });
  return async (top) => {
    const { profile } = await post<{ profile: { head: ProfileNode } }>(
      session,
      "HeapProfiler.stopSampling",
    );
    session.disconnect();
    const bytes = new Map<string, number>();
    let total = 0;
    const walk = (n: ProfileNode, inRepo: string | undefined) => {
      const here = repoFrame(n.callFrame);
      const name = n.callFrame.functionName || "(anonymous)";
      if (n.selfSize > 0) {
        const site = here ?? (inRepo ? `${name} ← ${inRepo}` : `${name} (outside src/)`);
        bytes.set(site, (bytes.get(site) ?? 0) + n.selfSize);
        total += n.selfSize;
      }
      for (const c of n.children) walk(c, here ?? inRepo);
    };
    walk(profile.head, undefined);
    return [...bytes].sort((a, b) => b[1] - a[1]).slice(0, top).map(([site, b]) => ({
      site,
      percent: Math.round(b / total * 1000) / 10,
    }));
  };
}
