/**
 * Reader for the JSON that describes a closure, in every shape Nix produces it:
 *
 * - an `exportReferencesGraph` list, `[{path, references, narSize, narHash, closureSize}, ...]`,
 *   also wrapped as `{"graph": [...]}` the way structured attrs put it in `.attrs.json`;
 * - `nix path-info --json --recursive` from Nix < 2.19: the same list, with `deriver`, `valid`, ...;
 * - `nix path-info --json --recursive` from Nix >= 2.19: an object keyed by store path, where a
 *   `null` value marks a path that is not valid in the store.
 *
 * Whatever the shape or the order of entries and references, the result is the same graph:
 * references sorted and de-duplicated, self-references moved to `selfReference`, `paths` in sorted
 * order. Anything inconsistent is an E_CLOSURE_INPUT error naming the source and the path, because
 * a plan computed from a wrong graph would silently leave files out of the image.
 */

import { StrataError } from "../errors.js";
import type { ClosureGraph, StorePathInfo } from "./types.js";
import { assertAcyclic, assertNoDanglingReferences, checkStoreDir, storePathProblem } from "./graph-checks.js";

const INPUT_HINT = "pass an exportReferencesGraph file or the output of `nix path-info --json --recursive`";

/** A node as found in the input, before validation. */
interface RawNode {
  readonly path: string;
  readonly fields: Readonly<Record<string, unknown>>;
}

