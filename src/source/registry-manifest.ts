/**
 * An image in a registry, as far as its manifests and config say: the reference resolved to a
 * manifest digest (a tag to what it points at now, which a build can pin), an image index or
 * manifest list narrowed to one platform, the image manifest (OCI or Docker v2 schema 2; schema 1
 * refused) and its config, downloaded verified by digest and size and bounded by LIMITS. No layer
 * byte is read here: read-registry.ts downloads them, inspect.ts scans them.
 */
import type { Digest } from "../digest.js";
import { StrataError } from "../errors.js";
import type { RegistryClient } from "../dest/registry/client.js";
import { formatReference, type ImageReference } from "../dest/registry/reference.js";
import { MEDIA_TYPES } from "../image/media-types.js";
import { checkConfig } from "./image-list.js";
import { describeJson, parseJsonInput } from "./json-input.js";
import { LIMITS } from "./limits.js";
import type { SourceConfig } from "./types.js";

/** A layer as the image manifest names it. */
export interface RegistryLayer {
  readonly mediaType: string;
  readonly digest: Digest;
  readonly size: number;
  /** From the config's rootfs.diff_ids. */
  readonly diffId: Digest;
}

export interface RegistryManifest {
  readonly reference: ImageReference;
  /** What the reference names now: the top manifest's digest (an index's, for a multi-platform image). Pin with REF@digest. */
  readonly digest: Digest;
  /** The image manifest's digest (the platform's, for an index; else `digest`). */
  readonly manifestDigest: Digest;
  readonly manifestMediaType: string;
  /** True when a tag (not a digest) was resolved: the digest is worth printing. */
  readonly resolvedFromTag: boolean;
  /** `os/architecture[/variant]` of the manifest chosen from an index; undefined for a single image. */
  readonly platform?: string;
  readonly config: SourceConfig;
  /** The config exactly as the registry stores it (its sha256 is the image ID). */
  readonly configBytes: Buffer;
  readonly imageId: Digest;
  readonly layers: readonly RegistryLayer[];
}

const SCHEMA1 = ["application/vnd.docker.distribution.manifest.v1+json", "application/vnd.docker.distribution.manifest.v1+prettyjws"];
const INDEXES: readonly string[] = [MEDIA_TYPES.index, MEDIA_TYPES.docker.manifestList];
const MANIFESTS: readonly string[] = [MEDIA_TYPES.manifest, MEDIA_TYPES.docker.manifest];
/** Schema 1 is asked for too, only to refuse it by name instead of meeting a 404 or a confusing error. */
const ACCEPT = [...MANIFESTS, ...INDEXES, ...SCHEMA1];
const CONFIGS: readonly string[] = [MEDIA_TYPES.config, MEDIA_TYPES.docker.config];
const LAYERS: readonly string[] = [...Object.values(MEDIA_TYPES.layer), ...Object.values(MEDIA_TYPES.docker.layer)];
const DIGEST = /^sha256:[0-9a-f]{64}$/;

/** The platform strata builds for (its --architecture default), also the default pick of an index. */
export const DEFAULT_PLATFORM = "linux/amd64";

interface Descriptor {
  readonly mediaType: string;
  readonly digest: Digest;
  readonly size: number;
  readonly platform?: { readonly os?: unknown; readonly architecture?: unknown; readonly variant?: unknown };
}

