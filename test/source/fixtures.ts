/**
 * Fixtures for the image-input tests: strata-built images from a fixture store, archives written
 * in code with tar-stream (re-packed, with compressed layers, in Docker 25's layout, or hostile),
 * and a temp dir whose parent listing can be checked for strays.
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import zlib from "node:zlib";
import { pack as tarPack, type Header } from "tar-stream";
import { compress as zstdCompress } from "zstd-napi";
import { buildImage, type BuildOptions } from "../../src/build.js";
import { StrataError } from "../../src/errors.js";
import type { ImageResult } from "../../src/image/image-spec.js";
import { makeFixtureStore, type FixtureStore } from "../helpers/fixture-store.js";

export const sha256 = (b: Uint8Array | string): string => createHash("sha256").update(b).digest("hex");

export interface TarMember {
  readonly name: string;
  readonly content?: Buffer | string;
  readonly type?: Header["type"];
  readonly linkname?: string;
  readonly uid?: number;
  readonly gid?: number;
  readonly pax?: Record<string, string>;
}

/** A tar of `members`, written by tar-stream exactly as given (hostile names included). */
export async function makeTar(members: readonly TarMember[]): Promise<Buffer> {
  const p = tarPack();
  const chunks: Buffer[] = [];
  const collected = (async () => {
    for await (const c of p) chunks.push(c as Buffer);
  })();
  for (const m of members) {
    const content = m.content === undefined ? undefined : Buffer.from(m.content);
    const header = {
      name: m.name,
      type: m.type ?? "file",
      mode: 0o644,
      mtime: new Date(1000),
      uid: m.uid ?? 0,
      gid: m.gid ?? 0,
      ...(m.linkname === undefined ? {} : { linkname: m.linkname }),
      ...(m.pax === undefined ? {} : { pax: m.pax }),
      ...(content === undefined ? { size: 0 } : { size: content.length }),
    };
    await new Promise<void>((resolve, reject) => {
      if (content === undefined) p.entry(header, (err) => (err ? reject(err) : resolve()));
      else p.entry(header, content, (err) => (err ? reject(err) : resolve()));
    });
  }
  p.finalize();
  await collected;
  return Buffer.concat(chunks);
}

/** A layer tar holding `files` (path → content), owned by `uid`. */
export function makeLayer(files: Record<string, string>, uid = 0): Promise<Buffer> {
  return makeTar(Object.entries(files).map(([name, content]) => ({ name, content, uid, gid: uid })));
}

/** A minimal image config for `layers` (uncompressed tars). */
export function configFor(layers: readonly Buffer[], extra: Record<string, unknown> = {}): Buffer {
  return Buffer.from(JSON.stringify({
    architecture: "amd64",
    os: "linux",
    config: { Env: ["PATH=/bin"] },
    rootfs: { type: "layers", diff_ids: layers.map((l) => `sha256:${sha256(l)}`) },
    ...extra,
  }));
}

export interface ArchiveSpec {
  /** Uncompressed layer tars. */
  readonly layers: readonly Buffer[];
  readonly repoTags?: readonly string[] | null;
  /** How each layer member is stored. Default none. */
  readonly layerCompression?: "none" | "gzip" | "zstd";
  /** Member naming: `<n>/layer.tar` (old docker save) or Docker 25's `blobs/sha256/<hex>` with an OCI layout too. */
  readonly naming?: "legacy" | "docker25";
  /** Override the config bytes (e.g. wrong diff_ids). */
  readonly config?: Buffer;
}

