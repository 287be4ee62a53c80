/**
 * The layeringPipeline ops (spec §3.4; nixpkgs' `pipe.py` function table), over validated
 * arguments. Each takes the data last, as the curried Python functions do, and checks the kind of
 * value it gets: a pipeline that feeds a list where a graph belongs fails naming the step, where
 * nixpkgs would fail with a Python traceback (or, for a dict fed to `map`, silently iterate keys).
 */

import { popularityOrderOfDag } from "../popularity.js";
import { LayerGraph } from "./layer-graph.js";
import { describeValue, isDict, isGraph, isList, pipelineError, type PipelineValue, type Step } from "./values.js";

/** Where a step is (for messages) and which map item it is working on. */
export interface At {
  readonly where: string;
  readonly trail: string;
}

function expectGraph(op: string, at: At, value: PipelineValue): LayerGraph {
  if (isGraph(value)) return value;
  throw pipelineError(
    at.where + at.trail,
    `${op} expects a graph, found ${describeValue(value)}`,
    isList(value) ? `apply it to each graph with ["map", [${JSON.stringify(op)}, ...]]` : `pick one part of the dict with ["over", "main", [${JSON.stringify(op)}, ...]]`,
  );
}

function expectList(op: string, at: At, value: PipelineValue): readonly PipelineValue[] {
  if (isList(value)) return value;
  throw pipelineError(
    at.where + at.trail,
    `${op} expects a list, found ${describeValue(value)}`,
    isDict(value) ? `turn the dict into a list of graphs with ["flatten"] first` : `make a list of graphs first, e.g. with ["popularity_contest"] or ["split_every", N]`,
  );
}

/** One single-path graph per path, most popular first (closure-graph.py's order, spec §3.3). */
export function popularityContest(at: At, value: PipelineValue): LayerGraph[] {
  const g = expectGraph("popularity_contest", at, value);
  // Duplicate edges would count paths twice (closure-graph.py's dicts merge them): drop them.
  const stamp = new Int32Array(g.size).fill(-1);
  const children = Array.from({ length: g.size }, (_, i) => {
    const out: number[] = [];
    for (const t of g.successors(i)) {
      if (stamp[t] === i || t === i) continue;
      stamp[t] = i;
      out.push(t);
    }
    return out;
  });
  // The subgraph is a DAG, so every path is reached from a root: no "missing" tail.
  return popularityOrderOfDag(g.names(), children).map((path) => LayerGraph.single(g.base, g.base.idOf.get(path) as number));
}

/** A split_paths target: a path, or the direct dependencies of some paths. */
export type SplitSpec = string | { readonly childrenOf: readonly string[] };

/**
 * split_paths.py: the targets and their dependencies (`main`), the part of those the rest of the
 * graph also reaches (`common`), and the rest (`rest`); only the non-empty parts, in that order.
 * Edges into the targets are deleted in all three parts, as nixpkgs deletes them before it takes
 * the induced subgraphs.
 */
export function splitPaths(specs: readonly SplitSpec[], at: At, value: PipelineValue): ReadonlyMap<string, PipelineValue> {
  const g = expectGraph("split_paths", at, value);
  const targets: number[] = [];
  for (const spec of specs) {
    if (typeof spec === "string") targets.push(...g.find([spec]));
    else for (const parent of g.find(spec.childrenOf)) for (const child of g.successors(parent)) targets.push(child);
  }
  if (targets.length === 0) return new Map([["rest", g]]);
  const isTarget = new Uint8Array(g.size);
  for (const t of targets) isTarget[t] = 1;
  // nixpkgs adds a root `__root__` above several roots; reaching from it is reaching from the
  // roots, except that its edges into targets are deleted too: so start from the non-target roots.
  const roots = g.roots();
  if (roots.length === 1 && isTarget[roots[0] as number] === 1) return new Map([["main", g]]);
  const splitOff = g.reach(targets, "out");
  const cut = g.withoutEdgesInto(isTarget);
  const reached = cut.reach(
    roots.filter((r) => isTarget[r] !== 1),
    "out",
  );
  const main = new Uint8Array(g.size);
  const common = new Uint8Array(g.size);
  const rest = new Uint8Array(g.size);
  for (let i = 0; i < g.size; i++) {
    if (splitOff[i] === 1 && reached[i] === 1) common[i] = 1;
    else if (splitOff[i] === 1) main[i] = 1;
    else if (reached[i] === 1) rest[i] = 1;
  }
  const parts = new Map<string, PipelineValue>();
  for (const [key, keep] of [["main", main], ["common", common], ["rest", rest]] as const) {
    const part = cut.induced(keep);
    if (part.size > 0) parts.set(key, part);
  }
  return parts;
}

