import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseReferencesGraph } from "../../src/closure/references-graph.js";
import type { ClosureGraph } from "../../src/closure/types.js";
import { StrataError } from "../../src/errors.js";
import { runPipeline } from "../../src/plan/pipeline/run.js";
import { planLayers } from "../../src/plan/plan-layers.js";
import { dagArbitrary, dagGraph, exportReferencesGraphJson, prng, shuffle } from "../closure/random-graph.js";
import { sizedGraph, sp } from "./sized-graph.js";

/** Short names: the text after the hash, as the nixpkgs tests name vertices. */
const short = (layers: readonly (readonly string[])[]) => layers.map((layer) => layer.map((path) => path.slice(path.indexOf("-") + 1)));
const run = (graph: ClosureGraph, pipeline: unknown, excludePaths: string[] = []) => short(runPipeline(graph, pipeline, { excludePaths }));

/**
 * A graph from `name: [narSize, [references]]`. Sizes decide igraph's vertex order (ascending), so
 * each test states it.
 */
function graph(nodes: Record<string, readonly [number, readonly string[]]>): ClosureGraph {
  return sizedGraph(Object.fromEntries(Object.entries(nodes).map(([name, [size, refs]]) => [sp(name), [size, refs.map((r) => sp(r))] as const])));
}

/** pipe_test.py's graph. Vertex order (narSize ascending): G F E D C B A Root1 Root2 Root3. */
const pipeGraph = graph({
  Root1: [9, ["A"]],
  A: [8, ["B", "C"]],
  B: [7, ["D", "E", "G"]],
  C: [6, []],
  D: [5, []],
  E: [4, ["F"]],
  F: [3, []],
  G: [2, []],
  Root2: [10, ["B"]],
  Root3: [11, ["C"]],
});

/** split_paths_test.py's graph (X is detached). Vertex order: X F E D C B A Root1 Root2 Root3. */
const splitGraph = graph({
  Root1: [9, ["A"]],
  A: [8, ["B", "D"]],
  B: [7, ["D", "F"]],
  C: [6, []],
  D: [5, ["E"]],
  E: [4, []],
  F: [3, []],
  Root2: [10, ["B"]],
  Root3: [11, ["C"]],
  X: [1, []],
});

/** subcomponent_test.py's graph. Vertex order: X E D C B A Root1 Root2 Root3. */
const subGraph = graph({
  Root1: [9, ["A"]],
  A: [8, ["B", "C"]],
  B: [7, ["D", "E"]],
  C: [6, []],
  D: [5, []],
  E: [4, []],
  Root2: [10, ["B"]],
  Root3: [11, ["C"]],
  X: [1, []],
});

describe("pipeline: nixpkgs' pipe tests", () => {
  // split_paths [B]: main = B D E F G (edges into B cut), rest = Root1 A C Root2 Root3, no common.
  // Over main: subcomponent_in [B] leaves B alone; popularity over D E F G: F 2, D E G 1.
  // flatten: B, F, D, E, G, rest; limit_layers 5 merges G with rest (G first: concatenation).
  const pipeline = [
    ["split_paths", [sp("B")]],
    ["over", "main", ["pipe", [["subcomponent_in", [sp("B")]], ["over", "rest", ["popularity_contest"]]]]],
    ["flatten"],
  ];

  it("test_1: split, subcomponent, popularity, flatten, limit_layers", () => {
    expect(run(pipeGraph, [...pipeline, ["limit_layers", 5]])).toEqual([["B"], ["F"], ["D"], ["E"], ["G", "C", "A", "Root1", "Root2", "Root3"]]);
  });

  it("test_1 with map remove_paths (a single path, not a list)", () => {
    expect(run(pipeGraph, [...pipeline, ["map", ["remove_paths", sp("Root3")]], ["limit_layers", 5]])).toEqual([["B"], ["F"], ["D"], ["E"], ["G", "C", "A", "Root1", "Root2"]]);
  });

  const small = graph({ Root1: [3, ["A"]], A: [2, ["B"]], B: [1, []], Root2: [4, []] });

  it("test_2: popularity_contest, most popular first; limit_layers; reverse", () => {
    // Popularity: B 3, A 2, Root1 1, Root2 1 (ties by name).
    expect(run(small, [["popularity_contest"]])).toEqual([["B"], ["A"], ["Root1"], ["Root2"]]);
    expect(run(small, [["popularity_contest"], ["limit_layers", 3]])).toEqual([["B"], ["A"], ["Root1", "Root2"]]);
    expect(run(small, [["popularity_contest"], ["reverse"], ["limit_layers", 3]])).toEqual([["Root2"], ["Root1"], ["A", "B"]]);
  });
});

