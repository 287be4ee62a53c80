/**
 * A fixture Nix store built in code, in a temp dir: `root/nix/store/<hash>-<name>` for each store
 * path of a spec, read-only like a real store (files 0444/0555, directories 0555, mtime 1), with
 * its references graph both parsed (a ClosureGraph) and written as an exportReferencesGraph JSON
 * file. Hashes are derived from the names, so the same spec always gives the same paths.
 *
 * The store is named /nix/store/... in images and read at root/nix/store/... (strata's
 * `storeRoot` / `--store-root`).
 */
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { ClosureGraph, StorePathInfo } from "../../src/closure/types.js";
import { nixBase32 } from "../../src/nix-base32.js";

export const STORE_DIR = "/nix/store";

/** One entry inside a directory store path; `path` is relative to the store path. */
export type FixtureEntry =
  /** A regular file; mode defaults to 0444, or 0555 with `executable`. */
  | { readonly kind: "file"; readonly path: string; readonly content: string | Buffer; readonly mode?: number; readonly executable?: boolean }
  /** A symlink, stored as given: relative (`../lib/x`) or absolute (`/nix/store/...`, see storePathOf). */
  | { readonly kind: "symlink"; readonly path: string; readonly target: string }
  /** An empty directory (parents of other entries are created implicitly). */
  | { readonly kind: "dir"; readonly path: string }
  /**
   * A hard link to a file made by another entry: `target` relative to the store path named
   * `from` (default: this one), as `nix-store --optimise` links identical files across paths.
   */
  | { readonly kind: "hardlink"; readonly path: string; readonly target: string; readonly from?: string }
  /** A copy of the host's static busybox (/bin/busybox) at `bin/busybox`, and `bin/sh` -> `busybox`. */
  | { readonly kind: "busybox" };

export interface FixturePathSpec {
  /** The name part of `/nix/store/<hash>-<name>`; also what the hash is derived from. */
  readonly name: string;
  /** Names of other store paths of the spec this one references. */
  readonly references?: readonly string[];
  /** Whether the path references itself (appears in its own references in the graph file). */
  readonly selfReference?: boolean;
  /** The directory's entries. Ignored when `file` is given. */
  readonly entries?: readonly FixtureEntry[];
  /** Make the store path a single regular file instead of a directory. */
  readonly file?: { readonly content: string | Buffer; readonly executable?: boolean };
}

export interface FixtureStore {
  /** The temp dir; the store is at `root/nix/store`. Pass as `storeRoot`. */
  readonly root: string;
  readonly storeDir: "/nix/store";
  /** The store paths, in spec order: `/nix/store/<32-char hash>-<name>`. */
  readonly paths: string[];
  /** Store path of a spec name. */
  pathOf(name: string): string;
  /** Where a store path (or anything below one) is on this machine: `root + p`. */
  fsPath(storePath: string): string;
  readonly graph: ClosureGraph;
  /** The graph as exportReferencesGraph JSON: `[{path, references, narSize}]` (self included when it self-references). */
  readonly graphFile: string;
  /** Removes the temp dir (making its read-only directories writable first). */
  cleanup(): void;
}

/** The deterministic store path of a fixture name: sha256(name), first 20 bytes, Nix base-32. */
export function storePathOf(name: string): string {
  const hash = nixBase32(createHash("sha256").update(name).digest().subarray(0, 20));
  return `${STORE_DIR}/${hash}-${name}`;
}

/** mtime Nix gives every file in the store. */
const STORE_MTIME = 1;

