import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  assertAcyclic,
  assertNoDanglingReferences,
  checkStoreDir,
  danglingReferences,
  findCycle,
  storePathProblem,
} from "../../src/closure/graph-checks.js";
import { dagArbitrary, dagGraph, graphOf } from "./random-graph.js";

const S = "/nix/store";

describe("storePathProblem", () => {
  it("accepts store paths with every character Nix allows", () => {
    expect(storePathProblem(`${S}/abc-hello-2.12`, S)).toBeUndefined();
    expect(storePathProblem(`${S}/abc-a+b_c?d=e.f-1`, S)).toBeUndefined();
    expect(storePathProblem("/gnu/store/abc-x", "/gnu/store")).toBeUndefined();
  });

  it("rejects what is not directly under the store directory", () => {
    expect(storePathProblem("/nix/store2/abc-x", S)).toBe("it does not start with /nix/store/");
    expect(storePathProblem(`${S}/abc-x/lib`, S)).toBe("it names a file inside a store path, not a store path");
    expect(storePathProblem(`${S}/..`, S)).toMatch(/starts with '\.'/);
    expect(storePathProblem(`${S}/.abc`, S)).toMatch(/starts with '\.'/);
    expect(storePathProblem(`${S}/`, S)).toBe("its name is empty");
    expect(storePathProblem(`${S}/a\u0000b`, S)).toMatch(/characters Nix does not allow/);
  });
});

describe("checkStoreDir", () => {
  it("accepts absolute directories and rejects the rest with E_USAGE", () => {
    expect(() => checkStoreDir("/nix/store")).not.toThrow();
    for (const dir of ["", "/", "nix/store", "/nix/store/", "/nix//store"]) {
      expect(() => checkStoreDir(dir)).toThrow(expect.objectContaining({ code: "E_USAGE" }));
    }
  });
});

describe("dangling references", () => {
  const graph = graphOf({ [`${S}/b-x`]: [`${S}/z-gone`, `${S}/a-y`], [`${S}/a-y`]: [`${S}/y-gone`] });

  it("are listed sorted, node then reference", () => {
    expect(danglingReferences(graph.paths)).toEqual([
      [`${S}/a-y`, `${S}/y-gone`],
      [`${S}/b-x`, `${S}/z-gone`],
    ]);
  });

  it("are an E_CLOSURE_INPUT error naming the first one", () => {
    expect(() => assertNoDanglingReferences(graph.paths, "in.json")).toThrow(
      expect.objectContaining({ code: "E_CLOSURE_INPUT", message: `in.json: references to paths missing from the graph: ${S}/a-y references ${S}/y-gone, which has no entry (and 1 more)` }),
    );
  });
});

describe("findCycle", () => {
  it("ignores self-references", () => {
    expect(findCycle(graphOf({ [`${S}/a-x`]: [`${S}/a-x`] }).paths)).toBeUndefined();
  });

  it("finds a two-node cycle and reports it closed", () => {
    const graph = graphOf({ [`${S}/a-x`]: [`${S}/b-y`], [`${S}/b-y`]: [`${S}/a-x`] });
    expect(findCycle(graph.paths)).toEqual([`${S}/a-x`, `${S}/b-y`, `${S}/a-x`]);
    expect(() => assertAcyclic(graph.paths, "g.json")).toThrow(`g.json: cycle in the references graph: ${S}/a-x -> ${S}/b-y -> ${S}/a-x`);
  });

  it("reports only the cycle, not the path leading to it", () => {
    const graph = graphOf({ [`${S}/a-x`]: [`${S}/b-y`], [`${S}/b-y`]: [`${S}/c-z`], [`${S}/c-z`]: [`${S}/b-y`] });
    expect(findCycle(graph.paths)).toEqual([`${S}/b-y`, `${S}/c-z`, `${S}/b-y`]);
  });

  it("finds no cycle in random DAGs, and always one after adding a back edge", () => {
    fc.assert(
      fc.property(dagArbitrary(), fc.nat(), (dag, pick) => {
        const graph = dagGraph(dag);
        expect(findCycle(graph.paths)).toBeUndefined();
        // A reference from some node back to one of its referrers closes a cycle.
        const edges = dag.references.flatMap((refs, i) => refs.map((ref) => [dag.paths[i] as string, ref] as const));
        const edge = edges[pick % Math.max(1, edges.length)];
        if (edge === undefined) return;
        const [from, to] = edge;
        const info = graph.paths.get(to)!;
        const paths = new Map(graph.paths).set(to, { ...info, references: [...info.references, from] });
        const cycle = findCycle(paths);
        expect(cycle).toBeDefined();
        expect(cycle![0]).toBe(cycle!.at(-1));
        cycle!.slice(1).forEach((node, i) => expect(paths.get(cycle![i]!)!.references).toContain(node));
      }),
    );
  });

  it("walks a 100,000-deep chain without recursion", () => {
    const n = 100_000;
    const path = (i: number) => `${S}/${String(i).padStart(6, "0")}-p`;
    const paths = new Map(Array.from({ length: n }, (_, i) => [path(i), { references: i + 1 < n ? [path(i + 1)] : [path(0)] }]));
    expect(findCycle(paths)?.length).toBe(n + 1);
  });
});
