/**
 * The RFC 9293 conformance table, built from the test names so that it cannot drift.
 *
 * A test that checks a labelled requirement of RFC 9293 carries the label in its name:
 * `Deno.test("tcp: MUST-13 active close: ... after 2·MSL", ...)`, a `t.step` name, or an
 * `integrationTest` name. This script reads every `*_test.ts` file of the repository
 * (statically: it finds the name strings with a small JavaScript lexer, it runs nothing),
 * joins the IDs it finds with the catalog in `scripts/conformance_catalog.ts`, and prints a
 * Markdown table: ID, requirement, status and the tests that check it, then the totals.
 *
 * It fails (exit 1, one line per problem on stderr) when a test names an ID that is not in
 * the catalog, or one the catalog marks n/a or not implemented, or when the catalog itself
 * is malformed. An implemented requirement without a test is listed as
 * "implemented, untested".
 *
 * ```sh
 * deno task conformance                                  # print the table
 * deno task conformance --markdown docs/conformance.md   # write it
 * deno task conformance --check                          # validate; docs/conformance.md is current
 * ```
 * @module
 */

import { type Level, type Requirement, REQUIREMENTS } from "./conformance_catalog.ts";

/** The default location of the generated table, relative to the repository root. */
export const DOC_PATH = "docs/conformance.md";

/** Matches requirement IDs in a test name. */
const ID_PATTERN = /\b(?:MUST|SHLD|MAY|REC)-\d+\b/g;

// ---------------------------------------------------------------------------------------
// Lexing just enough JavaScript to find test names

interface Token {
  /** "str" for '…' and "…" (value decoded), "tpl" for `…` (value raw), else id or punct. */
  kind: "str" | "tpl" | "id" | "punct";
  value: string;
  line: number;
}

const REGEX_AFTER_WORD = new Set([
  "return",
  "typeof",
  "instanceof",
  "in",
  "of",
  "new",
  "delete",
  "void",
  "throw",
  "case",
  "do",
  "else",
  "yield",
  "await",
]);

const ESCAPES: Record<string, string> = {
  n: "\n",
  t: "\t",
  r: "\r",
  b: "\b",
  f: "\f",
  v: "\v",
  "0": "\0",
};

function isIdentStart(c: string): boolean {
  return /[A-Za-z_$\u0080-\uffff]/.test(c);
}

function isIdentPart(c: string): boolean {
  return /[A-Za-z0-9_$\u0080-\uffff]/.test(c);
}

/**
 * Splits TypeScript source into tokens: comments are dropped, string literals are single
 * tokens (so code inside a string is never mistaken for a call), a template literal is one
 * token with its raw text, and a regular expression literal is skipped.
 */
