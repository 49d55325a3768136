/**
 * The report in a real browser: headless Chromium loads a report made from a real lossy
 * transfer; the page must load with no console error, make no request but for itself, and
 * lay out every section, graph and axis. The screenshot is kept for people to look at:
 * `$TCPTUN_REPORT_SCREENSHOT`, by default /tmp/tcptun_report_test/report.png (the HTML
 * beside it). Skipped when Chromium is missing, unless TCPTUN_REQUIRE_INTEGRATION=1.
 */

import assert from "node:assert/strict";
import { integrationTest } from "../../tests/netns.ts";
import { findChromium, inspectPage } from "./_chromium.ts";
import { writeLossyTrace } from "./_lossy_trace.ts";
import { parseTrace } from "./reader.ts";
import { renderReport } from "./html.ts";

const chromium = findChromium();
const SCREENSHOT = Deno.env.get("TCPTUN_REPORT_SCREENSHOT") ??
  "/tmp/tcptun_report_test/report.png";

/** What the page reports about itself, computed in the browser. */
interface Layout {
  sections: number;
  sectionsWithGraphs: number;
  svgs: { cls: string; width: number; height: number; elements: number; axisTitles: string[] }[];
  hitsWithTitles: number;
  ladderSegments: number;
  bodyWidth: number;
  elements: number;
}

const LAYOUT = `(() => {
  const sections = [...document.querySelectorAll("section.conn")];
  const svgs = [...document.querySelectorAll("svg")].map((s) => {
    const r = s.getBoundingClientRect();
    return {
      cls: s.getAttribute("class"),
      width: r.width,
      height: r.height,
      elements: s.querySelectorAll("*").length,
      axisTitles: [...s.querySelectorAll(".axis-title")].map((t) => {
        const b = t.getBBox();
        return b.width > 0 && b.height > 0 ? t.textContent : "(not laid out) " + t.textContent;
      }),
    };
  });
  return {
    sections: sections.length,
    sectionsWithGraphs: sections.filter((s) =>
      s.querySelector("svg.tsg") && s.querySelector("svg.cc") && s.querySelector("svg.rtt") &&
      s.querySelector("svg.ladder") && s.querySelector("table.summary")
    ).length,
    svgs,
    hitsWithTitles: document.querySelectorAll("svg.tsg rect.hit > title").length,
    ladderSegments: document.querySelectorAll("svg.ladder g.seg").length,
    bodyWidth: document.body.scrollWidth,
    elements: document.querySelectorAll("*").length,
  };
})()`;

integrationTest(
  "report: headless Chromium renders the report of a lossy transfer with no error and no request",
  chromium === undefined
    ? "chromium not found (apt-get install chromium, or set TCPTUN_CHROMIUM)"
    : undefined,
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "tcptun_report_" });
    try {
      const tracePath = `${dir}/lossy.jsonl`;
      await writeLossyTrace(tracePath, { bytes: 600_000, replyBytes: 40_000 });
      const html = renderReport(parseTrace(await Deno.readTextFile(tracePath)), {
        source: "lossy.jsonl",
      });
      const outDir = SCREENSHOT.slice(0, SCREENSHOT.lastIndexOf("/")) || ".";
      await Deno.mkdir(outDir, { recursive: true });
      const htmlPath = SCREENSHOT.replace(/\.png$/, "") + ".html";
      await Deno.writeTextFile(htmlPath, html);
      await Deno.remove(SCREENSHOT).catch(() => {});
      const page = await inspectPage({
        chromium: chromium!,
        url: new URL(`file://${await Deno.realPath(htmlPath)}`).href,
        expression: LAYOUT,
        screenshot: SCREENSHOT,
      });
      assert.deepEqual(page.errors, [], "console errors");
      assert.equal(page.requests.length, 1, `requests: ${page.requests.join(", ")}`);
      assert.match(page.requests[0], /^file:\/\//);
      const layout = page.value as Layout;
      assert.equal(layout.sections, 1);
      assert.equal(layout.sectionsWithGraphs, 1);
      const classes = layout.svgs.map((s) => s.cls);
      for (const cls of ["graph tsg", "graph cc", "graph rtt", "ladder"]) {
        assert.ok(classes.includes(cls), `${cls} in ${classes}`);
      }
      for (const svg of layout.svgs) {
        assert.ok(svg.width > 500 && svg.height > 100, `${svg.cls}: ${svg.width}×${svg.height}`);
        assert.ok(svg.elements < 5000, `${svg.cls}: ${svg.elements} elements`);
        if (svg.cls === "ladder") continue;
        assert.equal(svg.axisTitles.length, 2, `${svg.cls}: ${svg.axisTitles}`);
        assert.match(svg.axisTitles[0], /^time \((ms|s)\)$/);
        assert.match(
          svg.axisTitles[1],
          /^(relative sequence number|bytes|RTT, log scale) \(\w+\)$/,
        );
      }
      assert.ok(layout.hitsWithTitles > 10, `${layout.hitsWithTitles} segment tooltips`);
      assert.equal(layout.ladderSegments, 24);
      // Nothing wider than the window.
      assert.ok(layout.bodyWidth <= 1400, `body ${layout.bodyWidth} px wide`);
      assert.ok(page.size.height > 2000, `page ${page.size.height} px high`);
      const png = await Deno.readFile(SCREENSHOT);
      assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
      assert.ok(png.length > 50_000, `screenshot ${png.length} bytes`);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);
