/**
 * nixpkgs' default layering since #355189, `auto-layer.py` (spec §3.2), exactly: the largest store
 * paths become "primary" paths, one by one, each the identity of a layer; every path maps to the
 * set of primaries that claim it (a path goes with a primary P when everything that uses it also
 * uses P), and paths with the same set share a layer. Primaries are added until one more would take
 * the number of distinct sets past the limit.
 *
 * Synthetic nodes. nixpkgs' graph also holds the customisation layer and the base JSON, as roots,
 * and excludes them only from the output: they are candidates like any path, they hold the ∅ layer
 * open (a synthetic root never becomes a dependency, so it maps to ∅ until it is itself a
 * primary), and a layer holding only them vanishes from the output, so the result can have fewer
 * layers than the limit. strata models them as popularity.ts models root groups: one virtual node
 * per group, referencing the group's paths. Their narSize is a parameter, 0 by default: strata does
 * not know the size of files Nix would build (a few KiB of symlinks and JSON), and 0 makes them the
 * last candidates. Among equal narSizes they count as coming before every real path in input order
 * (group 0 first), so they are popped after the real paths of that size, the last group first.
 *
 * Deterministic tie-breaks, where nixpkgs depends on input order or CPython's hashing:
 *   - candidates: narSize descending, then the later in input order (real paths in store path
 *     order, as Nix writes the graph) first: Python's stable sort, popped from the end;
 *   - layers with the same closureSize: by their output path lists (each sorted by `pathKey`),
 *     compared element by element with `pathKey` order, a prefix first. nixpkgs leaves such ties to
 *     the iteration order of a set of frozensets under PYTHONHASHSEED=0 (CPython's SipHash).
 *
 * Complexity. Every primary keeps its own singleton set for good (nothing later removes it), so
 * there are at most min(limit + 1, n) rounds. A round is one traversal of the new candidate's
 * dependencies; whether an earlier primary Q depends on P is a bit lookup in Q's dependency bitset
 * (kept while they fit in BITSET_BUDGET_BYTES, else a reverse traversal from P); the new set of each
 * dependency is computed once per distinct old set. So O(rounds × (n + e)) time and
 * O(rounds × n / 8) bytes of bitsets. Grouping costs one traversal per output layer for its
 * closure size. Measured with bench/plan-scale.mjs's 100,000-path closure on this 2-core machine:
 * 0.3-0.35 s of CPU at limits 20, 99 and 500 alike; the search is under a tenth of it, indexing
 * the graph by path (80 ms) and sorting the big layers by `pathKey` take most of the rest.
 */

import { StrataError } from "../errors.js";
import type { ClosureGraph } from "../closure/types.js";
import { intGraph } from "./int-graph.js";
import type { RootGroups } from "./popularity.js";
import type { StoreLayers } from "./types.js";
import { chooseLayers, type IndexedGraph } from "./auto-layer-search.js";

/** Dependency bitsets of primaries are kept up to this many bytes (1,000 primaries of a 1M-path graph). */
const BITSET_BUDGET_BYTES = 128 * 1024 * 1024;

export interface AutoLayerOptions {
  /** The most layers to make, >= 1: the available store layers of the budget (spec §1.5). */
  readonly limit: number;
  /** Synthetic roots (the customisation layer, the base JSON), each referencing a group of paths. */
  readonly rootGroups?: RootGroups;
  /** narSize of the synthetic roots: one number for all, or one per group. Default 0. */
  readonly rootGroupNarSize?: number | readonly number[];
  /** Paths that take part in the search but are left out of the output (nixpkgs' ignore file). */
  readonly excludePaths?: Iterable<string>;
  /** For tests: the bitset budget, to exercise the reverse-traversal fallback. */
  readonly bitsetBudgetBytes?: number;
}

/**
 * auto-layer.py's `path_key` as one string: for `<storeDir>/<hash>-<name>`, the name, a NUL, then
 * `<storeDir>/<hash>`. NUL sorts before every character a store path can hold, so comparing these
 * strings compares the tuple `(name, hash)`: a name that is a prefix of another comes first. A
 * path without `-` (never a store path; Python would fail) gets the name "".
 */
export function pathKey(path: string): string {
  const dash = path.indexOf("-");
  return dash < 0 ? `\u0000${path}` : `${path.slice(dash + 1)}\u0000${path.slice(0, dash)}`;
}