export function tokenize(src: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  let line = 1;
  const n = src.length;

  const regexAllowed = (): boolean => {
    const prev = tokens.at(-1);
    if (!prev) return true;
    if (prev.kind === "punct") return prev.value !== ")" && prev.value !== "]";
    if (prev.kind === "id") return REGEX_AFTER_WORD.has(prev.value);
    return false;
  };

  // Skips a template literal starting after its opening backtick; returns the index after
  // the closing one. `${ … }` expressions may nest strings, templates and braces.
  const skipTemplate = (start: number): number => {
    let j = start;
    while (j < n) {
      const c = src[j];
      if (c === "\\") {
        j += 2;
        continue;
      }
      if (c === "\n") line++;
      if (c === "`") return j + 1;
      if (c === "$" && src[j + 1] === "{") {
        j = skipExpression(j + 2);
        continue;
      }
      j++;
    }
    return n;
  };

  // Skips code up to the `}` that closes a template expression; returns the index after it.
  const skipExpression = (start: number): number => {
    let j = start;
    let depth = 0;
    while (j < n) {
      const c = src[j];
      if (c === "\n") line++;
      if (c === "'" || c === '"') {
        j = skipQuoted(j + 1, c);
        continue;
      }
      if (c === "`") {
        j = skipTemplate(j + 1);
        continue;
      }
      if (c === "{") depth++;
      if (c === "}") {
        if (depth === 0) return j + 1;
        depth--;
      }
      j++;
    }
    return n;
  };

  // Skips a quoted string starting after its opening quote; returns the index after it.
  const skipQuoted = (start: number, quote: string): number => {
    let j = start;
    while (j < n && src[j] !== quote && src[j] !== "\n") j += src[j] === "\\" ? 2 : 1;
    return Math.min(j + 1, n);
  };

  while (i < n) {
    const c = src[i];
    if (c === "\n") {
      line++;
      i++;
      continue;
    }
    if (c === " " || c === "\t" || c === "\r") {
      i++;
      continue;
    }
    if (c === "/" && src[i + 1] === "/") {
      while (i < n && src[i] !== "\n") i++;
      continue;
    }
    if (c === "/" && src[i + 1] === "*") {
      const end = src.indexOf("*/", i + 2);
      const stop = end < 0 ? n : end + 2;
      for (let k = i; k < stop; k++) if (src[k] === "\n") line++;
      i = stop;
      continue;
    }
    if (c === "'" || c === '"') {
      const end = skipQuoted(i + 1, c);
      tokens.push({ kind: "str", value: decodeString(src.slice(i + 1, end - 1)), line });
      i = end;
      continue;
    }
    if (c === "`") {
      const startLine = line;
      const end = skipTemplate(i + 1);
      tokens.push({ kind: "tpl", value: src.slice(i + 1, end - 1), line: startLine });
      i = end;
      continue;
    }
    if (c === "/" && regexAllowed()) {
      // A regular expression literal: up to the unescaped `/` outside a class, then flags.
      let j = i + 1;
      let inClass = false;
      while (j < n && src[j] !== "\n") {
        const d = src[j];
        if (d === "\\") {
          j += 2;
          continue;
        }
        if (d === "[") inClass = true;
        else if (d === "]") inClass = false;
        else if (d === "/" && !inClass) break;
        j++;
      }
      j++;
      while (j < n && isIdentPart(src[j])) j++;
      tokens.push({ kind: "punct", value: "regex", line });
      i = j;
      continue;
    }
    if (isIdentStart(c)) {
      let j = i + 1;
      while (j < n && isIdentPart(src[j])) j++;
      tokens.push({ kind: "id", value: src.slice(i, j), line });
      i = j;
      continue;
    }
    if (/[0-9]/.test(c)) {
      let j = i + 1;
      while (j < n && /[0-9A-Za-z_.]/.test(src[j])) j++;
      tokens.push({ kind: "id", value: src.slice(i, j), line });
      i = j;
      continue;
    }
    tokens.push({ kind: "punct", value: c, line });
    i++;
  }
  return tokens;
}

/** Decodes the escapes of a quoted string literal's body. */
function decodeString(body: string): string {
  return body.replace(
    /\\(u\{([0-9a-fA-F]+)\}|u([0-9a-fA-F]{4})|x([0-9a-fA-F]{2})|\n|.)/g,
    (_m, all: string, cp?: string, u4?: string, x2?: string) => {
      const hex = cp ?? u4 ?? x2;
      if (hex !== undefined) return String.fromCodePoint(parseInt(hex, 16));
      if (all === "\n") return "";
      return ESCAPES[all] ?? all;
    },
  );
}

// ---------------------------------------------------------------------------------------
// Test names

/** A test or step found in a source file. */
export interface FoundTest {
  /** Path relative to the repository root, with forward slashes. */
  file: string;
  /** 1-based line of the call. */
  line: number;
  /** "test" for Deno.test and integrationTest, "step" for a t.step. */
  kind: "test" | "step";
  /** The name as written (template literals raw, `${…}` included). */
  name: string;
  /** Names of the enclosing tests and steps, outermost first. */
  parents: string[];
  /** Requirement IDs named, in order of appearance, without repeats. */
  ids: string[];
}

/** The requirement IDs a test name carries, e.g. ["MUST-13", "SHLD-7"]. */
export function idsIn(name: string): string[] {
  return [...new Set(name.match(ID_PATTERN) ?? [])];
}

/**
 * Finds the named tests and steps of one source file: `Deno.test("name", …)`,
 * `Deno.test({ name: "…", … })`, `integrationTest("name", …)` and `x.step("name", …)` or
 * `x.step({ name: "…" })`. Calls whose name is not a literal are skipped.
 */
