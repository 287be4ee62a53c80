/**
 * The images an input holds, read from its manifests: docker-archive manifest.json entries, or
 * OCI index.json descriptors down to image manifests. Every JSON document is checked (types,
 * digests, sizes, that layers and diff_ids agree in number) before anything else is used; layer
 * bytes are not read here. Counts are bounded by LIMITS (images, layers per image, layer
 * references in all) before anything they name is read, and each document is read once
 * (readJson caches by name), so memory follows the distinct bytes of the input, not its claims.
 */
import os from "node:os";
import type { Digest } from "../digest.js";
import { StrataError } from "../errors.js";
import { readJson, type ImageFiles } from "./image-files.js";
import { describeJson } from "./json-input.js";
import { LIMITS } from "./limits.js";
import type { SourceFormat, SourceConfig } from "./types.js";

/** A layer as a manifest names it. */
export interface LayerRef {
  /** Member or blob name in the input. */
  readonly name: string;
  /** From the config's rootfs.diff_ids. */
  readonly diffId: Digest;
  /** OCI only: the descriptor's media type, digest and size (of the blob as stored). */
  readonly mediaType?: string;
  readonly digest?: Digest;
  readonly blobSize?: number;
}

export interface ImageEntry {
  /** manifest.json RepoTags; for OCI, io.containerd.image.name, or a ref.name that is a full name:tag. */
  readonly repoTags: readonly string[];
  /** manifest.json RepoTags exactly as given (null, absent or a list): mergeImages keeps it. */
  readonly rawRepoTags: readonly string[] | null | undefined;
  /** OCI: the index entry's org.opencontainers.image.ref.name. */
  readonly refName?: string;
  readonly configName: string;
  readonly configBytes: Buffer;
  readonly config: SourceConfig;
  /** sha256 of the config bytes. */
  readonly imageId: Digest;
  readonly layers: readonly LayerRef[];
}

const MEDIA = {
  ociIndex: "application/vnd.oci.image.index.v1+json",
  ociManifest: "application/vnd.oci.image.manifest.v1+json",
  dockerList: "application/vnd.docker.distribution.manifest.list.v2+json",
  dockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
} as const;

const DIGEST = /^sha256:[0-9a-f]{64}$/;

/** Which format the files are in, from the well-known names they hold. */
export function detectFormat(files: ImageFiles, isDirectory: boolean): SourceFormat {
  const oci = files.has("oci-layout");
  if (isDirectory) {
    if (!oci) {
      throw new StrataError("E_CLOSURE_INPUT", `${files.what}: expected an OCI image layout directory, found a directory without an oci-layout file`,
        "give an OCI layout (skopeo copy ... oci:DIR:TAG) or an image archive");
    }
    return "oci";
  }
  if (files.has("manifest.json")) return oci ? "docker" : "docker-archive";
  if (oci) return "oci-archive";
  throw new StrataError("E_CLOSURE_INPUT", `${files.what}: expected a docker-archive (manifest.json) or an OCI layout (oci-layout, index.json), found neither`,
    "give an image made by docker save, podman save, skopeo copy or strata");
}

export async function listImages(files: ImageFiles, format: SourceFormat): Promise<ImageEntry[]> {
  return format === "docker-archive" || format === "docker" ? listDockerArchive(files) : listOciLayout(files);
}

