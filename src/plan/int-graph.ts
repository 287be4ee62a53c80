/**
 * A closure graph with integer ids, as the planners work on it: ids 0..n-1 in `graph.paths` order
 * (store path order), references as CSR arrays. Building it checks what every planner needs, that
 * the graph is closed and acyclic, in O(n + e) on integers; only a graph that fails is handed to
 * the checks of closure/graph-checks.ts, for their error messages. (Their Map-based walks cost
 * 0.2 s on a 100,000-path closure, more than auto-layer's whole search.)
 */

import type { ClosureGraph } from "../closure/types.js";
import { StrataError } from "../errors.js";
import { assertAcyclic, assertNoDanglingReferences } from "../closure/graph-checks.js";

export interface IntGraph {
  readonly names: readonly string[];
  readonly index: ReadonlyMap<string, number>;
  readonly narSize: Float64Array;
  /** References of v (no self): targets[offsets[v]] .. targets[offsets[v + 1] - 1]. */
  readonly offsets: Int32Array;
  readonly targets: Int32Array;
}

export function intGraph(graph: ClosureGraph): IntGraph {
  const names = [...graph.paths.keys()];
  const index = new Map(names.map((path, i) => [path, i] as const));
  const n = names.length;
  const narSize = new Float64Array(n);
  const offsets = new Int32Array(n + 1);
  let edges = 0;
  for (const info of graph.paths.values()) edges += info.references.length;
  const targets = new Int32Array(edges);
  let v = 0;
  let at = 0;
  for (const info of graph.paths.values()) {
    narSize[v] = info.narSize;
    for (const ref of info.references) {
      const t = index.get(ref);
      if (t === undefined) {
        assertNoDanglingReferences(graph.paths, "closure graph");
        throw internal("a reference to a missing path went unreported");
      }
      // A hand-built graph may list a self-reference; the readers never do.
      if (t !== v) targets[at++] = t;
    }
    offsets[++v] = at;
  }
  const result = { names, index, narSize, offsets, targets: at === edges ? targets : targets.slice(0, at) };
  if (!isAcyclic(result)) {
    assertAcyclic(graph.paths, "closure graph");
    throw internal("a cycle went unreported");
  }
  return result;
}

/** Kahn's algorithm: true when every node can be taken in a topological order. */
function isAcyclic({ offsets, targets }: Pick<IntGraph, "offsets" | "targets">): boolean {
  const n = offsets.length - 1;
  const indegree = new Int32Array(n);
  for (const t of targets) indegree[t]!++;
  const queue = new Int32Array(n);
  let tail = 0;
  for (let v = 0; v < n; v++) if (indegree[v] === 0) queue[tail++] = v;
  for (let head = 0; head < tail; head++) {
    const v = queue[head] as number;
    for (let e = offsets[v] as number; e < (offsets[v + 1] as number); e++) {
      const t = targets[e] as number;
      if (--indegree[t]! === 0) queue[tail++] = t;
    }
  }
  return tail === n;
}

function internal(what: string): StrataError {
  return new StrataError("E_INTERNAL", `closure graph check: ${what}`, "this is a bug in strata; please report it");
}
