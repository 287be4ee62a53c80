import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseReferencesGraph } from "../../src/closure/references-graph.js";
import { autoLayer, comparePathKeys, pathKey } from "../../src/plan/auto-layer.js";
import { dagArbitrary, dagGraph, exportReferencesGraphJson, prng, shuffle } from "../closure/random-graph.js";
import { autoLayerOracle } from "./auto-layer-oracle.js";
import { sizedGraph, sp } from "./sized-graph.js";

const app = sp("app");
const libA = sp("libA");
const libB = sp("libB");
const glibc = sp("glibc");
const tool = sp("tool");

/** The worked example of spec §3.2. */
const example = sizedGraph({
  [app]: [100, [app, libA, libB]],
  [libA]: [50, [libA, glibc]],
  [libB]: [40, [glibc]],
  [glibc]: [30, [glibc]],
  [tool]: [60, [glibc]],
});

describe("autoLayer: the worked example of spec §3.2", () => {
  it.each([
    // the first try yields 2 layers, so it stops with the one initial layer
    [1, [[app, glibc, libA, libB, tool]]],
    // ∅ -> tool (closure 90); {app} -> app, glibc, libA, libB (220)
    [2, [[tool], [app, glibc, libA, libB]]],
    // {app,tool} -> glibc (30); {tool} -> tool (90); {app} -> app, libA, libB (220)
    [3, [[glibc], [tool], [app, libA, libB]]],
    // {libA,tool} -> glibc (30); {libA} -> libA (80); {tool} -> tool (90); {app} -> app, libB (220)
    [4, [[glibc], [libA], [tool], [app, libB]]],
    // one path per layer, by closure size: glibc 30, libB 70, libA 80, tool 90, app 220
    [5, [[glibc], [libB], [libA], [tool], [app]]],
    [99, [[glibc], [libB], [libA], [tool], [app]]],
  ])("limit %i", (limit, expected) => {
    expect(autoLayer(example, { limit })).toEqual(expected);
    expect(autoLayerOracle(example, limit)).toEqual(expected);
  });
});

describe("autoLayer: synthetic roots take part in the search, then vanish", () => {
  // One synthetic root referencing app and tool (the customisation layer of an image with both).
  const groups = [[app, tool]];

  it.each([
    // app first: the synthetic root keeps ∅ alive, so {app} makes 2 layers; it stops at 1
    [1, [[app, glibc, libA, libB, tool]]],
    // ∅ = {synthetic, tool} has the whole closure (310): it now comes after the app layer (220)
    [2, [[app, glibc, libA, libB], [tool]]],
    // tool as a primary would make 4 layers (∅ still holds the synthetic root)
    [3, [[app, glibc, libA, libB], [tool]]],
    // ∅ holds only the synthetic root, which is dropped: 3 layers for a limit of 4
    [4, [[glibc], [tool], [app, libA, libB]]],
    [5, [[glibc], [libA], [tool], [app, libB]]],
    // glibc makes 6; the synthetic root (narSize 0) replaces ∅ by its own set: still 6
    [6, [[glibc], [libB], [libA], [tool], [app]]],
  ])("limit %i", (limit, expected) => {
    expect(autoLayer(example, { limit, rootGroups: groups })).toEqual(expected);
    expect(autoLayerOracle(example, limit, groups)).toEqual(expected);
  });

  it("takes the synthetic roots' narSize into account (one number, or one per group)", () => {
    // With narSize 1000 the synthetic root is the first candidate: every path joins its layer.
    for (const limit of [1, 2, 3, 4, 5, 6, 7]) {
      expect(autoLayer(example, { limit, rootGroups: groups, rootGroupNarSize: 1000 })).toEqual(autoLayerOracle(example, limit, groups, [1000]));
      expect(autoLayer(example, { limit, rootGroups: [[app], [tool]], rootGroupNarSize: [55, 0] })).toEqual(
        autoLayerOracle(example, limit, [[app], [tool]], [55, 0]),
      );
    }
    // By hand: the synthetic root V (1000) is popped first and claims every path ({V}); app then
    // takes its dependencies away from V (V depends on app): {V} -> V, tool; {app} -> app, libA,
    // libB, glibc. tool next would make 4 layers. {V, tool}'s closure (1310) is the larger.
    expect(autoLayer(example, { limit: 2, rootGroups: groups, rootGroupNarSize: 1000 })).toEqual([[app, glibc, libA, libB], [tool]]);
  });

  it("drops excluded real paths from the output after the search", () => {
    const plan = autoLayer(example, { limit: 3, excludePaths: [tool] });
    expect(plan).toEqual([[glibc], [app, libA, libB]]);
    expect(autoLayer(example, { limit: 2, excludePaths: [tool, sp("not-in-graph")] })).toEqual([[app, glibc, libA, libB]]);
  });
});

