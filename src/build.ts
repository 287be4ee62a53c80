/**
 * `strata build`: an image from a closure, as nixpkgs' buildLayeredImage makes one. The closure
 * of the contents and of the store paths named in the config goes into store layers (classic
 * popularity order cut to the layer budget); the customisation layer holds the symlink join of
 * the contents.
 */
import type { JsonValue } from "./archive/py-json.js";
import { writeImage } from "./archive/write-formats.js";
import type { ImageLayer, ImageResult } from "./archive/write-image.js";
import { checkPresent } from "./closure/check-present.js";
import { closureOf } from "./closure/closure-of.js";
import { readClosure } from "./closure/read-closure.js";
import type { ClosureGraph } from "./closure/types.js";
import { sha256Hex } from "./digest.js";
import { StrataError } from "./errors.js";
import { parseImageTime, type ImageTime } from "./image-time.js";
import { nixBase32 } from "./nix-base32.js";
import { resolveOutputOptions, usage, type OutputOptions } from "./options.js";
import { planPopularity } from "./plan/split.js";
import type { StoreLayers } from "./plan/types.js";

export interface BuildOptions extends OutputOptions {
  /** The references graph: parsed, or the path of a JSON file (exportReferencesGraph or `nix path-info --json --recursive`). */
  readonly graph: ClosureGraph | string;
  /** Store paths whose files appear at the image root (symlink join). Default: none. */
  readonly contents?: readonly string[];
  /** Repository name, lowercased as nixpkgs does. Default: "strata-image". */
  readonly name?: string;
  /** Tag. Default: a hash of everything that decides the image. */
  readonly tag?: string;
  /** Layer budget, the customisation layer included. Default: 100. */
  readonly maxLayers?: number;
  /** Image config (Cmd, Env, ...); keys are sorted, as Nix's builtins.toJSON writes them. Default: {}. */
  readonly config?: { readonly [key: string]: JsonValue };
  /** Default: "amd64". */
  readonly architecture?: string;
  /** Image creation time: ISO 8601, epoch seconds or "now". Default: 1970-01-01T00:00:01Z. */
  readonly created?: string | number;
  /** mtime of every file in the layers. Default: 1970-01-01T00:00:01Z. */
  readonly mtime?: string | number;
  /** Owner of every file in the store layers. Defaults: 0, 0, "root", "root". */
  readonly uid?: number;
  readonly gid?: number;
  readonly uname?: string;
  readonly gname?: string;
  /** Directory the store is under on this machine. Default: "" (the real /nix/store). */
  readonly storeRoot?: string;
}

/** Everything decided before any file content is read. */
export interface ImagePlan {
  /** The closure the image holds. */
  readonly graph: ClosureGraph;
  readonly storeLayers: StoreLayers;
  readonly contents: readonly string[];
  readonly config: { readonly [key: string]: JsonValue };
  readonly repoTag: string;
  readonly created: ImageTime;
  readonly mtime: ImageTime;
  readonly architecture: string;
  readonly owner: { readonly uid: number; readonly gid: number; readonly uname: string; readonly gname: string };
}

export const BUILD_DEFAULTS = {
  name: "strata-image",
  maxLayers: 100,
  architecture: "amd64",
  created: "1970-01-01T00:00:01Z",
  mtime: "1970-01-01T00:00:01Z",
  uid: 0,
  gid: 0,
  uname: "root",
  gname: "root",
} as const;