export function makeFixtureStore(spec: readonly FixturePathSpec[]): FixtureStore {
  const names = new Set<string>();
  for (const p of spec) {
    if (!/^[A-Za-z0-9+\-._?=][A-Za-z0-9+\-._?=]*$/.test(p.name) || p.name.startsWith(".")) {
      throw new Error(`fixture store: ${JSON.stringify(p.name)} is not a valid store path name`);
    }
    if (names.has(p.name)) throw new Error(`fixture store: ${p.name} appears twice`);
    names.add(p.name);
  }
  for (const p of spec) {
    for (const r of p.references ?? []) {
      if (!names.has(r)) throw new Error(`fixture store: ${p.name} references ${r}, which is not in the spec`);
      if (r === p.name) throw new Error(`fixture store: ${p.name} lists itself in references; use selfReference`);
    }
  }

  const root = fs.mkdtempSync(path.join(os.tmpdir(), "strata-fixture-store-"));
  const store = path.join(root, "nix", "store");
  fs.mkdirSync(store, { recursive: true });
  const fsOf = (storePath: string): string => root + storePath;
  const cleanup = (): void => removeTree(root);

  try {
    // Files, dirs and symlinks first; hard links once every path has its files (they may cross paths).
    const links: { from: string; to: string }[] = [];
    for (const p of spec) {
      const dir = fsOf(storePathOf(p.name));
      if (p.file !== undefined) {
        fs.writeFileSync(dir, p.file.content);
        fs.chmodSync(dir, p.file.executable === true ? 0o555 : 0o444);
        continue;
      }
      fs.mkdirSync(dir);
      for (const e of p.entries ?? []) {
        if (e.kind === "busybox") {
          fs.mkdirSync(path.join(dir, "bin"), { recursive: true });
          fs.copyFileSync("/bin/busybox", path.join(dir, "bin", "busybox"));
          fs.chmodSync(path.join(dir, "bin", "busybox"), 0o555);
          fs.symlinkSync("busybox", path.join(dir, "bin", "sh"));
          continue;
        }
        const at = inside(dir, e.path);
        fs.mkdirSync(path.dirname(at), { recursive: true });
        switch (e.kind) {
          case "file":
            fs.writeFileSync(at, e.content);
            fs.chmodSync(at, e.mode ?? (e.executable === true ? 0o555 : 0o444));
            break;
          case "symlink":
            fs.symlinkSync(e.target, at);
            break;
          case "dir":
            fs.mkdirSync(at, { recursive: true });
            break;
          case "hardlink": {
            const fromName = e.from ?? p.name;
            if (!names.has(fromName)) throw new Error(`fixture store: hard link ${p.name}/${e.path} names unknown path ${fromName}`);
            links.push({ from: inside(fsOf(storePathOf(fromName)), e.target), to: at });
            break;
          }
        }
      }
    }
    for (const l of links) fs.linkSync(l.from, l.to);
    // Read-only and mtime 1 like a real store: deepest first, so parents are still writable.
    for (const p of spec) seal(fsOf(storePathOf(p.name)));
  } catch (err) {
    cleanup();
    throw err;
  }

  const infos: StorePathInfo[] = spec.map((p) => ({
    path: storePathOf(p.name),
    references: (p.references ?? []).map(storePathOf).sort(),
    selfReference: p.selfReference === true,
    narSize: narSize(fsOf(storePathOf(p.name))),
  }));
  const graph: ClosureGraph = {
    storeDir: STORE_DIR,
    paths: new Map(infos.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)).map((i) => [i.path, i])),
  };
  const graphFile = path.join(root, "graph.json");
  const exported = [...graph.paths.values()].map((i) => ({
    path: i.path,
    references: (i.selfReference ? [...i.references, i.path] : [...i.references]).sort(),
    narSize: i.narSize,
  }));
  fs.writeFileSync(graphFile, JSON.stringify(exported, null, 2) + "\n");

  return {
    root,
    storeDir: STORE_DIR,
    paths: spec.map((p) => storePathOf(p.name)),
    pathOf: (name) => {
      if (!names.has(name)) throw new Error(`fixture store: no store path named ${name}`);
      return storePathOf(name);
    },
    fsPath: fsOf,
    graph,
    graphFile,
    cleanup,
  };
}

