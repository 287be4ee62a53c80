/**
 * A base image (`--from`, conf.json `from_image`): read from a docker-archive (plain, gzip or
 * zstd; old `<id>/layer.tar` or Docker 25 `blobs/sha256/<hex>` naming; layers plain, gzip or
 * zstd), an OCI layout directory, an oci-archive, or a registry (`docker://REF`:
 * read-registry.ts), extracted safely into a private dir under `tmpDir`, every layer verified against the config's diff_ids (nixpkgs does not verify).
 *
 *   const base = await openImage("base.tar.zst", { tmpDir });
 *   try { ...base.layers[i].path... } finally { await base.cleanup(); }
 */
import { toStrataError } from "../errors.js";
import { isDockerReference } from "../dest/registry/reference.js";
import type { RegistryOptions } from "../options.js";
import { openImages, selectImage } from "./open-images.js";
import { openRegistryImage } from "./read-registry.js";
import type { SourceImage, SourceLayer } from "./types.js";

export interface OpenImageOptions {
  /** Where the private extraction dir is made (removed by cleanup(), or on failure). */
  readonly tmpDir: string;
  readonly signal?: AbortSignal;
  /**
   * Which image of a multi-image input: a RepoTag (`name:tag`), an OCI
   * `org.opencontainers.image.ref.name` or `io.containerd.image.name`. Default: the first
   * (manifest.json entry [0], index.json manifests[0]), as nixpkgs takes.
   */
  readonly ref?: string;
  /** For `docker://REF` inputs: credentials and TLS (read-registry.ts). */
  readonly registry?: RegistryOptions | undefined;
  /** For a `docker://` image index: `os/arch[/variant]` (default linux/amd64). */
  readonly platform?: string | undefined;
}

export async function openImage(input: string, options: OpenImageOptions): Promise<SourceImage> {
  if (isDockerReference(input)) {
    return openRegistryImage(input, { tmpDir: options.tmpDir, signal: options.signal, registry: options.registry, platform: options.platform });
  }
  const source = await openImages(input, { tmpDir: options.tmpDir, signal: options.signal });
  try {
    const image = selectImage(source.images, options.ref, input);
    const layers: SourceLayer[] = [];
    for (let i = 0; i < image.layers.length; i++) {
      options.signal?.throwIfAborted();
      layers.push(await source.layer(image, i));
    }
    return {
      format: source.format,
      imageId: image.imageId,
      config: image.config,
      configBytes: image.configBytes,
      layers,
      repoTags: image.repoTags,
      cleanup: source.cleanup,
    };
  } catch (err) {
    await source.cleanup();
    throw toStrataError(err, input);
  }
}
