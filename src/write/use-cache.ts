/**
 * The layer cache in a build: before the write, every layer with a key gets what the cache knows
 * of it (its diffId and blobs); every layer the write produces is recorded; an OCI layout's blob
 * files are stamped so that the next build trusts them without re-hashing. The cache module
 * (better-sqlite3) is loaded only here, for the destinations that can skip layers.
 */
import type { Digest } from "../digest.js";
import type { FileStamps } from "../dest/oci-layout/layout-store.js";
import type { ImageLayer, ImageSpec, KnownBlob } from "../image/image-spec.js";
import { layerMediaType } from "../image/media-types.js";
import type { MadeLayer } from "./write-blobs.js";

export interface CachedSpec {
  /** The spec with what the cache knows filled in. */
  readonly spec: ImageSpec;
  readonly onLayerMade: ((layer: ImageLayer, made: MadeLayer) => void) | undefined;
  readonly stamps: FileStamps | undefined;
  close(): void;
}

export async function withLayerCache(spec: ImageSpec, opts: { readonly cache: string | false | undefined; readonly onProgress?: ((e: { type: "warning"; message: string }) => void) | undefined }): Promise<CachedSpec> {
  if (opts.cache === false || !spec.layers.some((l) => l.key !== undefined)) {
    return { spec, onLayerMade: undefined, stamps: undefined, close: () => undefined };
  }
  const { LayerCache } = await import("../cache/layer-cache.js");
  const cache = LayerCache.open({ ...(opts.cache === undefined ? {} : { dir: opts.cache }), warn: (message) => opts.onProgress?.({ type: "warning", message }) });
  const layers = spec.layers.map((layer): ImageLayer => {
    if (layer.key === undefined) return layer;
    const hit = cache.get(layer.key);
    if (hit === undefined) return layer;
    const blobs: KnownBlob[] = hit.blobs.map((b) => ({
      descriptor: { mediaType: layerMediaType("oci", b.compression), digest: b.digest, size: b.size },
      compression: b.compression,
      level: b.level,
      impl: b.impl,
    }));
    // A base image's own blobs stay first: they are the ones reused as they are.
    return { ...layer, known: { diffId: hit.diffId, size: hit.size, blobs: [...(layer.known?.blobs ?? []), ...blobs] } };
  });
  return {
    spec: { ...spec, layers },
    onLayerMade: (layer, made) => {
      if (layer.key === undefined) return;
      const b = made.blob;
      if (b.original === true) return; // a base image's blob: not what strata's compression makes
      cache.put(layer.key, { diffId: made.diffId, size: made.size }, { compression: b.compression, level: b.level ?? 0, impl: b.impl ?? "", digest: b.descriptor.digest as Digest, size: b.descriptor.size });
    },
    stamps: cache,
    close: () => cache.close(),
  };
}
