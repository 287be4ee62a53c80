/**
 * `strata index`: one multi-platform image from several images, each any image strata reads,
 * listed under the platform its config names. Written through a BlobStore (an OCI layout
 * directory now; a registry store can take its place), blobs copied as stored and verified: a
 * descriptor's digest while copying, a docker-archive layer's diff_id after.
 *
 * `manifestFormat: "docker"` writes a Docker manifest list over schema 2 manifests. The config
 * and layer bytes are the same as OCI's, so only media types change, except that schema 2 knows
 * only gzip layers: uncompressed layers are gzipped on the way (a new blob, same diff_id), and
 * zstd layers are refused rather than recompressed.
 */
import fs from "node:fs";
import zlib from "node:zlib";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { fileSink } from "../dest/sink.js";
import { tarLayout } from "../dest/oci-layout/layout-archive.js";
import { asDigest, sha256, type Digest } from "../digest.js";
import type { BlobStore, Descriptor } from "../dest/blob-store.js";
import { StrataError, toStrataError } from "../errors.js";
import { readHead } from "../source/byte-stream.js";
import { compressionOf } from "../source/compression.js";
import type { ImageEntry, LayerRef } from "../source/image-list.js";
import { openImages, type SourceArchive } from "../source/open-images.js";
import type { Compression } from "../source/types.js";
import { makeTempDir } from "../temp-dir.js";
import { parseIndexDest } from "./dest-ref.js";
import { MEDIA_TYPES, type ManifestFormat } from "../image/media-types.js";
import { LayoutStore } from "../dest/oci-layout/layout-store.js";
import { RegistryConnections } from "../dest/registry/connect.js";
import type { RegistryOptions } from "../options.js";

/** The index pushed to a registry: every image's blobs and manifest first, the index last, under the tag. */
async function writeIndexToRegistry(inputs: readonly string[], dest: string, options: IndexOptions): Promise<IndexResult> {
  const tmpDir = options.tmpDir ?? (await import("node:os")).tmpdir();
  const connections = new RegistryConnections(options.registry ?? {}, tmpDir);
  const store = connections.store(dest);
  try {
    return await writeIndexTo(store, inputs, store.ref.tag === undefined ? [] : [store.ref.tag], { ...options, tmpDir });
  } finally {
    await store.close();
    connections.close();
  }
}


export interface IndexOptions {
  readonly manifestFormat?: ManifestFormat;
  /** For a `docker://` destination: credentials, TLS (as build's registry options). */
  readonly registry?: RegistryOptions;
  /** Where archive inputs are unpacked. Default: the OS temp dir. */
  readonly tmpDir?: string;
  readonly signal?: AbortSignal;
}

export interface Platform {
  readonly os: string;
  readonly architecture: string;
  readonly variant?: string;
}

export interface IndexResult {
  readonly index: Descriptor;
  readonly manifests: readonly { readonly input: string; readonly platform: string; readonly manifest: Descriptor }[];
}

/** The media types per manifest format, from the one table (image/media-types.ts). */
const MEDIA = {
  oci: { index: MEDIA_TYPES.index, manifest: MEDIA_TYPES.manifest, config: MEDIA_TYPES.config, layer: MEDIA_TYPES.layer },
  docker: { index: MEDIA_TYPES.docker.manifestList, manifest: MEDIA_TYPES.docker.manifest, config: MEDIA_TYPES.docker.config, layer: { gzip: MEDIA_TYPES.docker.layer.gzip } },
} as const;

export async function writeIndex(inputs: readonly string[], dest: string, options: IndexOptions = {}): Promise<IndexResult> {
  if (inputs.length === 0) throw new StrataError("E_USAGE", "expected at least one image, found none", "e.g. strata index -o oci:multi:latest amd64.tar arm64.tar");
  if (dest.startsWith("docker://")) return writeIndexToRegistry(inputs, dest, options);
  const target = parseIndexDest(dest);
  const tmpDir = options.tmpDir ?? (await import("node:os")).tmpdir();
  const staging = target.kind === "oci-archive" ? await makeTempDir(tmpDir, "strata-index-") : undefined;
  try {
    const store = LayoutStore.open(staging ?? target.path);
    let result: IndexResult;
    try {
      result = await writeIndexTo(store, inputs, [`:${target.ref}`], { ...options, tmpDir }); // a bare ref name: no image name
    } finally {
      await store.close();
    }
    if (staging !== undefined) {
      const sink = await fileSink(target.path);
      try {
        await tarLayout(staging, sink, 1, undefined);
        await sink.commit();
      } catch (err) {
        await sink.abort().catch(() => undefined);
        throw err;
      }
    }
    return result;
  } catch (err) {
    throw toStrataError(err, dest);
  } finally {
    if (staging !== undefined) await fs.promises.rm(staging, { recursive: true, force: true });
  }
}

