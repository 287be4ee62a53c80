/// <reference types="node" preserve="true" />
// The declarations name Node's types (Buffer, AbortSignal, streams): a TypeScript consumer needs
// @types/node, declared as an optional peer dependency in package.json (theirs is used, never a
// second copy), and this directive says so in the published index.d.ts.
/**
 * strata's library API. Re-exports only; see README.md for examples.
 *
 *   import { streamImage, buildImage, planLayers, readClosure } from "strata";
 */
export { buildImage, planImage, BUILD_DEFAULTS, type BuildOptions, type ImagePlan } from "./build.js";
export { streamImage, type StreamOptions } from "./stream.js";

// Closures
export { readClosure, type ReadClosureOptions } from "./closure/read-closure.js";
export { readHostClosure, type HostStoreOptions } from "./closure/host-store.js";
export { parseReferencesGraph } from "./closure/references-graph.js";
export { closureOf } from "./closure/closure-of.js";
export { parseStreamConf, type StreamConf } from "./closure/conf-json.js";
export type { ClosureGraph, StorePathInfo } from "./closure/types.js";

// Layer plans
export { planLayers, PLAN_DEFAULTS, type LayeringStrategy, type PlanLayersOptions } from "./plan/plan-layers.js";
export { planWithPrevious } from "./plan/previous.js";
export { compareLayerPlans, type LayerPlanComparison } from "./plan/compare.js";
export { parseLayerPlan } from "./plan/layer-plan-json.js";
export { runPipeline } from "./plan/pipeline/index.js";
export type { StoreLayers } from "./plan/types.js";

// Images in, images out
export { openImage } from "./source/read-image.js";
export { mergeImages } from "./source/merge.js";
export { inspectImage, formatInspect, type InspectResult } from "./source/inspect.js";
export { IMAGE_FORMATS, type ImageFormat } from "./archive/write-formats.js";

// Nix database and NAR hashes
export { nixDbFiles, type NixDbFile } from "./nixdb/db-writer.js";
export { narHashOf, type NarInfo } from "./nixdb/nar.js";
export { withNarHashes } from "./nixdb/fill-nar-hashes.js";

export type { OutputOptions } from "./options.js";
export type { ImageResult, ProgressEvent } from "./archive/write-image.js";
export type { Sink, ByteOutput } from "./archive/byte-output.js";
export type { Digest } from "./digest.js";
export { StrataError, ERROR_CODES, type ErrorCode } from "./errors.js";
