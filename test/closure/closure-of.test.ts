import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { closureOf } from "../../src/closure/closure-of.js";
import { dagArbitrary, dagGraph, graphOf } from "./random-graph.js";

const S = "/nix/store";
const graph = graphOf({
  [`${S}/a-app`]: [`${S}/c-lib`],
  [`${S}/b-tool`]: [`${S}/c-lib`, `${S}/d-other`],
  [`${S}/c-lib`]: [`${S}/e-libc`],
  [`${S}/d-other`]: [],
  [`${S}/e-libc`]: [],
});

describe("closureOf", () => {
  it("keeps what the roots reach, in sorted order", () => {
    const sub = closureOf(graph, [`${S}/a-app`]);
    expect([...sub.paths.keys()]).toEqual([`${S}/a-app`, `${S}/c-lib`, `${S}/e-libc`]);
    expect(sub.storeDir).toBe(S);
    expect(sub.paths.get(`${S}/c-lib`)).toBe(graph.paths.get(`${S}/c-lib`));
  });

  it("merges several roots, repeated or not; no roots give an empty graph", () => {
    expect([...closureOf(graph, [`${S}/d-other`, `${S}/a-app`, `${S}/d-other`]).paths.keys()]).toEqual([
      `${S}/a-app`,
      `${S}/c-lib`,
      `${S}/d-other`,
      `${S}/e-libc`,
    ]);
    expect(closureOf(graph, []).paths.size).toBe(0);
  });

  it("names a root that is not in the graph", () => {
    expect(() => closureOf(graph, [`${S}/a-app`, `${S}/z-nope`])).toThrow(
      expect.objectContaining({ code: "E_CLOSURE_INPUT", message: `closure root ${S}/z-nope is not in the references graph (which has 5 paths)` }),
    );
  });

  it("is closed, contains the roots, and is a fixed point", () => {
    fc.assert(
      fc.property(dagArbitrary(), fc.array(fc.nat()), (dag, picks) => {
        const full = dagGraph(dag);
        const roots = dag.paths.length === 0 ? [] : picks.map((p) => dag.paths[p % dag.paths.length] as string);
        const sub = closureOf(full, roots);
        for (const root of roots) expect(sub.paths.has(root)).toBe(true);
        for (const info of sub.paths.values()) for (const ref of info.references) expect(sub.paths.has(ref)).toBe(true);
        expect([...closureOf(sub, roots).paths.keys()]).toEqual([...sub.paths.keys()]);
        expect([...closureOf(full, [...full.paths.keys()]).paths.keys()]).toEqual([...full.paths.keys()]);
      }),
    );
  });
});
