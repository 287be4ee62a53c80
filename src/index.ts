/**
 * strata's library API. Re-exports only; see README.md for examples.
 *
 *   import { streamImage, buildImage, planLayers, readClosure } from "strata";
 */
export { buildImage, planImage, BUILD_DEFAULTS, type BuildOptions, type ImagePlan } from "./build.js";
export { streamImage, type StreamOptions } from "./stream.js";
export { readClosure } from "./closure/read-closure.js";
export { planLayers, type PlanLayersOptions } from "./plan/plan-layers.js";
export { parseReferencesGraph } from "./closure/references-graph.js";
export { closureOf } from "./closure/closure-of.js";
export { parseStreamConf, type StreamConf } from "./closure/conf-json.js";
export type { ClosureGraph, StorePathInfo } from "./closure/types.js";
export type { StoreLayers } from "./plan/types.js";
export type { OutputOptions } from "./options.js";
export type { ImageResult, ProgressEvent } from "./archive/write-image.js";
export type { Sink, ByteOutput } from "./archive/byte-output.js";
export type { Digest } from "./digest.js";
export { StrataError, ERROR_CODES, type ErrorCode } from "./errors.js";
