import assert from "node:assert/strict";

// Keeps the GitHub workflows in step with `.ci/run` (the one CI entry point, which pins the
// Deno version) without a YAML library: a line-based reading of the subset the workflows use
// (nested mappings by indentation, step lists, one-line scalars).

const ROOT = new URL("../", import.meta.url);
const WORKFLOWS = new URL(".github/workflows/", ROOT);

/** The Deno version `.ci/run` installs (`DENO_VERSION=2.9.6`). */
function ciDenoVersion(): string {
  const m = /^DENO_VERSION=([0-9][0-9A-Za-z.+-]*)$/m.exec(
    Deno.readTextFileSync(new URL(".ci/run", ROOT)),
  );
  assert.ok(m, ".ci/run sets DENO_VERSION=<version>");
  return m[1];
}

/** One step of a job: its `uses`, `run` and `with:` keys, as text. */
interface Step {
  uses?: string;
  run?: string;
  with: Record<string, string>;
}

/** A workflow as far as these checks need it. */
interface Workflow {
  /** The events under `on:` (keys, or a flow list). */
  on: string[];
  jobs: Map<string, { runsOn?: string; steps: Step[] }>;
}

function unquote(v: string): string {
  return v.trim().replace(/^(["'])(.*)\1$/, "$2");
}

/** Reads the subset of YAML the workflows use. Throws on tabs (YAML forbids them). */
function parseWorkflow(text: string): Workflow {
  const wf: Workflow = { on: [], jobs: new Map() };
  let top = "";
  let job: { runsOn?: string; steps: Step[] } | undefined;
  let step: Step | undefined;
  let inWith = false;
  let block: { indent: number } | undefined;
  for (const [i, raw] of text.split("\n").entries()) {
    if (raw.includes("\t")) throw new Error(`line ${i + 1}: a tab`);
    const indent = raw.length - raw.trimStart().length;
    const line = raw.trim();
    if (block && (line === "" || indent > block.indent)) {
      step!.run = (step!.run ?? "") + line + "\n"; // a `run: |` block
      continue;
    }
    block = undefined;
    if (line === "" || line.startsWith("#")) continue;
    if (indent === 0) {
      const m = /^([\w-]+):\s*(.*)$/.exec(line);
      if (!m) throw new Error(`line ${i + 1}: not a top-level key: ${line}`);
      top = m[1];
      if (top === "on" && m[2] !== "") {
        wf.on.push(...m[2].replace(/[[\]]/g, "").split(",").map(unquote));
      }
      continue;
    }
    if (top === "on" && indent === 2) wf.on.push(line.replace(/:.*$/, ""));
    if (top !== "jobs") continue;
    if (indent === 2) {
      job = { steps: [] };
      wf.jobs.set(line.replace(/:$/, ""), job);
      continue;
    }
    if (!job) continue;
    if (indent === 4) {
      step = undefined;
      const m = /^runs-on:\s*(.+)$/.exec(line);
      if (m) job.runsOn = unquote(m[1]);
      continue;
    }
    let body = line;
    if (indent === 6 && line.startsWith("- ")) {
      step = { with: {} };
      job.steps.push(step);
      inWith = false;
      body = line.slice(2);
    }
    if (!step) continue;
    const m = /^([\w-]+):\s*(.*)$/.exec(body);
    if (!m) continue;
    const [, key, value] = m;
    if (indent <= 8 && key !== "with") inWith = false;
    if (key === "with") inWith = true;
    else if (inWith && indent >= 10) step.with[key] = unquote(value);
    else if (key === "uses") step.uses = unquote(value);
    else if (key === "run" && /^[|>][+-]?$/.test(value)) {
      // The block's lines are deeper than the key (which sits 2 past a "- ").
      block = { indent: body === line ? indent : indent + 2 };
    } else if (key === "run") step.run = value;
  }
  return wf;
}

function workflows(): [string, Workflow][] {
  const out: [string, Workflow][] = [];
  for (const e of Deno.readDirSync(WORKFLOWS)) {
    if (e.isFile && /\.ya?ml$/.test(e.name)) {
      out.push([e.name, parseWorkflow(Deno.readTextFileSync(new URL(e.name, WORKFLOWS)))]);
    }
  }
  return out.sort(([a], [b]) => a.localeCompare(b));
}

Deno.test("workflows: the reader understands the subset it checks", () => {
  const wf = parseWorkflow(
    [
      "# comment",
      "on:",
      "  push:",
      "  pull_request:",
      "jobs:",
      "  a:",
      "    runs-on: ubuntu-latest",
      "    steps:",
      "      - uses: actions/checkout@v4",
      "      - uses: denoland/setup-deno@v2",
      "        with:",
      "          deno-version: v1.2.3",
      "      - name: multi",
      "        run: |",
      "          echo one",
      "          sudo bash .ci/run",
      "      - run: deno task check",
    ].join("\n"),
  );
  assert.deepEqual(wf.on, ["push", "pull_request"]);
  const a = wf.jobs.get("a")!;
  assert.equal(a.runsOn, "ubuntu-latest");
  assert.deepEqual(a.steps.map((s) => s.uses ?? s.run), [
    "actions/checkout@v4",
    "denoland/setup-deno@v2",
    "echo one\nsudo bash .ci/run\n",
    "deno task check",
  ]);
  assert.deepEqual(a.steps[1].with, { "deno-version": "v1.2.3" });
  assert.deepEqual(parseWorkflow('on: ["push", pull_request]\n').on, ["push", "pull_request"]);
  assert.throws(() => parseWorkflow("jobs:\n\ta:\n"), /tab/);
});

Deno.test("workflows: every setup-deno step pins the Deno version of .ci/run", () => {
  const version = ciDenoVersion();
  let pinned = 0;
  for (const [name, wf] of workflows()) {
    for (const [jobName, job] of wf.jobs) {
      for (const step of job.steps) {
        if (!step.uses?.startsWith("denoland/setup-deno@")) continue;
        assert.equal(
          step.with["deno-version"]?.replace(/^v/, ""),
          version,
          `${name} job ${jobName}: deno-version must be v${version}, as in .ci/run`,
        );
        pinned++;
      }
    }
  }
  assert.ok(pinned >= 2, "the release build and the macOS job install Deno");
});

Deno.test("workflows: each workflow runs the tests through .ci/run on Linux", () => {
  for (const [name, wf] of workflows()) {
    const runners = [...wf.jobs.values()].filter((j) =>
      j.steps.some((s) => /(^|\s)bash \.ci\/run(\s|$)/.test(s.run ?? ""))
    );
    assert.ok(runners.length > 0, `${name} has a job running .ci/run`);
    for (const j of runners) assert.match(j.runsOn ?? "", /^ubuntu-/, `${name}: .ci/run on Linux`);
  }
});

Deno.test("workflows: ci runs on push and pull request, macOS included", () => {
  const ci = workflows().find(([name]) => name === "ci.yml")?.[1];
  assert.ok(ci, ".github/workflows/ci.yml exists");
  assert.ok(ci.on.includes("push") && ci.on.includes("pull_request"), `on: ${ci.on}`);
  const mac = [...ci.jobs.values()].find((j) => j.runsOn?.startsWith("macos-"));
  assert.ok(mac, "a macOS job");
  assert.ok(mac.steps.some((s) => /deno test /.test(s.run ?? "")), "macOS runs the unit tests");
  assert.ok(mac.steps.some((s) => /sudo .*bash \.ci\/smoke/.test(s.run ?? "")), "utun smoke");
});

Deno.test("workflows: the release smoke-tests the binaries it compiled", () => {
  const release = workflows().find(([name]) => name === "release.yml")?.[1];
  assert.ok(release, ".github/workflows/release.yml exists");
  const runs = [...release.jobs.values()].flatMap((j) => j.steps.map((s) => s.run ?? ""));
  const compile = runs.findIndex((r) => r.includes("deno task compile"));
  const smoke = runs.findIndex((r) => r.includes("scripts/smoke_binaries.ts dist"));
  assert.ok(compile >= 0 && smoke > compile, "smoke test after compile");
});

Deno.test("workflows: the scripts they run exist", () => {
  for (const [name, wf] of workflows()) {
    for (const job of wf.jobs.values()) {
      for (const step of job.steps) {
        for (const m of (step.run ?? "").matchAll(/(?:^|\s)((?:\.ci|scripts)\/[\w./-]+)/g)) {
          const path = m[1];
          assert.ok(Deno.statSync(new URL(path, ROOT)).isFile, `${name}: ${path} is a file`);
        }
      }
    }
  }
});
