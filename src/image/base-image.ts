/**
 * A base image (`--from`, conf.json's `from_image`) for a build: opened once, its layers first in
 * the image, each with what is known of it without reading it again (diff_id, size, and the blob
 * as its source stores it, reused by destinations that take that compression).
 */
import os from "node:os";
import { openImage } from "../source/read-image.js";
import type { SourceImage } from "../source/types.js";
import type { ImageLayer, KnownBlob } from "./image-spec.js";
import { layerMediaType } from "./media-types.js";
import type { JsonValue } from "./py-json.js";

export async function openBaseImage(input: string | null | undefined, opts: { tmpDir?: string | undefined; signal?: AbortSignal | undefined }): Promise<SourceImage | undefined> {
  if (input === undefined || input === null) return undefined;
  return openImage(input, { tmpDir: opts.tmpDir ?? os.tmpdir(), ...(opts.signal === undefined ? {} : { signal: opts.signal }) });
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
    const sha = l.diffId.slice("sha256:".length);
    return {
      task: { kind: "file" as const, path: l.path, expectedSha256: sha },
      paths: [l.name],
      estimate: l.size,
      known: { diffId: l.diffId, size: l.size, blobs },
    };
  });
}
