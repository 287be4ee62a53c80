/**
 * The graph values a layering pipeline works on: what igraph's `Graph` is to nixpkgs'
 * flatten-references-graph. Immutable. Vertices have an order, which becomes the order of paths in a
 * layer: at the start it is igraph's (narSize ascending, ties in store path order, spec §3.4 step
 * 2); induced subgraphs and vertex deletions keep the relative order; a merge concatenates.
 *
 * Every graph of one pipeline run shares a `PipelineBase` (paths, sizes, name lookup); a graph is
 * its vertex list (base ids) and its own edges as CSR over local indices, because ops do change
 * edges: split_paths deletes the edges into its targets, and a merge has no edges between its parts.
 */

import type { ClosureGraph } from "../../closure/types.js";
import { intGraph } from "../int-graph.js";

export class PipelineBase {
  /** Path of each base id; base ids are igraph's vertex order of the whole graph. */
  readonly names: readonly string[];
  readonly narSize: readonly number[];
  readonly idOf: ReadonlyMap<string, number>;
  // Scratch space for `LayerGraph.indexer`: local index of a base id, valid while stamp === epoch.
  private readonly local: Int32Array;
  private readonly stamp: Int32Array;
  private epoch = 0;

  constructor(names: readonly string[], narSize: readonly number[]) {
    this.names = names;
    this.narSize = narSize;
    this.idOf = new Map(names.map((name, i) => [name, i] as const));
    this.local = new Int32Array(names.length);
    this.stamp = new Int32Array(names.length);
  }

  /** Base id -> local index in `vertices` (-1 when absent). Valid until the next call. */
  indexer(vertices: Int32Array): (baseId: number) => number {
    const epoch = ++this.epoch;
    vertices.forEach((v, i) => {
      this.stamp[v] = epoch;
      this.local[v] = i;
    });
    return (v) => (v >= 0 && this.stamp[v] === epoch ? (this.local[v] as number) : -1);
  }
}

// Shared by every single-vertex graph (graphs are never written to): popularity_contest makes one
// per path.
const NO_EDGES_OFFSETS = new Int32Array(2);
const NO_EDGES = new Int32Array(0);

export class LayerGraph {
  constructor(
    readonly base: PipelineBase,
    /** Base ids in vertex order. */
    readonly vertices: Int32Array,
    /** Edges (dependent -> dependency) as CSR over local indices. */
    readonly offsets: Int32Array,
    readonly targets: Int32Array,
  ) {}

  get size(): number {
    return this.vertices.length;
  }

  names(): string[] {
    return Array.from(this.vertices, (v) => this.base.names[v] as string);
  }

  /** Local index of each of `paths` that is a vertex here (unknown names are ignored, as in nixpkgs). */
  find(paths: Iterable<string>): number[] {
    const local = this.base.indexer(this.vertices);
    const found: number[] = [];
    for (const path of paths) {
      const i = local(this.base.idOf.get(path) ?? -1);
      if (i >= 0) found.push(i);
    }
    return found;
  }

  successors(i: number): Int32Array {
    return this.targets.subarray(this.offsets[i] as number, this.offsets[i + 1] as number);
  }

  /** Vertices nothing here points to. */
  roots(): number[] {
    const indegree = new Int32Array(this.size);
    for (const t of this.targets) indegree[t]!++;
    const roots: number[] = [];
    indegree.forEach((d, i) => d === 0 && roots.push(i));
    return roots;
  }

  /** 1 for every vertex reachable from `starts` (included), along edges ("out") or against them ("in"). */
  reach(starts: Iterable<number>, mode: "out" | "in"): Uint8Array {
    const { offsets, targets } = mode === "out" ? this : this.reversed();
    const seen = new Uint8Array(this.size);
    const stack = [...starts];
    while (stack.length > 0) {
      const x = stack.pop() as number;
      if (seen[x] === 1) continue;
      seen[x] = 1;
      for (let e = offsets[x] as number; e < (offsets[x + 1] as number); e++) stack.push(targets[e] as number);
    }
    return seen;
  }

  private reversed(): { offsets: Int32Array; targets: Int32Array } {
    const offsets = new Int32Array(this.size + 1);
    for (const t of this.targets) offsets[t + 1]!++;
    for (let i = 0; i < this.size; i++) offsets[i + 1]! += offsets[i] as number;
    const fill = offsets.slice(0, this.size);
    const targets = new Int32Array(this.targets.length);
    for (let i = 0; i < this.size; i++) for (const t of this.successors(i)) targets[fill[t]!++] = i;
    return { offsets, targets };
  }

