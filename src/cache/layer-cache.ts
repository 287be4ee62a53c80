/**
 * The local layer cache: a SQLite database (better-sqlite3) mapping a layer's key to its diffId,
 * size and known blobs, plus stamps of the OCI layout blob files strata wrote.
 *
 * A cache can only make a build faster, never fail it: every way the database can be unusable
 * (no home directory, an unwritable directory, garbage bytes, a truncated file, a directory in
 * its place, a newer schema, SQLITE_CORRUPT from a query long after opening, a full disk) disables
 * the cache with one warning, and from then on every lookup is a miss and every write is skipped.
 * Two processes share one cache (two CI jobs): WAL mode (readers never wait for the writer), a
 * busy timeout for writers, and every write its own small transaction. A busy timeout that still
 * runs out skips that one write (one warning) without disabling the cache.
 *
 * The database is 0600 in a 0700 directory: it names store paths and paths of image layouts.
 * Nothing secret is stored.
 */
import fs from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import type Database from "better-sqlite3";
import type { Digest } from "../digest.js";
import { StrataError } from "../errors.js";
import { cacheDir, DB_FILE } from "./cache-dir.js";
import { BUSY_TIMEOUT_MS, describeProblem, isBusy, problemHint } from "./cache-problem.js";
import { CacheStatements } from "./statements.js";
import { rowCheck } from "./row-check.js";
import { prepareSchema, SCHEMA_VERSION } from "./schema.js";
import { BLOB_COMPRESSIONS, isDigest, isSize, type CachedBlob, type CachedLayer, type CacheStats, type FileStamp, type PruneOptions, type PruneResult } from "./types.js";

export interface LayerCacheOptions {
  /** --cache-dir; default $XDG_CACHE_HOME/strata, else ~/.cache/strata. */
  readonly dir?: string;
  /** Receives at most one message per problem kind (disabled; a write skipped while busy). */
  readonly warn: (message: string) => void;
  /** The clock, in ms since the epoch (a test hook: ages entries without waiting). */
  readonly now?: () => number;
  /** How long a write waits for another process's lock (default BUSY_TIMEOUT_MS; a test hook). */
  readonly busyTimeoutMs?: number;
}

export const DEFAULT_PRUNE_DAYS = 30;

/**
 * A lookup refreshes an entry's last-used time only when it is older than this: last use matters
 * to pruning by days, and a warm rebuild then reads without taking the write lock at all.
 */
const TOUCH_AFTER_MS = 3_600_000;

const DAY_MS = 86_400_000;

export class LayerCache {
  /** The database file ("" when there is no cache directory at all). */
  readonly path: string;
  private readonly warn: (message: string) => void;
  private readonly now: () => number;
  private readonly defaultDir: boolean;
  private readonly busyTimeoutMs: number;
  private db: Database.Database | undefined;
  private st: CacheStatements | undefined;
  private problem: string | undefined;
  private warnedBusy = false;

  private constructor(dbPath: string, options: LayerCacheOptions) {
    this.path = dbPath;
    this.warn = options.warn;
    this.now = options.now ?? Date.now;
    this.defaultDir = options.dir === undefined || options.dir === "";
    this.busyTimeoutMs = options.busyTimeoutMs ?? BUSY_TIMEOUT_MS;
  }

  /** Opens (creating if needed) the cache. Never throws: an unusable cache is disabled with one warning. */
  static open(options: LayerCacheOptions): LayerCache {
    const dir = cacheDir(options.dir);
    const cache = new LayerCache(dir === undefined ? "" : path.join(dir, DB_FILE), options);
    if (dir === undefined) {
      cache.disable("there is no cache directory (no home directory, and XDG_CACHE_HOME is not set)", "pass --cache-dir DIR, or --no-cache");
    } else {
      cache.connect(dir);
    }
    return cache;
  }

  /** Whether lookups can hit (false once the cache is disabled). */
  get usable(): boolean {
    return this.db !== undefined;
  }

