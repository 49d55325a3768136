/**
 * Test helper: loads a page in headless Chromium through the DevTools protocol (one
 * WebSocket on loopback), evaluates an expression in it, takes a full-page screenshot, and
 * reports console errors, uncaught exceptions and every request the page made.
 * @module
 */

/** The Chromium binary: `TCPTUN_CHROMIUM`, or the first of chromium, chromium-browser,
 * google-chrome on PATH; undefined when there is none. */
export function findChromium(): string | undefined {
  const env = Deno.env.get("TCPTUN_CHROMIUM");
  if (env !== undefined && env !== "") return env;
  const path = Deno.env.get("PATH") ?? "/usr/bin:/bin";
  for (const name of ["chromium", "chromium-browser", "google-chrome"]) {
    for (const dir of path.split(":")) {
      try {
        const st = Deno.statSync(`${dir}/${name}`);
        if (st.isFile) return `${dir}/${name}`;
      } catch {
        // not here
      }
    }
  }
  return undefined;
}

/** What `inspectPage` saw. */
export interface PageReport {
  /** The value of the evaluated expression (returned by value). */
  value: unknown;
  /** Console errors and warnings, uncaught exceptions, and log entries at error level. */
  errors: string[];
  /** URLs of every request the page made, the page itself included. */
  requests: string[];
  /** Size of the full page, CSS px. */
  size: { width: number; height: number };
}

/** Options of `inspectPage`. */
export interface InspectOptions {
  /** The Chromium binary. */
  chromium: string;
  /** file:// URL of the page. */
  url: string;
  /** JavaScript expression evaluated once the page has loaded. */
  expression: string;
  /** Where the PNG screenshot of the full page goes. */
  screenshot: string;
  /** Viewport width, CSS px (default 1400). */
  width?: number;
  /** Viewport height, CSS px (default 3000). */
  height?: number;
  /** Bound on the whole run, ms (default 15000). */
  timeoutMs?: number;
  /** Only this band of the page in the screenshot (CSS px; default: all of it). */
  band?: { y: number; height: number };
}

interface CdpMessage {
  id?: number;
  method?: string;
  params?: Record<string, unknown>;
  result?: Record<string, unknown>;
  error?: { message: string };
  sessionId?: string;
}

/**
 * Starts Chromium headless on a fresh profile with a DevTools port on loopback, opens
 * `url`, evaluates `expression`, screenshots the full page, closes Chromium.
 */
