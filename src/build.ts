/**
 * `strata build`: an image from a closure, as nixpkgs' buildLayeredImage makes one. The closure
 * of the contents and of the store paths named in the config goes into store layers (auto-layer
 * by default, as nixpkgs now; classic popularity; or a layeringPipeline); a base image's layers go
 * first; the customisation layer holds the symlink join of the contents plus declared extras (files,
 * fake NSS, the Nix database, owners and modes).
 */
import type { JsonValue } from "./image/py-json.js";
import type { BaseImageInfo } from "./image/base-image.js";
import { writeImage } from "./write/write-image.js";
import type { ImageLayer, ImageResult } from "./image/image-spec.js";
import { checkPresent } from "./closure/check-present.js";
import { closureOf } from "./closure/closure-of.js";
import { readHostClosure } from "./closure/host-store.js";
import { readClosure } from "./closure/read-closure.js";
import type { ClosureGraph } from "./closure/types.js";
import { sha256Hex } from "./digest.js";
import { StrataError } from "./errors.js";
import { parseImageTime, type ImageTime } from "./image-time.js";
import type { ExtraEntry } from "./layer/customisation-layer.js";
import { layerKey } from "./layer/layer-key.js";
import { nixBase32 } from "./nix-base32.js";
import { resolveOutputOptions, usage, type OutputOptions } from "./options.js";
import { exceedsRuntimeLayerLimit, RUNTIME_LAYER_LIMIT } from "./plan/budget.js";
import { planLayers, type LayeringStrategy } from "./plan/plan-layers.js";
import { planWithPrevious } from "./plan/previous.js";
import type { StoreLayers } from "./plan/types.js";
import { mergeBaseConfig } from "./source/config-merge.js";

export interface BuildOptions extends OutputOptions {
  /** The references graph: parsed, or the path of a JSON file (exportReferencesGraph or `nix path-info --json --recursive`). */
  readonly graph?: ClosureGraph | string;
  /** Instead of `graph`: read the closure of these store paths from the host's Nix database (under `storeRoot`). */
  readonly fromStore?: readonly string[];
  /** Store paths whose files appear at the image root (symlink join). Default: `fromStore`, else none. */
  readonly contents?: readonly string[];
  /** Repository name, lowercased as nixpkgs does. Default: "strata-image". */
  readonly name?: string;
  /** Tag. Default: a hash of everything that decides the image. */
  readonly tag?: string;
  /** Layer budget, base-image and customisation layers included. Default: 100. */
  readonly maxLayers?: number;
  /** "auto" (default, nixpkgs' auto-layer), "popularity" (the classic split), or `{ pipeline }` (nixpkgs' layeringPipeline JSON). */
  readonly layering?: LayeringStrategy;
  /** A previous plan (store_layers form): keep its layers where they still fit, so they are reused. */
  readonly previous?: StoreLayers;
  /** Image config (Cmd, Env, ...); keys are sorted, as Nix's builtins.toJSON writes them. Default: {}. */
  readonly config?: { readonly [key: string]: JsonValue };
  /** Default: "amd64". */
  readonly architecture?: string;
  /** Image creation time: ISO 8601, epoch seconds or "now". Default: 1970-01-01T00:00:01Z. */
  readonly created?: string | number;
  /** mtime of every file in the layers, and the Nix database's registration times. Default: 1970-01-01T00:00:01Z. */
  readonly mtime?: string | number;
  /** Owner of every file in the store layers. Defaults: 0, 0, "root", "root". */
  readonly uid?: number;
  readonly gid?: number;
  readonly uname?: string;
  readonly gname?: string;
  /** Directory the store is under on this machine. Default: "" (the real /nix/store). */
  readonly storeRoot?: string;
  /** A base image (docker-archive, OCI layout or oci-archive): its layers go first. */
  readonly from?: string;
  /** With `from`: carry Cmd, Entrypoint, WorkingDir, User, Labels, ExposedPorts, Volumes over too (Env always merges). */
  readonly inheritConfig?: boolean;
  /** Store layers at all (nixpkgs' includeStorePaths). Default: true. */
  readonly includeStorePaths?: boolean;
  /** Put a Nix database of the contents' closure into the image (nixpkgs' includeNixDB). */
  readonly nixDb?: boolean;
  /** Compute every NAR hash from the files and check the ones the input gave. */
  readonly verifyNar?: boolean;
  /** Host files or trees copied into the customisation layer at `dest`. */
  readonly add?: readonly { readonly source: string; readonly dest: string }[];
  /** Owner overrides in the customisation layer. */
  readonly chown?: readonly { readonly path: string; readonly uid: number; readonly gid: number }[];
  /** Mode overrides in the customisation layer. */
  readonly chmod?: readonly { readonly path: string; readonly mode: number }[];
  /** root and nobody in /etc/passwd and /etc/group, /etc/nsswitch.conf, /var/empty (nixpkgs' fakeNss). */
  readonly fakeNss?: boolean;
  /** Entries added to the customisation layer after the options above and before `add` (library use: nix-shell images). */
  readonly extras?: readonly ExtraEntry[];
  /** The store paths the config stands for, instead of those found in its strings (e.g. without a derivation's own outputs). */
  readonly configPaths?: readonly string[];
}

