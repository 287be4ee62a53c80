/**
 * Opens an image input (docker-archive, Docker 25 dual archive, OCI layout directory or
 * oci-archive; plain, gzip or zstd) into a private temp dir, and hands out its layers as verified,
 * uncompressed tar files. The source of both openImage (one base image) and mergeImages (every
 * image of several archives).
 */
import fs from "node:fs";
import path from "node:path";
import { sha256, sha256Hex, type Digest } from "../digest.js";
import { StrataError, toStrataError } from "../errors.js";
import { compressionOf } from "./compression.js";
import { archiveFiles, directoryFiles, fileChunks, type ImageFile, type ImageFiles } from "./image-files.js";
import { detectFormat, listImages, type ImageEntry, type LayerRef } from "./image-list.js";
import { scanLayer } from "./layer-scan.js";
import { readArchive } from "./read-archive.js";
import { makeTempDir } from "../temp-dir.js";
import type { Compression, SourceFormat, SourceLayer } from "./types.js";

export interface OpenOptions {
  /** Where the private extraction dir is made. */
  readonly tmpDir: string;
  readonly signal?: AbortSignal | undefined;
}

export interface SourceArchive {
  readonly format: SourceFormat;
  /** How the outer archive was compressed ("none" for a directory). */
  readonly compression: Compression;
  /** Every image the input holds, in manifest.json or index.json order. */
  readonly images: readonly ImageEntry[];
  /** The input's files by name (blobs as stored, for copying them unchanged: strata index). */
  readonly files: ImageFiles;
  /** Layer `index` of `image`, decompressed if need be and verified against its diff_id. */
  layer(image: ImageEntry, index: number): Promise<SourceLayer>;
  /** Removes the private dir. */
  cleanup(): Promise<void>;
}

export async function openImages(input: string, opts: OpenOptions): Promise<SourceArchive> {
  const st = statInput(input);
  const dir = await makeTempDir(opts.tmpDir, "strata-source-");
  const cleanup = (): Promise<void> => fs.promises.rm(dir, { recursive: true, force: true });
  try {
    let files: ImageFiles;
    let compression: Compression = "none";
    if (st.isDirectory()) {
      files = directoryFiles(input, input);
    } else {
      const membersDir = path.join(dir, "members");
      await fs.promises.mkdir(membersDir, { mode: 0o700 });
      const archive = await readArchive(input, { kind: "extract", dir: membersDir, tempDir: opts.tmpDir }, { what: input, signal: opts.signal });
      files = archiveFiles(archive.members);
      compression = archive.compression;
    }
    const format = detectFormat(files, st.isDirectory());
    const images = await listImages(files, format);
    const layersDir = path.join(dir, "layers");
    await fs.promises.mkdir(layersDir, { mode: 0o700 });
    const done = new Map<string, Promise<Materialised>>();
    let n = 0;
    const materialise = (ref: LayerRef, where: string): Promise<Materialised> => {
      let p = done.get(ref.name);
      if (p === undefined) {
        p = materialiseLayer(files, ref, path.join(layersDir, `${String(++n).padStart(4, "0")}.tar`), { where, tmpDir: opts.tmpDir, signal: opts.signal });
        done.set(ref.name, p);
      }
      return p;
    };
    return {
      format,
      compression,
      images,
      files,
      cleanup,
      layer: async (image, index) => {
        const ref = image.layers[index];
        if (ref === undefined) throw new StrataError("E_INTERNAL", `layer ${index} of an image with ${image.layers.length} layers`, "this is a bug in strata; please report it");
        const where = `layer ${index + 1} of ${image.layers.length} (${ref.name}) of ${input}`;
        const m = await materialise(ref, where);
        if (ref.digest !== undefined && m.blobDigest !== ref.digest) {
          throw new StrataError("E_CHECKSUM", `${where}: expected blob digest ${ref.digest} (its descriptor), found ${m.blobDigest}`,
            "the image is corrupt or was edited; copy it again");
        }
        if (ref.blobSize !== undefined && m.blobSize !== ref.blobSize) {
          throw new StrataError("E_CLOSURE_INPUT", `${where}: expected ${ref.blobSize} bytes (its descriptor), found ${m.blobSize}`,
            "the image is corrupt or was edited; copy it again");
        }
        if (m.diffId !== ref.diffId) {
          throw new StrataError("E_CHECKSUM", `${where}: expected diff_id ${ref.diffId} (the image config), found ${m.diffId} (sha256 of the uncompressed layer)`,
            "the image is corrupt or its config does not describe its layers; re-create it");
        }
        return { path: m.path, diffId: m.diffId, size: m.size, name: ref.name, blob: { digest: m.blobDigest, size: m.blobSize, compression: m.compression, ...(m.blobFile === undefined ? {} : { file: m.blobFile }) } };
      },
    };
  } catch (err) {
    await cleanup();
    throw toStrataError(err, input);
  }
}