describe("autoLayer: tie-breaks", () => {
  it("orders layers of equal closure size by their paths' (name, hash) keys", () => {
    // Path order puts aaa-beta first; path_key order puts alpha first.
    const alpha = `/nix/store/zzz-alpha`;
    const beta = `/nix/store/aaa-beta`;
    const graph = sizedGraph({ [alpha]: [10, []], [beta]: [10, []], [sp("base")]: [10, []] });
    expect(autoLayer(graph, { limit: 3 })).toEqual([[alpha], [sp("base")], [beta]]);
  });

  it("sorts paths in a layer by (name, hash) as tuples, not as joined text", () => {
    // "a" < "a+x" as a name; joined with the hash, "a+x-..." would sort before "a-...".
    expect(comparePathKeys("/nix/store/h1-a", "/nix/store/h0-a+x")).toBeLessThan(0);
    expect(comparePathKeys("/nix/store/h1-a", "/nix/store/h0-a")).toBeGreaterThan(0);
    expect(comparePathKeys("/nix/store/h1-a", "/nix/store/h1-a")).toBe(0);
    expect(pathKey("/nix/store/h1-a-b")).toBe("a-b\u0000/nix/store/h1");
    // No "-" (never a store path): the name "" sorts first.
    expect(comparePathKeys("/nix/store/zzz", "/nix/store/h1-a")).toBeLessThan(0);
    const graph = sizedGraph({ ["/nix/store/h1-a"]: [1, []], ["/nix/store/h0-a+x"]: [1, []] });
    expect(autoLayer(graph, { limit: 1 })).toEqual([["/nix/store/h1-a", "/nix/store/h0-a+x"]]);
  });

  it("takes the later path first among candidates of equal narSize", () => {
    // c (last in path order) is popped first and becomes a primary; b would be next, which
    // would make 3 layers. {c} (closure 5) comes before ∅ = {a, b} (10).
    const graph = sizedGraph({ [sp("a", "h1")]: [5, []], [sp("b", "h2")]: [5, []], [sp("c", "h3")]: [5, []] });
    expect(autoLayer(graph, { limit: 2 })).toEqual([[sp("c", "h3")], [sp("a", "h1"), sp("b", "h2")]]);
  });
});

describe("autoLayer: input checks", () => {
  it("rejects a limit below 1 and bad synthetic sizes", () => {
    expect(() => autoLayer(example, { limit: 0 })).toThrow(expect.objectContaining({ code: "E_USAGE" }));
    expect(() => autoLayer(example, { limit: 2.5 })).toThrow(expect.objectContaining({ code: "E_USAGE" }));
    expect(() => autoLayer(example, { limit: 2, rootGroups: [[app]], rootGroupNarSize: -1 })).toThrow(
      expect.objectContaining({ code: "E_USAGE", message: "the narSize of root group 0 must be an integer >= 0, got -1" }),
    );
    expect(() => autoLayer(example, { limit: 2, rootGroups: [[app], [tool]], rootGroupNarSize: [1] })).toThrow(expect.objectContaining({ code: "E_USAGE" }));
  });

  it("names a group path that is not in the graph, and rejects cycles", () => {
    expect(() => autoLayer(example, { limit: 2, rootGroups: [[sp("nope")]] })).toThrow(expect.objectContaining({ code: "E_CLOSURE_INPUT" }));
    const cyclic = sizedGraph({ [sp("a")]: [1, [sp("b")]], [sp("b")]: [1, [sp("a")]] });
    expect(() => autoLayer(cyclic, { limit: 2 })).toThrow(/cycle/);
  });

  it("gives [] for an empty graph, with or without empty groups", () => {
    const empty = sizedGraph({});
    expect(autoLayer(empty, { limit: 3 })).toEqual([]);
    expect(autoLayer(empty, { limit: 3, rootGroups: [[], []] })).toEqual([]);
  });
});

