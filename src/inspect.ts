/**
 * `strata inspect IMAGE`: what an image holds, layer by layer (digests, sizes, entry counts and
 * the /nix/store paths in each), for a docker-archive, an OCI layout or an oci-archive. Nothing is
 * extracted to disk: an archive is streamed once, every member that looks like a tar scanned as it
 * passes (manifest.json comes last in docker and strata archives, so which members are layers is
 * only known at the end); a layout's blobs are read in place. Every layer's digest is checked
 * against its config and descriptor, as openImage does. A registry image (`docker://REF`) is read
 * the same way: its manifest resolved (and its digest shown), each blob streamed through the
 * scan, verified by digest, and nothing written to disk.
 */
import fs from "node:fs";
import type { JsonValue } from "./image/py-json.js";
import type { Digest } from "./digest.js";
import { StrataError, toStrataError } from "./errors.js";
import { humanSize } from "./format-bytes.js";
import { archiveFiles, directoryFiles, fileChunks, type ImageFiles } from "./source/image-files.js";
import { detectFormat, listImages, type ImageEntry, type LayerRef } from "./source/image-list.js";
import { scanLayer, type LayerScan } from "./source/layer-scan.js";
import { selectImage } from "./source/open-images.js";
import { readArchive } from "./source/read-archive.js";
import type { Compression, SourceFormat } from "./source/types.js";
import type { RegistryOptions } from "./options.js";
import { RegistryConnections } from "./dest/registry/connect.js";
import { formatReference, isDockerReference, parseReference } from "./dest/registry/reference.js";
import { resolveRegistryImage } from "./source/registry-manifest.js";
import { DOWNLOADS_AT_ONCE } from "./source/read-registry.js";
import { mapLimit } from "./write/map-limit.js";

export interface InspectLayer {
  /** 0-based, bottom first. */
  readonly index: number;
  /** sha256 of the uncompressed tar, as the config lists it (and verified). */
  readonly diffId: Digest;
  /** sha256 of the blob as stored: the diff_id for an uncompressed layer. */
  readonly digest: Digest;
  /** Bytes of the uncompressed tar. */
  readonly size: number;
  /** Bytes as stored, when the layer is stored compressed. */
  readonly compressedSize?: number;
  /** The OCI descriptor's media type (OCI layouts and archives only). */
  readonly mediaType?: string;
  /** Member or blob name in the input. */
  readonly name: string;
  /** `/nix/store/<name>` of every store path the layer holds files of, sorted. */
  readonly storePaths: readonly string[];
  /** Entries in the layer tar. */
  readonly entries: number;
}

export interface InspectResult {
  readonly format: SourceFormat;
  /** How the outer archive is compressed ("none" for a directory). */
  readonly compression: Compression;
  /** How many images the input holds; the one described is the first, or the one `ref` names. */
  readonly images: number;
  /** Which of them is described: 0-based. */
  readonly imageIndex: number;
  readonly repoTags: readonly string[];
  /** OCI: the index entry's org.opencontainers.image.ref.name. */
  readonly refName?: string;
  /** sha256 of the image config. */
  readonly imageId: Digest;
  /** A registry image: the reference, the digest it names now, and the image manifest's (an index's platform's). */
  readonly reference?: string;
  readonly digest?: Digest;
  readonly manifestDigest?: Digest;
  readonly platform?: string;
  readonly config: {
    readonly architecture?: string;
    readonly os?: string;
    readonly created?: string;
    readonly Cmd?: JsonValue;
    readonly Entrypoint?: JsonValue;
    readonly Env?: JsonValue;
  };
  readonly layers: readonly InspectLayer[];
}

export interface InspectOptions {
  /** Which image of a multi-image input (RepoTag or OCI ref name). Default: the first. */
  readonly ref?: string;
  readonly signal?: AbortSignal;
  /** A `docker://` image: credentials and TLS. */
  readonly registry?: RegistryOptions;
  /** A `docker://` image index: which platform (default linux/amd64). */
  readonly platform?: string;
}

