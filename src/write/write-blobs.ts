/**
 * An image into blob stores (OCI layout directories, registries), one or several at once: each
 * layer is read, tarred and compressed once, and its blob streamed to every store that lacks it.
 *
 * A layer whose blob is known before it runs (a cache hit: `ImageLayer.known`; a base image's
 * original blob) is first asked for: a store that has it, or can mount it from where it came
 * from, needs nothing. A layer every store holds is not walked, read, hashed or compressed; the
 * config and manifest name it by the known digests. Other layers run in lanes (each with its own
 * ring from the worker pool), the lane compressing block by block on the compression pool (so
 * one huge layer still uses every core) and hashing the stored bytes as they go out. Layers have
 * no order to keep here: every lane takes the next one.
 *
 * The manifest is put last, and only after every blob it names is confirmed by every store.
 */
import path from "node:path";
import fs from "node:fs";
import { asDigest, sha256, type Digest } from "../digest.js";
import { StrataError } from "../errors.js";
import type { BlobStore, BlobUpload, Descriptor } from "../dest/blob-store.js";
import type { ByteOutput } from "../dest/byte-output.js";
import { specConfigBytes } from "../image/image-config.js";
import type { ImageLayer, ImageResult, ImageSpec, KnownBlob } from "../image/image-spec.js";
import { layerMediaType, MEDIA_TYPES, type LayerCompression, type ManifestFormat } from "../image/media-types.js";
import { CHUNK_SIZE } from "../layer/chunked-output.js";
import { RING_SLOTS } from "../pool/protocol.js";
import { copyFileBytes } from "../dest/copy-file.js";
import { codecImpl, type Codec } from "./codecs.js";
import { CompressBlocks, CompressStage } from "./compress-stage.js";
import { drainLayer } from "./drain-layer.js";
import { layersInFlight, runWrite, type RunOptions, type WriteRun } from "./run-write.js";
import { mapLimit } from "./map-limit.js";
import { makeTempDir } from "../temp-dir.js";
import { ANNOTATIONS } from "./registry-cache.js";

/** A store and the tags its manifest gets there. */
export interface StoreTarget {
  readonly store: BlobStore;
  readonly tags: readonly string[];
}

export interface BlobWriteOptions extends RunOptions {
  readonly layerCompress: LayerCompression;
  readonly level: number;
  /** OCI (default) or Docker v2 schema 2 manifests and media types. */
  readonly manifestFormat?: ManifestFormat;
  /** Directory for temp files (a layout's store keeps its own). Default: the OS temp dir. */
  readonly tmpDir?: string | undefined;
  /** Build every layer, even one every store holds, and fail where the bytes differ from what was known. */
  readonly verify?: boolean;
  /** Questions to the stores at once (HEAD, mount). Default 8. */
  readonly probes?: number;
  /** A layer was produced: what a cache records (its key, diffId and the blob). */
  readonly onLayerMade?: (layer: ImageLayer, made: MadeLayer) => void;
}

export interface MadeLayer {
  readonly diffId: Digest;
  readonly size: number;
  readonly blob: KnownBlob;
}

/** What happened to a layer, for progress and the summary. */
export type LayerOutcome = "written" | "present" | "mounted";


