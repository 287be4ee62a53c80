/**
 * `strata stream CONF.json`: the drop-in for nixpkgs' stream_layered_image.py. Reads the conf.json
 * nixpkgs generates, builds the store layers (byte-identical to nixpkgs' ones), copies the
 * prebuilt customisation layer in after checking its checksum, and writes the docker-archive.
 */
import path from "node:path";
import { writeImage } from "./write/write-image.js";
import type { ImageLayer, ImageResult } from "./image/image-spec.js";
import { checkPresent } from "./closure/check-present.js";
import { parseStreamConf } from "./closure/conf-json.js";
import { StrataError } from "./errors.js";
import { readInputFile } from "./input-file.js";
import { mergeBaseConfig } from "./source/config-merge.js";
import { baseImageLayers, openBaseImage } from "./image/base-image.js";
import { layerKey } from "./layer/layer-key.js";
import { resolveOutputOptions, type OutputOptions } from "./options.js";

export interface StreamOptions extends OutputOptions {
  /** Replaces conf.json's repo_tag in manifest.json (nixpkgs' `--repo_tag`/`-t`). */
  readonly repoTag?: string;
  /** Directory the store is under on this machine (`/nix/store/x` is read at `storeRoot/nix/store/x`). Default: "" (the real /nix/store). */
  readonly storeRoot?: string;
}

export async function streamImage(confPath: string, options: StreamOptions = {}): Promise<ImageResult> {
  const opts = resolveOutputOptions(options);
  const conf = parseStreamConf(readInputFile(confPath, { code: "E_CLOSURE_INPUT", what: "the conf.json" }), confPath);
  const fsRoot = options.storeRoot ?? "";
  const inStore = (p: string): string => (p.startsWith(`${conf.storeDir}/`) ? fsRoot + p : p);
  // The customisation layer (and a base image) are store paths too in a real conf.json: read them
  // under the store root.
  const customisation = inStore(conf.customisationLayer);
  const ownership = { uid: conf.uid, gid: conf.gid, uname: conf.uname, gname: conf.gname, mtime: conf.mtime.epoch };
  const customisationTask = { kind: "file" as const, path: path.join(customisation, "layer.tar"), expectedSha256: readChecksum(customisation) };
  checkPresent(conf.storeLayers.flat(), fsRoot);
  // nixpkgs copies the base image's layers first and merges its Env (spec §2.6, §2.7); strata
  // also verifies their diff_ids and reads compressed and OCI bases.
  const base = await openBaseImage(conf.fromImage === null ? undefined : inStore(conf.fromImage), opts);
  try {
    const layers: ImageLayer[] = [
      ...baseImageLayers(base),
      ...conf.storeLayers.map((paths) => {
        const task = { kind: "store" as const, paths, ownership, fsRoot };
        return { task, paths, key: layerKey(task) };
      }),
      { task: customisationTask, paths: [conf.customisationLayer], key: layerKey(customisationTask) },
    ];
    const config = base === undefined ? conf.config : mergeBaseConfig(base.config.config, conf.config, { inherit: false });
    return await writeImage(
      { layers, created: conf.created.iso, architecture: conf.architecture, config, repoTags: [options.repoTag ?? conf.repoTag], mtime: conf.mtime.epoch },
      opts,
    );
  } finally {
    await base?.cleanup();
  }
}

/** nixpkgs' `checksum` file: the layer tar's sha256 hex and a newline. */
function readChecksum(layerDir: string): string {
  const file = path.join(layerDir, "checksum");
  const text = readInputFile(file, { code: "E_CLOSURE_INPUT", what: "the customisation layer's checksum" }).trim();
  if (!/^[0-9a-f]{64}$/.test(text)) {
    throw new StrataError("E_CLOSURE_INPUT", `${file} must hold a sha256 in hex, got ${JSON.stringify(text.slice(0, 80))}`,
      "the customisation layer directory must come from nixpkgs' streamLayeredImage (layer.tar and checksum)");
  }
  return text;
}
