/**
 * An unusable cache never fails a build: every kind of broken database (garbage, truncated, a
 * directory in its place, permission denied, damage found by a query long after opening) gives
 * exactly one warning, and from then on misses and skipped writes, never a throw.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { DB_FILE } from "../../src/cache/cache-dir.js";
import { LayerCache } from "../../src/cache/layer-cache.js";
import type { Digest } from "../../src/digest.js";

const dg = (c: string): Digest => `sha256:${c.repeat(64).slice(0, 64)}`;
const DIST = path.join(import.meta.dirname, "../../dist/src/cache/layer-cache.js");
let dir: string;
let db: string;
let warnings: string[];

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "strata-cache-bad-"));
  db = path.join(dir, DB_FILE);
  warnings = [];
});

afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

function open(): LayerCache {
  return LayerCache.open({ dir, warn: (m) => warnings.push(m) });
}

/** A cache with enough rows to span many pages, closed (so everything is in the main file). */
function populate(n = 600): string[] {
  const c = open();
  const keys = Array.from({ length: n }, (_, i) => `layer-key-${i}-${"x".repeat(40)}`);
  for (const k of keys) c.put(k, { diffId: dg("a"), size: 1 }, { compression: "gzip", level: 6, impl: "zlib", digest: dg("b"), size: 1 });
  c.close();
  expect(warnings).toEqual([]);
  expect(fs.existsSync(`${db}-wal`)).toBe(false);
  return keys;
}

/** Every operation a build does, on a disabled cache: misses, no throws. */
function useDisabled(c: LayerCache, keys: readonly string[] = ["k"]): void {
  for (const k of keys) expect(c.get(k)).toBeUndefined();
  expect(() => c.put("k2", { diffId: dg("a"), size: 1 }, { compression: "zstd", level: 3, impl: "z", digest: dg("c"), size: 1 })).not.toThrow();
  expect(c.get("k2")).toBeUndefined();
  expect(() => c.stampFile(path.join(dir, "f"), dg("a"), { dev: 1, ino: 1, size: 1, mtimeNs: 1n })).not.toThrow();
  expect(c.fileStamp(path.join(dir, "f"))).toBeUndefined();
  expect(c.stats().usable).toBe(false);
  expect(c.usable).toBe(false);
  expect(() => c.close()).not.toThrow();
}

describe("a broken cache database", () => {
  it("garbage bytes: one warning, misses", () => {
    fs.writeFileSync(db, Buffer.alloc(8192, 0x5a));
    const c = open();
    useDisabled(c);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^layer cache disabled: .*cache\.sqlite is not a SQLite database .*strata cache clear/);
    expect(c.stats().problem).toMatch(/not a SQLite database/);
    expect(fs.readFileSync(db).equals(Buffer.alloc(8192, 0x5a))).toBe(true); // left for the user to see and clear
  });

  it("a truncated file: one warning, then misses for every key", () => {
    const keys = populate();
    const size = fs.statSync(db).size;
    fs.truncateSync(db, Math.floor(size / 8192) * 4096);
    const c = open();
    let hits = 0;
    for (const k of keys) if (c.get(k) !== undefined) hits++;
    expect(hits).toBeLessThan(keys.length);
    expect(c.usable).toBe(false);
    useDisabled(c, keys.slice(0, 5));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/is corrupt \(SQLITE_CORRUPT|is corrupt \(SQLITE_IOERR/);
  });

  it("damage found by a query after opening: caught, disabled, one warning", () => {
    const keys = populate();
    const c = open(); // reads only the schema
    expect(c.usable).toBe(true);
    // Overwrite everything after the first two pages, as a disk error or a stray writer would.
    const fd = fs.openSync(db, "r+");
    const size = fs.fstatSync(fd).size;
    fs.writeSync(fd, Buffer.alloc(size - 8192, 0xa5), 0, size - 8192, 8192);
    fs.closeSync(fd);
    let thrown = 0;
    for (const k of keys) {
      try {
        expect(c.get(k)).toBeUndefined();
      } catch {
        thrown++;
      }
    }
    expect(thrown).toBe(0);
    useDisabled(c);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/is corrupt \(/);
    // strata cache clear recovers it
    const r = LayerCache.open({ dir, warn: () => undefined });
    r.prune({ all: true });
    expect(r.usable).toBe(true);
    r.put("k", { diffId: dg("a"), size: 1 });
    expect(r.get("k")).toBeDefined();
    r.close();
  });

  it("a directory in its place: one warning, misses, and clear leaves the directory alone", () => {
    fs.mkdirSync(db);
    fs.writeFileSync(path.join(db, "keep"), "x");
    const c = open();
    useDisabled(c);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/cache\.sqlite is a directory/);
    const again = open();
    expect(() => again.prune({ all: true })).toThrow(/not a regular file/);
    expect(fs.readFileSync(path.join(db, "keep"), "utf8")).toBe("x");
  });

  it("an empty file is a new cache", () => {
    fs.writeFileSync(db, "");
    const c = open();
    c.put("k", { diffId: dg("a"), size: 1 });
    expect(c.get("k")).toBeDefined();
    c.close();
    expect(warnings).toEqual([]);
  });
});