/** A docker-archive written in code with tar-stream. */
export async function makeDockerArchive(spec: ArchiveSpec): Promise<Buffer> {
  const config = spec.config ?? configFor(spec.layers);
  const stored = spec.layers.map((l) => compressLayer(l, spec.layerCompression ?? "none"));
  const members: TarMember[] = [];
  let layerNames: string[];
  let configName: string;
  if (spec.naming === "docker25") {
    layerNames = stored.map((b) => `blobs/sha256/${sha256(b)}`);
    configName = `blobs/sha256/${sha256(config)}`;
    const mt = spec.layerCompression === "gzip" ? "application/vnd.oci.image.layer.v1.tar+gzip"
      : spec.layerCompression === "zstd" ? "application/vnd.oci.image.layer.v1.tar+zstd" : "application/vnd.oci.image.layer.v1.tar";
    const manifest = Buffer.from(JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: `sha256:${sha256(config)}`, size: config.length },
      layers: stored.map((b) => ({ mediaType: mt, digest: `sha256:${sha256(b)}`, size: b.length })),
    }));
    const index = JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.index.v1+json",
      manifests: [{ mediaType: "application/vnd.oci.image.manifest.v1+json", digest: `sha256:${sha256(manifest)}`, size: manifest.length,
        annotations: { "io.containerd.image.name": "docker.io/library/d25:t", "org.opencontainers.image.ref.name": "t" } }],
    });
    members.push({ name: "blobs", type: "directory" }, { name: "blobs/sha256", type: "directory" });
    stored.forEach((b, i) => members.push({ name: layerNames[i]!, content: b }));
    members.push({ name: configName, content: config }, { name: `blobs/sha256/${sha256(manifest)}`, content: manifest });
    members.push({ name: "index.json", content: index }, { name: "oci-layout", content: '{"imageLayoutVersion":"1.0.0"}' });
  } else {
    const ext = { none: "", gzip: ".gz", zstd: ".zst" }[spec.layerCompression ?? "none"];
    layerNames = stored.map((_, i) => `${String(i + 1).padStart(3, "0")}/layer.tar${ext}`);
    configName = `${sha256(config)}.json`;
    stored.forEach((b, i) => members.push({ name: layerNames[i]!, content: b }));
    members.push({ name: configName, content: config });
  }
  const tags = spec.repoTags === undefined ? ["made/in-code:v1"] : spec.repoTags;
  members.push({ name: "manifest.json", content: JSON.stringify([{ Config: configName, RepoTags: tags, Layers: layerNames }]) });
  return makeTar(members);
}

export function compressLayer(b: Buffer, c: "none" | "gzip" | "zstd"): Buffer {
  return c === "gzip" ? zlib.gzipSync(b) : c === "zstd" ? zstdCompress(b) : b;
}

/** A temp dir with a `work` subdir, so tests can check that nothing appeared beside `work`. */
export function tempArea(prefix: string): { root: string; work: string; cleanup(): void } {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  const work = path.join(root, "work");
  fs.mkdirSync(work);
  return { root, work, cleanup: () => fs.rmSync(root, { recursive: true, force: true }) };
}

/** Every path under `dir`, relative, sorted (symlinks not followed). */
export function listTree(dir: string): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    for (const name of fs.readdirSync(path.join(dir, rel)).sort()) {
      const r = rel === "" ? name : `${rel}/${name}`;
      out.push(r);
      if (fs.lstatSync(path.join(dir, r)).isDirectory()) walk(r);
    }
  };
  walk("");
  return out;
}

/** The fixture store used to build test images: two apps sharing a library, one file owned by 1000 via options. */
export function makeSourceStore(): FixtureStore {
  return makeFixtureStore([
    { name: "libshared-1.0", entries: [{ kind: "file", path: "lib/libshared.so", content: "shared library\n" }] },
    { name: "app-a-1.0", references: ["libshared-1.0"], entries: [{ kind: "file", path: "bin/a", content: "#!/bin/sh\necho a\n", executable: true }] },
    { name: "app-b-1.0", references: ["libshared-1.0"], entries: [{ kind: "file", path: "bin/b", content: "#!/bin/sh\necho b\n", executable: true }] },
  ]);
}

/** Build a strata image of `contents` (names in the store) into `file`. */
export function buildTestImage(store: FixtureStore, file: string, contents: readonly string[], extra: Partial<BuildOptions> = {}): Promise<ImageResult> {
  return buildImage({
    graph: store.graph,
    contents: contents.map((c) => store.pathOf(c)),
    storeRoot: store.root,
    config: { Cmd: ["/bin/a"], Env: ["FROM_PARENT=true", "LAST_LAYER=parent"] },
    name: "strata-source-test",
    tag: "v1",
    output: file,
    workers: 2,
    ...extra,
  });
}

