import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { compareLayerPlans } from "../../src/plan/compare.js";
import { planLayers, type LayeringStrategy } from "../../src/plan/plan-layers.js";
import { planWithPrevious } from "../../src/plan/previous.js";
import { dagArbitrary, dagGraph } from "../closure/random-graph.js";
import { sizedGraph, sp } from "./sized-graph.js";

const [app, app2, libA, libB, glibc, tool] = ["app", "app2", "libA", "libB", "glibc", "tool"].map((name) => sp(name)) as [string, string, string, string, string, string];

/** Version 1: spec §3.2's example. Version 2: a new build of app (a new path), the rest unchanged. */
const v1 = sizedGraph({
  [app]: [100, [libA, libB]],
  [libA]: [50, [glibc]],
  [libB]: [40, [glibc]],
  [glibc]: [30, []],
  [tool]: [60, [glibc]],
});
const v2 = sizedGraph({
  [app2]: [100, [libA, libB]],
  [libA]: [50, [glibc]],
  [libB]: [40, [glibc]],
  [glibc]: [30, []],
  [tool]: [60, [glibc]],
});

describe("planWithPrevious", () => {
  const previous = planLayers(v1, { maxLayers: 6 });

  it("keeps every layer that is still whole, in order, and plans the new paths on top", () => {
    expect(previous).toEqual([[glibc], [libB], [libA], [tool], [app]]);
    expect(planWithPrevious(v2, previous, { maxLayers: 6 })).toEqual([[glibc], [libB], [libA], [tool], [app2]]);
  });

  it("gives the plan itself when nothing changed", () => {
    expect(planWithPrevious(v1, previous, { maxLayers: 6 })).toEqual(previous);
    const popular = planLayers(v1, { strategy: "popularity", maxLayers: 4 });
    expect(planWithPrevious(v1, popular, { strategy: "popularity", maxLayers: 4 })).toEqual(popular);
  });

  it("plans from scratch without a previous plan", () => {
    for (const strategy of ["auto", "popularity"] as const) {
      expect(planWithPrevious(v2, [], { strategy, maxLayers: 4 })).toEqual(planLayers(v2, { strategy, maxLayers: 4 }));
    }
  });

  it("does not keep a layer that lost a path: its other paths are planned anew", () => {
    const old = [[glibc], [libA, libB], [app, tool]];
    // [app, tool] lost app: tool joins app2 in the new plan (auto, one path per layer here).
    expect(planWithPrevious(v2, old, { maxLayers: 10 })).toEqual([[glibc], [libA, libB], [tool], [app2]]);
  });

  it("does not keep a layer with an excluded path", () => {
    expect(planWithPrevious(v2, previous, { maxLayers: 6, excludePaths: [tool] })).toEqual([[glibc], [libB], [libA], [app2]]);
  });

  it("within a short budget, keeps the largest reusable layers and leaves one for the rest", () => {
    // 3 store layers: 4 reusable layers (glibc 30, libB 40, libA 50, tool 60) and app2 to place.
    // libA and tool are kept (in their order); glibc, libB and app2 are planned into 1 layer.
    expect(planWithPrevious(v2, previous, { maxLayers: 4 })).toEqual([[libA], [tool], [app2, glibc, libB]]);
    // Nothing new but 5 layers for 4 slots: the two smallest (glibc, libB) must share the one
    // new layer, so the three largest are kept.
    expect(planWithPrevious(v1, previous, { maxLayers: 5 })).toEqual([[libA], [tool], [app], [glibc, libB]]);
  });

  it("breaks size ties by keeping the earlier layer", () => {
    const same = sizedGraph({ [sp("a")]: [5, []], [sp("b")]: [5, []], [sp("c")]: [5, []], [sp("new")]: [1, []] });
    const old = [[sp("c")], [sp("a")], [sp("b")]];
    expect(planWithPrevious(same, old, { maxLayers: 4 })).toEqual([[sp("c")], [sp("a")], [sp("b"), sp("new")]]);
  });

  it("with a pipeline (no budget): keeps every reusable layer and runs the pipeline on the rest", () => {
    const pipeline = [["popularity_contest"], ["limit_layers", 1]];
    expect(planWithPrevious(v2, [[glibc, libA], [app]], { strategy: { pipeline } })).toEqual([[glibc, libA], [libB, app2, tool]]);
  });

  it("restricts root groups to the paths it plans", () => {
    const strategy: LayeringStrategy = "popularity";
    expect(planWithPrevious(v2, [[glibc], [libA]], { strategy, maxLayers: 4, rootGroups: [[app2, tool, glibc]] })).toEqual([[glibc], [libA], [libB, app2, tool]]);
  });

  it("rejects a previous plan that lists a path twice, and a bad budget", () => {
    expect(() => planWithPrevious(v2, [[glibc], [glibc, tool]])).toThrow(
      expect.objectContaining({ code: "E_USAGE", message: `previous plan: ${glibc} is listed in layers 1 and 2` }),
    );
    expect(() => planWithPrevious(v2, previous, { maxLayers: 2, baseLayers: 1 })).toThrow(expect.objectContaining({ code: "E_LAYER_BUDGET" }));
  });

  it("shares 4 of 5 layers with the previous plan after an app update", () => {
    const next = planWithPrevious(v2, previous, { maxLayers: 6 });
    const sizes = new Map([...v1.paths.values(), ...v2.paths.values()].map((info) => [info.path, info.narSize]));
    const comparison = compareLayerPlans(previous, next, (path) => sizes.get(path) ?? 0);
    expect(comparison.shared).toEqual({ layers: 4, bytes: 180 });
  });
});