interface Materialised {
  readonly path: string;
  readonly diffId: Digest;
  readonly size: number;
  readonly blobDigest: Digest;
  readonly blobSize: number;
  readonly compression: Compression;
  /** The blob as stored, where it stays for the whole build (a layout directory's blob file). */
  readonly blobFile?: string;
}

/**
 * A layer as an uncompressed tar file in the private dir. An uncompressed member of an extracted
 * archive is used where it is (its digest was computed while extracting); anything else is
 * decompressed or copied, and hashed on the way. What can be checked before decompressing is:
 * an OCI blob's size and digest against its descriptor, so a blob that is not the one the
 * manifest names is never expanded into the temp dir.
 */
async function materialiseLayer(files: ImageFiles, ref: LayerRef, target: string, opts: { where: string; tmpDir: string; signal: AbortSignal | undefined }): Promise<Materialised> {
  const { where, signal } = opts;
  const file = files.file(ref.name, "a layer");
  if (ref.blobSize !== undefined && file.size !== ref.blobSize) {
    // Not hashed: a blob of another size cannot have the descriptor's digest, however long it is.
    throw new StrataError("E_CHECKSUM", `${where}: expected blob digest ${ref.digest ?? "?"} of ${ref.blobSize} bytes (its descriptor), found a blob of ${file.size} bytes`,
      "the image is corrupt or was edited; copy it again");
  }
  if (ref.digest !== undefined && file.file !== undefined) {
    const digest = `sha256:${file.sha256 ?? (await hashFile(file as ImageFile & { file: string }, files.what))}`;
    if (digest !== ref.digest) {
      throw new StrataError("E_CHECKSUM", `${where}: expected blob digest ${ref.digest} (its descriptor), found ${digest}`,
        "the image is corrupt or was edited; copy it again");
    }
  }
  if (file.file === undefined) {
    // An empty member (kept in memory, not extracted): not a tar, but hashed like any layer.
    if (file.bytes === undefined) throw new StrataError("E_INTERNAL", `${ref.name} has no file`, "this is a bug in strata; please report it");
    await fs.promises.writeFile(target, file.bytes, { flag: "wx", mode: 0o600 });
    const digest: Digest = `sha256:${sha256Hex(file.bytes)}`;
    return { path: target, diffId: digest, size: file.bytes.length, blobDigest: digest, blobSize: file.bytes.length, compression: "none" };
  }
  const extracted = file.sha256 !== undefined && file.head !== undefined;
  if (extracted && compressionOf(file.head!, `layer ${ref.name} of ${files.what}`) === "none") {
    const digest: Digest = `sha256:${file.sha256!}`;
    return { path: file.file, diffId: digest, size: file.size, blobDigest: digest, blobSize: file.size, compression: "none" };
  }
  const scan = await scanLayer(fileChunks({ ...file, file: file.file }, files.what), { what: `layer ${ref.name} of ${files.what}`, toFile: target, tempDir: opts.tmpDir, ...(signal === undefined ? {} : { signal }) });
  // The compressed copy is not needed any more; free the space it takes.
  if (extracted) await fs.promises.rm(file.file, { force: true });
  return { path: target, diffId: scan.diffId, size: scan.size, blobDigest: scan.blobDigest, blobSize: scan.blobSize, compression: scan.compression, ...(extracted ? {} : { blobFile: file.file }) };
}

/** sha256 hex of a layout's blob, read as fileChunks reads it. */
async function hashFile(file: ImageFile & { file: string }, what: string): Promise<string> {
  const hash = sha256();
  for await (const chunk of fileChunks(file, what)) hash.update(chunk);
  return hash.hex();
}

function statInput(input: string): fs.Stats {
  if (input.startsWith("docker://")) {
    throw new StrataError("E_UNSUPPORTED", `expected an image file or directory here, found the registry reference ${input}`,
      "pull it first: strata pull docker://REF -o oci:DIR (build --from, inspect and pull read registries directly)");
  }
  try {
    return fs.statSync(input);
  } catch (err) {
    throw new StrataError("E_USAGE", `expected an image at ${input}, found no such file or directory`,
      "check the path: a docker-archive (.tar, .tar.gz, .tar.zst), an OCI layout directory or an oci-archive", { cause: err });
  }
}

/**
 * The image of `images` that `ref` names (a RepoTag, an OCI ref.name or io.containerd.image.name),
 * or the first one when no ref is given.
 */
export function selectImage(images: readonly ImageEntry[], ref: string | undefined, what: string): ImageEntry {
  if (ref === undefined) return images[0]!;
  const hit = images.find((i) => i.refName === ref || i.repoTags.includes(ref));
  if (hit !== undefined) return hit;
  const known = images.flatMap((i) => [...i.repoTags, ...(i.refName === undefined ? [] : [i.refName])]);
  throw new StrataError("E_USAGE", `expected an image named ${JSON.stringify(ref)} in ${what}, found ${known.length === 0 ? "only untagged images" : known.map((k) => JSON.stringify(k)).join(", ")}`,
    "give one of the names listed, or none to take the first image");
}