export function findTests(src: string, file: string): FoundTest[] {
  const t = tokenize(src);
  const calls: {
    kind: "test" | "step";
    open: number;
    close: number;
    line: number;
    name: string;
  }[] = [];
  const isPunct = (k: number, v: string) => t[k]?.kind === "punct" && t[k].value === v;
  const isId = (k: number, v: string) => t[k]?.kind === "id" && t[k].value === v;
  for (let k = 0; k < t.length; k++) {
    let kind: "test" | "step" | null = null;
    let open = -1;
    if (isId(k, "Deno") && isPunct(k + 1, ".") && isId(k + 2, "test") && isPunct(k + 3, "(")) {
      kind = "test";
      open = k + 3;
    } else if (
      isId(k, "integrationTest") && isPunct(k + 1, "(") && !isId(k - 1, "function") &&
      !isPunct(k - 1, ".")
    ) {
      kind = "test";
      open = k + 1;
    } else if (isPunct(k, ".") && isId(k + 1, "step") && isPunct(k + 2, "(")) {
      kind = "step";
      open = k + 2;
    }
    if (kind === null) continue;
    const name = callName(t, open);
    if (name === null) continue;
    calls.push({ kind, open, close: matchingParen(t, open), line: t[k].line, name });
  }
  return calls.map((c) => {
    const parents = calls
      .filter((p) => p !== c && p.open < c.open && c.open < p.close)
      .map((p) => p.name);
    return {
      file,
      line: c.line,
      kind: c.kind,
      name: c.name,
      parents,
      ids: idsIn(c.name),
    };
  });
}

/** The literal name of a call whose `(` is at `open`, or null. */
function callName(t: Token[], open: number): string | null {
  const first = t[open + 1];
  if (!first) return null;
  if (first.kind === "str" || first.kind === "tpl") return first.value;
  if (first.kind !== "punct" || first.value !== "{") return null;
  // An options object: look for `name: "…"` at its top level.
  let depth = 0;
  for (let k = open + 1; k < t.length; k++) {
    const tok = t[k];
    if (tok.kind === "punct") {
      if (tok.value === "{" || tok.value === "(" || tok.value === "[") depth++;
      else if (tok.value === "}" || tok.value === ")" || tok.value === "]") {
        depth--;
        if (depth === 0) return null;
      }
    } else if (
      depth === 1 && tok.kind === "id" && tok.value === "name" &&
      t[k + 1]?.kind === "punct" && t[k + 1].value === ":" &&
      (t[k + 2]?.kind === "str" || t[k + 2]?.kind === "tpl") &&
      (t[k - 1]?.value === "{" || t[k - 1]?.value === ",")
    ) {
      return t[k + 2].value;
    }
  }
  return null;
}

/** The index of the `)` that closes the `(` at `open` (the last token if unbalanced). */
function matchingParen(t: Token[], open: number): number {
  let depth = 0;
  for (let k = open; k < t.length; k++) {
    if (t[k].kind !== "punct") continue;
    if (t[k].value === "(") depth++;
    else if (t[k].value === ")" && --depth === 0) return k;
  }
  return t.length - 1;
}

const SKIP_DIRS = new Set(["node_modules", "dist", "coverage", "vendor"]);

/** Every `*_test.ts` file under `root` (hidden and build folders skipped), sorted. */
export async function listTestFiles(root: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (rel: string) => {
    const dir = rel === "" ? root : `${root}/${rel}`;
    for await (const e of Deno.readDir(dir)) {
      if (e.name.startsWith(".")) continue;
      const path = rel === "" ? e.name : `${rel}/${e.name}`;
      if (e.isDirectory && !SKIP_DIRS.has(e.name)) await walk(path);
      else if (e.isFile && e.name.endsWith("_test.ts")) out.push(path);
    }
  };
  await walk("");
  return out.sort();
}

/** The named tests and steps of every test file under `root`. */
export async function scanTests(root: string): Promise<FoundTest[]> {
  const found: FoundTest[] = [];
  for (const file of await listTestFiles(root)) {
    found.push(...findTests(await Deno.readTextFile(`${root}/${file}`), file));
  }
  return found;
}

// ---------------------------------------------------------------------------------------
// The join

/** The state of one requirement once joined with the tests. */
export type Verdict = "tested" | "untested" | "n/a" | "not implemented";

/** One row of the table. */
export interface Row {
  req: Requirement;
  verdict: Verdict;
  tests: FoundTest[];
}

