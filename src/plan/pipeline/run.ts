/**
 * Runs a layeringPipeline over a closure graph, as nixpkgs' flatten_references_graph does (spec
 * §3.4): excluded paths are removed first, the graph's vertices get igraph's order, the pipeline
 * runs, and its result is flattened into one layer per graph, each listing its paths in vertex
 * order. No layer limit is applied, and empty graphs become empty layers, as in nixpkgs.
 */

import type { ClosureGraph } from "../../closure/types.js";
import type { StoreLayers } from "../types.js";
import { compilePipeline } from "./compile.js";
import { pipelineGraph } from "./layer-graph.js";
import { flatten } from "./ops.js";
import { describeValue, isGraph, pipelineError } from "./values.js";

export interface RunPipelineOptions {
  /** Paths removed from the graph (and from every reference list) before the pipeline runs. */
  readonly excludePaths?: Iterable<string>;
}

/**
 * The layers a pipeline makes of `graph`. The pipeline is checked in full before the graph is
 * looked at, so a malformed pipeline fails the same way on any closure.
 */
export function runPipeline(graph: ClosureGraph, pipeline: unknown, options: RunPipelineOptions = {}): StoreLayers {
  const step = compilePipeline(pipeline);
  // make-layers.nix writes `[]` without running the pipeline when there is no closure at all.
  if (graph.paths.size === 0) return [];
  const result = step(pipelineGraph(graph, options.excludePaths ?? []), "");
  if (isGraph(result)) {
    // nixpkgs iterates the result, which a graph does not allow.
    throw pipelineError(
      "result",
      `expected a list or dict of graphs (one per layer), found ${describeValue(result)}`,
      `end the pipeline with a step that makes several graphs, e.g. ["popularity_contest"] or ["split_every", 1]`,
    );
  }
  return flatten({ where: "result", trail: "" }, result).map((g) => g.names());
}
