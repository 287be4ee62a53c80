/**
 * One entry point for every output format:
 * - `docker-archive` (default): what nixpkgs' stream script writes; `docker load`, `podman load`,
 *   `skopeo copy docker-archive:` read it; streamed, or written in place into a new file;
 * - `oci`: an OCI image layout directory, a blob store (dest/oci-layout/), updated in place;
 * - `oci-archive`: that layout as one tar stream;
 * - `docker`: the dual layout `docker save` writes since Docker 25 (OCI layout + manifest.json).
 * The archive formats built from a layout first write it to the temp dir: their member names are
 * blob digests, which exist only once the blobs do.
 */
import fs from "node:fs";
import { toStrataError } from "../errors.js";
import type { ImageResult, ImageSpec } from "../image/image-spec.js";
import type { ResolvedOutputOptions } from "../options.js";
import type { Sink } from "../dest/byte-output.js";
import { writeDockerArchive } from "../dest/docker-archive/write-stream.js";
import { writePositionalDockerArchive, type RandomAccessSink } from "../dest/docker-archive/write-in-place.js";
import { tarLayout } from "../dest/oci-layout/layout-archive.js";
import { LayoutStore, type FileStamps } from "../dest/oci-layout/layout-store.js";
import { RegistryConnections } from "../dest/registry/connect.js";
import { openSink } from "../dest/open-sink.js";
import { makeTempDir } from "../temp-dir.js";
import { WorkerPool } from "../pool/pool.js";
import { CompressStage } from "./compress-stage.js";
import { layersInFlight } from "./run-write.js";
import { writeToBlobStores, type BlobWriteOptions, type StoreTarget } from "./write-blobs.js";
import { withLayerCache } from "./use-cache.js";
import { learnFromRegistries } from "./registry-cache.js";

export type OutputFormat = "docker-archive" | "oci" | "oci-archive" | "docker";
export const OUTPUT_FORMATS: readonly OutputFormat[] = ["docker-archive", "oci", "oci-archive", "docker"];

export async function writeImage(spec: ImageSpec, opts: ResolvedOutputOptions): Promise<ImageResult> {
  if (opts.format === "docker-archive") {
    const sink = await openSink(opts.output);
    // A new output file, uncompressed: written in place, every layer at its offset, in parallel.
    if (opts.compress === "none" && sink.randomAccess !== undefined) return writePositionalDockerArchive(spec, sink as RandomAccessSink, opts);
    return writeDockerArchive(spec, sink, opts);
  }
  const cached = await withLayerCache(spec, opts);
  const blobOpts = { ...opts, layerCompress: opts.layerCompress, level: opts.layerLevel, onLayerMade: cached.onLayerMade };
  try {
    if (opts.stores.length > 0) return await writeToStores(cached.spec, opts, blobOpts, cached.stamps);
    if (opts.format === "oci") {
      const store = LayoutStore.open(opts.output as string, cached.stamps);
      try {
        return await writeToBlobStores(cached.spec, [{ store, tags: spec.repoTags }], blobOpts);
      } finally {
        await store.close();
      }
    }
    return await writeLayoutArchive(cached.spec, opts, blobOpts);
  } finally {
    cached.close();
  }
}

/** Registries and layouts, all at once: each layer built once, its blob sent to every store that lacks it. */
async function writeToStores(spec: ImageSpec, opts: ResolvedOutputOptions, blobOpts: BlobWriteOptions, stamps: FileStamps | undefined): Promise<ImageResult> {
  const registries = opts.stores.some((d) => d.kind === "registry") || opts.cacheFrom.length > 0 ? new RegistryConnections(opts.registry, opts.tmpDir) : undefined;
  const targets: StoreTarget[] = [];
  try {
    for (const d of opts.stores) {
      if (d.kind === "oci") {
        targets.push({ store: LayoutStore.open(d.dir, stamps), tags: d.ref === undefined ? spec.repoTags : [`:${d.ref}`] });
      } else {
        const store = registries!.store(d.reference);
        targets.push({ store, tags: store.ref.tag === undefined ? [] : [store.ref.tag] });
      }
    }
    // The registry as the shared cache: the image now at each destination tag, and --cache-from.
    const consulted = [...opts.stores.filter((d) => d.kind === "registry").map((d) => d.reference), ...opts.cacheFrom];
    const known = registries === undefined ? spec : await learnFromRegistries(spec, consulted, registries, (reference, err) => {
      if (opts.cacheFrom.includes(reference)) opts.onProgress?.({ type: "warning", message: `--cache-from ${reference}: ${(err as Error).message}; its layers are not reused` });
    });
    const result = await writeToBlobStores(known, targets, { ...blobOpts, probes: opts.registry.jobs ?? 8 });
    // Requests sent again (408, 429, 5xx, dropped connections): a warning, so that --json counts them.
    const retries = registries?.retries ?? 0;
    if (retries > 0) opts.onProgress?.({ type: "warning", message: `${retries} registry request${retries === 1 ? "" : "s"} retried after a 408, 429 or 5xx answer or a dropped connection` });
    return result;
  } finally {
    await Promise.all(targets.map((t) => t.store.close().catch(() => undefined)));
    registries?.close();
  }
}

async function writeLayoutArchive(spec: ImageSpec, opts: ResolvedOutputOptions, blobOpts: BlobWriteOptions): Promise<ImageResult> {
  const tmp = await makeTempDir(opts.tmpDir, "strata-layout-");
  try {
    const store = LayoutStore.open(tmp);
    let result: ImageResult;
    try {
      result = await writeToBlobStores(spec, [{ store, tags: spec.repoTags }], { ...blobOpts, onProgress: (e) => (e.type === "done" ? undefined : opts.onProgress?.(e)) });
    } finally {
      await store.close();
    }
    const sink = await openSink(opts.output);
    const bytes = await tarToSink(tmp, sink, spec.mtime, opts, opts.format === "docker" ? result : undefined);
    opts.onProgress?.({ type: "done", imageId: result.imageId, bytes });
    return { ...result, bytes };
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

async function tarToSink(dir: string, sink: Sink, mtime: number, opts: ResolvedOutputOptions, docker: ImageResult | undefined): Promise<number> {
  const pool = opts.compress === "none" ? undefined : new WorkerPool(opts.workers);
  try {
    const stage = pool === undefined ? undefined : new CompressStage(sink, (c, l, b, n) => pool.compress(c, l, b, n), opts.compress as "gzip", opts.level, layersInFlight(opts.workers));
    await tarLayout(dir, stage ?? sink, mtime, docker);
    await stage?.finish();
    opts.signal?.throwIfAborted();
    await sink.commit();
    return sink.bytesWritten;
  } catch (err) {
    await sink.abort().catch(() => undefined);
    throw toStrataError(err);
  } finally {
    await pool?.destroy();
  }
}