/** The index over `inputs`, through any BlobStore, tagged `ref`. */
/** The index into any blob store (a layout, a registry), under `tags` (as BlobStore.putManifest takes them). */
export async function writeIndexTo(store: BlobStore, inputs: readonly string[], tags: readonly string[], options: IndexOptions & { tmpDir: string }): Promise<IndexResult> {
  const format = options.manifestFormat ?? "oci";
  const media = MEDIA[format];
  const manifests: { input: string; platform: string; manifest: Descriptor; descriptor: Descriptor & { platform: Platform } }[] = [];
  for (const input of inputs) {
    options.signal?.throwIfAborted();
    const source = await openImages(input, { tmpDir: options.tmpDir, signal: options.signal });
    try {
      const image = source.images[0]!;
      const platform = platformOf(image, input);
      const name = platformName(platform);
      const same = manifests.find((m) => m.platform === name);
      if (same !== undefined) throw new StrataError("E_USAGE", `expected one image per platform, found ${name} in both ${same.input} and ${input}`, "give one image for each platform");
      const layers: Descriptor[] = [];
      for (let i = 0; i < image.layers.length; i++) layers.push(await copyLayer(store, source, image, i, format, input, options.signal));
      const config = await store.putBlob(image.configBytes, media.config);
      const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: media.manifest, config: bare(config), layers: layers.map(bare) }));
      const manifest = await store.putBlob(bytes, media.manifest);
      manifests.push({ input, platform: name, manifest, descriptor: { ...bare(manifest), platform } });
    } finally {
      await source.cleanup();
    }
  }
  const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: media.index, manifests: manifests.map((m) => m.descriptor) }));
  const index = await store.putManifest(bytes, media.index, tags);
  return { index, manifests: manifests.map(({ input, platform, manifest }) => ({ input, platform, manifest })) };
}

function bare(d: Descriptor): Descriptor {
  return { mediaType: d.mediaType, digest: d.digest, size: d.size };
}

/** os/architecture/variant from the image config: required by the index, so refused when missing. */
function platformOf(image: ImageEntry, input: string): Platform {
  const { os, architecture, variant } = image.config as { os?: unknown; architecture?: unknown; variant?: unknown };
  if (typeof os !== "string" || os === "" || typeof architecture !== "string" || architecture === "") {
    throw new StrataError("E_CLOSURE_INPUT", `${input}: expected the image config to name its os and architecture, found ${JSON.stringify({ os, architecture })}`,
      "build the image with --architecture (strata sets os linux), or fix its config");
  }
  return { architecture, os, ...(typeof variant === "string" && variant !== "" ? { variant } : {}) };
}

function platformName(p: Platform): string {
  return `${p.os}/${p.architecture}${p.variant === undefined ? "" : `/${p.variant}`}`;
}

/**
 * Layer `i` as a blob of the store: the stored bytes copied (gzipped first for a Docker
 * manifest when they are not compressed), their digest checked against the input's descriptor
 * while copying, or, for a docker-archive member, the layer's diff_id checked afterwards.
 */
async function copyLayer(store: BlobStore, source: SourceArchive, image: ImageEntry, i: number, format: ManifestFormat, input: string, signal: AbortSignal | undefined): Promise<Descriptor> {
  const ref: LayerRef = image.layers[i]!;
  const what = `layer ${i + 1} of ${image.layers.length} (${ref.name}) of ${input}`;
  const file = source.files.file(ref.name, "a layer");
  const head = file.bytes ?? (file.file === undefined ? Buffer.alloc(0) : await readHead(file.file, 512));
  const compression: Compression = head.length === 0 ? "none" : compressionOf(head, what);
  if (format === "docker" && compression === "zstd") {
    throw new StrataError("E_UNSUPPORTED", `${what}: expected gzip or uncompressed layers for a Docker manifest list, found zstd`,
      "use --manifest-format oci (zstd layers are OCI-only), or give images with gzip layers");
  }
  const gzip = format === "docker" && compression === "none";
  const mediaType = format === "docker" ? MEDIA.docker.layer.gzip : MEDIA.oci.layer[compression];
  if (!gzip && ref.digest !== undefined && ref.blobSize !== undefined && (await store.has({ mediaType, digest: ref.digest, size: ref.blobSize }))) {
    return { mediaType, digest: ref.digest, size: ref.blobSize };
  }
  const input_ = file.bytes !== undefined ? Readable.from([file.bytes]) : fs.createReadStream(file.file!, { highWaterMark: 1 << 20 });
  const read = sha256();
  let readSize = 0;
  const stored = sha256();
  let storedSize = 0;
  const upload = await store.openBlob();
  try {
    const tap = async function* (src: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
      for await (const chunk of src) {
        read.update(chunk);
        readSize += chunk.length;
        yield chunk;
      }
    };
    const sinkTo = async (src: AsyncIterable<Buffer>): Promise<void> => {
      for await (const chunk of src) {
        stored.update(chunk);
        storedSize += chunk.length;
        await upload.write(chunk);
      }
    };
    const opts = signal === undefined ? {} : { signal };
    if (gzip) await pipeline(input_, tap, zlib.createGzip({ level: 6 }), sinkTo, opts);
    else await pipeline(input_, tap, sinkTo, opts);
    const readDigest = asDigest(read.hex());
    if (ref.digest !== undefined && (readDigest !== ref.digest || readSize !== (ref.blobSize ?? readSize))) {
      throw new StrataError("E_CHECKSUM", `${what}: expected blob ${ref.digest} (${ref.blobSize} bytes, its descriptor), found ${readDigest} (${readSize} bytes)`, "the image is corrupt or was edited; copy it again");
    }
    const digest: Digest = asDigest(stored.hex());
    await upload.commit(digest, storedSize);
    // No descriptor digest (a docker-archive): decompress and check the diff_id the config names.
    if (ref.digest === undefined) await source.layer(image, i);
    return { mediaType, digest, size: storedSize };
  } catch (err) {
    await upload.abort().catch(() => undefined);
    throw err;
  }
}