/** Compares two paths by `pathKey`. */
export function comparePathKeys(a: string, b: string): number {
  const ka = pathKey(a);
  const kb = pathKey(b);
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

/** The auto-layer plan: layers ordered by closure size, each sorted by `comparePathKeys`. */
export function autoLayer(graph: ClosureGraph, options: AutoLayerOptions): StoreLayers {
  const { limit } = options;
  if (!Number.isSafeInteger(limit) || limit < 1) {
    throw new StrataError("E_USAGE", `the auto-layer limit must be an integer >= 1, got ${String(limit)}`, "compute it with availableStoreLayers()");
  }
  const dag = indexGraph(graph, options.rootGroups ?? [], options.rootGroupNarSize ?? 0);
  const split = chooseLayers(dag, limit, options.bitsetBudgetBytes ?? BITSET_BUDGET_BYTES);
  return orderLayers(dag, split, new Set(options.excludePaths ?? []));
}

function indexGraph(graph: ClosureGraph, rootGroups: RootGroups, groupNarSize: number | readonly number[]): IndexedGraph {
  const real = intGraph(graph);
  const realCount = real.names.length;
  const size = realCount + rootGroups.length;
  const narSize = new Float64Array(size);
  narSize.set(real.narSize);
  const groups = rootGroups.map((group, g) => {
    const seen = new Set<number>();
    for (const path of group) {
      const i = real.index.get(path);
      if (i === undefined) {
        throw new StrataError(
          "E_CLOSURE_INPUT",
          `root group ${g} names ${path}, which is not in the closure graph (${realCount} paths)`,
          "export the graph for every store path the image's contents and config name",
        );
      }
      seen.add(i);
    }
    const size = typeof groupNarSize === "number" ? groupNarSize : groupNarSize[g];
    if (size === undefined || !Number.isSafeInteger(size) || size < 0) {
      throw new StrataError("E_USAGE", `the narSize of root group ${g} must be an integer >= 0, got ${String(size)}`, "pass one narSize, or one per root group");
    }
    narSize[realCount + g] = size;
    return [...seen].sort((a, b) => a - b);
  });
  const offsets = new Int32Array(size + 1);
  offsets.set(real.offsets);
  const targets = new Int32Array(real.targets.length + groups.reduce((sum, group) => sum + group.length, 0));
  targets.set(real.targets);
  groups.forEach((group, g) => {
    const at = offsets[realCount + g] as number;
    targets.set(group, at);
    offsets[realCount + g + 1] = at + group.length;
  });
  return { names: real.names, realCount, size, narSize, offsets, targets };
}

/** auto-layer.py steps 6-9: group by layer id, order by closure size, drop excluded paths. */
function orderLayers(dag: IndexedGraph, split: Int32Array, exclude: ReadonlySet<string>): StoreLayers {
  const groups = new Map<number, number[]>();
  for (let v = 0; v < dag.size; v++) {
    const id = split[v] as number;
    const group = groups.get(id);
    if (group === undefined) groups.set(id, [v]);
    else group.push(v);
  }
  const seen = new Int32Array(dag.size).fill(-1);
  const stack: number[] = [];
  const layers: { paths: { path: string; key: string }[]; closureSize: bigint }[] = [];
  let stamp = 0;
  for (const group of groups.values()) {
    const paths = group.flatMap((v) => {
      const path = dag.names[v];
      return path === undefined || exclude.has(path) ? [] : [{ path, key: pathKey(path) }];
    });
    // A layer with nothing left to output has no place in the order: skip its closure.
    if (paths.length === 0) continue;
    paths.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    layers.push({ paths, closureSize: closureSize(dag, group, seen, stamp++, stack) });
  }
  layers.sort((a, b) => (a.closureSize < b.closureSize ? -1 : a.closureSize > b.closureSize ? 1 : compareLists(a.paths, b.paths)));
  return layers.map((layer) => layer.paths.map((p) => p.path));
}

/**
 * The sum of narSize over the closure of `group`, exactly: sizes are split at 2^32 and the halves
 * summed separately, so the sums stay exact in doubles for closures of up to 2^21 paths.
 */
function closureSize(dag: IndexedGraph, group: readonly number[], seen: Int32Array, stamp: number, stack: number[]): bigint {
  let high = 0;
  let low = 0;
  for (const v of group) stack.push(v);
  while (stack.length > 0) {
    const x = stack.pop() as number;
    if (seen[x] === stamp) continue;
    seen[x] = stamp;
    const size = dag.narSize[x] as number;
    const h = Math.floor(size / 2 ** 32);
    high += h;
    low += size - h * 2 ** 32;
    for (let i = dag.offsets[x] as number; i < (dag.offsets[x + 1] as number); i++) stack.push(dag.targets[i] as number);
  }
  return (BigInt(high) << 32n) + BigInt(low);
}

/** Path lists (sorted by key) compared element by element by key; a prefix first. */
function compareLists(a: readonly { key: string }[], b: readonly { key: string }[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const ka = (a[i] as { key: string }).key;
    const kb = (b[i] as { key: string }).key;
    if (ka !== kb) return ka < kb ? -1 : 1;
  }
  return a.length - b.length;
}