describe("autoLayer: properties over random DAGs", () => {
  const groupsOf = (paths: readonly string[], picks: readonly (readonly number[])[]) =>
    paths.length === 0 ? [] : picks.map((g) => g.map((i) => paths[i % paths.length] as string));

  it("agrees with a transliteration of auto-layer.py (with synthetic roots, both bitset paths)", () => {
    fc.assert(
      fc.property(
        dagArbitrary(16, 4),
        fc.integer({ min: 1, max: 12 }),
        fc.array(fc.array(fc.nat(), { maxLength: 4 }), { maxLength: 2 }),
        fc.array(fc.constantFrom(0, 1, 2 ** 20), { minLength: 2, maxLength: 2 }),
        (dag, limit, picks, sizes) => {
          const graph = dagGraph(dag);
          const groups = groupsOf(dag.paths, picks);
          const expected = autoLayerOracle(graph, limit, groups, sizes);
          expect(autoLayer(graph, { limit, rootGroups: groups, rootGroupNarSize: sizes })).toEqual(expected);
          expect(autoLayer(graph, { limit, rootGroups: groups, rootGroupNarSize: sizes, bitsetBudgetBytes: 0 })).toEqual(expected);
        },
      ),
      { numRuns: 150 },
    );
  });

  it("agrees with the oracle when many narSizes tie", () => {
    fc.assert(
      fc.property(dagArbitrary(14, 4), fc.integer({ min: 1, max: 10 }), fc.array(fc.integer({ min: 0, max: 2 }), { minLength: 14, maxLength: 14 }), (dag, limit, sizes) => {
        const graph = dagGraph({ ...dag, narSize: dag.paths.map((_, i) => sizes[i] ?? 0) });
        expect(autoLayer(graph, { limit })).toEqual(autoLayerOracle(graph, limit));
      }),
      { numRuns: 150 },
    );
  });

  const budget = fc.integer({ min: 1, max: 30 });

  it("puts every path in exactly one non-empty layer, at most `limit` layers", () => {
    fc.assert(
      fc.property(dagArbitrary(60, 8), budget, fc.array(fc.array(fc.nat(), { maxLength: 6 }), { maxLength: 2 }), (dag, limit, picks) => {
        const layers = autoLayer(dagGraph(dag), { limit, rootGroups: groupsOf(dag.paths, picks) });
        expect(layers.flat().sort()).toEqual([...dag.paths].sort());
        expect(layers.length).toBeLessThanOrEqual(limit);
        for (const layer of layers) expect(layer.length).toBeGreaterThan(0);
      }),
    );
  });

  it("does not depend on the order of the input's entries and reference lists", () => {
    fc.assert(
      fc.property(dagArbitrary(40, 6), budget, fc.integer(), (dag, limit, seed) => {
        const random = prng(seed);
        const nodes = exportReferencesGraphJson(dag) as { references: string[] }[];
        const shuffled = shuffle(nodes, random).map((node) => ({ ...node, references: shuffle(node.references, random) }));
        const plan = (json: unknown) => autoLayer(parseReferencesGraph(JSON.stringify(json), "g.json"), { limit });
        expect(plan(shuffled)).toEqual(plan(nodes));
        expect(plan(nodes)).toEqual(autoLayer(dagGraph(dag), { limit }));
      }),
    );
  });
});
