import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { ClosureGraph } from "../../src/closure/types.js";
import { ancestorSums, packageNameKey, popularityCounts, popularityOrder } from "../../src/plan/popularity.js";
import { dagArbitrary, dagGraph, graphOf } from "../closure/random-graph.js";

const S = "/nix/store";
const p = (name: string) => `${S}/h${name.toLowerCase()}-${name}`;

/** The example of closure-graph.py and spec §3.3. */
const example = graphOf({
  [p("A")]: [p("B"), p("G")],
  [p("B")]: [p("C"), p("E")],
  [p("C")]: [p("D"), p("E")],
  [p("D")]: [p("F")],
  [p("E")]: [p("F")],
  [p("F")]: [],
  [p("G")]: [],
});

function countsOf(graph: ClosureGraph, rootGroups: readonly (readonly string[])[] = []): Record<string, bigint> {
  const { paths, counts } = popularityCounts(graph, rootGroups);
  return Object.fromEntries(paths.map((path, i) => [path, counts[i] as bigint]));
}

/**
 * An oracle: closure-graph.py transliterated (memoized recursion over per-node counters, roots =
 * paths no other path references), root groups as extra virtual root nodes. Small graphs only.
 */
function pythonOrder(graph: ClosureGraph, rootGroups: readonly (readonly string[])[] = []): { order: string[]; counts: Map<string, bigint> } {
  const lookup = new Map<string, readonly string[]>([...graph.paths].map(([path, info]) => [path, info.references]));
  rootGroups.forEach((group, i) => lookup.set(`virtual-${i}`, [...new Set(group)]));
  const referenced = new Set([...lookup.values()].flat());
  const roots = rootGroups.length > 0 ? rootGroups.map((_, i) => `virtual-${i}`) : [...graph.paths.keys()].filter((x) => !referenced.has(x));
  const cache = new Map<string, Map<string, bigint>>();
  const contest = (children: readonly string[]): Map<string, bigint> => {
    const popularity = new Map<string, bigint>();
    const add = (x: string, n: bigint) => popularity.set(x, (popularity.get(x) ?? 0n) + n);
    for (const child of children) {
      add(child, 1n);
      if (!cache.has(child)) cache.set(child, contest(lookup.get(child)!));
      for (const [x, n] of cache.get(child)!) add(x, n + 1n);
    }
    return popularity;
  };
  const counts = contest(roots);
  for (const key of counts.keys()) if (key.startsWith("virtual-")) counts.delete(key);
  // order_by_popularity: ascending popularities, names sorted then reversed, all reversed.
  const byCount = new Map<bigint, string[]>();
  for (const [path, n] of counts) byCount.set(n, [...(byCount.get(n) ?? []), path]);
  const flat: string[] = [];
  for (const n of [...byCount.keys()].sort((a, b) => (a < b ? -1 : 1))) {
    const names = byCount.get(n)!.sort((a, b) => (packageNameKey(a) < packageNameKey(b) ? -1 : 1));
    flat.push(...names.reverse());
  }
  const order = flat.reverse();
  const missing = [...graph.paths.keys()].filter((x) => !counts.has(x)).sort();
  return { order: [...order, ...missing], counts };
}

describe("popularity: closure-graph.py's examples", () => {
  it("counts A1 B2 C3 D4 E5 F9 G2", () => {
    expect(countsOf(example)).toEqual({ [p("A")]: 1n, [p("B")]: 2n, [p("C")]: 3n, [p("D")]: 4n, [p("E")]: 5n, [p("F")]: 9n, [p("G")]: 2n });
  });

  it("orders F E D C B G A (B and G tie at 2, B's name sorts first)", () => {
    expect(popularityOrder(example).map((x) => x.slice(-1))).toEqual(["F", "E", "D", "C", "B", "G", "A"]);
  });

  it("counts foo1 bar2 baz4 tux6 (its unit test)", () => {
    const graph = graphOf({ [`${S}/foo`]: [`${S}/bar`, `${S}/baz`], [`${S}/bar`]: [`${S}/baz`], [`${S}/baz`]: [`${S}/tux`], [`${S}/tux`]: [] });
    expect(countsOf(graph)).toEqual({ [`${S}/foo`]: 1n, [`${S}/bar`]: 2n, [`${S}/baz`]: 4n, [`${S}/tux`]: 6n });
  });
});