describe("pipeline: split_paths (split_paths_test.py)", () => {
  it("splits one path: main, common, rest in that order", () => {
    // B's closure is B D E F; D E are also reached from Root1 through A: common.
    expect(run(splitGraph, [["split_paths", [sp("B")]], ["flatten"]])).toEqual([["F", "B"], ["E", "D"], ["X", "C", "A", "Root1", "Root2", "Root3"]]);
  });

  it("splits several paths, and a root among them", () => {
    expect(run(splitGraph, [["split_paths", [sp("B"), sp("Root3")]], ["flatten"]])).toEqual([["F", "C", "B", "Root3"], ["E", "D"], ["X", "A", "Root1", "Root2"]]);
  });

  it("leaves out an empty common part", () => {
    expect(run(splitGraph, [["split_paths", [sp("D")]], ["over", "rest", ["split_every", 100]], ["flatten"]])).toEqual([["E", "D"], ["X", "F", "C", "B", "A", "Root1", "Root2", "Root3"]]);
  });

  it("gives only rest when nothing matches, and only main when the single root is a target", () => {
    expect(run(splitGraph, [["split_paths", []], ["flatten"]])).toEqual([["X", "F", "E", "D", "C", "B", "A", "Root1", "Root2", "Root3"]]);
    expect(run(splitGraph, [["split_paths", [sp("nope")]], ["over", "rest", ["split_every", 3]], ["flatten"]])).toEqual([["X", "F", "E"], ["D", "C", "B"], ["A", "Root1", "Root2"], ["Root3"]]);
    const oneRoot = graph({ Top: [1, ["Lib"]], Lib: [2, []] });
    expect(run(oneRoot, [["split_paths", [sp("Top")]], ["over", "main", ["split_every", 1]], ["flatten"]])).toEqual([["Top"], ["Lib"]]);
  });

  it("takes children_of (one path or a list) as the targets, and deletes the edges into them", () => {
    // Targets B and D (A's children): main = B D E F, rest = Root1 A Root2 Root3 C X.
    const expected = [["F", "E", "D", "B"], ["X", "C", "A", "Root1", "Root2", "Root3"]];
    expect(run(splitGraph, [["split_paths", [{ children_of: sp("A") }]], ["flatten"]])).toEqual(expected);
    expect(run(splitGraph, [["split_paths", [{ children_of: [sp("A"), sp("nope")] }]], ["flatten"]])).toEqual(expected);
    // In main the edge B -> D is gone, so B and D are both roots there: popularity B 1 F 2 D 1 E 2
    // (E, F first by name). With the edge, D would have 2 and E 3: E, D, F, B.
    expect(run(splitGraph, [["split_paths", [{ children_of: sp("A") }]], ["over", "main", ["popularity_contest"]], ["flatten"]]).slice(0, 4)).toEqual([["E"], ["F"], ["B"], ["D"]]);
  });
});

describe("pipeline: subcomponent_in / subcomponent_out (subcomponent_test.py)", () => {
  it("out: the paths and their dependencies, and the rest; both keys always", () => {
    expect(run(subGraph, [["subcomponent_out", [sp("B")]], ["flatten"]])).toEqual([["E", "D", "B"], ["X", "C", "A", "Root1", "Root2", "Root3"]]);
    expect(run(subGraph, [["subcomponent_out", [sp("B"), sp("Root3")]], ["flatten"]])).toEqual([["E", "D", "C", "B", "Root3"], ["X", "A", "Root1", "Root2"]]);
  });

  it("in: the paths and their dependents, and the rest", () => {
    expect(run(subGraph, [["subcomponent_in", [sp("B")]], ["flatten"]])).toEqual([["B", "A", "Root1", "Root2"], ["X", "E", "D", "C", "Root3"]]);
    expect(run(subGraph, [["subcomponent_in", [sp("B"), sp("Root3")]], ["flatten"]])).toEqual([["B", "A", "Root1", "Root2", "Root3"], ["X", "E", "D", "C"]]);
  });

  it("keeps an empty main (an empty layer, as nixpkgs makes one)", () => {
    expect(run(subGraph, [["subcomponent_in", []], ["flatten"]])).toEqual([[], ["X", "E", "D", "C", "B", "A", "Root1", "Root2", "Root3"]]);
    expect(run(subGraph, [["subcomponent_out", [sp("nope")]]])).toEqual([[], ["X", "E", "D", "C", "B", "A", "Root1", "Root2", "Root3"]]);
  });
});