/** `rel` resolved under `dir`, refusing anything that would land outside it. */
function inside(dir: string, rel: string): string {
  const at = path.resolve(dir, rel);
  if (rel === "" || path.isAbsolute(rel) || !at.startsWith(dir + path.sep)) {
    throw new Error(`fixture store: entry path ${JSON.stringify(rel)} must be relative and inside its store path`);
  }
  return at;
}

/** Files 0444/0555 as given, directories 0555, every mtime 1 (symlinks included). */
function seal(p: string): void {
  const st = fs.lstatSync(p);
  if (st.isDirectory()) {
    for (const name of fs.readdirSync(p)) seal(path.join(p, name));
    fs.chmodSync(p, 0o555);
  }
  fs.lutimesSync(p, STORE_MTIME, STORE_MTIME);
}

/** rm -rf that first gives read-only directories back their write bit (needed when not root). */
export function removeTree(root: string): void {
  const unseal = (p: string): void => {
    let st: fs.Stats;
    try {
      st = fs.lstatSync(p);
    } catch {
      return;
    }
    if (!st.isDirectory()) return;
    fs.chmodSync(p, 0o755);
    for (const name of fs.readdirSync(p)) unseal(path.join(p, name));
  };
  unseal(root);
  fs.rmSync(root, { recursive: true, force: true });
}

/**
 * Size of the path's NAR serialisation, as `nix path-info` reports narSize: every string is a
 * 64-bit length and its bytes padded to 8.
 */
export function narSize(p: string): number {
  const str = (n: number): number => 8 + Math.ceil(n / 8) * 8;
  const tok = (s: string): number => str(Buffer.byteLength(s));
  const node = (q: string): number => {
    const st = fs.lstatSync(q);
    let n = tok("(") + tok("type");
    if (st.isSymbolicLink()) {
      n += tok("symlink") + tok("target") + str(fs.readlinkSync(q, { encoding: "buffer" }).length);
    } else if (st.isDirectory()) {
      n += tok("directory");
      const children = fs.readdirSync(q, { encoding: "buffer" }).sort(Buffer.compare);
      for (const c of children) {
        n += tok("entry") + tok("(") + tok("name") + str(c.length) + tok("node") + node(path.join(q, c.toString())) + tok(")");
      }
    } else {
      n += tok("regular") + ((st.mode & 0o100) !== 0 ? tok("executable") + tok("") : 0) + tok("contents") + str(st.size);
    }
    return n + tok(")");
  };
  return tok("nix-archive-1") + node(p);
}

/** What a tree holds, keyed by path relative to its root (`""` is the root itself). */
export type TreeEntry =
  | { readonly type: "dir"; readonly mode: number }
  | { readonly type: "file"; readonly mode: number; readonly sha256: string; readonly size: number }
  | { readonly type: "symlink"; readonly target: string };

/** Walk a tree without following symlinks: types, modes & 0o7777, file digests, symlink targets. */
export function snapshotTree(root: string): Map<string, TreeEntry> {
  const out = new Map<string, TreeEntry>();
  const walk = (rel: string): void => {
    const abs = rel === "" ? root : path.join(root, rel);
    const st = fs.lstatSync(abs);
    if (st.isSymbolicLink()) {
      out.set(rel, { type: "symlink", target: fs.readlinkSync(abs) });
    } else if (st.isDirectory()) {
      out.set(rel, { type: "dir", mode: st.mode & 0o7777 });
      for (const name of fs.readdirSync(abs).sort()) walk(rel === "" ? name : `${rel}/${name}`);
    } else if (st.isFile()) {
      const bytes = fs.readFileSync(abs);
      out.set(rel, { type: "file", mode: st.mode & 0o7777, sha256: createHash("sha256").update(bytes).digest("hex"), size: bytes.length });
    } else {
      throw new Error(`snapshotTree: ${abs} is neither a file, a directory nor a symlink`);
    }
  };
  walk("");
  return out;
}
