/**
 * Write one image as a docker-archive: layers through the worker pool and the ordered merger,
 * then the image config and manifest.json, through an optional compression stage, into a sink.
 * On any failure the sink is aborted (a file output is removed), spool files are removed, and
 * the error is re-thrown.
 */
import fs from "node:fs";
import os from "node:os";
import { asDigest, sha256Hex, type Digest } from "../digest.js";
import { toStrataError } from "../errors.js";
import { WorkerPool } from "../pool/pool.js";
import type { LayerDigest, LayerTask } from "../pool/protocol.js";
import type { ByteOutput, Sink } from "./byte-output.js";
import type { Descriptor } from "./oci-layout.js";
import type { Codec } from "./codecs.js";
import { CompressStage } from "./compress-stage.js";
import { DockerArchiveWriter, layerMemberName } from "./docker-archive.js";
import { imageConfigBytes, manifestBytes } from "./image-config.js";
import { mergeLayers } from "./merger.js";
import { makeTempDir } from "../temp-dir.js";
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

/** Every event and field is documented in docs/events.md (and a test checks that list). */
export type ProgressEvent =
  /** The plan is made (buildImage): the image's name, its layer count and uncompressed size as planned. */
  | { readonly type: "plan"; readonly repoTag: string; readonly layers: number; readonly estimatedBytes: number }
  | { readonly type: "start"; readonly layers: number }
  | { readonly type: "layer"; readonly index: number; readonly layers: number; readonly diffId: Digest; readonly size: number }
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
  readonly layers: readonly (LayerDigest & { readonly paths: readonly string[]; readonly blob?: Descriptor })[];
  /** The OCI manifest, for the OCI formats. */
  readonly manifest?: Descriptor;
  readonly repoTags: readonly string[];
  /** Bytes written to the sink (compressed size when compressing). */
  readonly bytes: number;
}

/**
 * Memory for layers in flight: rings of 8 MiB, two per worker plus one. Measured on a 1 GB
 * closure: larger rings did not make builds faster, they only spool less.
 */
const RING_SLOTS = 8;

export async function writeDockerArchive(spec: ImageSpec, sink: Sink, opts: WriteOptions): Promise<ImageResult> {
  let tmp: string;
  try {
    tmp = await makeTempDir(opts.tmpDir, "strata-");
  } catch (err) {
    await sink.abort().catch(() => undefined);
    throw err;
  }
  const pool = new WorkerPool(opts.workers);
  let stage: CompressStage | undefined;
  try {
    let out: ByteOutput = sink;
    if (opts.compress !== "none") {
      stage = new CompressStage(sink, (c, l, b, n) => pool.compress(c, l, b, n), opts.compress, opts.level, 2 * opts.workers + 1);
      out = stage;
    }
    const archive = new DockerArchiveWriter(out, spec.mtime);
    const emit = opts.onProgress ?? (() => undefined);
    emit({ type: "start", layers: spec.layers.length });
    const digests = await mergeLayers(spec.layers.map((l) => ({ task: l.task, estimate: l.estimate ?? 0 })), pool, archive, {
      ringSlots: RING_SLOTS,
      rings: 2 * opts.workers + 1,
      workers: opts.workers,
      mainMayHash: opts.workers < os.availableParallelism(),
      takeOverHash: opts.compress === "none",
      longAhead: opts.compress === "none",
      spoolDir: tmp,
      signal: opts.signal,
      memberName: layerMemberName,
      onLayer: (index, d) => emit({ type: "layer", index, layers: spec.layers.length, diffId: d.diffId as Digest, size: d.size }),
      onBytes: (bytes) => emit({ type: "bytes", bytes }),
    });
    const imageId = await finishArchive(archive, spec, digests);
    await stage?.finish();
    opts.signal?.throwIfAborted();
    await sink.commit();
    emit({ type: "done", imageId, bytes: sink.bytesWritten });
    return { imageId, layers: digests.map((d, i) => ({ ...d, paths: spec.layers[i]!.paths })), repoTags: spec.repoTags, bytes: sink.bytesWritten };
  } catch (err) {
    stage?.discard();
    await sink.abort().catch(() => undefined);
    throw toStrataError(err);
  } finally {
    await pool.destroy().catch(() => undefined);
    await fs.promises.rm(tmp, { recursive: true, force: true });
  }
}

/**
 * The end of a docker-archive, after its layers: the image config (its digest is the image ID,
 * returned), manifest.json, and the end blocks.
 */
export async function finishArchive(archive: DockerArchiveWriter, spec: ImageSpec, digests: readonly LayerDigest[]): Promise<Digest> {
  const config = imageConfigBytes({
    created: spec.created,
    architecture: spec.architecture,
    config: spec.config,
    layers: spec.layers.map((l, i) => ({ diffId: digests[i]!.diffId as Digest, paths: l.paths })),
  });
  const configHex = sha256Hex(config);
  const configName = `${configHex}.json`;
  await archive.member(configName, config);
  await archive.member("manifest.json", manifestBytes(configName, spec.repoTags, spec.layers.map((_, i) => layerMemberName(i))));
  await archive.finish();
  return asDigest(configHex);
}