describe("pipeline: the other ops", () => {
  it("split_every: chunks in vertex order", () => {
    expect(run(subGraph, [["split_every", 4]])).toEqual([["X", "E", "D", "C"], ["B", "A", "Root1", "Root2"], ["Root3"]]);
    expect(run(graph({}), [["split_every", 4]])).toEqual([]);
  });

  it("limit_layers: fewer graphs than the limit is fine; exactly the limit passes the last one on", () => {
    expect(run(subGraph, [["split_every", 4], ["limit_layers", 10]])).toEqual([["X", "E", "D", "C"], ["B", "A", "Root1", "Root2"], ["Root3"]]);
    expect(run(subGraph, [["split_every", 4], ["limit_layers", 4]])).toEqual([["X", "E", "D", "C"], ["B", "A", "Root1", "Root2"], ["Root3"]]);
    expect(run(subGraph, [["split_every", 4], ["limit_layers", 3]])).toEqual([["X", "E", "D", "C"], ["B", "A", "Root1", "Root2"], ["Root3"]]);
    expect(run(subGraph, [["split_every", 4], ["limit_layers", 2]])).toEqual([["X", "E", "D", "C"], ["B", "A", "Root1", "Root2", "Root3"]]);
    expect(run(subGraph, [["split_every", 2], ["reverse"], ["limit_layers", 1]])).toEqual([["Root3", "Root1", "Root2", "B", "A", "D", "C", "X", "E"]]);
  });

  it("limit_layers passes a single remaining non-graph on, as Python's reduce does", () => {
    // split_paths B: main F B, common E D, rest X C A Root1 Root2 Root3. subcomponent_out D on
    // each: D is only in common, so main {[], F B}, common {E D, []}, rest {[], X C ... Root3}.
    const dicts = [["split_paths", [sp("B")]], ["flatten"], ["map", ["subcomponent_out", [sp("D")]]]];
    const expected = [[], ["F", "B"], ["E", "D"], [], [], ["X", "C", "A", "Root1", "Root2", "Root3"]];
    expect(run(splitGraph, [...dicts, ["flatten"]])).toEqual(expected);
    // Three dicts, limit 3: the third is the only remaining item, passed on as it is.
    expect(run(splitGraph, [...dicts, ["limit_layers", 3], ["flatten"]])).toEqual(expected);
  });

  it("remove_paths: one path or a list; unknown names ignored", () => {
    expect(run(subGraph, [["remove_paths", sp("X")], ["split_every", 100]])).toEqual([["E", "D", "C", "B", "A", "Root1", "Root2", "Root3"]]);
    expect(run(subGraph, [["remove_paths", [sp("X"), sp("A"), sp("nope")]], ["split_every", 100]])).toEqual([["E", "D", "C", "B", "Root1", "Root2", "Root3"]]);
  });

  it("remove_paths drops the edges too: a removed parent makes its children roots", () => {
    // Without A, B has only Root2 above it and C only Root3: popularity B 2, C 2, D 3, E 3 ...
    expect(run(subGraph, [["remove_paths", [sp("A")]], ["popularity_contest"]]).flat()).toEqual(["D", "E", "B", "C", "Root1", "Root2", "Root3", "X"]);
  });

  it("map and nested flatten", () => {
    expect(run(subGraph, [["split_every", 3], ["map", ["split_every", 2]], ["flatten"]])).toEqual([["X", "E"], ["D"], ["C", "B"], ["A"], ["Root1", "Root2"], ["Root3"]]);
  });

  it("gives [] for an empty closure without running the pipeline (make-layers.nix), after checking it", () => {
    expect(runPipeline(graph({}), [["subcomponent_in", []]])).toEqual([]);
    expect(runPipeline(graph({}), [])).toEqual([]);
    // Not empty, but everything excluded: the pipeline runs on an empty graph.
    expect(runPipeline(subGraph, [["subcomponent_in", []]], { excludePaths: subGraph.paths.keys() })).toEqual([[], []]);
  });

  it("keeps igraph's vertex order: narSize ascending, ties in store path order", () => {
    const tied = sizedGraph({ ["/nix/store/b-x"]: [5, []], ["/nix/store/a-y"]: [5, []], ["/nix/store/c-z"]: [1, []] });
    expect(runPipeline(tied, [["split_every", 10]])).toEqual([["/nix/store/c-z", "/nix/store/a-y", "/nix/store/b-x"]]);
  });

  it("excludes paths as nixpkgs does: gone, with every reference to them", () => {
    // Without A: Root1 is a lone root, B and C lose a referrer.
    expect(run(subGraph, [["subcomponent_in", [sp("B")]], ["flatten"]], [sp("A")])).toEqual([["B", "Root2"], ["X", "E", "D", "C", "Root1", "Root3"]]);
    expect(runPipeline(subGraph, [["split_every", 100]], { excludePaths: subGraph.paths.keys() })).toEqual([]);
  });
});

