/**
 * The nouns of image inputs: an image read from a docker-archive, an OCI layout or an
 * oci-archive, its config, and its layers as uncompressed tar files on disk.
 */
import type { JsonValue } from "../image/py-json.js";
import type { BlobOrigin } from "../dest/blob-store.js";
import type { Digest } from "../digest.js";

/**
 * How an image input is laid out:
 * - `docker-archive`: a tar with manifest.json (old `<id>/layer.tar` or any other member names);
 * - `docker`: the dual layout `docker save` writes since Docker 25 (manifest.json and an OCI
 *   layout in one tar); read through its manifest.json;
 * - `oci`: an OCI image layout directory;
 * - `oci-archive`: a tar of an OCI image layout;
 * - `registry`: an image in a registry (`docker://REF`), downloaded blob by blob.
 */
export type SourceFormat = "docker-archive" | "docker" | "oci" | "oci-archive" | "registry";

/** Compression of an archive or a layer blob, found by its magic bytes, not its name. */
export type Compression = "none" | "gzip" | "zstd";

/** The runtime part of an image config (`config`: Cmd, Env, ...), key order kept. */
export type RuntimeConfig = { readonly [key: string]: JsonValue };

/** An image config as read: the fields strata relies on are checked, the rest kept as is. */
export interface SourceConfig {
  readonly [key: string]: JsonValue | undefined;
  readonly architecture?: string;
  readonly os?: string;
  readonly created?: string;
  readonly config?: RuntimeConfig | null;
  readonly rootfs: { readonly type: "layers"; readonly diff_ids: readonly Digest[] };
}

/** One layer of a source image, bottom first. */
export interface SourceLayer {
  /** An uncompressed layer tar in the image's private temp dir; its sha256 is `diffId`. */
  readonly path: string;
  /** sha256 of the uncompressed tar, verified against the config's rootfs.diff_ids. */
  readonly diffId: Digest;
  /** Bytes of the uncompressed tar. */
  readonly size: number;
  /** The member or blob name in the source (`<id>/layer.tar`, `blobs/sha256/<hex>`), for history comments. */
  readonly name: string;
  /**
   * The layer as the source stores it (compressed or not), verified: a destination that takes
   * that compression reuses it as it is (copied from `file`, or mounted in a registry) instead of
   * compressing the layer again under another digest.
   */
  readonly blob?: { readonly digest: Digest; readonly size: number; readonly compression: Compression; readonly file?: string; readonly origin?: BlobOrigin };
}

/** A base image, read and verified, its layers extracted under a private temp dir. */
export interface SourceImage {
  readonly format: SourceFormat;
  /** sha256 of the config bytes. */
  readonly imageId: Digest;
  readonly config: SourceConfig;
  /** The config exactly as stored in the source. */
  readonly configBytes: Buffer;
  readonly layers: readonly SourceLayer[];
  /** Tags from manifest.json, or the image name of an OCI index entry. May be empty. */
  readonly repoTags: readonly string[];
  /** Removes the private temp dir and everything extracted into it. */
  cleanup(): Promise<void>;
}
