import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseReferencesGraph } from "../../src/closure/references-graph.js";
import { planLayers, type PlanLayersOptions } from "../../src/plan/plan-layers.js";
import { headTailSplit } from "../../src/plan/split.js";
import type { ClosureGraph } from "../../src/closure/types.js";
import { popularityOrder } from "../../src/plan/popularity.js";
import { dagArbitrary, dagGraph, exportReferencesGraphJson, graphOf, prng, shuffle } from "../closure/random-graph.js";

const S = "/nix/store";

describe("headTailSplit", () => {
  const order = ["a", "b", "c", "d", "e"];

  it("gives the first available-1 paths a layer each and the rest one layer, in order", () => {
    expect(headTailSplit(order, 3)).toEqual([["a"], ["b"], ["c", "d", "e"]]);
    expect(headTailSplit(order, 1)).toEqual([order]);
  });

  it("drops empty layers: fewer paths than layers, or none", () => {
    expect(headTailSplit(order, 5)).toEqual([["a"], ["b"], ["c"], ["d"], ["e"]]);
    expect(headTailSplit(order, 9)).toEqual([["a"], ["b"], ["c"], ["d"], ["e"]]);
    expect(headTailSplit([], 3)).toEqual([]);
    expect(headTailSplit([], 1)).toEqual([]);
  });

  it.each([[0], [-1], [1.5]])("rejects available=%s", (available) => {
    expect(() => headTailSplit(order, available)).toThrow(expect.objectContaining({ code: "E_USAGE" }));
  });

  it("keeps every path, in order, in at most `available` layers", () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.string()), fc.integer({ min: 1, max: 50 }), (paths, available) => {
        const layers = headTailSplit(paths, available);
        expect(layers.flat()).toEqual(paths);
        expect(layers.length).toBeLessThanOrEqual(available);
        expect(layers.length).toBe(Math.min(available, paths.length));
        for (const layer of layers) expect(layer.length).toBeGreaterThan(0);
      }),
    );
  });
});

// The classic plan as the library computes it: planLayers with the popularity strategy.
const planPopularity = (graph: ClosureGraph, options: PlanLayersOptions) => planLayers(graph, { ...options, layering: "popularity" });

describe("planLayers popularity", () => {
  const graph = graphOf({
    [`${S}/a-app`]: [`${S}/c-lib`, `${S}/e-libc`],
    [`${S}/c-lib`]: [`${S}/e-libc`],
    [`${S}/e-libc`]: [],
    [`${S}/f-conf`]: [],
  });

  it("splits the popularity order to the budget left by the base and customisation layers", () => {
    // Path counts: a-app 1, c-lib 1, e-libc 2, f-conf 1; popularity: a-app 1, c-lib 2, e-libc 4, f-conf 1.
    expect(popularityOrder(graph)).toEqual([`${S}/e-libc`, `${S}/c-lib`, `${S}/a-app`, `${S}/f-conf`]);
    expect(planPopularity(graph, { maxLayers: 4, baseLayers: 1 })).toEqual([[`${S}/e-libc`], [`${S}/c-lib`, `${S}/a-app`, `${S}/f-conf`]]);
    expect(planPopularity(graph, { maxLayers: 100 })).toEqual([[`${S}/e-libc`], [`${S}/c-lib`], [`${S}/a-app`], [`${S}/f-conf`]]);
  });

  it("passes root groups on", () => {
    expect(planPopularity(graph, { maxLayers: 3, rootGroups: [[`${S}/a-app`]] })).toEqual([[`${S}/e-libc`], [`${S}/c-lib`, `${S}/a-app`, `${S}/f-conf`]]);
  });

  it("checks the budget before the graph", () => {
    const broken = graphOf({ [`${S}/a-app`]: [`${S}/zz-missing`] });
    expect(() => planPopularity(broken, { maxLayers: 1 })).toThrow(expect.objectContaining({ code: "E_USAGE" }));
    expect(() => planPopularity(broken, { maxLayers: 3, baseLayers: 2 })).toThrow(expect.objectContaining({ code: "E_LAYER_BUDGET" }));
    expect(() => planPopularity(broken, { maxLayers: 3 })).toThrow(expect.objectContaining({ code: "E_CLOSURE_INPUT" }));
  });

  const budget = fc.record({ maxLayers: fc.integer({ min: 2, max: 40 }), baseLayers: fc.integer({ min: 0, max: 3 }) }).filter((b) => b.baseLayers + 1 < b.maxLayers);

  it("puts every path in exactly one layer, within the budget", () => {
    fc.assert(
      fc.property(dagArbitrary(40, 6), budget, (dag, { maxLayers, baseLayers }) => {
        const layers = planPopularity(dagGraph(dag), { maxLayers, baseLayers });
        expect(layers.flat().sort()).toEqual([...dag.paths].sort());
        expect(layers.length).toBeLessThanOrEqual(maxLayers - baseLayers - 1);
        for (const layer of layers) expect(layer.length).toBeGreaterThan(0);
      }),
    );
  });

  it("does not depend on the order of the input's entries and reference lists", () => {
    fc.assert(
      fc.property(dagArbitrary(40, 6), budget, fc.integer(), (dag, options, seed) => {
        const random = prng(seed);
        const nodes = exportReferencesGraphJson(dag) as { references: string[] }[];
        const shuffled = shuffle(nodes, random).map((node) => ({ ...node, references: shuffle(node.references, random) }));
        const plan = (json: unknown) => planPopularity(parseReferencesGraph(JSON.stringify(json), "g.json"), options);
        expect(plan(shuffled)).toEqual(plan(nodes));
        expect(plan(nodes)).toEqual(planPopularity(dagGraph(dag), options));
      }),
    );
  });
});
