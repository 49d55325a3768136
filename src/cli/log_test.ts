import assert from "node:assert/strict";
import { ANSI, createLogger, formatBytes, formatRate } from "./log.ts";

function capture(level: Parameters<typeof createLogger>[0], color = false) {
  const lines: string[] = [];
  const log = createLogger(level, { color, write: (l) => lines.push(l) });
  return { log, lines };
}

Deno.test("log: each level writes itself and the levels above, nothing below", () => {
  const order = ["error", "warn", "info", "debug", "trace"] as const;
  for (const [i, level] of order.entries()) {
    const { log, lines } = capture(level);
    for (const l of order) log[l](l);
    assert.equal(lines.length, i + 1, level);
    for (const [j, l] of order.entries()) assert.equal(log.enabled(l), j <= i, `${level}/${l}`);
  }
});

Deno.test("log: error and warn carry a prefix, info and debug are bare", () => {
  const { log, lines } = capture("debug");
  log.error("connection refused");
  log.warn("odd");
  log.info("listening");
  log.debug("→ segment");
  assert.deepEqual(lines, ["error: connection refused", "warning: odd", "listening", "→ segment"]);
  assert.equal(log.level, "debug");
});

Deno.test("log: colours only when asked", () => {
  const plain = capture("trace");
  plain.log.error("x");
  plain.log.trace("y");
  assert(!plain.lines.join("").includes("\x1b["));
  const coloured = capture("trace", true);
  coloured.log.error("x");
  coloured.log.trace("y");
  assert.equal(coloured.lines[0], `${ANSI.red}${ANSI.bold}error:${ANSI.reset} x`);
  assert.equal(coloured.lines[1], `${ANSI.dim}y${ANSI.reset}`);
});

Deno.test("log: unknown level is rejected", () => {
  assert.throws(() => createLogger("loud" as "info"), RangeError);
});

Deno.test("log: byte and rate formatting", () => {
  assert.equal(formatBytes(0), "0 B");
  assert.equal(formatBytes(1023), "1023 B");
  assert.equal(formatBytes(1536), "1.5 KiB");
  assert.equal(formatBytes(10 * 1024 * 1024), "10.0 MiB");
  assert.equal(formatBytes(3 * 1024 ** 3), "3.0 GiB");
  assert.equal(formatRate(100, 1000), "800 bit/s");
  assert.equal(formatRate(125, 1000), "1.0 kbit/s");
  assert.equal(formatRate(1_000_000, 1000), "8.0 Mbit/s");
  assert.equal(formatRate(125_000_000, 1000), "1.0 Gbit/s");
  assert.equal(formatRate(10, 0), "- bit/s");
});
