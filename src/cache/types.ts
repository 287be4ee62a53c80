/**
 * What the local layer cache stores: the nouns the build reads back on a hit. Which fields make a
 * layer's key is decided where the key is computed (the build); the cache only maps keys to these.
 */
import type { Digest } from "../digest.js";

export type BlobCompression = "none" | "gzip" | "zstd";

export const BLOB_COMPRESSIONS: readonly BlobCompression[] = ["none", "gzip", "zstd"];

/** One stored form of a layer: which compression (algorithm, level, implementation version string) gave which blob. */
export interface CachedBlob {
  readonly compression: BlobCompression;
  readonly level: number;
  /** The compressor and its version (e.g. "zlib-1.3.1"): another version may give other bytes. */
  readonly impl: string;
  readonly digest: Digest;
  readonly size: number;
}

/** What a layer key maps to: the uncompressed tar's diffId and size, and its known blobs. */
export interface CachedLayer {
  readonly diffId: Digest;
  readonly size: number;
  readonly blobs: readonly CachedBlob[];
}

/** A file strata wrote (an OCI layout blob), to trust it later without re-hashing. */
export interface FileStamp {
  readonly dev: number;
  readonly ino: number;
  readonly size: number;
  readonly mtimeNs: bigint;
}

export interface CacheStats {
  /** The database file. */
  readonly path: string;
  /** False when the cache is disabled (see `problem`); the counts are then 0. */
  readonly usable: boolean;
  /** Why the cache is disabled, as the warning said it. */
  readonly problem?: string;
  readonly layers: number;
  readonly blobs: number;
  readonly files: number;
  /** Bytes of the database file and its write-ahead log. */
  readonly bytes: number;
  /** The least and the most recently used layer. */
  readonly oldest?: Date;
  readonly newest?: Date;
}

export interface PruneOptions {
  /** Remove layers and file stamps not used for this many days (default 30). */
  readonly olderThanDays?: number;
  /** Remove everything; a database that cannot be opened (corrupt, newer schema) is deleted. */
  readonly all?: boolean;
}

export interface PruneResult {
  readonly layers: number;
  readonly files: number;
}

const DIGEST = /^sha256:[0-9a-f]{64}$/;

export function isDigest(value: unknown): value is Digest {
  return typeof value === "string" && DIGEST.test(value);
}

export function isSize(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}
