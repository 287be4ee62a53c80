/**
 * Layer plans as files: the JSON nixpkgs' `store_layers` uses (a list of lists of store paths), as
 * `strata plan --json` writes it and `--previous` / `--compare` read it back.
 */

import { StrataError } from "../errors.js";
import type { StoreLayers } from "./types.js";

const HINT = "pass a file written by `strata plan --json`: a JSON list of layers, each a list of store paths";

/** Parses and checks a plan file: a list of lists of strings, no path in two places. */
export function parseLayerPlan(text: string, source: string): StoreLayers {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    const detail = (err instanceof Error ? err.message : String(err)).replace(/\s+/g, " ");
    throw new StrataError("E_USAGE", `${source}: malformed JSON (${detail})`, HINT, { cause: err });
  }
  if (!Array.isArray(json)) throw new StrataError("E_USAGE", `${source}: expected a list of layers, found ${kind(json)}`, HINT);
  json.forEach((layer: unknown, i) => {
    if (!Array.isArray(layer)) throw new StrataError("E_USAGE", `${source}: layer ${i + 1} should be a list of store paths, found ${kind(layer)}`, HINT);
    const bad = layer.findIndex((path: unknown) => typeof path !== "string" || path === "");
    if (bad >= 0) throw new StrataError("E_USAGE", `${source}: layer ${i + 1}, item ${bad + 1} should be a store path, found ${kind(layer[bad])}`, HINT);
  });
  const layers = json as string[][];
  checkLayerPlan(layers, source);
  return layers;
}

/** Throws E_USAGE when a path is listed twice (in one layer or two): no image can hold that plan. */
export function checkLayerPlan(layers: StoreLayers, source: string): void {
  const seen = new Map<string, number>();
  layers.forEach((layer, i) => {
    for (const path of layer) {
      const earlier = seen.get(path);
      if (earlier !== undefined) {
        const where = earlier === i ? `twice in layer ${i + 1}` : `in layers ${earlier + 1} and ${i + 1}`;
        throw new StrataError("E_USAGE", `${source}: ${path} is listed ${where}`, "a layer plan lists every store path once; regenerate it with `strata plan --json`");
      }
      seen.set(path, i);
    }
  });
}

function kind(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "string") return `the string ${JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value)}`;
  return typeof value === "object" ? "an object" : `${typeof value} ${String(value)}`;
}
