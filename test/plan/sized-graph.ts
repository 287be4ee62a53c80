/** Hand-written closure graphs with narSizes and self-references, for the planner's unit tests. */

import type { ClosureGraph, StorePathInfo } from "../../src/closure/types.js";

export const S = "/nix/store";

/** `/nix/store/<hash>-<name>`, the hash derived from the name so tests can write names only. */
export function sp(name: string, hash = `h${name.toLowerCase().replace(/[^a-z0-9]/g, "")}`): string {
  return `${S}/${hash}-${name}`;
}

/** A graph from `path -> [narSize, references]`; a path listed in its own references self-references. */
export function sizedGraph(nodes: Record<string, readonly [number, readonly string[]]>): ClosureGraph {
  const infos = Object.entries(nodes)
    .map(([path, [narSize, refs]]): StorePathInfo => ({
      path,
      references: [...new Set(refs.filter((r) => r !== path))].sort(),
      selfReference: refs.includes(path),
      narSize,
    }))
    .sort((a, b) => (a.path < b.path ? -1 : 1));
  return { storeDir: S, paths: new Map(infos.map((info) => [info.path, info])) };
}
