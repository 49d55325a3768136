/**
 * Test helper: a strict, minimal parser for the report's HTML (Deno has no DOMParser). It
 * accepts the subset the report writes — a doctype, elements with quoted attributes, void
 * elements, self-closed SVG elements, entities, raw `<style>` text — and throws at the first
 * thing that is not well formed: an unclosed or mismatched tag, a stray `<` or `&`, an
 * unquoted or repeated attribute. It returns the element tree for the tests to query.
 * @module
 */

/** An element of the parsed tree. */
export interface El {
  /** Tag name, lower case. */
  tag: string;
  /** Attributes, values unescaped. */
  attrs: Record<string, string>;
  /** Child elements. */
  children: El[];
  /** The element's own text (entities decoded), not its descendants'. */
  text: string;
  /** Parent, undefined for the root. */
  parent?: El;
}

const VOID = new Set([
  "area",
  "base",
  "br",
  "col",
  "embed",
  "hr",
  "img",
  "input",
  "link",
  "meta",
  "source",
  "track",
  "wbr",
]);
const RAW_TEXT = new Set(["style", "script"]);
const NAMED = new Map([["amp", "&"], ["lt", "<"], ["gt", ">"], ["quot", '"'], ["#39", "'"]]);

/** Where a problem is: line and column of `offset`. */
function where(src: string, offset: number): string {
  const before = src.slice(0, offset);
  const line = before.split("\n").length;
  const col = offset - before.lastIndexOf("\n");
  return `${line}:${col} near ${JSON.stringify(src.slice(offset, offset + 40))}`;
}

function decode(src: string, text: string, at: number): string {
  return text.replace(/&([^;\s<]*);?/g, (m, name: string) => {
    if (!m.endsWith(";")) throw new Error(`stray '&' at ${where(src, at)}`);
    if (NAMED.has(name)) return NAMED.get(name)!;
    if (/^#[0-9]+$/.test(name)) return String.fromCodePoint(Number(name.slice(1)));
    if (/^#x[0-9a-f]+$/i.test(name)) return String.fromCodePoint(parseInt(name.slice(2), 16));
    throw new Error(`unknown entity '&${name};' at ${where(src, at)}`);
  });
}

/**
 * Parses `src` into a tree under a synthetic root (`tag` "#root"); throws a descriptive
 * Error on the first well-formedness problem.
 */
export function parseHtml(src: string): El {
  const root: El = { tag: "#root", attrs: {}, children: [], text: "" };
  let cur = root;
  let i = 0;
  const doctype = /^<!DOCTYPE html>\s*/i.exec(src);
  if (doctype !== null) i = doctype[0].length;
  while (i < src.length) {
    const lt = src.indexOf("<", i);
    const textEnd = lt < 0 ? src.length : lt;
    if (textEnd > i) {
      const raw = src.slice(i, textEnd);
      if (raw.includes(">")) throw new Error(`stray '>' in text at ${where(src, i)}`);
      cur.text += decode(src, raw, i);
    }
    if (lt < 0) break;
    i = lt;
    if (src.startsWith("<!--", i)) {
      const end = src.indexOf("-->", i + 4);
      if (end < 0) throw new Error(`unterminated comment at ${where(src, i)}`);
      i = end + 3;
      continue;
    }
    const close = /^<\/([a-zA-Z][a-zA-Z0-9-]*)\s*>/.exec(src.slice(i, i + 200));
    if (close !== null) {
      const tag = close[1].toLowerCase();
      if (tag !== cur.tag) {
        throw new Error(`</${tag}> closes <${cur.tag}> at ${where(src, i)}`);
      }
      cur = cur.parent!;
      i += close[0].length;
      continue;
    }
    const open = /^<([a-zA-Z][a-zA-Z0-9-]*)/.exec(src.slice(i, i + 100));
    if (open === null) throw new Error(`stray '<' at ${where(src, i)}`);
    const el: El = { tag: open[1].toLowerCase(), attrs: {}, children: [], text: "", parent: cur };
    i += open[0].length;
    const attr = /\s+([a-zA-Z_:][a-zA-Z0-9_:.-]*)(?:="([^"<]*)"|='([^'<]*)')?/y;
    for (;;) {
      attr.lastIndex = i;
      const a = attr.exec(src);
      if (a === null) break;
      if (a[1] in el.attrs) throw new Error(`repeated attribute '${a[1]}' at ${where(src, i)}`);
      el.attrs[a[1]] = decode(src, a[2] ?? a[3] ?? "", i);
      i = attr.lastIndex;
    }
    const end = /^\s*(\/?)>/.exec(src.slice(i, i + 20));
    if (end === null) throw new Error(`malformed <${el.tag}> tag at ${where(src, i)}`);
    i += end[0].length;
    cur.children.push(el);
    if (end[1] === "/" || VOID.has(el.tag)) continue;
    if (RAW_TEXT.has(el.tag)) {
      const stop = src.indexOf(`</${el.tag}>`, i);
      if (stop < 0) throw new Error(`unterminated <${el.tag}> at ${where(src, i)}`);
      el.text = src.slice(i, stop);
      if (el.text.includes("</")) throw new Error(`'</' inside <${el.tag}> at ${where(src, i)}`);
      i = stop + el.tag.length + 3;
      continue;
    }
    cur = el;
  }
  if (cur !== root) throw new Error(`<${cur.tag}> is never closed`);
  return root;
}

/** Every element under `root` (depth first) for which `pred` holds. */
export function findAll(root: El, pred: (e: El) => boolean): El[] {
  const out: El[] = [];
  const walk = (e: El) => {
    for (const c of e.children) {
      if (pred(c)) out.push(c);
      walk(c);
    }
  };
  walk(root);
  return out;
}

/** Elements with tag `tag` and, when given, the class `cls`. */
export function byTag(root: El, tag: string, cls?: string): El[] {
  return findAll(
    root,
    (e) => e.tag === tag && (cls === undefined || (e.attrs.class ?? "").split(/\s+/).includes(cls)),
  );
}

/** The number of elements under `root`. */
export function countElements(root: El): number {
  return findAll(root, () => true).length;
}

/** The text of `e` and its descendants. */
export function textOf(e: El): string {
  return e.text + e.children.map(textOf).join("");
}
