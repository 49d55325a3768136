/**
 * Small SVG building blocks for the report: escaping, units and "nice" ticks, a plot frame
 * with its axes, and the decimation that keeps a graph's element count bounded whatever the
 * number of points (values bucketed per pixel column, drawn as one path).
 * @module
 */

/** Escapes text for HTML and SVG content and attribute values. */
export function esc(text: string): string {
  return text.replace(
    /[&<>"']/g,
    (c) =>
      c === "&"
        ? "&amp;"
        : c === "<"
        ? "&lt;"
        : c === ">"
        ? "&gt;"
        : c === '"'
        ? "&quot;"
        : "&#39;",
  );
}

/** A unit: its name and how many base units (ms, bytes) make one. */
export interface Unit {
  /** Shown on the axis: "ms", "s", "bytes", "KiB", "MiB", "GiB". */
  name: string;
  /** Base units per unit. */
  div: number;
}

/** ms below 2 s, s above. */
export function timeUnit(maxMs: number): Unit {
  return maxMs >= 2000 ? { name: "s", div: 1000 } : { name: "ms", div: 1 };
}

/** bytes, KiB, MiB or GiB, so that the largest value is at least 2 of the unit. */
export function byteUnit(maxBytes: number): Unit {
  if (maxBytes >= 2 * 1024 ** 3) return { name: "GiB", div: 1024 ** 3 };
  if (maxBytes >= 2 * 1024 ** 2) return { name: "MiB", div: 1024 ** 2 };
  if (maxBytes >= 2 * 1024) return { name: "KiB", div: 1024 };
  return { name: "bytes", div: 1 };
}

/** A 1, 2 or 5 × 10^k step giving about `target` intervals over `span`. */
export function niceStep(span: number, target: number): number {
  if (!(span > 0)) return 1;
  const raw = span / target;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const f = raw / mag;
  return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * mag;
}

/** Decimal places that show a multiple of `step` exactly (for 1/2/5 × 10^k steps). */
export function decimalsFor(step: number): number {
  return Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
}

/** `1,234,567` */
export function fmtInt(n: number): string {
  return Math.round(n).toLocaleString("en-US");
}

/** A byte count for people: `812 B`, `14.1 KiB`, `20.0 MiB`. */
export function fmtBytes(n: number): string {
  if (!Number.isFinite(n)) return "-";
  if (Math.abs(n) < 1024) return `${Math.round(n)} B`;
  const units = ["KiB", "MiB", "GiB"];
  let v = Math.abs(n) / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${n < 0 ? "-" : ""}${v.toFixed(1)} ${units[i]}`;
}

/** A duration for people: `850 µs`, `12.51 ms`, `3.20 s`. */
export function fmtMs(ms: number): string {
  if (!Number.isFinite(ms)) return "-";
  if (ms < 1) return `${Math.round(ms * 1000)} µs`;
  if (ms < 1000) return `${+ms.toFixed(ms < 100 ? 2 : 1)} ms`;
  return `${(ms / 1000).toFixed(2)} s`;
}

/** A time on a graph's scale: `12.345 ms` to the µs. */
export function fmtT(ms: number): string {
  return `${(Math.round(ms * 1000) / 1000).toFixed(3)} ms`;
}

/** A rate in bits per second: `8.0 kbit/s`, `95.3 Mbit/s`. */
export function fmtRate(bytes: number, ms: number): string {
  if (!(ms > 0) || !(bytes > 0)) return "-";
  const bps = bytes * 8 * 1000 / ms;
  const units = ["bit/s", "kbit/s", "Mbit/s", "Gbit/s"];
  let v = bps;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${v.toFixed(1)} ${units[i]}`;
}

/** Rounds a coordinate to 0.1 px for compact paths. */
export function px(v: number): string {
  return String(Math.round(v * 10) / 10);
}

/** A plot area inside an SVG and its linear scales. */
export class Frame {
  /** Left edge of the plot area, px. */
  readonly left: number;
  /** Top edge, px. */
  readonly top: number;
  /** Width of the plot area, px. */
  readonly width: number;
  /** Height, px. */
  readonly height: number;
  /** Value at the left edge. */
  readonly xMin: number;
  /** Value at the right edge. */
  readonly xMax: number;
  /** Value at the bottom edge. */
  readonly yMin: number;
  /** Value at the top edge. */
  readonly yMax: number;

  /**
   * @param box left, top, width and height of the plot area, px
   * @param x value range along x
   * @param y value range along y
   */
  constructor(
    box: [number, number, number, number],
    x: [number, number],
    y: [number, number],
  ) {
    [this.left, this.top, this.width, this.height] = box;
    this.xMin = x[0];
    this.xMax = x[1] > x[0] ? x[1] : x[0] + 1;
    this.yMin = y[0];
    this.yMax = y[1] > y[0] ? y[1] : y[0] + 1;
  }

  /** x coordinate of value `v`. */
  sx(v: number): number {
    return this.left + (v - this.xMin) / (this.xMax - this.xMin) * this.width;
  }

  /** y coordinate of value `v` (larger values higher). */
  sy(v: number): number {
    return this.top + this.height - (v - this.yMin) / (this.yMax - this.yMin) * this.height;
  }

  /** Values per pixel along y. */
  get yPerPx(): number {
    return (this.yMax - this.yMin) / this.height;
  }

  /** The pixel column (0-based, `binPx` wide) of x value `v`, clamped to the plot. */
  col(v: number, binPx = 1): number {
    const c = Math.floor((v - this.xMin) / (this.xMax - this.xMin) * this.width / binPx);
    return Math.max(0, Math.min(Math.ceil(this.width / binPx) - 1, c));
  }

  /** The x coordinate of the middle of column `c`. */
  colX(c: number, binPx = 1): number {
    return Math.min(this.left + this.width, this.left + (c + 0.5) * binPx);
  }
}

/** Options of `axes`. */
export interface AxisOptions {
  /** Unit of x values (values are divided by `div` for the labels). */
  xUnit: Unit;
  /** Unit of y values. */
  yUnit: Unit;
  /** Axis title along x, "time" (the unit is appended). */
  xTitle: string;
  /** Axis title along y. */
  yTitle: string;
  /**
   * A logarithmic y axis: the frame's y values are log10 of the real ones; ticks at 1, 2 and
   * 5 × 10^k (only 10^k over more than three decades), labelled with the real values.
   */
  yLog?: boolean;
}

/**
 * The frame, grid, ticks with labels and axis titles of a plot, as one `<g class="axes">`.
 * Titles carry the unit: "time (ms)", "relative sequence number (MiB)".
 */
export function axes(f: Frame, o: AxisOptions): string {
  const xs = niceStep((f.xMax - f.xMin) / o.xUnit.div, 10);
  const ys = niceStep((f.yMax - f.yMin) / o.yUnit.div, 6);
  const xd = decimalsFor(xs);
  const yd = decimalsFor(ys);
  let grid = "";
  let ticks = "";
  const xLabels: string[] = [];
  const yLabels: string[] = [];
  const bottom = f.top + f.height;
  for (let i = Math.ceil(f.xMin / o.xUnit.div / xs); i * xs <= f.xMax / o.xUnit.div + 1e-9; i++) {
    const v = i * xs;
    const x = px(f.sx(v * o.xUnit.div));
    grid += `M${x} ${f.top}V${bottom}`;
    ticks += `M${x} ${bottom}v5`;
    xLabels.push(`<text x="${x}" y="${bottom + 18}">${v.toFixed(xd)}</text>`);
  }
  const yTick = (at: number, label: string) => {
    const y = px(f.sy(at));
    grid += `M${f.left} ${y}H${f.left + f.width}`;
    ticks += `M${f.left} ${y}h-5`;
    yLabels.push(`<text x="${f.left - 8}" y="${y}">${label}</text>`);
  };
  if (o.yLog) {
    const mantissas = f.yMax - f.yMin > 3 ? [1] : [1, 2, 5];
    for (let k = Math.floor(f.yMin); k <= Math.ceil(f.yMax); k++) {
      for (const m of mantissas) {
        const at = Math.log10(m) + k;
        if (at < f.yMin - 1e-9 || at > f.yMax + 1e-9) continue;
        const v = m * 10 ** k / o.yUnit.div;
        yTick(at, String(+v.toPrecision(3)));
      }
    }
  } else {
    for (let i = Math.ceil(f.yMin / o.yUnit.div / ys); i * ys <= f.yMax / o.yUnit.div + 1e-9; i++) {
      const v = i * ys;
      yTick(v * o.yUnit.div, v.toFixed(yd));
    }
  }
  const midY = f.top + f.height / 2;
  return `<g class="axes"><path class="grid" d="${grid}"/>` +
    `<rect class="plot-frame" x="${f.left}" y="${f.top}" width="${f.width}" height="${f.height}"/>` +
    `<path class="tick" d="${ticks}"/>` +
    `<g class="tick-labels x">${xLabels.join("")}</g>` +
    `<g class="tick-labels y">${yLabels.join("")}</g>` +
    `<text class="axis-title x" x="${f.left + f.width / 2}" y="${bottom + 38}">${
      esc(o.xTitle)
    } (${o.xUnit.name})</text>` +
    `<text class="axis-title y" transform="translate(${f.left - 58} ${midY}) rotate(-90)">${
      esc(o.yTitle)
    } (${o.yUnit.name})</text></g>`;
}

/** A vertical range gathered in one pixel column: the items it merges. */
export interface ColumnRange {
  /** Column index (`binPx` wide). */
  col: number;
  /** Lowest value. */
  lo: number;
  /** Highest value. */
  hi: number;
  /** Items merged into it. */
  n: number;
  /** Indices of the first few items (at most `keep`), for tooltips. */
  items: number[];
  /** Time of its first item. */
  t0: number;
  /** Time of its last item. */
  t1: number;
  /** Index of its last item (in time order). */
  last: number;
  /** Items for which `RangeSource.mark` holds. */
  marked: number;
}

/** What `columnRanges` needs to know about the items. */
export interface RangeSource {
  /** Number of items. */
  count: number;
  /** Time (x value) of item i; items come in non-decreasing time. */
  t(i: number): number;
  /** Low end of item i. */
  lo(i: number): number;
  /** High end of item i. */
  hi(i: number): number;
  /** Whether item i takes part (default: every item). */
  use?(i: number): boolean;
  /** Whether item i is counted in `ColumnRange.marked`. */
  mark?(i: number): boolean;
}

/**
 * Decimation: gathers items (vertical ranges at a time) into pixel columns `binPx` wide and,
 * in each column, merges the ranges that overlap or lie within `gap` (a value, normally
 * one pixel's worth) of each other; items outside the plot's x range are left out. 30,000
 * segments over 1,000 columns become a few ranges per column; the count of ranges never
 * exceeds columns × (distinct pixel rows).
 */
export function columnRanges(
  f: Frame,
  src: RangeSource,
  binPx: number,
  gap: number,
  keep = 3,
): ColumnRange[] {
  const out: ColumnRange[] = [];
  let col = -1;
  let pending: number[] = [];
  const flush = () => {
    if (pending.length === 0) return;
    pending.sort((a, b) => src.lo(a) - src.lo(b) || a - b);
    let cur: ColumnRange | undefined;
    for (const i of pending) {
      const lo = src.lo(i);
      const hi = src.hi(i);
      const t = src.t(i);
      const marked = src.mark !== undefined && src.mark(i) ? 1 : 0;
      if (cur !== undefined && lo <= cur.hi + gap) {
        if (hi > cur.hi) cur.hi = hi;
        cur.n++;
        cur.marked += marked;
        if (cur.items.length < keep) cur.items.push(i);
        if (t < cur.t0) cur.t0 = t;
        if (t >= cur.t1) {
          cur.t1 = t;
          if (i > cur.last) cur.last = i;
        }
      } else {
        if (cur !== undefined) out.push(cur);
        cur = { col, lo, hi, n: 1, items: [i], t0: t, t1: t, last: i, marked };
      }
    }
    if (cur !== undefined) out.push(cur);
    pending = [];
  };
  for (let i = 0; i < src.count; i++) {
    if (src.use !== undefined && !src.use(i)) continue;
    const t = src.t(i);
    if (t < f.xMin || t > f.xMax) continue;
    const c = f.col(t, binPx);
    if (c !== col) {
      flush();
      col = c;
    }
    pending.push(i);
  }
  flush();
  for (const r of out) r.items.sort((a, b) => a - b);
  return out;
}

/**
 * The narrowest bin (1, 2, 4 ... px) at which `columnRanges` yields at most `budget` ranges,
 * and those ranges.
 */
export function rangesWithin(
  f: Frame,
  src: RangeSource,
  budget: number,
  gapPx = 1,
  keep = 3,
): { binPx: number; ranges: ColumnRange[] } {
  for (let binPx = 1;; binPx *= 2) {
    const ranges = columnRanges(f, src, binPx, gapPx * binPx * f.yPerPx, keep);
    if (ranges.length <= budget || binPx >= f.width) return { binPx, ranges };
  }
}

/** A series of values over time for `stepPath`. */
export interface StepSeries {
  /** Number of points. */
  count: number;
  /** Time of point i (non-decreasing). */
  t(i: number): number;
  /** Value from point i on; NaN or an infinite value breaks the line. */
  v(i: number): number;
}

/**
 * A step line through a series, decimated per pixel column: at most four vertices per
 * column (the first, lowest, highest and last value in it), so the path stays small
 * whatever the number of points. Ends at `tEnd` with the last value.
 */
export function stepPath(f: Frame, s: StepSeries, tEnd: number): string {
  let d = "";
  let col = -1;
  let first = NaN, lo = NaN, hi = NaN, last = NaN;
  let drawing = false;
  const emit = () => {
    if (col < 0) return;
    const x = px(Math.max(f.left, f.colX(col) - 0.5));
    if (!Number.isFinite(last) && !Number.isFinite(lo)) {
      drawing = false;
      return;
    }
    const fy = Number.isFinite(first) ? first : lo;
    if (!drawing) d += `M${x} ${px(f.sy(fy))}`;
    else d += `H${x}V${px(f.sy(fy))}`;
    if (lo < hi) d += `V${px(f.sy(lo))}V${px(f.sy(hi))}`;
    if (Number.isFinite(last)) {
      if (last !== fy || lo < hi) d += `V${px(f.sy(last))}`;
      drawing = true;
    } else {
      drawing = false;
    }
  };
  const add = (c: number, raw: number) => {
    const v = Number.isFinite(raw) ? raw : NaN;
    if (c !== col) {
      emit();
      col = c;
      first = v;
      lo = hi = v;
    } else {
      if (v < lo || Number.isNaN(lo)) lo = v;
      if (v > hi || Number.isNaN(hi)) hi = v;
    }
    last = v;
  };
  // Points left of the plot only set the value the line starts with.
  let before: number | undefined;
  for (let i = 0; i < s.count; i++) {
    const t = s.t(i);
    if (t < f.xMin) {
      before = s.v(i);
      continue;
    }
    if (t > f.xMax) break;
    if (before !== undefined) {
      add(0, before);
      before = undefined;
    }
    add(f.col(t), s.v(i));
  }
  if (before !== undefined) add(0, before);
  emit();
  if (drawing) d += `H${px(f.sx(Math.min(Math.max(tEnd, f.xMin), f.xMax)))}`;
  return d;
}