/** Counts for one level. */
export interface Totals {
  level: Level;
  total: number;
  tested: number;
  untested: number;
  na: number;
  notImplemented: number;
  /** Rows with a known gap. */
  gaps: number;
  /** Untested rows that are pending work. */
  pending: number;
}

/** The result of joining the catalog with the tests. */
export interface Report {
  rows: Row[];
  totals: Totals[];
  /** Problems that make the check fail. */
  errors: string[];
  /** Things worth a look that do not fail the check. */
  warnings: string[];
}

const LEVELS: readonly Level[] = ["MUST", "SHLD", "MAY", "REC"];

function levelOf(id: string): Level {
  return id.slice(0, id.indexOf("-")) as Level;
}

function numberOf(id: string): number {
  return Number(id.slice(id.indexOf("-") + 1));
}

function describe(t: FoundTest): string {
  return `${t.file}:${t.line} "${[...t.parents, t.name].join(" › ")}"`;
}

/** Checks the catalog itself: IDs well formed, unique and numbered 1..n, reasons given. */
export function validateCatalog(catalog: readonly Requirement[]): string[] {
  const errors: string[] = [];
  const seen = new Map<string, number>();
  for (const r of catalog) {
    if (!/^(MUST|SHLD|MAY|REC)-[1-9]\d*$/.test(r.id)) {
      errors.push(`catalog: malformed ID "${r.id}"`);
      continue;
    }
    seen.set(r.id, (seen.get(r.id) ?? 0) + 1);
    if (!r.summary.trim()) errors.push(`catalog: ${r.id} has no summary`);
    if (!/^\d+(\.\d+)*$/.test(r.section)) errors.push(`catalog: ${r.id} has no section`);
    if (r.status !== "implemented" && !r.reason?.trim()) {
      errors.push(`catalog: ${r.id} is ${r.status} but gives no reason`);
    }
    if (r.status !== "implemented" && (r.pending || r.gap)) {
      errors.push(`catalog: ${r.id} is ${r.status}; pending and gap are for implemented ones`);
    }
  }
  for (const [id, count] of seen) {
    if (count > 1) errors.push(`catalog: ${id} appears ${count} times`);
  }
  for (const level of LEVELS) {
    const numbers = [...seen.keys()].filter((id) => levelOf(id) === level).map(numberOf);
    const max = Math.max(0, ...numbers);
    for (let k = 1; k <= max; k++) {
      if (!seen.has(`${level}-${k}`)) errors.push(`catalog: ${level}-${k} is missing`);
    }
  }
  return errors;
}

/** Joins the catalog with the tests found; see `Report`. */
export function join(catalog: readonly Requirement[], tests: readonly FoundTest[]): Report {
  const errors = validateCatalog(catalog);
  const warnings: string[] = [];
  const byId = new Map(catalog.map((r) => [r.id, r]));
  const testsOf = new Map<string, FoundTest[]>();
  for (const t of tests) {
    for (const id of t.ids) {
      const req = byId.get(id);
      if (!req) {
        errors.push(`${describe(t)} names ${id}, which is not in the catalog`);
        continue;
      }
      if (req.status !== "implemented") {
        errors.push(
          `${describe(t)} names ${id}, which the catalog marks ${req.status} ` +
            `(${req.reason}): fix the catalog or the test name`,
        );
        continue;
      }
      const list = testsOf.get(id) ?? [];
      list.push(t);
      testsOf.set(id, list);
    }
  }
  const rows = [...catalog]
    .sort((a, b) =>
      LEVELS.indexOf(levelOf(a.id)) - LEVELS.indexOf(levelOf(b.id)) ||
      numberOf(a.id) - numberOf(b.id)
    )
    .map((req): Row => {
      const list = testsOf.get(req.id) ?? [];
      let verdict: Verdict;
      if (req.status === "n/a") verdict = "n/a";
      else if (req.status === "not implemented") verdict = "not implemented";
      else verdict = list.length > 0 ? "tested" : "untested";
      if (verdict === "tested" && req.pending) {
        warnings.push(`${req.id} is tested now: drop its "pending" in the catalog`);
      }
      return { req, verdict, tests: list };
    });
  const totals = LEVELS.map((level): Totals => {
    const mine = rows.filter((r) => levelOf(r.req.id) === level);
    const count = (v: Verdict) => mine.filter((r) => r.verdict === v).length;
    return {
      level,
      total: mine.length,
      tested: count("tested"),
      untested: count("untested"),
      na: count("n/a"),
      notImplemented: count("not implemented"),
      gaps: mine.filter((r) => r.req.gap && r.verdict !== "n/a").length,
      pending: mine.filter((r) => r.verdict === "untested" && r.req.pending).length,
    };
  }).filter((t) => t.total > 0);
  return { rows, totals, errors, warnings };
}

