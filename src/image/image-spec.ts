/**
 * The nouns of an image being written: what decides its bytes (ImageSpec), what a run reports as
 * it goes (ProgressEvent), and what it gives back (ImageResult). Every destination takes and
 * returns these.
 */
import type { Digest } from "../digest.js";
import type { Descriptor } from "../dest/blob-store.js";
import type { LayerDigest, LayerTask } from "../layer/layer-task.js";
import type { Codec } from "../write/codecs.js";
import type { JsonValue } from "./py-json.js";

export interface ImageLayer {
  readonly task: LayerTask;
  /** Estimated size in bytes (e.g. the paths' narSize), to start the largest layers first; 0 if unknown. */
  readonly estimate?: number;
  /** What the layer's history comment names: its store paths. */
  readonly paths: readonly string[];
}

/** Everything that decides the image's bytes. */
export interface ImageSpec {
  readonly layers: readonly ImageLayer[];
  /** Python isoformat of the creation time. */
  readonly created: string;
  readonly architecture: string;
  readonly config: { readonly [key: string]: JsonValue };
  readonly repoTags: readonly string[];
  /** mtime of the outer archive's members. */
  readonly mtime: number;
}

export type ProgressEvent =
  | { readonly type: "start"; readonly layers: number }
  | { readonly type: "layer"; readonly index: number; readonly layers: number; readonly diffId: Digest; readonly size: number }
  | { readonly type: "bytes"; readonly bytes: number }
  | { readonly type: "done"; readonly imageId: Digest; readonly bytes: number }
  /** Something the user should know that does not stop the build. */
  | { readonly type: "warning"; readonly message: string };

export interface WriteOptions {
  readonly workers: number;
  readonly compress: Codec | "none";
  readonly level: number;
  readonly tmpDir?: string | undefined;
  readonly signal?: AbortSignal | undefined;
  readonly onProgress?: ((event: ProgressEvent) => void) | undefined;
}

export interface ImageResult {
  /** sha256 of the image config: the image ID docker shows. */
  readonly imageId: Digest;
  /**
   * Per layer, bottom first: diff_id and size of the uncompressed tar, the store paths it holds,
   * and for the OCI formats the stored blob (digest, size and media type; compressed or not).
   */
  readonly layers: readonly (LayerDigest & { readonly paths: readonly string[]; readonly blob?: Descriptor })[];
  /** The OCI manifest, for the OCI formats. */
  readonly manifest?: Descriptor;
  readonly repoTags: readonly string[];
  /** Bytes written to the sink (compressed size when compressing). */
  readonly bytes: number;
}

