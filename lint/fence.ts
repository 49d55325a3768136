/**
 * A `deno lint` plugin that fences the rooms of ARCHITECTURE.md:
 * - `tcptun/tcp-pure`: nothing under `src/tcp/` or `src/ip/` reads a clock, sets a timer,
 *   draws randomness or touches `Deno` (the state machines are data in, actions out).
 * - `tcptun/ffi-only`: pointer and dynamic-library APIs appear only under `ffi/`.
 * @module
 */

const IMPURE: Record<string, string[]> = {
  Date: ["now"],
  performance: ["now"],
  Math: ["random"],
  crypto: ["getRandomValues", "randomUUID"],
};
/** Folders whose modules are pure: time and randomness come in as arguments. */
const PURE_FOLDERS = ["src/tcp", "src/ip"];
const IMPURE_CALLS = new Set(["setTimeout", "setInterval", "queueMicrotask"]);
const POINTER_APIS = new Set([
  "dlopen",
  "UnsafePointer",
  "UnsafePointerView",
  "UnsafeCallback",
  "UnsafeFnPointer",
]);

function inFolder(filename: string, folder: string): boolean {
  return filename.replaceAll("\\", "/").includes(`/${folder}/`);
}

function name(node: Deno.lint.Node): string | undefined {
  return node.type === "Identifier" ? node.name : undefined;
}

const plugin: Deno.lint.Plugin = {
  name: "tcptun",
  rules: {
    "tcp-pure": {
      create(context) {
        const room = PURE_FOLDERS.find((f) => inFolder(context.filename, f));
        if (!room || context.filename.endsWith("_test.ts")) return {};
        return {
          MemberExpression(node) {
            const obj = name(node.object);
            const prop = name(node.property);
            if (obj === "Deno") {
              context.report({ node, message: `${room}/ does no I/O: no Deno APIs here` });
            } else if (obj && prop && IMPURE[obj]?.includes(prop)) {
              context.report({
                node,
                message: `${room}/ takes time and randomness as inputs: no ${obj}.${prop}`,
              });
            }
          },
          CallExpression(node) {
            const callee = name(node.callee);
            if (callee && IMPURE_CALLS.has(callee)) {
              context.report({ node, message: `${room}/ reports deadlines: no ${callee}` });
            }
          },
        };
      },
    },
    "ffi-only": {
      create(context) {
        if (inFolder(context.filename, "ffi")) return {};
        return {
          MemberExpression(node) {
            const prop = name(node.property);
            if (name(node.object) === "Deno" && prop && POINTER_APIS.has(prop)) {
              context.report({ node, message: `Deno.${prop} belongs in ffi/ only` });
            }
          },
        };
      },
    },
  },
};

export default plugin;
