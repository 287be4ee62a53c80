/**
 * The seam every content-addressed destination implements: an OCI layout directory
 * (`dest/oci-layout/`) and a registry (`dest/registry/`). A writer asks `has` before it produces a
 * blob, streams the blobs it must produce through `openBlob` (the digest is known only after the
 * last byte), puts the small ones (config) whole, and ends with `putManifest`, which points the
 * tags at the manifest only once every blob it names is confirmed. docker-archive streams are not
 * blob stores: they need every byte, in order (`dest/docker-archive/`).
 */
import type { ByteOutput } from "./byte-output.js";
import type { Digest } from "../digest.js";

/** What names a blob: its digest covers exactly the bytes stored (compressed, for a compressed layer). */
export interface Descriptor {
  readonly mediaType: string;
  readonly digest: Digest;
  readonly size: number;
  readonly annotations?: Readonly<Record<string, string>>;
}

/** Where a blob may already live, for a cross-repository mount (a base image pulled from a registry). */
export interface BlobOrigin {
  /** `host[:port]`, as in a docker:// reference. */
  readonly registry: string;
  /** Repository path on that registry, e.g. `library/alpine`. */
  readonly repository: string;
}

export interface BlobStore {
  /** For messages and the summary: `oci:DIR`, `docker://HOST/REPO:TAG`. */
  readonly name: string;
  /**
   * Whether the store holds this blob, with this size. Checks what is cheap: a registry HEAD's
   * Content-Length; a layout file's size (and, where known, that it is the file strata wrote).
   */
  has(blob: Descriptor): Promise<boolean>;
  /** Make the blob present without sending its bytes (cross-repository mount); false when the store cannot. */
  mount(blob: Descriptor, from: BlobOrigin): Promise<boolean>;
  /** Start a blob whose digest is known only after its last byte. */
  openBlob(): Promise<BlobUpload>;
  /** A small blob whose bytes are all at hand (an image config): stored unless present. */
  putBlob(bytes: Uint8Array, mediaType: string): Promise<Descriptor>;
  /**
   * Store the manifest and point every tag at it (an OCI layout: index.json, under a lock; a
   * registry: PUT /v2/REPO/manifests/TAG for each tag, or by digest when there is none). Called
   * last, only after every blob the manifest names is confirmed.
   */
  putManifest(bytes: Uint8Array, mediaType: string, tags: readonly string[]): Promise<Descriptor>;
  /** Release connections, temp dirs; after a failure, whatever partial uploads it can cancel. */
  close(): Promise<void>;
}

/** A blob being written. `write` resolves when the bytes may be reused (backpressure). */
export interface BlobUpload extends ByteOutput {
  /**
   * The caller hashed the bytes as it wrote them: the store completes the blob under `digest`
   * (a layout renames its temp file; a registry sends PUT ?digest=, and the registry checks it).
   */
  commit(digest: Digest, size: number): Promise<void>;
  /** Throw the partial blob away (temp file removed, upload session cancelled). */
  abort(): Promise<void>;
}