/**
 * subcomponent.py: `main` = the given paths with everything they reach ("out": their
 * dependencies) or everything that reaches them ("in": their dependents); `rest` = the others.
 * Both keys, always.
 */
export function subcomponent(mode: "in" | "out", paths: readonly string[], at: At, value: PipelineValue): ReadonlyMap<string, PipelineValue> {
  const g = expectGraph(`subcomponent_${mode}`, at, value);
  const main = g.reach(g.find(paths), mode);
  const rest = main.map((x) => 1 - x);
  return new Map<string, PipelineValue>([
    ["main", g.induced(main)],
    ["rest", g.induced(rest)],
  ]);
}

/** `over`: the dict with `step` applied to the value at `key`; key order is kept. */
export function over(key: string, step: Step, at: At, value: PipelineValue): ReadonlyMap<string, PipelineValue> {
  if (!isDict(value)) {
    throw pipelineError(at.where + at.trail, `over expects a dict (from split_paths, subcomponent_in or subcomponent_out), found ${describeValue(value)}`);
  }
  const current = value.get(key);
  if (current === undefined) {
    throw pipelineError(
      at.where + at.trail,
      `the dict has no key ${JSON.stringify(key)} (it has ${[...value.keys()].map((k) => JSON.stringify(k)).join(", ") || "none"})`,
      `split_paths leaves out empty parts ("common" often); nixpkgs fails here too (KeyError)`,
    );
  }
  const out = new Map(value);
  out.set(key, step(current, at.trail));
  return out;
}

/** `map`: `step` applied to every item of a list. */
export function map(step: Step, at: At, value: PipelineValue): PipelineValue[] {
  const items = expectList("map", at, value);
  return items.map((item, i) => step(item, `${at.trail} [item ${i + 1} of ${items.length}]`));
}

/** `flatten`: the graphs of a nested structure, depth first; a dict contributes its values in order. */
export function flatten(at: At, value: PipelineValue): LayerGraph[] {
  if (isGraph(value)) {
    throw pipelineError(at.where + at.trail, `flatten expects a list or dict of graphs, found ${describeValue(value)}`, `a single graph is already flat: drop this step`);
  }
  const out: LayerGraph[] = [];
  const visit = (v: PipelineValue) => {
    if (isGraph(v)) out.push(v);
    else for (const item of isList(v) ? v : v.values()) visit(item);
  };
  visit(value);
  return out;
}

/** `split_every`: consecutive chunks of `count` vertices, in vertex order. */
export function splitEvery(count: number, at: At, value: PipelineValue): LayerGraph[] {
  const g = expectGraph("split_every", at, value);
  const chunks: LayerGraph[] = [];
  for (let start = 0; start < g.size; start += count) {
    const keep = new Uint8Array(g.size);
    keep.fill(1, start, Math.min(g.size, start + count));
    chunks.push(g.induced(keep));
  }
  return chunks;
}

/**
 * `limit_layers`: the first `count - 1` items unchanged, then all the remaining ones merged into
 * one graph. Fewer items than that is fine: nixpkgs' `reduce` without an initial value fails when
 * nothing remains, here nothing is added. A single remaining item is passed on as it is (Python's
 * reduce returns it untouched); merging two or more needs graphs.
 */
export function limitLayers(count: number, at: At, value: PipelineValue): PipelineValue[] {
  const items = expectList("limit_layers", at, value);
  const head = items.slice(0, count - 1);
  const tail = items.slice(count - 1);
  if (tail.length === 0) return head;
  if (tail.length === 1) return [...head, tail[0] as PipelineValue];
  const graphs = tail.map((item, i) => {
    if (isGraph(item)) return item;
    throw pipelineError(
      at.where + at.trail,
      `limit_layers merges the items from ${count} on into one graph, but item ${count + i} is ${describeValue(item)}`,
      `flatten the list first with ["flatten"]`,
    );
  });
  return [...head, LayerGraph.merge(graphs)];
}

/** `remove_paths`: the graph without those paths (unknown ones are ignored). */
export function removePaths(paths: readonly string[], at: At, value: PipelineValue): LayerGraph {
  const g = expectGraph("remove_paths", at, value);
  const found = g.find(paths);
  if (found.length === 0) return g;
  const keep = new Uint8Array(g.size).fill(1);
  for (const i of found) keep[i] = 0;
  return g.induced(keep);
}

/** `reverse`: the list backwards. */
export function reverse(at: At, value: PipelineValue): PipelineValue[] {
  return [...expectList("reverse", at, value)].reverse();
}