  /** The layer stored under `key`, or undefined (a miss, also for a malformed row). */
  get(key: string): CachedLayer | undefined {
    return this.guard(undefined, (st) => {
      const found = st.readLayer(key);
      if (found === undefined) return undefined;
      const { row, blobs } = found;
      if (!isDigest(row.diff_id) || !isSize(row.size) || row.row_check !== rowCheck(key, row.diff_id, row.size)) {
        unlessBusy(() => st.deleteLayer.run(key)); // a row no strata wrote: a miss, and gone
        return undefined;
      }
      const now = this.now();
      if (row.last_used < now - TOUCH_AFTER_MS) unlessBusy(() => st.touchLayer.run(now, key, now - TOUCH_AFTER_MS));
      const valid = blobs.flatMap((b): CachedBlob[] =>
        BLOB_COMPRESSIONS.includes(b.compression as CachedBlob["compression"]) && Number.isInteger(b.level) && isDigest(b.digest) && isSize(b.size) &&
        b.row_check === rowCheck(key, b.compression, b.level, b.impl, b.digest, b.size)
          ? [{ compression: b.compression as CachedBlob["compression"], level: b.level, impl: b.impl, digest: b.digest, size: b.size }]
          : []);
      return { diffId: row.diff_id, size: row.size, blobs: valid };
    });
  }

  /**
   * Records a layer and optionally one of its blobs, in one transaction. A blob with the same
   * (compression, level, impl) replaces the old one; a different diffId for a known key drops the
   * key's old blobs (they were compressed from other bytes). Invalid arguments are a bug: E_INTERNAL.
   */
  put(key: string, layer: { readonly diffId: Digest; readonly size: number }, blob?: CachedBlob): void {
    checkKey(key);
    if (!isDigest(layer.diffId) || !isSize(layer.size)) internal(`layer ${JSON.stringify(layer)}`);
    if (blob !== undefined) checkBlob(blob);
    this.guard(undefined, (st) => st.putLayer(key, layer.diffId, layer.size, this.now(), blob));
  }

  /**
   * Records that strata wrote the file at `path` (absolute) with these contents and metadata. A
   * device or inode number beyond 2^53 (a Number cannot hold it exactly) is not stamped: the file
   * is then re-hashed when next met, which is slower but never wrong.
   */
  stampFile(filePath: string, digest: Digest, stamp: FileStamp): void {
    if (!path.isAbsolute(filePath)) internal(`file path ${JSON.stringify(filePath)} is not absolute`);
    if (!isDigest(digest)) internal(`digest ${JSON.stringify(digest)}`);
    if (!isSize(stamp.size) || typeof stamp.mtimeNs !== "bigint") internal(`stamp of size ${stamp.size}, mtime ${String(stamp.mtimeNs)}`);
    const { dev, ino, size, mtimeNs } = stamp;
    if (!isSize(dev) || !isSize(ino)) return;
    const row = { path: filePath, digest, dev, ino, size, mtime_ns: mtimeNs, last_used: this.now(), row_check: rowCheck(filePath, digest, dev, ino, size, mtimeNs) };
    this.guard(undefined, (st) => void st.stampFile.run(row));
  }

  /** The stamp recorded for `path`, or undefined. The caller compares it with a fresh lstat. */
  fileStamp(filePath: string): { digest: Digest; stamp: FileStamp } | undefined {
    return this.guard(undefined, (st) => {
      const row = st.getFile.get(filePath);
      if (row === undefined) return undefined;
      const [dev, ino, size, lastUsed] = [Number(row.dev), Number(row.ino), Number(row.size), Number(row.last_used)];
      if (!isDigest(row.digest) || ![dev, ino, size].every(isSize) || typeof row.mtime_ns !== "bigint" || row.row_check !== rowCheck(filePath, row.digest, dev, ino, size, row.mtime_ns)) {
        unlessBusy(() => st.forgetFile.run(filePath));
        return undefined;
      }
      const now = this.now();
      if (lastUsed < now - TOUCH_AFTER_MS) unlessBusy(() => st.touchFile.run(now, filePath, now - TOUCH_AFTER_MS));
      return { digest: row.digest, stamp: { dev, ino, size, mtimeNs: row.mtime_ns } };
    });
  }