describe("packageNameKey", () => {
  it("moves the store directory and hash to the end, like package_name", () => {
    expect(packageNameKey("/nix/store/abc-hello-2.1")).toBe("hello-2.1-/nix/store/abc");
    expect(packageNameKey("/nix/store/abc-")).toBe("-/nix/store/abc");
    expect(packageNameKey("/nix/store/abc")).toBe("/nix/store/abc");
    expect(packageNameKey("/my-store/abc-x")).toBe("store/abc-x-/my");
  });

  it("breaks ties by name, then version, then hash", () => {
    const graph = graphOf({ [`${S}/zzz-bash-5.2`]: [], [`${S}/aaa-zlib-1.3`]: [], [`${S}/bbb-bash-5.1`]: [], [`${S}/aaa-bash-5.2`]: [] });
    expect(popularityOrder(graph)).toEqual([`${S}/bbb-bash-5.1`, `${S}/aaa-bash-5.2`, `${S}/zzz-bash-5.2`, `${S}/aaa-zlib-1.3`]);
  });
});

describe("popularity: root groups", () => {
  it("a path in both groups gets popularity from both; the virtual roots never appear", () => {
    const graph = graphOf({ [p("App")]: [p("Lib")], [p("Lib")]: [], [p("Cfg")]: [] });
    // Group 1 -> App, Lib; group 2 -> Lib, Cfg. N: App 1, Lib 1+1+1 = 3, Cfg 1.
    expect(countsOf(graph, [[p("App"), p("Lib")], [p("Lib"), p("Cfg")]])).toEqual({
      [p("App")]: 2n, // group 1 (1) + App (1)
      [p("Lib")]: 6n, // group 1 (1) + group 2 (1) + App (1) + Lib (3)
      [p("Cfg")]: 2n, // group 2 (1) + Cfg (1)
    });
    expect(popularityOrder(graph, [[p("App"), p("Lib")], [p("Lib"), p("Cfg")]])).toEqual([p("Lib"), p("App"), p("Cfg")]);
  });

  it("differs from natural roots only by a constant, like nixpkgs' single helper root", () => {
    const groups = [[p("A")]];
    const natural = countsOf(example);
    const grouped = countsOf(example, groups);
    for (const path of example.paths.keys()) expect(grouped[path]).toBe((natural[path] as bigint) + 1n);
    expect(popularityOrder(example, groups)).toEqual(popularityOrder(example));
  });

  it("appends paths no group reaches, sorted by path, and accepts empty groups", () => {
    expect(popularityOrder(example, [[], [p("D")]])).toEqual([p("F"), p("D"), p("A"), p("B"), p("C"), p("E"), p("G")]);
  });

  it("names a group path that is not in the graph", () => {
    expect(() => popularityOrder(example, [[p("A")], [p("Nope")]])).toThrow(
      expect.objectContaining({ code: "E_CLOSURE_INPUT", message: `root group 1 names ${p("Nope")}, which is not in the closure graph (7 paths)` }),
    );
  });
});

describe("popularity: graphs that are not closed or not acyclic", () => {
  it("rejects dangling references and cycles", () => {
    expect(() => popularityOrder(graphOf({ [p("A")]: [p("B")] }))).toThrow(/references to paths missing from the graph/);
    expect(() => popularityOrder(graphOf({ [p("A")]: [p("B")], [p("B")]: [p("A")] }))).toThrow(/cycle in the references graph/);
  });

  it("handles an empty graph", () => {
    expect(popularityOrder(graphOf({}))).toEqual([]);
  });
});

describe("popularity: exactness and scale", () => {
  it("counts exactly past 2^53 (a chain of 60 diamonds: 2^62 - 3 for the bottom)", () => {
    const k = 60;
    const nodes: Record<string, string[]> = {};
    for (let i = 0; i < k; i++) {
      nodes[p(`v${i}`)] = [p(`a${i + 1}`), p(`b${i + 1}`)];
      nodes[p(`a${i + 1}`)] = [p(`v${i + 1}`)];
      nodes[p(`b${i + 1}`)] = [p(`v${i + 1}`)];
    }
    nodes[p(`v${k}`)] = [];
    const counts = countsOf(graphOf(nodes));
    expect(counts[p(`v${k}`)]).toBe(2n ** BigInt(k + 2) - 3n);
    expect(counts[p(`v${k}`)]).toBe(pythonOrder(graphOf(nodes)).counts.get(p(`v${k}`)));
  });

  it("ranks a 10,000-deep chain (no recursion): the bottom first", () => {
    const n = 10_000;
    const path = (i: number) => `${S}/${String(i).padStart(5, "0")}-p`;
    const nodes = Object.fromEntries(Array.from({ length: n }, (_, i) => [path(i), i + 1 < n ? [path(i + 1)] : []]));
    const order = popularityOrder(graphOf(nodes));
    expect(order).toEqual(Array.from({ length: n }, (_, i) => path(n - 1 - i)));
    expect(countsOf(graphOf(nodes))[path(n - 1)]).toBe(BigInt(n));
  });

  it("agrees with the oracle on a 300-path DAG whose counts need many limbs", () => {
    // Each node references 3 of the next 12: path counts grow to hundreds of bits.
    const n = 300;
    const path = (i: number) => `${S}/${String(i).padStart(3, "0")}-p`;
    const nodes = Object.fromEntries(
      Array.from({ length: n }, (_, i) => [path(i), [1, 5, 12].map((d) => i + d).filter((j) => j < n).map(path)]),
    );
    const graph = graphOf(nodes);
    const oracle = pythonOrder(graph);
    expect(oracle.counts.get(path(n - 1))! > 2n ** 100n).toBe(true);
    const { paths, counts } = popularityCounts(graph);
    expect(new Map(paths.map((x, i) => [x, counts[i]]))).toEqual(oracle.counts);
    expect(popularityOrder(graph)).toEqual(oracle.order);
  });
});

