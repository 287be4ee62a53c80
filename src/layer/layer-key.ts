/**
 * A layer's identity, known before any of its bytes exist. Nix store paths are immutable, so a
 * store layer's tar is a function of what decides it: its store paths in order (with their
 * narHash where the closure input gives one), the owner and mtime every entry gets, and the tar
 * dialect strata writes. The key hashes exactly those; the layer cache (src/cache/) maps it to
 * the diffId and blobs a previous build measured, and a registry's manifest carries it in the
 * layer descriptor's annotations, so that another machine can skip the layer too.
 *
 * What is not in the key, on purpose: where the store is mounted on this machine (`fsRoot`;
 * the bytes do not depend on it) and the worker count (they never do).
 */
import { sha256Hex, type Digest } from "../digest.js";
import type { LayerTask } from "./layer-task.js";

/**
 * The version of the layer bytes strata writes for given inputs. Bump it whenever a change makes
 * the same inputs give other bytes (tar headers, entry order, padding): old cache entries and
 * registry annotations then stop matching instead of naming blobs strata would no longer write.
 */
export const TAR_DIALECT = "strata-tar-1";

/** `sha256:<hex>` over the canonical JSON of what decides a layer's uncompressed bytes. */
export type LayerKey = Digest & { readonly __layerKey: true };

/** What a key covers: also what a registry annotation records, so a reader can recompute it. */
export interface StoreLayerKeyInput {
  readonly dialect: string;
  readonly storeDir: string;
  readonly paths: readonly (readonly [path: string, narHash: string | null])[];
  readonly uid: number;
  readonly gid: number;
  readonly uname: string;
  readonly gname: string;
  readonly mtime: number;
}

/**
 * The key of a layer task, or undefined for a layer whose bytes depend on more than its inputs
 * name: a customisation layer with host files copied in (--add), which can change under the same
 * name (it is small, and always built).
 * A file layer (a base image's layer, a prebuilt customisation layer) with a known checksum is its
 * own key: its diffId is that checksum.
 */
export function layerKey(task: LayerTask, narHash: (path: string) => string | undefined = () => undefined): LayerKey | undefined {
  if (task.kind === "file") return task.expectedSha256 === undefined ? undefined : (`sha256:${task.expectedSha256}` as LayerKey);
  if (task.kind === "customisation") return customisationKey(task, narHash);
  return keyOf(storeKeyInput(task.paths, task.ownership, narHash));
}

/**
 * The customisation layer's key: the join of its contents (store paths, immutable like any, with
 * their narHash where known), every declared extra (files by the sha256 of their bytes), owners,
 * modes and mtime. Undefined when `--add` copies host files in: those can change under the same
 * name, so that layer is always built.
 */
function customisationKey(task: Extract<LayerTask, { kind: "customisation" }>, narHash: (path: string) => string | undefined): LayerKey | undefined {
  const extras = task.extras ?? [];
  if (extras.some((e) => e.type === "copy")) return undefined;
  const described = extras.map((e) => e.type === "file" ? [e.type, e.path, e.mode, sha256Hex(e.content)]
    : e.type === "directory" ? [e.type, e.path, e.mode]
    : e.type === "symlink" ? [e.type, e.path, e.target] : [e.type, e.path]);
  const canonical = JSON.stringify([TAR_DIALECT, "customisation", task.storeDir ?? "/nix/store", task.contents.map((p) => [p, narHash(p) ?? null]), task.mtime, described, task.chown ?? [], task.chmod ?? []]);
  return `sha256:${sha256Hex(canonical)}` as LayerKey;
}

export function storeKeyInput(paths: readonly string[], owner: { uid: number; gid: number; uname: string; gname: string; mtime: number }, narHash: (path: string) => string | undefined): StoreLayerKeyInput {
  const first = paths[0] ?? "/nix/store/";
  return {
    dialect: TAR_DIALECT,
    storeDir: first.slice(0, first.lastIndexOf("/")),
    paths: paths.map((p) => [p, narHash(p) ?? null] as const),
    uid: owner.uid,
    gid: owner.gid,
    uname: owner.uname,
    gname: owner.gname,
    mtime: owner.mtime,
  };
}

/** The key of a key input: sha256 of its JSON with the fields in the order above (canonical). */
export function keyOf(input: StoreLayerKeyInput): LayerKey {
  const canonical = JSON.stringify([input.dialect, input.storeDir, input.paths, input.uid, input.gid, input.uname, input.gname, input.mtime]);
  return `sha256:${sha256Hex(canonical)}` as LayerKey;
}
