export { runPipeline, type RunPipelineOptions } from "./run.js";
export { compilePipeline, PIPELINE_OPS } from "./compile.js";
export { LayerGraph, PipelineBase, pipelineGraph } from "./layer-graph.js";
export type { PipelineValue, Step } from "./values.js";
