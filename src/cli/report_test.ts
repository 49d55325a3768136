import assert from "node:assert/strict";
import { main } from "../../main.ts";
import { syntheticTrace } from "../report/_synthetic.ts";

function collector(): { stream: WritableStream<Uint8Array>; text: () => string } {
  const chunks: Uint8Array[] = [];
  return {
    stream: new WritableStream({ write: (c) => void chunks.push(c.slice()) }),
    text: () => new TextDecoder().decode(new Uint8Array(chunks.flatMap((c) => [...c]))),
  };
}

async function run(args: string[]) {
  const out = collector();
  const stderr: string[] = [];
  const code = await main(args, { stdout: out.stream, stderr: (l) => stderr.push(l) });
  return { code, stdout: out.text(), stderr };
}

Deno.test("cli report: writes TRACE.html beside the trace, or to stdout with -o -", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tcptun_report_cli_" });
  try {
    const trace = `${dir}/s.jsonl`;
    await Deno.writeTextFile(trace, syntheticTrace({ segments: 300, replySegments: 10 }));
    let r = await run(["report", trace]);
    assert.equal(r.code, 0, r.stderr.join("\n"));
    assert.deepEqual(r.stderr, [`wrote ${dir}/s.html (1 connection)`]);
    assert.equal(r.stdout, "");
    const html = await Deno.readTextFile(`${dir}/s.html`);
    assert.match(html, /^<!DOCTYPE html>/);
    assert.match(html, /<title>tcptun report: s\.jsonl<\/title>/);
    r = await run(["report", trace, "-o", "-"]);
    assert.equal(r.code, 0);
    assert.deepEqual(r.stderr, []);
    assert.equal(r.stdout, html);
    r = await run(["report", "-o", `${dir}/other.html`, trace]);
    assert.equal(r.code, 0);
    assert.equal(await Deno.readTextFile(`${dir}/other.html`), html);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cli report: a bad trace or file is one error line naming the line, exit 1", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tcptun_report_cli_" });
  try {
    const trace = `${dir}/bad.jsonl`;
    const good = syntheticTrace({ segments: 20, replySegments: 1 }).split("\n");
    good[5] = good[5].replace('"c":1', '"c":0');
    await Deno.writeTextFile(trace, good.join("\n"));
    let r = await run(["report", trace]);
    assert.equal(r.code, 1);
    assert.equal(r.stderr.length, 1);
    assert.match(
      r.stderr[0],
      new RegExp(`^error: ${dir}/bad\\.jsonl: line 6: c: not a connection: `),
    );
    await assert.rejects(Deno.stat(`${dir}/bad.html`), Deno.errors.NotFound);

    await Deno.writeTextFile(trace, '{"trace":"tcptun","v":9}\n');
    r = await run(["report", trace]);
    assert.equal(r.code, 1);
    assert.match(r.stderr[0], /line 1: trace version 9 is not supported/);

    r = await run(["report", `${dir}/missing.jsonl`]);
    assert.equal(r.code, 1);
    assert.match(r.stderr[0], /^error: cannot read trace .*missing\.jsonl: /);

    await Deno.writeTextFile(trace, syntheticTrace({ segments: 20, replySegments: 1 }));
    r = await run(["report", trace, "-o", `${dir}/no/such/dir/r.html`]);
    assert.equal(r.code, 1);
    assert.match(r.stderr[0], /^error: cannot write report .*r\.html: /);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
