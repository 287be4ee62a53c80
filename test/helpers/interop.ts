/**
 * Helpers for interop tests: finding the real tools (skip loudly when one is missing locally,
 * fail when STRATA_REQUIRE_INTEROP=1, as CI sets it), and reading a docker-archive back with an
 * independent tar parser (tar-stream) to re-validate every layer digest.
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { extract as tarExtract, type Header as TarHeader } from "tar-stream";

/**
 * Whether `name` is an executable on PATH. When it is not: with STRATA_REQUIRE_INTEROP=1 this
 * throws (the suite must not silently pass without the tool), else it warns loudly and returns
 * false, for `describe.skipIf(!requireTool("skopeo"))`.
 */
export function requireTool(name: string): boolean {
  if (onPath(name)) return true;
  if (process.env["STRATA_REQUIRE_INTEROP"] === "1") {
    throw new Error(`interop tests require ${name}, which is not on PATH (STRATA_REQUIRE_INTEROP=1); install it (see /work/shared/interop.md)`);
  }
  console.warn(`\n*** SKIPPING interop tests that need ${name} because ${name} is not installed (not on PATH) ***\n`);
  return false;
}

function onPath(name: string): boolean {
  for (const dir of (process.env["PATH"] ?? "").split(path.delimiter)) {
    if (dir === "") continue;
    try {
      fs.accessSync(path.join(dir, name), fs.constants.X_OK);
      if (fs.statSync(path.join(dir, name)).isFile()) return true;
    } catch {
      // not here
    }
  }
  return false;
}

export interface DockerArchiveManifestEntry {
  readonly Config: string;
  readonly RepoTags: readonly string[] | null;
  readonly Layers: readonly string[];
}

export interface ImageConfigJson {
  readonly created?: string;
  readonly architecture?: string;
  readonly os?: string;
  readonly config?: Record<string, unknown>;
  readonly rootfs: { readonly type: string; readonly diff_ids: readonly string[] };
  readonly history?: readonly { readonly created?: string; readonly comment?: string }[];
}

export interface DockerArchive {
  /** manifest.json, parsed (one entry per image). */
  readonly manifest: readonly DockerArchiveManifestEntry[];
  /** The first image's config, parsed. */
  readonly config: ImageConfigJson;
  readonly configBytes: Buffer;
  /** The first image's layer tars, in manifest order. */
  readonly layers: Buffer[];
  /** Member names in archive order. */
  readonly members: string[];
  /** How the outer archive was compressed. */
  readonly compression: "none" | "gzip" | "zstd";
}

/** The bytes of an archive file, decompressed if it starts with a gzip or zstd magic. */
export function readMaybeCompressed(file: string): { bytes: Buffer; compression: DockerArchive["compression"] } {
  const raw = fs.readFileSync(file);
  // Decoded by the reference CLIs, strictly: Node's zlib silently drops trailing garbage after
  // the last gzip member, which would hide a corrupt tail; gzip(1) warns and exits 2.
  if (raw.length >= 2 && raw[0] === 0x1f && raw[1] === 0x8b) return { bytes: decompressCli("gzip", file), compression: "gzip" };
  if (raw.length >= 4 && raw.readUInt32LE(0) === 0xfd2fb528) return { bytes: decompressCli("zstd", file), compression: "zstd" };
  if (raw.length < 512 || raw.subarray(257, 262).toString("latin1") !== "ustar") {
    throw new Error(`${file} is neither a tar (no ustar magic at offset 257) nor gzip nor zstd; it starts with ${raw.subarray(0, 16).toString("hex")}`);
  }
  return { bytes: raw, compression: "none" };
}

function decompressCli(tool: "gzip" | "zstd", file: string): Buffer {
  const r = spawnSync(tool, ["-d", "-c", file], { maxBuffer: 1 << 30, timeout: 120_000 });
  const stderr = r.stderr?.toString().trim() ?? "";
  if (r.error !== undefined || r.status !== 0 || stderr !== "") {
    throw new Error(`${tool} -d ${file} failed (exit ${r.status}): ${r.error?.message ?? stderr}`);
  }
  return r.stdout;
}

/** Every member of a tar, in order, with its header and bytes. */
export async function readTar(bytes: Buffer): Promise<{ header: TarHeader; data: Buffer }[]> {
  const extract = tarExtract();
  extract.end(bytes);
  const out: { header: TarHeader; data: Buffer }[] = [];
  for await (const entry of extract) {
    const chunks: Buffer[] = [];
    for await (const chunk of entry) chunks.push(chunk as Buffer);
    const data = Buffer.concat(chunks);
    if (data.length !== entry.header.size) throw new Error(`tar member ${entry.header.name}: header says ${entry.header.size} bytes, read ${data.length}`);
    out.push({ header: entry.header, data });
  }
  return out;
}

