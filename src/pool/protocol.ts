/**
 * The typed protocol between the main thread and the piscina workers.
 *
 * A layer task streams its tar back over its own MessagePort, chunk by chunk, while the worker
 * hashes it; the main thread's merger forwards the chunks of the head layer (the next one in plan
 * order) to the output as they come. Every layer's size is known before its first byte (planning
 * reads only metadata), so nothing waits for a digest: the outer archive names layers by position
 * and the digests go into the image config, written after the last layer.
 *
 * Flow control uses a small shared Int32Array per layer:
 * - `CONSUMED` counts chunks the main thread has written out;
 * - `HEAD` is 1 once the layer is the head of the output;
 * - `ABORT` is 1 when the build is cancelled.
 * A worker keeps at most `window` chunks in flight. When the window is full it blocks (head layer:
 * the output is the bottleneck, waiting is right) or, for a layer that is not the head yet, spools
 * further chunks to a temp file instead, so it never idles and main-thread memory stays bounded.
 * When a spooling layer becomes the head, the worker hands over the spool file and goes back to
 * streaming chunks.
 */
import type { MessagePort } from "node:worker_threads";
import type { LayerOwnership } from "../layer/store-layer.js";
import type { StrataErrorWire } from "../errors.js";

export const CTL_CONSUMED = 0;
export const CTL_HEAD = 1;
export const CTL_ABORT = 2;
export const CTL_LENGTH = 3;

/** What the main thread tells a layer task about its output channel. */
export interface ChannelSpec {
  readonly port: MessagePort;
  /** Int32Array view over a SharedArrayBuffer of CTL_LENGTH slots. */
  readonly control: SharedArrayBuffer;
  /** Chunks in flight allowed before spooling (or blocking, for the head). */
  readonly window: number;
  /** Temp file to spool to, if the window fills before the layer is the head. */
  readonly spoolPath: string;
}

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
export interface CustomisationLayerTask {
  readonly kind: "customisation";
  readonly contents: readonly string[];
  readonly fsRoot: string;
  readonly mtime: number;
}

export type LayerTask = StoreLayerTask | FileLayerTask | CustomisationLayerTask;

/** The result of a layer task: the digest covers exactly the uncompressed layer tar (its diff_id). */
export interface LayerDigest {
  /** `sha256:<hex>` of the uncompressed layer tar. */
  readonly diffId: string;
  /** Size of the uncompressed layer tar in bytes. */
  readonly size: number;
}

export type LayerMessage =
  | { readonly t: "size"; readonly size: number }
  | { readonly t: "data"; readonly buf: ArrayBuffer; readonly length: number }
  | { readonly t: "spool"; readonly path: string; readonly length: number }
  | { readonly t: "end"; readonly digest: LayerDigest }
  | { readonly t: "error"; readonly error: StrataErrorWire };

/** A block of the outer archive to compress; the result is one self-contained gzip member / zstd frame. */
export interface CompressTask {
  readonly codec: "gzip" | "zstd";
  readonly level: number;
  readonly data: ArrayBuffer;
  readonly length: number;
}
