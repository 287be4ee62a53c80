/**
 * The layer model: what a layer task is (the worker builds its tar from it) and what it yields.
 * A layer's identity (layer-key.ts) is decided from the task alone, before any byte exists.
 */
import type { CustomisationSpec } from "./customisation-layer.js";
import type { LayerOwnership } from "./store-layer.js";

/** A store layer: nixpkgs' archive_paths_to over `paths`. */
export interface StoreLayerTask {
  readonly kind: "store";
  readonly paths: readonly string[];
  readonly ownership: LayerOwnership;
  readonly fsRoot: string;
}

/** A layer tar that exists as a file (a prebuilt customisation layer): copied byte for byte. */
export interface FileLayerTask {
  readonly kind: "file";
  readonly path: string;
  /** Expected sha256 hex (nixpkgs' `checksum` file); a mismatch fails the build. */
  readonly expectedSha256?: string;
}

/**
 * The customisation layer strata builds itself: the symlink join of `contents` (nixpkgs'
 * symlinkJoin: real directories, a symlink into the store for every file, first path wins).
 */
export interface CustomisationLayerTask extends CustomisationSpec {
  readonly kind: "customisation";
}

export type LayerTask = StoreLayerTask | FileLayerTask | CustomisationLayerTask;

/** The result of a layer task: the digest covers exactly the uncompressed layer tar (its diff_id). */
export interface LayerDigest {
  /** `sha256:<hex>` of the uncompressed layer tar. */
  readonly diffId: string;
  /** Size of the uncompressed layer tar in bytes. */
  readonly size: number;
}