export async function writeToBlobStores(spec: ImageSpec, targets: readonly StoreTarget[], opts: BlobWriteOptions): Promise<ImageResult> {
  if (targets.length === 0) throw new StrataError("E_INTERNAL", "no destination to write to", "this is a bug in strata; please report it");
  const compression = opts.layerCompress;
  const format = opts.manifestFormat ?? "oci";
  const impl = codecImpl(compression);
  const lanes = Math.min(spec.layers.length, layersInFlight(opts.workers));
  // One pair per lane being filled, and two per worker in flight: shared, so that memory does not
  // grow with the lanes (each lane having its own pairs took 815 MB on a 1 GB closure).
  let blocks: CompressBlocks | undefined;
  return runWrite(spec, opts, async (run) => {
    blocks = compression === "none" ? undefined : new CompressBlocks(compression, lanes + 2 * opts.workers);
    run.signal.addEventListener("abort", () => blocks?.fail(run.signal.reason), { once: true });
    const results: LayerResult[] = new Array(spec.layers.length);
    const report = (i: number, r: LayerResult): void => {
      results[i] = r;
      run.emit({ type: "layer", index: i, layers: spec.layers.length, diffId: r.diffId, size: r.size, blob: r.blob, outcome: r.outcome });
    };

    // 1. What the stores already hold: a layer every store has (or mounts) needs no work at all.
    const lacking = await mapLimit(spec.layers, opts.probes ?? 8, async (layer, i) => {
      const known = knownBlob(layer, compression, opts.level, impl);
      if (known === undefined || layer.known === undefined) return targets;
      const missing: StoreTarget[] = [];
      let mounted = false;
      for (const t of targets) {
        run.signal.throwIfAborted();
        if (await t.store.has(known.descriptor)) continue;
        if (known.origin !== undefined && (await t.store.mount(known.descriptor, known.origin))) {
          mounted = true;
          continue;
        }
        missing.push(t);
      }
      if (missing.length === 0 && opts.verify !== true) {
        report(i, { diffId: layer.known.diffId, size: layer.known.size, blob: withAnnotations(known, layer, layer.known.size, format), outcome: mounted ? "mounted" : "present" });
      }
      return missing;
    });

    // 2. The layers still needed, in lanes.
    const todo = spec.layers.map((_, i) => i).filter((i) => results[i] === undefined);
    let next = 0;
    // Lanes write as they go (every layer is a head), so nothing spools; the dir is there for the
    // protocol, and removed even on a second Ctrl-C (makeTempDir registers it).
    const spoolDir = await makeTempDir(opts.tmpDir, "strata-spool-");
    try {
      const lane = async (): Promise<void> => {
        const ring = new SharedArrayBuffer(RING_SLOTS * CHUNK_SIZE);
        while (next < todo.length) {
          run.signal.throwIfAborted();
          const i = todo[next++]!;
          const layer = spec.layers[i]!;
          const made = await produceLayer(run, layer, i, lacking[i]!, ring, path.join(spoolDir, `layer-${i}.spool`), { compression, level: opts.level, impl, blocks });
          const known = knownBlob(layer, compression, opts.level, impl);
          // A base image's own blob that could not be copied (its source kept no file) is made
          // again by strata's compressor: other bytes, the same layer. Only the diff_id must agree.
          const blobDiffers = known !== undefined && known.original !== true && made.blob.descriptor.digest !== known.descriptor.digest;
          if (known !== undefined && layer.known !== undefined && (blobDiffers || made.diffId !== layer.known.diffId)) {
            const message = `layer ${i + 1} (${layer.paths[0] ?? "?"}) built to ${made.diffId} (blob ${made.blob.descriptor.digest}), but the cache said ${layer.known.diffId} (blob ${known.descriptor.digest})`;
            // The bytes just built are the truth; without --verify, they are used and the cache
            // corrected, unless a store skipped the layer on the cache's word (its blob is the
            // other one, and the manifest would name a blob it lacks).
            if (opts.verify === true || lacking[i]!.length < targets.length) throw new StrataError("E_CHECKSUM", message, "a store path changed under the same name, or the cache is wrong: run `strata cache clear` and build again");
            run.emit({ type: "warning", message: `${message}; using the layer as built` });
          }
          opts.onLayerMade?.(layer, made);
          report(i, { diffId: made.diffId, size: made.size, blob: withAnnotations(made.blob, layer, made.size, format), outcome: "written" });
        }
      };
      const settled = await Promise.allSettled(Array.from({ length: Math.min(lanes, todo.length) }, lane));
      const failed = settled.find((s): s is PromiseRejectedResult => s.status === "rejected");
      if (failed !== undefined) throw failed.reason;
    } finally {
      fs.rmSync(spoolDir, { recursive: true, force: true });
    }

    // 3. The config, then the manifest: every blob it names is in every store by now.
    const configBytes = specConfigBytes(spec, results.map((l) => l.diffId));
    const configType = format === "docker" ? MEDIA_TYPES.docker.config : MEDIA_TYPES.config;
    const configs = await Promise.all(targets.map((t) => t.store.putBlob(configBytes, configType)));
    const config = configs[0]!;
    const manifestType = format === "docker" ? MEDIA_TYPES.docker.manifest : MEDIA_TYPES.manifest;
    const manifestBytes = Buffer.from(JSON.stringify({
      schemaVersion: 2,
      mediaType: manifestType,
      config: { mediaType: configType, digest: config.digest, size: config.size },
      layers: results.map((l) => l.blob),
    }));
    const manifests = await Promise.all(targets.map((t) => t.store.putManifest(manifestBytes, manifestType, t.tags)));
    const written = results.reduce((n, l) => n + (l.outcome === "written" ? l.blob.size : 0), 0);
    return {
      imageId: config.digest,
      manifest: manifests[0]!,
      config,
      layers: results.map((l, i) => ({ diffId: l.diffId, size: l.size, paths: spec.layers[i]!.paths, blob: l.blob, outcome: l.outcome })),
      repoTags: spec.repoTags,
      bytes: written + configBytes.length + manifestBytes.length,
    };
  }, async () => {
    blocks?.fail(new StrataError("E_ABORTED", "the build was cancelled", "nothing to do"));
    await Promise.all(targets.map((t) => t.store.close().catch(() => undefined)));
  });
}