export function parseReferencesGraph(text: string, source: string, storeDir = "/nix/store"): ClosureGraph {
  checkStoreDir(storeDir);
  const byPath = new Map<string, StorePathInfo>();
  for (const raw of rawNodes(parseJson(text, source), source)) {
    const info = toStorePathInfo(raw, source, storeDir);
    const earlier = byPath.get(info.path);
    if (earlier === undefined) {
      byPath.set(info.path, info);
      continue;
    }
    // exportReferencesGraph never repeats a path, but concatenated exports do; identical repeats
    // are harmless, differing ones mean two different stores were mixed.
    const differ = differingFields(earlier, info);
    if (differ.length > 0) {
      throw closureError(
        `${source}: ${info.path} appears twice with different data (${differ.join(", ")})`,
        "export the graph from one store in one go instead of concatenating exports",
      );
    }
  }
  const paths = new Map([...byPath.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  assertNoDanglingReferences(paths, source);
  assertAcyclic(paths, source);
  return { storeDir, paths };
}

function parseJson(text: string, source: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    // V8 quotes the text around the error, newlines included: keep the message on one line, and
    // turn "at position N" into a line and column, which is what an editor can jump to.
    let detail = (err instanceof Error ? err.message : String(err)).replace(/\s+/g, " ");
    const at = /at position (\d+)/.exec(detail);
    if (at !== null && !/line \d+/.test(detail)) {
      const before = text.slice(0, Number(at[1])).split("\n");
      detail += ` (line ${before.length} column ${(before.at(-1) ?? "").length + 1})`;
    }
    throw new StrataError("E_CLOSURE_INPUT", `${source}: malformed JSON (${detail})`, INPUT_HINT, { cause: err });
  }
}

/** The nodes of any accepted shape, each with its path; shape errors are thrown here. */
function rawNodes(json: unknown, source: string): RawNode[] {
  if (isObject(json) && Object.hasOwn(json, "graph")) {
    const graph = json["graph"];
    if (!Array.isArray(graph)) {
      throw closureError(`${source}: expected "graph" to be an array of store path objects, found ${describe(graph)}`, INPUT_HINT);
    }
    return listNodes(graph, source);
  }
  if (Array.isArray(json)) return listNodes(json, source);
  if (isObject(json)) return objectNodes(json, source);
  throw closureError(
    `${source}: expected a JSON array of store path objects or an object keyed by store path, found ${describe(json)}`,
    INPUT_HINT,
  );
}

function listNodes(list: readonly unknown[], source: string): RawNode[] {
  return list.map((entry, i) => {
    if (!isObject(entry)) throw closureError(`${source}: entry ${i} should be an object, found ${describe(entry)}`, INPUT_HINT);
    const path = entry["path"];
    if (typeof path !== "string") {
      throw closureError(`${source}: entry ${i} should have a string "path", found ${describe(path)}`, INPUT_HINT);
    }
    // Old `nix path-info --json` lists a path it cannot find as {"path": ..., "valid": false}.
    if (entry["valid"] === false) throw invalidPath(source, path);
    return { path, fields: entry };
  });
}

function objectNodes(object: Readonly<Record<string, unknown>>, source: string): RawNode[] {
  return Object.entries(object).map(([path, value]) => {
    // Nix >= 2.19 maps a path it cannot find to null.
    if (value === null) throw invalidPath(source, path);
    if (!isObject(value)) throw closureError(`${source}: ${path} should map to an object, found ${describe(value)}`, INPUT_HINT);
    const inner = value["path"];
    if (inner !== undefined && inner !== path) {
      throw closureError(`${source}: ${path} maps to an object whose "path" is ${JSON.stringify(inner)}`, INPUT_HINT);
    }
    return { path, fields: value };
  });
}

function toStorePathInfo({ path, fields }: RawNode, source: string, storeDir: string): StorePathInfo {
  const problem = storePathProblem(path, storeDir);
  if (problem !== undefined) {
    throw closureError(
      `${source}: ${JSON.stringify(path)} is not a store path under ${storeDir}: ${problem}`,
      `list only store paths such as ${storeDir}/<hash>-<name>, or set the store directory if your store lives elsewhere`,
    );
  }
  const refs = fields["references"];
  if (!Array.isArray(refs) || !refs.every((r): r is string => typeof r === "string")) {
    throw closureError(`${source}: ${path}: "references" should be an array of store paths, found ${describe(refs)}`, INPUT_HINT);
  }
  const references = [...new Set(refs.filter((r) => r !== path))].sort();
  const narSize = fields["narSize"] ?? 0;
  if (typeof narSize !== "number" || !Number.isSafeInteger(narSize) || narSize < 0) {
    throw closureError(`${source}: ${path}: narSize should be a non-negative integer, found ${JSON.stringify(narSize)}`, INPUT_HINT);
  }
  const narHash = optionalString(fields, "narHash", path, source);
  const deriver = optionalString(fields, "deriver", path, source);
  return {
    path,
    references,
    selfReference: refs.includes(path),
    narSize,
    ...(narHash === undefined ? {} : { narHash }),
    ...(deriver === undefined ? {} : { deriver }),
  };
}

/** A string field that may be absent or null (Nix >= 2.19 prints `"deriver": null`). */
function optionalString(fields: Readonly<Record<string, unknown>>, key: string, path: string, source: string): string | undefined {
  const value = fields[key] ?? undefined;
  if (value === undefined || typeof value === "string") return value;
  throw closureError(`${source}: ${path}: "${key}" should be a string, found ${describe(value)}`, INPUT_HINT);
}

function differingFields(a: StorePathInfo, b: StorePathInfo): string[] {
  const differ: string[] = [];
  if (a.references.join("\n") !== b.references.join("\n") || a.selfReference !== b.selfReference) differ.push("references");
  if (a.narSize !== b.narSize) differ.push("narSize");
  if (a.narHash !== b.narHash) differ.push("narHash");
  if (a.deriver !== b.deriver) differ.push("deriver");
  return differ;
}

function invalidPath(source: string, path: string): StrataError {
  return closureError(
    `${source}: ${path} is not valid in the store (the input marks it missing)`,
    "build or substitute it first (`nix-store --realise`), then export the graph again",
  );
}

function closureError(message: string, hint: string): StrataError {
  return new StrataError("E_CLOSURE_INPUT", message, hint);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** What a JSON value is, for "found ..." in messages: short, and never the whole value. */
function describe(value: unknown): string {
  if (value === undefined) return "nothing";
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object") return "an object";
  if (typeof value === "string") return `the string ${JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value)}`;
  return `${typeof value === "number" ? "the number" : "the boolean"} ${String(value)}`;
}