async function listDockerArchive(files: ImageFiles): Promise<ImageEntry[]> {
  const what = files.what;
  const { value } = await readJson(files, "manifest.json", "manifest.json");
  if (!Array.isArray(value) || value.length === 0) {
    throw bad(what, "manifest.json to be a non-empty list of images", describeJson(value));
  }
  if (value.length > LIMITS.maxImages) throw bad(what, `manifest.json to list at most ${LIMITS.maxImages} images`, `${value.length}`);
  const refs = layerRefBudget(what);
  const out: ImageEntry[] = [];
  for (const [i, entry] of value.entries()) {
    const e = entry as { Config?: unknown; RepoTags?: unknown; Layers?: unknown } | null;
    if (typeof e !== "object" || e === null || typeof e.Config !== "string" || !Array.isArray(e.Layers) || !e.Layers.every((l) => typeof l === "string")) {
      throw bad(what, `manifest.json entry ${i} to have a Config name and a list of Layers`, describeJson(entry, typeof e === "object" && e !== null && typeof e.Config === "string" ? "Layers" : "Config"));
    }
    refs(`manifest.json entry ${i}`, e.Layers.length);
    const tags = e.RepoTags;
    if (tags !== undefined && tags !== null && !(Array.isArray(tags) && tags.every((t) => typeof t === "string"))) {
      throw bad(what, `manifest.json entry ${i}: RepoTags to be a list of strings`, describeJson(tags));
    }
    const layers = e.Layers as string[];
    const { config, bytes, sha256 } = await readConfig(files, e.Config);
    const configHex = /^(?:.*\/)?(?:sha256:)?([0-9a-f]{64})(?:\.json)?$/.exec(e.Config)?.[1];
    if (configHex !== undefined && configHex !== sha256) {
      throw new StrataError("E_CHECKSUM", `${what}: the config ${e.Config} is named by digest ${configHex}, but its bytes hash to ${sha256}`,
        "the archive is corrupt or was edited; re-create it");
    }
    checkLayerCount(what, `manifest.json entry ${i}`, layers.length, config);
    for (const name of layers) files.file(name, "a layer");
    out.push({
      repoTags: (tags ?? []) as string[],
      rawRepoTags: tags as string[] | null | undefined,
      configName: e.Config,
      configBytes: bytes,
      config,
      imageId: `sha256:${sha256}`,
      layers: layers.map((name, j) => ({ name, diffId: config.rootfs.diff_ids[j]! })),
    });
  }
  return out;
}

interface Descriptor {
  readonly mediaType: string;
  readonly digest: Digest;
  readonly size: number;
  readonly annotations?: { readonly [key: string]: string };
  readonly platform?: { readonly os?: string; readonly architecture?: string };
}

async function listOciLayout(files: ImageFiles): Promise<ImageEntry[]> {
  const what = files.what;
  const { value: layout } = await readJson(files, "oci-layout", "the oci-layout file");
  const version = (layout as { imageLayoutVersion?: unknown } | null)?.imageLayoutVersion;
  if (version !== "1.0.0") {
    throw new StrataError("E_UNSUPPORTED", `${what}: expected oci-layout imageLayoutVersion "1.0.0", found ${typeof version === "string" && version.length <= 32 ? JSON.stringify(version) : describeJson(version)}`,
      "re-create the layout with skopeo copy");
  }
  const manifests = await indexManifests(files, 0);
  const refs = layerRefBudget(what);
  const out: ImageEntry[] = [];
  for (const { descriptor, top } of manifests) {
    const { value } = await readBlob(files, descriptor, "an image manifest");
    const m = value as { schemaVersion?: unknown; config?: unknown; layers?: unknown } | null;
    if (typeof m !== "object" || m === null || m.schemaVersion !== 2 || !Array.isArray(m.layers)) {
      throw bad(what, `manifest ${descriptor.digest} to be an image manifest (schemaVersion 2, config, layers)`, describeJson(value, "layers"));
    }
    refs(`manifest ${descriptor.digest}`, m.layers.length);
    const configDesc = checkDescriptor(what, m.config, "the manifest's config");
    const layerDescs = m.layers.map((l, i) => checkDescriptor(what, l, `layer ${i} of manifest ${descriptor.digest}`));
    for (const d of layerDescs) {
      if (!d.mediaType.includes("tar") || d.mediaType.includes("foreign")) {
        throw new StrataError("E_UNSUPPORTED", `${what}: expected tar layers, found a layer of media type ${d.mediaType}`,
          "strata reads image layers (tar, tar+gzip, tar+zstd); foreign and artifact layers are not supported");
      }
    }
    const { config, bytes, sha256: configHex, name: configName } = await readConfigBlob(files, configDesc);
    checkLayerCount(what, `manifest ${descriptor.digest}`, layerDescs.length, config);
    for (const d of layerDescs) files.file(blobName(d.digest), "a layer blob");
    const annotations = top.annotations ?? {};
    const refName = annotations["org.opencontainers.image.ref.name"];
    const fullName = annotations["io.containerd.image.name"] ?? (refName !== undefined && isNameAndTag(refName) ? refName : undefined);
    out.push({
      repoTags: fullName === undefined ? [] : [fullName],
      rawRepoTags: fullName === undefined ? null : [fullName],
      ...(refName === undefined ? {} : { refName }),
      configName,
      configBytes: bytes,
      config,
      imageId: `sha256:${configHex}`,
      layers: layerDescs.map((d, i) => ({ name: blobName(d.digest), diffId: config.rootfs.diff_ids[i]!, mediaType: d.mediaType, digest: d.digest, blobSize: d.size })),
    });
  }
  return out;
}