interface LayerResult {
  readonly diffId: Digest;
  readonly size: number;
  readonly blob: Descriptor;
  readonly outcome: LayerOutcome;
}

/**
 * The blob a layer is known to have in the compression asked for: a cache entry made with the
 * same codec, level and implementation (so a full build would write exactly that blob), or a base
 * image's original blob in the same compression (reused as it is, never recompressed).
 */
export function knownBlob(layer: ImageLayer, compression: LayerCompression, level: number, impl: string): KnownBlob | undefined {
  return layer.known?.blobs.find((b) => b.compression === compression && (b.original === true || (b.level === level && b.impl === impl)));
}

/**
 * The layer descriptor of the manifest, with what makes the layer findable again by another
 * builder (registry-cache.ts, docs/cache.md): its key, size, and what made the blob. A base
 * image's original blob keeps no "made by": strata did not make it.
 */
function withAnnotations(blob: KnownBlob, layer: ImageLayer, size: number, format: ManifestFormat): Descriptor {
  const d = blob.descriptor;
  const base = { mediaType: layerMediaType(format, blobCompression(d.mediaType)), digest: d.digest, size: d.size };
  if (format === "docker" || layer.key === undefined || blob.original === true) return base;
  return { ...base, annotations: { [ANNOTATIONS.key]: layer.key, [ANNOTATIONS.size]: String(size), [ANNOTATIONS.compression]: `${blob.compression} ${blob.level ?? 0} ${blob.impl ?? ""}` } };
}

function blobCompression(mediaType: string): LayerCompression {
  return mediaType.endsWith("+zstd") || mediaType.endsWith(".zstd") ? "zstd" : mediaType.endsWith("gzip") ? "gzip" : "none";
}

interface Codecs {
  readonly compression: LayerCompression;
  readonly level: number;
  readonly impl: string;
  readonly blocks: CompressBlocks | undefined;
}