describe("pipeline: the examples of spec §3.4", () => {
  const app = graph({
    app: [50, ["python3", "libfoo"]],
    python3: [40, ["glibc", "zlib"]],
    libfoo: [5, ["glibc"]],
    zlib: [2, ["glibc"]],
    glibc: [30, []],
    tool: [3, ["glibc"]],
  });

  it("subcomponent_out python3, then popularity over the rest", () => {
    // main: python3 and its dependencies (zlib glibc python3 in vertex order); rest: app libfoo
    // tool, by popularity: libfoo 2 (app, itself), then app 1, tool 1.
    const pipeline = [["subcomponent_out", [sp("python3")]], ["over", "rest", ["pipe", [["popularity_contest"], ["limit_layers", 100]]]]];
    expect(run(app, pipeline)).toEqual([["zlib", "glibc", "python3"], ["libfoo"], ["app"], ["tool"]]);
    const limited = [["subcomponent_out", [sp("python3")]], ["over", "rest", ["pipe", [["popularity_contest"], ["limit_layers", 2]]]]];
    expect(run(app, limited)).toEqual([["zlib", "glibc", "python3"], ["libfoo"], ["app", "tool"]]);
  });

  it("a two-step split: split_paths, flatten, map split_paths", () => {
    // split_paths python3: main python3 zlib; common glibc; rest app libfoo tool. Then each part
    // is split at zlib: only main has it.
    const pipeline = [["split_paths", [sp("python3")]], ["flatten"], ["map", ["split_paths", [sp("zlib")]]]];
    expect(run(app, pipeline)).toEqual([["zlib"], ["python3"], ["glibc"], ["tool", "libfoo", "app"]]);
  });

  it("a three-stage split ending in limit_layers", () => {
    const pipeline = [
      ["split_paths", [sp("python3")]],
      ["over", "main", ["pipe", [["subcomponent_in", [sp("python3")]], ["over", "rest", ["pipe", [["popularity_contest"], ["limit_layers", 5]]]]]]],
      ["flatten"],
      ["map", ["remove_paths", [sp("tool")]]],
      ["limit_layers", 3],
    ];
    // main: python3 | rest of main: zlib; common: glibc; rest: libfoo app (tool removed).
    expect(run(app, pipeline)).toEqual([["python3"], ["zlib"], ["glibc", "libfoo", "app"]]);
  });
});

