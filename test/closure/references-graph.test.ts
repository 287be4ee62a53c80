import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseReferencesGraph } from "../../src/closure/references-graph.js";
import { StrataError } from "../../src/errors.js";
import {
  dagArbitrary,
  dagGraph,
  exportReferencesGraphJson,
  pathInfoListJson,
  pathInfoObjectJson,
  prng,
  shuffle,
} from "./random-graph.js";

const S = "/nix/store";
const HELLO = `${S}/3mzs0ih5y7f4p0x1c0ykj1wq3gxwxd8s-hello-2.12`;
const GLIBC = `${S}/9v5d40jyvmwgnq1nj8f19ji2rcc5dksd-glibc-2.40`;
const LIBIDN = `${S}/a7n6hk4kc3y5qz1v8m2x0p9r7f6d5s4a-libidn2-2.3`;

function parse(json: unknown, storeDir?: string) {
  return parseReferencesGraph(JSON.stringify(json), "graph.json", storeDir);
}

function parseError(json: unknown | string): StrataError {
  try {
    parseReferencesGraph(typeof json === "string" ? json : JSON.stringify(json), "graph.json");
  } catch (err) {
    expect(err).toBeInstanceOf(StrataError);
    const e = err as StrataError;
    expect(e.hint.length).toBeGreaterThan(0);
    expect(e.message).not.toContain("\n");
    expect(e.message.startsWith("graph.json: ")).toBe(true);
    return e;
  }
  throw new Error("expected parseReferencesGraph to throw");
}

describe("parseReferencesGraph: the three input forms", () => {
  const exportGraph = [
    { path: HELLO, references: [GLIBC, HELLO], narSize: 200, narHash: "sha256:1h", closureSize: 300 },
    { path: GLIBC, references: [GLIBC], narSize: 100, narHash: "sha256:1g", closureSize: 100 },
  ];

  it("reads an exportReferencesGraph list: self-references recorded apart, paths sorted", () => {
    const graph = parse(exportGraph);
    expect(graph.storeDir).toBe(S);
    expect([...graph.paths.keys()]).toEqual([HELLO, GLIBC]); // 3mzs... < 9v5d...
    expect(graph.paths.get(HELLO)).toEqual({ path: HELLO, references: [GLIBC], selfReference: true, narSize: 200, narHash: "sha256:1h" });
    expect(graph.paths.get(GLIBC)).toEqual({ path: GLIBC, references: [], selfReference: true, narSize: 100, narHash: "sha256:1g" });
  });

  it("reads the {graph: [...]} wrapper of .attrs.json, ignoring its other keys", () => {
    expect(parse({ graph: exportGraph, outputs: { out: "/x" } })).toEqual(parse(exportGraph));
  });

  it("reads old `nix path-info --json` lists, with deriver", () => {
    const graph = parse([
      { path: HELLO, references: [GLIBC], narSize: 200, narHash: "sha256:1h", deriver: `${S}/x-hello.drv`, valid: true },
      { path: GLIBC, references: [], narSize: 100, narHash: "sha256:1g", valid: true },
    ]);
    expect(graph.paths.get(HELLO)).toEqual({ path: HELLO, references: [GLIBC], selfReference: false, narSize: 200, narHash: "sha256:1h", deriver: `${S}/x-hello.drv` });
  });

  it("reads the Nix >= 2.19 object form, deriver null meaning none", () => {
    const graph = parse({
      [HELLO]: { references: [HELLO, GLIBC], narSize: 200, narHash: "sha256-abc=", deriver: null, ca: null, signatures: [] },
      [GLIBC]: { references: [], narSize: 100, narHash: "sha256-def=", deriver: `${S}/y-glibc.drv` },
    });
    expect(graph.paths.get(HELLO)).toEqual({ path: HELLO, references: [GLIBC], selfReference: true, narSize: 200, narHash: "sha256-abc=" });
    expect(graph.paths.get(GLIBC)?.deriver).toBe(`${S}/y-glibc.drv`);
  });

  it("sorts and de-duplicates references, and treats a missing narSize as 0", () => {
    const graph = parse([
      { path: HELLO, references: [LIBIDN, GLIBC, LIBIDN, HELLO, HELLO] },
      { path: GLIBC, references: [] },
      { path: LIBIDN, references: [GLIBC] },
    ]);
    expect(graph.paths.get(HELLO)).toEqual({ path: HELLO, references: [GLIBC, LIBIDN], selfReference: true, narSize: 0 });
  });

  it("accepts identical repeated entries and an empty graph", () => {
    expect(parse([...exportGraph, ...exportGraph])).toEqual(parse(exportGraph));
    expect(parse([]).paths.size).toBe(0);
    expect(parse({}).paths.size).toBe(0);
    expect(parse({ graph: [] }).paths.size).toBe(0);
  });

  it("honours another store directory", () => {
    const graph = parse([{ path: "/gnu/store/abc-x", references: [] }], "/gnu/store");
    expect([...graph.paths.keys()]).toEqual(["/gnu/store/abc-x"]);
  });
});