/** Run (or copy) one layer into the uploads of the stores that lack it; the blob's digest comes out. */
async function produceLayer(run: WriteRun, layer: ImageLayer, index: number, targets: readonly StoreTarget[], ring: SharedArrayBuffer, spoolPath: string, codecs: Codecs): Promise<MadeLayer> {
  const uploads: BlobUpload[] = [];
  try {
    for (const t of targets) uploads.push(await t.store.openBlob());
    const original = knownBlob(layer, codecs.compression, codecs.level, codecs.impl);
    if (original?.file !== undefined && layer.known !== undefined) {
      // A base image's blob, stored in the compression asked for: copied as it is.
      const blob = await copyBlobFile(original.file, original.descriptor, uploads, run);
      for (const u of uploads) await u.commit(blob.digest, blob.size);
      return { diffId: layer.known.diffId, size: layer.known.size, blob: original };
    }
    const out = new BlobProducer(uploads, codecs, run);
    const running = run.pool.runLayer(layer.task, ring, spoolPath, false);
    const stop = (): void => running.stream.abort();
    run.signal.addEventListener("abort", stop, { once: true });
    try {
      running.stream.makeHead(); // every lane writes as it goes: nothing waits its turn
      const digest = await drainLayer(`layer ${index + 1}`, running, out, (bytes) => run.emit({ type: "bytes", bytes }));
      const blob = await out.close(digest.diffId as Digest);
      for (const u of uploads) await u.commit(blob.digest, blob.size);
      return { diffId: digest.diffId as Digest, size: digest.size, blob: { descriptor: blob, compression: codecs.compression, level: codecs.level, impl: codecs.impl } };
    } catch (err) {
      out.discard();
      run.fail(err);
      await running.done.catch(() => undefined);
      throw err;
    } finally {
      run.signal.removeEventListener("abort", stop);
      running.stream.close();
    }
  } catch (err) {
    await Promise.all(uploads.map((u) => u.abort().catch(() => undefined)));
    throw err;
  }
}

/** A layer's bytes on their way to the stores: optionally compressed, hashed, written to every upload. */
class BlobProducer {
  private readonly hash = sha256();
  private stored = 0;
  private readonly stage: CompressStage | undefined;
  private readonly out: ByteOutput;

  constructor(private readonly uploads: readonly BlobUpload[], private readonly codecs: Codecs, run: WriteRun) {
    const stored: ByteOutput = { write: (bytes) => this.store(bytes) };
    // Two blocks in flight per layer: several layers are written at once, and they share the
    // worker pool and one set of block pairs.
    this.stage = codecs.compression === "none" || codecs.blocks === undefined ? undefined
      : new CompressStage(stored, (c, l, b, n) => run.pool.compress(c, l, b, n), codecs.compression as Codec, codecs.level, 2, codecs.blocks);
    this.out = this.stage ?? stored;
  }

  async begin(): Promise<void> {}

  data(bytes: Uint8Array): Promise<void> {
    return this.out.write(bytes);
  }

  async end(): Promise<void> {}

  discard(): void {
    this.stage?.discard();
  }

  private async store(bytes: Uint8Array): Promise<void> {
    this.hash.update(bytes);
    this.stored += bytes.length;
    await Promise.all(this.uploads.map((u) => u.write(bytes)));
  }

  async close(diffId: Digest): Promise<Descriptor> {
    await this.stage?.finish();
    const digest = asDigest(this.hash.hex());
    if (this.codecs.compression === "none" && digest !== diffId) {
      throw new StrataError("E_INTERNAL", `layer blob ${digest} differs from its diff_id ${diffId}`, "this is a bug in strata; please report it");
    }
    return { mediaType: layerMediaType("oci", this.codecs.compression), digest, size: this.stored };
  }
}

/** Stream a blob file into the uploads, checking that it still is the blob it is named for. */
async function copyBlobFile(file: string, blob: Descriptor, uploads: readonly BlobUpload[], run: WriteRun): Promise<Descriptor> {
  const hash = sha256();
  const changed = (): StrataError => new StrataError("E_CHECKSUM", `the base image's blob ${file} is no longer ${blob.digest} (${blob.size} bytes)`, "was the base image changed while strata ran? build again");
  await copyFileBytes(file, blob.size, async (bytes) => {
    run.signal.throwIfAborted();
    hash.update(bytes);
    await Promise.all(uploads.map((u) => u.write(bytes)));
    run.emit({ type: "bytes", bytes: bytes.length });
  }, changed);
  if (asDigest(hash.hex()) !== blob.digest) throw changed();
  return blob;
}
