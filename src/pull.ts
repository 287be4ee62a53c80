/**
 * `strata pull docker://REF -o DEST`: an image from a registry into an OCI layout, an oci-archive
 * or a docker-archive, as it is: its config bytes verbatim (the image ID does not change), its
 * layers copied from the verified blobs (an OCI destination gets the registry's compressed blobs
 * byte for byte, not a recompression; a docker-archive gets the uncompressed tars, each checked
 * against its diff_id once more as it is written). Destinations as skopeo spells them:
 * `oci:DIR[:REF]`, `oci-archive:FILE[:REF]`, `docker-archive:FILE[:NAME:TAG]`, or a bare path in
 * the format asked for (docker-archive by default; `-` is stdout).
 */
import os from "node:os";
import type { Digest } from "./digest.js";
import { StrataError } from "./errors.js";
import { baseImageLayers } from "./image/base-image.js";
import type { ImageResult, ImageSpec, ProgressEvent } from "./image/image-spec.js";
import type { LayerCompression } from "./image/media-types.js";
import { resolveOutputOptions, type RegistryOptions } from "./options.js";
import { openRegistryImage, type RegistryImage } from "./source/read-registry.js";
import { writeImage } from "./write/write-image.js";

export type PullFormat = "docker-archive" | "oci" | "oci-archive";

export interface PullOptions {
  /** The format of a bare DEST path (default docker-archive); a `oci:` etc. prefix decides otherwise. */
  readonly format?: PullFormat;
  readonly registry?: RegistryOptions;
  /** For an image index: `os/arch[/variant]` (default linux/amd64). */
  readonly platform?: string;
  readonly tmpDir?: string;
  readonly workers?: number;
  readonly signal?: AbortSignal;
  readonly onProgress?: (event: ProgressEvent) => void;
}

export interface PullResult extends ImageResult {
  /** The source, as resolved: `docker://HOST/REPO:TAG`. */
  readonly reference: string;
  /** The digest the reference names now (an index's, for a multi-platform image). */
  readonly digest: Digest;
  /** The image manifest's digest in the registry (the platform's, for an index). */
  readonly manifestDigest: Digest;
  readonly destination: PullDestination;
}

export interface PullDestination {
  readonly format: PullFormat;
  /** The directory or file; `-` is stdout (archives only). */
  readonly path: string;
  /** oci: the ref name; docker-archive: the RepoTag. Undefined: taken from the source. */
  readonly ref: string | undefined;
}

/**
 * `oci:DIR[:REF]`, `oci-archive:FILE[:REF]`, `docker-archive:FILE[:REF]`: as skopeo, the first
 * colon after the transport ends the path; a bare path is in `format`.
 */
export function parsePullDestination(dest: string, format: PullFormat = "docker-archive"): PullDestination {
  if (dest.startsWith("docker://")) {
    throw new StrataError("E_UNSUPPORTED", `strata pull writes files and directories, not registries; got ${dest}`, "copy between registries with skopeo copy, or build with -o docker://...");
  }
  const m = /^(oci|oci-archive|docker-archive):(.*)$/.exec(dest);
  if (m === null) return { format, path: dest, ref: undefined };
  const rest = m[2]!;
  const colon = rest.indexOf(":");
  const file = colon < 0 ? rest : rest.slice(0, colon);
  const ref = colon < 0 ? undefined : rest.slice(colon + 1);
  if (file === "") throw new StrataError("E_USAGE", `expected a path after ${m[1]}: in ${dest}`, `e.g. -o ${m[1]}:${m[1] === "oci" ? "DIR" : "FILE"}`);
  if (ref !== undefined && !/^[A-Za-z0-9][A-Za-z0-9._\-/:@+]*$/.test(ref)) {
    throw new StrataError("E_USAGE", `expected a reference after the path in ${dest}, found ${JSON.stringify(ref)}`, m[1] === "docker-archive" ? "e.g. -o docker-archive:FILE:name:tag" : "e.g. -o oci:DIR:latest");
  }
  return { format: m[1] as PullFormat, path: file, ref };
}

export async function pullImage(source: string, dest: string, options: PullOptions = {}): Promise<PullResult> {
  if (!source.startsWith("docker://")) throw new StrataError("E_USAGE", `strata pull reads a registry image, docker://HOST/REPO[:TAG], got ${JSON.stringify(source)}`, "e.g. strata pull docker://ghcr.io/me/app:1.0 -o oci:app");
  const to = parsePullDestination(dest, options.format);
  if (to.format === "oci" && to.path === "-") throw new StrataError("E_USAGE", "an OCI layout is a directory, it cannot go to stdout", "give -o oci:DIR, or -o oci-archive:- for a tar");
  const image = (await openRegistryImage(source, {
    tmpDir: options.tmpDir ?? os.tmpdir(),
    signal: options.signal,
    registry: options.registry,
    platform: options.platform,
  })) as RegistryImage;
  try {
    const opts = resolveOutputOptions({
      output: to.path === "-" ? 1 : to.path,
      format: to.format,
      ...(to.format === "docker-archive" ? {} : { layerCompress: mostCommonCompression(image) }),
      ...(options.workers === undefined ? {} : { workers: options.workers }),
      ...(options.tmpDir === undefined ? {} : { tmpDir: options.tmpDir }),
      ...(options.signal === undefined ? {} : { signal: options.signal }),
      ...(options.onProgress === undefined ? {} : { onProgress: options.onProgress }),
      // Nothing is built: every layer is a blob at hand, so the layer cache would add nothing.
      cache: false,
    });
    const m = image.manifest;
    const name = `${m.reference.registry}/${m.reference.repository}`;
    const sourceTag = m.reference.tag === undefined ? [] : [`${name}:${m.reference.tag}`];
    // An OCI `oci:DIR:REF` names the image by a bare ref (LayoutStore's `:REF`); a docker-archive by NAME:TAG.
    const repoTags = to.ref === undefined ? sourceTag : [to.format === "docker-archive" ? to.ref : `:${to.ref}`];
    const created = typeof image.config.created === "string" ? image.config.created : "1970-01-01T00:00:01+00:00";
    const spec: ImageSpec = {
      layers: baseImageLayers(image),
      created,
      architecture: typeof image.config.architecture === "string" ? image.config.architecture : "amd64",
      config: image.config.config ?? {},
      repoTags,
      mtime: epochOf(created),
      configBytes: image.configBytes,
    };
    const result = await writeImage(spec, opts);
    if (result.imageId !== image.imageId) {
      throw new StrataError("E_INTERNAL", `pulled image ${image.imageId} was written as ${result.imageId}`, "this is a bug in strata; please report it");
    }
    return { ...result, reference: source, digest: m.digest, manifestDigest: m.manifestDigest, destination: to };
  } finally {
    await image.cleanup();
  }
}

/** The compression most of the image's blobs have: written with it, those blobs are copied as they are. */
function mostCommonCompression(image: RegistryImage): LayerCompression {
  const count = new Map<LayerCompression, number>();
  for (const l of image.layers) {
    const c = l.blob?.compression ?? "none";
    count.set(c, (count.get(c) ?? 0) + 1);
  }
  let best: LayerCompression = "gzip";
  let n = 0;
  for (const [c, k] of count) {
    if (k > n) [best, n] = [c, k];
  }
  return best;
}

/** Archive member times: the image's creation time, so that the same image gives the same archive. */
function epochOf(created: string): number {
  const t = Date.parse(created);
  return Number.isFinite(t) && t >= 0 ? Math.floor(t / 1000) : 1;
}
