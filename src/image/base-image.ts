/**
 * A base image (`--from`, conf.json's `from_image`) for a build: opened once, its layers first in
 * the image, each with what is known of it without reading it again (diff_id, size, and the blob
 * as its source stores it, reused by destinations that take that compression).
 */
import os from "node:os";
import type { ProgressEvent } from "./image-spec.js";
import type { RegistryOptions } from "../options.js";
import { openImage } from "../source/read-image.js";
import type { RegistryImage } from "../source/read-registry.js";
import type { SourceImage } from "../source/types.js";
import type { ImageLayer, KnownBlob } from "./image-spec.js";
import { layerKey } from "../layer/layer-key.js";
import { layerMediaType } from "./media-types.js";
import type { JsonValue } from "./py-json.js";

export interface BaseImageOptions {
  readonly tmpDir?: string | undefined;
  readonly signal?: AbortSignal | undefined;
  /** Which image of a multi-image input (a RepoTag or OCI ref name). */
  readonly ref?: string | undefined;
  /** A `docker://` base: credentials and TLS. */
  readonly registry?: RegistryOptions | undefined;
  /** Told (as a warning) what digest a `docker://` base's tag resolved to, so that builds can pin it. */
  readonly onProgress?: ((event: ProgressEvent) => void) | undefined;
}

export async function openBaseImage(input: string | null | undefined, opts: BaseImageOptions): Promise<SourceImage | undefined> {
  if (input === undefined || input === null) return undefined;
  const image = await openImage(input, { tmpDir: opts.tmpDir ?? os.tmpdir(), signal: opts.signal, registry: opts.registry, ...(opts.ref === undefined ? {} : { ref: opts.ref }) });
  if (image.format === "registry") {
    const m = (image as RegistryImage).manifest;
    if (m.resolvedFromTag) {
      // A tag moves: say what it named this time, in the form --from takes back to pin it.
      opts.onProgress?.({ type: "warning", message: `base image ${input} resolved to ${m.digest}; pin it with --from ${pinned(input, m.digest)}` });
    }
  }
  return image;
}

/** `docker://HOST/REPO:TAG` pinned: `docker://HOST/REPO:TAG@sha256:...` (the digest decides, the tag documents). */
function pinned(input: string, digest: string): string {
  return `${input.replace(/@sha256:[0-9a-f]{64}$/, "")}@${digest}`;
}

/** What planning needs of a base image: its layer count (the budget), config (merged) and ID (the default tag). */
export interface BaseImageInfo {
  readonly layers: number;
  readonly config?: { readonly [key: string]: JsonValue };
  readonly imageId?: string;
}

export function baseImageInfo(base: SourceImage | undefined): BaseImageInfo | undefined {
  return base === undefined ? undefined : { layers: base.layers.length, config: base.config.config ?? {}, imageId: base.imageId };
}

/** Its layers, bottom first, as layers of the image being built: copied byte for byte, checked against their diff_ids. */
export function baseImageLayers(base: SourceImage | undefined): ImageLayer[] {
  return (base?.layers ?? []).map((l) => {
    const blobs: KnownBlob[] = l.blob === undefined ? [] : [{
      descriptor: { mediaType: layerMediaType("oci", l.blob.compression), digest: l.blob.digest, size: l.blob.size },
      compression: l.blob.compression,
      original: true,
      ...(l.blob.file === undefined ? {} : { file: l.blob.file }),
      ...(l.blob.origin === undefined ? {} : { origin: l.blob.origin }),
    }];
    const task = { kind: "file" as const, path: l.path, expectedSha256: l.diffId.slice("sha256:".length) };
    return {
      task,
      key: layerKey(task),
      paths: [l.name],
      estimate: l.size,
      known: { diffId: l.diffId, size: l.size, blobs },
    };
  });
}
