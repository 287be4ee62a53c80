/**
 * `planLayers`: the library's layering entry point, one function for the three strategies of
 * spec §3 behind one layer budget (§1.5):
 *
 *   - "auto" (the default, as in nixpkgs since #355189): auto-layer.ts;
 *   - "popularity": nixpkgs' classic referencesByPopularity order cut to the budget (split.ts);
 *   - { pipeline }: nixpkgs' layeringPipeline language (pipeline/).
 *
 * Budget: auto and popularity get `maxLayers - baseLayers - 1` store layers (the customisation
 * layer and the base image's layers count), and fail with E_LAYER_BUDGET when nothing is left. A
 * pipeline has no budget, as in nixpkgs: its author bounds it with `limit_layers`; the caller can
 * check the result against RUNTIME_LAYER_LIMIT with `exceedsRuntimeLayerLimit`.
 */
import type { ClosureGraph } from "../closure/types.js";
import { StrataError } from "../errors.js";
import { autoLayer } from "./auto-layer.js";
import { availableStoreLayers, checkLayerBudget } from "./budget.js";
import { runPipeline } from "./pipeline/run.js";
import type { RootGroups } from "./popularity.js";
import { popularityOrder } from "./popularity.js";
import { headTailSplit } from "./split.js";
import type { StoreLayers } from "./types.js";

/** How to layer: a built-in strategy, or a layeringPipeline (the JSON list of steps nixpkgs takes). */
export type LayeringStrategy = "auto" | "popularity" | { readonly pipeline: unknown };

export interface PlanLayersOptions {
  /** Default "auto", nixpkgs' default. The same name as buildImage's option. */
  readonly layering?: LayeringStrategy;
  /** @deprecated The earlier name of `layering`, still accepted (`layering` wins when both are given). */
  readonly strategy?: LayeringStrategy;
  /** Total layer budget, base-image and customisation layers included, >= 2. Default: 100. */
  readonly maxLayers?: number;
  /** Layers of a base image (`fromImage`). Default: 0. */
  readonly baseLayers?: number;
  /**
   * nixpkgs' synthetic roots (the customisation layer, the base JSON), each a group of the paths it
   * references. They decide popularity's roots and take part in auto-layer's search; a pipeline
   * never sees them (nixpkgs excludes them before it runs). Default: none (the graph's own roots).
   */
  readonly rootGroups?: RootGroups;
  /** narSize of the synthetic roots in auto-layer: one for all or one per group. Default 0. */
  readonly rootGroupNarSize?: number | readonly number[];
  /**
   * Paths of the graph to leave out of the plan, as nixpkgs' `excludePaths`: they still take part
   * in auto-layer's search and popularity's ranking, and are removed before a pipeline runs.
   * Default: none.
   */
  readonly excludePaths?: readonly string[];
}

export const PLAN_DEFAULTS = { strategy: "auto", maxLayers: 100, baseLayers: 0 } as const;

/** The store layers of the image, bottom first: nixpkgs' `store_layers`. */
export function planLayers(graph: ClosureGraph, options: PlanLayersOptions = {}): StoreLayers {
  const strategy = options.layering ?? options.strategy ?? PLAN_DEFAULTS.strategy;
  const budget = { maxLayers: options.maxLayers ?? PLAN_DEFAULTS.maxLayers, baseLayers: options.baseLayers ?? PLAN_DEFAULTS.baseLayers };
  const excludePaths = options.excludePaths ?? [];
  if (typeof strategy === "object" && strategy !== null && "pipeline" in strategy) {
    // Options are still checked, so a typo fails the same way whatever the strategy.
    checkLayerBudget(budget);
    return runPipeline(graph, strategy.pipeline, { excludePaths });
  }
  // The budget is checked before any work on the graph.
  const limit = availableStoreLayers(budget);
  const rootGroups = options.rootGroups ?? [];
  switch (strategy) {
    case "auto":
      return autoLayer(graph, { limit, rootGroups, rootGroupNarSize: options.rootGroupNarSize ?? 0, excludePaths });
    case "popularity": {
      // nixpkgs ranks the whole closure, then `grep -v`s the excluded paths before the split.
      const excluded = new Set(excludePaths);
      return headTailSplit(
        popularityOrder(graph, rootGroups).filter((path) => !excluded.has(path)),
        limit,
      );
    }
    default:
      throw new StrataError(
        "E_USAGE",
        `strategy must be "auto", "popularity" or { pipeline: [...] }, got ${JSON.stringify(strategy) ?? String(strategy)}`,
        "pick a layering strategy: --layering auto|popularity|FILE.json",
      );
  }
}
