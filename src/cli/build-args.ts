/** `strata build` and `strata plan` flags to BuildOptions. */
import fs from "node:fs";
import type { JsonValue } from "../image/py-json.js";
import type { BuildOptions } from "../build.js";
import { int, oneLine, str } from "./args.js";
import { StrataError } from "../errors.js";
import { readInputFile } from "../input-file.js";
import { parseLayerPlan } from "../plan/layer-plan-json.js";
import { parseReferencesGraph } from "../closure/references-graph.js";
import type { ClosureGraph } from "../closure/types.js";
import type { LayeringStrategy } from "../plan/plan-layers.js";

type Values = Record<string, unknown>;

/** The flags that decide what goes into the image (shared by build and plan): commands.ts. */
export { IMAGE_FLAGS } from "./commands.js";

export function buildOptionsFromArgs(v: Values): BuildOptions {
  const num = (key: string): { [k: string]: number } => (v[key] === undefined ? {} : { [camel(key)]: int(v[key], `--${key}`) });
  const text = (key: string): { [k: string]: string } => (v[key] === undefined ? {} : { [camel(key)]: str(v[key])! });
  const list = (key: string): string[] | undefined => v[key] as string[] | undefined;
  const root = str(v["store-root"]);
  const graphFile = str(v["graph"]);
  const fromStore = list("from-store");
  if (graphFile === undefined && fromStore === undefined) {
    throw new StrataError("E_USAGE", "a build needs a closure: --graph GRAPH.json or --from-store PATH", "export a graph with `nix path-info --json --recursive PATHS > graph.json`, or name the store path on a Nix machine");
  }
  if (graphFile !== undefined && fromStore !== undefined) {
    throw new StrataError("E_USAGE", "give either --graph or --from-store, not both", "--graph reads an exported graph; --from-store reads this machine's Nix database");
  }
  const includeStore = str(v["include-store-paths"]);
  if (includeStore !== undefined && includeStore !== "true" && includeStore !== "false") {
    throw new StrataError("E_USAGE", `--include-store-paths must be true or false, got ${JSON.stringify(includeStore)}`, "e.g. --include-store-paths=false");
  }
  checkConflicts(v, includeStore === "false");
  const config = v["config"] === undefined ? undefined : readConfig(str(v["config"])!);
  if (graphFile !== undefined && list("contents") === undefined && !namesStorePath(config)) {
    if (v["from"] === undefined && list("add") === undefined) {
      throw new StrataError("E_USAGE", "--graph without --contents: no store path would go into the image (only an empty customisation layer)",
        "name what the image is for with --contents PATH... (its closure goes into the store layers), or name store paths in --config");
    }
  }
  const repoTag = str(v["repo-tag"]);
  const graph = graphFile === "-" ? readStdinGraph() : graphFile;
  return {
    ...(graph === undefined ? {} : { graph }),
    ...(fromStore === undefined ? {} : { fromStore }),
    ...(list("contents") === undefined ? {} : { contents: list("contents")! }),
    ...text("name"), ...text("tag"), ...(repoTag === undefined ? {} : splitRepoTag(repoTag)),
    ...text("created"), ...text("mtime"), ...text("uname"), ...text("gname"), ...text("from"),
    ...(v["architecture"] === undefined ? {} : { architecture: architecture(str(v["architecture"])!) }),
    ...num("max-layers"), ...num("uid"), ...num("gid"),
    ...(v["layering"] === undefined ? {} : { layering: layering(str(v["layering"])!) }),
    ...(v["previous"] === undefined ? {} : { previous: parseLayerPlan(readInputFile(str(v["previous"])!, { code: "E_USAGE", what: "--previous" }), str(v["previous"])!) }),
    ...(config === undefined ? {} : { config }),
    ...(root === undefined ? {} : { storeRoot: root.replace(/\/+$/, "") }),
    ...(v["inherit-config"] === true ? { inheritConfig: true } : {}),
    ...(includeStore === undefined ? {} : { includeStorePaths: includeStore === "true" }),
    ...(v["nix-db"] === true ? { nixDb: true } : {}),
    ...(v["verify-nar"] === true ? { verifyNar: true } : {}),
    ...(v["fake-nss"] === true ? { fakeNss: true } : {}),
    ...(list("add") === undefined ? {} : { add: list("add")!.map(parseAdd) }),
    ...(list("chown") === undefined ? {} : { chown: list("chown")!.map(parseChown) }),
    ...(list("chmod") === undefined ? {} : { chmod: list("chmod")!.map(parseChmod) }),
  };
}

function layering(value: string): LayeringStrategy {
  if (value === "auto" || value === "popularity") return value;
  if (!value.endsWith(".json") && !fs.existsSync(value)) {
    throw new StrataError("E_USAGE", `--layering must be auto, popularity or a pipeline JSON file, got ${JSON.stringify(value)}`, "e.g. --layering auto, or --layering pipeline.json");
  }
  return { pipeline: readJsonFile(value, "--layering", "the file must hold a layeringPipeline as nixpkgs users write it: a JSON list of steps") };
}

function parseAdd(spec: string): { source: string; dest: string } {
  const i = spec.lastIndexOf(":");
  if (i <= 0 || i === spec.length - 1) throw new StrataError("E_USAGE", `--add takes SRC:DEST, got ${JSON.stringify(spec)}`, "e.g. --add ./app.conf:/etc/app.conf");
  const source = spec.slice(0, i);
  // lstat: a symlink is added as a symlink, whether or not its target exists here.
  if (!lstatOk(source)) throw new StrataError("E_USAGE", `--add ${spec}: ${source} does not exist`, "give a file or directory on this machine");
  return { source, dest: spec.slice(i + 1) };
}