describe("parseReferencesGraph: errors", () => {
  it("malformed JSON, with JSON.parse's position as line and column", () => {
    const e = parseError('[\n  {"path": "/nix/store/a-b",}\n]');
    expect(e.code).toBe("E_CLOSURE_INPUT");
    expect(e.message).toMatch(/^graph\.json: malformed JSON \(.*position 30.*line 2 column 29.*\)$/);
    expect(e.cause).toBeInstanceOf(SyntaxError);
  });

  it("malformed JSON without a position stays on one line", () => {
    expect(parseError('[\n{"a":\n}\n]').message).toMatch(/^graph\.json: malformed JSON \([^\n]*\)$/);
    expect(parseError("").message).toMatch(/^graph\.json: malformed JSON \(Unexpected end of JSON input\)$/);
  });

  it("neither an array nor an object", () => {
    expect(parseError(42).message).toBe("graph.json: expected a JSON array of store path objects or an object keyed by store path, found the number 42");
    expect(parseError("null").message).toContain("found null");
    expect(parseError({ graph: { a: 1 } }).message).toBe('graph.json: expected "graph" to be an array of store path objects, found an object');
  });

  it("a node that is not an object, or has no string path", () => {
    expect(parseError([[]]).message).toBe("graph.json: entry 0 should be an object, found an array");
    expect(parseError([{ path: GLIBC, references: [] }, { references: [] }]).message).toBe('graph.json: entry 1 should have a string "path", found nothing');
    expect(parseError([{ path: 7, references: [] }]).message).toBe('graph.json: entry 0 should have a string "path", found the number 7');
    expect(parseError({ [GLIBC]: "x" }).message).toBe(`graph.json: ${GLIBC} should map to an object, found the string "x"`);
    expect(parseError({ [GLIBC]: { path: HELLO, references: [] } }).message).toContain(`${GLIBC} maps to an object whose "path" is`);
  });

  it("invalid paths: null in the object form, valid: false in the list form", () => {
    expect(parseError({ [GLIBC]: null }).message).toBe(`graph.json: ${GLIBC} is not valid in the store (the input marks it missing)`);
    expect(parseError([{ path: GLIBC, valid: false }]).message).toContain(`${GLIBC} is not valid in the store`);
  });

  it("duplicate paths with different data", () => {
    const e = parseError([
      { path: GLIBC, references: [], narSize: 1 },
      { path: GLIBC, references: [GLIBC], narSize: 2 },
    ]);
    expect(e.message).toBe(`graph.json: ${GLIBC} appears twice with different data (references, narSize)`);
  });

  it.each([
    ["/nix/storex/abc-foo", "it does not start with /nix/store/"],
    ["/nix/store", "it does not start with /nix/store/"],
    ["/nix/store/", "its name is empty"],
    ["/nix/store/abc-foo/bin/sh", "it names a file inside a store path, not a store path"],
    ["/nix/store/..", "its name starts with '.'"],
    ["/nix/store/../etc", "it names a file inside a store path"],
    ["nix/store/abc-foo", "it does not start with /nix/store/"],
    ["/nix/store/abc-fo o", "its name has characters Nix does not allow"],
    ["/nix/store/abc-föo", "its name has characters Nix does not allow"],
  ])("a path not under the store directory: %s", (path, reason) => {
    const e = parseError([{ path, references: [] }]);
    expect(e.message).toContain(`graph.json: ${JSON.stringify(path)} is not a store path under /nix/store: ${reason}`);
  });

  it("references to paths missing from the graph", () => {
    const e = parseError([
      { path: HELLO, references: [GLIBC, LIBIDN] },
      { path: LIBIDN, references: ["/nix/store/zzz-icu"] },
    ]);
    expect(e.message).toBe(`graph.json: references to paths missing from the graph: ${HELLO} references ${GLIBC}, which has no entry (and 1 more)`);
    expect(e.hint).toContain("nix path-info --json --recursive");
  });

  it("references that are not a list of strings", () => {
    expect(parseError([{ path: GLIBC }]).message).toBe(`graph.json: ${GLIBC}: "references" should be an array of store paths, found nothing`);
    expect(parseError([{ path: GLIBC, references: [1] }]).message).toContain('"references" should be an array of store paths, found an array');
  });

  it.each([[-1], [1.5], ["12"], [2 ** 60]])("narSize %s", (narSize) => {
    expect(parseError([{ path: GLIBC, references: [], narSize }]).message).toBe(
      `graph.json: ${GLIBC}: narSize should be a non-negative integer, found ${JSON.stringify(narSize)}`,
    );
  });

  it("narHash or deriver of the wrong type", () => {
    expect(parseError([{ path: GLIBC, references: [], narHash: 5 }]).message).toBe(`graph.json: ${GLIBC}: "narHash" should be a string, found the number 5`);
    expect(parseError([{ path: GLIBC, references: [], deriver: true }]).message).toContain('"deriver" should be a string, found the boolean true');
  });

  it("cycles beyond self-references", () => {
    const e = parseError([
      { path: HELLO, references: [HELLO, GLIBC] },
      { path: GLIBC, references: [LIBIDN] },
      { path: LIBIDN, references: [HELLO] },
    ]);
    // The search starts at the first path in sorted order, so the report is always this one.
    expect(e.message).toBe(`graph.json: cycle in the references graph: ${HELLO} -> ${GLIBC} -> ${LIBIDN} -> ${HELLO}`);
  });

  it("a store directory that is not absolute or has a trailing slash is a usage error", () => {
    for (const dir of ["nix/store", "/nix/store/", "/"]) {
      expect(() => parseReferencesGraph("[]", "graph.json", dir)).toThrow(expect.objectContaining({ code: "E_USAGE" }));
    }
  });
});

