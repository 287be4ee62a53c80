/**
 * The closure of some roots inside a bigger graph: what an image needs when the graph was exported
 * for more than it holds (a whole system, several images at once). The result is itself a closed
 * ClosureGraph, so the planner never sees a path nothing asked for.
 */

import { StrataError } from "../errors.js";
import type { ClosureGraph, StorePathInfo } from "./types.js";

/**
 * The sub-graph reachable from `roots` (roots included). Iterative, O(reachable nodes +
 * references). Roots may repeat; no roots give an empty graph. The result's `paths` keep the
 * input's (sorted) order, so it is as deterministic as its input.
 */
export function closureOf(graph: ClosureGraph, roots: readonly string[]): ClosureGraph {
  const reached = new Set<string>();
  const stack: string[] = [];
  for (const root of roots) {
    if (!graph.paths.has(root)) {
      throw new StrataError(
        "E_CLOSURE_INPUT",
        `closure root ${root} is not in the references graph (which has ${graph.paths.size} paths)`,
        "export the graph for this root too, e.g. `nix path-info --json --recursive <root>`",
      );
    }
    if (!reached.has(root)) {
      reached.add(root);
      stack.push(root);
    }
  }
  // Depth-first with an explicit stack: the visiting order does not matter, only the set does.
  while (stack.length > 0) {
    const info = graph.paths.get(stack.pop() as string);
    if (info === undefined) continue;
    for (const ref of info.references) {
      if (reached.has(ref)) continue;
      if (!graph.paths.has(ref)) {
        throw new StrataError(
          "E_CLOSURE_INPUT",
          `references to paths missing from the graph: ${info.path} references ${ref}, which has no entry`,
          "re-export the graph with the whole closure, e.g. `nix path-info --json --recursive <paths>`",
        );
      }
      reached.add(ref);
      stack.push(ref);
    }
  }
  const paths = new Map<string, StorePathInfo>();
  for (const [path, info] of graph.paths) if (reached.has(path)) paths.set(path, info);
  return { storeDir: graph.storeDir, paths };
}
