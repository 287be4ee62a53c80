/**
 * The OCI image layout (image-spec image-layout.md): `oci-layout`, `index.json`, and content-
 * addressed blobs under `blobs/sha256/`. Layers are written blob by blob as workers finish them,
 * several at once, each under a temp name renamed to its digest; a blob already present is not
 * written again; an existing layout is updated (index.json keeps its other images).
 *
 * Per-layer compression (`none`, `gzip`, `zstd`) is done block by block on the compression pool,
 * so one huge layer still uses every core; the layer's diff_id (uncompressed) is computed by its
 * worker and the blob digest (compressed) here, in the same pass.
 */
import fs from "node:fs";
import path from "node:path";
import { asDigest, sha256, sha256Hex, type Digest } from "../digest.js";
import { StrataError, toStrataError } from "../errors.js";
import { CHUNK_SIZE } from "../layer/chunked-output.js";
import { WorkerPool } from "../pool/pool.js";
import type { LayerDigest } from "../pool/protocol.js";
import type { ByteOutput, Sink } from "./byte-output.js";
import type { Codec } from "./codecs.js";
import { CompressBlocks, CompressStage } from "./compress-stage.js";
import { drainLayer, type LayerOutput } from "./drain-layer.js";
import { imageConfigBytes } from "./image-config.js";
import { fileSink } from "./sink.js";
import { removeOnExit } from "../exit-cleanup.js";
import type { ImageSpec, ProgressEvent } from "./write-image.js";

export type LayerCompression = Codec | "none";

export const MEDIA_TYPES = {
  index: "application/vnd.oci.image.index.v1+json",
  manifest: "application/vnd.oci.image.manifest.v1+json",
  config: "application/vnd.oci.image.config.v1+json",
  layer: { none: "application/vnd.oci.image.layer.v1.tar", gzip: "application/vnd.oci.image.layer.v1.tar+gzip", zstd: "application/vnd.oci.image.layer.v1.tar+zstd" },
} as const;

export interface Descriptor {
  readonly mediaType: string;
  readonly digest: Digest;
  readonly size: number;
  readonly annotations?: Record<string, string>;
}

export interface OciLayerResult {
  /** sha256 of the uncompressed layer tar. */
  readonly diffId: Digest;
  /** Size of the uncompressed layer tar. */
  readonly size: number;
  /** The blob: digest and size of the bytes stored (compressed or not), and its media type. */
  readonly blob: Descriptor;
  readonly paths: readonly string[];
}

export interface OciResult {
  readonly imageId: Digest;
  readonly manifest: Descriptor;
  readonly config: Descriptor;
  readonly layers: readonly OciLayerResult[];
  readonly repoTags: readonly string[];
}

export interface OciWriteOptions {
  readonly workers: number;
  readonly layerCompress: LayerCompression;
  readonly level: number;
  readonly signal?: AbortSignal | undefined;
  readonly onProgress?: ((event: ProgressEvent) => void) | undefined;
}

/** Layers written at once: each holds a ring (8 MiB) and up to 2 compression blocks in flight. */
const RING_SLOTS = 8;

