/**
 * `strata merge` (nixpkgs' mergeImages, spec §1.9): one docker-archive that loads every image of
 * every input. Inputs are image archives of any compression (detected by magic; OCI layouts and
 * archives work too); layers are de-duplicated by diff_id and copied byte for byte (decompressed
 * when the input stored them compressed, so owners, modes and times inside are untouched); configs
 * are kept byte for byte; manifest.json is the inputs' entries, in order, RepoTags as given (an
 * untagged entry stays untagged).
 *
 * Member order, deterministic: for each input, each image, its layers not written yet
 * (`<diff_id hex>/layer.tar`), then its config (`<sha256 hex>.json`) if not written yet; then
 * manifest.json. The outer tar uses strata's header dialect (OuterTarWriter). Inputs are
 * opened one at a time, so the temp space needed is that of the largest input.
 */
import os from "node:os";
import type { Sink } from "./dest/byte-output.js";
import { OuterTarWriter } from "./dest/outer-tar.js";
import { openSink } from "./dest/open-sink.js";
import { copyFileBytes } from "./dest/copy-file.js";
import { pythonJsonDumps, type JsonValue } from "./image/py-json.js";
import type { Digest } from "./digest.js";
import { StrataError, toStrataError } from "./errors.js";
import { openImages } from "./source/open-images.js";

export interface MergeOptions {
  /** Where inputs are extracted, one at a time. Default: the OS temp dir. */
  readonly tmpDir?: string;
  readonly signal?: AbortSignal;
  /** mtime of the outer archive's members, in seconds. Default: 1 (1970-01-01T00:00:01Z), as strata's images. */
  readonly mtime?: number;
}

export interface MergeResult {
  /** Every image written, in manifest.json order. */
  readonly images: readonly { readonly repoTags: readonly string[]; readonly imageId: Digest; readonly diffIds: readonly Digest[] }[];
  /** Distinct layers written. */
  readonly layers: number;
  /** Bytes written to the output. */
  readonly bytes: number;
}

export async function mergeImages(inputs: readonly string[], output: string | number | Sink, options: MergeOptions = {}): Promise<MergeResult> {
  if (inputs.length === 0) throw new StrataError("E_USAGE", "expected at least one image to merge, found none", "give the image archives to merge: strata merge A.tar B.tar -o ALL.tar");
  const tmpDir = options.tmpDir ?? os.tmpdir();
  const sink = await openSink(output);
  try {
    const archive = new OuterTarWriter(sink, options.mtime ?? 1);
    const writtenLayers = new Set<Digest>();
    const writtenConfigs = new Set<Digest>();
    const entries: JsonValue[] = [];
    const images: MergeResult["images"][number][] = [];
    for (const input of inputs) {
      options.signal?.throwIfAborted();
      const source = await openImages(input, { tmpDir, signal: options.signal });
      try {
        for (const image of source.images) {
          const layerNames: string[] = [];
          for (let i = 0; i < image.layers.length; i++) {
            options.signal?.throwIfAborted();
            const layer = await source.layer(image, i);
            const name = `${layer.diffId.slice("sha256:".length)}/layer.tar`;
            if (!writtenLayers.has(layer.diffId)) {
              await copyMember(archive, name, layer.path, layer.size);
              writtenLayers.add(layer.diffId);
            }
            layerNames.push(name);
          }
          const configName = `${image.imageId.slice("sha256:".length)}.json`;
          if (!writtenConfigs.has(image.imageId)) {
            await archive.member(configName, image.configBytes);
            writtenConfigs.add(image.imageId);
          }
          entries.push({ Config: configName, RepoTags: image.rawRepoTags ?? null, Layers: layerNames });
          images.push({ repoTags: image.repoTags, imageId: image.imageId, diffIds: image.layers.map((l) => l.diffId) });
        }
      } finally {
        await source.cleanup();
      }
    }
    await archive.member("manifest.json", Buffer.from(pythonJsonDumps(entries), "utf8"));
    await archive.finish();
    options.signal?.throwIfAborted();
    await sink.commit();
    return { images, layers: writtenLayers.size, bytes: sink.bytesWritten };
  } catch (err) {
    await sink.abort().catch(() => undefined);
    throw toStrataError(err);
  }
}

/** A member whose bytes are a file; its size is checked as it goes. */
async function copyMember(archive: OuterTarWriter, name: string, file: string, size: number): Promise<void> {
  await archive.begin(name, size);
  await copyFileBytes(file, size, (bytes) => archive.data(bytes), (found) =>
    new StrataError("E_FILE_CHANGED", `the extracted layer ${file} changed while it was copied: expected ${size} bytes, found ${found}`,
      "something else writes to strata's temp dir; run again"));
  await archive.end(size);
}
