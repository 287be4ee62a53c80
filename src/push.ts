/**
 * `strata push SOURCE DESTINATION`: an existing image (a docker-archive file, or `-` for one on
 * stdin, compressed or not; an OCI layout; an oci-archive; a registry) copied to a registry or a
 * layout, as it is: the config byte for byte (same image ID), every layer verified against its
 * diff_id, blobs the source stores in the compression asked for reused as they are, the others
 * compressed once. skopeo cannot read a docker-archive from a pipe; strata spools it to the temp
 * dir first (an archive's index comes last, so it cannot be streamed straight through).
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import { StrataError, toStrataError } from "./errors.js";
import { baseImageLayers, openBaseImage } from "./image/base-image.js";
import type { ImageResult } from "./image/image-spec.js";
import { parseDestination } from "./dest/destination.js";
import { resolveOutputOptions, type OutputOptions } from "./options.js";
import { makeTempDir } from "./temp-dir.js";
import { writeImage } from "./write/write-image.js";

export interface PushOptions extends OutputOptions {
  /** Which image of a multi-image source (a tag or OCI ref name). Default: the first. */
  readonly ref?: string;
}

export async function pushImage(source: string, options: PushOptions): Promise<ImageResult> {
  const opts = resolveOutputOptions(options);
  const spool = source === "-" ? await spoolStdin(opts.tmpDir, opts.signal) : undefined;
  // A source spelled as skopeo spells it (oci:DIR[:REF], oci-archive:FILE, docker-archive:FILE)
  // is the same image as the bare path; docker:// is read from the registry.
  const named = source.startsWith("docker://") ? undefined : parseDestination(source);
  const input = spool?.file ?? (named === undefined ? source : named.kind === "oci" ? named.dir : named.kind === "registry" ? named.reference : named.file);
  const ref = options.ref ?? (named?.kind === "oci" ? named.ref : undefined);
  try {
    const base = await openBaseImage(input, { ...opts, ...(ref === undefined ? {} : { ref }) });
    if (base === undefined) throw new StrataError("E_INTERNAL", "no source image", "this is a bug in strata; please report it");
    try {
      const config = base.config;
      return await writeImage({
        layers: baseImageLayers(base),
        created: typeof config.created === "string" ? config.created : "1970-01-01T00:00:01Z",
        architecture: config.architecture ?? "amd64",
        config: config.config ?? {},
        repoTags: base.repoTags,
        mtime: 1,
        configBytes: base.configBytes,
      }, opts);
    } finally {
      await base.cleanup();
    }
  } finally {
    await spool?.cleanup();
  }
}

/** Standard input into a private temp file (an archive must be read twice: index last). */
async function spoolStdin(tmpDir: string | undefined, signal: AbortSignal | undefined): Promise<{ file: string; cleanup: () => Promise<void> }> {
  if (process.stdin.isTTY) throw new StrataError("E_USAGE", "the source is - (stdin), but stdin is a terminal", "pipe an image in: ... | strata push - docker://HOST/REPO:TAG");
  const dir = await makeTempDir(tmpDir ?? os.tmpdir(), "strata-stdin-");
  const file = path.join(dir, "image");
  try {
    const out = fs.createWriteStream(file, { flags: "wx", mode: 0o600 });
    await (signal === undefined ? pipeline(process.stdin, out) : pipeline(process.stdin, out, { signal }));
  } catch (err) {
    await fs.promises.rm(dir, { recursive: true, force: true });
    throw toStrataError(err, `reading the image from stdin into ${dir}`);
  }
  return { file, cleanup: () => fs.promises.rm(dir, { recursive: true, force: true }) };
}