function parseChown(spec: string): { path: string; uid: number; gid: number } {
  const m = /^(.+):(\d+):(\d+)$/.exec(spec);
  if (m === null) throw new StrataError("E_USAGE", `--chown takes PATH:UID:GID, got ${JSON.stringify(spec)}`, "e.g. --chown /home/alice:1000:1000");
  return { path: m[1]!, uid: Number(m[2]), gid: Number(m[3]) };
}

function parseChmod(spec: string): { path: string; mode: number } {
  const m = /^(.+):([0-7]{3,4})$/.exec(spec);
  if (m === null) throw new StrataError("E_USAGE", `--chmod takes PATH:MODE (octal), got ${JSON.stringify(spec)}`, "e.g. --chmod /tmp:1777");
  return { path: m[1]!, mode: parseInt(m[2]!, 8) };
}

function camel(flag: string): string {
  return flag.replace(/-(\w)/g, (_, c: string) => c.toUpperCase());
}

/** The JSON in the file given to `flag`: E_USAGE naming both when it cannot be read or is not JSON. */
function readJsonFile(file: string, flag: string, hint: string): unknown {
  const text = readInputFile(file, { code: "E_USAGE", what: flag });
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new StrataError("E_USAGE", `${flag} ${file} is not valid JSON: ${oneLine((err as Error).message)}`, hint, { cause: err });
  }
}

function readConfig(file: string): { [key: string]: JsonValue } {
  const value = readJsonFile(file, "--config", "pass a JSON object with the image config (Cmd, Env, ...)");
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new StrataError("E_USAGE", `--config ${file} must hold a JSON object`, "e.g. {\"Cmd\": [\"/bin/hello\"]}");
  }
  return value as { [key: string]: JsonValue };
}

/** Flags that make no sense together, or alone: an error that names the conflict. */
function checkConflicts(v: Values, noStorePaths: boolean): void {
  const conflict = (message: string, hint: string): never => {
    throw new StrataError("E_USAGE", message, hint);
  };
  if (v["inherit-config"] === true && v["from"] === undefined) {
    conflict("--inherit-config needs --from IMAGE: there is no base image whose config to inherit", "add --from IMAGE, or drop --inherit-config");
  }
  if (v["nix-db"] === true && noStorePaths) {
    conflict("--nix-db registers the contents' store paths, which --include-store-paths=false leaves out of the image", "drop one of them: a Nix database must describe paths the image holds");
  }
  if (v["repo-tag"] !== undefined && (v["name"] !== undefined || v["tag"] !== undefined)) {
    conflict("-t NAME:TAG names the image, and so do --name/--tag: give one or the other", "e.g. -t hello:1.0, or --name hello --tag 1.0");
  }
}

/** `-t NAME:TAG` (or just NAME): the tag follows the last colon after the last slash (a registry may have a port). */
function splitRepoTag(value: string): { name: string; tag?: string } {
  const colon = value.lastIndexOf(":");
  if (colon > value.lastIndexOf("/") && colon > 0) return { name: value.slice(0, colon), tag: value.slice(colon + 1) };
  return { name: value };
}

/** nixpkgs writes GOARCH names (pkgs.go.GOARCH): runtimes match images by them. */
const GOARCH: Readonly<Record<string, string>> = {
  aarch64: "arm64", x86_64: "amd64", "x86-64": "amd64", x64: "amd64", i686: "386", i386: "386",
  armv7l: "arm", armv7: "arm", armv6l: "arm", powerpc64le: "ppc64le", ppc64el: "ppc64le", mips64el: "mips64le", loongarch64: "loong64",
};

function architecture(value: string): string {
  const goarch = GOARCH[value];
  if (goarch !== undefined) {
    throw new StrataError("E_USAGE", `--architecture takes a GOARCH name, got ${JSON.stringify(value)}`, `use --architecture ${goarch} (nixpkgs writes GOARCH names: ${value}-linux is ${goarch})`);
  }
  return value;
}

/** The graph from stdin (`--graph -`), parsed once here: nothing else reads stdin. */
function readStdinGraph(): ClosureGraph {
  let text: string;
  try {
    text = fs.readFileSync(0, "utf8");
  } catch (err) {
    throw new StrataError("E_USAGE", `--graph -: cannot read stdin: ${(err as Error).message}`, "pipe the graph in, e.g. nix path-info --json --recursive P | strata build --graph - ...", { cause: err });
  }
  return parseReferencesGraph(text, "stdin");
}

/** Whether the config names a store path (which then joins the closure, as --contents would). */
function namesStorePath(config: JsonValue | undefined): boolean {
  return config !== undefined && /\/[0-9a-df-np-sv-z]{32}-/.test(JSON.stringify(config));
}

function lstatOk(p: string): boolean {
  try {
    fs.lstatSync(p);
    return true;
  } catch {
    return false;
  }
}

/**
 * A closure error about a --graph file that is in fact a streamLayeredImage conf.json (it parses
 * as an object with store_layers): the message says so and points at `strata stream`.
 */
export function explainGraphError(err: unknown, graphFile: string | undefined): unknown {
  if (!(err instanceof StrataError) || err.code !== "E_CLOSURE_INPUT" || graphFile === undefined || graphFile === "-") return err;
  try {
    const value = JSON.parse(fs.readFileSync(graphFile, "utf8")) as unknown;
    if (typeof value === "object" && value !== null && "store_layers" in value && "customisation_layer" in value) {
      return new StrataError("E_USAGE", `--graph ${graphFile} is a streamLayeredImage conf.json, not a references graph`,
        `run \`strata stream ${graphFile}\` to build the image it describes`, { cause: err });
    }
  } catch {
    // not JSON, or unreadable: the original error says what is wrong
  }
  return err;
}
