/** `strata build` flags to BuildOptions. */
import fs from "node:fs";
import { buildImage } from "../build.js";
import type { JsonValue } from "../archive/py-json.js";
import { int, str, type CommonCliOptions } from "../cli.js";
import { StrataError } from "../errors.js";

export async function buildFromArgs(v: Record<string, unknown>, common: CommonCliOptions): Promise<void> {
  const graph = str(v["graph"]);
  if (graph === undefined) throw new StrataError("E_USAGE", "strata build needs --graph GRAPH.json", "export one with `nix path-info --json --recursive PATHS > graph.json`");
  const contents = (v["contents"] as string[] | undefined) ?? [];
  const num = (key: string): { [k: string]: number } => (v[key] === undefined ? {} : { [camel(key)]: int(v[key], `--${key}`) });
  const text = (key: string): { [k: string]: string } => (v[key] === undefined ? {} : { [camel(key)]: str(v[key])! });
  const root = str(v["store-root"]);
  await buildImage({
    ...common,
    graph,
    contents,
    ...text("name"), ...text("tag"), ...text("created"), ...text("mtime"), ...text("uname"), ...text("gname"), ...text("architecture"),
    ...num("max-layers"), ...num("uid"), ...num("gid"),
    ...(v["config"] === undefined ? {} : { config: readConfig(str(v["config"])!) }),
    ...(root === undefined ? {} : { storeRoot: root.replace(/\/+$/, "") }),
  });
}

function camel(flag: string): string {
  return flag.replace(/-(\w)/g, (_, c: string) => c.toUpperCase());
}

function readConfig(file: string): { [key: string]: JsonValue } {
  let value: unknown;
  try {
    value = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (err) {
    throw new StrataError("E_USAGE", `--config ${file}: ${(err as Error).message}`, "pass a JSON object with the image config (Cmd, Env, ...)", { cause: err });
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new StrataError("E_USAGE", `--config ${file} must hold a JSON object`, "e.g. {\"Cmd\": [\"/bin/hello\"]}");
  }
  return value as { [key: string]: JsonValue };
}
