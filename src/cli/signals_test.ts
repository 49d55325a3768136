import assert from "node:assert/strict";
import { onShutdownSignal } from "./signals.ts";

function fakeSignals() {
  const handlers = new Map<Deno.Signal, Set<() => void>>();
  let forced = 0;
  return {
    hooks: {
      add: (s: Deno.Signal, h: () => void) => {
        if (!handlers.has(s)) handlers.set(s, new Set());
        handlers.get(s)!.add(h);
      },
      remove: (s: Deno.Signal, h: () => void) => handlers.get(s)?.delete(h),
      force: () => forced++,
    },
    raise: (s: Deno.Signal) => handlers.get(s)?.forEach((h) => h()),
    count: (s: Deno.Signal) => handlers.get(s)?.size ?? 0,
    forced: () => forced,
  };
}

Deno.test("signals: first SIGTERM requests shutdown, second signal forces the exit", async () => {
  const f = fakeSignals();
  const req = onShutdownSignal(f.hooks);
  assert.equal(f.count("SIGINT"), 1);
  assert.equal(f.count("SIGTERM"), 1);
  f.raise("SIGTERM");
  assert.equal(await req.requested, "SIGTERM");
  assert.equal(f.forced(), 0);
  f.raise("SIGINT");
  assert.equal(f.forced(), 1);
  req.dispose();
  req.dispose();
  assert.equal(f.count("SIGINT"), 0);
  assert.equal(f.count("SIGTERM"), 0);
});

Deno.test("signals: a real SIGINT reaches the handler instead of killing the process", async () => {
  const script = `
    import { onShutdownSignal } from ${
    JSON.stringify(new URL("./signals.ts", import.meta.url).href)
  };
    const req = onShutdownSignal();
    console.log("ready");
    const sig = await req.requested;
    console.log("got " + sig);
    req.dispose();
  `;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", script],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  const deadline = Date.now() + 10_000;
  while (!text.includes("ready") && Date.now() < deadline) {
    const r = await reader.read();
    if (r.done) break;
    text += r.value;
  }
  child.kill("SIGINT");
  for (;;) {
    const r = await reader.read();
    if (r.done) break;
    text += r.value;
  }
  const status = await child.status;
  assert.equal(status.code, 0);
  assert.match(text, /got SIGINT/);
});
