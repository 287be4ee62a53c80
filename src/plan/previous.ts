/**
 * Beyond nixpkgs: plan a new version of an image so that it re-ships only what changed. Given the
 * plan of a previous version, `planWithPrevious` keeps every previous layer that can still be made
 * byte for byte, and plans only the other paths.
 *
 * The rule:
 *   1. A previous layer is reusable when it is non-empty and every one of its paths is still in
 *      the closure (and not excluded). A store path names its contents, so the layer's tar is the
 *      same. A layer that lost a path, or would need a new path added, makes a different tar: no
 *      part of it is reused, so its paths are planned anew like new paths.
 *   2. Reusable layers are kept, unchanged and in their previous order, at the bottom of the
 *      image. Within the budget (auto and popularity: maxLayers - baseLayers - 1 store layers), at
 *      least one layer is left for the other paths if there are any. When there are more reusable
 *      layers than that, the largest (sum of narSize; ties: the earlier layer) are kept and the
 *      rest are planned anew.
 *   3. The other paths are planned with the chosen strategy into the layers left, over the graph
 *      restricted to them (references to kept paths are dropped; root groups are restricted too;
 *      excluded paths still take part where the strategy lets them), and go on top.
 *
 * Why this maximises reuse: a layer is reused only if it is identical, and every layer of the
 * previous plan that can still be identical is kept, so with room for all of them no other rule
 * reuses more layers or bytes. When the budget is short, each kept layer costs one slot whatever
 * its size, so keeping the largest maximises the bytes reused (a cardinality-constrained knapsack,
 * where greedy is optimal). Keeping them first, in their order, also keeps the longest common
 * prefix of layers, which is what hosts reuse: a layer's chain ID depends on the layers below it.
 * A pipeline has no budget: every reusable layer is kept, and the pipeline runs on the rest.
 */

import type { ClosureGraph, StorePathInfo } from "../closure/types.js";
import { availableStoreLayers, checkLayerBudget } from "./budget.js";
import { intGraph } from "./int-graph.js";
import { checkLayerPlan } from "./layer-plan-json.js";
import { planLayers, PLAN_DEFAULTS, type PlanLayersOptions } from "./plan-layers.js";
import type { StoreLayers } from "./types.js";

export function planWithPrevious(graph: ClosureGraph, previous: StoreLayers, options: PlanLayersOptions = {}): StoreLayers {
  checkLayerPlan(previous, "previous plan");
  intGraph(graph); // the same checks as every strategy, also for the paths that are kept
  const strategy = options.strategy ?? PLAN_DEFAULTS.strategy;
  const budget = { maxLayers: options.maxLayers ?? PLAN_DEFAULTS.maxLayers, baseLayers: options.baseLayers ?? PLAN_DEFAULTS.baseLayers };
  const isPipeline = typeof strategy === "object";
  let limit = Number.POSITIVE_INFINITY;
  if (isPipeline) checkLayerBudget(budget);
  else limit = availableStoreLayers(budget);

  const excluded = new Set(options.excludePaths ?? []);
  const reusable = previous.flatMap((layer, index) =>
    layer.length > 0 && layer.every((path) => graph.paths.has(path) && !excluded.has(path)) ? [{ layer, index }] : [],
  );
  const inReusable = new Set(reusable.flatMap(({ layer }) => layer));
  const others = [...graph.paths.keys()].some((path) => !inReusable.has(path) && !excluded.has(path));
  let kept = reusable;
  if (reusable.length > limit || (others && reusable.length >= limit)) {
    // Dropping any layer leaves paths to plan, so one layer is kept free.
    const size = (layer: readonly string[]) => layer.reduce((sum, path) => sum + (graph.paths.get(path) as StorePathInfo).narSize, 0);
    const room = limit - 1;
    const chosen = new Set(
      [...reusable]
        .sort((x, y) => size(y.layer) - size(x.layer) || x.index - y.index)
        .slice(0, room)
        .map((x) => x.index),
    );
    kept = reusable.filter((x) => chosen.has(x.index));
  }

  const keptPaths = new Set(kept.flatMap(({ layer }) => layer));
  const rest = restrictGraph(graph, (path) => !keptPaths.has(path));
  const toPlan = [...rest.paths.keys()].some((path) => !excluded.has(path));
  const planned = !toPlan
    ? []
    : planLayers(rest, {
        ...options,
        rootGroups: (options.rootGroups ?? []).map((group) => group.filter((path) => !keptPaths.has(path))),
        ...(isPipeline ? {} : { maxLayers: limit - kept.length + 1, baseLayers: 0 }),
      });
  return [...kept.map(({ layer }) => layer), ...planned];
}

/** The subgraph of the paths that pass `keep`, with references to the others dropped. */
function restrictGraph(graph: ClosureGraph, keep: (path: string) => boolean): ClosureGraph {
  const paths = new Map<string, StorePathInfo>();
  for (const [path, info] of graph.paths) {
    if (!keep(path)) continue;
    const references = info.references.filter(keep);
    paths.set(path, references.length === info.references.length ? info : { ...info, references });
  }
  return { storeDir: graph.storeDir, paths };
}
