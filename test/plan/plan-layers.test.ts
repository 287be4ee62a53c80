import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseReferencesGraph } from "../../src/closure/references-graph.js";
import { autoLayer } from "../../src/plan/auto-layer.js";
import { planLayers, type LayeringStrategy } from "../../src/plan/plan-layers.js";
import { popularityOrder } from "../../src/plan/popularity.js";
import { dagArbitrary, dagGraph, exportReferencesGraphJson, prng, shuffle } from "../closure/random-graph.js";
import { sizedGraph, sp } from "./sized-graph.js";

const app = sp("app");
const libA = sp("libA");
const libB = sp("libB");
const glibc = sp("glibc");
const tool = sp("tool");
const example = sizedGraph({
  [app]: [100, [app, libA, libB]],
  [libA]: [50, [libA, glibc]],
  [libB]: [40, [glibc]],
  [glibc]: [30, [glibc]],
  [tool]: [60, [glibc]],
});

describe("planLayers: strategies", () => {
  it("defaults to auto with maxLayers 100: one path per layer here", () => {
    expect(planLayers(example)).toEqual([[glibc], [libB], [libA], [tool], [app]]);
    expect(planLayers(example, { strategy: "auto" })).toEqual(planLayers(example));
  });

  it("gives auto-layer maxLayers - baseLayers - 1 layers (spec §1.5)", () => {
    // 5 - 1 base - 1 customisation = 3: the §3.2 table's limit-3 row.
    expect(planLayers(example, { maxLayers: 5, baseLayers: 1 })).toEqual([[glibc], [tool], [app, libA, libB]]);
    expect(planLayers(example, { maxLayers: 3 })).toEqual(autoLayer(example, { limit: 2 }));
  });

  it("popularity: the classic order cut to the budget", () => {
    // Path counts N: app 1, tool 1, libA 1, libB 1, glibc 3. Popularity = N summed over a path's
    // ancestors and itself: glibc 7, libA 2, libB 2, app 1, tool 1.
    expect(popularityOrder(example)).toEqual([glibc, libA, libB, app, tool]);
    expect(planLayers(example, { strategy: "popularity", maxLayers: 4 })).toEqual([[glibc], [libA], [libB, app, tool]]);
  });

  it("popularity drops excluded paths after ranking (nixpkgs' grep -v), before the split", () => {
    expect(planLayers(example, { strategy: "popularity", maxLayers: 4, excludePaths: [libA] })).toEqual([[glibc], [libB], [app, tool]]);
  });

  it("passes root groups to popularity and auto (synthetic roots)", () => {
    // Only tool is under the group's root: glibc 3, tool 2, then the unreached paths in path order.
    expect(planLayers(example, { strategy: "popularity", maxLayers: 3, rootGroups: [[tool]] })).toEqual([[glibc], [tool, app, libA, libB]]);
    // auto's synthetic-roots table (auto-layer.test.ts): limit 4 leaves 3 layers.
    expect(planLayers(example, { maxLayers: 5, rootGroups: [[app, tool]] })).toEqual([[glibc], [tool], [app, libA, libB]]);
    expect(planLayers(example, { maxLayers: 3, rootGroups: [[app, tool]], rootGroupNarSize: 1000 })).toEqual([[app, glibc, libA, libB], [tool]]);
  });

  it("pipeline: no budget, no root groups; excluded paths removed first", () => {
    const pipeline = [["popularity_contest"]];
    expect(planLayers(example, { strategy: { pipeline }, maxLayers: 2, rootGroups: [[tool]] })).toEqual([[glibc], [libA], [libB], [app], [tool]]);
    expect(planLayers(example, { strategy: { pipeline }, excludePaths: [libA] })).toEqual([[glibc], [libB], [app], [tool]]);
  });
});