/** Everything decided before any file content is read. */
export interface ImagePlan {
  /** The closure the store layers hold. */
  readonly graph: ClosureGraph;
  readonly storeLayers: StoreLayers;
  readonly contents: readonly string[];
  readonly config: { readonly [key: string]: JsonValue };
  readonly repoTag: string;
  readonly created: ImageTime;
  readonly mtime: ImageTime;
  readonly architecture: string;
  readonly owner: { readonly uid: number; readonly gid: number; readonly uname: string; readonly gname: string };
  /** Layers of the base image, counted in the budget. */
  readonly baseLayers: number;
  /** Warnings for the user (e.g. a layer count runtimes refuse). */
  readonly warnings: readonly string[];
}

export const BUILD_DEFAULTS = {
  name: "strata-image",
  maxLayers: 100,
  layering: "auto",
  architecture: "amd64",
  created: "1970-01-01T00:00:01Z",
  mtime: "1970-01-01T00:00:01Z",
  uid: 0,
  gid: 0,
  uname: "root",
  gname: "root",
} as const;

/** The closure input of a build: `graph` or `fromStore`. */
export function readBuildGraph(options: Pick<BuildOptions, "graph" | "fromStore" | "storeRoot">): ClosureGraph {
  if (options.graph !== undefined && options.fromStore !== undefined) {
    throw usage("give either graph or fromStore, not both", "use --graph FILE or --from-store PATH");
  }
  if (options.fromStore !== undefined) return readHostClosure(options.fromStore, options.storeRoot === undefined || options.storeRoot === "" ? {} : { storeRoot: options.storeRoot });
  if (options.graph === undefined) throw usage("a build needs a closure: graph or fromStore", "use --graph GRAPH.json (nix path-info --json --recursive) or --from-store /nix/store/...");
  return typeof options.graph === "string" ? readClosure(options.graph) : options.graph;
}

export function planImage(options: BuildOptions, baseImage?: BaseImageInfo): ImagePlan {
  const graph = readBuildGraph(options);
  const contents = [...(options.contents ?? options.fromStore ?? [])];
  const config = sortKeys(options.config ?? {}) as { [key: string]: JsonValue };
  const configPaths = options.configPaths === undefined ? storePathsIn(config, graph) : [...new Set(options.configPaths)].sort();
  const includeStore = options.includeStorePaths ?? true;
  const closure = closureOf(graph, includeStore ? [...contents, ...configPaths] : []);
  const maxLayers = options.maxLayers ?? BUILD_DEFAULTS.maxLayers;
  const baseLayers = baseImage?.layers ?? 0;
  // nixpkgs' layering graph has two synthetic roots: the customisation layer (references the
  // contents) and the base JSON (references the config's store paths).
  const planOptions = { strategy: options.layering ?? BUILD_DEFAULTS.layering, maxLayers, baseLayers, rootGroups: [contents, configPaths] };
  const storeLayers = !includeStore ? [] : options.previous === undefined ? planLayers(closure, planOptions) : planWithPrevious(closure, options.previous, planOptions);
  const warnings: string[] = [];
  const total = baseLayers + storeLayers.length + 1;
  // The layers the image really has: a budget above the limit that the closure does not fill is no problem.
  if (exceedsRuntimeLayerLimit(total)) {
    warnings.push(`the image has ${total} layers; Docker and containerd refuse more than about ${RUNTIME_LAYER_LIMIT} (overlay mount limits)`);
  }
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
  const finalConfig = baseImage === undefined ? config : mergeBaseConfig(baseImage.config, config, { inherit: options.inheritConfig ?? false });
  // Like nixpkgs' tag (the hash of the conf derivation): it changes whenever anything that decides
  // the image changes, and only then.
  const decided = { storeLayers, contents, config: finalConfig, created, mtime, architecture, owner, name, base: baseImage?.imageId ?? null, extras: extrasKey(options) };
  const tag = options.tag ?? nixBase32(Buffer.from(sha256Hex(JSON.stringify(decided)), "hex").subarray(0, 20));
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/.test(tag)) {
    throw usage(`tag must be 1-128 letters, digits, _ . or - (not starting with . or -), got ${JSON.stringify(tag)}`, "e.g. --tag latest");
  }
  return { graph: closure, storeLayers, contents, config: finalConfig, repoTag: `${name}:${tag}`, created, mtime, architecture, owner, baseLayers, warnings };
}

