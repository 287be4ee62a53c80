/**
 * The cache's SQL, prepared once per connection. Each write is its own small transaction
 * (autocommit, or IMMEDIATE when it is more than one statement), so a writer holds the lock for
 * microseconds and another build sharing the cache waits at most that long. Reads that need a
 * consistent view run in a read transaction and write nothing: an upgrade from a read to a write
 * transaction is the one lock wait SQLite's busy timeout cannot cover in WAL mode (SQLITE_BUSY_SNAPSHOT).
 */
import fs from "node:fs";
import type Database from "better-sqlite3";
import { rowCheck } from "./row-check.js";
import type { CachedBlob, PruneResult } from "./types.js";

export interface LayerRow {
  readonly diff_id: string;
  readonly size: number;
  readonly last_used: number;
  readonly row_check: string;
}

export interface BlobRow {
  readonly compression: string;
  readonly level: number;
  readonly impl: string;
  readonly digest: string;
  readonly size: number;
  readonly row_check: string;
}

/** Read with safeIntegers: mtime_ns needs 64 bits; the rest is converted by the caller. */
export interface FileRow {
  readonly digest: string;
  readonly dev: bigint;
  readonly ino: bigint;
  readonly size: bigint;
  readonly mtime_ns: bigint;
  readonly last_used: bigint;
  readonly row_check: string;
}

export interface StatsRow {
  readonly layers: number;
  readonly blobs: number;
  readonly files: number;
  readonly oldest: number | null;
  readonly newest: number | null;
}

export class CacheStatements {
  readonly touchLayer: Database.Statement<[number, string, number]>;
  readonly deleteLayer: Database.Statement<[string]>;
  readonly stampFile: Database.Statement<[{ path: string; digest: string; dev: number; ino: number; size: number; mtime_ns: bigint; last_used: number; row_check: string }]>;
  readonly getFile: Database.Statement<[string], FileRow>;
  readonly touchFile: Database.Statement<[number, string, number]>;
  readonly forgetFile: Database.Statement<[string]>;
  private readonly getLayer: Database.Statement<[string], LayerRow>;
  private readonly getBlobs: Database.Statement<[string], BlobRow>;
  private readonly dropStaleBlobs: Database.Statement<[{ key: string; diffId: string }]>;
  private readonly upsertLayer: Database.Statement<[string, string, number, number, string]>;
  private readonly upsertBlob: Database.Statement<[string, string, number, string, string, number, string]>;
  private readonly db: Database.Database;

  constructor(db: Database.Database) {
    this.db = db;
    this.getLayer = db.prepare("SELECT diff_id, size, last_used, row_check FROM layers WHERE key = ?");
    this.getBlobs = db.prepare("SELECT compression, level, impl, digest, size, row_check FROM blobs WHERE key = ? ORDER BY compression, level, impl");
    this.touchLayer = db.prepare("UPDATE layers SET last_used = ? WHERE key = ? AND last_used < ?");
    this.deleteLayer = db.prepare("DELETE FROM layers WHERE key = ?");
    this.dropStaleBlobs = db.prepare("DELETE FROM blobs WHERE key = @key AND EXISTS (SELECT 1 FROM layers WHERE key = @key AND diff_id != @diffId)");
    this.upsertLayer = db.prepare(
      "INSERT INTO layers (key, diff_id, size, last_used, row_check) VALUES (?, ?, ?, ?, ?) " +
      "ON CONFLICT (key) DO UPDATE SET diff_id = excluded.diff_id, size = excluded.size, last_used = excluded.last_used, row_check = excluded.row_check");
    this.upsertBlob = db.prepare(
      "INSERT INTO blobs (key, compression, level, impl, digest, size, row_check) VALUES (?, ?, ?, ?, ?, ?, ?) " +
      "ON CONFLICT (key, compression, level, impl) DO UPDATE SET digest = excluded.digest, size = excluded.size, row_check = excluded.row_check");
    this.stampFile = db.prepare(
      "INSERT INTO files (path, digest, dev, ino, size, mtime_ns, last_used, row_check) VALUES (@path, @digest, @dev, @ino, @size, @mtime_ns, @last_used, @row_check) " +
      "ON CONFLICT (path) DO UPDATE SET digest = excluded.digest, dev = excluded.dev, ino = excluded.ino, size = excluded.size, mtime_ns = excluded.mtime_ns, " +
      "last_used = excluded.last_used, row_check = excluded.row_check");
    this.getFile = db.prepare<[string], FileRow>("SELECT digest, dev, ino, size, mtime_ns, last_used, row_check FROM files WHERE path = ?").safeIntegers(true);
    this.touchFile = db.prepare("UPDATE files SET last_used = ? WHERE path = ? AND last_used < ?");
    this.forgetFile = db.prepare("DELETE FROM files WHERE path = ?");
  }

  /** A layer row and its blobs, as one snapshot. */
  readLayer(key: string): { row: LayerRow; blobs: BlobRow[] } | undefined {
    return this.db.transaction(() => {
      const row = this.getLayer.get(key);
      return row === undefined ? undefined : { row, blobs: this.getBlobs.all(key) };
    })();
  }

  putLayer(key: string, diffId: string, size: number, now: number, blob: CachedBlob | undefined): void {
    this.db.transaction(() => {
      this.dropStaleBlobs.run({ key, diffId });
      this.upsertLayer.run(key, diffId, size, now, rowCheck(key, diffId, size));
      if (blob !== undefined) {
        const { compression, level, impl, digest, size: blobSize } = blob;
        this.upsertBlob.run(key, compression, level, impl, digest, blobSize, rowCheck(key, compression, level, impl, digest, blobSize));
      }
    }).immediate();
  }

  stats(): StatsRow {
    return this.db.transaction(() => this.db.prepare<[], StatsRow>(
      "SELECT (SELECT count(*) FROM layers) AS layers, (SELECT count(*) FROM blobs) AS blobs, (SELECT count(*) FROM files) AS files, " +
      "(SELECT min(last_used) FROM layers) AS oldest, (SELECT max(last_used) FROM layers) AS newest").get()!)();
  }

  /** Everything not used since `cutoff`, and the stamps of files that are gone or no longer match. */
  prune(cutoff: number): PruneResult {
    const layers = this.db.transaction(() => this.db.prepare("DELETE FROM layers WHERE last_used < ?").run(cutoff).changes).immediate();
    let files = this.db.transaction(() => this.db.prepare("DELETE FROM files WHERE last_used < ?").run(cutoff).changes).immediate();
    const stale: string[] = [];
    for (const row of this.db.prepare<[], FileRow & { path: string }>("SELECT path, digest, dev, ino, size, mtime_ns, last_used, row_check FROM files").safeIntegers(true).all()) {
      const st = fs.statSync(row.path, { bigint: true, throwIfNoEntry: false });
      if (st === undefined || st.dev !== row.dev || st.ino !== row.ino || st.size !== row.size || st.mtimeNs !== row.mtime_ns) stale.push(row.path);
    }
    files += this.db.transaction(() => stale.reduce((n, p) => n + this.forgetFile.run(p).changes, 0)).immediate();
    return { layers, files };
  }

  clear(): PruneResult {
    return this.db.transaction(() => {
      this.db.prepare("DELETE FROM blobs").run();
      return { layers: this.db.prepare("DELETE FROM layers").run().changes, files: this.db.prepare("DELETE FROM files").run().changes };
    }).immediate();
  }
}