/**
 * The image manifests an index lists, each with the index.json entry it came from (which holds
 * the ref annotations). A nested index (multi-platform) contributes the manifest for this
 * machine's platform, or its first one.
 */
async function indexManifests(files: ImageFiles, depth: number, nested?: { index: Descriptor; top: Descriptor }): Promise<{ descriptor: Descriptor; top: Descriptor }[]> {
  const what = files.what;
  if (depth > LIMITS.maxIndexDepth) throw bad(what, `at most ${LIMITS.maxIndexDepth} nested image indexes`, "more");
  const role = nested === undefined ? "index.json" : `image index ${nested.index.digest}`;
  const { value } = nested === undefined ? await readJson(files, "index.json", role) : await readBlob(files, nested.index, role);
  const list = (value as { manifests?: unknown } | null)?.manifests;
  if (!Array.isArray(list)) {
    throw bad(what, `${role} to have a list of manifests`, list === null ? "\"manifests\": null (Docker 25's docker save IMAGE@DIGEST wrote this, moby #47210)" : describeJson(value, "manifests"));
  }
  if (list.length === 0) throw bad(what, `${role} to list at least one image`, "an empty list");
  if (list.length > LIMITS.maxImages) throw bad(what, `${role} to list at most ${LIMITS.maxImages} manifests`, `${list.length}`);
  const descriptors = list.map((d, i) => checkDescriptor(what, d, `entry ${i} of ${role}`));
  const out: { descriptor: Descriptor; top: Descriptor }[] = [];
  for (const d of nested === undefined ? descriptors : [pickPlatform(descriptors)]) {
    const top = nested?.top ?? d;
    if (d.mediaType === MEDIA.ociIndex || d.mediaType === MEDIA.dockerList) {
      out.push(...(await indexManifests(files, depth + 1, { index: d, top })));
    } else if (d.mediaType === MEDIA.ociManifest || d.mediaType === MEDIA.dockerManifest) {
      out.push({ descriptor: d, top });
    } else {
      throw new StrataError("E_UNSUPPORTED", `${what}: expected image manifests in ${role}, found media type ${d.mediaType}`,
        "strata reads OCI and Docker schema 2 image manifests");
    }
  }
  return out;
}

/** `name:tag` (the tag after the last `/`), not a bare tag such as skopeo's `oci:DIR:latest` writes. */
function isNameAndTag(ref: string): boolean {
  const colon = ref.lastIndexOf(":");
  return colon > 0 && colon < ref.length - 1 && !ref.slice(colon).includes("/");
}

const GO_ARCH: Record<string, string> = { x64: "amd64", arm64: "arm64", arm: "arm", ia32: "386", ppc64: "ppc64le", s390x: "s390x", riscv64: "riscv64" };

function pickPlatform(descriptors: Descriptor[]): Descriptor {
  const arch = GO_ARCH[os.arch()];
  return descriptors.find((d) => d.platform?.os === "linux" && d.platform.architecture === arch) ?? descriptors[0]!;
}

function checkDescriptor(what: string, value: unknown, role: string): Descriptor {
  const d = value as Partial<Descriptor> | null;
  if (typeof d !== "object" || d === null || typeof d.mediaType !== "string" || typeof d.digest !== "string" || !Number.isSafeInteger(d.size) || (d.size as number) < 0) {
    throw bad(what, `${role} to be a descriptor (mediaType, digest, size)`, describeJson(value));
  }
  if (!DIGEST.test(d.digest)) {
    if (/^[a-z0-9]+:/.test(d.digest) && !d.digest.startsWith("sha256:")) {
      throw new StrataError("E_UNSUPPORTED", `${what}: expected sha256 digests, found ${d.digest.slice(0, 80)} in ${role}`, "copy the image with skopeo, which writes sha256 digests");
    }
    throw bad(what, `${role} to have a digest sha256:<64 hex>`, "another digest");
  }
  return d as Descriptor;
}

