/**
 * Integration tests of the programs in `examples/`: each runs in a fresh network namespace (see
 * `tests/netns.ts`) against the Linux kernel as the peer, through a script of `scripts/` that
 * starts the example, plays the kernel side and prints a JSON line the test asserts on.
 * @module
 */

import assert from "node:assert/strict";
import { integrationTest, netnsPreconditions, runScenario, toolProblem } from "../netns.ts";

const problem = await netnsPreconditions();
const pythonProblem = problem ?? await toolProblem("python3", ["--version"]);

function script(name: string): URL {
  return new URL(`./scripts/${name}`, import.meta.url);
}

integrationTest(
  "examples: echo_server echoes kernel clients and exits 0 on SIGINT after FIN",
  problem,
  async () => {
    const size = 256 * 1024;
    const r = await runScenario(script("example_echo.ts"), [String(size), "3"], {
      timeoutMs: 45_000,
    });
    assert.match(r.stderr as string, /^listening on 10\.0\.0\.1:7777$/m);
    assert.deepEqual(r.echoes, [
      { bytes: size, matches: true },
      { bytes: size, matches: true },
      { bytes: size, matches: true },
    ]);
    assert.equal(r.echoed, "hello\n");
    // SIGINT: FIN to the connected client (EOF, no reset), then exit 0.
    assert.deepEqual(r.end, { end: "eof", extra: 0 });
    assert.equal(r.code, 0);
  },
);

integrationTest(
  "examples: http_get fetches a file from python3 -m http.server through the stack",
  pythonProblem,
  async () => {
    const size = 1 << 20;
    const r = await runScenario(script("example_http_get.ts"), [String(size)], {
      timeoutMs: 65_000,
    });
    assert.equal(r.code, 0, r.stderr as string);
    assert.equal(r.stdout, `HTTP/1.1 200 OK\nbody: ${size} bytes\n`);
    assert.match(r.stderr as string, /^connected to 10\.0\.0\.3:8000 from 10\.0\.0\.2$/m);
    assert.equal(r.bodyBytes, size);
    assert.equal(r.bodyMatches, true, "SHA-256 of the saved body equals the served file's");
    // The server saw our request line, from the stack's address.
    assert.match(r.serverLog as string, /^10\.0\.0\.2 .*"GET \/data\.bin HTTP\/1\.1" 200 /m);
    // A complete error response is still a successful exchange (exit 0, as curl).
    assert.equal(r.missingCode, 0);
    assert.match(r.missingStdout as string, /^HTTP\/1\.1 404 .*\nbody: [1-9]\d* bytes\n$/);
    const sigint = r.sigint as Record<string, unknown>;
    assert.equal(sigint.requestLine, "GET /slow HTTP/1.1");
    assert.deepEqual(sigint.end, { end: "eof", extra: 0 });
    assert.equal(sigint.code, 130);
  },
);

integrationTest(
  "examples: port_forward relays both ways with half-closes and exits 0 on SIGINT",
  problem,
  async () => {
    const r = await runScenario(script("example_forward.ts"), [String(256 * 1024), "3"], {
      timeoutMs: 55_000,
    });
    assert.match(
      r.stderr as string,
      /^listening on 10\.0\.0\.1:8080, forwarding to 127\.0\.0\.1:9000$/m,
    );
    // Client FIN relayed to the upstream, which answered after it.
    assert.equal(r.requestMatches, true, "request at the upstream");
    assert.equal(r.responseMatches, true, "response at the client after its FIN");
    // Upstream FIN relayed to the client, which sent its reply after it.
    assert.equal(r.greetingMatches, true, "greeting at the client, to EOF");
    assert.equal(r.replyMatches, true, "reply at the upstream after its FIN");
    assert.deepEqual(r.afterG, { end: "eof", extra: 0 });
    assert.deepEqual(r.echoes, [true, true, true]);
    assert.equal(r.hi, "hi");
    assert.deepEqual(r.end, { end: "eof", extra: 0 });
    assert.equal(r.code, 0);
  },
);
