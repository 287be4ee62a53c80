/**
 * One entry point for every output format:
 * - `docker-archive` (default): what nixpkgs' stream script writes; `docker load`, `podman load`,
 *   `skopeo copy docker-archive:` read it;
 * - `oci`: an OCI image layout directory, written blob by blob, updated in place if it exists;
 * - `oci-archive`: that layout as one tar stream;
 * - `docker`: the dual layout `docker save` writes since Docker 25 (OCI layout + manifest.json).
 * The archive formats built from a layout first write it to the temp dir: their member names are
 * blob digests, which exist only once the blobs do.
 */
import fs from "node:fs";
import { toStrataError } from "../errors.js";
import type { ResolvedOutputOptions } from "../options.js";
import type { Sink } from "../dest/byte-output.js";
import { CompressStage } from "./compress-stage.js";
import { tarLayout } from "../dest/oci-layout/layout-archive.js";
import { writeOciLayout, type LayerCompression } from "../dest/oci-layout/oci-layout.js";
import { openSink } from "../dest/open-sink.js";
import { makeTempDir } from "../temp-dir.js";
import { WorkerPool } from "../pool/pool.js";
import { writeDockerArchive } from "../dest/docker-archive/write-stream.js";
import type { ImageResult, ImageSpec } from "../image/image-spec.js";
import { writePositionalDockerArchive, type RandomAccessSink } from "../dest/docker-archive/write-in-place.js";

export type ImageFormat = "docker-archive" | "oci" | "oci-archive" | "docker";
export const IMAGE_FORMATS: readonly ImageFormat[] = ["docker-archive", "oci", "oci-archive", "docker"];

export async function writeImage(spec: ImageSpec, opts: ResolvedOutputOptions): Promise<ImageResult> {
  if (opts.format === "docker-archive") {
    const sink = await openSink(opts.output);
    // A new output file, uncompressed: written in place, every layer at its offset, in parallel.
    if (opts.compress === "none" && sink.randomAccess !== undefined) return writePositionalDockerArchive(spec, sink as RandomAccessSink, opts);
    return writeDockerArchive(spec, sink, opts);
  }
  const ociOpts = { workers: opts.workers, layerCompress: opts.layerCompress, level: opts.layerLevel, signal: opts.signal, onProgress: opts.onProgress };
  if (opts.format === "oci") {
    const result = await writeOciLayout(spec, opts.output as string, ociOpts);
    return { imageId: result.imageId, layers: result.layers, manifest: result.manifest, repoTags: result.repoTags, bytes: result.layers.reduce((n, l) => n + l.blob.size, 0) };
  }
  const tmp = await makeTempDir(opts.tmpDir, "strata-layout-");
  try {
    const result = await writeOciLayout(spec, tmp, { ...ociOpts, onProgress: (e) => (e.type === "done" ? undefined : opts.onProgress?.(e)) });
    const sink = await openSink(opts.output);
    const bytes = await tarToSink(tmp, sink, spec.mtime, opts, opts.format === "docker" ? result : undefined);
    opts.onProgress?.({ type: "done", imageId: result.imageId, bytes });
    return { imageId: result.imageId, layers: result.layers, manifest: result.manifest, repoTags: result.repoTags, bytes };
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

async function tarToSink(dir: string, sink: Sink, mtime: number, opts: ResolvedOutputOptions, docker: Parameters<typeof tarLayout>[3]): Promise<number> {
  const pool = opts.compress === "none" ? undefined : new WorkerPool(opts.workers);
  try {
    const stage = pool === undefined ? undefined : new CompressStage(sink, (c, l, b, n) => pool.compress(c, l, b, n), opts.compress as "gzip", opts.level, 2 * opts.workers + 1);
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

export type { LayerCompression };
