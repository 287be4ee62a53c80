/**
 * Turns a layeringPipeline, as nixpkgs users write it (JSON: a list of steps `[op, ...args]`; spec
 * §3.4), into a function, checking everything that can be checked before it runs: the ops, their
 * number of arguments and the kinds of those arguments, recursively through `over`, `map` and
 * `pipe`. Errors name the step by its position, e.g. `pipeline step 2 (over "rest") > step 1
 * (limit_layers): ...`.
 *
 * Arguments are stricter than nixpkgs' in a few places where Python would silently do something
 * useless: a path list given as one string (Python iterates its characters), a non-integer layer
 * count, an argument given to `flatten` (Python calls it at once and fails later).
 */

import * as ops from "./ops.js";
import { describeJson, pipelineError, type PipelineValue, type Step } from "./values.js";

/** Names a step: given the step's label (its op, for `over` with the key), or none before it is known. */
type Where = (label?: string) => string;

interface OpSpec {
  /** What the arguments are, for arity errors. */
  readonly takes: string;
  readonly arity: number;
  compile(args: readonly unknown[], where: string): Step;
}

/** subcomponent_in / subcomponent_out: one argument, a list of store paths. */
function subcomponentOp(direction: "in" | "out"): OpSpec {
  return {
    takes: "1 argument, a list of store paths",
    arity: 1,
    compile: ([paths], where) => {
      const parsed = pathList(paths, where, `subcomponent_${direction}`);
      return (value, trail) => ops.subcomponent(direction, parsed, { where, trail }, value);
    },
  };
}

/** An op of one argument, a count (an integer >= 1) of `what`. */
function countOp(op: string, what: string, run: (n: number, at: ops.At, value: PipelineValue) => PipelineValue): OpSpec {
  return {
    takes: `1 argument, the number of ${what}`,
    arity: 1,
    compile: ([count], where) => {
      const n = positiveInteger(count, where, op, what);
      return (value, trail) => run(n, { where, trail }, value);
    },
  };
}

const OPS: Readonly<Record<string, OpSpec>> = {
  popularity_contest: {
    takes: "no arguments",
    arity: 0,
    compile: (_, where) => (value, trail) => ops.popularityContest({ where, trail }, value),
  },
  split_paths: {
    takes: "1 argument, a list of store paths and {\"children_of\": path or paths}",
    arity: 1,
    compile: ([specs], where) => {
      const parsed = splitSpecs(specs, where);
      return (value, trail) => ops.splitPaths(parsed, { where, trail }, value);
    },
  },
  subcomponent_in: subcomponentOp("in"),
  subcomponent_out: subcomponentOp("out"),
  over: {
    takes: "2 arguments, a key and a step",
    arity: 2,
    compile: ([key, step], where) => {
      if (typeof key !== "string") throw pipelineError(where, `over expects a key ("main", "common" or "rest") first, found ${describeJson(key)}`);
      const inner = compileStep(step, (label) => (label === undefined ? `${where}, its step argument` : `${where} > ${label}`));
      return (value, trail) => ops.over(key, inner, { where, trail }, value);
    },
  },
  map: {
    takes: "1 argument, a step",
    arity: 1,
    compile: ([step], where) => {
      const inner = compileStep(step, (label) => (label === undefined ? `${where}, its step argument` : `${where} > ${label}`));
      return (value, trail) => ops.map(inner, { where, trail }, value);
    },
  },
  pipe: {
    takes: "1 argument, a list of steps",
    arity: 1,
    compile: ([steps], where) => compileSteps(steps, (n, label) => `${where} > step ${n}${label === undefined ? "" : ` (${label})`}`, where),
  },
  flatten: {
    takes: "no arguments",
    arity: 0,
    compile: (_, where) => (value, trail) => ops.flatten({ where, trail }, value),
  },
  split_every: countOp("split_every", "paths per graph", ops.splitEvery),
  limit_layers: countOp("limit_layers", "layers", ops.limitLayers),
  remove_paths: {
    takes: "1 argument, a store path or a list of them",
    arity: 1,
    compile: ([paths], where) => {
      const parsed = typeof paths === "string" ? [paths] : pathList(paths, where, "remove_paths");
      return (value, trail) => ops.removePaths(parsed, { where, trail }, value);
    },
  },
  reverse: {
    takes: "no arguments",
    arity: 0,
    compile: (_, where) => (value, trail) => ops.reverse({ where, trail }, value),
  },
};