export function blobName(digest: Digest): string {
  return `blobs/sha256/${digest.slice("sha256:".length)}`;
}

/** A JSON blob named by its descriptor, size and digest verified. */
async function readBlob(files: ImageFiles, d: Descriptor, role: string): Promise<{ value: unknown; bytes: Buffer; sha256: string; name: string }> {
  const name = blobName(d.digest);
  const r = await readJson(files, name, role);
  if (r.bytes.length !== d.size) {
    throw bad(files.what, `${role} ${d.digest} of ${d.size} bytes (its descriptor says)`, `${r.bytes.length} bytes`);
  }
  if (`sha256:${r.sha256}` !== d.digest) {
    throw new StrataError("E_CHECKSUM", `${files.what}: ${role} ${name}: expected digest ${d.digest}, found sha256:${r.sha256}`,
      "the layout is corrupt or was edited; copy the image again");
  }
  return { ...r, name };
}

async function readConfigBlob(files: ImageFiles, d: Descriptor): Promise<{ config: SourceConfig; bytes: Buffer; sha256: string; name: string }> {
  const r = await readBlob(files, d, "the image config");
  return { config: checkConfig(files.what, r.value, r.name), bytes: r.bytes, sha256: r.sha256, name: r.name };
}

async function readConfig(files: ImageFiles, name: string): Promise<{ config: SourceConfig; bytes: Buffer; sha256: string }> {
  const r = await readJson(files, name, "the image config");
  return { config: checkConfig(files.what, r.value, name), bytes: r.bytes, sha256: r.sha256 };
}

/** The fields strata relies on: rootfs.type "layers" and sha256 diff_ids; `config` an object if present. */
export function checkConfig(what: string, value: unknown, name: string): SourceConfig {
  const c = value as { rootfs?: { type?: unknown; diff_ids?: unknown }; config?: unknown } | null;
  if (typeof c !== "object" || c === null || Array.isArray(c)) throw bad(what, `the image config ${name} to be a JSON object`, describeJson(value));
  const rootfs = c.rootfs;
  if (typeof rootfs !== "object" || rootfs === null || rootfs.type !== "layers" || !Array.isArray(rootfs.diff_ids)) {
    throw bad(what, `the image config ${name} to have rootfs {type: "layers", diff_ids: [...]}`, `rootfs ${describeJson(rootfs, "diff_ids")}`);
  }
  if (rootfs.diff_ids.length > LIMITS.maxLayers) throw bad(what, `the image config ${name} to have at most ${LIMITS.maxLayers} diff_ids`, `${rootfs.diff_ids.length}`);
  for (const id of rootfs.diff_ids) {
    if (typeof id !== "string" || !DIGEST.test(id)) throw bad(what, `diff_ids in ${name} of the form sha256:<64 hex>`, describeJson(id));
  }
  if (c.config !== undefined && c.config !== null && (typeof c.config !== "object" || Array.isArray(c.config))) {
    throw bad(what, `the image config ${name}: config to be an object`, describeJson(c.config));
  }
  return value as SourceConfig;
}

function checkLayerCount(what: string, where: string, layers: number, config: SourceConfig): void {
  if (layers !== config.rootfs.diff_ids.length) {
    throw bad(what, `${where} to list as many layers as its config has diff_ids (${config.rootfs.diff_ids.length})`, `${layers} layers`);
  }
}

/**
 * Counts the layers each image names, before any of them is looked up: at most LIMITS.maxLayers
 * per image, LIMITS.maxLayerRefs in all.
 */
function layerRefBudget(what: string): (where: string, layers: number) => void {
  let total = 0;
  return (where, layers) => {
    if (layers > LIMITS.maxLayers) throw bad(what, `${where} to list at most ${LIMITS.maxLayers} layers`, `${layers}`);
    total += layers;
    if (total > LIMITS.maxLayerRefs) throw bad(what, `at most ${LIMITS.maxLayerRefs} layers in all its images`, "more");
  };
}

function bad(what: string, expected: string, found: string): StrataError {
  return new StrataError("E_CLOSURE_INPUT", `${what}: expected ${expected}, found ${found}`, "the image is malformed; re-create it with docker save, podman save or skopeo copy");
}
