/**
 * The local layer cache's contract: what goes in comes out, a blob is replaced only by one of the
 * same (compression, level, impl), pruning goes by last use, the cache is found where XDG says,
 * and it is private (0600 file in a 0700 directory).
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { cacheDir, DB_FILE } from "../../src/cache/cache-dir.js";
import { LayerCache } from "../../src/cache/layer-cache.js";
import type { CachedBlob } from "../../src/cache/types.js";
import { APPLICATION_ID, SCHEMA_VERSION } from "../../src/cache/schema.js";
import type { Digest } from "../../src/digest.js";

const dg = (c: string): Digest => `sha256:${c.repeat(64).slice(0, 64)}`;
const DAY = 86_400_000;
let dir: string;
let warnings: string[];

function open(options: { now?: () => number; dir?: string } = {}): LayerCache {
  return LayerCache.open({ dir: options.dir ?? dir, warn: (m) => warnings.push(m), ...(options.now === undefined ? {} : { now: options.now }) });
}

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "strata-cache-"));
  warnings = [];
});

afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

describe("LayerCache", () => {
  it("gives back what was put, across processes' opens, and misses what was not", () => {
    const a = open();
    const blob: CachedBlob = { compression: "gzip", level: 6, impl: "zlib-1.3", digest: dg("b"), size: 1234 };
    a.put("key-1", { diffId: dg("a"), size: 4096 }, blob);
    a.put("key-2", { diffId: dg("c"), size: 3 * 1024 ** 3 });
    a.close();
    const b = open();
    expect(b.get("key-1")).toEqual({ diffId: dg("a"), size: 4096, blobs: [blob] });
    expect(b.get("key-2")).toEqual({ diffId: dg("c"), size: 3 * 1024 ** 3, blobs: [] });
    expect(b.get("key-3")).toBeUndefined();
    expect(b.stats()).toMatchObject({ usable: true, layers: 2, blobs: 1, files: 0, path: path.join(dir, DB_FILE) });
    b.close();
    expect(warnings).toEqual([]);
  });

  it("replaces a blob only with one of the same compression, level and implementation", () => {
    const c = open();
    const layer = { diffId: dg("a"), size: 10 };
    const gz6 = { compression: "gzip", level: 6, impl: "zlib-1", digest: dg("1"), size: 5 } as const;
    c.put("k", layer, gz6);
    c.put("k", layer, { ...gz6, level: 9, digest: dg("2") });
    c.put("k", layer, { ...gz6, impl: "zlib-2", digest: dg("3") });
    c.put("k", layer, { compression: "zstd", level: 6, impl: "zlib-1", digest: dg("4"), size: 4 });
    c.put("k", layer, { ...gz6, digest: dg("5"), size: 6 }); // replaces the first
    c.put("k", layer); // a put without a blob keeps the blobs
    const blobs = c.get("k")!.blobs;
    expect(blobs.map((b) => [b.compression, b.level, b.impl, b.digest, b.size])).toEqual([
      ["gzip", 6, "zlib-1", dg("5"), 6],
      ["gzip", 6, "zlib-2", dg("3"), 5],
      ["gzip", 9, "zlib-1", dg("2"), 5],
      ["zstd", 6, "zlib-1", dg("4"), 4],
    ]);
    // Another diffId for the key: the old blobs were compressed from other bytes and go.
    c.put("k", { diffId: dg("f"), size: 11 }, { ...gz6, digest: dg("6") });
    expect(c.get("k")).toEqual({ diffId: dg("f"), size: 11, blobs: [{ ...gz6, digest: dg("6") }] });
    c.close();
  });

  it("refuses invalid values as a bug (E_INTERNAL) instead of storing them", () => {
    const c = open();
    expect(() => c.put("k", { diffId: "sha256:xyz" as Digest, size: 1 })).toThrow(/invalid layer/);
    expect(() => c.put("k", { diffId: dg("a"), size: -1 })).toThrow(/invalid layer/);
    expect(() => c.put("k", { diffId: dg("a"), size: 1 }, { compression: "lz4" as "gzip", level: 1, impl: "x", digest: dg("a"), size: 1 })).toThrow(/invalid blob/);
    expect(() => c.stampFile("relative/path", dg("a"), { dev: 1, ino: 1, size: 1, mtimeNs: 1n })).toThrow(/not absolute/);
    // An inode number a Number cannot hold exactly is not stamped (re-hashed later), not an error.
    c.stampFile(path.join(dir, "big-ino"), dg("a"), { dev: 1, ino: 2 ** 60, size: 1, mtimeNs: 1n });
    expect(c.fileStamp(path.join(dir, "big-ino"))).toBeUndefined();
    expect(c.stats().layers).toBe(0);
    c.close();
  });

  it("treats a malformed or damaged row as a miss and removes it", () => {
    const c = open();
    c.put("k", { diffId: dg("a"), size: 1 }, { compression: "none", level: 0, impl: "", digest: dg("a"), size: 1 });
    c.put("k", { diffId: dg("a"), size: 1 }, { compression: "gzip", level: 1, impl: "", digest: dg("a"), size: 1 });
    c.put("bad", { diffId: dg("a"), size: 1 });
    c.put("flipped", { diffId: dg("a"), size: 1 });
    const file = path.join(dir, "f");
    c.stampFile(file, dg("a"), { dev: 1, ino: 2, size: 3, mtimeNs: 4n });
    const raw = new Database(path.join(dir, DB_FILE));
    raw.prepare("UPDATE layers SET diff_id = 'md5:0' WHERE key = 'bad'").run();
    // A valid-looking digest that is not the one stored: only the row check tells.
    raw.prepare(`UPDATE layers SET diff_id = '${dg("b")}' WHERE key = 'flipped'`).run();
    raw.prepare("UPDATE blobs SET compression = 'lz4' WHERE key = 'k' AND compression = 'none'").run();
    raw.prepare(`UPDATE blobs SET digest = '${dg("c")}' WHERE key = 'k' AND compression = 'gzip'`).run();
    raw.prepare("UPDATE files SET mtime_ns = 5").run();
    raw.close();
    expect(c.get("bad")).toBeUndefined();
    expect(c.get("flipped")).toBeUndefined();
    expect(c.get("k")).toEqual({ diffId: dg("a"), size: 1, blobs: [] });
    expect(c.fileStamp(file)).toBeUndefined();
    expect(c.stats()).toMatchObject({ layers: 1, files: 0 });
    c.close();
    expect(warnings).toEqual([]);
  });

  it("stamps files with 64-bit mtimes and forgets them", () => {
    const c = open();
    const file = path.join(dir, "blob");
    const stamp = { dev: 2049, ino: 2 ** 40 + 3, size: 7, mtimeNs: 1_700_000_000_123_456_789n };
    c.stampFile(file, dg("d"), stamp);
    expect(c.fileStamp(file)).toEqual({ digest: dg("d"), stamp });
    c.stampFile(file, dg("e"), { ...stamp, size: 8 });
    expect(c.fileStamp(file)).toEqual({ digest: dg("e"), stamp: { ...stamp, size: 8 } });
    expect(c.fileStamp(path.join(dir, "other"))).toBeUndefined();
    c.forgetFile(file);
    expect(c.fileStamp(file)).toBeUndefined();
    c.close();
  });

  it("prunes by last use; a lookup counts as a use", () => {
    let now = Date.now() - 100 * DAY;
    const clock = (): number => now;
    const c = open({ now: clock });
    for (const k of ["old", "looked-up", "stamped"]) c.put(k, { diffId: dg("a"), size: 1 }, { compression: "gzip", level: 6, impl: "z", digest: dg("b"), size: 1 });
    const kept = path.join(dir, "kept-file");
    fs.writeFileSync(kept, "x");
    const st = fs.statSync(kept, { bigint: true });
    const stampOf = { dev: Number(st.dev), ino: Number(st.ino), size: Number(st.size), mtimeNs: st.mtimeNs };
    c.stampFile(kept, dg("c"), stampOf);
    c.stampFile(path.join(dir, "old-file"), dg("c"), stampOf);
    now += 95 * DAY; // 5 days ago
    expect(c.get("looked-up")).toBeDefined();
    expect(c.fileStamp(kept)).toBeDefined();
    c.put("stamped", { diffId: dg("a"), size: 1 });
    c.stampFile(path.join(dir, "gone-file"), dg("c"), stampOf); // recent, but no such file
    now += 5 * DAY;
    expect(c.stats()).toMatchObject({ layers: 3, blobs: 3, files: 3 });
    expect(c.stats().oldest!.getTime()).toBe(now - 100 * DAY);
    expect(c.prune({ olderThanDays: 30 })).toEqual({ layers: 1, files: 2 });
    expect(c.get("old")).toBeUndefined();
    expect(c.get("looked-up")).toBeDefined();
    expect(c.get("stamped")?.blobs).toHaveLength(1);
    expect(c.fileStamp(kept)).toBeDefined();
    expect(c.stats()).toMatchObject({ layers: 2, blobs: 2, files: 1 });
    expect(c.prune({ olderThanDays: 1 })).toEqual({ layers: 0, files: 0 }); // the lookups just above were uses
    now += 2 * DAY;
    expect(c.prune({ olderThanDays: 1 })).toEqual({ layers: 2, files: 1 });
    c.put("new", { diffId: dg("a"), size: 1 });
    expect(c.prune({ all: true })).toEqual({ layers: 1, files: 0 });
    expect(c.stats()).toMatchObject({ layers: 0, blobs: 0, files: 0 });
    expect(() => c.prune({ olderThanDays: -1 })).toThrow(/--older-than/);
    c.close();
  });

  it("skips a write that waits too long for another process's lock, with one warning, and stays in use", () => {
    const c = LayerCache.open({ dir, warn: (m) => warnings.push(m), busyTimeoutMs: 50 });
    c.put("before", { diffId: dg("a"), size: 1 });
    const other = new Database(path.join(dir, DB_FILE));
    other.exec("BEGIN IMMEDIATE");
    c.put("during-1", { diffId: dg("a"), size: 1 });
    c.stampFile(path.join(dir, "f"), dg("a"), { dev: 1, ino: 1, size: 1, mtimeNs: 1n });
    expect(c.get("before")).toBeDefined(); // WAL: reading does not wait for the writer
    const later = LayerCache.open({ dir, warn: (m) => warnings.push(m), busyTimeoutMs: 50, now: () => Date.now() + 2 * DAY });
    expect(later.get("before")).toBeDefined(); // a hit, though refreshing its last use had to be skipped
    later.close();
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/stayed locked by another process for 0.05 s: an update was skipped/);
    other.exec("COMMIT");
    other.close();
    expect(c.usable).toBe(true);
    c.put("after", { diffId: dg("a"), size: 1 });
    expect(c.get("after")).toBeDefined();
    expect(c.get("during-1")).toBeUndefined();
    c.close();
    expect(warnings).toHaveLength(1);
  });

  it("makes the database 0600 and a new directory 0700, whatever the umask", () => {
    const old = process.umask(0);
    try {
      const d = path.join(dir, "a", "b");
      open({ dir: d }).close();
      expect(fs.statSync(d).mode & 0o777).toBe(0o700);
      expect(fs.statSync(path.join(d, DB_FILE)).mode & 0o777).toBe(0o600);
      // A database file made readable by others is made private again.
      fs.chmodSync(path.join(d, DB_FILE), 0o644);
      const c = open({ dir: d });
      c.put("k", { diffId: dg("a"), size: 1 });
      expect(fs.statSync(path.join(d, DB_FILE)).mode & 0o777).toBe(0o600);
      expect(fs.statSync(`${path.join(d, DB_FILE)}-wal`).mode & 0o777).toBe(0o600);
      c.close();
    } finally {
      process.umask(old);
    }
  });

  it("finds its directory from --cache-dir, XDG_CACHE_HOME, then HOME", () => {
    const home = (): string => "/home/u";
    expect(cacheDir("rel/dir", {}, home)).toBe(path.resolve("rel/dir"));
    expect(cacheDir(undefined, { XDG_CACHE_HOME: "/xdg" }, home)).toBe("/xdg/strata");
    expect(cacheDir(undefined, { XDG_CACHE_HOME: "relative" }, home)).toBe("/home/u/.cache/strata"); // the XDG spec: ignore a relative path
    expect(cacheDir(undefined, {}, home)).toBe("/home/u/.cache/strata");
    expect(cacheDir(undefined, {}, () => "")).toBeUndefined();
    expect(cacheDir(undefined, {}, () => { throw new Error("no passwd entry"); })).toBeUndefined();
  });

  it("opens in $XDG_CACHE_HOME/strata, then ~/.cache/strata, and tightens its default directory", () => {
    const saved = { XDG_CACHE_HOME: process.env["XDG_CACHE_HOME"], HOME: process.env["HOME"] };
    try {
      process.env["XDG_CACHE_HOME"] = path.join(dir, "xdg");
      const a = LayerCache.open({ warn: (m) => warnings.push(m) });
      expect(a.path).toBe(path.join(dir, "xdg", "strata", DB_FILE));
      a.close();
      delete process.env["XDG_CACHE_HOME"];
      process.env["HOME"] = path.join(dir, "home");
      fs.mkdirSync(path.join(dir, "home", ".cache", "strata"), { recursive: true, mode: 0o755 });
      fs.chmodSync(path.join(dir, "home", ".cache", "strata"), 0o755);
      const b = LayerCache.open({ warn: (m) => warnings.push(m) });
      expect(b.path).toBe(path.join(dir, "home", ".cache", "strata", DB_FILE));
      expect(fs.statSync(path.join(dir, "home", ".cache", "strata")).mode & 0o777).toBe(0o700);
      b.close();
      expect(warnings).toEqual([]);
    } finally {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  });
});

describe("LayerCache schema versions", () => {
  function rawDb(): Database.Database {
    return new Database(path.join(dir, DB_FILE));
  }

  it("resets a database of an older or unknown schema, with a warning", () => {
    open().close();
    const raw = rawDb();
    raw.pragma("user_version = 0");
    raw.exec("CREATE TABLE stray (x)");
    raw.close();
    const c = open();
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/was reset: unknown schema version 0/);
    c.put("k", { diffId: dg("a"), size: 1 });
    expect(c.get("k")).toBeDefined();
    c.close();
    const after = rawDb();
    expect(after.pragma("user_version", { simple: true })).toBe(SCHEMA_VERSION);
    expect(after.pragma("application_id", { simple: true })).toBe(APPLICATION_ID);
    expect(after.prepare("SELECT name FROM sqlite_master WHERE name = 'stray'").get()).toBeUndefined();
    after.close();
  });

  it("leaves a newer strata's cache alone and runs without it, with one warning", () => {
    const c0 = open();
    c0.put("k", { diffId: dg("a"), size: 1 });
    c0.close();
    const raw = rawDb();
    raw.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    raw.close();
    const c = open();
    expect(c.usable).toBe(false);
    expect(c.get("k")).toBeUndefined();
    c.put("k2", { diffId: dg("a"), size: 1 });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/disabled: .* newer strata \(schema version 2/);
    expect(c.stats()).toMatchObject({ usable: false, layers: 0 });
    // clear deletes it and starts anew
    expect(c.prune({ all: true })).toEqual({ layers: 0, files: 0 });
    expect(c.usable).toBe(true);
    c.close();
    const check = rawDb();
    expect(check.pragma("user_version", { simple: true })).toBe(SCHEMA_VERSION);
    expect(check.prepare("SELECT count(*) AS n FROM layers").get()).toEqual({ n: 0 });
    check.close();
  });
});
