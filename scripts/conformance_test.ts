import assert from "node:assert/strict";
import {
  DOC_PATH,
  findTests,
  type FoundTest,
  idsIn,
  join,
  renderMarkdown,
  run,
  tokenize,
  validateCatalog,
} from "./conformance.ts";
import { type Requirement, REQUIREMENTS } from "./conformance_catalog.ts";

// Fixture sources are built from pieces so that no line of this file reads as a test call
// with a requirement ID to the scanner (it would anyway see them as strings only).
const ID = (level: string, n: number) => `${level}-${n}`;

const FIXTURE = [
  `import { integrationTest } from "../netns.ts";`,
  `// Deno.test("commented out ${ID("MUST", 98)}", () => {});`,
  `/* Deno.test("block comment ${ID("MUST", 97)}", () => {}); */`,
  `const decoy = 'Deno.test("inside a string ${ID("MUST", 96)}", () => {})';`,
  `const re = /"Deno.test\\(/g; // a regex literal holding a quote`,
  `Deno.test("tcp: ${ID("MUST", 13)} ${ID("SHLD", 7)} plain name", () => {});`,
  `Deno.test({`,
  `  ignore: Deno.build.os !== "linux",`,
  `  name: "tun: ${ID("MUST", 2)} options object",`,
  `  fn() {},`,
  `});`,
  `Deno.test("outer", async (t) => {`,
  "  for (const what of ['a']) {",
  "    await t.step(`" + ID("MUST", 7) + " ${what} is BadOption`, () => {});",
  `  }`,
  `  await t.step({ name: "inner ${ID("MAY", 12)}", fn: async (t2) => {`,
  `    await t2.step("deepest ${ID("MUST", 10)}", () => {});`,
  `  } });`,
  `});`,
  `integrationTest(`,
  `  "lossy: ${ID("MUST", 36)} \\u00b7 escaped",`,
  `  undefined,`,
  `  async () => {},`,
  `);`,
  `function integrationTest(name: string, _p: unknown, _f: unknown) {}`,
  `Deno.test(someVariable, () => {});`,
].join("\n");

Deno.test("conformance: test names are found in every call form, and only in calls", () => {
  const found = findTests(FIXTURE, "x_test.ts");
  assert.deepEqual(
    found.map((t) => [t.kind, t.name, t.parents, t.ids, t.line]),
    [
      ["test", `tcp: ${ID("MUST", 13)} ${ID("SHLD", 7)} plain name`, [], [
        ID("MUST", 13),
        ID("SHLD", 7),
      ], 6],
      ["test", `tun: ${ID("MUST", 2)} options object`, [], [ID("MUST", 2)], 7],
      ["test", "outer", [], [], 12],
      ["step", ID("MUST", 7) + " ${what} is BadOption", ["outer"], [ID("MUST", 7)], 14],
      ["step", `inner ${ID("MAY", 12)}`, ["outer"], [ID("MAY", 12)], 16],
      ["step", `deepest ${ID("MUST", 10)}`, ["outer", `inner ${ID("MAY", 12)}`], [
        ID("MUST", 10),
      ], 17],
      ["test", `lossy: ${ID("MUST", 36)} · escaped`, [], [ID("MUST", 36)], 20],
    ],
  );
});

Deno.test("conformance: the lexer keeps strings, templates and regexes whole", () => {
  const t = tokenize("a = `x ${ `y ${'}'}` } z` / 2; b = /[/]'/; c = 'it\\'s';");
  assert.deepEqual(
    t.map((k) => `${k.kind}:${k.value}`),
    [
      "id:a",
      "punct:=",
      "tpl:x ${ `y ${'}'}` } z",
      "punct:/",
      "id:2",
      "punct:;",
      "id:b",
      "punct:=",
      "punct:regex",
      "punct:;",
      "id:c",
      "punct:=",
      "str:it's",
      "punct:;",
    ],
  );
});

Deno.test("conformance: IDs are whole words, each listed once", () => {
  assert.deepEqual(idsIn(`tcp: ${ID("MUST", 1)} and ${ID("SHLD", 31)} ${ID("MUST", 1)}`), [
    ID("MUST", 1),
    ID("SHLD", 31),
  ]);
  assert.deepEqual(idsIn(`X${ID("MUST", 1)} ${ID("MUST", 1)}a ${ID("MUST", 1)}0`), [
    ID("MUST", 10),
  ]);
  assert.deepEqual(idsIn("MUST-x must-3 SHOULD-2 ECN"), []);
  assert.deepEqual(idsIn(`(${ID("MAY", 2)}), ${ID("REC", 1)}.`), [ID("MAY", 2), ID("REC", 1)]);
});

