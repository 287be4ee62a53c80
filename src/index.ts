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
export { buildNixShellImage, nixShellBuildOptions, type NixShellImageOptions } from "./nix-shell/nix-shell-image.js";
export { readDerivation, type Derivation } from "./nix-shell/derivation-json.js";

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
export { openRegistryImage, type RegistryImage, type RegistryImageOptions } from "./source/read-registry.js";
export { pullImage, type PullOptions, type PullResult } from "./pull.js";
export { pushImage, type PushOptions } from "./push.js";
export { mergeImages } from "./merge.js";
export { inspectImage, formatInspect, type InspectResult } from "./inspect.js";
export { OUTPUT_FORMATS, type OutputFormat } from "./write/write-image.js";
export { exportImage, type ExportOptions, type ExportResult } from "./export/index.js";
export { writeIndex, writeIndexTo, type IndexOptions, type IndexResult, type Platform } from "./index-image/index.js";

// Nix database and NAR hashes
export { nixDbFiles, type NixDbFile } from "./nixdb/db-writer.js";
export { narHashOf, type NarInfo } from "./nixdb/nar.js";
export { withNarHashes } from "./nixdb/fill-nar-hashes.js";

export type { OutputOptions, RegistryOptions } from "./options.js";

// Destinations and the layer cache
export type { BlobStore, BlobUpload, Descriptor, BlobOrigin } from "./dest/blob-store.js";
export { LayoutStore } from "./dest/oci-layout/layout-store.js";
export { RegistryBlobStore } from "./dest/registry/registry-store.js";
export { parseReference, type ImageReference } from "./dest/registry/reference.js";
export { LayerCache } from "./cache/layer-cache.js";
export { layerKey, TAR_DIALECT, type LayerKey } from "./layer/layer-key.js";
export type { ImageResult, ProgressEvent } from "./image/image-spec.js";
export type { Sink, ByteOutput } from "./dest/byte-output.js";
export type { Digest } from "./digest.js";
export { StrataError, ERROR_CODES, type ErrorCode } from "./errors.js";
