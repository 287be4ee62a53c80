/**
 * `strata stream CONF.json`: the drop-in for nixpkgs' stream_layered_image.py. Reads the conf.json
 * nixpkgs generates, builds the store layers (byte-identical to nixpkgs' ones), copies the
 * prebuilt customisation layer in after checking its checksum, and writes the docker-archive.
 */
import fs from "node:fs";
import path from "node:path";
import { writeImage } from "./archive/write-formats.js";
import type { ImageLayer, ImageResult } from "./archive/write-image.js";
import { checkPresent } from "./closure/check-present.js";
import { parseStreamConf } from "./closure/conf-json.js";
import { StrataError } from "./errors.js";
import { resolveOutputOptions, type OutputOptions } from "./options.js";

export interface StreamOptions extends OutputOptions {
  /** Replaces conf.json's repo_tag in manifest.json (nixpkgs' `--repo_tag`/`-t`). */
  readonly repoTag?: string;
  /** Directory the store is under on this machine (`/nix/store/x` is read at `storeRoot/nix/store/x`). Default: "" (the real /nix/store). */
  readonly storeRoot?: string;
}

export async function streamImage(confPath: string, options: StreamOptions = {}): Promise<ImageResult> {
  const opts = resolveOutputOptions(options);
  const conf = parseStreamConf(readText(confPath), confPath);
  if (conf.fromImage !== null) {
    throw new StrataError("E_UNSUPPORTED", `${confPath} has from_image ${conf.fromImage}: base images are not supported yet`,
      "build without fromImage for now; base-image support is tracked as its own feature");
  }
  const fsRoot = options.storeRoot ?? "";
  // The customisation layer is a store path too in a real conf.json: read it under the store root.
  const customisation = conf.customisationLayer.startsWith(`${conf.storeDir}/`) ? fsRoot + conf.customisationLayer : conf.customisationLayer;
  const ownership = { uid: conf.uid, gid: conf.gid, uname: conf.uname, gname: conf.gname, mtime: conf.mtime.epoch };
  const layers: ImageLayer[] = conf.storeLayers.map((paths) => ({ task: { kind: "store", paths, ownership, fsRoot }, paths }));
  layers.push({
    task: { kind: "file", path: path.join(customisation, "layer.tar"), expectedSha256: readChecksum(customisation) },
    paths: [conf.customisationLayer],
  });
  checkPresent(conf.storeLayers.flat(), fsRoot);
  return writeImage(
    { layers, created: conf.created.iso, architecture: conf.architecture, config: conf.config, repoTags: [options.repoTag ?? conf.repoTag], mtime: conf.mtime.epoch },
    opts,
  );
}

function readText(file: string): string {
  try {
    return fs.readFileSync(file, "utf8");
  } catch (err) {
    throw new StrataError("E_CLOSURE_INPUT", `cannot read ${file}: ${(err as Error).message}`, "check the path", { cause: err });
  }
}

/** nixpkgs' `checksum` file: the layer tar's sha256 hex and a newline. */
function readChecksum(layerDir: string): string {
  const file = path.join(layerDir, "checksum");
  const text = readText(file).trim();
  if (!/^[0-9a-f]{64}$/.test(text)) {
    throw new StrataError("E_CLOSURE_INPUT", `${file} must hold a sha256 in hex, got ${JSON.stringify(text.slice(0, 80))}`,
      "the customisation layer directory must come from nixpkgs' streamLayeredImage (layer.tar and checksum)");
  }
  return text;
}