  /** Forgets a file's stamp (it was found changed, or removed). */
  forgetFile(filePath: string): void {
    this.guard(undefined, (st) => void st.forgetFile.run(filePath));
  }

  stats(): CacheStats {
    const bytes = fileBytes(this.path) + fileBytes(`${this.path}-wal`);
    const empty = { path: this.path, layers: 0, blobs: 0, files: 0, bytes };
    const s = this.guard(undefined, (st) => st.stats());
    if (s === undefined) return { ...empty, usable: false, ...(this.problem === undefined ? {} : { problem: this.problem }) };
    return {
      ...empty,
      usable: true,
      layers: s.layers,
      blobs: s.blobs,
      files: s.files,
      ...(s.oldest === null ? {} : { oldest: new Date(s.oldest) }),
      ...(s.newest === null ? {} : { newest: new Date(s.newest) }),
    };
  }

  /**
   * Removes layers (with their blobs) and file stamps not used for `olderThanDays` days, and the
   * stamps of files that are gone or changed; `all` removes everything, and deletes a database
   * that cannot be opened (corrupt, a newer schema). Usage errors throw E_USAGE; a cache that is
   * disabled (and not `all`) throws E_READ: pruning is the whole point of the command calling it.
   */
  prune(options: PruneOptions = {}): PruneResult {
    const days = options.olderThanDays ?? DEFAULT_PRUNE_DAYS;
    if (!Number.isFinite(days) || days < 0) {
      throw new StrataError("E_USAGE", `--older-than must be a number of days >= 0, got ${days}`, "e.g. strata cache prune --older-than 30");
    }
    if (options.all === true && this.db === undefined && this.path !== "") return this.removeFiles();
    if (this.db === undefined) {
      throw new StrataError("E_READ", `the layer cache cannot be pruned: ${this.problem ?? "it is disabled"}`, "remove it with `strata cache clear`");
    }
    const result = this.guard(undefined, (st) => (options.all === true ? st.clear() : st.prune(this.now() - days * DAY_MS)));
    // Damage that only a full scan finds (clear reads every page) disables the cache: clear it by deleting it.
    if (result === undefined && options.all === true && this.db === undefined) return this.removeFiles();
    if (result === undefined) {
      throw new StrataError("E_WRITE", `the layer cache could not be pruned: ${this.problem ?? "it is busy"}`, "try again, or remove it with `strata cache clear`");
    }
    if (result.layers + result.files > 0) this.compact();
    return result;
  }

  close(): void {
    const db = this.db;
    this.db = undefined;
    this.st = undefined;
    try {
      db?.close();
    } catch {
      // closing a broken connection: nothing left to save
    }
  }

  private connect(dir: string): void {
    try {
      const created = fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
      if (created === undefined && this.defaultDir) tighten(dir, 0o700); // ours: keep it private; a --cache-dir is the user's choice
      createPrivateFile(this.path);
      const db = new (sqlite3())(this.path, { timeout: this.busyTimeoutMs });
      this.db = db;
      // WAL: readers never wait for a writer (two CI jobs sharing a cache). synchronous=NORMAL:
      // a power loss may lose the last writes, never corrupt the file; a cache can lose writes.
      db.pragma("journal_mode = WAL");
      db.pragma("synchronous = NORMAL");
      const outcome = prepareSchema(db);
      if (outcome.kind === "newer") {
        this.disable(`${this.path} was written by a newer strata (schema version ${outcome.version}; this one knows ${SCHEMA_VERSION})`,
          "give this strata version its own --cache-dir, or remove the cache with `strata cache clear`");
        return;
      }
      if (outcome.kind === "reset") this.warn(`layer cache ${this.path} was reset: ${outcome.why}`);
      db.pragma("foreign_keys = ON");
      this.st = new CacheStatements(db);
    } catch (err) {
      this.fail(err);
    }
  }