describe("ancestorSums", () => {
  /** A random DAG in topological positions and weights that are 0 exactly on unreached nodes. */
  const input = fc.integer({ min: 0, max: 120 }).chain((n) =>
    fc.tuple(
      fc.array(fc.array(fc.nat(), { maxLength: 4 }), { minLength: n, maxLength: n }),
      fc.array(fc.bigInt({ min: 1n, max: 2n ** 200n }), { minLength: n, maxLength: n }),
      fc.array(fc.boolean(), { minLength: n, maxLength: n }),
    ),
  );

  it("equals a naive sum over ancestor sets, for any chunk size", () => {
    fc.assert(
      fc.property(input, fc.constantFrom(1, 4096, 1 << 20), ([picks, big, seeds], chunkBytes) => {
        const parents = picks.map((ps, x) => (x === 0 ? [] : [...new Set(ps.map((q) => q % x))]));
        const reached = seeds.map((s) => s);
        parents.forEach((ps, x) => (reached[x] = reached[x] || ps.some((q) => reached[q])));
        const weights = big.map((w, x) => (reached[x] ? w : 0n));
        const naive = parents.map((_, x) => {
          const seen = new Set([x]);
          const stack = [x];
          while (stack.length > 0) for (const q of parents[stack.pop()!]!) if (!seen.has(q)) seen.add(q), stack.push(q);
          return [...seen].reduce((sum, q) => sum + weights[q]!, 0n);
        });
        expect(ancestorSums(weights, parents, chunkBytes)).toEqual(naive);
      }),
      { numRuns: 60 },
    );
  });
});

describe("ancestorSums: nodes with many parents (walked, not OR-ed)", () => {
  it("equals a naive sum when 200 parents with long ancestries meet in one node", () => {
    // A chain of 2,000, 200 nodes below its end, and one node below all of them: OR-ing the 200
    // parents' spans (about 63 words each) costs more than twice a walk of the ~2,200 nodes and
    // their edges, so the last node is walked (checked by logging, when this test was written).
    const chain = 2000;
    const fan = 200;
    const parents: number[][] = [];
    for (let i = 0; i < chain; i++) parents.push(i === 0 ? [] : [i - 1]);
    for (let j = 0; j < fan; j++) parents.push([chain - 1]);
    parents.push(Array.from({ length: fan }, (_, j) => chain + j));
    parents.push([chain + fan, 5]); // a child of the walked node, OR-ed from its walked set
    const weights = parents.map((_, x) => BigInt(x + 1) * 0x1_0000_0001n);
    const naive = parents.map((_, x) => {
      const seen = new Set([x]);
      const stack = [x];
      while (stack.length > 0) for (const q of parents[stack.pop()!]!) if (!seen.has(q)) seen.add(q), stack.push(q);
      return [...seen].reduce((sum, q) => sum + weights[q]!, 0n);
    });
    for (const chunkBytes of [1, 4096, 1 << 20]) expect(ancestorSums(weights, parents, chunkBytes)).toEqual(naive);
  });
});

describe("popularity: properties over random DAGs", () => {
  it("agrees with a transliteration of closure-graph.py, with and without root groups", () => {
    fc.assert(
      fc.property(dagArbitrary(18), fc.array(fc.array(fc.nat(), { maxLength: 4 }), { maxLength: 3 }), (dag, picks) => {
        const graph = dagGraph(dag);
        const oracle = pythonOrder(graph);
        expect(popularityOrder(graph)).toEqual(oracle.order);
        const { paths, counts } = popularityCounts(graph);
        expect(new Map(paths.map((x, i) => [x, counts[i]]))).toEqual(oracle.counts);

        const groups = dag.paths.length === 0 ? [] : picks.map((g) => g.map((i) => dag.paths[i % dag.paths.length] as string));
        expect(popularityOrder(graph, groups)).toEqual(pythonOrder(graph, groups).order);
      }),
    );
  });

  it("lists every path exactly once", () => {
    fc.assert(
      fc.property(dagArbitrary(60, 12), (dag) => {
        const order = popularityOrder(dagGraph(dag));
        expect([...order].sort()).toEqual([...dag.paths].sort());
      }),
    );
  });
});
