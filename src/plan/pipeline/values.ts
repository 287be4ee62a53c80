/**
 * The values that flow through a layering pipeline: graphs, lists (Python's lists, maps and
 * generators, all made eager here) and dicts (what split_paths and subcomponent_* return, keys in
 * insertion order). Also the error every malformed pipeline gets, naming the step.
 */

import { StrataError } from "../../errors.js";
import { LayerGraph } from "./layer-graph.js";

export type PipelineValue = LayerGraph | readonly PipelineValue[] | ReadonlyMap<string, PipelineValue>;

/** A compiled step. `trail` says which item of which `map` is being processed, for error messages. */
export type Step = (input: PipelineValue, trail: string) => PipelineValue;

export const PIPELINE_HINT = "see the layeringPipeline ops in nixpkgs' flatten-references-graph (spec §3.4): a list of steps [\"op\", ...arguments]";

/** The E_USAGE error of a malformed pipeline; `where` names the step (e.g. `step 2 (over "rest")`), or is "". */
export function pipelineError(where: string, detail: string, hint = PIPELINE_HINT): StrataError {
  return new StrataError("E_USAGE", `pipeline${where === "" ? "" : ` ${where}`}: ${detail}`, hint);
}

export function isGraph(value: PipelineValue): value is LayerGraph {
  return value instanceof LayerGraph;
}

export function isList(value: PipelineValue): value is readonly PipelineValue[] {
  return Array.isArray(value);
}

export function isDict(value: PipelineValue): value is ReadonlyMap<string, PipelineValue> {
  return value instanceof Map;
}

/** "a graph of 3 paths", "a list of 2 values", "a dict with keys "main", "rest"". */
export function describeValue(value: PipelineValue): string {
  if (isGraph(value)) return `a graph of ${value.size} ${value.size === 1 ? "path" : "paths"}`;
  if (isList(value)) return `a list of ${value.length} ${value.length === 1 ? "value" : "values"}`;
  const keys = [...value.keys()];
  return keys.length === 0 ? "an empty dict" : `a dict with ${keys.length === 1 ? "key" : "keys"} ${keys.map((k) => JSON.stringify(k)).join(", ")}`;
}

/** A JSON value as a message shows it: its kind, and the value itself when short. */
export function describeJson(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return `a list of ${value.length} ${value.length === 1 ? "item" : "items"}`;
  switch (typeof value) {
    case "string":
      return `the string ${JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value)}`;
    case "number":
      return `the number ${value}`;
    case "boolean":
      return String(value);
    case "object":
      return "an object";
    default:
      return typeof value;
  }
}