  /** Runs `fn` against the open database; any failure disables the cache (or, when busy, skips this call). */
  private guard<T>(fallback: T, fn: (st: CacheStatements) => T): T {
    const st = this.st;
    if (st === undefined) return fallback;
    try {
      return fn(st);
    } catch (err) {
      this.fail(err);
      return fallback;
    }
  }

  private fail(err: unknown): void {
    if (this.st !== undefined && isBusy(err)) {
      if (!this.warnedBusy) this.warn(`layer cache ${this.path} stayed locked by another process for ${this.busyTimeoutMs / 1000} s: an update was skipped`);
      this.warnedBusy = true;
      return;
    }
    this.disable(describeProblem(err, this.path), problemHint(err));
  }

  private disable(problem: string, hint: string): void {
    this.close();
    if (this.problem !== undefined) return;
    this.problem = problem;
    this.warn(`layer cache disabled: ${problem}; layers are built without it (${hint})`);
  }

  /** Deletes the database files that could not be opened (regular files only) and opens anew. */
  private removeFiles(): PruneResult {
    for (const f of [this.path, `${this.path}-wal`, `${this.path}-shm`]) {
      const st = fs.lstatSync(f, { throwIfNoEntry: false });
      if (st === undefined) continue;
      if (!st.isFile()) throw new StrataError("E_WRITE", `${f} is not a regular file; it was left alone`, "remove it yourself, or choose another --cache-dir");
      fs.rmSync(f);
    }
    this.problem = undefined;
    this.connect(path.dirname(this.path));
    return { layers: 0, files: 0 };
  }

  /** Gives freed pages back to the file system after a prune; best effort (another build may be reading). */
  private compact(): void {
    try {
      this.db?.exec("VACUUM");
      this.db?.pragma("wal_checkpoint(TRUNCATE)");
    } catch {
      // busy: the file stays larger until the next prune
    }
  }
}

/**
 * better-sqlite3, loaded when a cache is first opened: a build with --no-cache never loads it
 * (as src/closure/host-store.ts does for the Nix database).
 */
function sqlite3(): typeof Database {
  return createRequire(import.meta.url)("better-sqlite3") as typeof Database;
}

/** Creates the database file 0600 if it is missing, so it is never readable by others, not even for a moment. */
function createPrivateFile(file: string): void {
  const fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600);
  try {
    const st = fs.fstatSync(fd);
    if ((st.mode & 0o077) !== 0 && st.uid === process.getuid?.()) fs.fchmodSync(fd, st.mode & 0o700);
  } finally {
    fs.closeSync(fd);
  }
}

function tighten(dir: string, mode: number): void {
  const st = fs.statSync(dir);
  if ((st.mode & 0o777 & ~mode) !== 0 && st.uid === process.getuid?.()) fs.chmodSync(dir, mode);
}

/**
 * A write that only keeps the cache tidy (a last-used time, removing a bad row) and must not turn
 * a hit into a miss when another build holds the lock: skipped when busy. Other errors propagate
 * (to `guard`, which disables the cache).
 */
function unlessBusy(write: () => unknown): void {
  try {
    write();
  } catch (err) {
    if (!isBusy(err)) throw err;
  }
}

function fileBytes(file: string): number {
  try {
    const st = fs.statSync(file);
    return st.isFile() ? st.size : 0;
  } catch {
    return 0;
  }
}

function checkKey(key: string): void {
  if (typeof key !== "string" || key === "" || key.length > 4096) internal(`key ${JSON.stringify(key)}`);
}

function checkBlob(blob: CachedBlob): void {
  if (!BLOB_COMPRESSIONS.includes(blob.compression) || !Number.isInteger(blob.level) || typeof blob.impl !== "string" || !isDigest(blob.digest) || !isSize(blob.size)) {
    internal(`blob ${JSON.stringify(blob)}`);
  }
}

function internal(what: string): never {
  throw new StrataError("E_INTERNAL", `the layer cache was given an invalid ${what}`, "this is a bug in strata; please report it with --debug output");
}
