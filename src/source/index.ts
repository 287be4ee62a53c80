/**
 * Image inputs: base images (openImage), merging archives (mergeImages), inspecting (inspectImage),
 * and the runtime-config merge of an image built on a base. Re-exports only.
 */
export { openImage, type OpenImageOptions } from "./read-image.js";
export { openRegistryImage, type RegistryImage, type RegistryImageOptions } from "./read-registry.js";
export { resolveRegistryImage, type RegistryManifest, type RegistryLayer } from "./registry-manifest.js";
export { openImages, selectImage, type OpenOptions, type SourceArchive } from "./open-images.js";
export { mergeBaseConfig, type MergeConfigOptions } from "./config-merge.js";
export { mergeImages, type MergeOptions, type MergeResult } from "../merge.js";
export { inspectImage, formatInspect, type InspectLayer, type InspectOptions, type InspectResult } from "../inspect.js";
export type { ImageEntry, LayerRef } from "./image-list.js";
export type { Compression, SourceFormat, RuntimeConfig, SourceConfig, SourceImage, SourceLayer } from "./types.js";
export { LIMITS } from "./limits.js";