// Permission checks mean nothing to root: run the cache as nobody then.
const asNobody = process.getuid?.() === 0;

/** Opens the cache in `cacheDir` as another user (nobody) when root, and reports what happened. */
function openElsewhere(cacheDir: string): { warnings: string[]; hit: boolean; usable: boolean } {
  const script = `
    import { LayerCache } from ${JSON.stringify(DIST)};
    const warnings = [];
    const c = LayerCache.open({ dir: process.argv[1], warn: (m) => warnings.push(m) });
    const hit = c.get("k") !== undefined;
    c.put("k2", { diffId: "sha256:${"a".repeat(64)}", size: 1 });
    c.stampFile("/x", "sha256:${"a".repeat(64)}", { dev: 1, ino: 1, size: 1, mtimeNs: 1n });
    const usable = c.usable;
    c.close();
    process.stdout.write(JSON.stringify({ warnings, hit, usable }));`;
  const cmd = asNobody ? ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "node"] : ["node"];
  const r = spawnSync(cmd[0]!, [...cmd.slice(1), "--input-type=module", "-e", script, cacheDir], { encoding: "utf8" });
  expect(r.stderr).toBe("");
  expect(r.status).toBe(0);
  return JSON.parse(r.stdout) as { warnings: string[]; hit: boolean; usable: boolean };
}

describe("a cache the user may not write", () => {
  it("permission denied on the directory: one warning, misses", () => {
    const c = open();
    c.put("k", { diffId: dg("a"), size: 1 });
    c.close();
    if (!asNobody) fs.chmodSync(dir, 0o500);
    const r = openElsewhere(dir);
    if (!asNobody) fs.chmodSync(dir, 0o700);
    expect(r).toMatchObject({ hit: false, usable: false });
    expect(r.warnings).toHaveLength(1);
    expect(r.warnings[0]).toMatch(/cannot be opened for writing .*permission/i);
  });

  it.skipIf(!asNobody)("permission denied on the database file in an open directory: one warning, misses", () => {
    const c = open();
    c.put("k", { diffId: dg("a"), size: 1 });
    c.close();
    fs.chmodSync(dir, 0o777);
    const r = openElsewhere(dir);
    expect(r).toMatchObject({ hit: false, usable: false });
    expect(r.warnings).toHaveLength(1);
    expect(r.warnings[0]).toMatch(/cannot be opened for writing/);
  });

  it.skipIf(!asNobody)("an unwritable home: one warning, misses", () => {
    const home = path.join(dir, "home");
    fs.chmodSync(dir, 0o755);
    fs.mkdirSync(home, { mode: 0o755 });
    const r = openElsewhere(path.join(home, ".cache", "strata"));
    expect(r).toMatchObject({ hit: false, usable: false });
    expect(r.warnings).toHaveLength(1);
    expect(r.warnings[0]).toMatch(/EACCES/);
  });
});