describe("pipeline: malformed pipelines are E_USAGE errors naming the step", () => {
  function error(pipeline: unknown, g: ClosureGraph = subGraph): StrataError {
    try {
      runPipeline(g, pipeline);
    } catch (err) {
      expect(err).toBeInstanceOf(StrataError);
      expect((err as StrataError).code).toBe("E_USAGE");
      expect((err as StrataError).hint.length).toBeGreaterThan(0);
      return err as StrataError;
    }
    throw new Error("expected runPipeline to throw");
  }

  it.each([
    [{ pipeline: [] }, 'pipeline: expected a list of steps [["op", ...arguments], ...], found an object'],
    [["popularity_contest"], 'pipeline step 1: expected a step ["op", ...arguments], found the string "popularity_contest"'],
    [[[]], 'pipeline step 1: expected a step ["op", ...arguments], found a list of 0 items'],
    [[["popularity_contest"], ["popularity-contest"]], 'pipeline step 2: unknown op "popularity-contest"'],
    [[["toString"]], 'pipeline step 1: unknown op "toString"'],
    [[["limit_layers"]], "pipeline step 1 (limit_layers): limit_layers takes 1 argument, the number of layers, found 0"],
    [[["flatten", 1]], "pipeline step 1 (flatten): flatten takes no arguments, found 1"],
    [[["over", "rest"]], 'pipeline step 1 (over "rest"): over takes 2 arguments, a key and a step, found 1'],
    [[["popularity_contest"], ["limit_layers", "100"]], 'pipeline step 2 (limit_layers): limit_layers expects the number of layers, an integer >= 1, found the string "100"'],
    [[["limit_layers", 0]], "pipeline step 1 (limit_layers): limit_layers expects the number of layers, an integer >= 1, found the number 0"],
    [[["split_every", 1.5]], "pipeline step 1 (split_every): split_every expects the number of paths per graph, an integer >= 1, found the number 1.5"],
    [[["over", 1, ["flatten"]]], 'pipeline step 1 (over): over expects a key ("main", "common" or "rest") first, found the number 1'],
    [[["over", "rest", "flatten"]], 'pipeline step 1 (over "rest"), its step argument: expected a step ["op", ...arguments], found the string "flatten"'],
    [[["subcomponent_out", ["/x"]], ["over", "rest", ["pipe", [["popularity_contest"], ["limit_layers", -1]]]]], 'pipeline step 2 (over "rest") > pipe > step 2 (limit_layers): limit_layers expects the number of layers, an integer >= 1, found the number -1'],
    [[["map", ["nope"]]], 'pipeline step 1 (map) > step: unknown op "nope"'.replace(" > step", ", its step argument")],
    [[["pipe", "x"]], 'pipeline step 1 (pipe): pipe expects a list of steps, found the string "x"'],
    [[["subcomponent_in", sp("B")]], `pipeline step 1 (subcomponent_in): subcomponent_in expects a list of store paths, found the string "${sp("B")}"`],
    [[["remove_paths", [1]]], "pipeline step 1 (remove_paths): remove_paths expects a list of store paths, found the number 1 in it"],
    [[["split_paths", [{ children_of: 1 }]]], 'pipeline step 1 (split_paths): split_paths: "children_of" expects a store path or a list of them, found the number 1'],
    [[["split_paths", [{ child_of: "x" }]]], 'pipeline step 1 (split_paths): split_paths: an object must be {"children_of": ...}, found keys "child_of"'],
    [[["split_paths", "x"]], 'pipeline step 1 (split_paths): split_paths expects a list of store paths and {"children_of": ...} objects, found the string "x"'],
  ])("%j", (pipeline, message) => {
    expect(error(pipeline).message).toBe(message);
  });

  it("checks the whole pipeline before it runs (an error in a late step, on an empty graph)", () => {
    expect(error([["popularity_contest"], ["limit_layers", 0]], graph({})).message).toContain("step 2 (limit_layers)");
  });

  it("over on a missing key (split_paths leaves out empty parts)", () => {
    const e = error([["split_paths", [sp("D")]], ["over", "common", ["popularity_contest"]]], splitGraph);
    expect(e.message).toBe('pipeline step 2 (over "common"): the dict has no key "common" (it has "main", "rest")');
    expect(e.hint).toContain("KeyError");
  });

  it("the wrong kind of value for an op", () => {
    expect(error([["over", "main", ["flatten"]]]).message).toBe("pipeline step 1 (over \"main\"): over expects a dict (from split_paths, subcomponent_in or subcomponent_out), found a graph of 9 paths");
    expect(error([["popularity_contest"], ["split_every", 2]]).message).toBe("pipeline step 2 (split_every): split_every expects a graph, found a list of 9 values");
    expect(error([["subcomponent_out", []], ["map", ["reverse"]]]).message).toBe('pipeline step 2 (map): map expects a list, found a dict with keys "main", "rest"');
    expect(error([["flatten"]]).message).toBe("pipeline step 1 (flatten): flatten expects a list or dict of graphs, found a graph of 9 paths");
    expect(error([["popularity_contest"], ["map", ["over", "main", ["flatten"]]]]).message).toBe(
      'pipeline step 2 (map) > over "main" [item 1 of 9]: over expects a dict (from split_paths, subcomponent_in or subcomponent_out), found a graph of 1 path',
    );
    const merge = error([["split_paths", [sp("B")]], ["flatten"], ["map", ["subcomponent_out", [sp("D")]]], ["limit_layers", 1]], splitGraph);
    expect(merge.message).toBe('pipeline step 4 (limit_layers): limit_layers merges the items from 1 on into one graph, but item 1 is a dict with keys "main", "rest"');
  });

  it("a bare graph as the result (nixpkgs cannot iterate it)", () => {
    expect(error([]).message).toBe("pipeline result: expected a list or dict of graphs (one per layer), found a graph of 9 paths");
    expect(error([["remove_paths", [sp("A")]]]).message).toBe("pipeline result: expected a list or dict of graphs (one per layer), found a graph of 8 paths");
  });
});

