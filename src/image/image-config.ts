/**
 * The image config and manifest.json of a docker-archive, as nixpkgs' stream script writes them
 * (spec §2.7, §2.8): Python `json.dumps(indent=4)`, keys in the script's order, one history entry
 * per layer with the Python repr of its store paths as comment.
 */
import type { Digest } from "../digest.js";
import { StrataError } from "../errors.js";
import { pythonJsonDumps, pythonReprList, type JsonValue } from "./py-json.js";

export interface ImageConfigInput {
  /** `created` as Python's datetime.isoformat() prints it, e.g. `1970-01-01T00:00:01+00:00`. */
  readonly created: string;
  readonly architecture: string;
  /** The image's runtime config (Cmd, Env, ...), key order kept. */
  readonly config: { readonly [key: string]: JsonValue };
  /** Per layer, bottom first: its diff_id and the paths its history comment names. */
  readonly layers: readonly { readonly diffId: Digest; readonly paths: readonly string[] }[];
}

/** The config blob's bytes; its sha256 is the image ID. */
export function imageConfigBytes(input: ImageConfigInput): Buffer {
  const value: JsonValue = {
    created: input.created,
    architecture: input.architecture,
    os: "linux",
    config: input.config,
    rootfs: { diff_ids: input.layers.map((l) => l.diffId), type: "layers" },
    history: input.layers.map((l) => ({ created: input.created, comment: `store paths: ${pythonReprList(l.paths)}` })),
  };
  return Buffer.from(pythonJsonDumps(value), "utf8");
}

/** docker-archive manifest.json: one image, its config member, tags and layer members. */
export function manifestBytes(configName: string, repoTags: readonly string[], layerNames: readonly string[]): Buffer {
  return Buffer.from(pythonJsonDumps([{ Config: configName, RepoTags: repoTags, Layers: layerNames }]), "utf8");
}

/**
 * The config bytes of an image being written: the spec's own (an image copied as it is), checked
 * against the layers' diff_ids, or made as nixpkgs makes them.
 */
export function specConfigBytes(spec: { readonly created: string; readonly architecture: string; readonly config: { readonly [key: string]: JsonValue }; readonly configBytes?: Uint8Array | undefined; readonly layers: readonly { readonly paths: readonly string[] }[] }, diffIds: readonly Digest[]): Uint8Array {
  if (spec.configBytes !== undefined) {
    const config = JSON.parse(Buffer.from(spec.configBytes).toString("utf8")) as { rootfs?: { diff_ids?: unknown } };
    const ids = config.rootfs?.diff_ids;
    if (!Array.isArray(ids) || ids.length !== diffIds.length || ids.some((d, i) => d !== diffIds[i])) {
      throw new StrataError("E_CHECKSUM", "the image config's rootfs.diff_ids do not match its layers", "the image is corrupt or was edited; copy it again");
    }
    return spec.configBytes;
  }
  return imageConfigBytes({ created: spec.created, architecture: spec.architecture, config: spec.config, layers: spec.layers.map((l, i) => ({ diffId: diffIds[i]!, paths: l.paths })) });
}
