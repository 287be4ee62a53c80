/**
 * The nouns of an image being written: what decides its bytes (ImageSpec), what a run reports as
 * it goes (ProgressEvent), and what it gives back (ImageResult). Every destination takes and
 * returns these.
 */
import type { Digest } from "../digest.js";
import type { BlobOrigin, Descriptor } from "../dest/blob-store.js";
import type { LayerKey } from "../layer/layer-key.js";
import type { LayerDigest, LayerTask } from "../layer/layer-task.js";
import type { Codec } from "../write/codecs.js";
import type { JsonValue } from "./py-json.js";

export interface ImageLayer {
  readonly task: LayerTask;
  /** Estimated size in bytes (e.g. the paths' narSize), to start the largest layers first; 0 if unknown. */
  readonly estimate?: number;
  /** What the layer's history comment names: its store paths. */
  readonly paths: readonly string[];
  /** What decides the layer's bytes (src/layer/layer-key.ts); undefined for a layer always built. */
  readonly key?: LayerKey | undefined;
  /** What a previous build measured for this key (the layer cache), or a base image's layer as stored. */
  readonly known?: KnownLayer | undefined;
}

/** A layer's digests, known without reading it. */
export interface KnownLayer {
  /** sha256 of the uncompressed tar, and its size. */
  readonly diffId: Digest;
  readonly size: number;
  /** Blobs of it in some compression. */
  readonly blobs: readonly KnownBlob[];
}

/** One stored form of a layer. */
export interface KnownBlob {
  /** Digest and size of the stored (compressed) bytes. */
  readonly descriptor: Descriptor;
  readonly compression: "none" | "gzip" | "zstd";
  /** Level and implementation (`zlib-1.3.0.1`) that made it: a cache entry matches only the same ones. */
  readonly level?: number;
  readonly impl?: string;
  /** A base image's own blob: reused as it is whatever made it. */
  readonly original?: boolean;
  /** Where the blob lies on this machine (a base image's OCI layout), to copy it without recompressing. */
  readonly file?: string;
  /** The registry repository it came from, to mount it when pushing to the same registry. */
  readonly origin?: BlobOrigin;
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
  /**
   * An existing image's config, kept byte for byte (`push`, `pull`: copying an image must not
   * change its ID); its rootfs.diff_ids must be the layers'. Default: made from the fields above.
   */
  readonly configBytes?: Uint8Array | undefined;
}

/** Every event and field is documented in docs/events.md (and a test checks that list). */
export type ProgressEvent =
  /** The plan is made (buildImage): the image's name, its layer count and uncompressed size as planned. */
  | { readonly type: "plan"; readonly repoTag: string; readonly layers: number; readonly estimatedBytes: number }
  | { readonly type: "start"; readonly layers: number }
  /** A layer is done: written, or (blob stores) found `present` or `mounted` without being built. */
  | { readonly type: "layer"; readonly index: number; readonly layers: number; readonly diffId: Digest; readonly size: number; readonly blob?: Descriptor; readonly outcome?: "written" | "present" | "mounted" }
  /** More bytes of uncompressed layer tar were made (whatever is compressed after). */
  | { readonly type: "bytes"; readonly bytes: number }
  /**
   * The image is complete. `bytes` is what was written (compressed size when compressing). The
   * CLI adds what it knows once the call returns: the optional fields.
   */
  | {
    readonly type: "done";
    readonly imageId: Digest;
    readonly bytes: number;
    readonly repoTags?: readonly string[];
    readonly destination?: string;
    readonly format?: string;
    readonly manifestDigest?: Digest;
    readonly diffIds?: readonly Digest[];
    readonly layerBytes?: number;
    readonly seconds?: number;
  }
  /** Something the user should know that does not stop the build. */
  | { readonly type: "warning"; readonly message: string }
  /** The CLI's failure report with --json (the library throws a StrataError instead). */
  | { readonly type: "error"; readonly code: string; readonly message: string; readonly hint: string };

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
  readonly layers: readonly (LayerDigest & { readonly paths: readonly string[]; readonly blob?: Descriptor; readonly outcome?: "written" | "present" | "mounted" })[];
  /** The OCI manifest, for the OCI formats. */
  readonly manifest?: Descriptor;
  /** The image config as a blob, for the OCI formats and registries. */
  readonly config?: Descriptor;
  readonly repoTags: readonly string[];
  /** Bytes written to the sink (compressed size when compressing). */
  readonly bytes: number;
}