export async function resolveRegistryImage(client: RegistryClient, ref: ImageReference, opts: { platform?: string | undefined } = {}): Promise<RegistryManifest> {
  const name = formatReference(ref);
  const repo = ref.repository;
  const wanted = parsePlatform(opts.platform ?? DEFAULT_PLATFORM);
  const top = await client.getManifest(repo, ref.digest ?? ref.tag ?? "latest", ACCEPT);
  let manifest = top;
  let platform: string | undefined;
  let value = parseJson(top.bytes, `manifest of ${name}`);
  let mediaType = mediaTypeOf(top.mediaType, value, name);
  if (INDEXES.includes(mediaType)) {
    const list = (value as { manifests?: unknown }).manifests;
    if (!Array.isArray(list)) throw malformed(name, "an image index with a list of manifests", describeJson(value, "manifests"));
    if (list.length > LIMITS.maxImages) throw malformed(name, `an index of at most ${LIMITS.maxImages} manifests`, `${list.length}`);
    const entries = list.map((d, i) => descriptor(d, `entry ${i} of the index of ${name}`, name));
    const pick = choosePlatform(entries, wanted);
    if (pick === undefined) {
      const have = entries.map(platformOf).filter((p) => p !== undefined);
      throw new StrataError("E_UNSUPPORTED", `${name} has no image for ${opts.platform ?? DEFAULT_PLATFORM}; it has ${have.length === 0 ? "no platform-tagged images" : have.join(", ")}`,
        "choose one of the platforms listed with --platform OS/ARCH[/VARIANT]");
    }
    if (!MANIFESTS.includes(pick.mediaType)) {
      throw new StrataError("E_UNSUPPORTED", `${name}: expected an image manifest for ${platformOf(pick)}, found media type ${pick.mediaType} (a nested index)`, "strata reads an index of image manifests");
    }
    platform = platformOf(pick);
    manifest = await client.getManifest(repo, pick.digest, ACCEPT);
    if (manifest.bytes.length !== pick.size) throw new StrataError("E_CHECKSUM", `manifest ${pick.digest} of ${name} is ${manifest.bytes.length} bytes, the index says ${pick.size}`, "the registry serves other bytes than the index names; do not use this image");
    value = parseJson(manifest.bytes, `manifest ${pick.digest} of ${name}`);
    mediaType = mediaTypeOf(manifest.mediaType, value, name);
    if (!MANIFESTS.includes(mediaType)) throw malformed(name, `an image manifest for ${platform}`, `media type ${mediaType}`);
  }
  const m = value as { schemaVersion?: unknown; config?: unknown; layers?: unknown };
  if (m.schemaVersion !== 2 || !Array.isArray(m.layers)) throw malformed(name, "an image manifest (schemaVersion 2, config, layers)", describeJson(value, "layers"));
  if (m.layers.length > LIMITS.maxLayers) throw malformed(name, `at most ${LIMITS.maxLayers} layers`, `${m.layers.length}`);
  const configDesc = descriptor(m.config, "the manifest's config", name);
  if (!CONFIGS.includes(configDesc.mediaType)) {
    throw new StrataError("E_UNSUPPORTED", `${name}: expected an image config, found media type ${configDesc.mediaType} (an artifact, not an image)`, "strata reads container images");
  }
  if (configDesc.size > LIMITS.maxJson) throw malformed(name, `an image config of at most ${LIMITS.maxJson} bytes`, `${configDesc.size} bytes`);
  const layerDescs = m.layers.map((l, i) => descriptor(l, `layer ${i + 1} of ${name}`, name));
  for (const d of layerDescs) {
    if (d.size > LIMITS.maxLayerBytes) throw malformed(name, `layer blobs of at most ${LIMITS.maxLayerBytes} bytes`, `${d.digest} of ${d.size}`);
    if (!LAYERS.includes(d.mediaType)) {
      throw new StrataError("E_UNSUPPORTED", `${name}: expected tar layers (plain, gzip or zstd), found a layer of media type ${d.mediaType}`,
        "strata reads image layers; foreign (Windows) and artifact layers are not supported");
    }
  }
  const configBytes = await readSmallBlob(client, repo, configDesc);
  const config = checkConfig(name, parseJson(configBytes, `config of ${name}`), configDesc.digest);
  if (config.rootfs.diff_ids.length !== layerDescs.length) {
    throw malformed(name, `as many layers as the config has diff_ids (${config.rootfs.diff_ids.length})`, `${layerDescs.length} layers`);
  }
  return {
    reference: ref,
    digest: top.digest,
    manifestDigest: manifest.digest,
    manifestMediaType: mediaType,
    resolvedFromTag: ref.digest === undefined,
    ...(platform === undefined ? {} : { platform }),
    config,
    configBytes,
    imageId: configDesc.digest,
    layers: layerDescs.map((d, i) => ({ mediaType: d.mediaType, digest: d.digest, size: d.size, diffId: config.rootfs.diff_ids[i]! })),
  };
}