export async function writeOciLayout(spec: ImageSpec, dir: string, opts: OciWriteOptions): Promise<OciResult> {
  prepareLayout(dir);
  const blobs = path.join(dir, "blobs", "sha256");
  const tmp = fs.mkdtempSync(path.join(dir, ".strata-"));
  const forgetTmp = removeOnExit(tmp);
  const pool = new WorkerPool(opts.workers);
  const lanes = Math.min(spec.layers.length, 2 * opts.workers + 1);
  // One pair per lane being filled, and two per worker in flight: shared, so that memory does not
  // grow with the lanes (each lane having its own pairs took 815 MB on a 1 GB closure).
  const blocks = opts.layerCompress === "none" ? undefined : new CompressBlocks(opts.layerCompress, lanes + 2 * opts.workers);
  const abort = new AbortController();
  abort.signal.addEventListener("abort", () => blocks?.fail(abort.signal.reason), { once: true });
  const onAbort = (): void => abort.abort(opts.signal?.reason);
  opts.signal?.addEventListener("abort", onAbort, { once: true });
  const emit = opts.onProgress ?? (() => undefined);
  try {
    emit({ type: "start", layers: spec.layers.length });
    const results: OciLayerResult[] = new Array(spec.layers.length);
    let next = 0;
    let done = 0;
    // A fixed number of lanes, each with its own ring, pull layers in plan order.
    const lane = async (): Promise<void> => {
      const ring = new SharedArrayBuffer(RING_SLOTS * CHUNK_SIZE);
      while (next < spec.layers.length) {
        abort.signal.throwIfAborted();
        const i = next++;
        const layer = spec.layers[i]!;
        const running = pool.runLayer(layer.task, ring, path.join(tmp, `layer-${i}.spool`), false);
        const stop = (): void => running.stream.abort();
        abort.signal.addEventListener("abort", stop, { once: true });
        try {
          running.stream.makeHead(); // every lane writes as it goes: nothing waits its turn
          const blob = await BlobWriter.open(tmp, blobs, opts.layerCompress, opts.level, pool, blocks);
          let stored: Descriptor;
          let digest: LayerDigest;
          try {
            digest = await drainLayer(`layer ${i + 1}`, running, blob, (bytes) => emit({ type: "bytes", bytes }));
            stored = await blob.close(digest.diffId as Digest);
          } catch (err) {
            blob.discard();
            throw err;
          }
          results[i] = { diffId: digest.diffId as Digest, size: digest.size, blob: stored, paths: layer.paths };
          emit({ type: "layer", index: done++, layers: spec.layers.length, diffId: digest.diffId as Digest, size: digest.size });
        } catch (err) {
          abort.abort(err);
          await running.done.catch(() => undefined);
          throw err;
        } finally {
          abort.signal.removeEventListener("abort", stop);
          running.stream.close();
        }
      }
    };
    const settled = await Promise.allSettled(Array.from({ length: lanes }, lane));
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === "rejected");
    if (failed !== undefined) throw failed.reason;

    const configBytes = imageConfigBytes({
      created: spec.created,
      architecture: spec.architecture,
      config: spec.config,
      layers: results.map((l) => ({ diffId: l.diffId, paths: l.paths })),
    });
    const config = writeBlob(blobs, tmp, configBytes, MEDIA_TYPES.config);
    const manifestBytes = Buffer.from(JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.manifest,
      config: { mediaType: config.mediaType, digest: config.digest, size: config.size },
      layers: results.map((l) => l.blob),
    }));
    const manifest = writeBlob(blobs, tmp, manifestBytes, MEDIA_TYPES.manifest);
    updateIndex(dir, tmp, manifest, spec.repoTags);
    emit({ type: "done", imageId: config.digest, bytes: results.reduce((n, l) => n + l.blob.size, 0) + configBytes.length + manifestBytes.length });
    return { imageId: config.digest, manifest, config, layers: results, repoTags: spec.repoTags };
  } catch (err) {
    throw toStrataError(abort.signal.reason ?? err);
  } finally {
    opts.signal?.removeEventListener("abort", onAbort);
    await pool.destroy().catch(() => undefined);
    fs.rmSync(tmp, { recursive: true, force: true });
    forgetTmp();
  }
}

/** A layer blob being written: optionally compressed, hashed, under a temp name until close(). */
class BlobWriter implements LayerOutput {
  private readonly hash = sha256();
  private stored = 0;
  private readonly stage: CompressStage | undefined;
  private readonly out: ByteOutput;

  private constructor(
    private readonly sink: Sink,
    private readonly temp: string,
    private readonly blobs: string,
    private readonly compression: LayerCompression,
    level: number,
    pool: WorkerPool,
    blocks: CompressBlocks | undefined,
  ) {
    const stored: ByteOutput = { write: (bytes) => this.store(bytes) };
    // Two blocks in flight per layer: several layers are written at once, and they share the
    // worker pool and one set of block pairs.
    this.stage = compression === "none" || blocks === undefined ? undefined : new CompressStage(stored, (c, l, b, n) => pool.compress(c, l, b, n), compression, level, 2, blocks);
    this.out = this.stage ?? stored;
  }

  static async open(tmp: string, blobs: string, compression: LayerCompression, level: number, pool: WorkerPool, blocks: CompressBlocks | undefined): Promise<BlobWriter> {
    const temp = path.join(tmp, `blob-${process.hrtime.bigint()}-${Math.random().toString(36).slice(2)}`);
    return new BlobWriter(await fileSink(temp), temp, blobs, compression, level, pool, blocks);
  }

  /** After a failure: give the compression blocks back and close the temp blob (removed with the temp dir). */
  discard(): void {
    this.stage?.discard();
    void this.sink.abort().catch(() => undefined);
  }

  async begin(): Promise<void> {}

  data(bytes: Uint8Array): Promise<void> {
    return this.out.write(bytes);
  }

  async end(): Promise<void> {}

  private async store(bytes: Uint8Array): Promise<void> {
    this.hash.update(bytes);
    this.stored += bytes.length;
    await this.sink.write(bytes);
  }

