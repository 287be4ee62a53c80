/**
 * A base image from a registry (`--from docker://REF`, `strata pull`): the reference resolved to a
 * manifest digest (registry-manifest.ts), then every layer blob downloaded into a private temp
 * dir, a few at once: the compressed bytes go to a file (kept, so that an OCI layout destination
 * copies the blob instead of recompressing it, and a push to the same registry mounts it), then
 * are decompressed to an uncompressed tar whose sha256 must be the config's diff_id. The registry client verifies each blob's digest and size as it streams, so
 * nothing unverified is ever complete. Memory stays bounded: bytes stream, no blob is buffered.
 *
 *   const base = await openRegistryImage("docker://ghcr.io/me/base:1", { tmpDir, registry: {} });
 *   try { base.digest; base.layers[0].path } finally { await base.cleanup(); }
 */
import fs from "node:fs";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import type { Digest } from "../digest.js";
import { StrataError, toStrataError } from "../errors.js";
import type { RegistryClient } from "../dest/registry/client.js";
import { RegistryConnections } from "../dest/registry/connect.js";
import { formatReference, parseReference } from "../dest/registry/reference.js";
import type { RegistryOptions } from "../options.js";
import { makeTempDir } from "../temp-dir.js";
import { mapLimit } from "../write/map-limit.js";
import { fileChunks } from "./image-files.js";
import { scanLayer } from "./layer-scan.js";
import { resolveRegistryImage, type RegistryLayer, type RegistryManifest } from "./registry-manifest.js";
import type { SourceImage, SourceLayer } from "./types.js";

export interface RegistryImageOptions {
  /** Where the private download dir is made (removed by cleanup(), or on failure). */
  readonly tmpDir: string;
  readonly signal?: AbortSignal | undefined;
  /** Credentials and TLS (--authfile, --creds, --cert-dir, --tls-verify). */
  readonly registry?: RegistryOptions | undefined;
  /** For an image index: `os/arch[/variant]`. Default linux/amd64. */
  readonly platform?: string | undefined;
  /** Blobs downloaded at once. Default 3: enough to fill a link, few enough for 2 cores to decompress. */
  readonly concurrency?: number | undefined;
}

/** A registry image: a SourceImage plus what the reference resolved to. */
export interface RegistryImage extends SourceImage {
  readonly format: "registry";
  readonly manifest: Omit<RegistryManifest, "config" | "configBytes" | "layers" | "imageId">;
}

export const DOWNLOADS_AT_ONCE = 3;

export async function openRegistryImage(reference: string, opts: RegistryImageOptions): Promise<RegistryImage> {
  const ref = parseReference(reference);
  const name = formatReference(ref);
  const connections = new RegistryConnections(opts.registry ?? {}, opts.tmpDir);
  const dir = await makeTempDir(opts.tmpDir, "strata-pull-");
  const cleanup = (): Promise<void> => fs.promises.rm(dir, { recursive: true, force: true });
  try {
    const client = connections.client(ref, false);
    const resolved = await resolveRegistryImage(client, ref, { platform: opts.platform });
    await Promise.all([fs.promises.mkdir(path.join(dir, "blobs"), { mode: 0o700 }), fs.promises.mkdir(path.join(dir, "layers"), { mode: 0o700 })]);
    // A blob named twice in one manifest (an empty layer repeated) is downloaded once.
    const once = new Map<Digest, Promise<SourceLayer>>();
    const layers = await mapLimit(resolved.layers, opts.concurrency ?? DOWNLOADS_AT_ONCE, (layer, i) => {
      let p = once.get(layer.digest);
      if (p === undefined) {
        p = downloadLayer(client, resolved, layer, i, dir, opts.signal);
        once.set(layer.digest, p);
      }
      return p;
    });
    const { config, configBytes, imageId, layers: _, ...manifest } = resolved;
    return {
      format: "registry",
      imageId,
      config,
      configBytes,
      layers,
      repoTags: ref.tag === undefined ? [] : [`${ref.registry}/${ref.repository}:${ref.tag}`],
      manifest,
      cleanup,
    };
  } catch (err) {
    await cleanup();
    throw toStrataError(err, name);
  } finally {
    // Every byte is on disk (or the open failed): nothing more to ask the registry.
    connections.close();
  }
}

async function downloadLayer(client: RegistryClient, image: RegistryManifest, layer: RegistryLayer, index: number, dir: string, signal: AbortSignal | undefined): Promise<SourceLayer> {
  signal?.throwIfAborted();
  const ref = image.reference;
  const hex = layer.digest.slice("sha256:".length);
  const n = String(index + 1).padStart(4, "0");
  const blobFile = path.join(dir, "blobs", n);
  const tarFile = path.join(dir, "layers", `${n}.tar`);
  const what = `layer ${index + 1} of ${image.layers.length} (${layer.digest}) of ${formatReference(ref)}`;
  // Two passes: the blob to disk, verified by digest and size as it streams; then decompressed
  // from there. Decompressing as it arrives would save a read of the (cached) file, but a corrupt
  // download would then fail as "corrupt gzip" before the digest check could name the cause.
  const body = await client.getBlob(ref.repository, layer.digest, layer.size);
  // "wx": created here, never an existing file followed or overwritten.
  await pipeline(body, fs.createWriteStream(blobFile, { flags: "wx", mode: 0o600 }), ...(signal === undefined ? [] : [{ signal }]));
  const scan = await scanLayer(fileChunks({ name: `blobs/sha256/${hex}`, size: layer.size, file: blobFile }, what), { what, toFile: tarFile, ...(signal === undefined ? {} : { signal }) });
  if (scan.blobDigest !== layer.digest) {
    throw new StrataError("E_CHECKSUM", `${what}: the downloaded blob ${blobFile} no longer hashes to its digest (${scan.blobDigest})`, "something changed the temp dir while strata ran; pull again");
  }
  if (scan.diffId !== layer.diffId) {
    throw new StrataError("E_CHECKSUM", `${what}: expected diff_id ${layer.diffId} (the image config), found ${scan.diffId} (sha256 of the uncompressed layer)`,
      "the image in the registry is corrupt or its config does not describe its layers; do not use it");
  }
  let tar = tarFile;
  if (scan.compression === "none") {
    // An uncompressed blob is the layer tar itself: keep one copy.
    await fs.promises.rm(tarFile, { force: true });
    tar = blobFile;
  }
  return {
    path: tar,
    diffId: scan.diffId,
    size: scan.size,
    name: `blobs/sha256/${hex}`,
    blob: { digest: layer.digest, size: layer.size, compression: scan.compression, file: blobFile, origin: { registry: ref.registry, repository: ref.repository } },
  };
}
