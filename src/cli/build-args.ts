/** `strata build` and `strata plan` flags to BuildOptions. */
import fs from "node:fs";
import type { JsonValue } from "../image/py-json.js";
import type { BuildOptions } from "../build.js";
import { int, str } from "../cli.js";
import { StrataError } from "../errors.js";
import { parseLayerPlan } from "../plan/layer-plan-json.js";
import type { LayeringStrategy } from "../plan/plan-layers.js";

type Values = Record<string, unknown>;

/** The flags that decide what goes into the image (shared by build and plan). */
export const IMAGE_FLAGS = {
  graph: { type: "string" },
  "from-store": { type: "string", multiple: true },
  contents: { type: "string", multiple: true },
  name: { type: "string" },
  tag: { type: "string" },
  "max-layers": { type: "string" },
  layering: { type: "string" },
  previous: { type: "string" },
  created: { type: "string" },
  mtime: { type: "string" },
  uid: { type: "string" },
  gid: { type: "string" },
  uname: { type: "string" },
  gname: { type: "string" },
  config: { type: "string" },
  architecture: { type: "string" },
  from: { type: "string" },
  "inherit-config": { type: "boolean" },
  "include-store-paths": { type: "string" },
  "nix-db": { type: "boolean" },
  "verify-nar": { type: "boolean" },
  add: { type: "string", multiple: true },
  chown: { type: "string", multiple: true },
  chmod: { type: "string", multiple: true },
  "fake-nss": { type: "boolean" },
} as const;

export function buildOptionsFromArgs(v: Values): BuildOptions {
  const num = (key: string): { [k: string]: number } => (v[key] === undefined ? {} : { [camel(key)]: int(v[key], `--${key}`) });
  const text = (key: string): { [k: string]: string } => (v[key] === undefined ? {} : { [camel(key)]: str(v[key])! });
  const list = (key: string): string[] | undefined => v[key] as string[] | undefined;
  const root = str(v["store-root"]);
  const graph = str(v["graph"]);
  const fromStore = list("from-store");
  if (graph === undefined && fromStore === undefined) {
    throw new StrataError("E_USAGE", "a build needs a closure: --graph GRAPH.json or --from-store PATH", "export a graph with `nix path-info --json --recursive PATHS > graph.json`, or name the store path on a Nix machine");
  }
  const includeStore = str(v["include-store-paths"]);
  if (includeStore !== undefined && includeStore !== "true" && includeStore !== "false") {
    throw new StrataError("E_USAGE", `--include-store-paths must be true or false, got ${JSON.stringify(includeStore)}`, "e.g. --include-store-paths=false");
  }
  return {
    ...(graph === undefined ? {} : { graph }),
    ...(fromStore === undefined ? {} : { fromStore }),
    ...(list("contents") === undefined ? {} : { contents: list("contents")! }),
    ...text("name"), ...text("tag"), ...text("created"), ...text("mtime"), ...text("uname"), ...text("gname"), ...text("architecture"), ...text("from"),
    ...num("max-layers"), ...num("uid"), ...num("gid"),
    ...(v["layering"] === undefined ? {} : { layering: layering(str(v["layering"])!) }),
    ...(v["previous"] === undefined ? {} : { previous: parseLayerPlan(readText(str(v["previous"])!, "--previous"), str(v["previous"])!) }),
    ...(v["config"] === undefined ? {} : { config: readConfig(str(v["config"])!) }),
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
  let pipeline: unknown;
  try {
    pipeline = JSON.parse(readText(value, "--layering"));
  } catch (err) {
    if (err instanceof StrataError) throw err;
    throw new StrataError("E_USAGE", `--layering ${value}: ${(err as Error).message}`, "the file must hold a layeringPipeline as nixpkgs users write it: a JSON list of steps", { cause: err });
  }
  return { pipeline };
}

function parseAdd(spec: string): { source: string; dest: string } {
  const i = spec.lastIndexOf(":");
  if (i <= 0 || i === spec.length - 1) throw new StrataError("E_USAGE", `--add takes SRC:DEST, got ${JSON.stringify(spec)}`, "e.g. --add ./app.conf:/etc/app.conf");
  const source = spec.slice(0, i);
  if (!fs.existsSync(source)) throw new StrataError("E_USAGE", `--add ${spec}: ${source} does not exist`, "give a file or directory on this machine");
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

function readText(file: string, flag: string): string {
  try {
    return fs.readFileSync(file, "utf8");
  } catch (err) {
    throw new StrataError("E_USAGE", `${flag} ${file}: ${(err as Error).message}`, "check the path", { cause: err });
  }
}

function readConfig(file: string): { [key: string]: JsonValue } {
  let value: unknown;
  try {
    value = JSON.parse(readText(file, "--config"));
  } catch (err) {
    if (err instanceof StrataError) throw err;
    throw new StrataError("E_USAGE", `--config ${file}: ${(err as Error).message}`, "pass a JSON object with the image config (Cmd, Env, ...)", { cause: err });
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new StrataError("E_USAGE", `--config ${file} must hold a JSON object`, "e.g. {\"Cmd\": [\"/bin/hello\"]}");
  }
  return value as { [key: string]: JsonValue };
}