export const PIPELINE_OPS: readonly string[] = Object.keys(OPS);

/** The whole pipeline: a list of steps applied left to right to the graph. */
export function compilePipeline(json: unknown): Step {
  if (!Array.isArray(json)) {
    throw pipelineError("", `expected a list of steps [["op", ...arguments], ...], found ${describeJson(json)}`);
  }
  return compileSteps(json, (n, label) => `step ${n}${label === undefined ? "" : ` (${label})`}`, "");
}

function compileSteps(json: unknown, stepWhere: (n: number, label?: string) => string, where: string): Step {
  if (!Array.isArray(json)) throw pipelineError(where, `pipe expects a list of steps, found ${describeJson(json)}`);
  const steps = json.map((step, i) => compileStep(step, (label) => stepWhere(i + 1, label)));
  return (value, trail) => steps.reduce((acc, step) => step(acc, trail), value);
}

function compileStep(json: unknown, where: Where): Step {
  if (!Array.isArray(json) || json.length === 0 || typeof json[0] !== "string") {
    throw pipelineError(where(), `expected a step ["op", ...arguments], found ${describeJson(json)}`, `write each step as a list whose first item is the op, e.g. ["popularity_contest"]`);
  }
  const [op, ...args] = json as [string, ...unknown[]];
  const spec = Object.hasOwn(OPS, op) ? OPS[op] : undefined;
  if (spec === undefined) {
    throw pipelineError(where(), `unknown op ${JSON.stringify(op)}`, `the ops are ${PIPELINE_OPS.join(", ")}`);
  }
  const label = op === "over" && typeof args[0] === "string" ? `over ${JSON.stringify(args[0])}` : op;
  if (args.length !== spec.arity) {
    throw pipelineError(where(label), `${op} takes ${spec.takes}, found ${args.length}`);
  }
  return spec.compile(args, where(label));
}

function pathList(json: unknown, where: string, op: string): string[] {
  if (Array.isArray(json) && json.every((x) => typeof x === "string")) return json as string[];
  const hint = typeof json === "string" ? `write [${JSON.stringify(json)}]` : `e.g. ["${op}", ["/nix/store/...-hello-2.12"]]`;
  throw pipelineError(where, `${op} expects a list of store paths, found ${describeJson(Array.isArray(json) ? json.find((x) => typeof x !== "string") : json)}${Array.isArray(json) ? " in it" : ""}`, hint);
}

function splitSpecs(json: unknown, where: string): ops.SplitSpec[] {
  if (!Array.isArray(json)) {
    throw pipelineError(where, `split_paths expects a list of store paths and {"children_of": ...} objects, found ${describeJson(json)}`, typeof json === "string" ? `write [${JSON.stringify(json)}]` : undefined);
  }
  return json.map((spec): ops.SplitSpec => {
    if (typeof spec === "string") return spec;
    if (typeof spec === "object" && spec !== null && !Array.isArray(spec)) {
      const keys = Object.keys(spec);
      const childrenOf = (spec as Record<string, unknown>)["children_of"];
      if (keys.length === 1 && keys[0] === "children_of") {
        if (typeof childrenOf === "string") return { childrenOf: [childrenOf] };
        if (Array.isArray(childrenOf) && childrenOf.every((x) => typeof x === "string")) return { childrenOf: childrenOf as string[] };
        throw pipelineError(where, `split_paths: "children_of" expects a store path or a list of them, found ${describeJson(childrenOf)}`);
      }
      throw pipelineError(where, `split_paths: an object must be {"children_of": ...}, found keys ${keys.map((k) => JSON.stringify(k)).join(", ") || "none"}`);
    }
    throw pipelineError(where, `split_paths expects store paths and {"children_of": ...} objects, found ${describeJson(spec)} in its list`);
  });
}

function positiveInteger(json: unknown, where: string, op: string, what: string): number {
  if (typeof json === "number" && Number.isSafeInteger(json) && json >= 1) return json;
  throw pipelineError(where, `${op} expects the number of ${what}, an integer >= 1, found ${describeJson(json)}`);
}