// ---------------------------------------------------------------------------------------
// Markdown

const LEVEL_TITLES: Record<Level, string> = {
  MUST: "MUST",
  SHLD: "SHOULD",
  MAY: "MAY",
  REC: "RECOMMENDED",
};

/** Escapes text for a Markdown table cell. */
function cell(text: string): string {
  return text.replace(/[\\`*_\[\]<>|#]/g, (c) => `\\${c}`).replace(/\n/g, " ");
}

function statusCell(row: Row): string {
  const r = row.req;
  const parts: string[] = [];
  switch (row.verdict) {
    case "tested":
      parts.push("**tested**");
      break;
    case "untested":
      parts.push(r.pending ? "implemented, untested (pending)" : "implemented, untested");
      break;
    case "n/a":
      parts.push(`n/a: ${cell(r.reason ?? "")}`);
      break;
    case "not implemented":
      parts.push(`**not implemented**: ${cell(r.reason ?? "")}`);
      break;
  }
  if (r.pending && row.verdict === "untested") parts.push(`pending: ${cell(r.pending)}`);
  if (r.gap) parts.push(`**gap**: ${cell(r.gap)}`);
  if (r.note) parts.push(`note: ${cell(r.note)}`);
  return parts.join("<br>");
}

function testsCell(row: Row): string {
  return row.tests
    .map((t) => `\`${t.file}\`: ${cell([...t.parents, t.name].join(" › "))}`)
    .join("<br>");
}

/** Renders the report as the Markdown document `docs/conformance.md` holds. */
export function renderMarkdown(report: Report): string {
  const out: string[] = [];
  out.push("# RFC 9293 conformance");
  out.push("");
  out.push(
    "Every labelled requirement of [RFC 9293](https://www.rfc-editor.org/rfc/rfc9293) " +
      "(its Appendix B), the tests that check it, and where tcptun stands. A test checks a " +
      "requirement when its name carries the ID, e.g. " +
      '`Deno.test("tcp: MUST-13 active close: … after 2·MSL", …)` or a `t.step` name. ' +
      "This file is generated from the test names and `scripts/conformance_catalog.ts` " +
      "by `deno task conformance --markdown docs/conformance.md`; do not edit it by hand. " +
      "`deno task test` fails when it is out of date, when a test names an ID the catalog " +
      "does not hold, or when a test names one the catalog marks n/a or not implemented.",
  );
  out.push("");
  out.push(
    "Status: **tested** (implemented, and at least one test names it); implemented, " +
      "untested (counts against us; pending: being implemented); n/a (cannot apply to a " +
      "single-address user-space stack over TUN, with the reason); **not implemented** " +
      "(with what is missing). A **gap** is a known deviation.",
  );
  for (const level of LEVELS) {
    const rows = report.rows.filter((r) => levelOf(r.req.id) === level);
    if (rows.length === 0) continue;
    out.push("");
    out.push(`## ${LEVEL_TITLES[level]}`);
    out.push("");
    out.push("| ID | § | requirement | status | tests |");
    out.push("| --- | --- | --- | --- | --- |");
    for (const row of rows) {
      out.push(
        `| ${row.req.id} | ${row.req.section} | ${cell(row.req.summary)} | ` +
          `${statusCell(row)} | ${testsCell(row)} |`,
      );
    }
  }
  out.push("");
  out.push("## Totals");
  out.push("");
  out.push(
    "| level | requirements | tested | implemented, untested | n/a | not implemented | " +
      "known gaps |",
  );
  out.push("| --- | --- | --- | --- | --- | --- | --- |");
  for (const t of report.totals) {
    const pend = t.pending > 0 ? ` (${t.pending} pending)` : "";
    out.push(
      `| ${LEVEL_TITLES[t.level]} | ${t.total} | ${t.tested} | ${t.untested}${pend} | ` +
        `${t.na} | ${t.notImplemented} | ${t.gaps} |`,
    );
  }
  for (const level of ["MUST", "SHLD"] as const) {
    const ids = report.rows
      .filter((r) => levelOf(r.req.id) === level && r.verdict === "untested")
      .map((r) => r.req.pending ? `${r.req.id} (pending)` : r.req.id);
    if (ids.length === 0) continue;
    out.push("");
    out.push(`Implemented but untested ${LEVEL_TITLES[level]}s: ${ids.join(", ")}.`);
  }
  out.push("");
  return out.join("\n");
}

/** The one-line summary printed by `--check`. */
export function summaryLine(report: Report): string {
  return report.totals
    .filter((t) => t.level === "MUST" || t.level === "SHLD")
    .map((t) =>
      `${t.level}: ${t.tested} tested, ${t.tested + t.untested} implemented ` +
      `(${t.untested} untested), ${t.na} n/a, ${t.notImplemented} not implemented`
    )
    .join("; ");
}

// ---------------------------------------------------------------------------------------
// Command line

/** Where `run` reads and writes; tests replace these. */
export interface RunOptions {
  /** Repository root to scan. Default: the parent of this script's folder. */
  root?: string;
  /** The catalog. Default: `REQUIREMENTS`. */
  catalog?: readonly Requirement[];
  /** Standard output. */
  stdout?: (text: string) => void;
  /** Standard error. */
  stderr?: (text: string) => void;
}

const USAGE = `usage: deno task conformance [--check] [--markdown FILE] [--root DIR]

  (no option)      print the conformance table (Markdown) on stdout
  --markdown FILE  write it to FILE instead (docs/conformance.md)
  --check          print a summary; fail unless ${DOC_PATH} (or FILE) is up to date
  --root DIR       the repository to scan (default: this script's repository)
Exits 1 when a test names an ID that is not in the catalog, or one marked n/a or
not implemented, when the catalog is malformed, or when --check finds the file stale.`;

/**
 * Runs the command with `args`; returns the exit status (0, 1 for problems, 2 for usage).
 *
 * @example
 * ```ts ignore
 * const status = await run(["--check"]);
 * ```
 */
export async function run(args: string[], opts: RunOptions = {}): Promise<number> {
  const stdout = opts.stdout ?? ((s: string) => console.log(s));
  const stderr = opts.stderr ?? ((s: string) => console.error(s));
  let check = false;
  let markdown: string | null = null;
  let root = opts.root ?? decodeURIComponent(new URL("..", import.meta.url).pathname);
  for (let k = 0; k < args.length; k++) {
    const a = args[k];
    if (a === "--check") check = true;
    else if (a === "--markdown" && k + 1 < args.length) markdown = args[++k];
    else if (a === "--root" && k + 1 < args.length) root = args[++k];
    else if (a === "--help" || a === "-h") {
      stdout(USAGE);
      return 0;
    } else {
      stderr(`conformance: unexpected argument ${JSON.stringify(a)}\n${USAGE}`);
      return 2;
    }
  }
  root = root.replace(/\/+$/, "") || "/";
  const report = join(opts.catalog ?? REQUIREMENTS, await scanTests(root));
  for (const w of report.warnings) stderr(`conformance: warning: ${w}`);
  if (report.errors.length > 0) {
    for (const e of report.errors) stderr(`conformance: ${e}`);
    stderr(`conformance: ${report.errors.length} problem(s); see scripts/conformance.ts`);
    return 1;
  }
  const doc = renderMarkdown(report);
  if (check) {
    const path = markdown ?? `${root}/${DOC_PATH}`;
    let current: string | null = null;
    try {
      current = await Deno.readTextFile(path);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
    stdout(`conformance: ${summaryLine(report)}`);
    if (current !== doc) {
      stderr(
        `conformance: ${markdown ?? DOC_PATH} is ${
          current === null ? "missing" : "out of date"
        }: ` +
          `run deno task conformance --markdown ${markdown ?? DOC_PATH}`,
      );
      return 1;
    }
    return 0;
  }
  if (markdown !== null) {
    await Deno.writeTextFile(markdown, doc);
    stdout(`conformance: wrote ${markdown}; ${summaryLine(report)}`);
    return 0;
  }
  stdout(doc);
  return 0;
}

if (import.meta.main) Deno.exit(await run(Deno.args));