/** A config blob, into memory: its size is bounded (checked before) and it is verified by getBlob. */
async function readSmallBlob(client: RegistryClient, repo: string, d: Descriptor): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of await client.getBlob(repo, d.digest, d.size)) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** The media type a manifest has: its own field, else the Content-Type; schema 1 refused by name. */
function mediaTypeOf(header: string, value: unknown, name: string): string {
  const v = value as { mediaType?: unknown; schemaVersion?: unknown; manifests?: unknown };
  const field = typeof v.mediaType === "string" ? v.mediaType : undefined;
  if (v.schemaVersion === 1 || SCHEMA1.includes(header) || (field !== undefined && SCHEMA1.includes(field))) {
    throw new StrataError("E_UNSUPPORTED", `${name} is a Docker schema 1 manifest, which strata does not read`,
      "convert it: skopeo copy --format v2s2 docker://SRC docker://DEST, or push it again with a current tool");
  }
  if (field !== undefined) return field;
  if (header !== "" && header !== "application/json") return header;
  // OCI allows mediaType to be left out: tell an index by its manifests list.
  return Array.isArray(v.manifests) ? MEDIA_TYPES.index : MEDIA_TYPES.manifest;
}

function descriptor(value: unknown, role: string, name: string): Descriptor {
  const d = value as Partial<Descriptor> | null;
  if (typeof d !== "object" || d === null || typeof d.mediaType !== "string" || typeof d.digest !== "string" || !Number.isSafeInteger(d.size) || (d.size as number) < 0) {
    throw malformed(name, `${role} to be a descriptor (mediaType, digest, size)`, describeJson(value));
  }
  if (!DIGEST.test(d.digest)) {
    throw new StrataError("E_UNSUPPORTED", `${name}: expected a sha256 digest in ${role}, found ${/^[a-z0-9]+:/.test(d.digest) ? `a ${d.digest.split(":")[0]!.slice(0, 20)} digest` : "something else"}`, "strata reads sha256-addressed images");
  }
  return d as Descriptor;
}

interface Platform {
  readonly os: string;
  readonly architecture: string;
  readonly variant: string | undefined;
}

export function parsePlatform(s: string): Platform {
  const parts = s.split("/");
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => !/^[a-z0-9_.-]+$/.test(p))) {
    throw new StrataError("E_USAGE", `platform must be OS/ARCH or OS/ARCH/VARIANT, got ${JSON.stringify(s)}`, "e.g. --platform linux/amd64 or linux/arm64/v8");
  }
  return { os: parts[0]!, architecture: parts[1]!, variant: parts[2] };
}

/** The entry for `wanted`: os and architecture equal; the variant equal when asked for, else the first. */
function choosePlatform(entries: readonly Descriptor[], wanted: Platform): Descriptor | undefined {
  const matching = entries.filter((d) => d.platform?.os === wanted.os && d.platform.architecture === wanted.architecture);
  if (wanted.variant !== undefined) return matching.find((d) => d.platform?.variant === wanted.variant);
  return matching[0];
}

function platformOf(d: Descriptor): string | undefined {
  const p = d.platform;
  if (typeof p?.os !== "string" || typeof p.architecture !== "string" || p.os === "unknown") return undefined;
  return `${p.os}/${p.architecture}${typeof p.variant === "string" && p.variant !== "" ? `/${p.variant}` : ""}`;
}

/** Through the readers' one JSON parser (size, depth, numbers checked; bytes never quoted). */
function parseJson(bytes: Buffer, what: string): unknown {
  const value = parseJsonInput(bytes, what);
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw malformed(what, "a JSON object", describeJson(value));
  return value;
}

function malformed(name: string, expected: string, found: string): StrataError {
  return new StrataError("E_REGISTRY", `${name}: expected ${expected}, found ${found}`, "the registry serves a malformed image; push it again with a current tool");
}
