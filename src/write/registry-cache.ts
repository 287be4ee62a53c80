/**
 * The registry as the cache shared between machines. strata annotates every layer descriptor of
 * the manifests it writes with the layer's key (src/layer/layer-key.ts), the uncompressed size and
 * the compression that made the blob; a builder with an empty local cache reads the manifest
 * already at its destination tag (and `--cache-from` images), learns which keys have which blobs
 * and diff_ids there, and skips those layers whose blob the destination holds or can mount.
 * What it trusts is what the local cache trusts (docs/cache.md): a key names the bytes.
 */
import type { Digest } from "../digest.js";
import type { RegistryConnections } from "../dest/registry/connect.js";
import { parseReference } from "../dest/registry/reference.js";
import type { ImageLayer, ImageSpec, KnownBlob } from "../image/image-spec.js";
import { compressionOf, MEDIA_TYPES } from "../image/media-types.js";

/** Layer descriptor annotations, in strata's reverse-DNS namespace (docs/cache.md). */
export const ANNOTATIONS = {
  /** The layer key: sha256 over what decides the layer's bytes. */
  key: "dev.strata.layer.key",
  /** Bytes of the uncompressed layer tar. */
  size: "dev.strata.layer.size",
  /** `COMPRESSION LEVEL IMPL` that made the blob (`gzip 6 zlib-1.3.0.1-blocks`): a hit must give the same bytes. */
  compression: "dev.strata.layer.compression",
} as const;

const CONFIG_LIMIT = 4 << 20;

interface Learned {
  readonly diffId: Digest;
  readonly size: number;
  readonly blob: KnownBlob;
}

/**
 * The spec with what the given images (`docker://` references) record of its layers' keys. An
 * image that does not exist or cannot be read teaches nothing: with `warn`, that is said.
 */
export async function learnFromRegistries(spec: ImageSpec, references: readonly string[], connections: RegistryConnections, warn?: (reference: string, err: unknown) => void): Promise<ImageSpec> {
  const wanted = new Set(spec.layers.map((l) => l.key).filter((k): k is NonNullable<typeof k> => k !== undefined));
  if (wanted.size === 0 || references.length === 0) return spec;
  const learned = new Map<string, Learned[]>();
  await Promise.all(references.map(async (reference) => {
    try {
      for (const [key, l] of await readImageKeys(reference, connections)) {
        if (wanted.has(key as never)) learned.set(key, [...(learned.get(key) ?? []), l]);
      }
    } catch (err) {
      warn?.(reference, err);
    }
  }));
  if (learned.size === 0) return spec;
  const layers = spec.layers.map((layer): ImageLayer => {
    const found = layer.key === undefined ? undefined : learned.get(layer.key);
    if (found === undefined) return layer;
    const first = found[0]!;
    // Two images that disagree on a key's diff_id cannot both be right: learn nothing from either.
    if (found.some((f) => f.diffId !== first.diffId) || (layer.known !== undefined && layer.known.diffId !== first.diffId)) return layer;
    return { ...layer, known: { diffId: first.diffId, size: layer.known?.size ?? first.size, blobs: [...(layer.known?.blobs ?? []), ...found.map((f) => f.blob)] } };
  });
  return { ...spec, layers };
}

/** key -> what an image's manifest and config say of that layer. */
async function readImageKeys(reference: string, connections: RegistryConnections): Promise<Map<string, Learned>> {
  const ref = parseReference(reference);
  const client = connections.client(ref, false);
  const manifest = await client.getManifest(ref.repository, ref.digest ?? ref.tag ?? "latest", [MEDIA_TYPES.manifest, MEDIA_TYPES.docker.manifest]);
  const m = JSON.parse(manifest.bytes.toString("utf8")) as { config?: { digest?: Digest; size?: number }; layers?: { mediaType?: string; digest?: Digest; size?: number; annotations?: Record<string, string> }[] };
  const out = new Map<string, Learned>();
  const layers = Array.isArray(m.layers) ? m.layers : [];
  if (!layers.some((l) => l.annotations?.[ANNOTATIONS.key] !== undefined) || m.config?.digest === undefined) return out;
  const configStream = await client.getBlob(ref.repository, m.config.digest, m.config.size);
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of configStream as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > CONFIG_LIMIT) throw new Error("config too large");
    chunks.push(chunk);
  }
  const config = JSON.parse(Buffer.concat(chunks).toString("utf8")) as { rootfs?: { diff_ids?: Digest[] } };
  const diffIds = config.rootfs?.diff_ids ?? [];
  layers.forEach((l, i) => {
    const key = l.annotations?.[ANNOTATIONS.key];
    const size = Number(l.annotations?.[ANNOTATIONS.size]);
    const made = l.annotations?.[ANNOTATIONS.compression]?.split(" ");
    const compression = l.mediaType === undefined ? undefined : compressionOf(l.mediaType);
    const diffId = diffIds[i];
    if (key === undefined || made === undefined || made.length !== 3 || compression === undefined || made[0] !== compression) return;
    if (diffId === undefined || l.digest === undefined || l.size === undefined || !Number.isSafeInteger(size)) return;
    out.set(key, {
      diffId,
      size,
      blob: {
        descriptor: { mediaType: l.mediaType!, digest: l.digest, size: l.size },
        compression,
        level: Number(made[1]),
        impl: made[2]!,
        origin: { registry: ref.registry, repository: ref.repository },
      },
    });
  });
  return out;
}