export async function inspectImage(input: string, options: InspectOptions = {}): Promise<InspectResult> {
  if (isDockerReference(input)) return inspectRegistryImage(input, options);
  try {
    let st: fs.Stats;
    try {
      st = fs.statSync(input);
    } catch (err) {
      throw new StrataError("E_USAGE", `expected an image at ${input}, found no such file or directory`, "check the path", { cause: err });
    }
    let files: ImageFiles;
    let compression: Compression = "none";
    if (st.isDirectory()) files = directoryFiles(input, input);
    else {
      const archive = await readArchive(input, { kind: "scan" }, { what: input, signal: options.signal });
      files = archiveFiles(archive.members);
      compression = archive.compression;
    }
    const format = detectFormat(files, st.isDirectory());
    const images = await listImages(files, format);
    const image = selectImage(images, options.ref, input);
    const layers: InspectLayer[] = [];
    for (const [index, ref] of image.layers.entries()) {
      options.signal?.throwIfAborted();
      const scan = await layerScan(files, ref, options.signal);
      layers.push(describeLayer(image.layers.length, index, ref, scan, input));
    }
    return {
      format,
      compression,
      images: images.length,
      imageIndex: images.indexOf(image),
      repoTags: image.repoTags,
      ...(image.refName === undefined ? {} : { refName: image.refName }),
      imageId: image.imageId,
      config: configSummary(image.config),
      layers,
    };
  } catch (err) {
    throw toStrataError(err, input);
  }
}

function configSummary(c: ImageEntry["config"]): InspectResult["config"] {
  const run = c.config ?? {};
  return {
    ...(typeof c.architecture === "string" ? { architecture: c.architecture } : {}),
    ...(typeof c.os === "string" ? { os: c.os } : {}),
    ...(typeof c.created === "string" ? { created: c.created } : {}),
    ...(run["Cmd"] === undefined ? {} : { Cmd: run["Cmd"] }),
    ...(run["Entrypoint"] === undefined ? {} : { Entrypoint: run["Entrypoint"] }),
    ...(run["Env"] === undefined ? {} : { Env: run["Env"] }),
  };
}

/** A registry image: manifest and config fetched, each layer blob streamed through the scan (a few at once), nothing stored. */
async function inspectRegistryImage(input: string, options: InspectOptions): Promise<InspectResult> {
  const ref = parseReference(input);
  const connections = new RegistryConnections(options.registry ?? {});
  try {
    const client = connections.client(ref, false);
    const m = await resolveRegistryImage(client, ref, { platform: options.platform });
    const name = formatReference(ref);
    const refs: LayerRef[] = m.layers.map((l) => ({ name: l.digest, diffId: l.diffId, mediaType: l.mediaType, digest: l.digest, blobSize: l.size }));
    const layers = await mapLimit(refs, DOWNLOADS_AT_ONCE, async (l, index) => {
      options.signal?.throwIfAborted();
      const body = await client.getBlob(ref.repository, l.digest!, l.blobSize);
      let scan: LayerScan;
      try {
        const what = `layer ${index + 1} of ${refs.length} (${l.digest}) of ${name}`;
        scan = await scanLayer(body as AsyncIterable<Buffer>, { what, list: true, ...(options.signal === undefined ? {} : { signal: options.signal }) });
      } catch (err) {
        // Decompression may fail before the digest check at the blob's end: a damaged download
        // looks like corrupt gzip. Download it once more only to verify, and report what it is.
        if (err instanceof StrataError && err.code === "E_CLOSURE_INPUT") {
          for await (const chunk of await client.getBlob(ref.repository, l.digest!, l.blobSize)) void chunk;
        }
        throw err;
      } finally {
        body.destroy();
      }
      return describeLayer(refs.length, index, l, scan, name);
    });
    return {
      format: "registry",
      compression: "none",
      images: 1,
      imageIndex: 0,
      repoTags: ref.tag === undefined ? [] : [`${ref.registry}/${ref.repository}:${ref.tag}`],
      imageId: m.imageId,
      reference: name,
      digest: m.digest,
      manifestDigest: m.manifestDigest,
      ...(m.platform === undefined ? {} : { platform: m.platform }),
      config: configSummary(m.config),
      layers,
    };
  } catch (err) {
    throw toStrataError(err, input);
  } finally {
    connections.close();
  }
}

async function layerScan(files: ImageFiles, ref: LayerRef, signal: AbortSignal | undefined): Promise<LayerScan> {
  const file = files.file(ref.name, "a layer");
  const what = `layer ${ref.name} of ${files.what}`;
  if (file.layer instanceof Error) throw file.layer;
  if (file.layer !== undefined) return file.layer;
  if (file.file !== undefined) return scanLayer(fileChunks({ ...file, file: file.file }, files.what), { what, list: true, ...(signal === undefined ? {} : { signal }) });
  throw new StrataError("E_CLOSURE_INPUT", `${what}: expected a tar (plain, gzip or zstd), found data that is none of them`,
    "the image is corrupt; re-create it");
}

