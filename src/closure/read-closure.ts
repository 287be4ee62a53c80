/**
 * `readClosure`: the library's one call to get a ClosureGraph from a file, whatever its form
 * (exportReferencesGraph list, `nix path-info --json --recursive` list or object), optionally cut
 * down to the closure of some roots.
 */
import { readInputFile } from "../input-file.js";
import { closureOf } from "./closure-of.js";
import { parseReferencesGraph } from "./references-graph.js";
import type { ClosureGraph } from "./types.js";

export interface ReadClosureOptions {
  /** Keep only what these store paths reach. Default: the whole graph. */
  readonly roots?: readonly string[];
  /** Default: /nix/store. */
  readonly storeDir?: string;
}

export function readClosure(file: string, options: ReadClosureOptions = {}): ClosureGraph {
  const text = readInputFile(file, { code: "E_CLOSURE_INPUT", what: "the references graph" });
  const graph = parseReferencesGraph(text, file, options.storeDir);
  return options.roots === undefined ? graph : closureOf(graph, options.roots);
}
