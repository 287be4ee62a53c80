/**
 * bench/make-closure.mjs, the benchmark's synthetic store (issue 5): the same flags and seed give
 * the same bytes, another seed other bytes, and the closure is shaped as the issue asks (a valid
 * DAG with a few very popular paths and many leaves, ~20 files per MiB, mostly small files and a
 * few large ones, symlinks, hard links, content that compresses like binaries and text, narSize as
 * Nix computes it).
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import zlib from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
// @ts-expect-error: plain JavaScript without declarations (bench/ is not part of the build)
import { makeClosure, removeTree } from "../../bench/make-closure.mjs";
// @ts-expect-error: as above
import { treeDigest } from "../../bench/tree-digest.mjs";
import { requireTool } from "../helpers/interop.js";

const MiB = 1024 * 1024;

interface GraphEntry {
  path: string;
  references: string[];
  narSize: number;
}

interface Closure {
  dir: string;
  storeRoot: string;
  graphFile: string;
  root: string;
  paths: number;
  files: number;
  symlinks: number;
  hardlinks: number;
  bytes: number;
  narBytes: number;
}

let tmp: string;
let a: Closure;

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "strata-make-closure-"));
  a = makeClosure({ dir: path.join(tmp, "a"), size: 16 * MiB, seed: "7" }) as Closure;
});

afterAll(() => {
  removeTree(tmp);
});

function graphOf(c: Closure): GraphEntry[] {
  return JSON.parse(fs.readFileSync(c.graphFile, "utf8")) as GraphEntry[];
}

/** Every regular file of the store, each inode once. */
function regularFiles(c: Closure): { file: string; size: number }[] {
  const out: { file: string; size: number }[] = [];
  const seen = new Set<string>();
  const walk = (dir: string): void => {
    for (const name of fs.readdirSync(dir).sort()) {
      const p = path.join(dir, name);
      const st = fs.lstatSync(p);
      if (st.isDirectory()) walk(p);
      else if (st.isFile() && !seen.has(`${st.dev}:${st.ino}`)) {
        seen.add(`${st.dev}:${st.ino}`);
        out.push({ file: p, size: st.size });
      }
    }
  };
  walk(path.join(c.storeRoot, "nix", "store"));
  return out;
}

describe("make-closure", () => {
  it("gives the same bytes for the same seed and other bytes for another seed", () => {
    const again = makeClosure({ dir: path.join(tmp, "again"), size: 16 * MiB, seed: "7" }) as Closure;
    const other = makeClosure({ dir: path.join(tmp, "other"), size: 16 * MiB, seed: "8" }) as Closure;
    const digest = treeDigest(a.dir) as string;
    expect(treeDigest(again.dir)).toBe(digest);
    expect(treeDigest(other.dir)).not.toBe(digest);
    expect(again.root).toBe(a.root);
    // Not only the store hashes (which name the seed): the shape and the bytes differ too.
    const sizes = (c: Closure) => regularFiles(c).map((f) => f.size).sort((x, y) => x - y).join(",");
    expect(sizes(again)).toBe(sizes(a));
    expect(sizes(other)).not.toBe(sizes(a));
  });

  it("writes a references graph that is a DAG over paths that exist, with popular paths and leaves", () => {
    const graph = graphOf(a);
    const byPath = new Map(graph.map((e) => [e.path, e]));
    expect(byPath.size).toBe(graph.length);
    expect(graph.length).toBe(a.paths);
    for (const e of graph) {
      expect(fs.existsSync(path.join(a.storeRoot, e.path)), e.path).toBe(true);
      for (const r of e.references) expect(byPath.has(r), `${e.path} -> ${r}`).toBe(true);
    }
    // Acyclic: Kahn's algorithm over the references (self-references aside) removes every path.
    const indegree = new Map(graph.map((e) => [e.path, 0]));
    for (const e of graph) for (const r of e.references) if (r !== e.path) indegree.set(r, indegree.get(r)! + 1);
    const ready = graph.filter((e) => indegree.get(e.path) === 0).map((e) => e.path);
    let removed = 0;
    while (ready.length > 0) {
      const p = ready.pop()!;
      removed += 1;
      for (const r of byPath.get(p)!.references) {
        if (r === p) continue;
        indegree.set(r, indegree.get(r)! - 1);
        if (indegree.get(r) === 0) ready.push(r);
      }
    }
    expect(removed).toBe(graph.length);
    // A libc-like path most others reference, and many leaves of the popularity order: paths no
    // other path references but the root env (which references every top-level path).
    const referencedBy = new Map<string, number>();
    for (const e of graph) for (const r of e.references) if (r !== e.path) referencedBy.set(r, (referencedBy.get(r) ?? 0) + 1);
    const counts = [...referencedBy.values()].sort((x, y) => y - x);
    expect(counts[0]!).toBeGreaterThan(0.7 * graph.length);
    expect(counts[1]!).toBeLessThan(0.5 * graph.length);
    const leaves = graph.filter((e) => (referencedBy.get(e.path) ?? 0) <= 1).length;
    expect(leaves).toBeGreaterThan(0.4 * graph.length);
    // The root the bench passes as --contents references the whole closure.
    expect(byPath.has(a.root)).toBe(true);
  });

  it("has about 20 files per MiB, mostly small, a few large, with symlinks and hard links", () => {
    const files = regularFiles(a);
    const total = files.reduce((s, f) => s + f.size, 0);
    expect(total).toBe(a.bytes);
    expect(files.length / (total / MiB)).toBeGreaterThan(12);
    expect(files.length / (total / MiB)).toBeLessThan(28);
    const sizes = files.map((f) => f.size).sort((x, y) => x - y);
    expect(sizes.filter((s) => s < 4096).length).toBeGreaterThan(0.4 * sizes.length);
    expect(sizes.at(-1)!).toBeGreaterThan(20 * sizes[Math.floor(sizes.length / 2)]!);
    expect(a.symlinks).toBeGreaterThan(10);
    expect(a.hardlinks).toBeGreaterThan(0);
  });

  it("has content that compresses like binaries and text: neither zeros nor noise", () => {
    const files = regularFiles(a);
    const all = Buffer.concat(files.map((f) => fs.readFileSync(f.file)));
    const ratio = all.length / zlib.gzipSync(all, { level: 6 }).length;
    // Real /usr/bin and /usr/lib compress 2.6-3.1x with gzip -6 (docs/benchmarks.md).
    expect(ratio).toBeGreaterThan(1.8);
    expect(ratio).toBeLessThan(4.5);
  });

  describe.skipIf(!requireTool("nix-store"))("narSize", () => {
    it("is what nix-store --dump serialises", () => {
      const graph = graphOf(a);
      // Every path: the generator's NAR size must match Nix's own serialisation byte for byte.
      let sum = 0;
      for (const e of graph) {
        const r = spawnSync("nix-store", ["--dump", path.join(a.storeRoot, e.path)], { maxBuffer: 1 << 30 });
        expect(r.status, r.stderr?.toString()).toBe(0);
        expect(r.stdout.length, e.path).toBe(e.narSize);
        sum += e.narSize;
      }
      expect(sum).toBe(a.narBytes);
    });
  });
});