function describeLayer(count: number, index: number, ref: LayerRef, scan: LayerScan, input: string): InspectLayer {
  const where = `layer ${index + 1} of ${count} (${ref.name}) of ${input}`;
  if (ref.digest !== undefined && scan.blobDigest !== ref.digest) {
    throw new StrataError("E_CHECKSUM", `${where}: expected blob digest ${ref.digest} (its descriptor), found ${scan.blobDigest}`, "the image is corrupt or was edited; copy it again");
  }
  if (scan.diffId !== ref.diffId) {
    throw new StrataError("E_CHECKSUM", `${where}: expected diff_id ${ref.diffId} (the image config), found ${scan.diffId} (sha256 of the uncompressed layer)`,
      "the image is corrupt or its config does not describe its layers; re-create it");
  }
  return {
    index,
    diffId: scan.diffId,
    digest: scan.blobDigest,
    size: scan.size,
    ...(scan.compression === "none" ? {} : { compressedSize: scan.blobSize }),
    ...(ref.mediaType === undefined ? {} : { mediaType: ref.mediaType }),
    name: ref.name,
    storePaths: scan.storePaths ?? [],
    entries: scan.entries ?? 0,
  };
}

/** A human table of an inspect result: the image, then one row per layer with its store paths. */
export function formatInspect(r: InspectResult): string {
  const lines: string[] = [];
  const kv = (k: string, v: string): void => void lines.push(`${k.padEnd(11)}${v}`);
  kv("image", `${r.imageId}`);
  if (r.reference !== undefined) kv("reference", r.reference);
  if (r.digest !== undefined) kv("digest", r.digest);
  if (r.manifestDigest !== undefined && r.manifestDigest !== r.digest) kv("manifest", `${r.manifestDigest}${r.platform === undefined ? "" : ` (${r.platform})`}`);
  kv("format", `${r.format}${r.compression === "none" ? "" : ` (${r.compression})`}${r.images > 1 ? `, image ${r.imageIndex + 1} of ${r.images}` : ""}`);
  kv("tags", r.repoTags.length === 0 ? "(none)" : r.repoTags.join(", "));
  if (r.refName !== undefined) kv("ref", r.refName);
  kv("platform", `${r.config.os ?? "?"}/${r.config.architecture ?? "?"}`);
  if (r.config.created !== undefined) kv("created", r.config.created);
  if (r.config.Entrypoint !== undefined) kv("entrypoint", JSON.stringify(r.config.Entrypoint));
  if (r.config.Cmd !== undefined) kv("cmd", JSON.stringify(r.config.Cmd));
  if (Array.isArray(r.config.Env)) r.config.Env.forEach((e, i) => kv(i === 0 ? "env" : "", String(e)));
  const total = r.layers.reduce((n, l) => n + l.size, 0);
  kv("layers", `${r.layers.length}, ${humanSize(total)} uncompressed`);
  lines.push("");
  const rows = r.layers.map((l) => [
    String(l.index + 1),
    short(l.diffId),
    humanSize(l.size),
    l.compressedSize === undefined ? "-" : humanSize(l.compressedSize),
    String(l.entries),
    l.storePaths,
  ] as const);
  const head = ["#", "diff_id", "size", "stored", "entries"] as const;
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const right = [true, false, true, true, true];
  const cell = (s: string, i: number): string => (right[i] === true ? s.padStart(widths[i]!) : s.padEnd(widths[i]!));
  lines.push([...head.map((h, i) => cell(h, i)), "store paths"].join("  "));
  const indent = widths.reduce((n, w) => n + w + 2, 0);
  for (const row of rows) {
    const paths = row[5].length === 0 ? ["-"] : row[5];
    lines.push([...row.slice(0, 5).map((s, i) => cell(s as string, i)), paths[0]].join("  "));
    for (const p of paths.slice(1)) lines.push(" ".repeat(indent) + p);
  }
  return lines.join("\n") + "\n";
}

function short(d: Digest): string {
  return d.slice(0, "sha256:".length + 12);
}