  /** The subgraph induced by the vertices with keep[i] === 1, in this graph's vertex order. */
  induced(keep: Uint8Array): LayerGraph {
    const renumber = new Int32Array(this.size).fill(-1);
    const vertices: number[] = [];
    for (let i = 0; i < this.size; i++) {
      if (keep[i] !== 1) continue;
      renumber[i] = vertices.length;
      vertices.push(this.vertices[i] as number);
    }
    const offsets = new Int32Array(vertices.length + 1);
    const targets: number[] = [];
    for (let i = 0; i < this.size; i++) {
      const n = renumber[i] as number;
      if (n < 0) continue;
      for (const t of this.successors(i)) if ((renumber[t] as number) >= 0) targets.push(renumber[t] as number);
      offsets[n + 1] = targets.length;
    }
    return new LayerGraph(this.base, Int32Array.from(vertices), offsets, Int32Array.from(targets));
  }

  /** The same vertices, without the edges that point at a vertex with cut[i] === 1. */
  withoutEdgesInto(cut: Uint8Array): LayerGraph {
    const offsets = new Int32Array(this.size + 1);
    const targets: number[] = [];
    for (let i = 0; i < this.size; i++) {
      for (const t of this.successors(i)) if (cut[t] !== 1) targets.push(t);
      offsets[i + 1] = targets.length;
    }
    return new LayerGraph(this.base, this.vertices, offsets, Int32Array.from(targets));
  }

  /** The graph of one vertex (base id), without edges: what popularity_contest yields. */
  static single(base: PipelineBase, baseId: number): LayerGraph {
    return new LayerGraph(base, Int32Array.of(baseId), NO_EDGES_OFFSETS, NO_EDGES);
  }

  /** igraph's disjoint union `g1 + g2 + ...`: vertices concatenated, no edges between the parts. */
  static merge(graphs: readonly LayerGraph[]): LayerGraph {
    const first = graphs[0];
    if (first === undefined) throw new RangeError("LayerGraph.merge needs at least one graph");
    if (graphs.length === 1) return first;
    let size = 0;
    let edges = 0;
    for (const g of graphs) {
      size += g.size;
      edges += g.targets.length;
    }
    const vertices = new Int32Array(size);
    const offsets = new Int32Array(size + 1);
    const targets = new Int32Array(edges);
    let at = 0;
    let edgeAt = 0;
    for (const g of graphs) {
      vertices.set(g.vertices, at);
      for (let i = 0; i < g.size; i++) offsets[at + i + 1] = edgeAt + (g.offsets[i + 1] as number);
      for (let e = 0; e < g.targets.length; e++) targets[edgeAt + e] = (g.targets[e] as number) + at;
      at += g.size;
      edgeAt += g.targets.length;
    }
    return new LayerGraph(first.base, vertices, offsets, targets);
  }
}

/**
 * nixpkgs' input step (spec §3.4 steps 1-2): drop the excluded paths and every reference to them,
 * then order the vertices by narSize ascending, ties in the graph's (store path) order.
 */
export function pipelineGraph(graph: ClosureGraph, excludePaths: Iterable<string>): LayerGraph {
  const whole = intGraph(graph);
  const exclude = new Set(excludePaths);
  // Array.prototype.sort is stable: ties keep the store path order of `graph.paths`.
  const kept = whole.names.flatMap((path, i) => (exclude.has(path) ? [] : [i])).sort((a, b) => (whole.narSize[a] as number) - (whole.narSize[b] as number));
  const base = new PipelineBase(
    kept.map((i) => whole.names[i] as string),
    kept.map((i) => whole.narSize[i] as number),
  );
  const baseId = new Int32Array(whole.names.length).fill(-1);
  kept.forEach((i, id) => (baseId[i] = id));
  const offsets = new Int32Array(kept.length + 1);
  const targets: number[] = [];
  kept.forEach((i, id) => {
    for (let e = whole.offsets[i] as number; e < (whole.offsets[i + 1] as number); e++) {
      const t = baseId[whole.targets[e] as number] as number;
      if (t >= 0) targets.push(t);
    }
    offsets[id + 1] = targets.length;
  });
  return new LayerGraph(base, Int32Array.from(kept, (_, id) => id), offsets, Int32Array.from(targets));
}
