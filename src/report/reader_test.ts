import assert from "node:assert/strict";
import { parseTrace, TraceError } from "./reader.ts";

const HEADER = '{"trace":"tcptun","v":1,"start":"2026-11-26T17:00:00.000Z"}';
const OPEN =
  '{"t":12.51,"c":1,"ev":"open","local":"10.0.0.1:4444","remote":"10.0.0.2:51234","active":false,"mss":1460}';
const SEG =
  '{"t":12.6,"c":1,"ev":"seg","dir":"in","seq":1094584580,"ack":24874257,"len":0,"flags":".","win":64512}';

function bad(text: string): TraceError {
  try {
    parseTrace(text);
  } catch (e) {
    assert.ok(e instanceof TraceError, `not a TraceError: ${e}`);
    return e;
  }
  assert.fail("accepted a bad trace");
}

Deno.test("report reader: a good trace gives its events in order, with blank lines and CRLF", () => {
  const trace = parseTrace([HEADER, OPEN, "", SEG + "\r", ""].join("\n"));
  assert.equal(trace.version, 1);
  assert.equal(trace.start, "2026-11-26T17:00:00.000Z");
  assert.deepEqual(trace.events.map((e) => e.ev), ["open", "seg"]);
  assert.equal(trace.events[1].t, 12.6);
  assert.equal(trace.events[1].c, 1);
  assert.equal(trace.skipped, 0);
});

Deno.test("report reader: events of a type it does not know are skipped and counted (docs/trace.md)", () => {
  const trace = parseTrace([HEADER, OPEN, '{"t":13,"c":1,"ev":"future","x":1}', SEG].join("\n"));
  assert.deepEqual(trace.events.map((e) => e.ev), ["open", "seg"]);
  assert.equal(trace.skipped, 1);
});

Deno.test("report reader: the header must name a tcptun trace of a version it knows", () => {
  assert.match(bad("").message, /^line 1: empty file/);
  assert.match(bad(OPEN).message, /^line 1: not a tcptun trace/);
  let e = bad('{"trace":"tcptun","v":2,"start":"x"}\n' + OPEN);
  assert.equal(e.line, 1);
  assert.match(e.message, /^line 1: trace version 2 is not supported \(this reader knows 1\)$/);
  e = bad('{"trace":"tcptun"}');
  assert.match(e.message, /trace version undefined is not supported/);
  // The header may follow blank lines; its line number is still the file's.
  e = bad('\n\n{"trace":"tcptun","v":"1"}');
  assert.equal(e.line, 3);
  assert.match(e.message, /version "1"/);
});

Deno.test("report reader: the first bad line is named with its number, the reason and the text", () => {
  let e = bad([HEADER, OPEN, SEG, "{not json", SEG].join("\n"));
  assert.equal(e.line, 4);
  assert.match(e.message, /^line 4: not JSON \(.+\): \{not json$/);
  e = bad([HEADER, "[1,2]"].join("\n"));
  assert.equal(e.line, 2);
  assert.match(e.message, /^line 2: not a JSON object/);
  // validateTraceEvent's reason, then the line.
  e = bad([HEADER, OPEN, SEG.replace('"dir":"in"', '"dir":"sideways"'), "{bad"].join("\n"));
  assert.equal(e.line, 3);
  assert.match(e.message, /^line 3: seg: bad dir: \{"t":12\.6/);
  e = bad([HEADER, '{"t":-1,"c":1,"ev":"close","reason":"finished"}'].join("\n"));
  assert.match(e.message, /^line 2: t: not a time/);
  e = bad(
    [
      HEADER,
      '{"t":1,"c":1,"ev":"seg","dir":"out","seq":4294967296,"ack":0,"len":0,"flags":"S","win":1}',
    ].join("\n"),
  );
  assert.match(e.message, /^line 2: seg: seq, ack/);
  // A long line is cut in the message.
  e = bad([HEADER, `{"t":1,"c":1,"ev":"close","reason":"","pad":"${"x".repeat(200)}"}`].join("\n"));
  assert.match(e.message, /^line 2: close: reason: .{77}\.\.\.$/);
});

Deno.test("report reader: a line cut short by a crash is an error, not a silent end", () => {
  const e = bad([HEADER, OPEN, SEG.slice(0, 40)].join("\n"));
  assert.equal(e.line, 3);
  assert.match(e.message, /not JSON/);
});