/** A small consistent catalog: MUST-1..4, SHLD-1..2. */
function smallCatalog(): Requirement[] {
  return [
    { id: ID("MUST", 1), section: "3.1", summary: "one", status: "implemented" },
    { id: ID("MUST", 2), section: "3.1", summary: "two", status: "implemented" },
    {
      id: ID("MUST", 3),
      section: "3.2",
      summary: "three",
      status: "implemented",
      pending: "soon",
    },
    { id: ID("MUST", 4), section: "3.2", summary: "four", status: "n/a", reason: "no such" },
    {
      id: ID("SHLD", 1),
      section: "3.3",
      summary: "s1",
      status: "not implemented",
      reason: "later",
    },
    { id: ID("SHLD", 2), section: "3.3", summary: "s2", status: "implemented", gap: "a gap" },
  ];
}

function fakeTest(name: string, file = "a_test.ts"): FoundTest {
  return { file, line: 1, kind: "test", name, parents: [], ids: idsIn(name) };
}

Deno.test("conformance: the join sorts rows, lists tests and counts each level", () => {
  const catalog = smallCatalog().reverse();
  const report = join(catalog, [
    fakeTest(`x: ${ID("MUST", 1)} first`),
    fakeTest(`x: ${ID("MUST", 1)} ${ID("SHLD", 2)} second`, "b_test.ts"),
    fakeTest("x: no ID at all"),
  ]);
  assert.deepEqual(report.errors, []);
  assert.deepEqual(report.rows.map((r) => [r.req.id, r.verdict, r.tests.length]), [
    [ID("MUST", 1), "tested", 2],
    [ID("MUST", 2), "untested", 0],
    [ID("MUST", 3), "untested", 0],
    [ID("MUST", 4), "n/a", 0],
    [ID("SHLD", 1), "not implemented", 0],
    [ID("SHLD", 2), "tested", 1],
  ]);
  assert.deepEqual(report.totals, [
    {
      level: "MUST",
      total: 4,
      tested: 1,
      untested: 2,
      na: 1,
      notImplemented: 0,
      gaps: 0,
      pending: 1,
    },
    {
      level: "SHLD",
      total: 2,
      tested: 1,
      untested: 0,
      na: 0,
      notImplemented: 1,
      gaps: 1,
      pending: 0,
    },
  ]);
  const md = renderMarkdown(report);
  assert.match(md, /\| MUST \| 4 \| 1 \| 2 \(1 pending\) \| 1 \| 0 \| 0 \|/);
  assert.match(md, /\| SHOULD \| 2 \| 1 \| 0 \| 0 \| 1 \| 1 \|/);
  assert.match(
    md,
    new RegExp(
      `Implemented but untested MUSTs: ${ID("MUST", 2)}, ` +
        `${ID("MUST", 3)} \\(pending\\)\\.`,
    ),
  );
  assert.match(md, /`b_test\.ts`: x: MUST-1 SHLD-2 second/);
  assert.match(md, /\| MUST-3 \| 3\.2 \| three \| implemented, untested \(pending\)/);
  // A pending requirement that gained a test is reported as tested, with a reminder.
  const later = join(smallCatalog(), [fakeTest(`x: ${ID("MUST", 3)}`)]);
  assert.equal(later.rows[2].verdict, "tested");
  assert.equal(later.warnings.length, 1);
});

Deno.test("conformance: tests naming unknown, n/a or unimplemented IDs are errors", () => {
  const report = join(smallCatalog(), [
    fakeTest(`x: ${ID("MUST", 99)} not in the catalog`),
    fakeTest(`x: ${ID("MUST", 4)} n/a`),
    fakeTest(`x: ${ID("SHLD", 1)} not implemented`),
    fakeTest(`x: ${ID("MUST", 2)} fine`),
  ]);
  assert.equal(report.errors.length, 3);
  assert.match(report.errors[0], /MUST-99, which is not in the catalog/);
  assert.match(report.errors[1], /MUST-4, which the catalog marks n\/a/);
  assert.match(report.errors[2], /SHLD-1, which the catalog marks not implemented/);
  assert.equal(report.rows[1].verdict, "tested");
});

