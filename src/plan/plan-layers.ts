/**
 * `planLayers`: the library's layering entry point. Today it offers nixpkgs' classic popularity
 * layering (the order of `referencesByPopularity` cut to the budget); see docs/architecture.md.
 */
import type { ClosureGraph } from "../closure/types.js";
import type { RootGroups } from "./popularity.js";
import { planPopularity } from "./split.js";
import type { StoreLayers } from "./types.js";

export interface PlanLayersOptions {
  /** Total layer budget, base-image and customisation layers included. Default: 100. */
  readonly maxLayers?: number;
  /** Layers of a base image. Default: 0. */
  readonly baseLayers?: number;
  /** Virtual roots (each a group of paths it references), as nixpkgs' synthetic roots. Default: the graph's own roots. */
  readonly rootGroups?: RootGroups;
}

export function planLayers(graph: ClosureGraph, options: PlanLayersOptions = {}): StoreLayers {
  return planPopularity(graph, { maxLayers: options.maxLayers ?? 100, baseLayers: options.baseLayers ?? 0, rootGroups: options.rootGroups ?? [] });
}
