/**
 * Random closure graphs for the property tests of src/closure and src/plan, and the JSON forms Nix
 * writes them in. A DAG is generated in a topological order (node i references only nodes after
 * it) with random names, so the sorted path order has nothing to do with the topology.
 */

import fc from "fast-check";
import type { ClosureGraph, StorePathInfo } from "../../src/closure/types.js";

export interface Dag {
  /** Store paths, in topological order (referrers first). */
  readonly paths: readonly string[];
  /** references[i]: paths node i references, without itself, unsorted, no duplicates. */
  readonly references: readonly (readonly string[])[];
  readonly selfReference: readonly boolean[];
  readonly narSize: readonly number[];
}

const NAMES = ["glibc-2.40", "hello-2.12", "bash-5.2", "zlib-1.3", "a", "lib-x", "hello-2.12-man"];

export function dagArbitrary(maxNodes = 25, maxRefs = 5): fc.Arbitrary<Dag> {
  return fc.integer({ min: 0, max: maxNodes }).chain((n) =>
    fc
      .record({
        names: fc.uniqueArray(fc.tuple(fc.stringMatching(/^[0-9a-z]{1,5}$/), fc.constantFrom(...NAMES)), {
          minLength: n,
          maxLength: n,
          selector: ([hash, name]) => `${hash}-${name}`,
        }),
        edges: fc.array(fc.array(fc.nat(), { maxLength: maxRefs }), { minLength: n, maxLength: n }),
        selfReference: fc.array(fc.boolean(), { minLength: n, maxLength: n }),
        narSize: fc.array(fc.nat({ max: 2 ** 40 }), { minLength: n, maxLength: n }),
      })
      .map(({ names, edges, selfReference, narSize }) => {
        const paths = names.map(([hash, name]) => `/nix/store/${hash}-${name}`);
        const references = edges.map((targets, i) => {
          const later = n - i - 1;
          return later === 0 ? [] : [...new Set(targets.map((t) => paths[i + 1 + (t % later)] as string))];
        });
        return { paths, references, selfReference, narSize };
      }),
  );
}

/** The graph a correct reader makes of `dag`. */
export function dagGraph(dag: Dag): ClosureGraph {
  const infos: StorePathInfo[] = dag.paths.map((path, i) => ({
    path,
    references: [...(dag.references[i] as string[])].sort(),
    selfReference: dag.selfReference[i] as boolean,
    narSize: dag.narSize[i] as number,
    narHash: fakeHash(path),
  }));
  infos.sort((a, b) => (a.path < b.path ? -1 : 1));
  return { storeDir: "/nix/store", paths: new Map(infos.map((info) => [info.path, info])) };
}

/** The references Nix lists for node i: the others, plus itself when it self-references. */
function nixReferences(dag: Dag, i: number): string[] {
  const refs = [...(dag.references[i] as string[])];
  if (dag.selfReference[i]) refs.push(dag.paths[i] as string);
  return refs.sort();
}

export function exportReferencesGraphJson(dag: Dag): unknown[] {
  return dag.paths.map((path, i) => ({
    closureSize: 0,
    narHash: fakeHash(path),
    narSize: dag.narSize[i],
    path,
    references: nixReferences(dag, i),
  }));
}

export function pathInfoListJson(dag: Dag): unknown[] {
  return dag.paths.map((path, i) => ({
    path,
    narHash: fakeHash(path),
    narSize: dag.narSize[i],
    references: nixReferences(dag, i),
    registrationTime: 1700000000,
    ultimate: false,
    valid: true,
  }));
}

export function pathInfoObjectJson(dag: Dag): Record<string, unknown> {
  return Object.fromEntries(
    dag.paths.map((path, i) => [
      path,
      { ca: null, deriver: null, narHash: fakeHash(path), narSize: dag.narSize[i], references: nixReferences(dag, i), signatures: [] },
    ]),
  );
}

export function fakeHash(path: string): string {
  return `sha256:${path.slice("/nix/store/".length).padEnd(52, "0").slice(0, 52)}`;
}

/** A deterministic PRNG (mulberry32), to shuffle inputs from a fast-check-chosen seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function shuffle<T>(items: readonly T[], random: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

/** A graph built from `[path, references]` pairs, for hand-written examples. */
export function graphOf(nodes: Record<string, readonly string[]>, storeDir = "/nix/store"): ClosureGraph {
  const infos = Object.entries(nodes)
    .map(([path, references]): StorePathInfo => ({ path, references: [...references].sort(), selfReference: false, narSize: 0 }))
    .sort((a, b) => (a.path < b.path ? -1 : 1));
  return { storeDir, paths: new Map(infos.map((info) => [info.path, info])) };
}