describe("pipeline: properties over random DAGs", () => {
  const pipelines = (dag: { paths: readonly string[] }, limit: number, pick: number): unknown[] => {
    const some = dag.paths.length === 0 ? "/nix/store/none" : (dag.paths[pick % dag.paths.length] as string);
    return [
      [["popularity_contest"], ["limit_layers", limit]],
      [["split_paths", [some]], ["flatten"], ["map", ["split_every", 2]], ["flatten"], ["limit_layers", limit]],
      [["subcomponent_in", [some]], ["over", "rest", ["pipe", [["popularity_contest"], ["reverse"]]]], ["flatten"], ["limit_layers", limit]],
      [["split_paths", [{ children_of: some }]], ["flatten"], ["map", ["subcomponent_out", [some]]], ["flatten"], ["limit_layers", limit]],
    ];
  };

  it("ending in limit_layers: every path in exactly one layer, at most `limit` layers", () => {
    fc.assert(
      fc.property(dagArbitrary(40, 6), fc.integer({ min: 1, max: 12 }), fc.nat(), (dag, limit, pick) => {
        for (const pipeline of pipelines(dag, limit, pick)) {
          const layers = runPipeline(dagGraph(dag), pipeline);
          expect(layers.flat().sort()).toEqual([...dag.paths].sort());
          expect(layers.length).toBeLessThanOrEqual(limit);
        }
      }),
    );
  });

  it("does not depend on the order of the input's entries and reference lists", () => {
    fc.assert(
      fc.property(dagArbitrary(40, 6), fc.integer({ min: 1, max: 12 }), fc.nat(), fc.integer(), (dag, limit, pick, seed) => {
        const random = prng(seed);
        const nodes = exportReferencesGraphJson(dag) as { references: string[] }[];
        const shuffled = shuffle(nodes, random).map((node) => ({ ...node, references: shuffle(node.references, random) }));
        for (const pipeline of pipelines(dag, limit, pick)) {
          const plan = (json: unknown) => runPipeline(parseReferencesGraph(JSON.stringify(json), "g.json"), pipeline);
          expect(plan(shuffled)).toEqual(plan(nodes));
        }
      }),
    );
  });

  it("popularity_contest + limit_layers N is the classic popularity plan with N store layers", () => {
    fc.assert(
      fc.property(dagArbitrary(40, 6), fc.integer({ min: 1, max: 12 }), (dag, limit) => {
        const g = dagGraph(dag);
        expect(runPipeline(g, [["popularity_contest"], ["limit_layers", limit]])).toEqual(planLayers(g, { layering: "popularity", maxLayers: limit + 1 }));
      }),
    );
  });
});