/** Parse a docker-archive (uncompressed, or gzip/zstd as strata's --compress writes it). */
export async function readDockerArchive(file: string): Promise<DockerArchive> {
  const { bytes, compression } = readMaybeCompressed(file);
  const entries = await readTar(bytes);
  const byName = new Map<string, Buffer>();
  const members: string[] = [];
  for (const e of entries) {
    members.push(e.header.name);
    if (e.header.type === "file") {
      if (byName.has(e.header.name)) throw new Error(`${file}: member ${e.header.name} appears twice`);
      byName.set(e.header.name, e.data);
    }
  }
  const manifestBytes = byName.get("manifest.json");
  if (manifestBytes === undefined) throw new Error(`${file}: no manifest.json (members: ${members.join(", ")})`);
  const manifest = JSON.parse(manifestBytes.toString("utf8")) as DockerArchiveManifestEntry[];
  const image = manifest[0];
  if (manifest.length !== 1 || image === undefined) throw new Error(`${file}: expected one image in manifest.json, found ${manifest.length}`);
  const configBytes = byName.get(image.Config);
  if (configBytes === undefined) throw new Error(`${file}: manifest names config ${image.Config}, which is not a member`);
  const layers = image.Layers.map((name) => {
    const layer = byName.get(name);
    if (layer === undefined) throw new Error(`${file}: manifest names layer ${name}, which is not a member`);
    return layer;
  });
  return { manifest, config: JSON.parse(configBytes.toString("utf8")) as ImageConfigJson, configBytes, layers, members, compression };
}

export interface ExpectedLayers {
  /** What the builder said it wrote (e.g. buildImage's result): each layer's diff_id and size. */
  readonly layers?: readonly { readonly diffId: string; readonly size: number }[];
  readonly imageId?: string;
}

/**
 * Re-validate an image: recompute every layer's sha256 and compare with the config's
 * rootfs.diff_ids (and, when given, the sizes and digests the builder reported), check the
 * config member is named by its own sha256, and that every layer is a well-formed tar.
 * Throws on any mismatch; returns the parsed archive.
 */
export async function validateArchive(file: string, expected: ExpectedLayers = {}): Promise<DockerArchive> {
  const archive = await readDockerArchive(file);
  const problems: string[] = [];
  const diffIds = archive.config.rootfs?.diff_ids ?? [];
  if (archive.config.rootfs?.type !== "layers") problems.push(`rootfs.type is ${JSON.stringify(archive.config.rootfs?.type)}, expected "layers"`);
  if (diffIds.length !== archive.layers.length) {
    problems.push(`config has ${diffIds.length} diff_ids but manifest.json lists ${archive.layers.length} layers`);
  }
  const configHex = createHash("sha256").update(archive.configBytes).digest("hex");
  const image = archive.manifest[0]!;
  if (path.basename(image.Config) !== `${configHex}.json`) problems.push(`config member ${image.Config} is not named by its sha256 ${configHex}`);
  if (expected.imageId !== undefined && expected.imageId !== `sha256:${configHex}`) {
    problems.push(`builder reported image id ${expected.imageId}, the config's sha256 is ${configHex}`);
  }
  if (expected.layers !== undefined && expected.layers.length !== archive.layers.length) {
    problems.push(`builder reported ${expected.layers.length} layers, the archive has ${archive.layers.length}`);
  }
  for (const [i, layer] of archive.layers.entries()) {
    const actual = `sha256:${createHash("sha256").update(layer).digest("hex")}`;
    if (diffIds[i] !== actual) problems.push(`layer ${i} (${image.Layers[i]}): sha256 is ${actual}, config diff_id is ${diffIds[i]}`);
    const reported = expected.layers?.[i];
    if (reported !== undefined) {
      if (reported.diffId !== actual) problems.push(`layer ${i}: builder reported diff_id ${reported.diffId}, bytes hash to ${actual}`);
      if (reported.size !== layer.length) problems.push(`layer ${i}: builder reported size ${reported.size}, the member has ${layer.length} bytes`);
    }
    if (layer.length % 512 !== 0) problems.push(`layer ${i}: ${layer.length} bytes is not a whole number of tar blocks`);
    try {
      await readTar(layer);
    } catch (err) {
      problems.push(`layer ${i}: not a readable tar: ${(err as Error).message}`);
    }
  }
  if (problems.length > 0) throw new Error(`${file} is not a valid image:\n  ${problems.join("\n  ")}`);
  return archive;
}