export async function inspectPage(o: InspectOptions): Promise<PageReport> {
  const width = o.width ?? 1400;
  const height = o.height ?? 3000;
  const profile = await Deno.makeTempDir({ prefix: "tcptun_chromium_" });
  const child = new Deno.Command(o.chromium, {
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--disable-extensions",
      "--disable-default-apps",
      // Nothing the page could name resolves: a report must fetch nothing.
      "--host-resolver-rules=MAP * ~NOTFOUND",
      `--user-data-dir=${profile}`,
      "--remote-debugging-address=127.0.0.1",
      "--remote-debugging-port=0",
      `--window-size=${width},${height}`,
      "about:blank",
    ],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const timeoutMs = o.timeoutMs ?? 15000;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`chromium: no result within ${timeoutMs} ms`)),
      timeoutMs,
    );
  });
  let ws: WebSocket | undefined;
  const stderrTail: string[] = [];
  try {
    const wsUrl = await Promise.race([devtoolsUrl(child.stderr, stderrTail), deadline]);
    ws = new WebSocket(wsUrl);
    const socket = ws;
    await Promise.race([
      new Promise<void>((resolve, reject) => {
        socket.onopen = () => resolve();
        socket.onerror = () => reject(new Error(`chromium: cannot open ${wsUrl}`));
      }),
      deadline,
    ]);
    const errors: string[] = [];
    const requests: string[] = [];
    let nextId = 1;
    const pending = new Map<
      number,
      { resolve: (m: CdpMessage) => void; reject: (e: Error) => void }
    >();
    const waiters: { method: string; resolve: () => void }[] = [];
    socket.onmessage = (ev) => {
      const msg = JSON.parse(String(ev.data)) as CdpMessage;
      if (msg.id !== undefined) {
        const p = pending.get(msg.id);
        pending.delete(msg.id);
        if (msg.error !== undefined) p?.reject(new Error(`chromium: ${msg.error.message}`));
        else p?.resolve(msg);
        return;
      }
      const params = msg.params ?? {};
      switch (msg.method) {
        case "Runtime.consoleAPICalled": {
          const type = String(params.type);
          if (type === "error" || type === "warning" || type === "assert") {
            const args = (params.args as { value?: unknown; description?: string }[] ?? [])
              .map((a) => String(a.value ?? a.description ?? "")).join(" ");
            errors.push(`console.${type}: ${args}`);
          }
          break;
        }
        case "Runtime.exceptionThrown": {
          const d = params.exceptionDetails as {
            text?: string;
            exception?: { description?: string };
          };
          errors.push(`exception: ${d?.exception?.description ?? d?.text ?? "?"}`);
          break;
        }
        case "Log.entryAdded": {
          const entry = params.entry as { level?: string; text?: string; url?: string };
          if (entry?.level === "error" || entry?.level === "warning") {
            errors.push(`log ${entry.level}: ${entry.text}${entry.url ? ` (${entry.url})` : ""}`);
          }
          break;
        }
        case "Network.requestWillBeSent":
          requests.push(String((params.request as { url?: string })?.url));
          break;
      }
      for (let i = waiters.length - 1; i >= 0; i--) {
        if (waiters[i].method === msg.method) waiters.splice(i, 1)[0].resolve();
      }
    };
    socket.onclose = () => {
      for (const p of pending.values()) p.reject(new Error("chromium: DevTools connection closed"));
      pending.clear();
    };
    const send = (
      method: string,
      params: Record<string, unknown> = {},
      sessionId?: string,
    ): Promise<Record<string, unknown>> => {
      const id = nextId++;
      const done = new Promise<CdpMessage>((resolve, reject) =>
        pending.set(id, { resolve, reject })
      );
      socket.send(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }));
      return Promise.race([done, deadline]).then((m) => m.result ?? {});
    };
    const event = (method: string) =>
      Promise.race([new Promise<void>((resolve) => waiters.push({ method, resolve })), deadline]);

    const { targetId } = await send("Target.createTarget", { url: "about:blank" });
    const { sessionId } = await send("Target.attachToTarget", { targetId, flatten: true });
    const sid = sessionId as string;
    for (const domain of ["Runtime", "Log", "Network", "Page"]) {
      await send(`${domain}.enable`, {}, sid);
    }
    await send("Emulation.setDeviceMetricsOverride", {
      width,
      height,
      deviceScaleFactor: 1,
      mobile: false,
    }, sid);
    const loaded = event("Page.loadEventFired");
    const nav = await send("Page.navigate", { url: o.url }, sid);
    if (nav.errorText) throw new Error(`chromium: cannot load ${o.url}: ${nav.errorText}`);
    await loaded;
    const evaluated = await send("Runtime.evaluate", {
      expression: o.expression,
      returnByValue: true,
    }, sid);
    if (evaluated.exceptionDetails !== undefined) {
      throw new Error(
        `chromium: the expression threw: ${JSON.stringify(evaluated.exceptionDetails)}`,
      );
    }
    const value = (evaluated.result as { value?: unknown })?.value;
    const metrics = await send("Page.getLayoutMetrics", {}, sid);
    const content = (metrics.cssContentSize ?? metrics.contentSize) as {
      width: number;
      height: number;
    };
    const shot = await send("Page.captureScreenshot", {
      format: "png",
      captureBeyondViewport: true,
      clip: {
        x: 0,
        y: o.band?.y ?? 0,
        width: content.width,
        height: o.band?.height ?? Math.min(content.height, 16000),
        scale: 1,
      },
    }, sid);
    await Deno.writeFile(o.screenshot, decodeBase64(shot.data as string));
    await send("Browser.close").catch(() => {});
    return { value, errors, requests, size: { width: content.width, height: content.height } };
  } catch (e) {
    if (stderrTail.length > 0) {
      (e as Error).message += `\nchromium stderr:\n${stderrTail.join("\n")}`;
    }
    throw e;
  } finally {
    clearTimeout(timer);
    try {
      ws?.close();
    } catch {
      // already closed
    }
    const exited = await Promise.race([
      child.status.then(() => true),
      new Promise<boolean>((r) => setTimeout(() => r(false), 3000)),
    ]);
    if (!exited) {
      try {
        child.kill("SIGKILL");
      } catch {
        // gone
      }
      await child.status;
    }
    await child.stderr.cancel().catch(() => {});
    await Deno.remove(profile, { recursive: true }).catch(() => {});
  }
}

/** Reads Chromium's stderr until it names its DevTools WebSocket; keeps draining after. */
async function devtoolsUrl(stderr: ReadableStream<Uint8Array>, tail: string[]): Promise<string> {
  const reader = stderr.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) throw new Error("chromium exited before its DevTools port was open");
    buf += value;
    let nl;
    while ((nl = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      tail.push(line);
      if (tail.length > 20) tail.shift();
      const m = /DevTools listening on (ws:\/\/\S+)/.exec(line);
      if (m !== null) {
        // Keep reading so that Chromium never blocks on a full stderr pipe.
        (async () => {
          try {
            for (;;) if ((await reader.read()).done) return;
          } catch {
            // cancelled
          }
        })();
        return m[1];
      }
    }
  }
}

function decodeBase64(b64: string): Uint8Array {
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}