/** Run a command; throw with its stderr when it fails. */
export function run(cmd: string, args: readonly string[], env?: NodeJS.ProcessEnv): string {
  const r = spawnSync(cmd, args, { encoding: "utf8", timeout: 300_000, maxBuffer: 64 << 20, ...(env === undefined ? {} : { env }) });
  if (r.error !== undefined || r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed (exit ${r.status}): ${r.error?.message ?? r.stderr}`);
  return r.stdout;
}

/** The StrataError a promise (or function) fails with; fails the test when it succeeds or throws something else. */
export async function failure(p: Promise<unknown> | (() => unknown)): Promise<StrataError> {
  try {
    await (typeof p === "function" ? p() : p);
  } catch (err) {
    if (err instanceof StrataError) return err;
    throw new Error(`expected a StrataError, got ${String(err)}`, { cause: err });
  }
  throw new Error("expected a failure, but it succeeded");
}

export interface OciSpec {
  readonly layers: readonly Buffer[];
  readonly layerCompression?: "none" | "gzip" | "zstd";
  /** Put the image under a nested index listing an arm64 variant first, then this one as amd64. */
  readonly nested?: boolean;
  /** Replace the bytes of the last layer blob after its descriptor was written. */
  readonly corruptLastBlob?: boolean;
  readonly annotations?: Record<string, string>;
}

/** An OCI image layout directory written in code. Returns the config bytes. */
export function makeOciLayout(dir: string, spec: OciSpec): Buffer {
  const blobs = path.join(dir, "blobs", "sha256");
  fs.mkdirSync(blobs, { recursive: true });
  const put = (b: Buffer): { digest: string; size: number } => {
    fs.writeFileSync(path.join(blobs, sha256(b)), b);
    return { digest: `sha256:${sha256(b)}`, size: b.length };
  };
  const c = spec.layerCompression ?? "none";
  const mediaType = `application/vnd.oci.image.layer.v1.tar${c === "none" ? "" : c === "gzip" ? "+gzip" : "+zstd"}`;
  const config = configFor(spec.layers);
  const stored = spec.layers.map((l) => compressLayer(l, c));
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: { mediaType: "application/vnd.oci.image.config.v1+json", ...put(config) },
    layers: stored.map((b) => ({ mediaType, ...put(b) })),
  }));
  if (spec.corruptLastBlob === true) {
    const last = stored.at(-1)!;
    fs.writeFileSync(path.join(blobs, sha256(last)), compressLayer(Buffer.concat([spec.layers.at(-1)!, Buffer.alloc(512)]), c));
  }
  let top = { mediaType: "application/vnd.oci.image.manifest.v1+json", ...put(manifest) };
  if (spec.nested === true) {
    const otherConfig = configFor([]);
    const other = Buffer.from(JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: { mediaType: "application/vnd.oci.image.config.v1+json", ...put(otherConfig) },
      layers: [],
    }));
    const index = Buffer.from(JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.index.v1+json",
      manifests: [
        { mediaType: "application/vnd.oci.image.manifest.v1+json", ...put(other), platform: { os: "linux", architecture: "arm64" } },
        { mediaType: "application/vnd.oci.image.manifest.v1+json", digest: top.digest, size: top.size, platform: { os: "linux", architecture: "amd64" } },
      ],
    }));
    top = { mediaType: "application/vnd.oci.image.index.v1+json", ...put(index) };
  }
  fs.writeFileSync(path.join(dir, "oci-layout"), '{"imageLayoutVersion":"1.0.0"}');
  fs.writeFileSync(path.join(dir, "index.json"), JSON.stringify({
    schemaVersion: 2,
    manifests: [{ ...top, annotations: spec.annotations ?? { "org.opencontainers.image.ref.name": "latest" } }],
  }));
  return config;
}