  /** Finish the blob and move it to blobs/sha256/<digest>, unless that blob exists already. */
  async close(diffId: Digest): Promise<Descriptor> {
    await this.stage?.finish();
    await this.sink.commit();
    const digest = asDigest(this.hash.hex());
    if (this.compression === "none" && digest !== diffId) {
      throw new StrataError("E_INTERNAL", `layer blob ${digest} differs from its diff_id ${diffId}`, "this is a bug in strata; please report it");
    }
    const target = path.join(this.blobs, digest.slice("sha256:".length));
    if (fs.existsSync(target)) fs.rmSync(this.temp, { force: true });
    else fs.renameSync(this.temp, target);
    return { mediaType: MEDIA_TYPES.layer[this.compression], digest, size: this.stored };
  }
}

/** A small blob (config, manifest): written unless present. */
function writeBlob(blobs: string, tmp: string, bytes: Buffer, mediaType: string): Descriptor {
  const hex = sha256Hex(bytes);
  const target = path.join(blobs, hex);
  if (!fs.existsSync(target)) {
    const temp = path.join(tmp, `small-${hex}`);
    fs.writeFileSync(temp, bytes, { mode: 0o644 });
    fs.renameSync(temp, target);
  }
  return { mediaType, digest: asDigest(hex), size: bytes.length };
}

/** A new or existing layout directory, ready for blobs. */
function prepareLayout(dir: string): void {
  let entries: string[];
  try {
    entries = fs.readdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") {
      throw new StrataError("E_WRITE", `cannot use ${dir} as an OCI layout: ${(err as Error).message}`, "give a directory path with -o");
    }
    entries = [];
  }
  const isLayout = entries.includes("oci-layout");
  if (!isLayout && entries.length > 0) {
    throw new StrataError("E_WRITE", `${dir} exists and is not an OCI image layout (no oci-layout file)`, "give a new or empty directory, or an existing layout");
  }
  if (isLayout) {
    const version = readJson(path.join(dir, "oci-layout"), "oci-layout") as { imageLayoutVersion?: unknown };
    if (version.imageLayoutVersion !== "1.0.0") {
      throw new StrataError("E_UNSUPPORTED", `${dir}/oci-layout has imageLayoutVersion ${JSON.stringify(version.imageLayoutVersion)}`, "strata writes layouts of version 1.0.0");
    }
  }
  fs.mkdirSync(path.join(dir, "blobs", "sha256"), { recursive: true });
  if (!isLayout) fs.writeFileSync(path.join(dir, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
}

/**
 * index.json with this image under each of its tags: both annotations Docker >= 25 writes
 * (`org.opencontainers.image.ref.name` = the tag, what skopeo's oci:DIR:REF matches;
 * `io.containerd.image.name` = the full reference, what podman and containerd name it by).
 * Other images of an existing layout stay; one with the same ref name is replaced.
 */
function updateIndex(dir: string, tmp: string, manifest: Descriptor, repoTags: readonly string[]): void {
  const file = path.join(dir, "index.json");
  const old = fs.existsSync(file) ? (readJson(file, "index.json") as { manifests?: Descriptor[] }) : {};
  const refs = repoTags.map(splitTag);
  const keep = (old.manifests ?? []).filter((d) => !refs.some((r) => d.annotations?.["org.opencontainers.image.ref.name"] === r.tag && (d.annotations?.["io.containerd.image.name"] ?? r.full) === r.full));
  const added = refs.map((r) => ({ ...manifest, annotations: { "io.containerd.image.name": r.full, "org.opencontainers.image.ref.name": r.tag } }));
  const index = { schemaVersion: 2, mediaType: MEDIA_TYPES.index, manifests: [...keep, ...(added.length > 0 ? added : [manifest])] };
  const temp = path.join(tmp, "index.json");
  fs.writeFileSync(temp, JSON.stringify(index));
  fs.renameSync(temp, file);
}

/** `name:tag` → the tag and the full normalised reference (docker.io/library/name:tag). */
export function splitTag(repoTag: string): { tag: string; full: string } {
  const colon = repoTag.lastIndexOf(":");
  const hasTag = colon > repoTag.lastIndexOf("/");
  const name = hasTag ? repoTag.slice(0, colon) : repoTag;
  const tag = hasTag ? repoTag.slice(colon + 1) : "latest";
  const first = name.split("/")[0]!;
  const hasRegistry = name.includes("/") && (first.includes(".") || first.includes(":") || first === "localhost");
  const full = hasRegistry ? name : name.includes("/") ? `docker.io/${name}` : `docker.io/library/${name}`;
  return { tag, full: `${full}:${tag}` };
}

function readJson(file: string, what: string): unknown {
  try {
    return JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (err) {
    throw new StrataError("E_WRITE", `cannot update the OCI layout: its ${what} (${file}) is unreadable: ${(err as Error).message}`, "fix or remove the layout directory, or write to a new one", { cause: err });
  }
}