export async function buildImage(options: BuildOptions): Promise<ImageResult> {
  const opts = resolveOutputOptions(options);
  // Loaded when used: the base-image reader and the Nix database writer are most of what this
  // module would otherwise load before the first layer can start.
  const { openBaseImage, baseImageInfo, baseImageLayers } = await import("./image/base-image.js");
  const base = await openBaseImage(options.from, opts);
  try {
    const plan = planImage(options, baseImageInfo(base));
    for (const message of plan.warnings) opts.onProgress?.({ type: "warning", message });
    const fsRoot = options.storeRoot ?? "";
    checkPresent([...plan.storeLayers.flat(), ...plan.contents], fsRoot);
    const extras = await customisationExtras(options, plan, fsRoot, opts.workers);
    const ownership = { ...plan.owner, mtime: plan.mtime.epoch };
    const estimate = (paths: readonly string[]): number => paths.reduce((n, p) => n + (plan.graph.paths.get(p)?.narSize ?? 0), 0);
    const narHash = (p: string): string | undefined => plan.graph.paths.get(p)?.narHash;
    const layers: ImageLayer[] = [
      ...baseImageLayers(base),
      ...plan.storeLayers.map((paths) => {
        const task = { kind: "store" as const, paths, ownership, fsRoot };
        return { task, paths, estimate: estimate(paths), key: layerKey(task, narHash) };
      }),
    ];
    const customisation = { kind: "customisation" as const, contents: plan.contents, fsRoot, mtime: plan.mtime.epoch, extras, chown: options.chown ?? [], chmod: options.chmod ?? [] };
    layers.push({ task: customisation, paths: plan.contents, key: layerKey(customisation, narHash) });
    opts.onProgress?.({ type: "plan", repoTag: plan.repoTag, layers: layers.length, estimatedBytes: layers.reduce((n, l) => n + (l.estimate ?? 0), 0) });
    return await writeImage(
      { layers, created: plan.created.iso, architecture: plan.architecture, config: plan.config, repoTags: [plan.repoTag], mtime: plan.mtime.epoch },
      opts,
    );
  } finally {
    await base?.cleanup();
  }
}

/** What the customisation layer gets besides the symlink join, in order (later ones replace). */
async function customisationExtras(options: BuildOptions, plan: ImagePlan, fsRoot: string, workers: number): Promise<ExtraEntry[]> {
  const extras: ExtraEntry[] = [];
  if (options.fakeNss === true) {
    const file = (path: string, text: string): ExtraEntry => ({ type: "file", path, mode: 0o644, content: Buffer.from(text) });
    extras.push(
      file("etc/passwd", "root:x:0:0:root user:/var/empty:/bin/sh\nnobody:x:65534:65534:nobody:/var/empty:/bin/sh\n"),
      file("etc/group", "root:x:0:\nnobody:x:65534:\n"),
      file("etc/nsswitch.conf", "hosts: files dns\n"),
      { type: "directory", path: "var/empty", mode: 0o555 },
    );
  }
  if (options.nixDb === true) {
    const [{ withNarHashes }, { nixDbFiles }] = await Promise.all([import("./nixdb/fill-nar-hashes.js"), import("./nixdb/db-writer.js")]);
    // nixpkgs registers the closure of the contents only (closureInfo { rootPaths = contents }).
    const registered = await withNarHashes(closureOf(plan.graph, plan.contents), { fsRoot, workers, verify: options.verifyNar ?? false });
    for (const f of nixDbFiles(registered, { registrationTime: plan.mtime.epoch, gcRoots: plan.contents, fsRoot })) {
      extras.push(f.type === "file" ? { type: "file", path: f.path, mode: f.mode, content: f.content }
        : f.type === "symlink" ? { type: "symlink", path: f.path, target: f.symlinkTarget }
        : { type: "directory", path: f.path, mode: f.mode });
    }
  } else if (options.verifyNar === true) {
    const { withNarHashes } = await import("./nixdb/fill-nar-hashes.js");
    await withNarHashes(plan.graph, { fsRoot, workers, verify: true });
  }
  extras.push(...(options.extras ?? []));
  for (const a of options.add ?? []) extras.push({ type: "copy", path: a.dest, source: a.source });
  return extras;
}

/** The parts of the options that change the customisation layer, for the default tag. */
function extrasKey(o: BuildOptions): unknown {
  return { add: o.add, chown: o.chown, chmod: o.chmod, fakeNss: o.fakeNss, nixDb: o.nixDb, includeStorePaths: o.includeStorePaths, extras: o.extras?.map((e) => (e.type === "file" ? { ...e, content: Buffer.from(e.content).toString("base64") } : e)) };
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