Deno.test("conformance: the catalog check finds gaps, repeats and missing reasons", () => {
  const bad: Requirement[] = [
    ...smallCatalog().filter((r) => r.id !== ID("MUST", 2)),
    { id: ID("MUST", 1), section: "3.1", summary: "again", status: "implemented" },
    { id: ID("MAY", 1), section: "3", summary: "m", status: "n/a" },
    { id: "MUST-05", section: "3", summary: "zero-padded", status: "implemented" },
    { id: ID("SHLD", 3), section: "", summary: " ", status: "implemented" },
    {
      id: ID("SHLD", 4),
      section: "3",
      summary: "x",
      status: "not implemented",
      reason: "r",
      pending: "p",
    },
  ];
  assert.deepEqual(validateCatalog(bad).sort(), [
    `catalog: ${ID("MAY", 1)} is n/a but gives no reason`,
    `catalog: ${ID("MUST", 1)} appears 2 times`,
    `catalog: ${ID("MUST", 2)} is missing`,
    `catalog: ${ID("SHLD", 3)} has no section`,
    `catalog: ${ID("SHLD", 3)} has no summary`,
    `catalog: ${ID("SHLD", 4)} is not implemented; pending and gap are for implemented ones`,
    `catalog: malformed ID "MUST-05"`,
  ]);
});

Deno.test("conformance: the catalog lists every MUST and SHOULD of RFC 9293 once", () => {
  assert.deepEqual(validateCatalog(REQUIREMENTS), []);
  const count = (level: string) => REQUIREMENTS.filter((r) => r.id.startsWith(`${level}-`));
  // RFC 9293 Appendix B labels MUST-1..69, SHLD-1..31, MAY-1..18 and REC-1.
  assert.equal(count("MUST").length, 69);
  assert.equal(count("SHLD").length, 31);
  assert.equal(count("MAY").length, 18);
  assert.equal(count("REC").length, 1);
});

Deno.test("conformance: run fails on problems, writes the table and detects a stale one", async () => {
  const root = await Deno.makeTempDir({ prefix: "tcptun_conformance_" });
  try {
    await Deno.mkdir(`${root}/src`, { recursive: true });
    await Deno.mkdir(`${root}/.hidden`, { recursive: true });
    await Deno.mkdir(`${root}/docs`, { recursive: true });
    const write = (path: string, src: string) => Deno.writeTextFile(`${root}/${path}`, src);
    await write("src/a_test.ts", `Deno.test("a: ${ID("MUST", 1)} ok", () => {});\n`);
    await write("src/a.ts", `Deno.test("not a test file ${ID("MUST", 77)}", () => {});\n`);
    await write(".hidden/h_test.ts", `Deno.test("hidden ${ID("MUST", 77)}", () => {});\n`);
    const out: string[] = [];
    const err: string[] = [];
    const opts = {
      root,
      catalog: smallCatalog(),
      stdout: (s: string) => out.push(s),
      stderr: (s: string) => err.push(s),
    };

    assert.equal(await run([], opts), 0);
    assert.match(out.join("\n"), /\| MUST-1 \| 3\.1 \| one \| \*\*tested\*\* \| `src\/a_test\.ts`/);

    // The table is missing, then written, then current.
    assert.equal(await run(["--check"], opts), 1);
    assert.match(err.join("\n"), /docs\/conformance\.md is missing/);
    const doc = `${root}/${DOC_PATH}`;
    assert.equal(await run(["--markdown", doc], opts), 0);
    assert.equal(await run(["--check"], opts), 0);
    // A renamed test makes it stale.
    await write("src/b_test.ts", `Deno.test("b: ${ID("MUST", 2)} new", () => {});\n`);
    err.length = 0;
    assert.equal(await run(["--check"], opts), 1);
    assert.match(err.join("\n"), /out of date: run deno task conformance --markdown/);

    // An ID the catalog does not know fails every mode, and the file is not rewritten.
    const before = await Deno.readTextFile(doc);
    await write("src/c_test.ts", `Deno.test("c: ${ID("MUST", 70)} unknown", () => {});\n`);
    err.length = 0;
    assert.equal(await run(["--markdown", doc], opts), 1);
    assert.match(err.join("\n"), /src\/c_test\.ts:1 "c: MUST-70 unknown" names MUST-70/);
    assert.equal(await Deno.readTextFile(doc), before);
    assert.equal(await run([], opts), 1);
    assert.equal(await run(["--check"], opts), 1);

    assert.equal(await run(["--bogus"], opts), 2);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("conformance: this repository's test names agree with the catalog and the table", async () => {
  const err: string[] = [];
  const status = await run(["--check"], { stdout: () => {}, stderr: (s) => err.push(s) });
  assert.equal(status, 0, err.join("\n"));
});