describe("planWithPrevious: properties over random DAGs", () => {
  const budget = fc.record({ maxLayers: fc.integer({ min: 2, max: 20 }), baseLayers: fc.integer({ min: 0, max: 2 }) }).filter((b) => b.baseLayers + 1 < b.maxLayers);
  /** A previous plan: some of the graph's paths (and some that are gone) cut into layers. */
  const previousOf = (paths: readonly string[], picks: readonly (readonly number[])[]) => {
    const used = new Set<string>();
    return picks
      .map((layer) =>
        layer
          .map((i) => (i % 5 === 4 || paths.length === 0 ? `/nix/store/gone${i}-x` : (paths[i % paths.length] as string)))
          .filter((path) => (used.has(path) ? false : (used.add(path), true))),
      )
      .filter((layer) => layer.length > 0);
  };

  it("every path once, within the budget, and the reusable layers kept first (as many as fit)", () => {
    fc.assert(
      fc.property(dagArbitrary(40, 6), budget, fc.array(fc.array(fc.nat(), { minLength: 1, maxLength: 4 }), { maxLength: 12 }), fc.constantFrom<LayeringStrategy>("auto", "popularity"), (dag, { maxLayers, baseLayers }, picks, strategy) => {
        const graph = dagGraph(dag);
        const previous = previousOf(dag.paths, picks);
        const layers = planWithPrevious(graph, previous, { strategy, maxLayers, baseLayers });
        const limit = maxLayers - baseLayers - 1;
        expect(layers.flat().sort()).toEqual([...dag.paths].sort());
        expect(layers.length).toBeLessThanOrEqual(limit);
        const reusable = previous.filter((layer) => layer.every((path) => graph.paths.has(path)));
        const others = dag.paths.some((path) => !reusable.some((layer) => layer.includes(path)));
        const keep = reusable.length > limit || (others && reusable.length >= limit) ? limit - 1 : reusable.length;
        const kept = layers.slice(0, keep);
        // The kept layers are reusable layers, in the previous plan's order.
        const positions = kept.map((layer) => previous.findIndex((old) => JSON.stringify(old) === JSON.stringify(layer)));
        expect(positions.every((p) => p >= 0)).toBe(true);
        expect([...positions].sort((a, b) => a - b)).toEqual(positions);
      }),
    );
  });
});