export function planImage(options: BuildOptions): ImagePlan {
  const graph = typeof options.graph === "string" ? readClosure(options.graph) : options.graph;
  const contents = [...(options.contents ?? [])];
  const config = sortKeys(options.config ?? {}) as { [key: string]: JsonValue };
  const configPaths = storePathsIn(config, graph);
  const closure = closureOf(graph, [...contents, ...configPaths]);
  const maxLayers = options.maxLayers ?? BUILD_DEFAULTS.maxLayers;
  // nixpkgs' layering graph has two synthetic roots: the customisation layer (references the
  // contents) and the base JSON (references the config's store paths).
  const storeLayers = planPopularity(closure, { rootGroups: [contents, configPaths], maxLayers });
  const owner = {
    uid: idOption(options.uid, "uid", BUILD_DEFAULTS.uid),
    gid: idOption(options.gid, "gid", BUILD_DEFAULTS.gid),
    uname: options.uname ?? BUILD_DEFAULTS.uname,
    gname: options.gname ?? BUILD_DEFAULTS.gname,
  };
  const created = parseImageTime(options.created ?? BUILD_DEFAULTS.created, "created");
  const mtime = parseImageTime(options.mtime ?? BUILD_DEFAULTS.mtime, "mtime");
  const architecture = options.architecture ?? BUILD_DEFAULTS.architecture;
  const name = (options.name ?? BUILD_DEFAULTS.name).toLowerCase();
  if (!/^[a-z0-9][a-z0-9._\-/:]*$/.test(name) || name.endsWith(":")) {
    throw usage(`name must be a repository name (letters, digits, . _ - / and a registry host:port), got ${JSON.stringify(options.name)}`, "e.g. --name hello or --name registry.example:5000/team/hello");
  }
  // Like nixpkgs' tag (the hash of the conf derivation): it changes whenever anything that decides
  // the image changes, and only then.
  const tag = options.tag ?? nixBase32(Buffer.from(sha256Hex(JSON.stringify({ storeLayers, contents, config, created, mtime, architecture, owner, name })), "hex").subarray(0, 20));
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/.test(tag)) {
    throw usage(`tag must be 1-128 letters, digits, _ . or - (not starting with . or -), got ${JSON.stringify(tag)}`, "e.g. --tag latest");
  }
  return { graph: closure, storeLayers, contents, config, repoTag: `${name}:${tag}`, created, mtime, architecture, owner };
}

export async function buildImage(options: BuildOptions): Promise<ImageResult> {
  const opts = resolveOutputOptions(options);
  const plan = planImage(options);
  const fsRoot = options.storeRoot ?? "";
  checkPresent([...plan.storeLayers.flat(), ...plan.contents], fsRoot);
  const ownership = { ...plan.owner, mtime: plan.mtime.epoch };
  const graph = plan.graph;
  const estimate = (paths: readonly string[]): number => paths.reduce((n, p) => n + (graph.paths.get(p)?.narSize ?? 0), 0);
  const layers: ImageLayer[] = plan.storeLayers.map((paths) => ({ task: { kind: "store", paths, ownership, fsRoot }, paths, estimate: estimate(paths) }));
  layers.push({ task: { kind: "customisation", contents: plan.contents, fsRoot, mtime: plan.mtime.epoch }, paths: plan.contents });
  return writeImage(
    { layers, created: plan.created.iso, architecture: plan.architecture, config: plan.config, repoTags: [plan.repoTag], mtime: plan.mtime.epoch },
    opts,
  );
}

/**
 * Store paths named anywhere in the config's strings (Cmd, Entrypoint, Env values, ...): they join
 * the closure, as in nixpkgs, where the config's JSON references them.
 */
function storePathsIn(config: JsonValue, graph: ClosureGraph): string[] {
  const found = new Set<string>();
  const dir = graph.storeDir.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const re = new RegExp(`${dir}/[0-9a-df-np-sv-z]{32}-[A-Za-z0-9+\\-._?=]+`, "g");
  const visit = (v: JsonValue): void => {
    if (typeof v === "string") for (const m of v.matchAll(re)) found.add(m[0]);
    else if (Array.isArray(v)) v.forEach(visit);
    else if (v !== null && typeof v === "object") Object.entries(v).forEach(([k, x]) => (visit(k), visit(x as JsonValue)));
  };
  visit(config);
  const paths = [...found].sort();
  for (const p of paths) {
    if (!graph.paths.has(p)) {
      throw new StrataError("E_CLOSURE_INPUT", `the config names ${p}, which is not in the references graph`,
        "export the graph for the config's store paths too (nix path-info --json --recursive PATHS...)");
    }
  }
  return paths;
}

function sortKeys(v: JsonValue): JsonValue {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v === null || typeof v !== "object") return v;
  const o = v as { readonly [key: string]: JsonValue };
  return Object.fromEntries(Object.keys(o).sort().map((k) => [k, sortKeys(o[k]!)]));
}

function idOption(value: number | undefined, what: string, fallback: number): number {
  const v = value ?? fallback;
  if (!Number.isSafeInteger(v) || v < 0) throw usage(`${what} must be a non-negative integer, got ${value}`, `e.g. --${what} 1000`);
  return v;
}