describe("planLayers: budget and option errors", () => {
  it.each<LayeringStrategy>(["auto", "popularity"])("%s: E_LAYER_BUDGET when nothing is left, before looking at the graph", (strategy) => {
    const broken = sizedGraph({ [app]: [1, [sp("missing")]] });
    expect(() => planLayers(broken, { strategy, maxLayers: 3, baseLayers: 2 })).toThrow(
      expect.objectContaining({ code: "E_LAYER_BUDGET", message: "maxLayers=3 leaves no layer for store paths: 2 base layers + 1 customisation layer use 3" }),
    );
    expect(() => planLayers(broken, { strategy, maxLayers: 3 })).toThrow(expect.objectContaining({ code: "E_CLOSURE_INPUT" }));
  });

  it("pipeline: no budget error, but maxLayers and baseLayers are still checked", () => {
    expect(planLayers(example, { strategy: { pipeline: [["split_every", 1]] }, maxLayers: 2, baseLayers: 1 })).toHaveLength(5);
    expect(() => planLayers(example, { strategy: { pipeline: [["split_every", 1]] }, maxLayers: 1 })).toThrow(
      expect.objectContaining({ code: "E_USAGE", message: "maxLayers must be an integer >= 2, got 1" }),
    );
  });

  it("an unknown strategy is E_USAGE", () => {
    expect(() => planLayers(example, { strategy: "fancy" as LayeringStrategy })).toThrow(
      expect.objectContaining({ code: "E_USAGE", message: 'strategy must be "auto", "popularity" or { pipeline: [...] }, got "fancy"' }),
    );
  });

  it("a malformed pipeline is E_USAGE naming the step", () => {
    expect(() => planLayers(example, { strategy: { pipeline: [["popularity_contest"], ["limit_layers"]] } })).toThrow(
      expect.objectContaining({ code: "E_USAGE", message: "pipeline step 2 (limit_layers): limit_layers takes 1 argument, the number of layers, found 0" }),
    );
  });
});

describe("planLayers: properties over random DAGs (with self-references), every strategy", () => {
  const budget = fc
    .record({ maxLayers: fc.integer({ min: 2, max: 30 }), baseLayers: fc.integer({ min: 0, max: 3 }) })
    .filter((b) => b.baseLayers + 1 < b.maxLayers);
  const strategies = (available: number): LayeringStrategy[] => [
    "auto",
    "popularity",
    { pipeline: [["popularity_contest"], ["limit_layers", available]] },
    { pipeline: [["split_every", 3], ["reverse"], ["limit_layers", available]] },
  ];

  it("every path in exactly one layer, within the budget, none empty", () => {
    fc.assert(
      fc.property(dagArbitrary(50, 8), budget, fc.array(fc.array(fc.nat(), { maxLength: 5 }), { maxLength: 2 }), (dag, { maxLayers, baseLayers }, picks) => {
        const graph = dagGraph(dag);
        const available = maxLayers - baseLayers - 1;
        const rootGroups = dag.paths.length === 0 ? [] : picks.map((g) => g.map((i) => dag.paths[i % dag.paths.length] as string));
        for (const strategy of strategies(available)) {
          const layers = planLayers(graph, { strategy, maxLayers, baseLayers, rootGroups });
          expect(layers.flat().sort()).toEqual([...dag.paths].sort());
          expect(layers.length).toBeLessThanOrEqual(available);
          for (const layer of layers) expect(layer.length).toBeGreaterThan(0);
        }
      }),
    );
  });

  it("leaves excluded paths out, and only them", () => {
    fc.assert(
      fc.property(dagArbitrary(40, 6), budget, fc.array(fc.nat(), { maxLength: 6 }), (dag, { maxLayers, baseLayers }, picks) => {
        const excludePaths = dag.paths.length === 0 ? [] : picks.map((i) => dag.paths[i % dag.paths.length] as string);
        const expected = dag.paths.filter((p) => !excludePaths.includes(p)).sort();
        for (const strategy of strategies(maxLayers - baseLayers - 1)) {
          expect(planLayers(dagGraph(dag), { strategy, maxLayers, baseLayers, excludePaths }).flat().sort()).toEqual(expected);
        }
      }),
    );
  });

  it("does not depend on the order of the input's entries and reference lists", () => {
    fc.assert(
      fc.property(dagArbitrary(40, 6), budget, fc.integer(), (dag, { maxLayers, baseLayers }, seed) => {
        const random = prng(seed);
        const nodes = exportReferencesGraphJson(dag) as { references: string[] }[];
        const shuffled = shuffle(nodes, random).map((node) => ({ ...node, references: shuffle(node.references, random) }));
        for (const strategy of strategies(maxLayers - baseLayers - 1)) {
          const plan = (json: unknown) => planLayers(parseReferencesGraph(JSON.stringify(json), "g.json"), { strategy, maxLayers, baseLayers });
          expect(plan(shuffled)).toEqual(plan(nodes));
        }
      }),
    );
  });
});