describe("parseReferencesGraph: properties", () => {
  const withoutDeriver = (text: string) =>
    [...parseReferencesGraph(text, "g.json").paths.values()].map(({ deriver: _, ...rest }) => rest);

  it("the four input forms give the same graph", () => {
    fc.assert(
      fc.property(dagArbitrary(), (dag) => {
        const expected = [...dagGraph(dag).paths.values()];
        expect(withoutDeriver(JSON.stringify(exportReferencesGraphJson(dag)))).toEqual(expected);
        expect(withoutDeriver(JSON.stringify({ graph: exportReferencesGraphJson(dag) }))).toEqual(expected);
        expect(withoutDeriver(JSON.stringify(pathInfoListJson(dag)))).toEqual(expected);
        expect(withoutDeriver(JSON.stringify(pathInfoObjectJson(dag)))).toEqual(expected);
      }),
    );
  });

  it("the graph does not depend on the order of entries or references", () => {
    fc.assert(
      fc.property(dagArbitrary(), fc.integer(), (dag, seed) => {
        const random = prng(seed);
        const nodes = exportReferencesGraphJson(dag) as { references: string[] }[];
        const shuffled = shuffle(nodes, random).map((node) => ({ ...node, references: shuffle(node.references, random) }));
        const a = parseReferencesGraph(JSON.stringify(nodes), "a.json");
        const b = parseReferencesGraph(JSON.stringify(shuffled), "b.json");
        expect([...b.paths.entries()]).toEqual([...a.paths.entries()]);
      }),
    );
  });

  it("reads a 100,000-path chain (no recursion)", () => {
    const n = 100_000;
    const path = (i: number) => `${S}/${String(i).padStart(6, "0")}-p`;
    const nodes = Array.from({ length: n }, (_, i) => ({ path: path(i), references: i + 1 < n ? [path(i + 1)] : [] }));
    const graph = parseReferencesGraph(JSON.stringify(nodes), "chain.json");
    expect(graph.paths.size).toBe(n);
    nodes[n - 1]!.references = [path(0)];
    expect(() => parseReferencesGraph(JSON.stringify(nodes), "chain.json")).toThrow(/cycle in the references graph: .*000000-p -> .*000001-p ->/);
  });
});
